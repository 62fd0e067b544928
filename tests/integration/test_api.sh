#!/bin/sh
# The Vault-compatible API end to end over TLS with curl: init -> unseal -> KV v2 -> policies
# and tokens -> allowed/denied -> seal -> 503 -> unseal; bad input; audit.
. "$(dirname "$0")/lib.sh"

D=$(tmpdir)
# TLS material from a throwaway dev run, then a production-style config (shamir seal, audit)
start_dev "$D" || exit 1
kill -TERM "$PID"
wait "$PID" 2>/dev/null
mkdir -p "$D/tls" && cp "$D/data/tls/"* "$D/tls/"
CA="$D/tls/ca.crt"
cat >"$D/tresor.yaml" <<YAML
listener:
  address: "127.0.0.1:0"
  tls_cert_file: $D/tls/server.crt
  tls_key_file: $D/tls/server.key
storage:
  path: $D/store
seal:
  type: shamir
counter:
  type: file
audit:
  path: $D/audit.log
YAML
LOG="$D/prod.log"
"$TRESORD" -config "$D/tresor.yaml" >"$LOG" 2>&1 &
PID=$!
T_PIDS="$T_PIDS $PID"
PORT=$(wait_port "$LOG") || { cat "$LOG"; exit 1; }
ADDR="https://127.0.0.1:$PORT"

j() { jq -r "$1"; }

# -- init and unseal (vault-api.md §2)
expect_eq "uninitialised health is 501" "$(status_of "$ADDR/v1/sys/health")" 501
expect_eq "sealed KV read is 503" "$(status_of "$ADDR/v1/secret/data/x")" 503
expect_contains "sealed body" "$(hcurl "$ADDR/v1/secret/data/x")" "Vault is sealed"
expect_eq "init rejects threshold > shares" \
    "$(status_of -X PUT -d '{"secret_shares":2,"secret_threshold":3}' "$ADDR/v1/sys/init")" 400
INIT=$(hcurl -X PUT -d '{"secret_shares":3,"secret_threshold":2}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | j .root_token)
K1=$(echo "$INIT" | j '.keys[0]')
K2=$(echo "$INIT" | j '.keys_base64[1]')
expect_eq "init returns 3 keys" "$(echo "$INIT" | j '.keys | length')" 3
expect_contains "root token looks like Vault's" "$ROOT" "hvs."
expect_contains "second init refused" "$(hcurl -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init")" "Vault is already initialized"
expect_eq "initialised but sealed after init" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" true
S=$(hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal")
expect_eq "unseal progress 1" "$(echo "$S" | j .progress)" 1
NONCE=$(echo "$S" | j .nonce)
check "unseal nonce set" test -n "$NONCE"
expect_eq "duplicate share ignored" "$(hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal" | j .progress)" 1
expect_eq "bad share encoding is 400" "$(status_of -X PUT -d '{"key":"zz!"}' "$ADDR/v1/sys/unseal")" 400
expect_eq "reset clears progress" "$(hcurl -X PUT -d '{"reset":true}' "$ADDR/v1/sys/unseal" | j .progress)" 0
hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal" >/dev/null
expect_eq "base64 share completes unseal" "$(hcurl -X PUT -d "{\"key\":\"$K2\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
expect_eq "health 200 when unsealed" "$(status_of "$ADDR/v1/sys/health")" 200
expect_contains "leader for the CLI" "$(hcurl "$ADDR/v1/sys/leader")" '"active_time":"0001-01-01T00:00:00Z"'

R="X-Vault-Token: $ROOT"
# -- mounts and the CLI preflight
expect_eq "no token is 403" "$(status_of "$ADDR/v1/sys/mounts")" 403
expect_eq "bad token is 403" "$(status_of -H 'X-Vault-Token: hvs.nope' "$ADDR/v1/sys/mounts")" 403
expect_eq "enable kv-v2 at secret/" \
    "$(status_of -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret")" 204
