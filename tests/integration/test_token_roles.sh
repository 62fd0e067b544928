#!/bin/sh
# Token roles, LIST auth/token/accessors, revoke-orphan and renewal warnings (vault-api.md §4.4 to
# §4.6) against a real `tresord -dev` over TLS with curl, then the node-vault commands for roles
# (tokenRoles, addTokenRole, getTokenRole, removeTokenRole, tokenCreateRole, tokenAccessors).
. "$(dirname "$0")/lib.sh"

need jq curl

D=$(tmpdir)
start_dev "$D" || exit 1
ROOT=$(sed -n 's/.*Root Token: *//p' "$LOG" | head -1)
check "root token from the dev log" test -n "$ROOT"

V="$ADDR/v1"
api() { # METHOD PATH [BODY] [TOKEN]: body of the answer
    hcurl -X "$1" -H "X-Vault-Token: ${4:-$ROOT}" ${3:+-d "$3"} "$V/$2"
}
code() { # METHOD PATH [BODY] [TOKEN]: status of the answer
    status_of -X "$1" -H "X-Vault-Token: ${4:-$ROOT}" ${3:+-d "$3"} "$V/$2"
}
err0() { jq -r '.errors[0] // empty'; }

# -- before any role: LIST is an empty 404, an unknown role's create is Vault's 400
expect_eq "LIST roles with none: 404" "$(code LIST auth/token/roles)" 404
expect_eq "create/<unknown>: 400" "$(code POST auth/token/create/nope '{}')" 400
expect_eq "create/<unknown>: Vault's message" \
    "$(api POST auth/token/create/nope '{}' | err0)" "unknown role nope"

# -- policies the tokens will carry (names only matter for the role rules)
for p in web db admin team-a team-b; do
    code PUT "sys/policies/acl/$p" '{"policy":"path \"secret/*\" { capabilities = [\"read\"] }"}' \
        >/dev/null
done

# -- CRUD
expect_eq "role write: 204" "$(code POST auth/token/roles/app \
    '{"allowed_policies":"web, DB","orphan":false,"renewable":true}')" 204
R=$(api GET auth/token/roles/app)
expect_eq "role read: allowed_policies lower-cased and sorted" \
    "$(echo "$R" | jq -c .data.allowed_policies)" '["db","web"]'
expect_eq "role read: Vault's defaults" \
    "$(echo "$R" | jq -c '.data | [.name, .orphan, .renewable, .path_suffix, .token_type,
        .token_period, .period, .token_explicit_max_ttl, .explicit_max_ttl,
        .disallowed_policies, .allowed_policies_glob, .disallowed_policies_glob,
        .token_no_default_policy, has("token_num_uses"), has("token_bound_cidrs")]')" \
    '["app",false,true,"","default-service",0,0,0,0,[],[],[],false,false,false]'
expect_eq "role update keeps the fields not sent" \
    "$(code PUT auth/token/roles/app '{"path_suffix":"v1x"}')" 204
expect_eq "... allowed_policies kept, path_suffix set" \
    "$(api GET auth/token/roles/app | jq -c '[.data.allowed_policies, .data.path_suffix]')" \
    '[["db","web"],"v1x"]'
code POST auth/token/roles/orph '{"orphan":true}' >/dev/null
code POST auth/token/roles/life '{"period":"1h","explicit_max_ttl":7200,"token_num_uses":3,"renewable":false}' >/dev/null
code POST auth/token/roles/deny '{"disallowed_policies":"admin"}' >/dev/null
code POST auth/token/roles/glob '{"allowed_policies_glob":"team-*","disallowed_policies_glob":"*-b"}' \
    >/dev/null
expect_eq "LIST roles (verb)" "$(api LIST auth/token/roles | jq -c .data.keys)" \
    '["app","deny","glob","life","orph"]'
expect_eq "LIST roles (GET ?list=true)" \
    "$(hcurl -H "X-Vault-Token: $ROOT" "$V/auth/token/roles?list=true" | jq -c .data.keys)" \
    '["app","deny","glob","life","orph"]'
L=$(api GET auth/token/roles/life)
expect_eq "deprecated period / explicit_max_ttl fill the token_ fields" \
    "$(echo "$L" | jq -c '.data | [.period, .token_period, .explicit_max_ttl,
        .token_explicit_max_ttl, .token_num_uses, .renewable]')" '[3600,3600,7200,7200,3,false]'
