#!/bin/sh
# API limits and lifetimes over real TLS: token lifetimes and limits (TTL caps and
# overflow, renewals, expired parents, limited-use parents, orphan/periodic privileges, revoking
# what is gone), the LIST-vs-deny ACL bypass (GHSA-xp3c-3jw3-4vcr), and KV v2 edge cases
# (soft delete with delete_version_after, duration overflow, metadata PATCH limits). Each check
# states Vault's behaviour (vault-api.md §3, §4, §6; security.md #7, #13).
. "$(dirname "$0")/lib.sh"

D=$(tmpdir)
start_dev "$D" || exit 1
ROOT=$(dev_root)
R="X-Vault-Token: $ROOT"
MAXTTL=2764800 # 768h: Vault's system max TTL

j() { jq -r "$1"; }
policy() { jq -n --arg p "$2" '{policy:$p}' | status_of -H "$R" -X PUT --data-binary @- "$ADDR/v1/sys/policies/acl/$1"; }
# mint [TOKEN] BODY: create a token as TOKEN (default root); prints the whole answer
mint() {
    if [ $# -eq 2 ]; then
        hcurl -H "X-Vault-Token: $1" -X POST -d "$2" "$ADDR/v1/auth/token/create"
    else
        hcurl -H "$R" -X POST -d "$1" "$ADDR/v1/auth/token/create"
    fi
}
read_as() { status_of -H "X-Vault-Token: $1" "$ADDR/v1/$2"; }
le() { [ "$1" -le "$2" ] 2>/dev/null; }

expect_eq "policy app (read secret, create tokens)" "$(policy app 'path "secret/data/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }')" 204
hcurl -H "$R" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/x" >/dev/null

# -- TTLs are capped at the system max (768h) and cannot overflow into "never expires"
C=$(mint '{"ttl":"100000h"}')
check "ttl above the max is capped at 768h ($(echo "$C" | j .auth.lease_duration))" \
    le "$(echo "$C" | j .auth.lease_duration)" $MAXTTL
C=$(mint '{"ttl":9223372036854775807}')
T=$(echo "$C" | j .auth.client_token)
check "ttl INT64_MAX gives a token that expires ($(echo "$C" | j .auth.lease_duration))" \
    le "$(echo "$C" | j .auth.lease_duration)" $MAXTTL
expect_eq "... and its lookup has an expire_time" \
    "$(hcurl -H "X-Vault-Token: $T" "$ADDR/v1/auth/token/lookup-self" | j '.data.expire_time | type')" string
C=$(mint '{"explicit_max_ttl":9223372036854775807}')
check "explicit_max_ttl INT64_MAX: token still expires" \
    test "$(hcurl -H "X-Vault-Token: $(echo "$C" | j .auth.client_token)" "$ADDR/v1/auth/token/lookup-self" | j .data.expire_time)" != null
C=$(mint '{"period":9223372036854775807}')
check "period INT64_MAX refused or expiring ($(echo "$C" | jq -c '.errors // .auth.lease_duration'))" \
    sh -c '[ "$(echo "$1" | jq -r ".errors | length")" -gt 0 ] 2>/dev/null ||
           [ "$(echo "$1" | jq -r .auth.lease_duration)" -gt 0 ]' _ "$C"

# -- as Vault, a root child asked for without any TTL never expires and is not renewable, and
#    an expiring root token cannot make one
C=$(mint '{}')
expect_eq "root child without ttl: lease_duration 0 (never expires)" "$(echo "$C" | j .auth.lease_duration)" 0
expect_eq "... not renewable" "$(echo "$C" | j .auth.renewable)" false
expect_eq "... its lookup has no expire_time" \
    "$(hcurl -H "X-Vault-Token: $(echo "$C" | j .auth.client_token)" "$ADDR/v1/auth/token/lookup-self" | j .data.expire_time)" null
RT=$(mint '{"ttl":"1h"}' | j .auth.client_token)
expect_contains "an expiring root token cannot make a non-expiring one" "$(mint "$RT" '{}')" \
    "expiring root tokens cannot create non-expiring root tokens"
