#!/bin/sh
# The API's cache of parsed token entries, KV v2 metadata and compiled ACLs (api/api_cache.h)
# never answers from stale data: every change made through the API is visible to the very next
# request of a token whose entry, policies and metadata were just cached. Also: limited-use
# tokens are spent exactly, expiry follows the wall clock, and seal drops the cache.
. "$(dirname "$0")/lib.sh"

D=$(tmpdir)
start_dev "$D" || exit 1
ROOT=$(dev_root)
SHARE=$(sed -n 's/.*Unseal\/recovery key: \([^ ]*\).*/\1/p' "$LOG" | head -1)
R="X-Vault-Token: $ROOT"
j() { jq -r "$1"; }
metric() { hcurl -H "$R" "$ADDR/v1/sys/metrics" | sed -n "s/^$1 //p"; }
policy() { jq -n --arg p "$2" '{policy:$p}' | status_of -H "$R" -X PUT --data-binary @- "$ADDR/v1/sys/policies/acl/$1"; }
# read TOKEN PATH: the status of a GET
read_as() { status_of -H "X-Vault-Token: $1" "$ADDR/v1/$2"; }

hcurl -H "$R" -X PUT -d '{"data":{"v":"one"}}' "$ADDR/v1/secret/data/a" >/dev/null
hcurl -H "$R" -X PUT -d '{"data":{"v":"bee"}}' "$ADDR/v1/secret/data/b" >/dev/null

# -- the cache is used: repeated reads hit
h0=$(metric tresor_api_cache_hits_total)
for i in 1 2 3; do hcurl -H "$R" "$ADDR/v1/secret/data/a" >/dev/null; done
h1=$(metric tresor_api_cache_hits_total)
check "repeated reads hit the cache (token, ACL and metadata)" test $((h1 - h0)) -ge 6