W=$(api POST auth/token/roles/both '{"token_period":60,"period":120}')
expect_contains "both token_period and period: Vault's warning" "$(echo "$W" | jq -r '.warnings[0]')" \
    "Both 'token_period' and deprecated 'period' value supplied"
expect_eq "... token_period wins" \
    "$(api GET auth/token/roles/both | jq -c '[.data.token_period, .data.period]')" '[60,0]'
expect_eq "role delete: 204" "$(code DELETE auth/token/roles/both)" 204
expect_eq "deleted role reads 404" "$(code GET auth/token/roles/both)" 404
expect_eq "delete of an absent role: 204" "$(code DELETE auth/token/roles/both)" 204

# -- bad names: outside Vault's pattern \w(([\w-.]+)?\w)? Vault's token store has no such path
#    (404 "unsupported path"); a name within it but over Tresor's 128 characters is 400
expect_eq "role name with a bad character: 404" "$(code POST 'auth/token/roles/a$b' '{}')" 404
expect_eq "... Vault's message" "$(api POST 'auth/token/roles/a$b' '{}' | err0)" "unsupported path"
expect_eq "role name with a '/': 404" "$(code POST auth/token/roles/a/b '{}')" 404
expect_eq "role name starting with '-': 404 for a read too" "$(code GET auth/token/roles/-x)" 404
expect_eq "role name ending with '.': 404 for a delete too" "$(code DELETE auth/token/roles/x.)" 404
expect_eq "create/<bad name>: 404" "$(code POST 'auth/token/create/a$b' '{}')" 404
expect_eq "create/<role>/<path_suffix>: 404 (the suffix is no part of the path)" \
    "$(code POST auth/token/create/app/v1x '{}')" 404
expect_eq "create/ without a name: 404" "$(code POST auth/token/create/ '{}')" 404
expect_eq "role name too long: 400" \
    "$(code POST "auth/token/roles/$(head -c 200 /dev/zero | tr '\0' a)" '{}')" 400
expect_eq "create/<too long a name>: Vault's unknown role" \
    "$(code POST "auth/token/create/$(head -c 200 /dev/zero | tr '\0' a)" '{}')" 400
# -- bad values: 400 with the reason
bad() { # DESC BODY WANT-MESSAGE-PART
    b=$(api POST auth/token/roles/bad "$2")
    expect_contains "$1" "$(printf '%s' "$b" | err0)" "$3"
}
bad "token_type batch refused" '{"token_type":"batch"}' "batch tokens are not supported by Tresor"
bad "token_type default-batch refused" '{"token_type":"default-batch"}' "batch tokens are not supported"
bad "token_type junk" '{"token_type":"x"}' "invalid 'token_type' value \"x\""
bad "negative token_num_uses" '{"token_num_uses":-1}' "'token_num_uses' cannot be negative"
bad "negative token_period" '{"token_period":-5}' "'token_period' cannot be negative"
bad "bad CIDR" '{"token_bound_cidrs":"10.0.0.0/99"}' "invalid CIDR block"
bad "allowed_entity_aliases refused" '{"allowed_entity_aliases":"x"}' "allowed_entity_aliases is not supported"
bad "path_suffix with '/'" '{"path_suffix":"a/b/c"}' "given role path suffix contains invalid characters"
bad "path_suffix with '..'" '{"path_suffix":"a..b"}' "parent references"
bad "orphan not a bool" '{"orphan":"maybe"}' "Field validation failed"
expect_eq "a refused write stores nothing" "$(code GET auth/token/roles/bad)" 404
expect_eq "token_type service accepted" "$(code POST auth/token/roles/svc '{"token_type":"service"}')" 204

# -- create/<role>: allowed policies
T=$(api POST auth/token/create/app '{}')
expect_eq "create/app without policies: the role's allowed + default" \
    "$(echo "$T" | jq -c .auth.policies)" '["db","default","web"]'
TK=$(echo "$T" | jq -r .auth.client_token)
LK=$(api GET auth/token/lookup-self "" "$TK")
expect_eq "lookup: path with role and suffix, role name" \
    "$(echo "$LK" | jq -c '[.data.path, .data.role, .data.orphan]')" \
    '["auth/token/create/app/v1x","app",false]'
expect_eq "create/app with a subset: 200" \
    "$(api POST auth/token/create/app '{"policies":["web"]}' | jq -c .auth.policies)" '["default","web"]'
