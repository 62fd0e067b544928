#!/bin/sh
# Token store semantics against a real config-file `tresord` (devkey seal, audit log) over TLS
# with curl, and hvac where installed: what a child may hold (policies, default, num_uses),
# token trees (deep, wide, across a restart, an expired parent), TTL arithmetic on create and
# renew, who may look up, renew and revoke which token, the ACL of a token with many policies,
# and that the audit log never holds a raw token or accessor (vault-api.md §4, §6).
. "$(dirname "$0")/lib.sh"

need jq curl

D=$(tmpdir)
start_prod "$D" devkey || exit 1
init_devkey
ROOT=${R#X-Vault-Token: }
check "root token from init" test -n "$ROOT"

V() { echo "$ADDR/v1"; }
api() { # METHOD PATH [BODY] [TOKEN]: body of the answer
    hcurl -X "$1" -H "X-Vault-Token: ${4:-$ROOT}" ${3:+-d "$3"} "$(V)/$2"
}
code() { # METHOD PATH [BODY] [TOKEN]: status of the answer
    status_of -X "$1" -H "X-Vault-Token: ${4:-$ROOT}" ${3:+-d "$3"} "$(V)/$2"
}
err0() { jq -r '.errors[0] // empty'; }
TOKS="$D/tokens" # every raw token and accessor handed out, for the audit check at the end
: >"$TOKS"
mk() { # BODY [TOKEN] [PATH]: a new token (recorded)
    _r=$(api POST "${3:-auth/token/create}" "$1" "${2:-$ROOT}")
    printf '%s\n' "$_r" | jq -r '.auth.client_token // empty, .auth.accessor // empty' >>"$TOKS"
    printf '%s\n' "$_r" | jq -r '.auth.client_token // empty'
}
acc_of() { api GET auth/token/lookup-self "" "$1" | jq -r .data.accessor; }
pols_of() { api POST auth/token/lookup "{\"token\":\"$1\"}" | jq -c .data.policies; }
# gone ACCESSOR: "gone" once no record is left behind (Vault's 400 invalid accessor), "dead"
# when the token cannot be used but its record lingers, "live" otherwise
gone() {
    case "$(api POST auth/token/lookup-accessor "{\"accessor\":\"$1\"}" | jq -r '.errors[0] // "live"')" in
    "invalid accessor") echo gone ;;
    live) echo live ;;
    *) echo dead ;;
    esac
}

code PUT sys/policies/acl/maker '{"policy":"path \"secret/*\" { capabilities = [\"read\"] }\npath \"auth/token/create\" { capabilities = [\"update\"] }\npath \"auth/token/create-orphan\" { capabilities = [\"update\"] }\npath \"auth/token/create/*\" { capabilities = [\"update\"] }"}' >/dev/null
code PUT sys/policies/acl/other '{"policy":"path \"secret/*\" { capabilities = [\"read\",\"update\"] }"}' >/dev/null

# -- a child never holds a policy its parent lacks: "default" included (Vault adds it only when
#    the parent has it, and a parent without it cannot ask for it); no_default_policy removes
#    it however it came
NODEF=$(mk '{"policies":["maker"],"no_default_policy":true,"ttl":"1h"}')
expect_eq "a parent made without default" "$(pols_of "$NODEF")" '["maker"]'
expect_eq "... its child inherits without default" \
    "$(api POST auth/token/create '{}' "$NODEF" | jq -c .auth.policies)" '["maker"]'
expect_eq "... a child asking for its own policies gets no default" \
    "$(api POST auth/token/create '{"policies":["maker"]}' "$NODEF" | jq -c .auth.policies)" '["maker"]'
expect_eq "... asking for default: 400" \
    "$(api POST auth/token/create '{"policies":["maker","default"]}' "$NODEF" | err0)" \
    "child policies must be subset of parent"
expect_eq "... through create-orphan neither" \
    "$(api POST auth/token/create-orphan '{"policies":["default"]}' "$NODEF" | err0)" \
    "child policies must be subset of parent"
