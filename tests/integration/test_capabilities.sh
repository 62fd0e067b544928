#!/bin/sh
# sys/capabilities-self, sys/capabilities and sys/capabilities-accessor (vault-api.md §2.11,
# api/api_caps.c) end to end over
# TLS with curl and hvac: the answer for another token equals that token's own -self answer
# (globs, `+`, deny, precedence, root), the endpoint is an ordinary ACL path (403 before the
# asked-about token is looked at), dead tokens are 400 `invalid token`, the deprecated `path`
# forms, and on a config-file server with audit: the asked-about token never appears in clear.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
jc() { jq -c "$1"; }
need jq curl

D=$(tmpdir)
start_dev "$D" || exit 1
ROOT=$(dev_root)
R="X-Vault-Token: $ROOT"

# caps CALLER_TOKEN ENDPOINT BODY: the whole answer; cstat: just the status
caps() { hcurl -H "X-Vault-Token: $1" -X POST -d "$3" "$ADDR/v1/sys/$2"; }
cstat() { status_of -H "X-Vault-Token: $1" -X POST -d "$3" "$ADDR/v1/sys/$2"; }

POL='path "secret/data/app/*" { capabilities = ["read", "list"] }
path "secret/data/app/admin" { capabilities = ["deny"] }
path "secret/data/+/config" { capabilities = ["update", "create"] }
path "secret/metadata/*" { capabilities = ["list", "sudo", "delete"] }
path "sys/capabilities" { capabilities = ["update"] }'
expect_eq "policy with globs, + and deny written" \
    "$(status_of -H "$R" -X PUT -d "$(jq -n --arg p "$POL" '{policy:$p}')" "$ADDR/v1/sys/policies/acl/caps")" 204
tok() { hcurl -H "$R" -X POST -d "$1" "$ADDR/v1/auth/token/create" | j .auth.client_token; }
T=$(tok '{"policies":["caps"],"ttl":"1h"}')        # may ask about others
U=$(tok '{"policies":["default"],"ttl":"1h"}')     # default only: no sys/capabilities
check "tokens created" test -n "$T" -a "$T" != null -a -n "$U" -a "$U" != null

# -- before anything else: the endpoint is an ordinary ACL path
expect_eq "no caller token: 403" \
    "$(status_of -X POST -d "{\"token\":\"$T\",\"paths\":[\"a\"]}" "$ADDR/v1/sys/capabilities")" 403
expect_eq "default policy does not grant sys/capabilities: 403 for a live target" \
    "$(cstat "$U" capabilities "{\"token\":\"$T\",\"paths\":[\"a\"]}")" 403
expect_eq "... and the same 403 for an unknown target (no existence oracle)" \
    "$(cstat "$U" capabilities '{"token":"hvs.nosuchtoken","paths":["a"]}')" 403
expect_contains "... with permission denied" \
    "$(caps "$U" capabilities '{"token":"hvs.nosuchtoken","paths":["a"]}')" "permission denied"
expect_eq "default policy grants capabilities-self" "$(cstat "$U" capabilities-self '{"paths":["a"]}')" 200

# -- one path: data.<path>, data.capabilities and both at the top level
P1="secret/data/app/db"
A=$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"paths\":[\"$P1\"]}")
expect_eq "one path: data.<path> sorted" "$(echo "$A" | jc ".data[\"$P1\"]")" '["list","read"]'
expect_eq "one path: data.capabilities" "$(echo "$A" | jc .data.capabilities)" '["list","read"]'
expect_eq "one path: top-level capabilities" "$(echo "$A" | jc .capabilities)" '["list","read"]'
expect_eq "one path: top-level <path>" "$(echo "$A" | jc ".[\"$P1\"]")" '["list","read"]'
expect_eq "mount_type system" "$(echo "$A" | j .mount_type)" system