expect_eq "create/app outside the allowed policies: 400" \
    "$(code POST auth/token/create/app '{"policies":["admin"]}')" 400
expect_eq "... Vault's message" "$(api POST auth/token/create/app '{"policies":["admin"]}' | err0)" \
    "token policies ([\"admin\" \"default\"]) must be subset of the role's allowed policies ([\"db\" \"default\" \"web\"]) or glob policies ([])"

# a token holding only 'web' may not create a 'db' token directly, but may through the role (as
# Vault: allowed_policies replace the subset-of-parent rule); it needs update on create/app
code PUT sys/policies/acl/maker \
    '{"policy":"path \"auth/token/create/app\" { capabilities = [\"update\"] }\npath \"auth/token/create\" { capabilities = [\"update\"] }"}' >/dev/null
MK=$(api POST auth/token/create '{"policies":["maker","web"]}' | jq -r .auth.client_token)
expect_eq "direct create beyond the parent's policies: 400" \
    "$(code POST auth/token/create '{"policies":["db"]}' "$MK")" 400
expect_eq "through the role: 200" \
    "$(api POST auth/token/create/app '{"policies":["db"]}' "$MK" | jq -c .auth.policies)" '["db","default"]'
expect_eq "create/<role> without update on its path: 403" \
    "$(code POST auth/token/create/orph '{}' "$MK")" 403
expect_eq "role CRUD without a policy for it: 403" \
    "$(code POST auth/token/roles/evil '{"allowed_policies":"root"}' "$MK")" 403
code POST auth/token/roles/rooty '{"allowed_policies":"root"}' >/dev/null
code PUT sys/policies/acl/maker2 \
    '{"policy":"path \"auth/token/create/rooty\" { capabilities = [\"update\"] }"}' >/dev/null
MK2=$(api POST auth/token/create '{"policies":["maker2"]}' | jq -r .auth.client_token)
expect_eq "a role allowing root cannot make a root token for a non-root caller" \
    "$(code POST auth/token/create/rooty '{"policies":["root"]}' "$MK2")" 400

# -- disallowed policies and globs
expect_eq "create/deny with a disallowed policy: 400" \
    "$(api POST auth/token/create/deny '{"policies":["web","admin"]}' | err0)" \
    'token policy "admin" is disallowed by this role'
expect_eq "create/deny with other policies: 200" \
    "$(api POST auth/token/create/deny '{"policies":["web"]}' | jq -c .auth.policies)" '["default","web"]'
expect_eq "glob role: a matching policy" \
    "$(api POST auth/token/create/glob '{"policies":["team-a"]}' | jq -c .auth.policies)" \
    '["default","team-a"]'
expect_eq "glob role: a policy outside the glob: 400" \
    "$(code POST auth/token/create/glob '{"policies":["web"]}')" 400
expect_eq "glob role: disallowed by glob" \
    "$(api POST auth/token/create/glob '{"policies":["team-b"]}' | err0)" \
    'token policy "team-b" is disallowed by this role'

# -- orphan role: the child survives its parent's revocation
PT=$(api POST auth/token/create '{"policies":["web"]}' | jq -r .auth.client_token)
code PUT sys/policies/acl/orphmaker \
    '{"policy":"path \"auth/token/create/orph\" { capabilities = [\"update\"] }"}' >/dev/null
PT=$(api POST auth/token/create '{"policies":["orphmaker","web"]}' | jq -r .auth.client_token)
OT=$(api POST auth/token/create/orph '{}' "$PT" | jq -r .auth.client_token)
NT=$(api POST auth/token/create '{}' "$PT" | jq -r .auth.client_token)
expect_eq "orphan role: lookup shows orphan" \
    "$(api GET auth/token/lookup-self "" "$OT" | jq -c '[.data.orphan, .data.path]')" \
    '[true,"auth/token/create/orph"]'
code POST auth/token/revoke "{\"token\":\"$PT\"}" >/dev/null
expect_eq "orphan role token survives its parent's revocation" \
    "$(code GET auth/token/lookup-self "" "$OT")" 200
expect_eq "an ordinary child does not" "$(code GET auth/token/lookup-self "" "$NT")" 403

# -- period, explicit max TTL, num_uses, renewable applied
LT=$(api POST auth/token/create/life '{}')
expect_eq "life role: auth block" \
    "$(echo "$LT" | jq -c '[.auth.renewable, .auth.num_uses, .auth.lease_duration]')" '[false,3,3600]'