check "... but can make one with a ttl" test "$(mint "$RT" '{"ttl":"10m"}' | j .auth.lease_duration)" = 600

# -- renewals never extend a token past creation + max TTL (CVE-2021-32923 class)
T=$(mint '{"ttl":"1h"}' | j .auth.client_token)
RS=$(hcurl -H "X-Vault-Token: $T" -X POST -d '{"increment":"100000h"}' "$ADDR/v1/auth/token/renew-self")
check "renew-self with a huge increment stays within 768h ($(echo "$RS" | j .auth.lease_duration))" \
    le "$(echo "$RS" | j .auth.lease_duration)" $MAXTTL
RS=$(hcurl -H "X-Vault-Token: $T" -X POST -d '{"increment":9223372036854775807}' "$ADDR/v1/auth/token/renew-self")
check "renew-self with increment INT64_MAX stays within 768h ($(echo "$RS" | jq -c '.auth.lease_duration // .errors'))" \
    le "$(echo "$RS" | j '.auth.lease_duration // 0')" $MAXTTL
expect_eq "... and the token still expires" \
    "$(hcurl -H "X-Vault-Token: $T" "$ADDR/v1/auth/token/lookup-self" | j '.data.expire_time | type')" string

# -- an expired token stays dead: renewing it by accessor does not bring it back
C=$(mint '{"ttl":"1s"}')
T=$(echo "$C" | j .auth.client_token)
A=$(echo "$C" | j .auth.accessor)
sleep 2
expect_eq "expired token is refused" "$(read_as "$T" auth/token/lookup-self)" 403
check "renew-accessor of an expired token fails" \
    test "$(status_of -H "$R" -X POST -d "{\"accessor\":\"$A\"}" "$ADDR/v1/auth/token/renew-accessor")" -ge 400
check "renew (by token) of an expired token fails" \
    test "$(status_of -H "$R" -X POST -d "{\"token\":\"$T\"}" "$ADDR/v1/auth/token/renew")" -ge 400
expect_eq "expired token still refused after the renewal attempts" "$(read_as "$T" auth/token/lookup-self)" 403

# -- a child dies with its parent, also when the parent expires (Vault revokes an expired token
#    and its whole tree)
P=$(mint '{"ttl":"2s","policies":["app"]}' | j .auth.client_token)
K=$(mint "$P" '{"ttl":"1h","policies":["app"]}' | j .auth.client_token)
G=$(mint "$K" '{"ttl":"1h","policies":["app"]}' | j .auth.client_token)
expect_eq "child works while the parent lives" "$(read_as "$K" secret/data/x)" 200
expect_eq "grandchild works while the parent lives" "$(read_as "$G" secret/data/x)" 200
sleep 3
expect_eq "parent expired" "$(read_as "$P" secret/data/x)" 403
expect_eq "child of an expired parent is refused" "$(read_as "$K" secret/data/x)" 403
expect_eq "grandchild of an expired parent is refused" "$(read_as "$G" secret/data/x)" 403
expect_eq "lookup of that child: bad token" \
    "$(status_of -H "$R" -X POST -d "{\"token\":\"$K\"}" "$ADDR/v1/auth/token/lookup")" 403
# an orphan made by root outlives a short-lived sibling: only parents matter
ORPH=$(mint '{"ttl":"1h","no_parent":true,"policies":["app"]}')
expect_eq "root may create an orphan with no_parent" "$(echo "$ORPH" | j .auth.orphan)" true
expect_eq "the orphan works" "$(read_as "$(echo "$ORPH" | j .auth.client_token)" secret/data/x)" 200

# -- a limited-use token cannot create children (which would escape its use limit)
L=$(mint '{"num_uses":2,"policies":["app"]}' | j .auth.client_token)
LC=$(mint "$L" '{"policies":["app"]}')
expect_eq "limited-use parent cannot create a child" "$(echo "$LC" | j '.errors[0]')" \
    "restricted use token cannot generate child tokens"
expect_eq "no child token was issued" "$(echo "$LC" | j '.auth.client_token // "none"')" none