NDC=$(mk '{}' "$NODEF")
expect_eq "... so its child cannot use what default grants (sys/capabilities-self)" \
    "$(code PUT sys/capabilities-self '{"paths":["x"]}' "$NDC") $(code PUT sys/capabilities-self '{"paths":["x"]}' "$NODEF")" \
    "403 403"
MK=$(mk '{"policies":["maker"],"ttl":"1h"}')
expect_eq "a parent with default: the child gets it" \
    "$(api POST auth/token/create '{"policies":["maker"]}' "$MK" | jq -c .auth.policies)" '["default","maker"]'
expect_eq "no_default_policy strips an inherited default" \
    "$(api POST auth/token/create '{"no_default_policy":true}' "$MK" | jq -c .auth.policies)" '["maker"]'
expect_eq "no_default_policy strips a default asked for" \
    "$(api POST auth/token/create '{"no_default_policy":true,"policies":"maker,default"}' "$MK" | jq -c .auth.policies)" \
    '["maker"]'
expect_eq "... for a root caller too" \
    "$(api POST auth/token/create '{"no_default_policy":true,"policies":["other","default"]}' | jq -c .auth.policies)" \
    '["other"]'
expect_eq "a child cannot get a policy its parent lacks" \
    "$(api POST auth/token/create '{"policies":["other"]}' "$MK" | err0)" "child policies must be subset of parent"
expect_eq "... nor root, in any spelling" \
    "$(code POST auth/token/create '{"policies":[" Root"]}' "$MK")" 400
expect_eq "root swallows the other policies (Vault's SanitizePolicies)" \
    "$(api POST auth/token/create '{"policies":["root","other"]}' | jq -c .auth.policies)" '["root"]'
# a role without policy lists keeps the parent rules; one with lists applies no_default_policy
code POST auth/token/roles/plain '{"token_period":"1h"}' >/dev/null
code POST auth/token/roles/lists '{"allowed_policies":["maker","default"]}' >/dev/null
expect_eq "create/<role without lists> by a parent without default: none" \
    "$(api POST auth/token/create/plain '{}' "$NODEF" | jq -c .auth.policies)" '["maker"]'
expect_eq "create/<role with lists> with no_default_policy: default stripped" \
    "$(api POST auth/token/create/lists '{"no_default_policy":true}' | jq -c .auth.policies)" '["maker"]'
expect_eq "entity_alias without a role: Vault's 400" \
    "$(api POST auth/token/create '{"entity_alias":"bob"}' | err0)" \
    "'entity_alias' is only allowed in combination with token role"
expect_eq "an empty entity_alias is no alias (the Go client sends one)" \
    "$(code POST auth/token/create '{"entity_alias":"","ttl":"1m"}')" 200

# -- the ACL of a token holds every one of its policies: with more than 64, a deny in the last
#    one still wins and a grant in it still applies
i=1
while [ $i -le 70 ]; do
    code PUT "sys/policies/acl/f$i" '{"policy":"path \"elsewhere/*\" { capabilities = [\"read\"] }"}' >/dev/null
    i=$((i + 1))
done
code PUT sys/policies/acl/zdeny '{"policy":"path \"secret/*\" { capabilities = [\"deny\"] }"}' >/dev/null
code PUT sys/policies/acl/zgrant '{"policy":"path \"secret/data/k1\" { capabilities = [\"read\"] }"}' >/dev/null
MANY=$(i=1; while [ $i -le 70 ]; do printf '"f%d",' $i; i=$((i + 1)); done)
DENYT=$(mk "{\"policies\":[\"other\",$MANY\"zdeny\"],\"ttl\":\"1h\"}")
expect_eq "72 policies, a deny in the last: the read is denied" \
    "$(code GET secret/data/k1 "" "$DENYT")" 403
expect_eq "... also once the ACL is cached" "$(code GET secret/data/k1 "" "$DENYT")" 403
GRANTT=$(mk "{\"policies\":[$MANY\"zgrant\"],\"ttl\":\"1h\"}")
expect_eq "71 policies, a grant in the last: the read is allowed" \
    "$(api GET secret/data/k1 "" "$GRANTT" | jq -r .data.data.v)" one