LTK=$(echo "$LT" | jq -r .auth.client_token)
expect_eq "life role: lookup shows period, explicit_max_ttl, num_uses (one spent)" \
    "$(api GET auth/token/lookup-self "" "$LTK" | jq -c '[.data.period, .data.explicit_max_ttl, .data.num_uses, .data.renewable]')" \
    '[3600,7200,2,false]'
LT2=$(api POST auth/token/create/life '{"num_uses":5,"explicit_max_ttl":"1h"}')
expect_eq "request and role: the lesser num_uses and explicit max TTL" \
    "$(echo "$LT2" | jq -c '[.auth.num_uses, (.warnings | length > 0)]')" '[3,true]'
expect_contains "... with Vault's warning" "$(echo "$LT2" | jq -r '.warnings | join("|")')" \
    "Explicit max TTL specified both during creation call and in role; using the lesser value of 3600 seconds"
code PUT sys/policies/acl/lifemaker \
    '{"policy":"path \"auth/token/create/life\" { capabilities = [\"update\"] }"}' >/dev/null
LM=$(api POST auth/token/create '{"policies":["lifemaker"]}' | jq -r .auth.client_token)
expect_eq "a periodic role needs no sudo from its caller" \
    "$(api POST auth/token/create/life '{}' "$LM" | jq -c '[.auth.lease_duration, .auth.num_uses]')" \
    '[3600,3]'

# -- a renewal follows the role as it is now (Vault's authRenew reads the role again): its
#    token_period, its token_explicit_max_ttl when stricter; a deleted role: Vault's 500
code POST auth/token/roles/per '{"token_period":"1h"}' >/dev/null
PR=$(api POST auth/token/create/per '{}' | jq -r .auth.client_token)
PRX=$(api POST auth/token/create/per '{"explicit_max_ttl":"20m"}' | jq -r .auth.client_token)
expect_contains "a period asked and the role's: the lesser, with Vault's warning" \
    "$(api POST auth/token/create/per '{"period":"30m"}' | jq -r '.warnings | join("|")')" \
    "Period specified both during creation call and in role; using the lesser value of 1800 seconds"
code POST auth/token/roles/per '{"token_period":"2h"}' >/dev/null
expect_eq "renew-self after the role's period grew: the new period" \
    "$(api POST auth/token/renew-self '{}' "$PR" | jq .auth.lease_duration)" 7200
expect_eq "lookup shows the period the token was made with (as Vault)" \
    "$(api GET auth/token/lookup-self "" "$PR" | jq .data.period)" 3600
code POST auth/token/roles/per '{"token_period":"10m"}' >/dev/null
expect_eq "renew (token in the body) after the role's period shrank: the new period" \
    "$(api POST auth/token/renew "{\"token\":\"$PR\"}" | jq .auth.lease_duration)" 600
code POST auth/token/roles/per '{"token_period":"1h","token_explicit_max_ttl":"30m"}' >/dev/null
expect_eq "the role's new explicit max TTL bounds the renewal" \
    "$(api POST auth/token/renew-self '{}' "$PR" | jq '.auth.lease_duration | . <= 1800 and . > 1700')" \
    true
expect_eq "the token's own explicit max TTL still bounds it when stricter than the role's" \
    "$(api POST auth/token/renew-self '{}' "$PRX" | jq '.auth.lease_duration | . <= 1200 and . > 1100')" \
    true
code DELETE auth/token/roles/per >/dev/null
expect_eq "renew after the role was deleted: 500" "$(code POST auth/token/renew-self '{}' "$PR")" 500
expect_eq "... Vault's message" "$(api POST auth/token/renew-self '{}' "$PR" | err0)" \
    'failed to renew entry: original token role "per" could not be found, not renewing'
expect_eq "... the token itself still works" "$(code GET auth/token/lookup-self "" "$PR")" 200

# -- bound CIDRs of a role apply to its tokens
code POST auth/token/roles/net '{"token_bound_cidrs":"10.9.9.0/24"}' >/dev/null
expect_eq "role read shows token_bound_cidrs" \
    "$(api GET auth/token/roles/net | jq -c .data.token_bound_cidrs)" '["10.9.9.0/24"]'
CT=$(api POST auth/token/create/net '{}' | jq -r .auth.client_token)
expect_eq "a token bound to another network is refused from 127.0.0.1" \
    "$(code GET auth/token/lookup-self "" "$CT")" 403