# -- orphans and periodic tokens need root or sudo (vault-api.md §4.2)
U=$(mint '{"policies":["app"]}' | j .auth.client_token)
NP=$(mint "$U" '{"no_parent":true,"policies":["app"]}')
expect_eq "no_parent without sudo is refused" "$(echo "$NP" | j '.errors[0]')" \
    "root or sudo privileges required to create orphan token"
PE=$(mint "$U" '{"period":"1h","policies":["app"]}')
expect_eq "period without sudo is refused" "$(echo "$PE" | j '.errors[0]')" \
    "root or sudo privileges required to create periodic token"
expect_eq "policy app-sudo (token create with sudo)" "$(policy app-sudo 'path "secret/data/*" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update", "sudo"] }')" 204
S=$(mint '{"policies":["app-sudo"]}' | j .auth.client_token)
expect_eq "a sudo token may create an orphan" "$(mint "$S" '{"no_parent":true,"policies":["app-sudo"]}' | j .auth.orphan)" true
expect_eq "and a periodic token" "$(mint "$S" '{"period":"1h","policies":["app-sudo"]}' | j .auth.lease_duration)" 3600

# -- policy names are normalised like everywhere else (lower case, trimmed)
C=$(mint '{"policies":["APP"," App "]}')
expect_eq "policy names lower-cased and deduplicated" "$(echo "$C" | j '.auth.policies | join(",")')" "app,default"
expect_eq "the normalised policy applies" "$(read_as "$(echo "$C" | j .auth.client_token)" secret/data/x)" 200
expect_eq "a reserved name in another case is refused for a non-root parent" \
    "$(mint "$U" '{"policies":[" ROOT"]}' | j '.errors | length')" 1

# -- revoking a token that is gone is a success (Vault: 204, `vault token revoke` relies on it)
T=$(mint '{}' | j .auth.client_token)
expect_eq "revoke" "$(status_of -H "$R" -X POST -d "{\"token\":\"$T\"}" "$ADDR/v1/auth/token/revoke")" 204
expect_eq "revoke again (unknown token) is 204" \
    "$(status_of -H "$R" -X POST -d "{\"token\":\"$T\"}" "$ADDR/v1/auth/token/revoke")" 204

# -- LIST on a parent must not bypass a deny on the children's glob (GHSA-xp3c-3jw3-4vcr)
expect_eq "policy lister" "$(policy lister 'path "secret/metadata/*" { capabilities = ["list", "read"] }
path "secret/metadata/private/*" { capabilities = ["deny"] }
path "secret/metadata/open/" { capabilities = ["list"] }
path "secret/metadata/open/*" { capabilities = ["deny"] }')" 204
hcurl -H "$R" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/private/db" >/dev/null
hcurl -H "$R" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/open/db" >/dev/null
LT=$(mint '{"policies":["lister"]}' | j .auth.client_token)
expect_eq "LIST of the mount root allowed" "$(status_of -H "X-Vault-Token: $LT" "$ADDR/v1/secret/metadata/?list=true")" 200
expect_eq "LIST private/ denied (GET ?list)" "$(status_of -H "X-Vault-Token: $LT" "$ADDR/v1/secret/metadata/private/?list=true")" 403
expect_eq "LIST private denied (verb, no slash)" "$(status_of -H "X-Vault-Token: $LT" -X LIST "$ADDR/v1/secret/metadata/private")" 403
expect_eq "read under private denied" "$(status_of -H "X-Vault-Token: $LT" "$ADDR/v1/secret/metadata/private/db")" 403
expect_eq "an exact rule for the listing path still wins" \
    "$(status_of -H "X-Vault-Token: $LT" "$ADDR/v1/secret/metadata/open/?list=true")" 200
CAPS=$(hcurl -H "X-Vault-Token: $LT" -X POST -d '{"paths":["secret/metadata/private/"]}' "$ADDR/v1/sys/capabilities-self")
expect_eq "capabilities-self agrees (deny)" "$(echo "$CAPS" | j '.capabilities | join(",")')" deny

# -- KV v2: soft delete applies to a version with a future deletion time (delete_version_after)
expect_eq "metadata delete_version_after 1h" \
    "$(status_of -H "$R" -X POST -d '{"delete_version_after":"1h"}' "$ADDR/v1/secret/metadata/dva")" 204
hcurl -H "$R" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/dva" >/dev/null
expect_eq "readable before its deletion time" "$(status_of -H "$R" "$ADDR/v1/secret/data/dva")" 200
expect_eq "soft delete" "$(status_of -H "$R" -X DELETE "$ADDR/v1/secret/data/dva")" 204
expect_eq "soft-deleted version is 404" "$(status_of -H "$R" "$ADDR/v1/secret/data/dva")" 404
hcurl -H "$R" -X PUT -d '{"data":{"v":"2"}}' "$ADDR/v1/secret/data/dva" >/dev/null
expect_eq "delete/ of a version with a future deletion time" \
    "$(status_of -H "$R" -X POST -d '{"versions":[2]}' "$ADDR/v1/secret/delete/dva")" 204
expect_eq "... deletes it now" "$(status_of -H "$R" "$ADDR/v1/secret/data/dva?version=2")" 404
expect_eq "undelete brings it back" \
    "$(status_of -H "$R" -X POST -d '{"versions":[2]}' "$ADDR/v1/secret/undelete/dva")" 204
expect_eq "readable again" "$(status_of -H "$R" "$ADDR/v1/secret/data/dva?version=2")" 200

# -- KV v2: delete_version_after too large for nanoseconds must not wrap around
#    (18446744074 s * 1e9 wraps to ~0.29 s: the version would vanish at once)
ST=$(status_of -H "$R" -X POST -d '{"delete_version_after":18446744074}' "$ADDR/v1/secret/metadata/huge")
hcurl -H "$R" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/huge" >/dev/null
sleep 1
check "a huge delete_version_after is refused or keeps the version ($ST, $(status_of -H "$R" "$ADDR/v1/secret/data/huge"))" \
    sh -c '[ "$1" = 400 ] || [ "$2" = 200 ]' _ "$ST" "$(status_of -H "$R" "$ADDR/v1/secret/data/huge")"
expect_eq "mount config refuses it too" \
    "$(status_of -H "$R" -X POST -d '{"delete_version_after":18446744074}' "$ADDR/v1/secret/config")" 400

# -- KV v2 metadata PATCH: null removes a key, and the 64-key limit holds for the merged result
PT='Content-Type: application/merge-patch+json'
hcurl -H "$R" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/cm" >/dev/null
expect_eq "PATCH custom_metadata on a key without any" \
    "$(status_of -H "$R" -H "$PT" -X PATCH -d '{"custom_metadata":{"a":"1","b":null}}' "$ADDR/v1/secret/metadata/cm")" 204
expect_eq "... null members are not stored" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/cm" | jq -c .data.custom_metadata)" '{"a":"1"}'
expect_eq "PATCH with null removes a key" \
    "$(status_of -H "$R" -H "$PT" -X PATCH -d '{"custom_metadata":{"a":null,"c":"3"}}' "$ADDR/v1/secret/metadata/cm")" 204
expect_eq "... leaving the others" "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/cm" | jq -c .data.custom_metadata)" '{"c":"3"}'
M1=$(jq -nc '{custom_metadata: ([range(0;40)] | map({key:"a\(.)", value:"v"}) | from_entries)}')
M2=$(jq -nc '{custom_metadata: ([range(0;40)] | map({key:"b\(.)", value:"v"}) | from_entries)}')
expect_eq "PATCH 40 keys" "$(echo "$M1" | status_of -H "$R" -H "$PT" -X PATCH --data-binary @- "$ADDR/v1/secret/metadata/cm")" 204
expect_eq "PATCH 40 more keys (81 in all) is refused" \
    "$(echo "$M2" | status_of -H "$R" -H "$PT" -X PATCH --data-binary @- "$ADDR/v1/secret/metadata/cm")" 400
check "custom_metadata stays within 64 keys" \
    le "$(hcurl -H "$R" "$ADDR/v1/secret/metadata/cm" | j '.data.custom_metadata | length')" 64

# -- the server survived all of it
expect_eq "still serving" "$(status_of -H "$R" "$ADDR/v1/secret/data/x")" 200
finish
