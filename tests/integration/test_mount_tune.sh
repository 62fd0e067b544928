#!/bin/sh
# Mount configuration and tuning (vault-api.md §2.7, §2.9; docs/api.md "Mounts"): config given
# at sys/mounts/<p> and sys/auth/<p> is stored and shown, sys/mounts/<p>/tune, sys/auth/<p>/tune
# and sys/mounts/auth/<p>/tune read and change it with Vault's checks and messages, and the
# values are honoured: KV v1 reads report the mount's lease, approle logins get the mount's
# default and are capped by its max, and so are tokens made through auth/token/. Policies (update; sudo for sys/auth), the audit trail, a
# restart, then the hvac calls (tune_mount_configuration, read_mount_configuration,
# tune_auth_method, read_auth_method_tuning). A real config-file tresord (devkey seal, audit
# file) over TLS, driven with curl and hvac.
. "$(dirname "$0")/lib.sh"
need jq curl

D=$(tmpdir)
start_prod "$D" devkey || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | jq -r .root_token)
check "initialised, root token" test -n "$ROOT" -a "$ROOT" != null

V="$ADDR/v1"
api() { # METHOD PATH [BODY] [TOKEN]: body of the answer
    hcurl -X "$1" -H "X-Vault-Token: ${4:-$ROOT}" ${3:+-d "$3"} "$V/$2"
}
code() { # METHOD PATH [BODY] [TOKEN]: status of the answer
    status_of -X "$1" -H "X-Vault-Token: ${4:-$ROOT}" ${3:+-d "$3"} "$V/$2"
}
err0() { jq -r '.errors[0] // empty'; }
ttls() { jq -c '[.data.default_lease_ttl, .data.max_lease_ttl]'; }

# ---- secrets engines: config at enable ----------------------------------------------------
expect_eq "enable kv v1 with config: 204" "$(code POST sys/mounts/kv1 '{"type":"kv",
    "description":"v1 store","config":{"default_lease_ttl":"1h","max_lease_ttl":7200,
    "listing_visibility":"unauth","audit_non_hmac_request_keys":"a, b",
    "passthrough_request_headers":["X-Trace"],"force_no_cache":true}}')" 204
expect_eq "enable kv v2 without config: 204" "$(code POST sys/mounts/secret '{"type":"kv-v2"}')" 204
expect_eq "enable transit: 204" "$(code POST sys/mounts/transit '{"type":"transit"}')" 204
M=$(api GET sys/mounts)
expect_eq "sys/mounts: kv1's stored config" "$(echo "$M" | jq -c '.data."kv1/".config')" \
    '{"default_lease_ttl":3600,"max_lease_ttl":7200,"force_no_cache":true,"audit_non_hmac_request_keys":["a","b"],"passthrough_request_headers":["X-Trace"],"listing_visibility":"unauth"}'
expect_eq "... also at the top level, with description and options" \
    "$(echo "$M" | jq -c '."kv1/" | [.description, .options, .config.default_lease_ttl]')" \
    '["v1 store",{"version":"1"},3600]'
expect_eq "sys/mounts: an untuned mount shows 0/0 as Vault" \
    "$(echo "$M" | jq -c '.data."secret/".config')" \
    '{"default_lease_ttl":0,"max_lease_ttl":0,"force_no_cache":false}'
expect_eq "... transit options null" "$(echo "$M" | jq -c '.data."transit/".options')" null
expect_eq "sys/mounts/kv1: the same config" \
    "$(api GET sys/mounts/kv1 | jq -c '.data.config | [.default_lease_ttl, .max_lease_ttl]')" \
    '[3600,7200]'
T=$(api GET sys/mounts/kv1/tune)
expect_eq "tune read: kv1's values" \
    "$(echo "$T" | jq -c '.data | [.default_lease_ttl, .max_lease_ttl, .description, .options,
        .listing_visibility, .audit_non_hmac_request_keys, .passthrough_request_headers]')" \
    '[3600,7200,"v1 store",{"version":"1"},"unauth",["a","b"],["X-Trace"]]'
expect_eq "tune read: injected at the top level" "$(echo "$T" | jq -c '[.default_lease_ttl]')" \
    '[3600]'