# -- the request's entity_alias cannot be honoured
expect_eq "entity_alias on create/<role>: 400" \
    "$(api POST auth/token/create/app '{"entity_alias":"bob"}' | err0)" "invalid 'entity_alias' value"

# -- LIST accessors: sudo only, live tokens only
NEW=$(api POST auth/token/create '{"policies":["web"]}')
NACC=$(echo "$NEW" | jq -r .auth.accessor)
NTOK=$(echo "$NEW" | jq -r .auth.client_token)
A=$(api LIST auth/token/accessors)
expect_eq "LIST accessors: 200 with keys" "$(echo "$A" | jq -r '.data.keys | length > 3')" true
expect_eq "LIST accessors has the new token's accessor" \
    "$(echo "$A" | jq --arg a "$NACC" '.data.keys | index($a) != null')" true
expect_eq "LIST accessors never shows a token" "$(echo "$A" | grep -c "$NTOK")" 0
expect_eq "GET ?list=true works too" \
    "$(hcurl -H "X-Vault-Token: $ROOT" "$V/auth/token/accessors?list=true" | jq --arg a "$NACC" '.data.keys | index($a) != null')" true
expect_eq "revoked parent's child accessor gone, orphan's kept" \
    "$(echo "$A" | jq -c --arg o "$(api GET auth/token/lookup-self "" "$OT" | jq -r .data.accessor)" '.data.keys | index($o) != null')" true
code POST auth/token/revoke "{\"token\":\"$NTOK\"}" >/dev/null
expect_eq "after revoke the accessor is gone" \
    "$(api LIST auth/token/accessors | jq --arg a "$NACC" '.data.keys | index($a) != null')" false
SHORT=$(api POST auth/token/create '{"ttl":"1s"}')
SACC=$(echo "$SHORT" | jq -r .auth.accessor)
sleep 2
expect_eq "an expired token's accessor is left out" \
    "$(api LIST auth/token/accessors | jq --arg a "$SACC" '.data.keys | index($a) != null')" false
# a token in the cache (used once) drops out when it expires, and so does its child
E1=$(api POST auth/token/create '{"ttl":"3s"}')
E1T=$(echo "$E1" | jq -r .auth.client_token)
E1A=$(echo "$E1" | jq -r .auth.accessor)
code GET auth/token/lookup-self "" "$E1T" >/dev/null
E2A=$(api POST auth/token/create '{"ttl":"1h"}' "$E1T" | jq -r .auth.accessor)
expect_eq "a used token and its child are listed while they live" \
    "$(api LIST auth/token/accessors | jq -c --arg a "$E1A" --arg b "$E2A" \
        '[(.data.keys | index($a) != null), (.data.keys | index($b) != null)]')" '[true,true]'
sleep 4
expect_eq "... and left out once the parent expired" \
    "$(api LIST auth/token/accessors | jq -c --arg a "$E1A" --arg b "$E2A" \
        '[(.data.keys | index($a) != null), (.data.keys | index($b) != null)]')" '[false,false]'
# more accessors than one page of the walk (256): every one, sorted, once
BEFORE=$(api LIST auth/token/accessors | jq '.data.keys | length')
seq 300 | xargs -P 6 -I{} curl -sS --max-time 10 --cacert "$CA" -o /dev/null -X POST \
    -H "X-Vault-Token: $ROOT" -d '{"policies":["web"]}' "$V/auth/token/create"
AL=$(api LIST auth/token/accessors)
expect_eq "300 more tokens: 300 more accessors" "$(echo "$AL" | jq '.data.keys | length')" \
    "$((BEFORE + 300))"
expect_eq "... sorted, each once" "$(echo "$AL" | jq '.data.keys | . == unique')" true
expect_eq "a token without sudo: 403" "$(code LIST auth/token/accessors "" "$MK")" 403
code PUT sys/policies/acl/lister \
    '{"policy":"path \"auth/token/accessors/\" { capabilities = [\"list\"] }"}' >/dev/null
LS=$(api POST auth/token/create '{"policies":["lister"]}' | jq -r .auth.client_token)
expect_eq "list capability without sudo: 403" "$(code LIST auth/token/accessors "" "$LS")" 403
code PUT sys/policies/acl/sudoer \
    '{"policy":"path \"auth/token/accessors/\" { capabilities = [\"list\", \"sudo\"] }"}' >/dev/null