# -- policy changes reach a token whose ACL is cached
expect_eq "policy p1 (read a)" "$(policy p1 'path "secret/data/a" { capabilities = ["read"] }')" 204
T=$(hcurl -H "$R" -X POST -d '{"policies":["p1"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "p1 token reads a" "$(read_as "$T" secret/data/a)" 200
expect_eq "p1 token reads a again" "$(read_as "$T" secret/data/a)" 200
expect_eq "p1 token cannot read b" "$(read_as "$T" secret/data/b)" 403
expect_eq "p1 updated (read b only)" "$(policy p1 'path "secret/data/b" { capabilities = ["read"] }')" 204
expect_eq "update seen at once: a denied" "$(read_as "$T" secret/data/a)" 403
expect_eq "update seen at once: b allowed" "$(read_as "$T" secret/data/b)" 200
expect_eq "p1 deleted" "$(status_of -H "$R" -X DELETE "$ADDR/v1/sys/policies/acl/p1")" 204
expect_eq "deleted policy grants nothing" "$(read_as "$T" secret/data/b)" 403
expect_eq "p1 again (read a)" "$(policy p1 'path "secret/data/a" { capabilities = ["read"] }')" 204
expect_eq "re-created policy applies" "$(read_as "$T" secret/data/a)" 200
# a token naming a policy that does not exist yet: its creation must take effect
T2=$(hcurl -H "$R" -X POST -d '{"policies":["p1","later"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "token with a missing policy reads a" "$(read_as "$T2" secret/data/a)" 200
expect_eq "not b yet" "$(read_as "$T2" secret/data/b)" 403
expect_eq "policy later created (read b)" "$(policy later 'path "secret/data/b" { capabilities = ["read"] }')" 204
expect_eq "the new policy applies to the cached token" "$(read_as "$T2" secret/data/b)" 200
# the default policy is part of every token's ACL: changing it is seen too
DEF=$(hcurl -H "$R" "$ADDR/v1/sys/policies/acl/default" | j .data.policy)
expect_eq "lookup-self allowed by default" "$(read_as "$T" auth/token/lookup-self)" 200
expect_eq "default emptied of lookup-self" \
    "$(policy default 'path "secret/data/none" { capabilities = ["read"] }')" 204
expect_eq "lookup-self now denied" "$(read_as "$T" auth/token/lookup-self)" 403
expect_eq "default restored" "$(policy default "$DEF")" 204
expect_eq "lookup-self allowed again" "$(read_as "$T" auth/token/lookup-self)" 200

# -- token changes: revoke (self, by token, by accessor, the parent's tree), renew, expiry
TC=$(hcurl -H "$R" -X POST -d '{"policies":["p1"]}' "$ADDR/v1/auth/token/create")
T3=$(echo "$TC" | j .auth.client_token)
ACC3=$(echo "$TC" | j .auth.accessor)
expect_eq "fresh token works" "$(read_as "$T3" secret/data/a)" 200
expect_eq "revoke by accessor" \
    "$(status_of -H "$R" -X POST -d "{\"accessor\":\"$ACC3\"}" "$ADDR/v1/auth/token/revoke-accessor")" 204
expect_eq "next request of the revoked token is 403" "$(read_as "$T3" secret/data/a)" 403
expect_eq "token cached again" "$(read_as "$T" secret/data/a)" 200
expect_eq "revoke-self" "$(status_of -H "X-Vault-Token: $T" -X POST "$ADDR/v1/auth/token/revoke-self")" 204
expect_eq "revoked by itself: 403" "$(read_as "$T" secret/data/a)" 403
expect_eq "policy parent (create tokens)" "$(policy parent 'path "auth/token/create" { capabilities = ["update"] }')" 204
P=$(hcurl -H "$R" -X POST -d '{"policies":["p1","parent"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
C=$(hcurl -H "X-Vault-Token: $P" -X POST -d '{"policies":["p1"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "child works" "$(read_as "$C" secret/data/a)" 200
expect_eq "revoke the parent" "$(status_of -H "$R" -X POST -d "{\"token\":\"$P\"}" "$ADDR/v1/auth/token/revoke")" 204
expect_eq "the cached child is revoked too" "$(read_as "$C" secret/data/a)" 403
SHORT=$(hcurl -H "$R" -X POST -d '{"policies":["p1"],"ttl":"2s"}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "short token works" "$(read_as "$SHORT" secret/data/a)" 200
expect_eq "short token works (cached)" "$(read_as "$SHORT" secret/data/a)" 200
expect_eq "renew-self to 6s" \
    "$(hcurl -H "X-Vault-Token: $SHORT" -X POST -d '{"increment":"6s"}' "$ADDR/v1/auth/token/renew-self" | j .auth.lease_duration)" 6
sleep 3
expect_eq "renewal seen: still valid after its first ttl" "$(read_as "$SHORT" secret/data/a)" 200
sleep 5
expect_eq "expired on the wall clock while cached" "$(read_as "$SHORT" secret/data/a)" 403

# -- limited-use tokens are spent exactly, also concurrently
U2=$(hcurl -H "$R" -X POST -d '{"policies":["p1"],"num_uses":2}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "use 1 of 2" "$(read_as "$U2" secret/data/a)" 200
expect_eq "use 2 of 2" "$(read_as "$U2" secret/data/a)" 200
expect_eq "no use left" "$(read_as "$U2" secret/data/a)" 403
U3=$(hcurl -H "$R" -X POST -d '{"policies":["p1"],"num_uses":3}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
: >"$D/codes"
pids=""
i=0
while [ $i -lt 10 ]; do
    read_as "$U3" secret/data/a >>"$D/codes" &
    pids="$pids $!"
    i=$((i + 1))
done
# shellcheck disable=SC2086 # one PID per word
wait $pids
# a use lost to a concurrent check-and-set is refused (403), never served twice
n=$(grep -o 200 "$D/codes" | wc -l)
check "10 concurrent requests on a 3-use token: 1 to 3 served" test "$n" -ge 1 -a "$n" -le 3
while [ "$n" -lt 5 ] && [ "$(read_as "$U3" secret/data/a)" = 200 ]; do n=$((n + 1)); done
expect_eq "then the rest: exactly 3 uses in all" "$n" 3

# -- KV v2 metadata changes are seen by the next read
expect_eq "read a (metadata cached)" "$(hcurl -H "$R" "$ADDR/v1/secret/data/a" | j .data.metadata.version)" 1
hcurl -H "$R" -X PUT -d '{"data":{"v":"two"}}' "$ADDR/v1/secret/data/a" >/dev/null
G=$(hcurl -H "$R" "$ADDR/v1/secret/data/a")
expect_eq "new version read" "$(echo "$G" | j '.data.metadata.version')$(echo "$G" | j .data.data.v)" 2two
expect_eq "custom_metadata written" \
    "$(status_of -H "$R" -X POST -d '{"custom_metadata":{"owner":"x"}}' "$ADDR/v1/secret/metadata/a")" 204
expect_eq "custom_metadata in the next read" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/data/a" | j .data.metadata.custom_metadata.owner)" x
expect_eq "max_versions 1" "$(status_of -H "$R" -X POST -d '{"max_versions":1}' "$ADDR/v1/secret/metadata/a")" 204
expect_eq "max_versions in the next metadata read" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/a" | j .data.max_versions)" 1
hcurl -H "$R" -X PUT -d '{"data":{"v":"three"}}' "$ADDR/v1/secret/data/a" >/dev/null
expect_eq "pruned to one version" "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/a" | j '.data.versions | keys | join(",")')" 3
expect_eq "old version gone" "$(status_of -H "$R" "$ADDR/v1/secret/data/a?version=2")" 404
expect_eq "delete_version_after 3s" \
    "$(status_of -H "$R" -X POST -d '{"delete_version_after":"3s"}' "$ADDR/v1/secret/metadata/a")" 204
expect_eq "delete_version_after in the next metadata read" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/a" | j .data.delete_version_after)" 3s
hcurl -H "$R" -X PUT -d '{"data":{"v":"four"}}' "$ADDR/v1/secret/data/a" >/dev/null
expect_eq "version 4 readable" "$(hcurl -H "$R" "$ADDR/v1/secret/data/a" | j .data.data.v)" four
sleep 4
expect_eq "version 4 expired on the wall clock while cached" "$(status_of -H "$R" "$ADDR/v1/secret/data/a")" 404
expect_eq "soft delete b" "$(status_of -H "$R" -X DELETE "$ADDR/v1/secret/data/b")" 204
expect_eq "deleted b is 404" "$(status_of -H "$R" "$ADDR/v1/secret/data/b")" 404
expect_eq "undelete b" "$(status_of -H "$R" -X POST -d '{"versions":[1]}' "$ADDR/v1/secret/undelete/b")" 204
expect_eq "b readable again" "$(hcurl -H "$R" "$ADDR/v1/secret/data/b" | j .data.data.v)" bee
expect_eq "destroy b" "$(status_of -H "$R" -X POST -d '{"versions":[1]}' "$ADDR/v1/secret/destroy/b")" 204
expect_eq "destroyed b is 404" "$(status_of -H "$R" "$ADDR/v1/secret/data/b")" 404
expect_eq "destroyed in the metadata" "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/b" | j '.data.versions."1".destroyed')" true
expect_eq "delete b's metadata" "$(status_of -H "$R" -X DELETE "$ADDR/v1/secret/metadata/b")" 204
expect_eq "b is gone" "$(status_of -H "$R" "$ADDR/v1/secret/metadata/b")" 404
hcurl -H "$R" -X PUT -d '{"data":{"v":"new-b"}}' "$ADDR/v1/secret/data/b" >/dev/null
G=$(hcurl -H "$R" "$ADDR/v1/secret/data/b")
expect_eq "re-created b starts at version 1" "$(echo "$G" | j .data.metadata.version)$(echo "$G" | j .data.data.v)" 1new-b

# -- readers racing a writer see matching data and metadata
hcurl -H "$R" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/race" >/dev/null
: >"$D/race"
pids=""
i=0
while [ $i -lt 12 ]; do
    if [ $((i % 4)) = 0 ]; then
        hcurl -H "$R" -X PUT -d "{\"data\":{\"v\":\"$((i + 2))\"}}" "$ADDR/v1/secret/data/race" >/dev/null &
    else
        (hcurl -H "$R" "$ADDR/v1/secret/data/race" | jq -r '.data.metadata.version' >>"$D/race") &
    fi
    pids="$pids $!"
    i=$((i + 1))
done
# shellcheck disable=SC2086 # one PID per word
wait $pids
expect_eq "9 racing reads answered" "$(grep -c '^[0-9]' "$D/race")" 9
expect_eq "the last write is read after the race" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/race" | j .data.current_version)" 4

# -- seal drops everything; after unseal nothing old is served
check "entries cached before seal" test "$(metric tresor_api_cache_entries)" -ge 3
c0=$(metric tresor_api_cache_clears_total)
expect_eq "seal" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
expect_eq "sealed read is 503" "$(status_of -H "$R" "$ADDR/v1/secret/data/b")" 503
expect_eq "unseal" "$(hcurl -X PUT -d "{\"key\":\"$SHARE\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
# the metrics call itself caches its token and ACL, nothing else can be there
M=$(hcurl -H "$R" "$ADDR/v1/sys/metrics")
check "cache cleared by seal and open" test "$(echo "$M" | sed -n 's/^tresor_api_cache_clears_total //p')" -gt "$c0"
check "only the metrics call's own entries after unseal" \
    test "$(echo "$M" | sed -n 's/^tresor_api_cache_entries //p')" -le 2
expect_eq "data after unseal" "$(hcurl -H "$R" "$ADDR/v1/secret/data/b" | j .data.data.v)" new-b
expect_eq "revoked token still 403 after unseal" "$(read_as "$T3" secret/data/a)" 403

finish