# -- limited-use tokens: no children of any kind; revoke-self on the last use succeeds
LIM=$(mk '{"policies":["maker"],"num_uses":5}')
for p in create create-orphan create/plain; do
    expect_eq "a limited-use token cannot use $p" \
        "$(api POST "auth/token/$p" '{"policies":["maker"]}' "$LIM" | err0)" \
        "restricted use token cannot generate child tokens"
done
ONCE=$(mk '{"policies":["maker"],"num_uses":1}')
expect_eq "revoke-self spending the last use: 204 (as Vault)" \
    "$(code POST auth/token/revoke-self '{}' "$ONCE")" 204
expect_eq "... and the token is gone" "$(code GET auth/token/lookup-self "" "$ONCE")" 403

# -- orphans: no_parent needs root or sudo, create-orphan does not
expect_eq "no_parent without sudo: 400" \
    "$(api POST auth/token/create '{"no_parent":true}' "$MK" | err0)" \
    "root or sudo privileges required to create orphan token"
code PUT sys/policies/acl/sudomaker '{"policy":"path \"auth/token/create\" { capabilities = [\"update\",\"sudo\"] }"}' >/dev/null
SU=$(mk '{"policies":["sudomaker"],"ttl":"1h"}')
SUO=$(mk '{"no_parent":true,"policies":["sudomaker"]}' "$SU")
ORPH=$(mk '{"policies":["maker"]}' "$MK" auth/token/create-orphan)
KID=$(mk '{"policies":["maker"]}' "$MK")
expect_eq "no_parent with sudo and create-orphan: orphans" \
    "$(api GET auth/token/lookup-self "" "$SUO" | jq .data.orphan) $(api GET auth/token/lookup-self "" "$ORPH" | jq .data.orphan)" \
    "true true"
code POST auth/token/revoke "{\"token\":\"$SU\"}" >/dev/null
code POST auth/token/revoke "{\"token\":\"$MK\"}" >/dev/null
expect_eq "orphans outlive their creators, a child does not" \
    "$(code GET auth/token/lookup-self "" "$SUO") $(code GET auth/token/lookup-self "" "$ORPH") $(code GET auth/token/lookup-self "" "$KID")" \
    "200 200 403"

# -- a deep tree: every use checks at most 64 ancestors, so the token that has 64 cannot make a
#    child (which could never be used) but can make an orphan; revoking the top takes them all
TOP=$(mk '{"policies":["maker"],"ttl":"1h"}')
T=$TOP
: >"$D/chain"
n=1
while [ $n -lt 80 ]; do
    NT=$(mk '{"policies":["maker"]}' "$T")
    [ -n "$NT" ] || break
    T=$NT
    n=$((n + 1))
    acc_of "$T" >>"$D/chain"
done
expect_eq "a chain below the root token stops at 64 ancestors" "$n" 64
expect_eq "... its deepest token works" "$(code GET auth/token/lookup-self "" "$T")" 200
expect_contains "... its child is refused with the reason" \
    "$(api POST auth/token/create '{"policies":["maker"]}' "$T" | err0)" "token tree too deep"
DORPH=$(mk '{"policies":["maker"]}' "$T" auth/token/create-orphan)
expect_eq "... an orphan it may make" "$(code GET auth/token/lookup-self "" "$DORPH")" 200
expect_eq "revoke the top of the chain: 204" "$(code POST auth/token/revoke "{\"token\":\"$TOP\"}")" 204
expect_eq "... every one of the 63 below is gone, records and all" \
    "$(while read -r a; do gone "$a"; done <"$D/chain" | sort | uniq -c | tr -s ' ')" " 63 gone"
expect_eq "... the orphan lives" "$(code GET auth/token/lookup-self "" "$DORPH")" 200

# -- a wide tree made before a restart is revoked whole after it
WIDE=$(mk '{"policies":["maker"],"ttl":"1h"}')
: >"$D/wide"
i=0
while [ $i -lt 120 ]; do
    api POST auth/token/create '{"policies":["maker"]}' "$WIDE" | jq -r .auth.accessor >>"$D/wide"
    i=$((i + 1))