SU=$(api POST auth/token/create '{"policies":["sudoer"]}' | jq -r .auth.client_token)
expect_eq "list + sudo: 200" "$(code LIST auth/token/accessors "" "$SU")" 200
expect_eq "GET accessors without list: 405" "$(code GET auth/token/accessors)" 405

# -- revoke-orphan (Vault's handleRevokeOrphan): update on the path, then sudo, which Vault checks
#    in the handler (400); the token goes alone and its children live on as orphans
code PUT sys/policies/acl/orphaner '{"policy":"path \"auth/token/revoke-orphan\" { capabilities = [\"update\"] }\npath \"auth/token/create\" { capabilities = [\"update\"] }"}' >/dev/null
code PUT sys/policies/acl/orphaner-sudo \
    '{"policy":"path \"auth/token/revoke-orphan\" { capabilities = [\"update\", \"sudo\"] }"}' >/dev/null
ON=$(api POST auth/token/create '{"policies":["orphaner"]}' | jq -r .auth.client_token)
OS=$(api POST auth/token/create '{"policies":["orphaner-sudo"]}' | jq -r .auth.client_token)
OP=$(api POST auth/token/create '{"policies":["orphaner","web"],"ttl":"1h"}')
OPT=$(echo "$OP" | jq -r .auth.client_token)
OC=$(api POST auth/token/create '{"policies":["orphaner","web"],"ttl":"30m"}' "$OPT")
OCT=$(echo "$OC" | jq -r .auth.client_token)
OGT=$(api POST auth/token/create '{"policies":["web"]}' "$OCT" | jq -r .auth.client_token)
WT=$(api POST auth/token/create '{"policies":["web"]}' | jq -r .auth.client_token)
expect_eq "revoke-orphan without update: 403" \
    "$(code POST auth/token/revoke-orphan "{\"token\":\"$OPT\"}" "$WT")" 403
expect_eq "revoke-orphan with update but no sudo: Vault's 400" \
    "$(api POST auth/token/revoke-orphan "{\"token\":\"$OPT\"}" "$ON" | err0)" \
    "root or sudo privileges required to revoke and orphan"
expect_eq "... the token is untouched" "$(code GET auth/token/lookup-self "" "$OPT")" 200
expect_eq "revoke-orphan without a token: 400 missing token ID" \
    "$(api POST auth/token/revoke-orphan '{}' "$OS" | err0)" "missing token ID"
expect_eq "revoke-orphan of an unknown token: 400" \
    "$(api POST auth/token/revoke-orphan '{"token":"hvs.nope"}' "$OS" | err0)" \
    "token to revoke not found"
expect_eq "revoke-orphan with sudo: 204" \
    "$(code POST auth/token/revoke-orphan "{\"token\":\"$OPT\"}" "$OS")" 204
expect_eq "the token is revoked" "$(code GET auth/token/lookup-self "" "$OPT")" 403
expect_eq "its child lives on, an orphan now (lookup orphan true, its TTL kept)" \
    "$(api POST auth/token/lookup "{\"token\":\"$OCT\"}" | jq -c '.data | [.orphan, .ttl > 1700]')" \
    '[true,true]'
expect_eq "... and authenticates" "$(code GET auth/token/lookup-self "" "$OCT")" 200
expect_eq "the grandchild keeps its parent" \
    "$(api POST auth/token/lookup "{\"token\":\"$OGT\"}" | jq -c '.data.orphan')" false
expect_eq "LIST accessors: the child's kept, the revoked token's gone" \
    "$(api LIST auth/token/accessors | jq -c --arg a "$(echo "$OP" | jq -r .auth.accessor)" \
        --arg b "$(echo "$OC" | jq -r .auth.accessor)" \
        '[(.data.keys | index($a) != null), (.data.keys | index($b) != null)]')" '[false,true]'
expect_eq "revoke-orphan of the revoked token: 400" \
    "$(api POST auth/token/revoke-orphan "{\"token\":\"$OPT\"}" | err0)" "token to revoke not found"
code POST auth/token/revoke "{\"token\":\"$OCT\"}" >/dev/null
expect_eq "revoking the former child still takes its own child" \
    "$(code GET auth/token/lookup-self "" "$OGT")" 403