# -- several paths: the same as the token's own -self answer, no capabilities key
PATHS='["secret/data/app/db","secret/data/app/admin","secret/data/web/config","secret/data/app/config","secret/metadata/x/y","other/path","sys/capabilities-self","sys/capabilities"]'
A=$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"paths\":$PATHS}")
S=$(caps "$T" capabilities-self "{\"paths\":$PATHS}")
expect_eq "glob grant" "$(echo "$A" | jc '.data["secret/data/app/db"]')" '["list","read"]'
expect_eq "explicit deny" "$(echo "$A" | jc '.data["secret/data/app/admin"]')" '["deny"]'
expect_eq "+ segment" "$(echo "$A" | jc '.data["secret/data/web/config"]')" '["create","update"]'
expect_eq "precedence: the later wildcard wins over the earlier +" \
    "$(echo "$A" | jc '.data["secret/data/app/config"]')" '["list","read"]'
expect_eq "sorted with sudo" "$(echo "$A" | jc '.data["secret/metadata/x/y"]')" '["delete","list","sudo"]'
expect_eq "no grant is deny" "$(echo "$A" | jc '.data["other/path"]')" '["deny"]'
expect_eq "default policy counted" "$(echo "$A" | jc '.data["sys/capabilities-self"]')" '["update"]'
expect_eq "no capabilities key for several paths" "$(echo "$A" | j '.data | has("capabilities")')" false
expect_eq "same answer as the token's own -self" "$(echo "$A" | jc .data)" "$(echo "$S" | jc .data)"
expect_eq "top level has every path" "$(echo "$A" | jc '[.["other/path"], .["secret/data/web/config"]]')" \
    '[["deny"],["create","update"]]'

# -- root, self-queries and a non-root caller asking about root
expect_eq "root token: root" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$ROOT\",\"paths\":[\"any/thing\"]}" | jc .data.capabilities)" '["root"]'
expect_eq "non-root caller allowed the endpoint asks about root" \
    "$(caps "$T" capabilities "{\"token\":\"$ROOT\",\"paths\":[\"x\"]}" | jc .data.capabilities)" '["root"]'
expect_eq "a token about itself" \
    "$(caps "$T" capabilities "{\"token\":\"$T\",\"paths\":[\"secret/data/app/admin\"]}" | jc .capabilities)" '["deny"]'
expect_eq "default-only token" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$U\",\"paths\":[\"secret/data/app/db\",\"sys/capabilities\"]}" | jc '[.data["secret/data/app/db"], .data["sys/capabilities"]]')" \
    '[["deny"],["deny"]]'
N=$(tok '{"policies":["caps"],"no_default_policy":true,"ttl":"1h"}')
expect_eq "token without the default policy" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$N\",\"paths\":[\"sys/capabilities-self\"]}" | jc .capabilities)" '["deny"]'

# -- the deprecated forms (the Go client sends {"token":..., "path":"<one path>"})
expect_eq "deprecated path as a string" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"path\":\"secret/data/app/db\"}" | jc .data.capabilities)" '["list","read"]'
A=$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"path\":[\"secret/data/app/db\",\"other/path\"]}")
expect_eq "deprecated path as a list" "$(echo "$A" | jc '[.data["secret/data/app/db"], .data["other/path"], (.data | has("capabilities"))]')" \
    '[["list","read"],["deny"],false]'
A=$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"paths\":\"secret/data/app/db, other/path\"}")
expect_eq "paths as a comma-separated string" "$(echo "$A" | jc '[.data["secret/data/app/db"], .data["other/path"]]')" \
    '[["list","read"],["deny"]]'
expect_eq "paths win over path" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"paths\":[\"other/path\"],\"path\":\"secret/data/app/db\"}" | j '.data | keys | join(",")')" \
    "capabilities,other/path"
expect_eq "form-encoded content type, JSON body (curl -d)" \
    "$(hcurl -H "$R" -d "{\"token\":\"$T\",\"paths\":[\"secret/data/app/db\"]}" "$ADDR/v1/sys/capabilities" | jc .capabilities)" '["list","read"]'

