#!/bin/sh
# Names the handlers fold (policy names: trimmed and lower-cased; AppRole role names:
# lower-cased) cannot pass an ACL rule written for the folded name: the ACL decides on the path
# as sent and on the path the handler acts on (api.c api_acl_folded_path). Vault checks only the
# former, so a deny on sys/policies/acl/admin beside an allow on sys/policies/acl/* is passed
# there with ADMIN. sys/capabilities-self and sys/capabilities answer as the requests are
# decided. Over TLS with curl on a -dev server.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl

D=$(tmpdir)
start_dev "$D" || exit 1
ROOT=$(dev_root)
R="X-Vault-Token: $ROOT"
pol() { jq -n --arg p "$1" '{policy:$p}'; }

POL='path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/policies/acl/admin" { capabilities = ["deny"] }
path "sys/policy/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/policy/admin" { capabilities = ["deny"] }
path "auth/approle/role/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "auth/approle/role/admin" { capabilities = ["deny"] }
path "auth/approle/role/admin/*" { capabilities = ["deny"] }'
ADMIN='path "*" { capabilities = ["sudo", "read", "create", "update", "delete", "list"] }'
expect_eq "the admin policy (root)" \
    "$(status_of -H "$R" -X PUT -d "$(pol "$ADMIN")" "$ADDR/v1/sys/policies/acl/admin")" 204
expect_eq "the operators' policy (root)" \
    "$(status_of -H "$R" -X PUT -d "$(pol "$POL")" "$ADDR/v1/sys/policies/acl/ops")" 204