expect_eq "second enable conflicts (409, as Vault)" \
    "$(status_of -H "$R" -X POST -d '{"type":"kv"}' "$ADDR/v1/sys/mounts/secret")" 409
M=$(hcurl -H "Authorization: Bearer $ROOT" "$ADDR/v1/sys/mounts")
expect_eq "mounts list (Bearer token) shows secret/ at top level" "$(echo "$M" | j '."secret/".type')" kv
PF=$(hcurl -H "$R" "$ADDR/v1/sys/internal/ui/mounts/secret/app/db")
expect_eq "preflight path" "$(echo "$PF" | j .data.path)" "secret/"
expect_eq "preflight version is the string 2" "$(echo "$PF" | j '.data.options.version | type')" string

# -- KV v2 (vault-api.md §3)
W=$(hcurl -H "$R" -X PUT -d '{"data":{"password":"CANARY-s3cret-771"}}' "$ADDR/v1/secret/data/app/db")
expect_eq "write returns version 1" "$(echo "$W" | j .data.version)" 1
G=$(hcurl -H "$R" "$ADDR/v1/secret/data/app/db")
expect_eq "read returns the value" "$(echo "$G" | j .data.data.password)" CANARY-s3cret-771
expect_eq "read envelope mount_type" "$(echo "$G" | j .mount_type)" kv
# response wrapping is not implemented: asking for it is refused, never answered unwrapped (§8)
WR=$(hcurl -H "$R" -H 'X-Vault-Wrap-TTL: 60' "$ADDR/v1/secret/data/app/db")
expect_eq "X-Vault-Wrap-TTL is refused" "$(echo "$WR" | j '.errors[0]')" "response wrapping is not supported"
expect_eq "a refused wrap request carries no secret" "$(echo "$WR" | grep -c CANARY)" 0
expect_eq "X-Vault-Wrap-TTL refused with 400" \
    "$(status_of -H "$R" -H 'X-Vault-Wrap-TTL: 5m' "$ADDR/v1/secret/data/app/db")" 400
expect_eq "malformed X-Vault-Wrap-TTL" \
    "$(hcurl -H "$R" -H 'X-Vault-Wrap-TTL: soon' "$ADDR/v1/secret/data/app/db" | j '.errors[0]')" \
    "error parsing X-Vault-Wrap-TTL header: invalid duration"
expect_eq "negative X-Vault-Wrap-TTL" \
    "$(hcurl -H "$R" -H 'X-Vault-Wrap-TTL: -5s' "$ADDR/v1/secret/data/app/db" | j '.errors[0]')" \
    "requested wrap ttl cannot be negative"
expect_eq "X-Vault-Wrap-TTL 0 asks for no wrapping" \
    "$(hcurl -H "$R" -H 'X-Vault-Wrap-TTL: 0' "$ADDR/v1/secret/data/app/db" | j .data.data.password)" CANARY-s3cret-771
expect_eq "cas mismatch is 400" \
    "$(status_of -H "$R" -X POST -d '{"data":{"a":1},"options":{"cas":0}}' "$ADDR/v1/secret/data/app/db")" 400
expect_eq "cas as a string is accepted" \
    "$(hcurl -H "$R" -X POST -d '{"data":{"password":"v2"},"options":{"cas":"1"}}' "$ADDR/v1/secret/data/app/db" | j .data.version)" 2
expect_eq "no data provided" "$(hcurl -H "$R" -X POST -d '{"password":"x"}' "$ADDR/v1/secret/data/app/db" | j '.errors[0]')" "no data provided"
expect_eq "PATCH needs merge-patch" \
    "$(status_of -H "$R" -X PATCH -d '{"data":{"u":"bob"}}' "$ADDR/v1/secret/data/app/db")" 415
