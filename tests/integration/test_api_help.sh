#!/bin/sh
# Vault's path help (GET /v1/<path>?help=1; api/api_help.h) end to end over TLS with curl, on a
# config-file server with audit: the raw {"help", "see_also"} body for sys, KV v2, KV v1,
# transit, token and AppRole routes; help is always allowed (a token whose policy denies the
# path gets it) but needs a valid token (login paths excepted, as Vault); no handler runs (a
# PUT with ?help writes nothing, no secret value reaches the text); unknown paths 404; sealed
# 503; which values of "help" ask for it; the audit lines name the operation "help".
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl

D=$(tmpdir)
start_prod "$D" || exit 1
INIT=$(hcurl -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | j .root_token)
KEY=$(echo "$INIT" | j '.keys[0]')
expect_eq "unsealed" "$(hcurl -X PUT -d "{\"key\":\"$KEY\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
R="X-Vault-Token: $ROOT"
CANARY=HELP-CANARY-5e3c9

# help PATH [CURL ARGS...]: the body of GET PATH?help=1 with the root token
help() {
    _p=$1
    shift
    hcurl -H "$R" "$@" "$ADDR/v1/$_p?help=1"
}
# text PATH: just the help text
text() { help "$1" | j .help; }
# lacks DESC HAYSTACK NEEDLE: pass when NEEDLE is not in HAYSTACK
lacks() {
    case "$2" in
    *"$3"*) not_ok "$1 ('$3' found)" ;;
    *) ok "$1" ;;
    esac
}

# -- the routes to describe, and a secret the help must never show
expect_eq "enable kv-v2 at secret/" "$(status_of -H "$R" -X POST -d '{"type":"kv-v2"}' \
    "$ADDR/v1/sys/mounts/secret")" 204
expect_eq "enable kv v1 at kv1/" "$(status_of -H "$R" -X POST -d '{"type":"kv-v1"}' \
    "$ADDR/v1/sys/mounts/kv1")" 204
expect_eq "enable transit" "$(status_of -H "$R" -X POST -d '{"type":"transit"}' \
    "$ADDR/v1/sys/mounts/transit")" 204
expect_eq "enable approle" "$(status_of -H "$R" -X POST -d '{"type":"approle"}' \
    "$ADDR/v1/sys/auth/approle")" 204
expect_eq "KV v2 secret written" "$(hcurl -H "$R" -X PUT -d "{\"data\":{\"password\":\"$CANARY\"}}" \
    "$ADDR/v1/secret/data/app/db" | j .data.version)" 1
expect_eq "KV v1 secret written" "$(status_of -H "$R" -X PUT -d "{\"password\":\"$CANARY\"}" \
    "$ADDR/v1/kv1/app")" 204
expect_eq "transit key created" "$(status_of -H "$R" -X POST "$ADDR/v1/transit/keys/k1")" 200

# -- the body: raw (no envelope), help a string, see_also null
B=$(help sys/mounts)
expect_eq "sys/mounts: exactly help and see_also" "$(printf "%s" "$B" | jq -c 'keys')" '["help","see_also"]'
expect_eq "... help is a string" "$(printf "%s" "$B" | j '.help | type')" string
expect_eq "... see_also is null" "$(printf "%s" "$B" | j '.see_also')" null
expect_contains "... describes the mount table" "$(printf "%s" "$B" | j .help)" "List the mounted secrets engines"
expect_eq "... status 200, JSON" "$(hcurl -H "$R" -o /dev/null -w '%{http_code} %{content_type}' \
    "$ADDR/v1/sys/mounts?help=1")" "200 application/json"
expect_eq "the mounts themselves are not in it" "$(printf "%s" "$B" | grep -c 'kv_\|transit_')" 0

T=$(text secret/data/app/db)
expect_contains "KV v2 data: the request relative to the mount" "$T" "Request:        data/app/db"
expect_contains "... Vault's route" "$T" 'Matching Route: ^data/(?P<path>.*)$'
expect_contains "... the endpoint's synopsis" "$T" "Write, Patch, Read, and Delete data in the Key-Value Store."
expect_contains "... its parameters" "$T" "    options (map)"
expect_contains "... its operations" "$T" "PATCH (Content-Type: application/merge-patch+json)"
lacks "... and never the secret's value" "$(help secret/data/app/db)" "$CANARY"
expect_contains "KV v2 metadata" "$(text secret/metadata/app/db)" "custom_metadata (map)"
expect_contains "KV v2 destroy" "$(text secret/destroy/app/db)" "Permanently removes one or more versions"
expect_contains "KV v2 subkeys" "$(text secret/subkeys/app/db)" "with the values removed"
expect_contains "KV v2 config" "$(text secret/config)" "max_versions (int)"
expect_contains "KV v2, a KV v1 style path: Vault's invalid-path route" "$(text secret/app/db)" \
    "Invalid path for a versioned K/V secrets engine"
