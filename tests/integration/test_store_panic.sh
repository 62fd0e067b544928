#!/bin/sh
# A failed write of LMDB's meta page (a failing device): LMDB then refuses every transaction
# (MDB_PANIC) until the environment is opened again. The server must not stay "unsealed" while
# every request fails: the store refuses all work and the core seals (sealed_reason fatal_error);
# the failed write is never acknowledged; unsealing opens the data directory again and verifies it,
# and everything acknowledged before is there. The meta write is failed for real, inside LMDB,
# by an LD_PRELOAD shim (tests/preload/tr_failmeta.c) on a config-file server (devkey seal, file
# counter, no audit device so that no anchoring commits in between), driven with curl over TLS.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl cc

D=$(tmpdir)
SHIM="$D/tr_failmeta.so"
cc -shared -fPIC -O1 -Wall -Wextra -Werror -o "$SHIM" "$(dirname "$0")/../preload/tr_failmeta.c" -ldl ||
    { echo "cannot build the preload shim"; exit 1; }
start_prod "$D" devkey || exit 1
stop_prod
sed -i '/^audit:/,$d' "$D/tresor.yaml"
# the server runs with the shim; it fails short data.mdb writes only while $D/fail exists
REAL=$TRESORD
cat >"$D/tresord-shim" <<EOF
#!/bin/sh
LD_PRELOAD="$SHIM" exec "$REAL" "\$@"
EOF
chmod +x "$D/tresord-shim"
TRESORD="$D/tresord-shim"
export TR_FAILMETA_FLAG="$D/fail"
# an ASan build's runtime must come first in the library list; the shim is not instrumented
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
restart_prod "$D" || exit 1

init_devkey
expect_eq "a write before the failure" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one

# ---- the meta page write fails ------------------------------------------------------------------
touch "$D/fail"
code=$(status_of -H "$R" -X PUT -d '{"data":{"v":"two"}}' "$ADDR/v1/secret/data/k2")
check "the write whose meta page failed is not acknowledged ($code)" test "$code" != 200
check "the log says why, once" test "$(grep -c 'LMDB stopped after a failed write of its meta page' "$LOG")" -eq 1
expect_eq "the server seals: fatal_error" \
    "$(hcurl "$ADDR/v1/sys/seal-status" | j '[.sealed, .sealed_reason] | join(",")')" "true,fatal_error"
expect_eq "reads get 503 sealed, not an error each" "$(status_of -H "$R" "$ADDR/v1/secret/data/k1")" 503
expect_eq "... Vault is sealed" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j '.errors[0]')" "Vault is sealed"
expect_eq "sys/health: 503 (sealed), for probes" "$(status_of "$ADDR/v1/sys/health")" 503
check "the server keeps running" kill -0 "$PID"

# ---- the device works again: unsealing opens the directory again and verifies it ---------------
rm -f "$D/fail"
expect_eq "unseal with the recovery key" \
    "$(hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
check "the failed store was closed and verified again" grep -q "the open store refuses writes" "$LOG"
expect_eq "what was acknowledged before is there" \
    "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one
code=$(status_of -H "$R" "$ADDR/v1/secret/data/k2")
check "the failed write is absent ($code), or whole if its pages made it" \
    sh -c "[ '$code' = 404 ] || [ \"\$(curl -sS --cacert '$CA' -H '$R' '$ADDR/v1/secret/data/k2' | jq -r .data.data.v)\" = two ]"
expect_eq "writes work again" \
    "$(status_of -H "$R" -X PUT -d '{"data":{"v":"three"}}' "$ADDR/v1/secret/data/k3")" 200
expect_eq "and read back" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k3" | j .data.data.v)" three
stop_prod
restart_prod "$D" || exit 1
expect_eq "a restart opens clean (no false alarm)" \
    "$(hcurl "$ADDR/v1/sys/seal-status" | j '[.sealed, (.sealed_reason // "")] | join(",")')" "false,"
expect_eq "k1 after the restart" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one
expect_eq "k3 after the restart" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k3" | j .data.data.v)" three
stop_prod
finish
