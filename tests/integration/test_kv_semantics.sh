#!/bin/sh
# KV v2 and v1 semantics checked against what Vault's kv plugin does (vault-plugin-secrets-kv:
# path_data.go, path_metadata.go, path_delete.go, path_destroy.go, path_subkeys.go,
# path_config.go, passthrough.go): check-and-set, retention, delete_version_after, soft delete,
# undelete and destroy of listed versions, metadata and custom_metadata, merge patches, subkeys,
# LIST, KV v1, path length, ACL capabilities per endpoint, concurrent writers of one key, and a
# stock client (hvac) on the answers that changed. A dev server, curl and jq; python3 for the
# concurrent clients.
. "$(dirname "$0")/lib.sh"
need jq curl python3

D=$(tmpdir)
start_dev "$D" || exit 1
ROOT=$(dev_root)

# callas TOKEN METHOD PATH [BODY]: one request; sets CODE and BODY (PATCH as merge-patch)
callas() {
    _ct=application/json
    [ "$2" = PATCH ] && _ct=application/merge-patch+json
    if [ $# -ge 4 ]; then
        _out=$(hcurl -H "X-Vault-Token: $1" -H "Content-Type: $_ct" -X "$2" --data-binary "$4" \
            -w '\n%{http_code}' "$ADDR/v1/$3")
    else
        _out=$(hcurl -H "X-Vault-Token: $1" -X "$2" -w '\n%{http_code}' "$ADDR/v1/$3")
    fi
    CODE=$(printf '%s\n' "$_out" | tail -n 1)
    BODY=$(printf '%s\n' "$_out" | sed '$d')
}
call() { callas "$ROOT" "$@"; }
# jb FILTER: jq -r on BODY
jb() { printf '%s' "$BODY" | jq -r "$1"; }
# answer: "CODE first-error" of the last call
answer() { echo "$CODE $(jb '.errors[0] // empty')"; }
# meta KEY FILTER: jq -r FILTER on the data of secret/metadata/KEY
meta() { hcurl -H "X-Vault-Token: $ROOT" "$ADDR/v1/secret/metadata/$1" | jq -r ".data | $2"; }
# put KEY N: write {"n":"N"} to secret/data/KEY
put() { call PUT "secret/data/$1" "{\"data\":{\"n\":\"$2\"}}"; }
# poll_code WANT METHOD PATH: repeat the request until it answers WANT (10 s at most)
poll_code() {
    _i=0
    call "$2" "$3"
    while [ "$CODE" != "$1" ] && [ $_i -lt 100 ]; do
        sleep 0.1
        _i=$((_i + 1))
        call "$2" "$3"
    done
}

# -- check-and-set (path_data.go validateCheckAndSetOption)
put c1 1
call PUT secret/data/c1 '{"data":{"n":"2"},"options":{"cas":0}}'
expect_eq "cas 0 on an existing key: 400, Vault's text" "$(answer)" \
    "400 check-and-set parameter did not match the current version"
call PUT secret/data/c-new '{"data":{"n":"1"},"options":{"cas":0}}'
expect_eq "cas 0 creates a new key" "$CODE $(jb .data.version)" "200 1"
call PUT secret/data/c1 '{"data":{"n":"2"},"options":{"cas":"x1"}}'
expect_eq "unparsable cas" "$(answer)" "400 error parsing check-and-set parameter"
call PUT secret/data/c1 '{"data":{"n":"2"},"options":"cas=1"}'
expect_eq "options that are not an object are refused, not ignored" "$(answer)" \
    "400 Field validation failed: options must be an object"
call PUT secret/data/c1 '{"data":null}'
expect_eq "data null counts as absent" "$(answer)" "400 no data provided"
call DELETE secret/data/c1
call PUT secret/data/c1 '{"data":{"n":"2"},"options":{"cas":1}}'
expect_eq "a deleted latest version still counts as current for cas" "$CODE $(jb .data.version)" "200 2"
call PUT secret/metadata/c2 '{"cas_required":true}'
call PUT secret/data/c2 '{"data":{"n":"1"}}'
expect_eq "key cas_required: a write without cas" "$(answer)" \
    "400 check-and-set parameter required for this call"
call PUT secret/data/c2 '{"data":{"n":"1"},"options":{"cas":0}}'
expect_eq "... cas 0 on the metadata-only key (current_version 0)" "$CODE $(jb .data.version)" "200 1"
call PATCH secret/data/c2 '{"data":{"m":"1"}}'
expect_eq "... a PATCH needs cas too" "$(answer)" "400 check-and-set parameter required for this call"
call PATCH secret/data/c2 '{"data":{"m":"1"},"options":{"cas":1}}'
expect_eq "... and succeeds with it" "$CODE $(jb .data.version)" "200 2"
call PUT secret/config '{"cas_required":true}'
call PUT secret/data/c3 '{"data":{"n":"1"}}'
expect_eq "mount cas_required applies to every key" "$(answer)" \
    "400 check-and-set parameter required for this call"
# path_metadata.go: cas_required false under a mount that requires it is stored, with a warning
call PUT secret/metadata/c3 '{"cas_required":false}'
expect_eq "metadata cas_required false under the mount's: 200 with Vault's warning" \
    "$CODE $(jb '.warnings[0]')" \
    '200 "cas_required" set to false, but is mandated by backend config. This value will be ignored.'
expect_eq "... stored as asked" "$(meta c3 .cas_required)" false
call PATCH secret/metadata/c3 '{"cas_required":false}'
expect_eq "... the PATCH warns too" "$CODE $(jb '.warnings | length')" "200 1"
call PUT secret/data/c3 '{"data":{"n":"1"}}'
expect_eq "... and the mount's setting still rules" "$CODE" 400
call PUT secret/config '{"cas_required":false}'
call PUT secret/metadata/c3 '{"cas_required":false}'
expect_eq "no warning once the mount does not require it" "$CODE" 204

# -- retention (path_data.go AddVersion, path_metadata.go)
for i in 1 2 3 4 5; do put r1 $i; done
call PUT secret/metadata/r1 '{"max_versions":2}'
expect_eq "lowering max_versions keeps the versions until the next write" \
    "$(meta r1 '.versions | keys | join(",")')" "1,2,3,4,5"
put r1 6
expect_eq "the next write trims the oldest, numbering goes on" "$CODE $(jb .data.version)" "200 6"
expect_eq "... two versions left, oldest_version 5" \
    "$(meta r1 '"\(.versions | keys | join(",")) \(.oldest_version)"')" "5,6 5"
call GET "secret/data/r1?version=4"
expect_eq "a pruned version is a plain 404" "$CODE $BODY" '404 {"errors":[]}'
for i in 1 2 3 4 5 6 7 8 9 10; do put r10 $i; done
expect_eq "default limit 10: oldest_version 1 once it is reached, as Vault" \
    "$(meta r10 '"\(.versions | length) \(.oldest_version)"')" "10 1"
put r10 11
expect_eq "... the 11th write drops version 1" \
    "$(meta r10 '"\(.versions | length) \(.oldest_version) \(.versions | has("1"))"')" "10 2 false"
call PUT secret/config '{"max_versions":3}'
put r10 12
expect_eq "the mount's max_versions wins when larger than the key's (0)" \
    "$(meta r10 '.versions | keys | join(",")')" "10,11,12"
call PUT secret/metadata/r10 '{"max_versions":4}'
put r10 13
expect_eq "... the key's when it is larger" "$(meta r10 '.versions | keys | join(",")')" "10,11,12,13"
call PUT secret/config '{"max_versions":0}'
call PUT secret/metadata/r10 '{"max_versions":1001}'
expect_eq "max_versions above 1000: a precise 400" "$(answer)" \
    "400 max_versions must be a whole number from 0 to 1000"
call DELETE secret/metadata/r10
expect_eq "metadata DELETE removes every version" "$CODE $(status_of -H "X-Vault-Token: $ROOT" \
    "$ADDR/v1/secret/data/r10?version=13")" "204 404"
put r10 again
expect_eq "... and the next write starts again at version 1" "$(jb .data.version)" 1

# -- delete_version_after (delete_version_after.go)
call PUT secret/metadata/dva '{"delete_version_after":"1s"}'
put dva 1
DT=$(jb .data.deletion_time)
check "a new version gets its deletion time" test -n "$DT"
call GET secret/data/dva
expect_eq "readable before the deletion time" "$CODE $(jb .data.data.n)" "200 1"
poll_code 404 GET secret/data/dva
expect_eq "after it: 404 with data null and the metadata" \
    "$CODE $(jb '"\(.data.data) \(.data.metadata.deletion_time == "'"$DT"'")"')" "404 null true"
call PUT secret/metadata/dva '{"delete_version_after":"1h"}'
put dva 2
call DELETE secret/data/dva
expect_eq "a soft delete brings a future deletion time forward" "$(status_of -H "X-Vault-Token: $ROOT" \
    "$ADDR/v1/secret/data/dva")" 404
call POST secret/undelete/dva '{"versions":[2]}'
call GET secret/data/dva
expect_eq "undelete gives it a new deletion time (still 1h ahead)" \
    "$CODE $(jb '.data.metadata.deletion_time != ""')" "200 true"
call PUT secret/metadata/dva '{"delete_version_after":"-1s"}'
expect_eq "a negative key delete_version_after: 400" "$CODE" 400
call PUT secret/config '{"delete_version_after":"-5m"}'
call GET secret/config
expect_eq "a negative mount one disables the feature: -1s" "$(jb .data.delete_version_after)" "-1s"
call PUT secret/config '{"delete_version_after":"0s"}'

# -- soft delete, undelete, destroy of listed versions (path_delete.go, path_destroy.go)
for i in 1 2 3 4; do put v $i; done
UT=$(meta v .updated_time)
expect_eq "updated_time is the latest version's created_time" "$(meta v '.versions["4"].created_time')" "$UT"
BEFORE=$(meta v '.versions')
for vs in '[0]' '[-1]' '[99]' '"0, 99"'; do
    call POST secret/delete/v "{\"versions\":$vs}"
    expect_eq "delete of versions $vs: 204" "$CODE" 204
done
expect_eq "... versions 0, -1 and unknown ones change nothing" "$(meta v '.versions')" "$BEFORE"
call POST secret/delete/v '{"versions":["1", 2]}'
expect_eq "versions as strings and numbers mixed" \
    "$(meta v '[.versions["1","2","3"].deletion_time != ""] | join(",")')" "true,true,false"
call POST secret/delete/v '{"versions":3}'
expect_eq "one number (Vault's comma int slice takes it)" \
    "$CODE $(meta v '.versions["3"].deletion_time != ""')" "204 true"
call POST secret/undelete/v '{"versions":"1,3"}'
expect_eq "undelete of a comma string" "$(meta v '[.versions["1","2","3"].deletion_time == ""] | join(",")')" \
    "true,false,true"
call POST secret/delete/v '{"versions":["x"]}'
expect_eq "junk in versions: a validation error, not 'no version'" "$(answer)" \
    "400 Field validation failed: versions must be version numbers"
call POST secret/delete/v '{"versions":[]}'
expect_eq "no versions" "$(answer)" "400 No version number provided"
call POST secret/destroy/v '{"versions":[1]}'
call POST secret/destroy/v '{"versions":[1]}'
expect_eq "destroying a destroyed version again: 204" "$CODE" 204
call POST secret/undelete/v '{"versions":[1]}'
call GET "secret/data/v?version=1"
expect_eq "undelete leaves a destroyed version destroyed: 404, destroyed true" \
    "$CODE $(jb '"\(.data.data) \(.data.metadata.destroyed)"')" "404 null true"
call GET "secret/data/v?version=2"
expect_eq "a deleted version: 404 with the deletion time" \
    "$CODE $(jb '"\(.data.data) \(.data.metadata.deletion_time != "") \(.data.metadata.version)"')" \
    "404 null true 2"
call GET "secret/data/v?version=-1"
expect_eq "a negative version: 400" "$(answer)" "400 version must be a whole number of at least 0"
call PUT secret/metadata/v '{"custom_metadata":{"a":"b"}}'
expect_eq "deletes, undeletes, destroys and metadata writes leave updated_time (Vault: new versions only)" \
    "$(meta v .updated_time)" "$UT"
call POST secret/destroy/absent '{"versions":[1]}'
expect_eq "versions of an absent key: 204, nothing created" \
    "$CODE $(status_of -H "X-Vault-Token: $ROOT" "$ADDR/v1/secret/metadata/absent")" "204 404"

# -- custom_metadata (path_metadata.go validateCustomMetadata, parseCustomMetadata)
CM64=$(jq -nc '{custom_metadata: ([range(64)] | map({key: "k\(.)", value: "v"}) | from_entries)}')
CM65=$(jq -nc '{custom_metadata: ([range(65)] | map({key: "k\(.)", value: "v"}) | from_entries)}')
call PUT secret/metadata/cm "$CM64"
expect_eq "64 keys" "$CODE $(meta cm '.custom_metadata | length')" "204 64"
call PUT secret/metadata/cm "$CM65"
expect_eq "65 keys: Vault's text" "$(answer)" \
    "400 custom_metadata validation failed: payload must contain at most 64 keys, provided 65"
call PATCH secret/metadata/cm '{"custom_metadata":{"k64":"v"}}'
expect_eq "a PATCH that would store 65 keys is refused too" "$CODE" 400
K128=$(head -c 128 /dev/zero | tr '\0' k)
V512=$(head -c 512 /dev/zero | tr '\0' v)
call PUT secret/metadata/cm "{\"custom_metadata\":{\"$K128\":\"$V512\"}}"
expect_eq "a 128-byte key with a 512-byte value" "$CODE" 204
call PUT secret/metadata/cm "{\"custom_metadata\":{\"${K128}k\":\"v\"}}"
expect_eq "a 129-byte key" "$CODE $(jb '.errors[0] | startswith("custom_metadata validation failed: key length")')" \
    "400 true"
call PUT secret/metadata/cm "{\"custom_metadata\":{\"k\":\"${V512}v\"}}"
expect_eq "a 513-byte value" "$CODE" 400
call PUT secret/metadata/cm '{"custom_metadata":{"k":""}}'
expect_eq "an empty value" "$CODE" 400
call PUT secret/metadata/cm '{"custom_metadata":{"k":{"x":"y"}}}'
expect_eq "an object value" "$CODE" 400
call PUT secret/metadata/cm '{"custom_metadata":{"n":5,"t":true,"f":false,"r":1.5,"s":"x"}}'
expect_eq "numbers and booleans become strings, as Vault's weak decoding" \
    "$CODE $(meta cm '.custom_metadata | tojson')" '204 {"f":"0","n":"5","r":"1.5","s":"x","t":"1"}'
put cm 1
expect_eq "custom_metadata comes with every version's metadata" "$(jb .data.custom_metadata.n)" 5
call PATCH secret/metadata/cm '{"custom_metadata":{"n":null,"s":"y","new":7}}'
expect_eq "PATCH merges: null removes, others set" \
    "$CODE $(meta cm '.custom_metadata | tojson')" '204 {"f":"0","new":"7","r":"1.5","s":"y","t":"1"}'
call PATCH secret/metadata/cm '{"custom_metadata":{"f":null,"new":null,"r":null,"s":null,"t":null}}'
expect_eq "removing the last key leaves null, as Vault" "$(meta cm .custom_metadata)" null
call PUT secret/metadata/cm '{"custom_metadata":{"a":"b"}}'
call PUT secret/metadata/cm '{"custom_metadata":{}}'
expect_eq "setting {} reads back as null" "$(meta cm .custom_metadata)" null
call PATCH secret/metadata/none '{"max_versions":3}'
expect_eq "metadata PATCH of an absent key" "$CODE $BODY" '404 {"errors":[]}'
call PUT secret/metadata/empty '{}'
expect_eq "a metadata PUT with nothing to set creates nothing" \
    "$CODE $(status_of -H "X-Vault-Token: $ROOT" "$ADDR/v1/secret/metadata/empty")" "204 404"

# -- data PATCH (RFC 7396, path_data.go pathDataPatch)
call PUT secret/data/p '{"data":{"a":"1","b":{"c":"2","d":"3"},"arr":[1,{"x":1}],"s":"str"}}'
call PATCH secret/data/p '{"data":{"a":null,"b":{"c":null,"e":"5"},"arr":[{"y":null}],"s":{"q":null,"r":"2"},"n":{"x":null,"y":{"z":null}}}}'
call GET secret/data/p
expect_eq "merge patch: nested nulls dropped even where the target has no object" \
    "$(jb '.data.data | tojson')" '{"arr":[{"y":null}],"b":{"d":"3","e":"5"},"n":{"y":{}},"s":{"r":"2"}}'
call PATCH secret/data/p '{}'
expect_eq "PATCH without data" "$(answer)" "400 no data provided"
call PATCH secret/data/p '{"data":{"a":"1"},"options":{"cas":1}}'
expect_eq "PATCH with a stale cas" "$(answer)" \
    "400 check-and-set parameter did not match the current version"
call DELETE secret/data/p
call PATCH secret/data/p '{"data":{"a":"1"}}'
expect_eq "PATCH of a deleted latest version: 404 with its metadata as data" \
    "$CODE $(jb '"\(.data.version) \(.data.deletion_time != "") \(.data.destroyed)"')" "404 2 true false"
call POST secret/destroy/p '{"versions":[2]}'
call PATCH secret/data/p '{"data":{"a":"1"}}'
expect_eq "... of a destroyed one" "$CODE $(jb .data.destroyed)" "404 true"
call PATCH secret/data/nope '{"data":{"a":"1"}}'
expect_eq "... of an absent key" "$CODE $BODY" '404 {"errors":[]}'
call PUT secret/metadata/monly '{"max_versions":3}'
call PATCH secret/data/monly '{"data":{"a":"1"}}'
expect_eq "... of a key with metadata only" "$CODE $BODY" '404 {"errors":[]}'

# -- subkeys (path_subkeys.go)
call PUT secret/data/sk '{"data":{"a":{"b":{"c":"1"},"e":{}},"f":[1],"g":"h"}}'
call GET secret/subkeys/sk
expect_eq "subkeys: leaves and empty objects null" "$(jb '.data.subkeys | tojson')" \
    '{"a":{"b":{"c":null},"e":null},"f":null,"g":null}'
call GET "secret/subkeys/sk?depth=1"
expect_eq "depth 1" "$(jb '.data.subkeys | tojson')" '{"a":null,"f":null,"g":null}'
call GET "secret/subkeys/sk?depth=2"
expect_eq "depth 2" "$(jb '.data.subkeys | tojson')" '{"a":{"b":null,"e":null},"f":null,"g":null}'
call PUT secret/data/sk0 '{"data":{}}'
call GET secret/subkeys/sk0
expect_eq "an empty secret's subkeys are {}, not null" "$CODE $(jb '.data.subkeys | tojson')" "200 {}"
call DELETE secret/data/sk
call GET secret/subkeys/sk
expect_eq "subkeys of a deleted version: 404, subkeys null, its metadata" \
    "$CODE $(jb '"\(.data.subkeys) \(.data.metadata.version)"')" "404 null 1"
call GET "secret/subkeys/sk0?depth=-1"
expect_eq "a negative depth" "$(answer)" "400 depth must be a whole number of at least 0"

# -- LIST
put l/a/b 1
put l/c 1
put l 1
call DELETE secret/data/l/c
for p in "secret/metadata/l" "secret/metadata/l/" "secret/metadata/l//"; do
    call LIST "$p"
    expect_eq "LIST $p (a key with only a deleted version still listed)" \
        "$CODE $(jb '.data.keys | join(",")')" "200 a/,c"
done
call GET "secret/metadata/?list=true"
expect_eq "a name both key and folder is listed as both" "$(jb '[.data.keys[] | select(startswith("l"))] | join(",")')" \
    "l,l/"
call LIST secret/metadata/l/a/b
expect_eq "LIST of a key (no children): 404" "$CODE $BODY" '404 {"errors":[]}'
call GET secret/metadata/
expect_eq "GET of the empty key: 404 (no such key)" "$CODE" 404

# -- path length: the store key is "<uuid>/<path>", at most 450 path bytes; never truncated
P450=$(head -c 450 /dev/zero | tr '\0' q)
P451="${P450}q"
put "$P450" 1
expect_eq "a 450-byte path" "$CODE" 200
put "$P451" 1
expect_eq "a 451-byte path: 400, never written" "$(answer)" "400 path too long: at most 450 bytes"
call PUT "secret/metadata/${P451}zzz" '{"max_versions":2}'
expect_eq "... a metadata write too (it used to store a truncated key)" "$CODE" 400
call DELETE "secret/metadata/${P451}"
expect_eq "... and a delete" "$CODE" 400
call LIST secret/metadata/
expect_eq "only the 450-byte key exists" "$(jb '[.data.keys[] | select(startswith("qq"))] | map(length) | join(",")')" 450

# -- KV v1 (passthrough.go)
call POST sys/mounts/kv1 '{"type":"kv"}'
call PUT kv1/a/b '{"x":"1","ttl":"1m"}'
call GET kv1/a/b
expect_eq "v1 write and read, ttl as lease_duration" "$CODE $(jb '"\(.data.x) \(.lease_duration)"')" "200 1 60"
call PUT kv1/a/b '{}'
expect_eq "v1 empty write" "$(answer)" "400 missing data fields"
call PUT kv1/ '{"x":"1"}'
expect_eq "v1 write to the mount root" "$(answer)" "400 missing path"
call GET kv1/
expect_eq "v1 read of the mount root: 404" "$CODE" 404
call DELETE kv1/
expect_eq "v1 delete of the mount root: 204" "$CODE" 204
call LIST kv1/
expect_eq "v1 LIST of the root" "$CODE $(jb '.data.keys | join(",")')" "200 a/"
call PATCH kv1/a/b '{"x":"2"}'
expect_eq "v1 PATCH" "$(answer)" "405 unsupported operation"
call DELETE kv1/a/b
call LIST kv1/a
expect_eq "v1 delete, then the folder is empty: 404" "$CODE" 404

# -- capabilities per endpoint (vault-api.md §3.2, §6.5), with a token limited by policy
pol() { jq -n --arg p "$2" '{policy:$p}' | status_of -H "X-Vault-Token: $ROOT" -X PUT --data-binary @- \
    "$ADDR/v1/sys/policies/acl/$1" >/dev/null; }
tok() { hcurl -H "X-Vault-Token: $ROOT" -X POST -d "{\"policies\":[\"$1\"]}" "$ADDR/v1/auth/token/create" |
    jq -r .auth.client_token; }
pol data 'path "secret/data/acl/*" { capabilities = ["create", "read", "update", "delete", "patch"] }'
pol meta 'path "secret/metadata/acl/*" { capabilities = ["read", "update", "delete", "list"] }'
pol create 'path "secret/data/acl/*" { capabilities = ["create"] }'
pol update 'path "secret/data/acl/*" { capabilities = ["update"] }'
pol versions 'path "secret/undelete/acl/*" { capabilities = ["update"] }
path "secret/destroy/acl/*" { capabilities = ["update"] }'
TD=$(tok data)
TM=$(tok meta)
TC=$(tok create)
TU=$(tok update)
TV=$(tok versions)
callas "$TD" PUT secret/data/acl/x '{"data":{"n":"1"}}'
a=$CODE
callas "$TD" PATCH secret/data/acl/x '{"data":{"m":"1"}}'
a="$a $CODE"
callas "$TD" DELETE secret/data/acl/x
expect_eq "data/ policy: write, patch, delete the latest" "$a $CODE" "200 200 204"
callas "$TD" GET secret/metadata/acl/x
a=$CODE
callas "$TD" DELETE secret/metadata/acl/x
a="$a $CODE"
callas "$TD" POST secret/undelete/acl/x '{"versions":[2]}'
a="$a $CODE"
callas "$TD" POST secret/destroy/acl/x '{"versions":[2]}'
a="$a $CODE"
callas "$TD" GET secret/subkeys/acl/x
expect_eq "... but not metadata/, undelete/, destroy/ or subkeys/" "$a $CODE" "403 403 403 403 403"
callas "$TV" POST secret/undelete/acl/x '{"versions":[2]}'
a=$CODE
callas "$TV" POST secret/destroy/acl/x '{"versions":[1]}'
expect_eq "undelete/ and destroy/ take update on their own paths" \
    "$a $CODE $(meta acl/x '"\(.versions["2"].deletion_time) \(.versions["1"].destroyed)"')" "204 204  true"
callas "$TM" LIST secret/metadata/acl
a="$CODE $(jb '.data.keys | join(",")')"
callas "$TM" GET secret/metadata/acl/x
a="$a $CODE"
callas "$TM" GET secret/data/acl/x
expect_eq "metadata/ policy: LIST and read metadata, not the data" "$a $CODE" "200 x 200 403"
callas "$TC" PUT secret/data/acl/new '{"data":{"n":"1"}}'
a=$CODE
callas "$TC" PUT secret/data/acl/x '{"data":{"n":"1"}}'
expect_eq "create only: a new key yes, an existing one no (the existence check)" "$a $CODE" "200 403"
callas "$TM" PUT secret/metadata/acl/monly '{"max_versions":2}'
a=$CODE
call PUT secret/metadata/acl/monly '{"max_versions":2}'
callas "$TC" PUT secret/data/acl/monly '{"data":{"n":"1"}}'
expect_eq "a metadata write of a new key needs create; a key with metadata only exists (update)" \
    "$a $CODE" "403 403"
callas "$TU" PATCH secret/data/acl/x '{"data":{"n":"2"}}'
a=$CODE
callas "$TU" PUT secret/data/acl/x '{"data":{"n":"2"}}'
expect_eq "update only: PATCH needs the patch capability, a write of an existing key passes" \
    "$a $CODE" "403 200"
callas "$TM" DELETE secret/metadata/acl/x
expect_eq "delete on metadata/ removes the key" \
    "$CODE $(status_of -H "X-Vault-Token: $ROOT" "$ADDR/v1/secret/metadata/acl/x")" "204 404"

# -- concurrent writers of one key, none asking for check-and-set (Vault locks the key): every
# write succeeds and gets its own version; deletes and metadata writes in the mix too
cat >"$D/burst.py" <<'EOF'
import http.client, json, ssl, sys, threading
port, tok, ca, key, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
conns = [http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=30) for _ in range(n)]
for c in conns:
    c.connect()