done
W1=$(mk '{"policies":["maker"]}' "$WIDE")
W2=$(mk '{"policies":["maker"]}' "$W1")
acc_of "$W1" >>"$D/wide"
acc_of "$W2" >>"$D/wide"
expect_eq "120 children and a grandchild's line made" "$(sort -u "$D/wide" | grep -c .)" 122
stop_prod
restart_prod "$D" || exit 1
expect_eq "after a restart the tree still works" \
    "$(code GET auth/token/lookup-self "" "$W2") $(gone "$(head -1 "$D/wide")")" "200 live"
expect_eq "revoke the parent: 204" "$(code POST auth/token/revoke "{\"token\":\"$WIDE\"}")" 204
expect_eq "... all 122 descendants gone" \
    "$(while read -r a; do gone "$a"; done <"$D/wide" | sort | uniq -c | tr -s ' ')" " 122 gone"
expect_eq "... none listed" \
    "$(api LIST auth/token/accessors | jq -r '.data.keys[]' | grep -c -F -f "$D/wide")" 0
stop_prod
restart_prod "$D" || exit 1
expect_eq "... and still gone after another restart" \
    "$(code GET auth/token/lookup-self "" "$W2") $(gone "$(tail -1 "$D/wide")")" "403 gone"

# -- an expired parent: its children cannot be used, looked up or renewed, nor listed; revoking
#    the expired parent removes them
mk2() { # BODY TOKEN: "<token> <accessor> <lease_duration>" of a new child (recorded)
    _r=$(api POST auth/token/create "$1" "$2")
    printf '%s\n' "$_r" | jq -r '.auth.client_token // empty, .auth.accessor // empty' >>"$TOKS"
    printf '%s\n' "$_r" | jq -r '[.auth.client_token, .auth.accessor, .auth.lease_duration] |
        map(tostring) | join(" ")'
}
EP=$(mk '{"policies":["maker"],"ttl":"4s"}')
set -- $(mk2 '{"policies":["maker"],"ttl":"1h"}' "$EP")
EC=$1 ECA=$2 ECL=$3
set -- $(mk2 '{"policies":["maker"],"ttl":"1h"}' "$EC")
EG=$1 EGA=$2
expect_eq "the child of a 4s parent is given 1h on paper" "$ECL" 3600
i=0
while [ "$(code GET auth/token/lookup-self "" "$EP")" = 200 ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
expect_eq "the parent expired" "$(code GET auth/token/lookup-self "" "$EP")" 403
expect_eq "its child and grandchild: 403" \
    "$(code GET auth/token/lookup-self "" "$EC") $(code GET secret/data/k1 "" "$EG")" "403 403"
expect_eq "... lookup 403 bad token, renew 400 token not found" \
    "$(api POST auth/token/lookup "{\"token\":\"$EC\"}" | err0)|$(api POST auth/token/renew "{\"token\":\"$EC\"}" | err0)" \
    "bad token|token not found"
expect_eq "... not listed" \
    "$(api LIST auth/token/accessors | jq -c --arg a "$ECA" --arg b "$EGA" '.data.keys | [index($a), index($b)]')" \
    '[null,null]'
expect_eq "... cannot create children" "$(code POST auth/token/create '{}' "$EC")" 403
expect_eq "revoking the expired parent: 204" "$(code POST auth/token/revoke "{\"token\":\"$EP\"}")" 204
expect_eq "... its descendants' records go with it" "$(gone "$ECA") $(gone "$EGA")" "gone gone"

# -- TTLs: strings and numbers alike, bad values refused, huge ones capped, never an overflow
expect_eq "ttl \"90m\" and 5400 agree" \
    "$(api POST auth/token/create '{"policies":["other"],"ttl":"90m"}' | jq .auth.lease_duration) $(api POST auth/token/create '{"policies":["other"],"ttl":5400}' | jq .auth.lease_duration)" \
    "5400 5400"
for b in '{"ttl":"-5s"}' '{"ttl":-5}' '{"explicit_max_ttl":"-1h"}' '{"period":-3}' '{"num_uses":-1}' \
    '{"ttl":"1x"}' '{"ttl":1.5}' '{"ttl":true}'; do
    expect_eq "create $b: 400" "$(code POST auth/token/create "$b")" 400
done
HUGE=$(api POST auth/token/create '{"policies":["other"],"ttl":9223372036854775807,"explicit_max_ttl":"9223372036854775807"}')
expect_eq "ttl 2^63-1: capped at 768h with Vault's warning" \
    "$(echo "$HUGE" | jq -c '[.auth.lease_duration, (.warnings[0] | test("exceeded the effective max_ttl of \"768h\""))]')" \
    '[2764800,true]'