# -- bad input
expect_contains "no paths: 400" "$(caps "$ROOT" capabilities "{\"token\":\"$T\"}")" "paths must be supplied"
expect_eq "no paths: status" "$(cstat "$ROOT" capabilities "{\"token\":\"$T\",\"paths\":[]}")" 400
expect_contains "an empty path: 400 missing path" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"paths\":[\"a\",\"\"]}")" "missing path"
expect_contains "no token: 400 no token found" "$(caps "$ROOT" capabilities '{"paths":["a"]}')" "no token found"
expect_eq "no token: status" "$(cstat "$ROOT" capabilities '{"token":"","paths":["a"]}')" 400
expect_eq "a non-string token: 400" "$(cstat "$ROOT" capabilities '{"token":42,"paths":["a"]}')" 400
expect_eq "unknown token: 400" "$(cstat "$ROOT" capabilities '{"token":"hvs.nosuchtoken","paths":["a"]}')" 400
expect_contains "unknown token: invalid token" \
    "$(caps "$ROOT" capabilities '{"token":"hvs.nosuchtoken","paths":["a"]}')" "invalid token"
LONGTOK=$(head -c 4000 /dev/zero | tr '\0' x)
expect_contains "overlong token: invalid token" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$LONGTOK\",\"paths\":[\"a\"]}")" "invalid token"
expect_eq "GET is not served" "$(status_of -H "$R" "$ADDR/v1/sys/capabilities")" 404
expect_eq "not a JSON object: 400" "$(cstat "$ROOT" capabilities '[1,2]')" 400

# -- dead tokens: expired, revoked, a child of a revoked parent; a limited-use token spends nothing
SHORT=$(tok '{"policies":["caps"],"ttl":"3s"}')
acc_of() { hcurl -H "$R" -X POST -d "{\"token\":\"$1\"}" "$ADDR/v1/auth/token/lookup" | j .data.accessor; }
SHORTA=$(acc_of "$SHORT")
expect_eq "short-lived token answers while alive" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$SHORT\",\"paths\":[\"secret/data/app/db\"]}" | jc .capabilities)" '["list","read"]'
expect_eq "a policy to make children" "$(status_of -H "$R" -X PUT -d '{"policy":"path \"auth/token/create\" { capabilities = [\"update\"] }"}' "$ADDR/v1/sys/policies/acl/creator")" 204
REV=$(tok '{"policies":["caps","creator"],"ttl":"1h"}')
REVA=$(acc_of "$REV")
CHILD=$(hcurl -H "X-Vault-Token: $REV" -X POST -d '{"ttl":"1h"}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "child answers while its parent lives" \
    "$(cstat "$ROOT" capabilities "{\"token\":\"$CHILD\",\"paths\":[\"a\"]}")" 200
expect_eq "revoke the parent" "$(status_of -H "X-Vault-Token: $REV" -X POST "$ADDR/v1/auth/token/revoke-self")" 204
expect_contains "revoked token: invalid token" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$REV\",\"paths\":[\"a\"]}")" "invalid token"
expect_eq "revoked token: 400" "$(cstat "$ROOT" capabilities "{\"token\":\"$REV\",\"paths\":[\"a\"]}")" 400
expect_eq "child of the revoked token: 400" "$(cstat "$ROOT" capabilities "{\"token\":\"$CHILD\",\"paths\":[\"a\"]}")" 400
ONE=$(tok '{"policies":["caps"],"num_uses":1,"ttl":"1h"}')
expect_eq "limited-use token asked about twice" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$ONE\",\"paths\":[\"a\"]}" >/dev/null; caps "$ROOT" capabilities "{\"token\":\"$ONE\",\"paths\":[\"secret/data/app/db\"]}" | jc .capabilities)" \
    '["list","read"]'
expect_eq "... and its one use is still there" \
    "$(status_of -H "X-Vault-Token: $ONE" "$ADDR/v1/secret/data/app/db")" 404
expect_eq "... then spent" "$(status_of -H "X-Vault-Token: $ONE" "$ADDR/v1/secret/data/app/db")" 403
expect_eq "... and then invalid" "$(cstat "$ROOT" capabilities "{\"token\":\"$ONE\",\"paths\":[\"a\"]}")" 400
sleep 3 # past the 3 s TTL (expiry has whole-second resolution)
expect_contains "expired token: invalid token" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$SHORT\",\"paths\":[\"a\"]}")" "invalid token"