# more children than one orphaning write takes (512), and a crash after that first write
# (TR_FAULT): the token still works, the children written are orphans already, the others still
# its children, every one works; revoking it again finishes the work
BIG=$(api POST auth/token/create '{"policies":["orphaner"],"ttl":"1h"}' | jq -r .auth.client_token)
seq 600 | xargs -P 6 -I{} curl -sS --max-time 10 --cacert "$CA" -X POST \
    -H "X-Vault-Token: $BIG" -d '{"policies":["default"],"ttl":"1h"}' "$V/auth/token/create" |
    jq -c '{t: .auth.client_token, a: .auth.accessor}' >"$D/kids.json"
expect_eq "600 children made" "$(jq -s 'map(select(.t != null)) | length' "$D/kids.json")" 600
restart() { # [TR_FAULT value]: restart the dev server on the same store
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    if [ -n "${1:-}" ]; then export TR_FAULT="$1"; fi
    start_dev "$D" || exit 1
    unset TR_FAULT
    ROOT2=$(sed -n 's/.*Root Token: *//p' "$LOG" | head -1)
    [ -n "$ROOT2" ] && ROOT=$ROOT2
    V="$ADDR/v1"
}
orphans() { # how many of the children are orphans / still children / refused
    jq -r .t "$D/kids.json" | xargs -P 6 -I{} curl -sS --max-time 10 --cacert "$CA" \
        -H "X-Vault-Token: {}" "$V/auth/token/lookup-self" |
        jq -r 'if .data then (if .data.orphan then "orphan" else "child" end) else "refused" end' |
        sort | uniq -c | awk '{printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1}'
}
restart token_revoke_orphan_page
code POST auth/token/revoke-orphan "{\"token\":\"$BIG\"}" >/dev/null
wait "$PID"
expect_eq "the server died after the first orphaning write (TR_FAULT)" "$?" 77
restart
expect_eq "after the crash the token still works" "$(code GET auth/token/lookup-self "" "$BIG")" 200
expect_eq "... 512 children are orphans, 88 still its children, none refused" "$(orphans)" \
    "child=88 orphan=512"
expect_eq "revoke-orphan again: 204" "$(code POST auth/token/revoke-orphan "{\"token\":\"$BIG\"}")" 204
expect_eq "... the token is revoked" "$(code GET auth/token/lookup-self "" "$BIG")" 403
expect_eq "... all 600 children are orphans that work" "$(orphans)" "orphan=600"
expect_eq "... all 600 accessors still listed" \
    "$(api LIST auth/token/accessors | jq --slurpfile k "$D/kids.json" \
        '[$k[].a] - .data.keys | length')" 0

# -- renewals: Vault's warning when the max caps one; a token without a lease
RT=$(api POST auth/token/create '{"policies":["web"],"ttl":"30m","explicit_max_ttl":"1h"}' |
    jq -r .auth.client_token)
RR=$(api POST auth/token/renew-self '{"increment":"2h"}' "$RT")
expect_eq "renew-self past explicit_max_ttl: capped" \
    "$(echo "$RR" | jq '.auth.lease_duration | . <= 3600 and . > 3500')" true
expect_eq "... with Vault's warning (CalculateTTL)" \
    "$(echo "$RR" | jq -r '.warnings[0]' | sed 's/"\(59m5[0-9]s\|1h\)"/"<left>"/')" \
    'TTL of "2h" exceeded the effective max_ttl of "<left>"; TTL value is capped accordingly'
expect_contains "renew (token in the body): the same warning" \
    "$(api POST auth/token/renew "{\"token\":\"$RT\",\"increment\":\"3h\"}" | jq -r '.warnings[0]')" \
    'TTL of "3h" exceeded the effective max_ttl of "'
RA=$(api POST auth/token/lookup "{\"token\":\"$RT\"}" | jq -r .data.accessor)
expect_contains "renew-accessor: the same warning" \
    "$(api POST auth/token/renew-accessor "{\"accessor\":\"$RA\",\"increment\":\"90m\"}" |
        jq -r '.warnings[0]')" 'TTL of "1h30m" exceeded the effective max_ttl of "'
expect_eq "a renewal within the max: no warning" \
    "$(api POST auth/token/renew-self '{"increment":"10m"}' "$RT" | jq -c .warnings)" null
expect_eq "renew-self with the root token (no lease): Vault's 400" \
    "$(api POST auth/token/renew-self '{}' | err0)" "invalid lease ID"
