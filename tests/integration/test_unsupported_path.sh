#!/bin/sh
# Unknown paths inside a mounted backend, end to end over TLS with curl on a -dev server, as
# Vault's framework backends answer them: a path no route of the token store, transit, AppRole,
# cert or Kubernetes matches is 404 {"errors":["unsupported path"]} for every method, as its help
# is (api_help_route_check: the help route tables are the gate); a route that exists but does
# not serve the method is 405 "unsupported operation"; an absent item of an existing route 404
# {"errors":[]}; a path no mount serves the router's 404 "no handler for route"; the ACL still
# comes first (403). KV keeps its own answers (KV v2's warning, KV v1's every-path-is-a-key) and
# sys/ its "unsupported path". tests/unit/test_api_routes.c walks every route of the tables.
. "$(dirname "$0")/lib.sh"
need jq curl

D=$(tmpdir)
start_dev "$D" || exit 1
ROOT=$(dev_root)
R="X-Vault-Token: $ROOT"

# ans METHOD PATH [CURL ARGS...]: '<body> <status>' with the root token
ans() {
    _m=$1
    _p=$2
    shift 2
    hcurl -H "$R" -X "$_m" -w ' %{http_code}' "$@" "$ADDR/v1/$_p"
}
UNSUP='{"errors":["unsupported path"]} 404'
UNOP='{"errors":["unsupported operation"]} 405'
NOTFOUND='{"errors":[]} 404'

for m in "transit -d {\"type\":\"transit\"} mounts" "kv1 -d {\"type\":\"kv-v1\"} mounts" \
    "approle -d {\"type\":\"approle\"} auth" "cert -d {\"type\":\"cert\"} auth" \
    "kubernetes -d {\"type\":\"kubernetes\"} auth" "k8s/cluster-a -d {\"type\":\"kubernetes\"} auth"; do
    set -- $m
    expect_eq "enable $1" "$(status_of -H "$R" -X POST "$2" "$3" "$ADDR/v1/sys/$4/$1")" 204
done

# -- paths no route matches: every method, and help says the same
for p in auth/token/bogus auth/token/ auth/token auth/token/create/a/b auth/token/lookup/x \
    auth/token/roles/a/b transit/bogus transit/ transit/keys/k1/bogus transit/encrypt \
    transit/encrypt/k1/x transit/backup/k1 transit/export/public-key \
    auth/approle/bogus auth/approle auth/approle/role/r1/bogus auth/cert/bogus \
    auth/cert/certs/c1/x auth/kubernetes/bogus auth/kubernetes/role/r1/x \
    auth/k8s/cluster-a/bogus auth/k8s/cluster-a/config/x sys/bogus; do
    for meth in GET PUT DELETE LIST; do
        expect_eq "$meth $p: unsupported path" "$(ans $meth $p)" "$UNSUP"
    done
done
for p in auth/token/bogus transit/keys/k1/bogus auth/approle/role/r1/bogus auth/cert/certs/c1/x \
    auth/k8s/cluster-a/config/x; do
    expect_eq "help of $p agrees" "$(ans GET "$p?help=1")" "$UNSUP"
done
# a login path with more after "login" is no route either (asked without a token)
expect_eq "PUT auth/approle/login/x (no token): unsupported path" \
    "$(hcurl -X PUT -w ' %{http_code}' -d '{}' "$ADDR/v1/auth/approle/login/x")" "$UNSUP"
expect_eq "GET auth/cert/login/x (no token): unsupported path" \
    "$(hcurl -w ' %{http_code}' "$ADDR/v1/auth/cert/login/x")" "$UNSUP"