P=$(hcurl -H "$R" -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"data":{"user":"bob"}}' "$ADDR/v1/secret/data/app/db")
expect_eq "PATCH makes version 3" "$(echo "$P" | j .data.version)" 3
expect_eq "PATCH merged" "$(hcurl -H "$R" "$ADDR/v1/secret/data/app/db" | j '.data.data.user + .data.data.password')" bobv2
expect_eq "read old version" "$(hcurl -H "$R" "$ADDR/v1/secret/data/app/db?version=1" | j .data.data.password)" CANARY-s3cret-771
hcurl -H "$R" -X PUT -d '{"data":{"k":"v"}}' "$ADDR/v1/secret/data/app/api" >/dev/null
hcurl -H "$R" -X PUT -d '{"data":{"k":"v"}}' "$ADDR/v1/secret/data/top" >/dev/null
expect_eq "LIST verb on metadata" "$(curl -sS --cacert "$CA" -H "$R" -X LIST "$ADDR/v1/secret/metadata/app" | j '.data.keys | join(",")')" "api,db"
expect_eq "GET ?list=true on metadata" "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/?list=true" | j '.data.keys | join(",")')" "app/,top"
expect_eq "GET ?list=1 works too" "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/?list=1" | j '.data.keys | length')" 2
expect_eq "empty LIST is 404" "$(status_of -H "$R" "$ADDR/v1/secret/metadata/none/?list=true")" 404
expect_eq "soft delete latest" "$(status_of -H "$R" -X DELETE "$ADDR/v1/secret/data/app/db")" 204
DEL=$(curl -sS --cacert "$CA" -H "$R" "$ADDR/v1/secret/data/app/db")
expect_eq "deleted version is 404 with metadata" "$(echo "$DEL" | j '.data.data')" null
check "deleted version metadata has deletion_time" test "$(echo "$DEL" | j '.data.metadata.deletion_time')" != ""
expect_eq "undelete" "$(status_of -H "$R" -X POST -d '{"versions":[3]}' "$ADDR/v1/secret/undelete/app/db")" 204
expect_eq "readable again" "$(hcurl -H "$R" "$ADDR/v1/secret/data/app/db" | j .data.data.user)" bob
expect_eq "destroy version 1 (versions as strings)" "$(status_of -H "$R" -X POST -d '{"versions":["1"]}' "$ADDR/v1/secret/destroy/app/db")" 204
expect_eq "destroyed is 404" "$(status_of -H "$R" "$ADDR/v1/secret/data/app/db?version=1")" 404
MD=$(hcurl -H "$R" "$ADDR/v1/secret/metadata/app/db")
expect_eq "metadata current_version" "$(echo "$MD" | j .data.current_version)" 3
expect_eq "metadata marks version 1 destroyed" "$(echo "$MD" | j '.data.versions."1".destroyed')" true
expect_eq "metadata write" "$(status_of -H "$R" -X POST -d '{"max_versions":2,"custom_metadata":{"owner":"team-a"}}' "$ADDR/v1/secret/metadata/app/db")" 204
hcurl -H "$R" -X PUT -d '{"data":{"k":"4"}}' "$ADDR/v1/secret/data/app/db" >/dev/null
MD=$(hcurl -H "$R" "$ADDR/v1/secret/metadata/app/db")
expect_eq "max_versions prunes" "$(echo "$MD" | j '.data.versions | keys | join(",")')" "3,4"
expect_eq "oldest_version moves up" "$(echo "$MD" | j .data.oldest_version)" 3
expect_eq "custom_metadata shown" "$(echo "$MD" | j .data.custom_metadata.owner)" team-a
BIG=$(head -c 513 /dev/zero | tr '\0' v)
CM=$(hcurl -H "$R" -X POST -d "{\"custom_metadata\":{\"k\":\"$BIG\"}}" "$ADDR/v1/secret/metadata/app/db")
expect_contains "custom_metadata over 512 bytes: Vault's validation error" "$CM" "custom_metadata validation failed"
CM=$(hcurl -H "$R" -X POST -d '{"custom_metadata":{"k":"a\u0007b"}}' "$ADDR/v1/secret/metadata/app/db")
expect_contains "custom_metadata with a control character refused" "$CM" "unprintable"
expect_eq "PATCH without merge-patch type is 415" \
    "$(status_of -H "$R" -X PATCH -d '{"data":{"k":"x"}}' "$ADDR/v1/secret/data/app/db")" 415