expect_eq "tune read of an untuned mount: the system's 768h" \
    "$(api GET sys/mounts/secret/tune | jq -c '.data | [.default_lease_ttl, .max_lease_ttl,
        .force_no_cache, .options]')" '[2764800,2764800,false,{"version":"2"}]'

# ---- enable: Vault's checks ---------------------------------------------------------------
enable_err() { # DESC CONFIG WANT
    expect_eq "enable refused: $1" "$(code POST sys/mounts/bad "{\"type\":\"kv\",\"config\":$2}")" 400
    expect_eq "... $1: message" "$(api POST sys/mounts/bad "{\"type\":\"kv\",\"config\":$2}" | err0)" "$3"
}
enable_err "default above max" '{"default_lease_ttl":"2h","max_lease_ttl":"1h"}' \
    "given default lease TTL greater than given max lease TTL"
enable_err "default above the system max" '{"default_lease_ttl":"769h"}' \
    "given default lease TTL greater than system max lease TTL of 2764800"
enable_err "max above the system max" '{"max_lease_ttl":"87600h"}' \
    "given max lease TTL greater than system max lease TTL of 2764800"
enable_err "bad duration" '{"default_lease_ttl":"soon"}' \
    'unable to parse default TTL of soon: time: invalid duration "soon"'
enable_err "bad listing_visibility" '{"listing_visibility":"public"}' "invalid listing_visibility public"
expect_eq "nothing was mounted by the refusals" "$(api GET sys/mounts | jq -c '.data."bad/"')" null

# ---- KV v1 reads report the mount's lease ---------------------------------------------------
code POST kv1/plain '{"v":"1"}' >/dev/null
code POST kv1/short '{"v":"1","ttl":"30m"}' >/dev/null
code POST kv1/long '{"v":"1","ttl":"5h"}' >/dev/null
code POST kv1/zero '{"v":"1","lease":0}' >/dev/null
lease() { api GET "kv1/$1" | jq -r .lease_duration; }
expect_eq "kv v1 lease: the mount's default (1h)" "$(lease plain)" 3600
expect_eq "kv v1 lease: the secret's own ttl" "$(lease short)" 1800
expect_eq "kv v1 lease: the secret's ttl capped by the mount max" "$(lease long)" 7200
expect_eq "kv v1 lease: a 0 lease means the default" "$(lease zero)" 3600

# ---- tune secrets engines -------------------------------------------------------------------
expect_eq "tune kv1: 204" "$(code POST sys/mounts/kv1/tune \
    '{"default_lease_ttl":600,"description":"tuned","listing_visibility":"",
      "audit_non_hmac_response_keys":["r"]}')" 204
expect_eq "tune read after tune" "$(api GET sys/mounts/kv1/tune | jq -c '.data | [.default_lease_ttl,
    .max_lease_ttl, .description, .listing_visibility, .audit_non_hmac_response_keys]')" \
    '[600,7200,"tuned",null,["r"]]'
expect_eq "sys/mounts shows the tuned values" \
    "$(api GET sys/mounts | jq -c '.data."kv1/" | [.config.default_lease_ttl, .description]')" \
    '[600,"tuned"]'
expect_eq "kv v1 lease follows the tune at once" "$(lease plain)" 600
expect_eq "the CLI's form: \"\" keeps, \"system\" resets" "$(code PUT sys/mounts/kv1/tune \
    '{"default_lease_ttl":"","max_lease_ttl":"system","force_no_cache":false,"options":null}')" 204
expect_eq "... read back" "$(api GET sys/mounts/kv1/tune | ttls)" '[600,2764800]'
expect_eq "... the table shows 0 for the reset max" \
    "$(api GET sys/mounts/kv1 | jq -c .data.config.max_lease_ttl)" 0
expect_eq "... the long secret's lease is now capped by the system max only" "$(lease long)" 18000
tune_err() { # DESC MOUNT BODY WANT
    expect_eq "tune refused: $1" "$(code POST "sys/mounts/$2/tune" "$3")" 400
    expect_eq "... $1: message" "$(api POST "sys/mounts/$2/tune" "$3" | err0)" "$4"
}
code POST sys/mounts/kv1/tune '{"max_lease_ttl":"2h"}' >/dev/null
tune_err "max below default" kv1 '{"default_lease_ttl":"3h"}' \
    "backend max lease TTL of 7200 would be less than backend default lease TTL of 10800"