T=$(text secret/)
expect_contains "KV v2 mount root: the backend and its paths" "$T" "## PATHS"
expect_contains "... listing data/" "$T" '^data/(?P<path>.*)$'
expect_contains "... also without the slash" "$(text secret)" "The kv (version 2) backend"

T=$(text kv1/app)
expect_contains "KV v1" "$T" "Pass-through secret storage"
lacks "... without the value" "$(help kv1/app)" "$CANARY"

expect_contains "transit encrypt" "$(text transit/encrypt/k1)" "Encrypt a plaintext value"
expect_contains "transit keys" "$(text transit/keys/k1)" "Managed named encryption keys"
expect_contains "transit datakey" "$(text transit/datakey/plaintext/k1)" "bits (int)"
expect_contains "transit export" "$(text transit/export/public-key/k1)" "public keys only"
expect_contains "auth/token/create" "$(text auth/token/create)" "Create a token."
expect_contains "auth/token/lookup-self" "$(text auth/token/lookup-self)" "Look up the caller's token."
T=$(text auth/approle/login)
expect_contains "approle login" "$T" "Issue a token based on the credentials supplied."
expect_contains "... its fields" "$T" "secret_id (string)"
expect_contains "approle role secret-id (LIST)" \
    "$(hcurl -H "$R" -X LIST "$ADDR/v1/auth/approle/role/r1/secret-id?help=1" | j .help)" \
    "Generate a SecretID against this role."
expect_contains "sys/policies/acl/<name>" "$(text sys/policies/acl/x)" "Read, write or delete an ACL policy."
expect_contains "sys root" "$(text sys)" "The system backend is built in"

# -- which "help" values ask for help: any non-empty one, as Vault (http/help.go)
expect_contains "help=true" "$(hcurl -H "$R" "$ADDR/v1/sys/mounts?help=true" | j .help)" "mounts"
expect_contains "help=0 too (Vault tests for emptiness only)" \
    "$(hcurl -H "$R" "$ADDR/v1/sys/mounts?help=0" | j '.help // empty')" "mounts"
expect_eq "help= (empty): the normal answer" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/data/app/db?help=" | j .data.data.password)" "$CANARY"
expect_eq "no help parameter: the normal answer" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/data/app/db" | j .data.data.password)" "$CANARY"
expect_eq "sys/mounts without help: the envelope" \
    "$(hcurl -H "$R" "$ADDR/v1/sys/mounts" | j '.data."secret/".type')" kv

# -- no handler runs: a write with ?help=1 is help, and nothing is written
expect_contains "PUT with ?help=1 answers help" \
    "$(hcurl -H "$R" -X PUT -d '{"data":{"password":"overwritten"}}' \
        "$ADDR/v1/secret/data/app/db?help=1" | j .help)" "Request:        data/app/db"
expect_eq "... and wrote no version" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/app/db" | j .data.current_version)" 1
expect_eq "DELETE with ?help=1 deleted nothing" \
    "$(status_of -H "$R" -X DELETE "$ADDR/v1/kv1/app?help=1") $(hcurl -H "$R" "$ADDR/v1/kv1/app" | j .data.password)" \
    "200 $CANARY"

# -- help is always allowed, but needs a valid token (as any request)
POL='path "secret/*" { capabilities = ["deny"] }
path "transit/*" { capabilities = ["deny"] }'
expect_eq "deny policy written" "$(status_of -H "$R" -X PUT \
    -d "$(jq -n --arg p "$POL" '{policy:$p}')" "$ADDR/v1/sys/policies/acl/nosecret")" 204
DT=$(hcurl -H "$R" -X POST -d '{"policies":["nosecret"],"ttl":"1h"}' "$ADDR/v1/auth/token/create" |
    j .auth.client_token)
expect_eq "the denied token cannot read the secret" \
    "$(status_of -H "X-Vault-Token: $DT" "$ADDR/v1/secret/data/app/db")" 403