# -- routes that exist keep their answers: the method they lack is 405, an absent item 404
expect_eq "GET auth/token/lookup: 405" "$(ans GET auth/token/lookup)" "$UNOP"
expect_eq "GET auth/token/lookup-accessor: 405" "$(ans GET auth/token/lookup-accessor)" "$UNOP"
expect_eq "GET auth/token/renew-self: 405" "$(ans GET auth/token/renew-self)" "$UNOP"
expect_eq "DELETE auth/token/revoke: 405" "$(ans DELETE auth/token/revoke)" "$UNOP"
expect_eq "PUT auth/token/accessors: 405" "$(ans PUT auth/token/accessors)" "$UNOP"
expect_eq "GET auth/token/accessors/: 405" "$(ans GET auth/token/accessors/)" "$UNOP"
expect_eq "GET transit/encrypt/k1: 405" "$(ans GET transit/encrypt/k1)" "$UNOP"
expect_eq "GET transit/keys/k1/rotate: 405" "$(ans GET transit/keys/k1/rotate)" "$UNOP"
expect_eq "GET transit/keys/absent: 404 {errors:[]}" "$(ans GET transit/keys/absent)" "$NOTFOUND"
expect_eq "PUT transit/datakey/other/k1: Vault's 400" "$(ans PUT transit/datakey/other/k1)" \
    "{\"errors\":[\"Invalid path, must be 'plaintext' or 'wrapped'\"]} 400"
expect_eq "GET auth/approle/role/absent: 404 {errors:[]}" "$(ans GET auth/approle/role/absent)" \
    "$NOTFOUND"
expect_eq "DELETE auth/approle/role/r1/role-id: 405" "$(ans DELETE auth/approle/role/r1/role-id)" \
    "$UNOP"
expect_eq "GET auth/approle/login (no token): 405" \
    "$(hcurl -w ' %{http_code}' "$ADDR/v1/auth/approle/login")" "$UNOP"
expect_eq "PUT auth/approle/role/r1: 204" "$(status_of -H "$R" -X PUT -d '{"token_ttl":60}' \
    "$ADDR/v1/auth/approle/role/r1")" 204
expect_eq "PUT auth/approle/role/r1/secret-id/ (Vault's secret-id/?)" \
    "$(hcurl -H "$R" -X PUT "$ADDR/v1/auth/approle/role/r1/secret-id/" | jq -r '.data.secret_id_accessor | length > 0')" true
expect_eq "GET auth/cert/certs/absent: 404 {errors:[]}" "$(ans GET auth/cert/certs/absent)" "$NOTFOUND"
expect_eq "DELETE auth/kubernetes/config: 405" "$(ans DELETE auth/kubernetes/config)" "$UNOP"

# -- no mount: the router's answer; KV as before; the ACL before the route
expect_eq "GET nomount/x: no handler" "$(ans GET nomount/x)" \
    '{"errors":["no handler for route \"nomount/x\". route entry not found."]} 404'
expect_eq "GET auth/nomount/x: no handler" "$(ans GET auth/nomount/x)" \
    '{"errors":["no handler for route \"auth/nomount/x\". route entry not found."]} 404'
expect_contains "GET secret/bogus: KV v2's warning" "$(ans GET secret/bogus)" \
    'Invalid path for a versioned K/V secrets engine'
expect_eq "GET kv1/bogus: an absent KV v1 key" "$(ans GET kv1/bogus)" "$NOTFOUND"
T=$(hcurl -H "$R" -X POST -d '{"policies":["default"]}' "$ADDR/v1/auth/token/create" |
    jq -r .auth.client_token)
expect_eq "a default-policy token on transit/bogus: 403 first" \
    "$(hcurl -H "X-Vault-Token: $T" -w ' %{http_code}' "$ADDR/v1/transit/bogus")" \
    '{"errors":["permission denied"]} 403'
expect_eq "... and on auth/token/bogus" \
    "$(hcurl -H "X-Vault-Token: $T" -w ' %{http_code}' "$ADDR/v1/auth/token/bogus")" \
    '{"errors":["permission denied"]} 403'

check "the server still serves" test "$(status_of "$ADDR/v1/sys/health")" = 200
finish