tune_err "max above the system max" kv1 '{"max_lease_ttl":"87600h"}' \
    "backend max lease TTL of 315360000 would be greater than the system max lease TTL of 2764800"
tune_err "bad duration" kv1 '{"default_lease_ttl":"1y"}' \
    'unable to parse default TTL of 1y: time: invalid duration "1y"'
tune_err "negative" kv1 '{"max_lease_ttl":-5}' \
    "unable to parse max TTL of -5: negative durations are not allowed"
tune_err "token_type on a secrets engine" kv1 '{"token_type":"service"}' \
    "'token_type' can only be modified on auth mounts"
tune_err "KV downgrade (Vault)" secret '{"options":{"version":"1"}}' \
    "cannot downgrade mount from version 2"
tune_err "KV v1 -> v2 upgrade (not supported)" kv1 '{"options":{"version":"2"}}' \
    "upgrading a KV version 1 mount to version 2 is not supported by Tresor: enable a kv-v2 mount and copy the secrets into it"
tune_err "a version on transit" transit '{"options":{"version":"2"}}' \
    'secrets engine "transit" does not allow setting a version'
tune_err "an unknown mount" nope '{"default_lease_ttl":60}' \
    'tune of path "nope/" failed: no mount entry found'
tune_err "sys/" sys '{"default_lease_ttl":60}' 'cannot tune "sys/"'
expect_eq "a refused tune changed nothing" "$(api GET sys/mounts/kv1/tune | ttls)" '[600,7200]'
expect_eq "kv1 still v1" "$(api GET sys/internal/ui/mounts/kv1 | jq -c .data.options)" '{"version":"1"}'
expect_eq "options.version 2 on a v2 mount: a no-op 204" \
    "$(code POST sys/mounts/secret/tune '{"options":{"version":"2"}}')" 204
expect_eq "tune read of an unknown mount: 400" "$(api GET sys/mounts/nope/tune | err0)" \
    'cannot fetch sysview for path "nope/"'
expect_eq "DELETE on a tune path: 405" "$(code DELETE sys/mounts/kv1/tune)" 405

# ---- auth methods -----------------------------------------------------------------------------
expect_eq "enable approle with config: 204" "$(code POST sys/auth/approle \
    '{"type":"approle","config":{"default_lease_ttl":"10m"}}')" 204
expect_eq "sys/auth: approle's config" "$(api GET sys/auth | jq -c '.data."approle/".config')" \
    '{"default_lease_ttl":600,"max_lease_ttl":0,"force_no_cache":false,"token_type":"default-service"}'
expect_eq "sys/auth/approle/tune: effective values" "$(api GET sys/auth/approle/tune | jq -c '.data |
    [.default_lease_ttl, .max_lease_ttl, .token_type]')" '[600,2764800,"default-service"]'
expect_eq "enable refused: batch token_type" "$(api POST sys/auth/other \
    '{"type":"approle","config":{"token_type":"batch"}}' | err0)" \
    'batch tokens are not supported by Tresor: token_type must be "default-service" or "service"'
code POST auth/approle/role/plain '{"token_policies":"default"}' >/dev/null
code POST auth/approle/role/long '{"token_policies":"default","token_ttl":"1h","token_max_ttl":"2h"}' \
    >/dev/null
login() { # ROLE: the login answer
    _rid=$(api GET "auth/approle/role/$1/role-id" | jq -r .data.role_id)
    _sid=$(api POST "auth/approle/role/$1/secret-id" '{}' | jq -r .data.secret_id)
    hcurl -X POST -d "{\"role_id\":\"$_rid\",\"secret_id\":\"$_sid\"}" "$V/auth/approle/login"
}
L=$(login plain)
expect_eq "login, role without TTL: the mount's default" "$(echo "$L" | jq .auth.lease_duration)" 600
TOK=$(echo "$L" | jq -r .auth.client_token)
expect_eq "... its explicit_max_ttl is the role's: unset, 0 (as Vault; the max applies at renewal)" \
    "$(api GET auth/token/lookup-self '' "$TOK" | jq .data.explicit_max_ttl)" 0
