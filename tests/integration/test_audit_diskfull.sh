#!/bin/sh
# The audit file cannot be written (its disk is full) under a running server: fail closed. Every
# audited request is refused with 503 and its answer never leaves (no secret in the body), no
# write is performed, the server keeps serving its unaudited endpoints, and once space is back
# it serves again with an intact chain, before and after a restart.
# The audit file lives on a small tmpfs (needs root and mount permission).
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
# lacks DESC TEXT: TEXT holds no canary
lacks() { case "$2" in *CANARY*) not_ok "$1" ;; *) ok "$1" ;; esac; }

D=$(tmpdir)
tmpfs_mount "$D/small" 1m

start_prod "$D" devkey || exit 1
stop_prod
sed -i "s|path: $D/audit.log|path: $D/small/audit.log|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
R="X-Vault-Token: $(echo "$INIT" | j .root_token)"
hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
hcurl -H "$R" -X PUT -d '{"data":{"v":"CANARY-full-4471"}}' "$ADDR/v1/secret/data/a" >/dev/null
expect_eq "audited read works" "$(hcurl -H "$R" "$ADDR/v1/secret/data/a" | j .data.data.v)" CANARY-full-4471
check "the audit file is on the small disk" test -s "$D/small/audit.log"

# Fill the disk. The audit file's last page may still take a line or two: read until refused.
dd if=/dev/zero of="$D/small/fill" bs=4k 2>/dev/null
code=200
i=0
while [ "$code" = 200 ] && [ $i -lt 50 ]; do
    out=$(curl -sS -m 20 --cacert "$CA" -H "$R" -w '\n%{http_code}' "$ADDR/v1/secret/data/a")
    code=$(echo "$out" | tail -1)
    i=$((i + 1))
done
expect_eq "with the audit disk full, a KV read is refused with 503" "$code" 503
expect_contains "with a clear message" "$out" "audit log unavailable"
lacks "and the secret does not leave" "$out"
out=$(curl -sS -m 20 --cacert "$CA" -H "$R" -w '\n%{http_code}' "$ADDR/v1/secret/data/a")
expect_eq "refused every time" "$(echo "$out" | tail -1)" 503
lacks "still no secret" "$out"
expect_eq "a write is refused too" "$(status_of -H "$R" -X PUT -d '{"data":{"v":"x"}}' "$ADDR/v1/secret/data/b")" 503
expect_eq "sys/health still answers" "$(status_of "$ADDR/v1/sys/health")" 200
expect_eq "seal-status still answers" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" false
check "no partial line left (the chain verifies while full)" "$TRESORD" -audit-verify "$D/small/audit.log"

# Space is back: the device was left usable (failed writes left the file as it was).
rm -f "$D/small/fill"
expect_eq "reads are served again once space is back" "$(hcurl -H "$R" "$ADDR/v1/secret/data/a" | j .data.data.v)" CANARY-full-4471
expect_eq "the refused write was not performed" "$(status_of -H "$R" "$ADDR/v1/secret/data/b")" 404
check "the chain verifies" "$TRESORD" -audit-verify "$D/small/audit.log"
check "no secret in clear in the audit log" sh -c "! grep -q CANARY '$D/small/audit.log'"
stop_prod
expect_eq "clean shutdown" "$?" 0
restart_prod "$D" || exit 1
expect_eq "after a restart the audited read works" "$(hcurl -H "$R" "$ADDR/v1/secret/data/a" | j .data.data.v)" CANARY-full-4471
stop_prod
check "and the chain still verifies" "$TRESORD" -audit-verify "$D/small/audit.log"
check "tresor audit verify agrees" "$TRESOR" audit verify "$D/small/audit.log"
finish