expect_eq "subkeys" "$(hcurl -H "$R" "$ADDR/v1/secret/subkeys/app/db" | jq -c .data.subkeys)" '{"k":null}'
expect_eq "config read" "$(hcurl -H "$R" "$ADDR/v1/secret/config" | j .data.max_versions)" 0
expect_eq "delete all versions and metadata" "$(status_of -H "$R" -X DELETE "$ADDR/v1/secret/metadata/app/api")" 204
expect_eq "gone" "$(status_of -H "$R" "$ADDR/v1/secret/data/app/api")" 404
# a path outside the v2 API: Vault's plugin answers 404 with data null and a warning naming the
# CLI command, for every method (tools that detect the KV version match the text)
V1W="Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv"
V1=$(curl -sS --cacert "$CA" -H "$R" "$ADDR/v1/secret/app/db")
expect_eq "a v1 path on a v2 mount: GET is 404" "$(status_of -H "$R" "$ADDR/v1/secret/app/db")" 404
expect_eq "... with data null and Vault's warning" "$(echo "$V1" | j '.data, .warnings[0]')" "null
$V1W get' for this operation."
expect_eq "... PUT: 404, 'vault kv put'" "$(curl -sS --cacert "$CA" -H "$R" -X PUT -d '{"a":"b"}' \
    -w ' %{http_code}' "$ADDR/v1/secret/app/db" | sed 's/.*vault kv \([a-z]*\).* \([0-9]*\)$/\1 \2/')" "put 404"
expect_eq "... DELETE: 404, 'vault kv delete'" "$(curl -sS --cacert "$CA" -H "$R" -X DELETE \
    -w ' %{http_code}' "$ADDR/v1/secret/app/db" | sed 's/.*vault kv \([a-z]*\).* \([0-9]*\)$/\1 \2/')" "delete 404"
expect_eq "... LIST: 404, 'vault kv list'" "$(curl -sS --cacert "$CA" -H "$R" -X LIST \
    -w ' %{http_code}' "$ADDR/v1/secret/app" | sed 's/.*vault kv \([a-z]*\).* \([0-9]*\)$/\1 \2/')" "list 404"
expect_eq "... LIST on data/ too (Vault lists metadata/)" "$(curl -sS --cacert "$CA" -H "$R" -X LIST \
    -w ' %{http_code}' "$ADDR/v1/secret/data/app" | sed 's/.*vault kv \([a-z]*\).* \([0-9]*\)$/\1 \2/')" "list 404"
expect_eq "... and the key's v2 record is untouched" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/app/db" | j '.data.versions | keys | join(",")')" "3,4"
expect_eq "the mount root's own warning" "$(hcurl -H "$R" "$ADDR/v1/secret/data" | j '.warnings[0]')" \
    "Non-listing operations on the root of a K/V v2 mount are not supported."
expect_eq "delete with no versions: Vault's capital N" \
    "$(hcurl -H "$R" -X POST -d '{"versions":[]}' "$ADDR/v1/secret/delete/app/db" | j '.errors[0]')" "No version number provided"
expect_eq "undelete too" \
    "$(hcurl -H "$R" -X POST -d '{}' "$ADDR/v1/secret/undelete/app/db" | j '.errors[0]')" "No version number provided"
expect_eq "destroy keeps the plugin's lower case" \
    "$(hcurl -H "$R" -X POST -d '{"versions":[]}' "$ADDR/v1/secret/destroy/app/db" | j '.errors[0]')" "no version number provided"