expect_eq "tune approle's max through sys/mounts/auth/approle/tune: 204" \
    "$(code POST sys/mounts/auth/approle/tune '{"max_lease_ttl":900}')" 204
expect_eq "... read back through both paths" \
    "$(api GET sys/mounts/auth/approle/tune | ttls) $(api GET sys/auth/approle/tune | ttls)" \
    '[600,900] [600,900]'
L=$(login long)
expect_eq "login, role token_ttl 1h: capped by the mount max" "$(echo "$L" | jq .auth.lease_duration)" 900
TOK=$(echo "$L" | jq -r .auth.client_token)
expect_eq "... its explicit_max_ttl stays the role's (0): the mount max applies at each renewal" \
    "$(api GET auth/token/lookup-self '' "$TOK" | jq .data.explicit_max_ttl)" 0
R=$(api POST auth/token/renew-self '{"increment":"2h"}' "$TOK")
check "... a renewal cannot pass it ($(echo "$R" | jq -c .auth.lease_duration))" \
    test "$(echo "$R" | jq .auth.lease_duration)" -le 900
expect_eq "tune approle back to the system's" "$(code POST sys/auth/approle/tune \
    '{"default_lease_ttl":"system","max_lease_ttl":"system"}')" 204
expect_eq "login, untuned mount, role 1h: the role's TTL" \
    "$(login long | jq .auth.lease_duration)" 3600
expect_eq "login, untuned mount, no role TTL: 768h" "$(login plain | jq .auth.lease_duration)" 2764800

# a multi-segment auth mount: its tune caps the renewals of the tokens it issued (the token's
# creation path auth/k8s/cluster-a/login names the mount auth/k8s/cluster-a/, not auth/k8s/)
expect_eq "enable approle at k8s/cluster-a: 204" \
    "$(code POST sys/auth/k8s/cluster-a '{"type":"approle"}')" 204
code POST auth/k8s/cluster-a/role/web '{"token_ttl":"60s"}' >/dev/null
_rid=$(api GET auth/k8s/cluster-a/role/web/role-id | jq -r .data.role_id)
_sid=$(api POST auth/k8s/cluster-a/role/web/secret-id '{}' | jq -r .data.secret_id)
TOK=$(hcurl -X POST -d "{\"role_id\":\"$_rid\",\"secret_id\":\"$_sid\"}" \
    "$V/auth/k8s/cluster-a/login" | jq -r .auth.client_token)
expect_eq "... tune its max to 120s: 204" \
    "$(code POST sys/auth/k8s/cluster-a/tune '{"max_lease_ttl":"120s"}')" 204
R=$(api POST auth/token/renew-self '{"increment":"3600s"}' "$TOK")
check "... a renewal of its login token is capped by it ($(echo "$R" | jq -c .auth.lease_duration))" \
    test "$(echo "$R" | jq .auth.lease_duration)" -le 120
expect_eq "... with Vault's warning" "$(echo "$R" | jq -r '.warnings[0]' | cut -c1-28)" \
    'TTL of "1h" exceeded the eff'
auth_err() { # DESC MOUNT BODY WANT
    expect_eq "auth tune refused: $1" "$(api POST "sys/auth/$2/tune" "$3" | err0)" "$4"
}
auth_err "batch tokens" approle '{"token_type":"batch"}' \
    'batch tokens are not supported by Tresor: token_type must be "default-service" or "service"'
auth_err "token_type on token/" token '{"token_type":"service"}' \
    "'token_type' cannot be set for 'token' or 'ns_token' auth mounts"
auth_err "a version" approle '{"options":{"version":"2"}}' \
    'auth method "approle" does not allow setting a version'
auth_err "an unknown auth mount" nope '{"default_lease_ttl":60}' \
    'tune of path "auth/nope/" failed: no mount entry found'
expect_eq "token_type service: 204" "$(code POST sys/auth/approle/tune '{"token_type":"service"}')" 204
expect_eq "... shown in sys/auth" "$(api GET sys/auth/approle | jq -r .data.config.token_type)" service
expect_eq "tune auth/token/: 204" "$(code POST sys/auth/token/tune \
    '{"default_lease_ttl":"1h","description":"tokens"}')" 204
