#!/bin/sh
# The audit chain's head anchored in the rollback-protected store (api/audit_anchor.h,
# docs/threat-model.md): a file cut after any anchored line, emptied, swapped for an older copy
# or rewritten with a recomputed chain still passes `tresor audit verify`, but the restarted
# server refuses it (sealed, tamper_detected, audit_evidence in seal-status) until storage
# recovery with the recovery share adopts the file; restarts, kill -9 and read-only traffic
# never raise a false alarm. A real config-file tresord (devkey seal, file counter, audit file,
# anchor every 200 ms) over TLS, driven with curl.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl python3

D=$(tmpdir)
A="$D/audit.log"
start_prod "$D" devkey || exit 1
stop_prod
sed -i "s|^  path: $A\$|  path: $A\n  anchor_interval_ms: 200|" "$D/tresor.yaml"
check "config sets the anchor interval" grep -q "anchor_interval_ms: 200" "$D/tresor.yaml"
restart_prod "$D" || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | j .root_token)
RKEY=$(echo "$INIT" | j '.recovery_keys[0]')
R="X-Vault-Token: $ROOT"
hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
for i in 1 2 3 4 5; do
    hcurl -H "$R" -X PUT -d "{\"data\":{\"v\":\"s$i\"}}" "$ADDR/v1/secret/data/k$i" >/dev/null
done
expect_eq "audited read works" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" s1

lines() { wc -l <"$A" | tr -d ' '; }
sealed_state() { hcurl "$ADDR/v1/sys/seal-status" | j '[.sealed, .sealed_reason] | join(",")'; }
recover() {
    hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/storage/recover" | j .complete
}

# -- a clean stop anchors the last line; restarts raise no alarm
stop_prod
N=$(lines)
check "the stopped server's file verifies ($N lines)" "$TRESOR" audit verify "$A"
restart_prod "$D" || exit 1
expect_eq "a clean restart opens" "$(sealed_state)" "false,"
expect_eq "and serves" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k2" | j .data.data.v)" s2
stop_prod

# -- cut the last lines off: the chain still verifies, the server refuses it
cp "$A" "$D/full.log"
head -n $((N - 4)) "$D/full.log" >"$A"
check "the cut file still verifies on its own (the chain cannot tell)" "$TRESOR" audit verify "$A"
restart_prod "$D" || exit 1
SS=$(hcurl "$ADDR/v1/sys/seal-status")
expect_eq "cut file: sealed, tamper_detected" "$(echo "$SS" | j '[.sealed, .sealed_reason] | join(",")')" "true,tamper_detected"
expect_eq "evidence: the verdict" "$(echo "$SS" | j .audit_evidence.verdict)" tamper_detected
expect_eq "evidence: the cause" "$(echo "$SS" | j .audit_evidence.cause)" "the file ends before the anchored line"
check "evidence: the anchored line is past the file's end" \
    test "$(echo "$SS" | j .audit_evidence.anchored_seq)" -gt "$(echo "$SS" | j .audit_evidence.file_seq)"
expect_eq "evidence: the file's last line" "$(echo "$SS" | j .audit_evidence.file_seq)" $((N - 4))
expect_eq "evidence: a hash prefix only" "$(echo "$SS" | j '.audit_evidence.anchored_hash | length')" 16
expect_eq "no storage evidence: the store itself is intact" "$(echo "$SS" | j .storage_evidence)" null
ST=$("$TRESOR" status -address="$ADDR" -ca-cert="$CA" 2>&1)
expect_eq "tresor status exits 2 (sealed)" "$?" 2
expect_contains "tresor status gives the reason" "$ST" "tamper_detected"
expect_contains "and the audit evidence" "$ST" '"cause":"the file ends before the anchored line"'
expect_eq "secrets refused meanwhile" "$(status_of -H "$R" "$ADDR/v1/secret/data/k1")" 503
check "the log says what was found" grep -q "does not hold the anchored line" "$LOG"
expect_eq "an unseal does not get past it" \
    "$(hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/unseal" | j .sealed)" true
expect_eq "a wrong recovery key is refused" \
    "$(status_of -X PUT -d '{"key":"00000000000000000000000000000000000000000000000000000000000000"}' "$ADDR/v1/sys/storage/recover")" 400
expect_eq "recovery with the recovery key adopts the file" "$(recover)" true
expect_eq "serving again" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k3" | j .data.data.v)" s3
check "the log names the adoption" grep -q "storage recovery adopted the audit file" "$LOG"
expect_eq "evidence gone once recovered" "$(hcurl "$ADDR/v1/sys/seal-status" | j .audit_evidence)" null
stop_prod
check "the adopted file, continued, verifies" "$TRESOR" audit verify "$A"
restart_prod "$D" || exit 1
expect_eq "the adopted head opens without an alarm" "$(sealed_state)" "false,"
stop_prod