FR=$(api POST auth/token/create '{}' | jq -r .auth.client_token)
expect_eq "a root child without TTL (a lease that never expires): not renewable" \
    "$(api POST auth/token/renew-self '{}' "$FR" | err0)" "lease is not renewable"

# -- ACL on roles uses create vs update (Vault's existence check)
code PUT sys/policies/acl/rolecreate \
    '{"policy":"path \"auth/token/roles/*\" { capabilities = [\"create\", \"read\"] }"}' >/dev/null
RC=$(api POST auth/token/create '{"policies":["rolecreate"]}' | jq -r .auth.client_token)
expect_eq "create capability: a new role may be written" \
    "$(code POST auth/token/roles/fresh '{}' "$RC")" 204
expect_eq "create capability: an existing role may not be updated" \
    "$(code POST auth/token/roles/fresh '{"orphan":true}' "$RC")" 403

# -- a seal while a listing runs: the listing answers (every key, or 503 once the seal waits for
#    it: it stops between pages) and the seal completes; the restart below unseals
api LIST auth/token/accessors >"$D/list.out" &
LPID=$!
expect_eq "seal during a listing: 204" "$(code PUT sys/seal)" 204
wait "$LPID"
expect_eq "... the listing answered: all its keys or sealed" \
    "$(jq -r 'if .data then (.data.keys | length > 300) else .errors[0] == "Vault is sealed" end' \
        "$D/list.out")" true

# -- roles survive a restart (stored like policies and tokens)
kill -TERM "$PID"
wait "$PID" 2>/dev/null
start_dev "$D" || exit 1
ROOT2=$(sed -n 's/.*Root Token: *//p' "$LOG" | head -1)
[ -n "$ROOT2" ] && ROOT=$ROOT2
V="$ADDR/v1"
expect_eq "roles after a restart" "$(api LIST auth/token/roles | jq -r '.data.keys | index("app") != null')" true

# -- node-vault's commands, when it is installed
NODE_DIR="$(cd "$(dirname "$0")/../node" && pwd)"
if [ -d "$NODE_DIR/node_modules/node-vault" ] && command -v node >/dev/null 2>&1; then
    OUT=$(VAULT_ADDR="$ADDR" NODE_EXTRA_CA_CERTS="$CA" NODE_DIR="$NODE_DIR" ROOT="$ROOT" node - <<'JSEOF'
'use strict';
const vaultLib = require(`${process.env.NODE_DIR}/node_modules/node-vault`);
const as = (token) => vaultLib({ apiVersion: 'v1', endpoint: process.env.VAULT_ADDR, token });
async function main() {
  const R = as(process.env.ROOT);
  const out = {};
  await R.addTokenRole({ role_name: 'nv', allowed_policies: 'web', orphan: true, period: 600 });
  out.get = (await R.getTokenRole({ role_name: 'nv' })).data;
  out.roles = (await R.tokenRoles()).data.keys;
  // tokenCreateRole is a "token source": the client switches to the new token afterwards
  const t = await as(process.env.ROOT).tokenCreateRole({ role_name: 'nv' });
  out.auth = [t.auth.policies, t.auth.orphan, t.auth.lease_duration];
  out.acc = (await R.tokenAccessors()).data.keys.includes(t.auth.accessor);
  await R.removeTokenRole({ role_name: 'nv' });
  try { await R.getTokenRole({ role_name: 'nv' }); out.gone = 'still there'; }
  catch (e) { out.gone = e.response ? e.response.statusCode : e.message; }
  console.log(JSON.stringify(out));
}
main().catch((e) => { console.log(JSON.stringify({ error: e.message })); });
JSEOF
)
    echo "# node-vault: $OUT"
    expect_eq "node-vault addTokenRole + getTokenRole" \
        "$(echo "$OUT" | jq -c '.get | [.allowed_policies, .orphan, .token_period]')" '[["web"],true,600]'
    expect_eq "node-vault tokenRoles (GET ?list=true)" \
        "$(echo "$OUT" | jq -r '.roles | index("nv") != null')" true
    expect_eq "node-vault tokenCreateRole" "$(echo "$OUT" | jq -c .auth)" '[["default","web"],true,600]'
    expect_eq "node-vault tokenAccessors" "$(echo "$OUT" | jq -r .acc)" true
    expect_eq "node-vault removeTokenRole" "$(echo "$OUT" | jq -r .gone)" 404
else
    echo "# node-vault not installed: its part skipped"
fi

finish