expect_eq "... sys/auth/token/tune" "$(api GET sys/auth/token/tune | jq -c '.data |
    [.default_lease_ttl, .max_lease_ttl, .description]')" '[3600,2764800,"tokens"]'
expect_eq "... sys/auth lists it" "$(api GET sys/auth | jq -c '.data."token/" |
    [.config.default_lease_ttl, .description]')" '[3600,"tokens"]'

# ---- auth/token/'s TTLs apply to the tokens made there (Vault: CalculateTTL against the token
#      store's system view; the mount's values replace the system's) -------------------------------
expect_eq "token create after the tune: the tuned default (1h)" \
    "$(api POST auth/token/create '{"policies":["default"]}' | jq .auth.lease_duration)" 3600
expect_eq "tune auth/token/'s max to 2h: 204" \
    "$(code POST sys/auth/token/tune '{"max_lease_ttl":"2h"}')" 204
C=$(api POST auth/token/create '{"policies":["default"],"ttl":"3h"}')
expect_eq "a create asking 3h: capped at the tuned max" "$(echo "$C" | jq .auth.lease_duration)" 7200
expect_eq "... with Vault's warning" "$(echo "$C" | jq -r '.warnings | join("|")')" \
    'TTL of "3h" exceeded the effective max_ttl of "2h"; TTL value is capped accordingly'
R=$(api POST auth/token/renew-self '{"increment":"5h"}' "$(echo "$C" | jq -r .auth.client_token)")
expect_eq "a renewal asking 5h: within creation + the tuned max" \
    "$(echo "$R" | jq '.auth.lease_duration | . <= 7200 and . > 7100')" true
expect_contains "... with Vault's warning" "$(echo "$R" | jq -r '.warnings | join("|")')" \
    'TTL of "5h" exceeded the effective max_ttl of "'
C=$(api POST auth/token/create '{"policies":["default"],"period":"3h"}')
expect_eq "a period of 3h: capped at the tuned max, with Vault's warning" \
    "$(echo "$C" | jq -c '[.auth.lease_duration, .warnings[0]]')" \
    '[7200,"period of \"3h\" exceeded the effective max_ttl of \"2h\"; period value is capped accordingly"]'
OLD=$(api POST auth/token/create '{"policies":["default"],"ttl":"1h"}' | jq -r .auth.client_token)
code POST sys/auth/token/tune '{"default_lease_ttl":"1s","max_lease_ttl":"1s"}' >/dev/null
sleep 2
expect_eq "a renewal once the tuned max is below the token's age: Vault's 500" \
    "$(api POST auth/token/renew-self '{}' "$OLD" | err0)" "past the max TTL, cannot renew"
expect_eq "... the token keeps its expiry and works" \
    "$(api GET auth/token/lookup-self '' "$OLD" | jq '.data.ttl > 3000')" true
expect_eq "auth/token/'s max back to the system's (default 1h): 204" \
    "$(code POST sys/auth/token/tune '{"default_lease_ttl":"1h","max_lease_ttl":"system"}')" 204
expect_eq "... a create asking 3h gets it, without a warning" \
    "$(api POST auth/token/create '{"policies":["default"],"ttl":"3h"}' |
        jq -c '[.auth.lease_duration, .warnings]')" '[10800,null]'

# ---- who may tune -------------------------------------------------------------------------------
code PUT sys/policies/acl/tuner '{"policy":"path \"sys/mounts/kv1/tune\" { capabilities = [\"read\", \"update\"] }\npath \"sys/mounts/auth/approle/tune\" { capabilities = [\"update\"] }\npath \"sys/auth/approle/tune\" { capabilities = [\"read\", \"update\"] }"}' >/dev/null
code PUT sys/policies/acl/tuner-sudo '{"policy":"path \"sys/auth/approle/tune\" { capabilities = [\"read\", \"update\", \"sudo\"] }"}' >/dev/null
TT=$(api POST auth/token/create '{"policies":["tuner"]}' | jq -r .auth.client_token)
TS=$(api POST auth/token/create '{"policies":["tuner-sudo"]}' | jq -r .auth.client_token)
expect_eq "update on sys/mounts/kv1/tune tunes it" \
    "$(code POST sys/mounts/kv1/tune '{"default_lease_ttl":700}' "$TT")" 204
