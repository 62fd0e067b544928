#!/bin/sh
# A full disk under a running server: the write that does not fit fails with a clear 503, is
# never acknowledged, earlier secrets stay readable, the server keeps serving, and after a
# restart every acknowledged write is present without a false rollback/tamper alarm.
# The data directory lives on a small tmpfs (needs root and mount permission).
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }

D=$(tmpdir)
tmpfs_mount "$D/small" 6m

start_prod "$D" devkey || exit 1
stop_prod
sed -i "s|path: $D/store|path: $D/small/store|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
R="X-Vault-Token: $(echo "$INIT" | j .root_token)"
hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
BIG=$(head -c 150000 /dev/zero | tr '\0' x)
: >"$D/acked"
last=""
i=0
while [ $i -lt 200 ]; do
    i=$((i + 1))
    printf '{"data":{"v":"%s","n":"%s"}}' "$BIG" "$i" >"$D/body"
    out=$(curl -sS -m 20 --cacert "$CA" -H "$R" -w '\n%{http_code}' -X PUT --data-binary @"$D/body" "$ADDR/v1/secret/data/k$i")
    code=$(echo "$out" | tail -1)
    if [ "$code" = 200 ]; then
        echo "k$i" >>"$D/acked"
    else
        last=$(echo "$out" | head -1)
        break
    fi
done
check "the disk filled up after some writes ($(wc -l <"$D/acked") acknowledged)" test -n "$last"
expect_eq "the failed write is a 503" "$code" 503
expect_contains "with a clear message" "$last" "no space left on storage"
expect_eq "earlier secrets stay readable" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.n)" 1
expect_eq "still serving" "$(status_of "$ADDR/v1/sys/health")" 200
expect_eq "the failed key was not written" "$(status_of -H "$R" "$ADDR/v1/secret/data/k$i")" 404
small=$(curl -sS -m 20 --cacert "$CA" -H "$R" -o /dev/null -w '%{http_code}' -X PUT -d '{"data":{"s":"1"}}' "$ADDR/v1/secret/data/small")
case "$small" in 200 | 503) ok "a small write answers cleanly ($small)" ;; *) not_ok "small write: $small" ;; esac
stop_prod
expect_eq "clean shutdown with a full disk" "$?" 0
restart_prod "$D" || exit 1
expect_eq "reopens without a false alarm" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" false
missing=0
while read -r k; do
    [ "$(status_of -H "$R" "$ADDR/v1/secret/data/$k")" = 200 ] || missing=$((missing + 1))
done <"$D/acked"
expect_eq "every acknowledged write survived" "$missing" 0
stop_prod
finish