OPS=$(hcurl -H "$R" -X POST -d '{"policies":["ops"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
O="X-Vault-Token: $OPS"

# -- policies: the deny on the stored name holds whatever the spelling
expect_eq "ops: PUT sys/policies/acl/admin: 403" \
    "$(status_of -H "$O" -X PUT -d "$(pol 'path "x" { capabilities = ["read"] }')" "$ADDR/v1/sys/policies/acl/admin")" 403
for n in ADMIN Admin '%20admin' 'admin%20' '%20ADMIN%20'; do
    expect_eq "ops: PUT sys/policies/acl/$n (stored as admin): 403" \
        "$(status_of -H "$O" -X PUT -d "$(pol 'path "x" { capabilities = ["read"] }')" "$ADDR/v1/sys/policies/acl/$n")" 403
done
expect_eq "ops: DELETE sys/policies/acl/ADMIN: 403" \
    "$(status_of -H "$O" -X DELETE "$ADDR/v1/sys/policies/acl/ADMIN")" 403
expect_eq "ops: GET sys/policies/acl/Admin: 403" \
    "$(status_of -H "$O" "$ADDR/v1/sys/policies/acl/Admin")" 403
expect_eq "ops: legacy PUT sys/policy/ADMIN: 403" \
    "$(status_of -H "$O" -X PUT -d "$(pol 'path "x" { capabilities = ["read"] }')" "$ADDR/v1/sys/policy/ADMIN")" 403
expect_eq "ops: legacy DELETE sys/policy/Admin: 403" \
    "$(status_of -H "$O" -X DELETE "$ADDR/v1/sys/policy/Admin")" 403
expect_eq "the admin policy is unchanged" \
    "$(hcurl -H "$R" "$ADDR/v1/sys/policies/acl/admin" | j .data.policy)" "$ADMIN"
# what the policy allows still works in any spelling
expect_eq "ops: PUT sys/policies/acl/web: 204" \
    "$(status_of -H "$O" -X PUT -d "$(pol 'path "x" { capabilities = ["read"] }')" "$ADDR/v1/sys/policies/acl/web")" 204
expect_eq "ops: PUT sys/policies/acl/WEB2: 200 with Vault's warning" \
    "$(hcurl -H "$O" -X PUT -d "$(pol 'path "x" { capabilities = ["read"] }')" "$ADDR/v1/sys/policies/acl/WEB2" | j '.warnings[0]')" \
    "policy name was converted to web2"
expect_eq "ops: GET sys/policies/acl/Web: 200" "$(status_of -H "$O" "$ADDR/v1/sys/policies/acl/Web")" 200
expect_eq "ops: legacy GET sys/policy/WEB: 200" "$(status_of -H "$O" "$ADDR/v1/sys/policy/WEB")" 200

# -- AppRole: role names are folded, so is the ACL decision
expect_eq "enable approle (root)" \
    "$(status_of -H "$R" -X POST -d '{"type":"approle"}' "$ADDR/v1/sys/auth/approle")" 204
expect_eq "role admin (root)" "$(status_of -H "$R" -X POST -d '{"token_policies":"admin"}' \
    "$ADDR/v1/auth/approle/role/admin")" 204
expect_eq "ops: GET auth/approle/role/admin/role-id: 403" \
    "$(status_of -H "$O" "$ADDR/v1/auth/approle/role/admin/role-id")" 403
expect_eq "ops: GET auth/approle/role/ADMIN/role-id: 403" \
    "$(status_of -H "$O" "$ADDR/v1/auth/approle/role/ADMIN/role-id")" 403
expect_eq "ops: POST auth/approle/role/Admin/secret-id: 403" \
    "$(status_of -H "$O" -X POST "$ADDR/v1/auth/approle/role/Admin/secret-id")" 403
expect_eq "ops: POST auth/approle/role/ADMIN (rewrite the role): 403" \
    "$(status_of -H "$O" -X POST -d '{"token_policies":"ops"}' "$ADDR/v1/auth/approle/role/ADMIN")" 403
expect_eq "ops: DELETE auth/approle/role/aDmIn: 403" \
    "$(status_of -H "$O" -X DELETE "$ADDR/v1/auth/approle/role/aDmIn")" 403
expect_eq "the admin role is unchanged" \
    "$(hcurl -H "$R" "$ADDR/v1/auth/approle/role/admin" | j '.data.token_policies | join(",")')" admin
expect_eq "ops: no secret-id was made for admin" \
    "$(hcurl -H "$R" -X LIST "$ADDR/v1/auth/approle/role/admin/secret-id" | j '.data.keys // [] | length')" 0
expect_eq "ops: POST auth/approle/role/WEB: 204" \
    "$(status_of -H "$O" -X POST -d '{"token_policies":"default"}' "$ADDR/v1/auth/approle/role/WEB")" 204
expect_eq "ops: GET auth/approle/role/Web/role-id: 200" \
    "$(status_of -H "$O" "$ADDR/v1/auth/approle/role/Web/role-id")" 200
expect_eq "ops: GET auth/approle/role/web: 200" "$(status_of -H "$O" "$ADDR/v1/auth/approle/role/web")" 200

# -- sys/capabilities-self and sys/capabilities answer as the requests are decided
capself() { hcurl -H "$O" -X POST -d "{\"paths\":[\"$1\"]}" "$ADDR/v1/sys/capabilities-self" | j ".data[\"$1\"] | join(\",\")"; }
expect_eq "capabilities-self: sys/policies/acl/ADMIN is deny" "$(capself sys/policies/acl/ADMIN)" deny
expect_eq "capabilities-self: sys/policy/Admin is deny" "$(capself sys/policy/Admin)" deny
expect_eq "capabilities-self: auth/approle/role/ADMIN/secret-id is deny" \
    "$(capself auth/approle/role/ADMIN/secret-id)" deny
expect_eq "capabilities-self: /auth/approle/role/Admin (leading /) is deny" \
    "$(capself /auth/approle/role/Admin)" deny
expect_eq "capabilities-self: sys/policies/acl/WEB keeps its grants" \
    "$(capself sys/policies/acl/WEB)" "create,delete,list,read,update"
expect_eq "capabilities-self: auth/approle/role/Web/role-id keeps its grants" \
    "$(capself auth/approle/role/Web/role-id)" "create,delete,list,read,update"
expect_eq "sys/capabilities (root asks for ops' token): sys/policies/acl/ADMIN is deny" \
    "$(hcurl -H "$R" -X POST -d "{\"token\":\"$OPS\",\"paths\":[\"sys/policies/acl/ADMIN\"]}" \
        "$ADDR/v1/sys/capabilities" | j '.capabilities | join(",")')" deny

stop_server() { kill -TERM "$PID" && wait "$PID"; }
stop_server
expect_eq "SIGTERM exits 0" "$?" 0
finish