expect_eq "... and reads it" "$(code GET sys/mounts/kv1/tune '' "$TT")" 200
expect_eq "no policy on secret/: 403" \
    "$(code POST sys/mounts/secret/tune '{"default_lease_ttl":700}' "$TT")" 403
expect_eq "sys/auth/approle/tune without sudo: 403 (Vault: sudo)" \
    "$(code POST sys/auth/approle/tune '{"default_lease_ttl":700}' "$TT")" 403
expect_eq "... its read too" "$(code GET sys/auth/approle/tune '' "$TT")" 403
expect_eq "with sudo: 204" "$(code POST sys/auth/approle/tune '{"default_lease_ttl":700}' "$TS")" 204
expect_eq "sys/mounts/auth/approle/tune needs no sudo (as Vault)" \
    "$(code POST sys/mounts/auth/approle/tune '{"default_lease_ttl":800}' "$TT")" 204
expect_eq "listing_visibility unauth shows a mount to a token without access" \
    "$(code POST sys/mounts/kv1/tune '{"listing_visibility":"unauth"}')" 204
expect_eq "... in sys/internal/ui/mounts: kv1 yes, secret no" \
    "$(api GET sys/internal/ui/mounts '' "$TT" | jq -c '[.data.secret."kv1/" != null,
        .data.secret."secret/" != null]')" '[true,false]'

# ---- the audit trail has every tune, request and response --------------------------------------
for p in sys/mounts/kv1/tune sys/auth/approle/tune sys/mounts/auth/approle/tune sys/auth/token/tune; do
    n=$(grep -F "\"path\":\"$p\"" "$D/audit.log" | jq -r .type 2>/dev/null | sort -u | tr '\n' ' ')
    expect_eq "audited: $p" "$n" "request response "
done
check "a refused tune is audited with its error" \
    grep -qF 'backend max lease TTL of 7200 would be less than backend default lease TTL of 10800' \
    "$D/audit.log"

# ---- a restart keeps everything ----------------------------------------------------------------
stop_prod
restart_prod "$D" || exit 1
V="$ADDR/v1"
i=0
while [ "$(hcurl "$V/sys/seal-status" | jq -r .sealed)" != false ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
expect_eq "after a restart: kv1's tune" "$(api GET sys/mounts/kv1/tune | jq -c '.data |
    [.default_lease_ttl, .max_lease_ttl, .description, .listing_visibility]')" \
    '[700,7200,"tuned","unauth"]'
expect_eq "... kv1's lease" "$(lease plain)" 700
expect_eq "... approle's tune" "$(api GET sys/auth/approle/tune | jq -c '.data |
    [.default_lease_ttl, .max_lease_ttl, .token_type]')" '[800,2764800,"service"]'
expect_eq "... a login gets it" "$(login plain | jq .auth.lease_duration)" 800
expect_eq "... auth/token/'s tune" "$(api GET sys/auth/token/tune | ttls)" '[3600,2764800]'
check "the audit log verifies" "$TRESOR" audit verify "$D/audit.log"

# ---- hvac ------------------------------------------------------------------------------------
PY=${TR_HVAC_PYTHON:-/usr/bin/python3}
if "$PY" -c 'import hvac' 2>/dev/null; then
    VAULT_ADDR="$ADDR" TR_CA="$CA" TR_ROOT="$ROOT" "$PY" - <<'PYEOF' >"$D/hvac.out" 2>&1
import os

import hvac
import requests
from hvac import exceptions as hx

s = requests.Session()
s.trust_env = False
c = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["TR_ROOT"],
                verify=os.environ["TR_CA"], session=s, timeout=20)


def out(desc, v):
    print("%s=%s" % (desc, v))


c.sys.enable_secrets_engine("kv", path="hv1", options={"version": "1"},
                            config={"default_lease_ttl": "20m", "max_lease_ttl": "1h"})