# -- policies and tokens (vault-api.md §4, §6)
POL='path "secret/data/app/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/app/" { capabilities = ["list"] }
path "secret/data/app/admin" { capabilities = ["deny"] }
path "auth/token/create" { capabilities = ["update"] }'
expect_eq "policy write" "$(jq -n --arg p "$POL" '{policy:$p}' | status_of -H "$R" -X PUT --data-binary @- "$ADDR/v1/sys/policies/acl/app-reader")" 204
expect_eq "bad policy is 400" "$(status_of -H "$R" -X PUT -d '{"policy":"path \"x\" { capabilities = [\"reed\"] }"}' "$ADDR/v1/sys/policies/acl/bad")" 400
expect_eq "root policy name refused" "$(status_of -H "$R" -X PUT -d '{"policy":"path \"x\" { capabilities = [\"read\"] }"}' "$ADDR/v1/sys/policies/acl/%20ROOT")" 400
expect_contains "policy read back" "$(hcurl -H "$R" "$ADDR/v1/sys/policies/acl/app-reader" | j .data.policy)" 'secret/data/app/*'
expect_contains "policies listed" "$(hcurl -H "$R" "$ADDR/v1/sys/policies/acl?list=true" | j '.data.keys | join(",")')" "app-reader"
TC=$(hcurl -H "$R" -X POST -d '{"policies":["app-reader"],"ttl":"1h","display_name":"ci"}' "$ADDR/v1/auth/token/create")
TOK=$(echo "$TC" | j .auth.client_token)
ACC=$(echo "$TC" | j .auth.accessor)
# Vault's alphabet: base62 only (an accessor starting with '-' was once taken for a CLI flag)
check "token is hvs. + 44 base62 characters" sh -c 'printf %s "$1" | grep -Eqx "hvs\.[0-9A-Za-z]{44}"' _ "$TOK"
check "accessor is 24 base62 characters" sh -c 'printf %s "$1" | grep -Eqx "[0-9A-Za-z]{24}"' _ "$ACC"
expect_eq "child token policies" "$(echo "$TC" | j '.auth.policies | join(",")')" "app-reader,default"
U="X-Vault-Token: $TOK"
LS=$(hcurl -H "$U" "$ADDR/v1/auth/token/lookup-self")
expect_eq "lookup-self ttl is a number" "$(echo "$LS" | j '.data.ttl | type')" number
check "lookup-self expire_time set" test "$(echo "$LS" | j .data.expire_time)" != null
expect_eq "allowed read" "$(status_of -H "$U" "$ADDR/v1/secret/data/app/db")" 200
expect_eq "allowed write" "$(status_of -H "$U" -X PUT -d '{"data":{"x":"y"}}' "$ADDR/v1/secret/data/app/new")" 200
expect_eq "denied other path" "$(status_of -H "$U" "$ADDR/v1/secret/data/top")" 403
expect_eq "deny wins" "$(status_of -H "$U" "$ADDR/v1/secret/data/app/admin")" 403
expect_eq "no delete capability" "$(status_of -H "$U" -X DELETE "$ADDR/v1/secret/data/app/db")" 403
expect_eq "LIST on parent allowed" "$(status_of -H "$U" "$ADDR/v1/secret/metadata/app/?list=true")" 200
expect_eq "denied sys" "$(status_of -H "$U" "$ADDR/v1/sys/mounts")" 403
expect_eq "child cannot escalate" "$(status_of -H "$U" -X POST -d '{"policies":["root"]}' "$ADDR/v1/auth/token/create")" 400
expect_eq "child cannot add a policy it lacks" "$(status_of -H "$U" -X POST -d '{"policies":["admin"]}' "$ADDR/v1/auth/token/create")" 400
CAPS=$(hcurl -H "$U" -X POST -d '{"paths":["secret/data/app/x"]}' "$ADDR/v1/sys/capabilities-self")
expect_eq "capabilities-self" "$(echo "$CAPS" | j '.data."secret/data/app/x" | join(",")')" "create,read,update"
GC=$(hcurl -H "$U" -X POST -d '{"policies":["app-reader"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "grandchild works" "$(status_of -H "X-Vault-Token: $GC" "$ADDR/v1/secret/data/app/db")" 200
RS=$(hcurl -H "$U" -X POST -d '{"increment":"30m"}' "$ADDR/v1/auth/token/renew-self")
expect_eq "renew-self" "$(echo "$RS" | j .auth.lease_duration)" 1800
expect_eq "renew-self echoes the token, as Vault" "$(echo "$RS" | j .auth.client_token)" "$TOK"
expect_eq "lookup-accessor" "$(hcurl -H "$R" -X POST -d "{\"accessor\":\"$ACC\"}" "$ADDR/v1/auth/token/lookup-accessor" | j .data.display_name)" token-ci
expect_eq "revoke parent" "$(status_of -H "$R" -X POST -d "{\"token\":\"$TOK\"}" "$ADDR/v1/auth/token/revoke")" 204
expect_eq "revoked token is 403" "$(status_of -H "$U" "$ADDR/v1/secret/data/app/db")" 403
expect_eq "children revoked with the parent" "$(status_of -H "X-Vault-Token: $GC" "$ADDR/v1/secret/data/app/db")" 403
OTK=$(hcurl -H "$R" -X POST -d '{"policies":["app-reader"],"ttl":"1h"}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
KID=$(hcurl -H "X-Vault-Token: $OTK" -X POST -d '{"policies":["app-reader"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "revoke-orphan (root: sudo)" "$(status_of -H "$R" -X POST -d "{\"token\":\"$OTK\"}" "$ADDR/v1/auth/token/revoke-orphan")" 204
expect_eq "... the token is revoked, its child lives on" "$(status_of -H "X-Vault-Token: $OTK" "$ADDR/v1/secret/data/app/db") $(status_of -H "X-Vault-Token: $KID" "$ADDR/v1/secret/data/app/db")" "403 200"
SHORT=$(hcurl -H "$R" -X POST -d '{"ttl":"1s"}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
ONCE=$(hcurl -H "$R" -X POST -d '{"num_uses":1,"policies":["app-reader"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "num_uses token works once" "$(status_of -H "X-Vault-Token: $ONCE" "$ADDR/v1/secret/data/app/db")" 200
expect_eq "then it is spent" "$(status_of -H "X-Vault-Token: $ONCE" "$ADDR/v1/secret/data/app/db")" 403
# Vault looks the caller up "tainted": the request spending the last use still sees its token
ONCE=$(hcurl -H "$R" -X POST -d '{"num_uses":1}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
LS=$(hcurl -H "X-Vault-Token: $ONCE" "$ADDR/v1/auth/token/lookup-self")
expect_eq "lookup-self on the last use is 200, num_uses -1 (revocation pending)" \
    "$(echo "$LS" | j .data.num_uses) $(echo "$LS" | j '.data.id == "'"$ONCE"'"')" "-1 true"
expect_eq "after its last use lookup-self is 403" \
    "$(status_of -H "X-Vault-Token: $ONCE" "$ADDR/v1/auth/token/lookup-self")" 403
sleep 2
expect_eq "expired token is 403" "$(status_of -H "X-Vault-Token: $SHORT" "$ADDR/v1/auth/token/lookup-self")" 403

# -- bad input: the server answers precisely and keeps serving
expect_eq "duplicate JSON keys" "$(status_of -H "$R" -X PUT -d '{"data":{"a":1},"data":{"a":2}}' "$ADDR/v1/secret/data/dup")" 400
DEEP=$(printf '%0.s[' $(seq 1 100))$(printf '%0.s]' $(seq 1 100))
expect_eq "deep JSON" "$(status_of -H "$R" -X PUT -d "{\"data\":$DEEP}" "$ADDR/v1/secret/data/deep")" 413
expect_eq "not JSON" "$(status_of -H "$R" -X PUT -d 'data=1' "$ADDR/v1/secret/data/form")" 400
expect_eq "traversal" "$(status_of --path-as-is -H "$R" "$ADDR/v1/secret/data/../../sys/mounts")" 400
expect_eq "no handler" "$(status_of -H "$R" "$ADDR/v1/nomount/x")" 404
for m in GET PUT DELETE; do
    expect_eq "$m sys/mounts/ (no name): 400" "$(status_of -H "$R" -X $m -d '{"type":"kv"}' "$ADDR/v1/sys/mounts/")" 400
done
expect_eq "a path that is not UTF-8: 400 with the reason" \
    "$(hcurl -H "$R" -w ' %{http_code}' "$ADDR/v1/secret/data/%ff")" '{"errors":["invalid path: not UTF-8"]} 400'
expect_eq "an overlong UTF-8 form too" "$(status_of -H "$R" "$ADDR/v1/secret/data/%c0%af")" 400
expect_eq "UTF-8 paths are served" "$(status_of -H "$R" -X PUT -d '{"data":{"k":"v"}}' \
    "$ADDR/v1/secret/data/caf%C3%A9")" 200
expect_eq "... and read back by name" "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/?list=true" | j '.data.keys | index("café") != null')" true
expect_eq "a query value that is not UTF-8: 400, not ignored" \
    "$(hcurl -H "$R" -w ' %{http_code}' "$ADDR/v1/secret/data/top?version=%ff")" '{"errors":["invalid query string"]} 400'
expect_eq "metrics" "$(curl -sS --cacert "$CA" -H "$R" -o /dev/null -w '%{content_type}' "$ADDR/v1/sys/metrics")" "text/plain; version=0.0.4; charset=utf-8"
expect_eq "rotate" "$(status_of -H "$R" -X POST "$ADDR/v1/sys/rotate")" 204
expect_eq "key-status term 2" "$(hcurl -H "$R" "$ADDR/v1/sys/key-status" | j .term)" 2
expect_eq "old records readable after rotate" "$(hcurl -H "$R" "$ADDR/v1/secret/data/top" | j .data.data.k)" v

# -- seal, 503, unseal again
expect_eq "seal needs sudo" "$(status_of -H "X-Vault-Token: $(hcurl -H "$R" -X POST -d '{"policies":["app-reader"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)" -X PUT "$ADDR/v1/sys/seal")" 403
expect_eq "seal" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
expect_eq "sealed is 503" "$(status_of -H "$R" "$ADDR/v1/secret/data/top")" 503
expect_eq "seal-status reason" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed_reason)" sealed_by_operator
hcurl -X PUT -d "{\"key\":\"$K2\"}" "$ADDR/v1/sys/unseal" >/dev/null
hcurl -X PUT -d "{\"key\":\"$(echo "$INIT" | j '.keys[2]')\"}" "$ADDR/v1/sys/unseal" >/dev/null
expect_eq "data survives seal/unseal" "$(hcurl -H "$R" "$ADDR/v1/secret/data/top" | j .data.data.k)" v

# -- restart keeps everything (the store reopens and verifies)
kill -TERM "$PID"
wait "$PID"
expect_eq "SIGTERM exits 0" "$?" 0
"$TRESORD" -config "$D/tresor.yaml" >"$LOG" 2>&1 &
PID=$!
T_PIDS="$T_PIDS $PID"
PORT=$(wait_port "$LOG") || { cat "$LOG"; exit 1; }
ADDR="https://127.0.0.1:$PORT"
hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal" >/dev/null
hcurl -X PUT -d "{\"key\":\"$K2\"}" "$ADDR/v1/sys/unseal" >/dev/null
expect_eq "data survives restart" "$(hcurl -H "$R" "$ADDR/v1/secret/data/top" | j .data.data.k)" v

# -- audit: lines for requests, no canary in clear, chain verifies, tamper found
check "audit file is 0600" test "$(stat -c %a "$D/audit.log")" = 600
check "audit has entries" test "$(wc -l <"$D/audit.log")" -gt 50
check "no canary in the audit log" sh -c "! grep -q CANARY '$D/audit.log'"
check "no root token in the audit log" sh -c "! grep -qF '$ROOT' '$D/audit.log'"
check "no canary in the server log" sh -c "! grep -q CANARY '$D/prod.log'"
expect_eq "revoke-orphan audited: its request and response" \
    "$(grep -F '"path":"auth/token/revoke-orphan"' "$D/audit.log" | jq -r .type | sort | tr '\n' ' ')" "request response "
check "... without the token it named in clear" sh -c "! grep -qF '$OTK' '$D/audit.log'"
check "audit chain verifies" "$TRESORD" -audit-verify "$D/audit.log"
# The response line is written (and synced) before the answer leaves: as soon as curl has the
# answer, both of its lines are in the file.
RID=$(hcurl -H "$R" "$ADDR/v1/secret/data/top" | j .request_id)
expect_eq "a read's request and response lines are there when the answer arrives" \
    "$(grep -c "\"id\":\"$RID\"" "$D/audit.log")" 2
RID=$(hcurl -H "$R" -X PUT -d '{"data":{"k":"w"}}' "$ADDR/v1/secret/data/top" | j .request_id)
expect_eq "a write's too" "$(grep -c "\"id\":\"$RID\"" "$D/audit.log")" 2
# Concurrent clients (their answers are released together by group syncs): every request gets
# its answer and its two lines, and the chain stays one line per seq.
a0=$(wc -l <"$D/audit.log")
: >"$D/par.codes"
pids=""
i=0
while [ $i -lt 24 ]; do
    if [ $((i % 3)) = 0 ]; then
        status_of -H "$R" -X PUT -d "{\"data\":{\"n\":\"$i\"}}" "$ADDR/v1/secret/data/par/$i" >>"$D/par.codes" &
    else
        status_of -H "$R" "$ADDR/v1/secret/data/top" >>"$D/par.codes" &
    fi
    pids="$pids $!"
    i=$((i + 1))
done
# shellcheck disable=SC2086 # one PID per word
wait $pids
expect_eq "24 concurrent requests all answered 200" "$(grep -o 200 "$D/par.codes" | wc -l)" 24
expect_eq "each with a request and a response line" "$(($(wc -l <"$D/audit.log") - a0))" 48
check "audit chain verifies after concurrent requests" "$TRESORD" -audit-verify "$D/audit.log"
check "tresor audit verify agrees" "$TRESOR" audit verify "$D/audit.log"
# SIGTERM while requests are in flight (some waiting for their sync): the drain answers every
# accepted request (200; a late one is refused: 503 "server is shutting down", or finds the
# listener closed: 000), none is cut off between its two lines, and the server exits 0.
a0=$(wc -l <"$D/audit.log")
: >"$D/term.codes"
pids=""
i=0
while [ $i -lt 16 ]; do
    (c=$(status_of -H "$R" "$ADDR/v1/secret/data/top" 2>/dev/null); echo "$c" >>"$D/term.codes") &
    pids="$pids $!"
    i=$((i + 1))
done
n=0
while [ "$(wc -l <"$D/audit.log")" -le "$a0" ] && [ $n -lt 200 ]; do sleep 0.01; n=$((n + 1)); done
kill -TERM "$PID"
# shellcheck disable=SC2086 # one PID per word
wait $pids
wait "$PID"
expect_eq "SIGTERM with requests in flight exits 0" "$?" 0
expect_eq "every in-flight request answered 200 or refused" \
    "$(grep -cvE '^(200|503|000)$' "$D/term.codes")" 0
check "some were answered during the drain" grep -q '^200$' "$D/term.codes"
expect_eq "every request line has its response line" \
    "$(grep -c '"type":"request"' "$D/audit.log")" "$(grep -c '"type":"response"' "$D/audit.log")"
check "audit chain verifies after shutdown" "$TRESORD" -audit-verify "$D/audit.log"
cp "$D/audit.log" "$D/audit.bad"
sed -i '5s/"operation":"[a-z]*"/"operation":"nope"/' "$D/audit.bad"
out=$("$TRESORD" -audit-verify "$D/audit.bad" 2>&1)
expect_contains "tampered line reported" "$out" "audit.bad:5:"

finish