go = threading.Barrier(n)
codes = []
def one(i):
    kind = i % 4 if len(sys.argv) > 6 else 0
    method, path, body = [
        ("PUT", "data/", {"data": {"n": str(i)}}),
        ("POST", "delete/", {"versions": [1]}),
        ("PUT", "metadata/", {"custom_metadata": {"w": str(i)}}),
        ("PUT", "data/", {"data": {"n": str(i)}})][kind]
    go.wait()
    conns[i].request(method, "/v1/secret/" + path + key, json.dumps(body), {"X-Vault-Token": tok})
    r = conns[i].getresponse()
    r.read()
    codes.append(r.status)
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(" ".join("%d:%d" % (c, codes.count(c)) for c in sorted(set(codes))))
EOF
expect_eq "48 concurrent plain writes to one key: all 200" \
    "$(python3 "$D/burst.py" "$PORT" "$ROOT" "$CA" burst 48)" "200:48"
expect_eq "... versions 1 to 48, one each" "$(meta burst .current_version)" 48
expect_eq "48 concurrent writes, deletes and metadata writes: none refused" \
    "$(python3 "$D/burst.py" "$PORT" "$ROOT" "$CA" mix 48 mixed)" "200:24 204:24"
expect_eq "... every write got its version" "$(meta mix .current_version)" 24