# -- an empty file (deleted and recreated) is refused as well
: >"$A"
restart_prod "$D" || exit 1
expect_eq "emptied file: sealed, tamper_detected" "$(sealed_state)" "true,tamper_detected"
expect_eq "evidence: empty" "$(hcurl "$ADDR/v1/sys/seal-status" | j .audit_evidence.file_seq)" 0
expect_eq "recovered" "$(recover)" true
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
stop_prod

# -- an older copy swapped in (a prefix of today's file) is refused
cp "$A" "$D/old.log"
restart_prod "$D" || exit 1
for i in 1 2 3; do hcurl -H "$R" "$ADDR/v1/secret/data/k$i" >/dev/null; done
stop_prod
cp "$D/old.log" "$A"
check "the older copy verifies on its own" "$TRESOR" audit verify "$A"
restart_prod "$D" || exit 1
expect_eq "older copy: sealed, tamper_detected" "$(sealed_state)" "true,tamper_detected"
expect_eq "recovered" "$(recover)" true
for i in 1 2 3; do hcurl -H "$R" "$ADDR/v1/secret/data/k$i" >/dev/null; done
stop_prod

# -- a rewritten file: the line of the first read of k1 changed, and the chain recomputed after it
# (four more lines follow). Same length (a path replaced by one of equal size), so the anchored
# last line is where it was, but its prev_hash is not.
cat >"$D/forge.py" <<'PY'
import hashlib, json, sys
path = sys.argv[1]
lines = open(path, "rb").read().split(b"\n")[:-1]
def dump(o):
    return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
out, prev, done, after = [], "0" * 64, False, 0
for raw in lines:
    e = json.loads(raw)
    path_ = e.get("request", {}).get("path", "")
    if not done and path_ == "secret/data/k1" and e["type"] == "response":
        e["request"]["path"] = "secret/data/k9"  # hide who read k1
        done = True
    else:
        after += done
    e["prev_hash"] = prev
    e.pop("hash", None)
    e["hash"] = hashlib.sha256(dump(e)).hexdigest()
    line = dump(e)
    prev = hashlib.sha256(line).hexdigest()
    out.append(line)
open(path, "wb").write(b"\n".join(out) + b"\n")
print(after if done else "nothing to forge")
PY
cp "$A" "$D/before-forge.log"
AFTER=$(python3 "$D/forge.py" "$A")
check "the forger changed a line with 4 or more after it (got: $AFTER)" test "$AFTER" -ge 4 2>/dev/null
check "the forged file is not the original" sh -c "! cmp -s '$A' '$D/before-forge.log'"
expect_eq "and has the same size" "$(stat -c %s "$A")" "$(stat -c %s "$D/before-forge.log")"
check "the recomputed chain verifies on its own" "$TRESOR" audit verify "$A"
restart_prod "$D" || exit 1
expect_eq "forged file: sealed, tamper_detected" "$(sealed_state)" "true,tamper_detected"
expect_eq "evidence: another line at the anchored place" \
    "$(hcurl "$ADDR/v1/sys/seal-status" | j .audit_evidence.cause)" \
    "the line at the anchored place is not the anchored line"
stop_prod
cp "$D/before-forge.log" "$A"
restart_prod "$D" || exit 1
expect_eq "the original file put back opens without recovery" "$(sealed_state)" "false,"

# -- while running: read-only traffic is anchored within the interval; kill -9 then no alarm
B=$(lines)
for i in 1 2 3 4 5 6; do hcurl -H "$R" "$ADDR/v1/secret/data/k$i" >/dev/null; done
sleep 1
kill -9 "$PID"
wait "$PID" 2>/dev/null
check "lines were added by reads" test "$(lines)" -gt "$B"
cp "$A" "$D/killed.log"
restart_prod "$D" || exit 1
expect_eq "after kill -9 the file opens without an alarm" "$(sealed_state)" "false,"
kill -9 "$PID"
wait "$PID" 2>/dev/null
head -n "$B" "$D/killed.log" >"$A"
restart_prod "$D" || exit 1
expect_eq "reads anchored before the kill: cutting them is found" "$(sealed_state)" "true,tamper_detected"
expect_eq "recovered" "$(recover)" true
stop_prod

# -- audit switched off in the config: the server starts and says the head is not checked
cp "$D/tresor.yaml" "$D/with-audit.yaml"
sed -i '/^audit:/,$d' "$D/tresor.yaml"
restart_prod "$D" || exit 1
expect_eq "without an audit file it opens" "$(sealed_state)" "false,"
check "and warns that the anchored head goes unchecked" grep -q "no audit file is configured" "$LOG"
stop_prod
cp "$D/with-audit.yaml" "$D/tresor.yaml"
restart_prod "$D" || exit 1
expect_eq "audit back on: the file still holds the anchored line" "$(sealed_state)" "false,"
stop_prod
check "the final file verifies" "$TRESOR" audit verify "$A"
finish
