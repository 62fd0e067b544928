#!/bin/sh
# The sys/ endpoints and the audit device against Vault's behaviour (vault-api.md §0-§2,
# security.md #20-#22): health codes, mounts (versions, reserved paths, nesting, tune), the
# CLI's mount preflight and listing (no mount enumeration), policies, capabilities-self,
# metrics, seal; audit lines for every answered request, MACs of nested secrets, verify.
# A real tresord (config file, shamir seal, audit on) over TLS, driven with curl.
. "$(dirname "$0")/lib.sh"

D=$(tmpdir)
start_prod "$D" || exit 1
j() { jq -r "$1"; }
A="$D/audit.log"

# -- uninitialised and sealed answers (vault-api.md §2.5)
expect_eq "uninitialised health is 501" "$(status_of "$ADDR/v1/sys/health")" 501
expect_eq "HEAD health uninitialised is 501 too" "$(status_of -I "$ADDR/v1/sys/health")" 501
expect_eq "uninitcode honoured" "$(status_of "$ADDR/v1/sys/health?uninitcode=299")" 299
for q in drsecondarycode performancestandbycode haunhealthycode removedcode standbycode \
    sealedcode uninitcode activecode; do
    expect_eq "junk $q is 400 (as Vault)" "$(status_of "$ADDR/v1/sys/health?$q=abc")" 400
done
expect_eq "unparsable standbyok is 400" "$(status_of "$ADDR/v1/sys/health?standbyok=maybe")" 400
expect_eq "perfstandbyok accepted" "$(status_of "$ADDR/v1/sys/health?perfstandbyok=true&uninitcode=204")" 204

# -- init validation, re-init refused (§2.1)
for b in '{"secret_shares":0,"secret_threshold":1}' '{"secret_shares":3,"secret_threshold":1}' \
    '{"secret_shares":2,"secret_threshold":3}' '{"secret_shares":256,"secret_threshold":2}' \
    '{"secret_shares":2,"secret_threshold":0}' '{"secret_shares":"x","secret_threshold":1}' \
    '{"secret_shares":1,"secret_threshold":1,"pgp_keys":["k"]}' \
    '{"secret_shares":1,"secret_threshold":1,"recovery_shares":1}'; do
    expect_eq "init $b refused" "$(status_of -X PUT -d "$b" "$ADDR/v1/sys/init")" 400
done
expect_eq "init still not done" "$(hcurl "$ADDR/v1/sys/init" | j .initialized)" false
INIT=$(hcurl -X PUT -d '{"secret_shares":3,"secret_threshold":2,"pgp_keys":null}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | j .root_token)
K1=$(echo "$INIT" | j '.keys[0]')
K2=$(echo "$INIT" | j '.keys[1]')
K3=$(echo "$INIT" | j '.keys_base64[2]')
expect_eq "re-init refused with Vault's text" \
    "$(hcurl -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init" | j '.errors[0]')" \
    "Vault is already initialized"
expect_eq "sealed health is 503 with its body" "$(hcurl "$ADDR/v1/sys/health" | j .sealed)" true
expect_eq "sealedcode honoured" "$(status_of "$ADDR/v1/sys/health?sealedcode=299")" 299
expect_eq "HEAD sealed health 503" "$(status_of -I "$ADDR/v1/sys/health")" 503