HT=$(echo "$HUGE" | jq -r .auth.client_token)
echo "$HT" >>"$TOKS"
expect_eq "... its expire_time is 32 days ahead, not in the past or at the end of time" \
    "$(api GET auth/token/lookup-self "" "$HT" | jq '(.data.expire_time | sub("\\..*|Z$"; "") | strptime("%Y-%m-%dT%H:%M:%S") | mktime) - now | (. > 2764000 and . < 2764900)')" \
    true
expect_eq "root: explicit_max_ttl 2^63-1 on a root-policy token is clamped, not wrapped" \
    "$(api POST auth/token/create '{"explicit_max_ttl":9223372036854775807}' | jq '.auth.lease_duration > 0')" true

# -- renewals never pass the explicit max; a periodic token gets its period, never past it
EM=$(mk '{"policies":["other"],"ttl":"1h","explicit_max_ttl":"2h"}')
RN=$(api POST auth/token/renew-self '{"increment":"10h"}' "$EM")
expect_eq "renew by 10h with explicit_max_ttl 2h: about 2h, with Vault's warning" \
    "$(echo "$RN" | jq -c '[(.auth.lease_duration > 7190 and .auth.lease_duration <= 7200), (.warnings[0] | test("TTL of \"10h\" exceeded the effective max_ttl"))]')" \
    '[true,true]'
expect_eq "renew by 2^63-1: still about 2h" \
    "$(api POST auth/token/renew-self '{"increment":9223372036854775807}' "$EM" | jq '.auth.lease_duration > 7190 and .auth.lease_duration <= 7200')" \
    true
PER=$(mk '{"policies":["other"],"period":"1h","explicit_max_ttl":"6s"}')
expect_eq "period 1h with explicit_max_ttl 6s: 6s" \
    "$(api GET auth/token/lookup-self "" "$PER" | jq -c '[.data.period, .data.explicit_max_ttl, (.data.ttl <= 6)]')" \
    '[3600,6,true]'
expect_eq "... a renewal gives at most what is left" \
    "$(api POST auth/token/renew-self '{"increment":"1h"}' "$PER" | jq '.auth.lease_duration <= 6')" true