# -- a stock client on the answers that changed: hvac
VAULT_ADDR="$ADDR" TR_CA="$CA" TR_ROOT="$ROOT" PYTHONPATH="$(dirname "$0")/../hvac" \
    /usr/bin/python3 - <<'PYEOF' >"$D/hvac.out" 2>&1
import os
import threading

from tap import client, eq, ok, summary

c = client(os.environ["TR_ROOT"])
kv = c.secrets.kv.v2
kv.configure(cas_required=True)
r = kv.update_metadata("h/warn", cas_required=False)
ok(isinstance(r, dict) and r["warnings"] == ['"cas_required" set to false, but is mandated by '
                                            'backend config. This value will be ignored.'],
   "hvac update_metadata under a cas-requiring mount returns Vault's warning")
kv.configure(cas_required=False)
for i in range(10):
    kv.create_or_update_secret("h/ten", {"n": str(i)})
eq("hvac read_secret_metadata: oldest_version 1 after 10 versions",
   kv.read_secret_metadata("h/ten")["data"]["oldest_version"], 1)
errs = []


def writer(i):
    try:
        client(os.environ["TR_ROOT"]).secrets.kv.v2.create_or_update_secret("h/burst", {"n": str(i)})
    except Exception as e:  # noqa: BLE001 - any refusal is the failure reported below
        errs.append(repr(e))


ts = [threading.Thread(target=writer, args=(i,)) for i in range(24)]
[t.start() for t in ts]
[t.join() for t in ts]
ok(not errs, "24 hvac clients writing one key at once all succeed (%s)" % errs[:1])
eq("... 24 versions", kv.read_secret_metadata("h/burst")["data"]["current_version"], 24)
raise SystemExit(summary())
PYEOF
HRC=$?
# renumber the hvac lines into this suite's count
while IFS= read -r line; do
    case "$line" in
    "ok "*) ok "${line#ok * - }" ;;
    "not ok "*) not_ok "${line#not ok * - }" ;;
    *" passed, "*) ;;
    *) echo "# $line" ;;
    esac
done <"$D/hvac.out"
[ $HRC -eq 0 ] || grep -q '^not ok' "$D/hvac.out" || not_ok "hvac part exited $HRC"

check "the server is still up" kill -0 "$PID"
finish
