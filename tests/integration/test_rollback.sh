#!/bin/sh
# Freshness end to end: a restored copy of the data directory is refused (TPM NV counter on a
# real swtpm), recovery needs the recovery share and re-anchors explicitly, restoring only the
# database is refused with the file counter too, and kill -9 under concurrent writes never
# loses an acknowledged write.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }

# ---- A: TPM seal + TPM NV counter, whole data directory rolled back -------------------------
D=$(tmpdir)
start_swtpm "$D/tpm" || { echo "swtpm did not start"; exit 1; }
start_dev "$D" || exit 1
kill -TERM "$PID"; wait "$PID" 2>/dev/null
mkdir -p "$D/tls" && cp "$D/data/tls/"* "$D/tls/"
CA="$D/tls/ca.crt"
cat >"$D/tresor.yaml" <<YAML
listener: { address: "127.0.0.1:0", tls_cert_file: $D/tls/server.crt, tls_key_file: $D/tls/server.key }
storage: { path: $D/store }
seal: { type: tpm2, tpm2: { tcti: "$TCTI" } }
counter: { type: tpm2, tpm2: { tcti: "$TCTI", nv_index: 0x01500020 } }
YAML
restart_prod "$D" || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | j .root_token)
RKEY=$(echo "$INIT" | j '.recovery_keys[0]')
check "tpm2 init returns a recovery key" test -n "$RKEY" -a "$RKEY" != null
expect_eq "tpm2 seal auto-unseals after init" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" false
R="X-Vault-Token: $ROOT"
hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
hcurl -H "$R" -X PUT -d '{"data":{"v":"one"}}' "$ADDR/v1/secret/data/k1" >/dev/null
stop_prod
cp -a "$D/store" "$D/store.bak"
restart_prod "$D" || exit 1
expect_eq "restart auto-unseals with the TPM" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one
hcurl -H "$R" -X PUT -d '{"data":{"v":"two"}}' "$ADDR/v1/secret/data/k2" >/dev/null
hcurl -H "$R" -X PUT -d '{"data":{"v":"deleted-later"}}' "$ADDR/v1/secret/data/k3" >/dev/null
stop_prod
rm -rf "$D/store" && cp -a "$D/store.bak" "$D/store"
restart_prod "$D" || exit 1
SS=$(hcurl "$ADDR/v1/sys/seal-status")
expect_eq "restored copy is refused" "$(echo "$SS" | j .sealed)" true
expect_eq "reason rollback_detected" "$(echo "$SS" | j .sealed_reason)" rollback_detected
expect_eq "evidence shows the verdict" "$(echo "$SS" | j .storage_evidence.verdict)" rollback_detected
check "evidence counter is ahead of the anchor" test "$(echo "$SS" | j .storage_evidence.counter)" -gt "$(echo "$SS" | j .storage_evidence.anchor_counter)"
expect_eq "reads refused while rolled back" "$(status_of -H "$R" "$ADDR/v1/secret/data/k1")" 503
check "the log names the rollback" grep -q "rollback detected" "$LOG"
expect_eq "recovery with a wrong key fails" "$(status_of -X PUT -d '{"key":"00000000000000000000000000000000000000000000000000000000000000"}' "$ADDR/v1/sys/storage/recover")" 400
RC=$(hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/storage/recover")
expect_eq "recovery with the recovery key re-anchors" "$(echo "$RC" | j .complete)" true
expect_eq "serving the recovered state" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one
expect_eq "writes after the backup are gone (explicitly accepted)" "$(status_of -H "$R" "$ADDR/v1/secret/data/k2")" 404
stop_prod
restart_prod "$D" || exit 1
expect_eq "re-anchored store opens normally" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one
stop_prod

# ---- A2: a changed PCR refuses auto-unseal; the recovery share still opens the store ------
P=$(tmpdir)
start_swtpm "$P/tpm" || { echo "swtpm did not start"; exit 1; }
mkdir -p "$P/tls" && cp "$D/tls/"* "$P/tls/"
cat >"$P/tresor.yaml" <<YAML
listener: { address: "127.0.0.1:0", tls_cert_file: $P/tls/server.crt, tls_key_file: $P/tls/server.key }
storage: { path: $P/store }
seal: { type: tpm2, tpm2: { tcti: "$TCTI", pcrs: [16] } }
counter: { type: tpm2, tpm2: { tcti: "$TCTI" } }
YAML
restart_prod "$P" || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
PKEY=$(echo "$INIT" | j '.recovery_keys[0]')
PR="X-Vault-Token: $(echo "$INIT" | j .root_token)"
hcurl -H "$PR" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
hcurl -H "$PR" -X PUT -d '{"data":{"v":"pcr"}}' "$ADDR/v1/secret/data/p" >/dev/null
stop_prod
TSS2_LOG=all+none tpm2_pcrextend -T "$TCTI" "16:sha256=$(printf '%064d' 1)" >/dev/null 2>&1
restart_prod "$P" || exit 1
expect_eq "changed PCR: auto-unseal refused" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" true
check "the log says why" grep -q "PCR policy not satisfied" "$LOG"
expect_eq "recovery share unseals" "$(hcurl -X PUT -d "{\"key\":\"$PKEY\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
expect_eq "data intact after recovery unseal" "$(hcurl -H "$PR" "$ADDR/v1/secret/data/p" | j .data.data.v)" pcr
stop_prod

# ---- B: file counter, only the database file rolled back ---------------------------------
E=$(tmpdir)
start_prod "$E" devkey || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | j .root_token)
R="X-Vault-Token: $ROOT"
hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
hcurl -H "$R" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/a" >/dev/null
stop_prod
cp "$E/store/data.mdb" "$E/old.mdb"
restart_prod "$E" || exit 1
hcurl -H "$R" -X DELETE "$ADDR/v1/secret/metadata/a" >/dev/null
stop_prod
cp "$E/old.mdb" "$E/store/data.mdb"
restart_prod "$E" || exit 1
expect_eq "a deleted secret brought back is refused" "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed_reason)" rollback_detected
stop_prod

# ---- C: kill -9 under concurrent writes; every acknowledged write survives ------------------
F=$(tmpdir)
start_prod "$F" devkey || exit 1
ROOT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init" | j .root_token)
R="X-Vault-Token: $ROOT"
hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
: >"$F/ledger"
CYCLES=${TR_KILL_CYCLES:-20}
c=0
while [ $c -lt "$CYCLES" ]; do
    c=$((c + 1))
    WPIDS=""
    for w in 1 2 3 4; do
        (
            n=0
            while [ $n -lt 200 ]; do
                n=$((n + 1))
                k="c$c-w$w-$n"
                code=$(curl -sS -m 2 --cacert "$CA" -H "$R" -o /dev/null -w '%{http_code}' \
                    -X PUT -d "{\"data\":{\"v\":\"$k\"}}" "$ADDR/v1/secret/data/$k" 2>/dev/null)
                [ "$code" = 200 ] && echo "$k" >>"$F/ledger"
                [ "$code" = 000 ] && break
            done
        ) &
        WPIDS="$WPIDS $!"
    done
    sleep "0.$(shuf -i 2-9 -n 1)"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null
    for p in $WPIDS; do wait "$p"; done
    restart_prod "$F" || { not_ok "restart after kill -9 (cycle $c)"; break; }
    # devkey auto-unseals; the store must open without a false alarm
    if [ "$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed)" != false ]; then
        not_ok "store opens after kill -9 (cycle $c): $(hcurl "$ADDR/v1/sys/seal-status")"
        break
    fi
done
acked=$(wc -l <"$F/ledger")
missing=0
while read -r k; do
    v=$(hcurl -H "$R" "$ADDR/v1/secret/data/$k" | j .data.data.v)
    [ "$v" = "$k" ] || missing=$((missing + 1))
done <"$F/ledger"
check "kill -9 x$CYCLES: acked writes recorded ($acked)" test "$acked" -gt 0
expect_eq "every acknowledged write is present and readable" "$missing" 0
stop_prod
finish