# -- sys/capabilities-accessor: the same answers by accessor
TA=$(acc_of "$T")
check "accessor of the token" test -n "$TA" -a "$TA" != null
expect_eq "by accessor: the same answer as by token" \
    "$(caps "$ROOT" capabilities-accessor "{\"accessor\":\"$TA\",\"paths\":$PATHS}" | jc .data)" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"paths\":$PATHS}" | jc .data)"
A=$(caps "$ROOT" capabilities-accessor "{\"accessor\":\"$TA\",\"path\":\"secret/data/app/db\"}")
expect_eq "by accessor, deprecated path: capabilities at the top" "$(echo "$A" | jc .capabilities)" '["list","read"]'
expect_eq "by accessor: the root token" \
    "$(caps "$ROOT" capabilities-accessor "{\"accessor\":\"$(acc_of "$ROOT")\",\"paths\":[\"x\"]}" | jc .capabilities)" '["root"]'
expect_eq "by accessor: update on sys/capabilities is not enough (403)" \
    "$(cstat "$T" capabilities-accessor "{\"accessor\":\"$TA\",\"paths\":[\"a\"]}")" 403
expect_eq "by accessor: default policy, live accessor: 403" \
    "$(cstat "$U" capabilities-accessor "{\"accessor\":\"$TA\",\"paths\":[\"a\"]}")" 403
expect_eq "by accessor: default policy, unknown accessor: the same 403" \
    "$(cstat "$U" capabilities-accessor '{"accessor":"nosuchaccessor","paths":["a"]}')" 403
expect_contains "by accessor: none given" "$(caps "$ROOT" capabilities-accessor '{"paths":["a"]}')" "missing accessor"
expect_eq "by accessor: none given is 400" "$(cstat "$ROOT" capabilities-accessor '{"accessor":"","paths":["a"]}')" 400
expect_contains "by accessor: unknown" \
    "$(caps "$ROOT" capabilities-accessor '{"accessor":"nosuchaccessor","paths":["a"]}')" "invalid accessor"
expect_eq "by accessor: unknown is 400" "$(cstat "$ROOT" capabilities-accessor '{"accessor":"nosuchaccessor","paths":["a"]}')" 400
expect_contains "by accessor: its token revoked" \
    "$(caps "$ROOT" capabilities-accessor "{\"accessor\":\"$REVA\",\"paths\":[\"a\"]}")" "invalid accessor"
expect_contains "by accessor: its token expired" \
    "$(caps "$ROOT" capabilities-accessor "{\"accessor\":\"$SHORTA\",\"paths\":[\"a\"]}")" "invalid token"
expect_contains "by accessor: no paths" \
    "$(caps "$ROOT" capabilities-accessor "{\"accessor\":\"$TA\"}")" "paths must be supplied"
expect_eq "a policy granting -accessor" "$(status_of -H "$R" -X PUT -d '{"policy":"path \"sys/capabilities-accessor\" { capabilities = [\"update\"] }"}' "$ADDR/v1/sys/policies/acl/byacc")" 204
V=$(tok '{"policies":["byacc"],"ttl":"1h"}')
expect_eq "by accessor: a caller with update on sys/capabilities-accessor" \
    "$(caps "$V" capabilities-accessor "{\"accessor\":\"$TA\",\"paths\":[\"secret/data/app/admin\"]}" | jc .capabilities)" '["deny"]'
expect_eq "... who may not use sys/capabilities" "$(cstat "$V" capabilities "{\"token\":\"$T\",\"paths\":[\"a\"]}")" 403