r = c.sys.read_mount_configuration("hv1")
out("read_mount", [r["data"]["default_lease_ttl"], r["data"]["max_lease_ttl"]])
c.sys.tune_mount_configuration("hv1", default_lease_ttl=300, max_lease_ttl="30m",
                               description="by hvac", listing_visibility="unauth",
                               audit_non_hmac_request_keys=["k"], force_no_cache=False)
r = c.sys.read_mount_configuration("hv1")["data"]
out("tuned_mount", [r["default_lease_ttl"], r["max_lease_ttl"], r["description"],
                    r["listing_visibility"], r["audit_non_hmac_request_keys"]])
c.secrets.kv.v1.create_or_update_secret("app", {"v": "1"}, mount_point="hv1")
out("kv1_lease", c.secrets.kv.v1.read_secret("app", mount_point="hv1")["lease_duration"])
out("listed", c.sys.list_mounted_secrets_engines()["data"]["hv1/"]["config"]["default_lease_ttl"])
try:
    c.sys.tune_mount_configuration("hv1", default_lease_ttl="2h")
    out("bad_tune", "accepted")
except hx.InvalidRequest as e:
    out("bad_tune", e.errors[0] if e.errors else e)
try:
    c.sys.tune_mount_configuration("hv1", options={"version": "2"})
    out("upgrade", "accepted")
except hx.InvalidRequest as e:
    out("upgrade", "InvalidRequest")
c.sys.enable_auth_method("approle", path="hvrole", config={"max_lease_ttl": "2h"})
c.sys.tune_auth_method("hvrole", default_lease_ttl=1200, description="hvac role")
r = c.sys.read_auth_method_tuning("hvrole")["data"]
out("auth_tuning", [r["default_lease_ttl"], r["max_lease_ttl"], r["description"]])
c.write("auth/hvrole/role/app", token_policies="default", token_ttl="3h")
rid = c.auth.approle.read_role_id("app", mount_point="hvrole")["data"]["role_id"]
sid = c.auth.approle.generate_secret_id("app", mount_point="hvrole")["data"]["secret_id"]
lg = hvac.Client(url=os.environ["VAULT_ADDR"], verify=os.environ["TR_CA"], session=s)
a = lg.auth.approle.login(rid, sid, mount_point="hvrole")
out("login_lease", a["auth"]["lease_duration"])
try:
    c.sys.tune_auth_method("hvrole", max_lease_ttl=600)
    out("auth_bad", "accepted")
except hx.InvalidRequest as e:
    out("auth_bad", e.errors[0] if e.errors else e)
PYEOF
    H=$(cat "$D/hvac.out")
    hv() { printf '%s\n' "$H" | sed -n "s/^$1=//p"; }
    expect_eq "hvac: read_mount_configuration after enable with config" "$(hv read_mount)" "[1200, 3600]"
    expect_eq "hvac: tune_mount_configuration then read" "$(hv tuned_mount)" \
        "[300, 1800, 'by hvac', 'unauth', ['k']]"
    expect_eq "hvac: kv v1 read lease_duration" "$(hv kv1_lease)" 300
    expect_eq "hvac: list_mounted_secrets_engines config" "$(hv listed)" 300
    expect_eq "hvac: a bad tune raises InvalidRequest with Vault's message" "$(hv bad_tune)" \
        "backend max lease TTL of 1800 would be less than backend default lease TTL of 7200"
    expect_eq "hvac: the v1 -> v2 upgrade raises InvalidRequest" "$(hv upgrade)" InvalidRequest
    expect_eq "hvac: tune_auth_method then read_auth_method_tuning" "$(hv auth_tuning)" \
        "[1200, 7200, 'hvac role']"
    expect_eq "hvac: approle login capped by the mount max" "$(hv login_lease)" 7200
    expect_eq "hvac: tune_auth_method below the default raises" "$(hv auth_bad)" \
        "backend max lease TTL of 600 would be less than backend default lease TTL of 1200"
    check "hvac run had no traceback" test -z "$(printf '%s\n' "$H" | grep Traceback)"
    [ -n "$(printf '%s\n' "$H" | grep Traceback)" ] && printf '%s\n' "$H" | tail -20
else
    echo "# hvac missing: its calls were not run (make deps installs python3-hvac)"
fi

stop_prod
finish