# -- unseal: progress, nonce, wrong share, reset (§2.2)
BAD=$(head -c 33 /dev/urandom | od -An -tx1 | tr -d ' \n')
S=$(hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal")
expect_eq "progress 1" "$(echo "$S" | j .progress)" 1
check "nonce of the attempt" test -n "$(echo "$S" | j .nonce)"
expect_eq "wrong share at threshold is 400" "$(status_of -X PUT -d "{\"key\":\"$BAD\"}" "$ADDR/v1/sys/unseal")" 400
S=$(hcurl "$ADDR/v1/sys/seal-status")
expect_eq "wrong combination resets progress" "$(echo "$S" | j .progress),$(echo "$S" | j .nonce),$(echo "$S" | j .sealed)" "0,,true"
expect_eq "no key, no reset" "$(hcurl -X PUT -d '{}' "$ADDR/v1/sys/unseal" | j '.errors[0]')" \
    "'key' must be specified in request body as JSON, or 'reset' set to true"
hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal" >/dev/null
expect_eq "base64 share completes" "$(hcurl -X PUT -d "{\"key\":\"$K3\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
expect_eq "reset once unsealed is 400" "$(hcurl -X PUT -d '{"reset":true}' "$ADDR/v1/sys/unseal" | j '.errors[0]')" "vault is unsealed"
expect_eq "a share once unsealed: 200 sealed:false" "$(hcurl -X PUT -d "{\"key\":\"$K2\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
expect_eq "health active" "$(status_of "$ADDR/v1/sys/health")" 200
expect_eq "activecode honoured, HEAD too" "$(status_of -I "$ADDR/v1/sys/health?activecode=299")" 299

R="X-Vault-Token: $ROOT"
rput() { status_of -H "$R" -X POST -d "$2" "$ADDR/v1/$1"; }
rget() { hcurl -H "$R" "$ADDR/v1/$1"; }

# -- mounts (§2.7)
expect_eq "enable kv v2 with version as a number (as Vault)" \
    "$(rput sys/mounts/num '{"type":"kv","options":{"version":2}}')" 204
expect_eq "number version really gives KV v2" "$(rget sys/mounts/num | j .data.options.version)" 2
expect_eq "...and the CLI preflight says so" "$(rget sys/internal/ui/mounts/num/x | j .data.options.version)" 2
expect_eq "a v2 path works there" \
    "$(rput num/data/k '{"data":{"a":"b"}}')" 200
expect_eq "version 3 refused, not mounted as v1" "$(rput sys/mounts/v3 '{"type":"kv","options":{"version":"3"}}')" 400
expect_eq "...nothing mounted" "$(status_of -H "$R" "$ADDR/v1/sys/mounts/v3")" 400
expect_eq "version on transit refused" "$(rput sys/mounts/tr '{"type":"transit","options":{"version":"2"}}')" 400
expect_eq "kv-v1 alias" "$(rput sys/mounts/old '{"type":"kv-v1"}')" 204
expect_eq "kv-v1 is version 1" "$(rget sys/mounts/old | j .data.options.version)" 1
expect_eq "kv-v2 alias, trailing slash" "$(rput sys/mounts/secret/ '{"type":"kv-v2"}')" 204
expect_eq "same path again 409" "$(rput sys/mounts/secret '{"type":"kv"}')" 409
expect_eq "nested under a mount 409" "$(rput sys/mounts/secret/sub '{"type":"kv"}')" 409
expect_eq "a/b/ then a/: 409 (overlap either way)" "$(rput sys/mounts/a/b '{"type":"kv"}'),$(rput sys/mounts/a '{"type":"kv"}')" 204,409
expect_eq "409 names the existing mount" \
    "$(hcurl -H "$R" -X POST -d '{"type":"kv"}' "$ADDR/v1/sys/mounts/a" | j '.errors[0]')" "path is already in use at a/b/"
expect_eq "ab/ is not inside a/b/" "$(rput sys/mounts/ab '{"type":"kv"}')" 204
for p in sys sys/x auth/x cubbyhole identity audit; do
    expect_eq "reserved $p/ refused" "$(rput "sys/mounts/$p" '{"type":"kv"}')" 400
done
expect_eq "no type: Vault's message" \
    "$(hcurl -H "$R" -X POST -d '{}' "$ADDR/v1/sys/mounts/nt" | j '.errors[0]')" "backend type must be specified as a string"
expect_eq "read a mount with and without slash" "$(rget sys/mounts/secret | j .data.type),$(rget sys/mounts/secret/ | j .type)" kv,kv
T=$(rget sys/mounts/secret/tune)
expect_eq "tune read (vault secrets tune / kv enable-versioning read it)" \
    "$(echo "$T" | j .data.default_lease_ttl),$(echo "$T" | j .max_lease_ttl),$(echo "$T" | j .data.options.version)" 2764800,2764800,2
expect_eq "tune DELETE 405" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/mounts/secret/tune")" 405
expect_eq "tune write is a tune (204), not a 409 mount conflict" \
    "$(rput sys/mounts/secret/tune '{"default_lease_ttl":"1h"}')" 204
expect_eq "... and reads back (test_mount_tune.sh has the rest)" \
    "$(rget sys/mounts/secret/tune | j .data.default_lease_ttl)" 3600
expect_eq "disable a missing mount 204" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/mounts/nothing")" 204
expect_eq "disable sys/ refused" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/mounts/sys")" 400
expect_eq "disable a/b/ (no slash)" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/mounts/a/b")" 204
expect_eq "then a/ is free" "$(rput sys/mounts/a '{"type":"kv"}')" 204

# -- a limited token: policies, preflight and listing (§2.8, §2.10)
POL='path "secret/data/app/*" { capabilities = ["read"] }'
expect_eq "policy write" "$(jq -n --arg p "$POL" '{policy:$p}' | status_of -H "$R" -X PUT --data-binary @- "$ADDR/v1/sys/policies/acl/app")" 204
B64=$(printf 'path "old/*" { capabilities = ["read"] }' | base64 -w0)
expect_eq "base64 policy accepted (Vault decodes it)" "$(status_of -H "$R" -X PUT -d "{\"policy\":\"$B64\"}" "$ADDR/v1/sys/policies/acl/b64")" 204
expect_eq "and stored decoded" "$(rget sys/policies/acl/b64 | j .data.policy)" 'path "old/*" { capabilities = ["read"] }'
expect_eq "empty policy: Vault's message" \
    "$(hcurl -H "$R" -X PUT -d '{"policy":""}' "$ADDR/v1/sys/policies/acl/e" | j '.errors[0]')" "'policy' parameter not supplied or empty"
expect_eq "legacy rules field: 200 with Vault's deprecation warning" \
    "$(hcurl -H "$R" -X PUT -d '{"rules":"path \"r/*\" { capabilities = [\"read\"] }"}' "$ADDR/v1/sys/policy/legacy" | j '.warnings | join("|")')" \
    "'rules' is deprecated, please use 'policy' instead"
expect_eq "legacy read has rules" "$(rget sys/policy/legacy | j .rules)" 'path "r/*" { capabilities = ["read"] }'
expect_eq "root policy reads as Vault's (empty, 200)" "$(rget sys/policies/acl/root | j .data.name)" root
expect_eq "root cannot be written" "$(status_of -H "$R" -X PUT -d '{"policy":"path \"x\" { capabilities = [\"read\"] }"}' "$ADDR/v1/sys/policies/acl/root")" 400
expect_eq "default cannot be deleted" "$(hcurl -H "$R" -X DELETE "$ADDR/v1/sys/policies/acl/default" | j '.errors[0]')" "cannot delete default policy"
expect_eq "root cannot be deleted (legacy path)" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/policy/root")" 400
expect_eq "list has default and root" "$(rget 'sys/policies/acl?list=true' | j '.data.keys | map(select(. == "default" or . == "root")) | join(",")')" default,root
TOK=$(hcurl -H "$R" -X POST -d '{"policies":["app"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
U="X-Vault-Token: $TOK"
expect_eq "preflight on a mount the token can reach" "$(hcurl -H "$U" "$ADDR/v1/sys/internal/ui/mounts/secret/app/x" | j .data.path)" secret/
NOACC=$(status_of -H "$U" "$ADDR/v1/sys/internal/ui/mounts/ab/x")
NONE=$(status_of -H "$U" "$ADDR/v1/sys/internal/ui/mounts/nowhere/x")
expect_eq "no access and no mount answer alike (403, no enumeration)" "$NOACC,$NONE" 403,403
expect_contains "Vault's preflight message" "$(hcurl -H "$U" "$ADDR/v1/sys/internal/ui/mounts/nowhere/x")" \
    'preflight capability check returned 403, please ensure client'
L=$(hcurl -H "$U" "$ADDR/v1/sys/internal/ui/mounts")
expect_eq "mount listing names no mount the token cannot reach" \
    "$(echo "$L" | grep -c -e '"ab/"' -e '"num/"' -e '"sys/"')" 0
expect_eq "mount listing shows only reachable mounts" "$(echo "$L" | j '.data.secret | keys | join(",")')" secret/
expect_eq "root sees them all" "$(rget sys/internal/ui/mounts | j '.data.secret | has("ab/") and has("num/")')" true
expect_eq "sys/internal/ui/mountsX is no preflight" "$(status_of -H "$U" "$ADDR/v1/sys/internal/ui/mountsfoo")" 403

# -- capabilities-self (§2.11)
C=$(hcurl -H "$U" -X PUT -d '{"paths":"secret/data/app/x, secret/data/other"}' "$ADDR/v1/sys/capabilities-self")
expect_eq "paths as a comma string" "$(echo "$C" | j '.data."secret/data/app/x" | join(",")'),$(echo "$C" | j '.data."secret/data/other" | join(",")')" read,deny
expect_eq "no capabilities field for several paths" "$(echo "$C" | j '.data | has("capabilities")')" false
C=$(hcurl -H "$U" -X PUT -d '{"path":"secret/data/app/x"}' "$ADDR/v1/sys/capabilities-self")
expect_eq "deprecated path: capabilities field, top level too" "$(echo "$C" | j '.capabilities | join(",")')" read
expect_eq "no paths: Vault's message" "$(hcurl -H "$U" -X PUT -d '{}' "$ADDR/v1/sys/capabilities-self" | j '.errors[0]')" "paths must be supplied"
expect_eq "root gets root" "$(hcurl -H "$R" -X PUT -d '{"paths":["x"]}' "$ADDR/v1/sys/capabilities-self" | j '.data.x[0]')" root

# -- key status, rotate, metrics (§2.13, §2.14)
expect_eq "key-status at the top level" "$(rget sys/key-status | j .term)" 1
expect_eq "rotate needs sudo" "$(status_of -H "$U" -X PUT "$ADDR/v1/sys/rotate")" 403
expect_eq "rotate" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/rotate")" 204
expect_eq "term 2" "$(rget sys/key-status | j .data.term)" 2
expect_eq "metrics need read on sys/metrics" "$(status_of -H "$U" "$ADDR/v1/sys/metrics")" 403
expect_eq "unknown metrics format 400" "$(status_of -H "$R" "$ADDR/v1/sys/metrics?format=bogus")" 400
MT=$(curl -sS --cacert "$CA" -H "$R" -D "$D/mh" "$ADDR/v1/sys/metrics?format=prometheus")
expect_contains "Prometheus content type" "$(cat "$D/mh")" "text/plain; version=0.0.4; charset=utf-8"
# exposition format: every sample "name value", a TYPE line before each family, no duplicate
bad=$(echo "$MT" | awk '
    /^# TYPE / { if (seen[$3]++) print "dup " $3; typed[$3] = 1; next }
    /^#/ { next }
    !/^[a-zA-Z_:][a-zA-Z0-9_:]* -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ { print "bad " $0; next }
    { if (!typed[$1]) print "untyped " $1 }')
expect_eq "metrics are valid Prometheus text" "$bad" ""
check "metrics hold no token" sh -c "! echo \"\$1\" | grep -q 'hvs\.'" _ "$MT"

# -- audit devices, audit-hash, step-down, leases (vault-api.md §2.12, §2.15)
POLS='path "sys/audit" { capabilities = ["read"] }
path "sys/audit/*" { capabilities = ["update", "delete"] }
path "sys/step-down" { capabilities = ["update"] }
path "sys/leases/lookup/*" { capabilities = ["list"] }
path "sys/leases/revoke-prefix/*" { capabilities = ["update"] }
path "sys/revoke-prefix/*" { capabilities = ["update"] }'
jq -n --arg p "$POLS" '{policy:$p}' | status_of -H "$R" -X PUT --data-binary @- "$ADDR/v1/sys/policies/acl/nosudo" >/dev/null
jq -n --arg p "$(echo "$POLS" | sed 's/\]/, "sudo"]/')" '{policy:$p}' |
    status_of -H "$R" -X PUT --data-binary @- "$ADDR/v1/sys/policies/acl/withsudo" >/dev/null
NS="X-Vault-Token: $(hcurl -H "$R" -X POST -d '{"policies":["nosudo"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)"
WS="X-Vault-Token: $(hcurl -H "$R" -X POST -d '{"policies":["withsudo"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)"
AU=$(hcurl -H "$WS" "$ADDR/v1/sys/audit")
expect_eq "sys/audit: the config's file device, Vault's fields" \
    "$(echo "$AU" | j '.data."file/" | [.type, .path, .description, .options.file_path, .local] | map(tostring) | join(",")')" \
    "file,file/,,$A,false"
expect_eq "... at the top level too" "$(echo "$AU" | j '."file/".options.file_path')" "$A"
expect_eq "sys/audit without sudo: 403" "$(status_of -H "$NS" "$ADDR/v1/sys/audit")" 403
expect_eq "sys/audit without read: 403" "$(status_of -H "$U" "$ADDR/v1/sys/audit")" 403
expect_eq "sys/audit PUT: 405" "$(status_of -H "$R" -X PUT -d '{}' "$ADDR/v1/sys/audit")" 405
EN=$(jq -n --arg f "$D/evil.log" '{type:"file",options:{file_path:$f,mode:"0777"}}' |
    hcurl -H "$WS" -X PUT --data-binary @- "$ADDR/v1/sys/audit/other")
expect_eq "enabling a device, even as root: 403 (security.md #22: never an API-set audit path)" \
    "$(status_of -H "$R" -X PUT -d '{"type":"file","options":{"file_path":"/tmp/x"}}' "$ADDR/v1/sys/audit/other")" 403
expect_contains "... saying it is set in the config file (documented deviation)" \
    "$(echo "$EN" | j '.errors[0]')" "configuration file (audit.path); enabling them through the API is not supported"
expect_eq "... and nothing was created" "$(hcurl -H "$R" "$ADDR/v1/sys/audit" | j '.data | keys | join(",")')" file/
check "... no file at the asked path" test ! -e "$D/evil.log"
expect_eq "enabling without sudo: 403" \
    "$(status_of -H "$NS" -X PUT -d '{"type":"file"}' "$ADDR/v1/sys/audit/other")" 403
expect_eq "disabling the config's device: 403" "$(status_of -H "$WS" -X DELETE "$ADDR/v1/sys/audit/file")" 403
expect_eq "disabling a path with no device: 204 (as Vault)" "$(status_of -H "$WS" -X DELETE "$ADDR/v1/sys/audit/none")" 204
expect_eq "disabling without sudo: 403" "$(status_of -H "$NS" -X DELETE "$ADDR/v1/sys/audit/none")" 403
expect_eq "sys/audit/<p> GET: 405" "$(status_of -H "$R" "$ADDR/v1/sys/audit/file")" 405
H=$(hcurl -H "$R" -X PUT -d "{\"input\":\"$ROOT\"}" "$ADDR/v1/sys/audit-hash/file")
HR=$(echo "$H" | j .data.hash)
expect_contains "audit-hash: the MAC the log writes" "$HR" "hmac-blake2b:"
expect_eq "... at the top level too" "$(echo "$H" | j .hash)" "$HR"
check "... it finds the root token's request lines" grep -qF "\"client_token\":\"$HR\"" "$A"
expect_eq "audit-hash of an unknown device: Vault's 400" \
    "$(hcurl -H "$R" -X PUT -d '{"input":"x"}' "$ADDR/v1/sys/audit-hash/nope" | j '.errors[0]')" 'unknown audit backend "nope/"'
expect_eq "audit-hash without input: Vault's 400" \
    "$(hcurl -H "$R" -X PUT -d '{}' "$ADDR/v1/sys/audit-hash/file" | j '.errors[0]')" 'the "input" parameter is empty'
expect_eq "audit-hash needs update on it (not in default)" \
    "$(status_of -H "$U" -X PUT -d '{"input":"x"}' "$ADDR/v1/sys/audit-hash/file")" 403
expect_eq "step-down on a single node: 204 no-op" "$(status_of -H "$WS" -X PUT "$ADDR/v1/sys/step-down")" 204
expect_eq "step-down without sudo: 403" "$(status_of -H "$NS" -X PUT "$ADDR/v1/sys/step-down")" 403
expect_eq "step-down GET: 405" "$(status_of -H "$R" "$ADDR/v1/sys/step-down")" 405
expect_eq "renew an unknown lease (default policy): 400 lease not found" \
    "$(hcurl -H "$U" -X PUT -d '{"lease_id":"secret/x/abc"}' "$ADDR/v1/sys/leases/renew" | j '.errors[0]')" "lease not found"
expect_eq "legacy sys/renew/<id>: the same" \
    "$(hcurl -H "$R" -X PUT "$ADDR/v1/sys/renew/secret/x/abc" | j '.errors[0]')" "lease not found"
expect_eq "renew without lease_id: 400" \
    "$(hcurl -H "$U" -X PUT -d '{}' "$ADDR/v1/sys/leases/renew" | j '.errors[0]')" "lease_id must be specified"
expect_eq "revoke an unknown lease: 204 (as Vault)" \
    "$(status_of -H "$R" -X PUT -d '{"lease_id":"secret/x/abc"}' "$ADDR/v1/sys/leases/revoke")" 204
expect_eq "revoke is not in the default policy: 403" \
    "$(status_of -H "$U" -X PUT -d '{"lease_id":"secret/x/abc"}' "$ADDR/v1/sys/leases/revoke")" 403
expect_eq "lookup an unknown lease (default policy): 400 invalid lease" \
    "$(hcurl -H "$U" -X PUT -d '{"lease_id":"secret/x/abc"}' "$ADDR/v1/sys/leases/lookup" | j '.errors[0]')" "invalid lease"
expect_eq "LIST leases: 404 (none), needs sudo" \
    "$(status_of -H "$WS" -X LIST "$ADDR/v1/sys/leases/lookup/secret"),$(status_of -H "$NS" -X LIST "$ADDR/v1/sys/leases/lookup/secret")" 404,403
expect_eq "revoke-prefix of a secret mount: 204, needs sudo (both forms)" \
    "$(status_of -H "$WS" -X PUT "$ADDR/v1/sys/leases/revoke-prefix/secret"),$(status_of -H "$WS" -X PUT "$ADDR/v1/sys/revoke-prefix/secret"),$(status_of -H "$NS" -X PUT "$ADDR/v1/sys/leases/revoke-prefix/secret")" 204,204,403
expect_contains "revoke-prefix under auth/: 400, no success that revoked no token" \
    "$(hcurl -H "$WS" -X PUT "$ADDR/v1/sys/leases/revoke-prefix/auth/token" | j '.errors[0]')" "tokens have no leases"

# -- policy names with capitals (Vault >= 1.10), secret mount accessors
PW=$(hcurl -H "$R" -X PUT -d '{"policy":"path \"m/*\" { capabilities = [\"read\"] }"}' "$ADDR/v1/sys/policies/acl/MixedCase")
expect_eq "capitals in a policy name: 200 with Vault's warning" "$(echo "$PW" | j '.warnings | join("|")')" \
    "policy name was converted to mixedcase"
expect_eq "... stored lower-cased" "$(rget sys/policies/acl/mixedcase | j .data.name)" mixedcase
expect_eq "... both warnings on the legacy path, Vault's order" \
    "$(hcurl -H "$R" -X PUT -d '{"rules":"path \"m/*\" { capabilities = [\"read\"] }"}' "$ADDR/v1/sys/policy/Legacy2" | j '.warnings | join("|")')" \
    "policy name was converted to legacy2|'rules' is deprecated, please use 'policy' instead"
expect_eq "a lower-case name: 204" "$(status_of -H "$R" -X PUT -d '{"policy":"path \"m/*\" { capabilities = [\"read\"] }"}' "$ADDR/v1/sys/policies/acl/lower")" 204
expect_eq "transit mount" "$(rput sys/mounts/tra '{"type":"transit"}')" 204
MS=$(rget sys/mounts)
ACC=$(echo "$MS" | j '.data."secret/".accessor')
check "kv accessor is Vault's kv_<8 hex> ($ACC)" sh -c 'echo "$1" | grep -qE "^kv_[0-9a-f]{8}$"' _ "$ACC"
expect_eq "... the first 8 hex of the mount's uuid" "$ACC" "kv_$(echo "$MS" | j '.data."secret/".uuid' | cut -c1-8)"
check "transit accessor is transit_<8 hex>" sh -c 'echo "$1" | grep -qE "^transit_[0-9a-f]{8}$"' _ \
    "$(echo "$MS" | j '.data."tra/".accessor')"
expect_eq "the same in sys/mounts/<p> and the UI listing" \
    "$(rget sys/mounts/secret | j .data.accessor),$(rget sys/internal/ui/mounts | j '.data.secret."secret/".accessor')" "$ACC,$ACC"
expect_eq "accessors differ between mounts" \
    "$(echo "$MS" | j '[.data[] | .accessor] | length == (unique | length)')" true

# -- audit: token create and login answers, nested MACs (security.md #21)
TC=$(hcurl -H "$R" -X POST -d '{"policies":["app"],"meta":{"owner":"CANARY-meta-1"}}' "$ADDR/v1/auth/token/create")
CT=$(echo "$TC" | j .auth.client_token)
CA2=$(echo "$TC" | j .auth.accessor)
hcurl -H "X-Vault-Token: $CT" "$ADDR/v1/auth/token/lookup-self" >/dev/null
expect_eq "enable approle" "$(rput sys/auth/approle '{"type":"approle"}')" 204
expect_eq "role" "$(rput auth/approle/role/r '{"token_policies":"app"}')" 204
RID=$(rget auth/approle/role/r/role-id | j .data.role_id)
SID=$(hcurl -H "$R" -X POST "$ADDR/v1/auth/approle/role/r/secret-id" | j .data.secret_id)
LT=$(hcurl -X POST -d "{\"role_id\":\"$RID\",\"secret_id\":\"$SID\"}" "$ADDR/v1/auth/approle/login" | j .auth.client_token)
check "approle login token" test -n "$LT"
expect_eq "failed login answered 400" "$(status_of -X POST -d "{\"role_id\":\"$RID\",\"secret_id\":\"CANARY-wrong-sid\"}" "$ADDR/v1/auth/approle/login")" 400
leak=""
for s in "$ROOT" "$TOK" "$CT" "$CA2" "$SID" "$LT" CANARY; do
    if grep -qF "$s" "$A"; then leak="$leak ${s%"${s#????????}"}"; fi
done
expect_eq "no token, accessor, secret id or meta canary in clear" "$leak" ""
L=$(grep '"path":"auth/token/create"' "$A" | grep '"type":"response"' | tail -1)
expect_contains "create answer's auth.client_token is a MAC" "$(echo "$L" | j .response.auth.client_token)" "hmac-blake2b:"
expect_contains "its auth.metadata too" "$(echo "$L" | j .response.auth.metadata.owner)" "hmac-blake2b:"
L=$(grep '"path":"auth/approle/login"' "$A" | grep '"type":"response"' | grep '"status":200' | tail -1)
expect_contains "login answer's client_token is a MAC" "$(echo "$L" | j .response.auth.client_token)" "hmac-blake2b:"
expect_contains "login request's secret_id is a MAC" "$(echo "$L" | j .request.data.secret_id)" "hmac-blake2b:"

# -- audit: a request line and a response line for every answered request, errors included
status_of -X PATCH -H "$R" -d '{}' "$ADDR/v1/sys/mounts" >/dev/null
status_of -H "X-Vault-Token: hvs.nope" "$ADDR/v1/secret/data/x" >/dev/null
status_of -H "$R" "$ADDR/v1/secret/data/none" >/dev/null
for st in 400 403 404 405; do
    n=$(grep '"type":"response"' "$A" | grep -c "\"status\":$st")
    check "audit has $st answers" test "$n" -gt 0
done
reqs=$(grep '"type":"request"' "$A" | jq -r .request.id | sort)
resps=$(grep '"type":"response"' "$A" | jq -r .request.id | sort)
expect_eq "every request line has its response line" "$(echo "$reqs" | md5sum)" "$(echo "$resps" | md5sum)"
expect_eq "no id twice" "$(echo "$reqs" | uniq -d)" ""

# -- seal: who may, sealed answers (§2.3, trap 12)
expect_eq "seal without sudo is 403" "$(status_of -H "$U" -X PUT "$ADDR/v1/sys/seal")" 403
expect_eq "seal GET is 405" "$(status_of -H "$R" "$ADDR/v1/sys/seal")" 405
n0=$(wc -l <"$A")
expect_eq "seal" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
expect_eq "seal audited before sealing (request + response)" "$(($(wc -l <"$A") - n0))" 2
expect_eq "sealed: Vault is sealed" "$(hcurl -H "$R" "$ADDR/v1/secret/data/x" | j '.errors[0]')" "Vault is sealed"
expect_eq "sealed login 503" "$(status_of -X POST -d '{}' "$ADDR/v1/auth/approle/login")" 503
n1=$(wc -l <"$A")
status_of -H "$R" "$ADDR/v1/sys/mounts" >/dev/null
expect_eq "sealed answers leave no line (as Vault: no audit broker while sealed)" "$(wc -l <"$A")" "$n1"
hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal" >/dev/null
expect_eq "unseal again" "$(hcurl -X PUT -d "{\"key\":\"$K2\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
expect_eq "tokens and mounts survive" "$(hcurl -H "$R" "$ADDR/v1/num/data/k" | j .data.data.a)" b
expect_eq "mount accessors survive the seal" "$(rget sys/mounts/secret | j .data.accessor)" "$ACC"

# -- verify: the chain, and the first bad line reported
stop_prod
check "audit chain verifies" "$TRESORD" -audit-verify "$A"
check "tresor audit verify agrees" "$TRESOR" audit verify "$A"
cp "$A" "$D/cut.log"
sed -i '7d' "$D/cut.log"
out=$("$TRESORD" -audit-verify "$D/cut.log" 2>&1)
expect_contains "a deleted middle line: the next one is reported" "$out" "cut.log:7:"
awk 'NR == 4 { h = $0; next } NR == 5 { print; print h; next } 1' "$A" >"$D/swap.log"
out=$("$TRESORD" -audit-verify "$D/swap.log" 2>&1)
expect_contains "swapped lines: the first moved one is reported" "$out" "swap.log:4:"
cp "$A" "$D/torn.log"
truncate -s -1 "$D/torn.log"
out=$("$TRESORD" -audit-verify "$D/torn.log" 2>&1)
expect_contains "torn last line reported" "$out" "torn.log:$(wc -l <"$A"):"

# -- a restart keeps the mount accessors (stored at enable)
restart_prod "$D" || exit 1
hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal" >/dev/null
hcurl -X PUT -d "{\"key\":\"$K2\"}" "$ADDR/v1/sys/unseal" >/dev/null
expect_eq "mount accessors survive a restart" "$(rget sys/mounts/secret | j .data.accessor)" "$ACC"

# -- without an audit device: Vault's empty table
stop_prod
sed -i '/^audit:/,$d' "$D/tresor.yaml"
restart_prod "$D" || exit 1
hcurl -X PUT -d "{\"key\":\"$K1\"}" "$ADDR/v1/sys/unseal" >/dev/null
hcurl -X PUT -d "{\"key\":\"$K2\"}" "$ADDR/v1/sys/unseal" >/dev/null
expect_eq "no audit device configured: sys/audit is an empty map" \
    "$(rget sys/audit | j '.data | length')" 0
expect_eq "... and audit-hash knows no device" \
    "$(hcurl -H "$R" -X PUT -d '{"input":"x"}' "$ADDR/v1/sys/audit-hash/file" | j '.errors[0]')" 'unknown audit backend "file/"'

finish