# -- a token bound to CIDRs the caller is outside of: answered (as Vault: no request comes from it)
expect_eq "approle enabled" "$(status_of -H "$R" -X POST -d '{"type":"approle"}' "$ADDR/v1/sys/auth/approle")" 204
expect_eq "role bound to 10.0.0.0/8" "$(status_of -H "$R" -X POST -d '{"token_policies":"caps","bind_secret_id":false,"token_bound_cidrs":["10.0.0.0/8"]}' "$ADDR/v1/auth/approle/role/far")" 204
FR=$(hcurl -H "$R" "$ADDR/v1/auth/approle/role/far/role-id" | j .data.role_id)
FAR=$(hcurl -X POST -d "{\"role_id\":\"$FR\"}" "$ADDR/v1/auth/approle/login" | j .auth.client_token)
expect_eq "the bound token cannot be used from here" "$(status_of -H "X-Vault-Token: $FAR" "$ADDR/v1/auth/token/lookup-self")" 403
expect_eq "its capabilities are answered" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$FAR\",\"paths\":[\"secret/data/app/db\"]}" | jc .capabilities)" '["list","read"]'

# -- a policy change shows at once (the ACL cache follows policy versions)
expect_eq "policy updated" "$(status_of -H "$R" -X PUT -d '{"policy":"path \"sys/capabilities\" { capabilities = [\"update\"] }\npath \"other/*\" { capabilities = [\"read\"] }"}' "$ADDR/v1/sys/policies/acl/caps")" 204
expect_eq "new policy answered" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$T\",\"paths\":[\"other/path\",\"secret/data/app/db\"]}" | jc '[.data["other/path"], .data["secret/data/app/db"]]')" \
    '[["read"],["deny"]]'

# -- hvac (Debian's python3-hvac), when installed: get_capabilities(paths, token=...)
PY=${TR_HVAC_PYTHON:-/usr/bin/python3}
if "$PY" -c 'import hvac' 2>/dev/null; then
    OUT=$(VAULT_ADDR="$ADDR" CA="$CA" ROOT="$ROOT" T="$T" "$PY" - <<'PYEOF' 2>&1
import os, json, hvac
from hvac import exceptions as hx
c = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["ROOT"], verify=os.environ["CA"])
r = c.sys.get_capabilities(paths=["other/path", "secret/data/app/db"], token=os.environ["T"])
print(json.dumps([r["data"]["other/path"], r["data"]["secret/data/app/db"]]))
try:
    c.sys.get_capabilities(paths=["a"], token="hvs.nosuchtoken")
    print("no exception")
except hx.InvalidRequest as e:
    print("InvalidRequest", e)
PYEOF
    )
    expect_contains "hvac get_capabilities(token=)" "$OUT" '[["read"], ["deny"]]'
    expect_contains "hvac: invalid token is InvalidRequest" "$OUT" "InvalidRequest invalid token"
else
    echo "# hvac not installed: its check skipped"
fi
kill -TERM "$PID"
wait "$PID" 2>/dev/null

# -- audit: the asked-about token is MAC'd like any "token" member, never in clear
D2=$(tmpdir)
start_prod "$D2" devkey || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | j .root_token)
R="X-Vault-Token: $ROOT"
T2=$(tok '{"policies":["default"],"ttl":"1h"}')
check "audited server: token created" test -n "$T2" -a "$T2" != null
expect_eq "audited server answers" \
    "$(caps "$ROOT" capabilities "{\"token\":\"$T2\",\"paths\":[\"sys/capabilities-self\"]}" | jc .capabilities)" '["update"]'
expect_contains "audited server: invalid token" \
    "$(caps "$ROOT" capabilities '{"token":"hvs.CANARYunknownTOKEN","paths":["a"]}')" "invalid token"
stop_prod
AL="$D2/audit.log"
expect_eq "the asked-about token never in the audit log" "$(grep -c -F "$T2" "$AL")" 0
expect_eq "nor an unknown one" "$(grep -c -F "CANARYunknownTOKEN" "$AL")" 0
REQ=$(grep '"path":"sys/capabilities"' "$AL" | grep '"type":"request"' | head -1)
expect_contains "its request line has the token MAC'd" "$(echo "$REQ" | jq -r .request.data.token)" "hmac-"
expect_eq "two request lines, two responses" "$(grep -c '"path":"sys/capabilities"' "$AL")" 4

finish
