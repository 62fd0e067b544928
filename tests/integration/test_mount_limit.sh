#!/bin/sh
# The secret mount table: enables running side by side all land in the table that serves
# requests (api_mounts_reload runs one at a time), the table holds API_MOUNTS_MAX (256) mounts,
# the next enable is refused with a clear 400 instead of being stored and never served, and a
# restart loads every mount. A real config-file tresord over TLS, driven with curl.
. "$(dirname "$0")/lib.sh"
need jq curl xargs

D=$(tmpdir)
start_prod "$D" devkey || exit 1
ROOT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init" |
    jq -r .root_token)
check "initialised, root token" test -n "$ROOT" -a "$ROOT" != null
export ROOT ADDR CA

# enable N mounts m<i>, 8 at a time; prints one status per line
enable_many() { # FIRST LAST
    seq "$1" "$2" | xargs -P 8 -I{} curl -sS --max-time 30 --cacert "$CA" -o /dev/null \
        -w '%{http_code}\n' -X POST -H "X-Vault-Token: $ROOT" -d '{"type":"kv"}' \
        "$ADDR/v1/sys/mounts/m{}"
}
# how many of m<FIRST..LAST> take a KV v1 write (the in-memory table serves them)
served() { # FIRST LAST
    seq "$1" "$2" | xargs -P 8 -I{} curl -sS --max-time 30 --cacert "$CA" -o /dev/null \
        -w '%{http_code}\n' -X PUT -H "X-Vault-Token: $ROOT" -d '{"v":"{}"}' \
        "$ADDR/v1/m{}/k" | grep -c '^204$'
}
listed() { hcurl -H "X-Vault-Token: $ROOT" "$ADDR/v1/sys/mounts" | jq '[.data | keys[] |
    select(test("^m[0-9]+/$"))] | length'; }

# cubbyhole/ identity/ sys/ are not in the table: 256 user mounts fit
expect_eq "256 enables side by side: all 204" "$(enable_many 1 256 | sort | uniq -c | awk '{print $2 "x" $1}')" \
    "204x256"
expect_eq "every one of them is listed" "$(listed)" 256
expect_eq "every one of them serves a write" "$(served 1 256)" 256
S=$(status_of -X POST -H "X-Vault-Token: $ROOT" -d '{"type":"kv"}' "$ADDR/v1/sys/mounts/m257")
expect_eq "the 257th enable: 400" "$S" 400
expect_eq "... with a message saying why" \
    "$(hcurl -X POST -H "X-Vault-Token: $ROOT" -d '{"type":"kv"}' "$ADDR/v1/sys/mounts/m257" |
        jq -r '.errors[0]')" 'cannot mount "m257/": Tresor holds at most 256 secrets engines'
stop_prod
restart_prod "$D" || exit 1
export ADDR
expect_eq "... and it is not stored: still 256 after a restart" "$(listed)" 256
expect_eq "the 256 serve writes after the restart" "$(served 1 256)" 256
expect_eq "disable one: 204" \
    "$(status_of -X DELETE -H "X-Vault-Token: $ROOT" "$ADDR/v1/sys/mounts/m1")" 204
expect_eq "then the next enable fits: 204" \
    "$(status_of -X POST -H "X-Vault-Token: $ROOT" -d '{"type":"kv"}' "$ADDR/v1/sys/mounts/m257")" 204
expect_eq "... and serves" "$(served 257 257)" 1
finish