i=0
while [ "$(code GET auth/token/lookup-self "" "$PER")" = 200 ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
expect_eq "... and it expires at the explicit max" "$(code POST auth/token/renew-self '{}' "$PER")" 403
PER2=$(mk '{"policies":["other"],"period":"1h"}')
expect_eq "a periodic token's renewal ignores the increment: one period" \
    "$(api POST auth/token/renew-self '{"increment":"10h"}' "$PER2" | jq .auth.lease_duration)" 3600
NR=$(mk '{"policies":["other"],"renewable":false,"ttl":"1h"}')
expect_eq "renewable false: 400 lease is not renewable" \
    "$(api POST auth/token/renew-self '{}' "$NR" | err0)" "lease is not renewable"
expect_eq "... by root either" \
    "$(api POST auth/token/renew "{\"token\":\"$NR\"}" | err0)" "lease is not renewable"

# -- another user's token: a token with only the default policy gets the same 403 for a token
#    (or accessor) that exists and one that does not, so it learns nothing
A=$(mk '{"policies":["other"],"ttl":"1h"}')
B=$(mk '{"policies":["other"],"ttl":"1h"}')
BACC=$(acc_of "$B")
for p in lookup renew revoke; do
    expect_eq "$p of another's token and of no token: identical 403s" \
        "$(api POST "auth/token/$p" "{\"token\":\"$B\"}" "$A")|$(api POST "auth/token/$p" '{"token":"hvs.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}' "$A")" \
        '{"errors":["permission denied"]}|{"errors":["permission denied"]}'
    expect_eq "$p-accessor of another's accessor and of none: identical 403s" \
        "$(api POST "auth/token/$p-accessor" "{\"accessor\":\"$BACC\"}" "$A")|$(api POST "auth/token/$p-accessor" '{"accessor":"AAAAAAAAAAAAAAAAAAAAAAAA"}' "$A")" \
        '{"errors":["permission denied"]}|{"errors":["permission denied"]}'
done
expect_eq "renew-self with another's token in the body renews the caller" \
    "$(api POST auth/token/renew-self "{\"token\":\"$B\"}" "$A" | jq -r .auth.accessor)" "$(acc_of "$A")"
expect_eq "revoke-self with another's token in the body revokes the caller only" \
    "$(code POST auth/token/revoke-self "{\"token\":\"$B\"}" "$A") $(code GET auth/token/lookup-self "" "$A") $(code GET auth/token/lookup-self "" "$B")" \
    "204 403 200"
expect_eq "LIST accessors without sudo: 403" "$(code LIST auth/token/accessors "" "$B")" 403
for p in revoke renew; do
    expect_eq "$p with an empty token: Vault's 400" \
        "$(api POST "auth/token/$p" '{"token":""}' | err0)" "missing token ID"
    expect_eq "$p-accessor with an empty accessor: Vault's 400" \
        "$(api POST "auth/token/$p-accessor" '{"accessor":""}' | err0)" "missing accessor"
done
expect_eq "a revoke that named no token left the caller alone" \
    "$(code GET auth/token/lookup-self)" 200

# -- hvac, the stock Python client, sees the same rules
PY=${TR_HVAC_PYTHON:-/usr/bin/python3}
if "$PY" -c 'import hvac' 2>/dev/null; then
    NODEF2=$(mk '{"policies":["maker"],"no_default_policy":true,"ttl":"1h"}')
    OUT=$(VAULT_ADDR="$ADDR" TR_CA="$CA" PYTHONPATH="$(dirname "$0")/../hvac" "$PY" - "$NODEF2" "$ROOT" <<'PYEOF'
import json, sys
from hvac import exceptions as hx
from tap import client
parent, root = client(sys.argv[1]), client(sys.argv[2])
out = {"inherit": parent.auth.token.create(ttl="10m")["auth"]["policies"]}
try:
    parent.auth.token.create(policies=["maker", "default"], ttl="10m")
    out["asked"] = "created"
except hx.InvalidRequest as e:
    out["asked"] = e.errors
out["nodef"] = root.auth.token.create(policies=["other"], no_default_policy=True,
                                      ttl="10m")["auth"]["policies"]
print(json.dumps(out))
PYEOF
)
    expect_eq "hvac: a child of a parent without default, and no_default_policy" "$OUT" \
        '{"inherit": ["maker"], "asked": ["child policies must be subset of parent"], "nodef": ["other"]}'
else
    echo "# hvac not installed: its checks skipped"
fi

# -- the audit log holds none of the tokens or accessors handed out, only their HMACs
cat "$TOKS" "$D/chain" "$D/wide" | grep -E '^(hvs\.[0-9A-Za-z]{44}|[0-9A-Za-z]{24})$' |
    sort -u >"$D/secrets"
expect_eq "tokens and accessors collected" "$(grep -c . "$D/secrets" | awk '{print ($1 > 100)}')" 1
expect_eq "none of them in the audit log" "$(grep -c -F -f "$D/secrets" "$D/audit.log")" 0
check "the root token is not in the audit log" sh -c "! grep -qF '$ROOT' '$D/audit.log'"
expect_eq "token operations were audited" \
    "$(grep -c '"path":"auth/token/' "$D/audit.log" | awk '{print ($1 > 100)}')" 1

stop_prod
finish