B=$(hcurl -H "X-Vault-Token: $DT" "$ADDR/v1/secret/data/app/db?help=1")
expect_contains "... but gets its help" "$(printf "%s" "$B" | j .help)" "Write, Patch, Read, and Delete data"
lacks "... without the value" "$B" "$CANARY"
expect_eq "... and transit's, denied too" \
    "$(status_of -H "X-Vault-Token: $DT" "$ADDR/v1/transit/encrypt/k1?help=1")" 200
expect_eq "... and sys/mounts' (default policy: no grant)" \
    "$(status_of -H "X-Vault-Token: $DT" "$ADDR/v1/sys/mounts?help=1")" 200
expect_eq "no token: 403" "$(status_of "$ADDR/v1/secret/data/app/db?help=1")" 403
expect_contains "... permission denied" "$(hcurl "$ADDR/v1/secret/data/app/db?help=1")" "permission denied"
expect_eq "unknown token: 403" \
    "$(status_of -H 'X-Vault-Token: hvs.nope' "$ADDR/v1/sys/mounts?help=1")" 403
expect_eq "raw sys endpoints too: sys/health?help=1 without a token is 403" \
    "$(status_of "$ADDR/v1/sys/health?help=1")" 403
expect_contains "... and help with one" "$(text sys/health)" "The health of the node."
expect_eq "sys/health without help is still raw and open" "$(hcurl "$ADDR/v1/sys/health" | j .sealed)" false
expect_contains "a login path needs no token, as Vault" \
    "$(hcurl "$ADDR/v1/auth/approle/login?help=1" | j .help)" "role_id (string)"
ONE=$(hcurl -H "$R" -X POST -d '{"policies":["default"],"num_uses":1}' "$ADDR/v1/auth/token/create" |
    j .auth.client_token)
expect_eq "a limited-use token gets help" \
    "$(status_of -H "X-Vault-Token: $ONE" "$ADDR/v1/sys/mounts?help=1")" 200
expect_eq "... which spent its use, as Vault" \
    "$(status_of -H "X-Vault-Token: $ONE" "$ADDR/v1/auth/token/lookup-self")" 403

# -- paths nothing serves
expect_eq "unknown mount: 404" "$(status_of -H "$R" "$ADDR/v1/nope/x?help=1")" 404
expect_eq "... with the answer of a request without help" \
    "$(hcurl -H "$R" "$ADDR/v1/nope/x?help=1")" "$(hcurl -H "$R" "$ADDR/v1/nope/x")"
expect_eq "... also for a token that could not reach it" \
    "$(status_of -H "X-Vault-Token: $DT" "$ADDR/v1/nope/x?help=1")" 404
expect_eq "unknown auth mount: 404" "$(status_of -H "$R" "$ADDR/v1/auth/nope/login?help=1")" 404
expect_eq "unknown path in transit: 404 unsupported path" \
    "$(hcurl -H "$R" -w ' %{http_code}' "$ADDR/v1/transit/nope?help=1")" '{"errors":["unsupported path"]} 404'
expect_eq "unknown sys path: 404" "$(status_of -H "$R" "$ADDR/v1/sys/wrapping/wrap?help=1")" 404
expect_eq "unknown token path: 404" "$(status_of -H "$R" "$ADDR/v1/auth/token/nope?help=1")" 404

# -- audit: a request and a response line, operation "help", nothing secret
hl() { grep -F '"path":"secret/data/app/db"' "$D/audit.log" | jq -r "select(.request.operation == \"help\" and .type == \"$1\") | .type" | wc -l; }
HQ=$(hl request)
check "help requests audited with operation help ($HQ)" test "$HQ" -ge 6
expect_eq "... each with its response line" "$(hl response)" "$HQ"
check "no canary in the audit log" sh -c "! grep -q '$CANARY' '$D/audit.log'"
check "audit chain verifies" "$TRESORD" -audit-verify "$D/audit.log"

# -- sealed: 503 as any request, then back
expect_eq "seal" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
expect_eq "sealed: help is 503" "$(status_of -H "$R" "$ADDR/v1/secret/data/app/db?help=1")" 503
expect_contains "... Vault is sealed" "$(hcurl -H "$R" "$ADDR/v1/sys/mounts?help=1")" "Vault is sealed"
expect_eq "... also for a raw sys endpoint" "$(status_of "$ADDR/v1/sys/seal-status?help=1")" 503
expect_eq "unseal again" "$(hcurl -X PUT -d "{\"key\":\"$KEY\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
expect_contains "help after the unseal" "$(text auth/token/create)" "Create a token."
finish
