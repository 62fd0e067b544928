#!/bin/sh
# Hostile and busy cases for the audit head anchored in the rollback-protected store
# (api/audit_anchor.h). False alarms: kill -9 and SIGTERM under concurrent audited reads and
# writes, seal/unseal cycles (shamir), partial last lines, MiB-sized lines, a full audit disk, a
# full data disk, backup + restore + recovery: none may seal with tamper_detected. Bypasses:
# lines anchored before a clean stop (even under load) cannot be cut; a file cut or swapped
# under a sealed (still running) server is refused at unseal with the evidence, and the
# recovery's adoption sticks. Hygiene: the evidence and the log carry no secret. Documented
# limit: an in-place edit of an older line is left to `tresor audit verify`. Real config-file
# tresord over TLS (curl), real LMDB, real files; run it with the SAN binaries too.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl python3
# as tests/run.sh: a leak or sanitizer report at exit makes the server's exit status non-zero
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

lines() { wc -l <"$A" | tr -d ' '; }
sealed_state() { hcurl "$ADDR/v1/sys/seal-status" | j '[.sealed, .sealed_reason] | join(",")'; }
# set_interval DIR MS: anchor every MS ms (the config's audit section)
set_interval() { sed -i "s|^  path: $1/audit.log\$|  path: $1/audit.log\n  anchor_interval_ms: $2|" "$1/tresor.yaml"; }
rnd_sleep() { sleep "0.$(shuf -i 15-95 -n 1)"; }
# kill9: kill -9 the server and reap it
kill9() {
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
}
# load_start: concurrent audited reads and writes against $ADDR until load_stop
LOADP=""
load_start() {
    for w in 1 2 3; do
        (
            while :; do
                curl -s -o /dev/null --max-time 5 --cacert "$CA" -H "$R" "$ADDR/v1/secret/data/k1"
                curl -s -o /dev/null --max-time 5 --cacert "$CA" -H "$R" -X PUT \
                    -d "{\"data\":{\"v\":\"load-$w\"}}" "$ADDR/v1/secret/data/l$w"
            done
        ) &
        LOADP="$LOADP $!"
        T_PIDS="$T_PIDS $!"
    done
}
load_stop() {
    for p in $LOADP; do kill "$p" 2>/dev/null; done
    for p in $LOADP; do wait "$p" 2>/dev/null; done
    LOADP=""
}
recover_with() { hcurl -X PUT -d "{\"key\":\"$1\"}" "$ADDR/v1/sys/storage/recover" | j .complete; }
serves() { [ "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" = one ]; }

# ---- 1. kill -9 at random moments under concurrent audited reads and writes: never an alarm ---
D=$(tmpdir)
A="$D/audit.log"
start_prod "$D" devkey || exit 1
stop_prod
set_interval "$D" 100
restart_prod "$D" || exit 1
init_devkey
alarms=0
opened=0
c=0
while [ $c -lt 6 ]; do
    c=$((c + 1))
    load_start
    rnd_sleep
    kill9
    load_stop
    restart_prod "$D" || exit 1
    st=$(sealed_state)
    if [ "$st" = "false," ] && serves; then opened=$((opened + 1)); else
        alarms=$((alarms + 1))
        echo "# kill -9 cycle $c: restart state '$st'"
    fi
done
expect_eq "6 kill -9 under load: every restart opens and serves" "$opened/$alarms" "6/0"
check "the killed-and-restarted file verifies ($(lines) lines)" "$TRESOR" audit verify "$A"

# ---- 2. SIGTERM under load: exit 0, and every line is anchored (a clean stop leaves none) -----
c=0
good=0
while [ $c -lt 3 ]; do
    c=$((c + 1))
    load_start
    rnd_sleep
    kill -TERM "$PID"
    wait "$PID"
    rc=$?
    load_stop
    N=$(lines)
    cp "$A" "$D/full.log"
    head -n $((N - 1)) "$D/full.log" >"$A"
    restart_prod "$D" || exit 1
    cut=$(sealed_state)
    kill9
    cp "$D/full.log" "$A"
    restart_prod "$D" || exit 1
    back=$(sealed_state)
    if [ "$rc" = 0 ] && [ "$cut" = "true,tamper_detected" ] && [ "$back" = "false," ] && serves; then
        good=$((good + 1))
    else
        echo "# SIGTERM cycle $c: exit $rc, last line cut: '$cut', file put back: '$back'"
    fi
done
expect_eq "SIGTERM under load x3: exit 0, cutting the last line is found, the whole file opens" "$good" 3

# ---- 3. a partial last line (a write cut short) is cut at restart, not taken for tampering ----
stop_prod
printf '{"type":"response","partial' >>"$A"
restart_prod "$D" || exit 1
expect_eq "partial last line after a clean stop: opens" "$(sealed_state)" "false,"
check "the log says it was cut" grep -q "cut off a partial last line" "$LOG"
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
sleep 0.3
kill9
printf '{"type":"request","time":"2026' >>"$A"
restart_prod "$D" || exit 1
expect_eq "partial last line after kill -9: opens" "$(sealed_state)" "false,"
stop_prod
check "and the file verifies" "$TRESOR" audit verify "$A"

# ---- 4. MiB-sized lines: kill -9 while they are written, then cut one off a stopped server -----
sed -i "s|^  tls_key_file: \(.*\)\$|  tls_key_file: \1\n  max_request_bytes: 3145728|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
python3 -c '
import json
print(json.dumps({"data": {"k%06d-%s" % (i, "x" * 900): "v" for i in range(3000)}}))' >"$D/big.json"
expect_eq "a write with 3000 long field names (2.7 MiB) is audited and stored" \
    "$(status_of -H "$R" -X PUT --data-binary @"$D/big.json" "$ADDR/v1/secret/data/big")" 200
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$A")
check "its audit lines are MiB-sized ($longest bytes)" test "$longest" -gt 1048576
(
    i=0
    while [ $i -lt 20 ]; do
        i=$((i + 1))
        curl -s -o /dev/null --max-time 20 --cacert "$CA" -H "$R" -X PUT --data-binary @"$D/big.json" \
            "$ADDR/v1/secret/data/big$i"
    done
) &
BIGP=$!
T_PIDS="$T_PIDS $BIGP"
sleep 1.2
kill9
wait "$BIGP" 2>/dev/null
restart_prod "$D" || exit 1
expect_eq "kill -9 while MiB-sized lines were written: opens" "$(sealed_state)" "false,"
hcurl -H "$R" -X PUT --data-binary @"$D/big.json" "$ADDR/v1/secret/data/big" >/dev/null
stop_prod
N=$(lines)
cp "$A" "$D/full.log"
head -n $((N - 1)) "$D/full.log" >"$A"
restart_prod "$D" || exit 1
expect_eq "a MiB-sized last line cut off a stopped server is found" "$(sealed_state)" "true,tamper_detected"
kill9
cp "$D/full.log" "$A"
restart_prod "$D" || exit 1
expect_eq "put back, it opens" "$(sealed_state)" "false,"

# ---- 5. backup, restore (a rollback) and recovery: the recovered server opens and stays open ---
hcurl -H "$R" -X PUT -o "$D/backup.mdb" "$ADDR/v1/sys/storage/backup"
check "a backup was taken" test -s "$D/backup.mdb"
for i in 1 2 3; do hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null; done
hcurl -H "$R" -X PUT -d '{"data":{"v":"after"}}' "$ADDR/v1/secret/data/after" >/dev/null
stop_prod
cp "$D/backup.mdb" "$D/store/data.mdb"
restart_prod "$D" || exit 1
expect_eq "the restored backup is a rollback" "$(sealed_state)" "true,rollback_detected"
expect_eq "no audit evidence: the file holds the backup's head" \
    "$(hcurl "$ADDR/v1/sys/seal-status" | j .audit_evidence)" null
expect_eq "recovery accepts it" "$(recover_with "$RKEY")" true
check "and serves" serves
stop_prod
expect_eq "clean stop after the recovery: exit 0" "$?" 0
restart_prod "$D" || exit 1
expect_eq "the restored, recovered server reopens without an alarm" "$(sealed_state)" "false,"
stop_prod
check "the file verifies" "$TRESOR" audit verify "$A"

# ---- 6. documented limit: an edit inside an anchored (not last) line, same length ----------
cp "$A" "$D/before-edit.log"
python3 - "$A" <<'PY'
import sys
p = sys.argv[1]
ls = open(p, "rb").read().split(b"\n")
for i, l in enumerate(ls[:-3]):
    if b'"secret/data/k1"' in l:
        ls[i] = l.replace(b'"secret/data/k1"', b'"secret/data/k9"', 1)
        break
open(p, "wb").write(b"\n".join(ls))
PY
check "an older line was edited in place" sh -c "! cmp -s '$A' '$D/before-edit.log'"
restart_prod "$D" || exit 1
expect_eq "by design the unseal check reads the anchored line only: it opens" "$(sealed_state)" "false,"
stop_prod
check "and \`tresor audit verify\` is what finds the edit" sh -c "! '$TRESOR' audit verify '$A' >/dev/null 2>&1"
cp "$D/before-edit.log" "$A"

# ---- 7. the evidence and the log carry no secret ---------------------------------------------
restart_prod "$D" || exit 1
hcurl -H "$R" -X PUT -d '{"data":{"v":"CANARY-7719"}}' "$ADDR/v1/secret/data/canary" >/dev/null
expect_eq "a secret read back" "$(hcurl -H "$R" "$ADDR/v1/secret/data/canary" | j .data.data.v)" CANARY-7719
stop_prod
N=$(lines)
head -n $((N - 2)) "$A" >"$D/cut.log"
cp "$A" "$D/full.log"
cp "$D/cut.log" "$A"
restart_prod "$D" || exit 1
SS=$(hcurl "$ADDR/v1/sys/seal-status")
expect_eq "cut: tamper_detected" "$(echo "$SS" | j .sealed_reason)" tamper_detected
expect_eq "the evidence has exactly its documented members" \
    "$(echo "$SS" | j '.audit_evidence | keys | join(",")')" \
    "anchored_end,anchored_hash,anchored_seq,cause,file_end,file_seq,verdict"
check "no secret in seal-status" sh -c "! echo '$SS' | grep -q CANARY"
check "no secret, token or key in any log" sh -c "! cat '$D'/prod-*.log | grep -q -e CANARY -e '$RKEY'"
kill9
cp "$D/full.log" "$A"

# ---- 8. runtime stores: a full audit disk, then a full data disk -----------------------------
E=$(tmpdir)
A="$E/audit.log"
tmpfs_mount "$E/small" 1m
tmpfs_mount "$E/data" 6m
start_prod "$E" devkey || exit 1
stop_prod
sed -i "s|path: $E/audit.log|path: $E/small/audit.log|; s|path: $E/store|path: $E/data/store|" "$E/tresor.yaml"
A="$E/small/audit.log"
sed -i "s|^  path: $A\$|  path: $A\n  anchor_interval_ms: 100|" "$E/tresor.yaml"
restart_prod "$E" || exit 1
init_devkey
code=$(fill_audit_disk "$E/small/fill" -H "$R" "$ADDR/v1/secret/data/k1")
expect_eq "audit disk full: audited reads refused" "$code" 503
sleep 0.3
kill9
rm -f "$E/small/fill"
restart_prod "$E" || exit 1
expect_eq "kill -9 with the audit disk full: restart opens" "$(sealed_state)" "false,"
dd if=/dev/zero of="$E/small/fill" bs=4k 2>/dev/null
for i in 1 2 3 4 5; do status_of -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null; done
stop_prod
expect_eq "clean stop with the audit disk full: exit 0" "$?" 0
rm -f "$E/small/fill"
restart_prod "$E" || exit 1
expect_eq "and the restart opens" "$(sealed_state)" "false,"
BIG=$(head -c 150000 /dev/zero | tr '\0' x)
i=0
code=200
while [ "$code" = 200 ] && [ $i -lt 100 ]; do
    i=$((i + 1))
    printf '{"data":{"v":"%s"}}' "$BIG" >"$E/body"
    code=$(status_of -H "$R" -X PUT --data-binary @"$E/body" "$ADDR/v1/secret/data/f$i")
done
expect_eq "data disk full: a write is refused" "$code" 503
for i in 1 2 3 4 5 6; do hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null; done
sleep 0.5
kill9
restart_prod "$E" || exit 1
expect_eq "kill -9 with the data disk full (anchoring failing at times): restart opens" "$(sealed_state)" "false,"
stop_prod
expect_eq "clean stop with the data disk full: exit 0" "$?" 0
restart_prod "$E" || exit 1
expect_eq "and the restart opens" "$(sealed_state)" "false,"
stop_prod
check "the file verifies" "$TRESOR" audit verify "$A"

# ---- 9. shamir: seal/unseal cycles under load; storage recovery while serving -----------------
S=$(tmpdir)
A="$S/audit.log"
start_prod "$S" || exit 1
stop_prod
set_interval "$S" 100
restart_prod "$S" || exit 1
INIT=$(hcurl -X PUT -d '{"secret_shares":1,"secret_threshold":1}' "$ADDR/v1/sys/init")
KEY=$(echo "$INIT" | j '.keys[0]')
R="X-Vault-Token: $(echo "$INIT" | j .root_token)"
unseal() { hcurl -X PUT -d "{\"key\":\"$KEY\"}" "$ADDR/v1/sys/unseal" | j .sealed; }
expect_eq "shamir: unsealed after init" "$(unseal)" false
hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
hcurl -H "$R" -X PUT -d '{"data":{"v":"one"}}' "$ADDR/v1/secret/data/k1" >/dev/null
load_start
good=0
c=0
while [ $c -lt 5 ]; do
    c=$((c + 1))
    s1=$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")
    s2=$(sealed_state)
    s3=$(unseal)
    if [ "$s1" = 204 ] && [ "$s2" = "true,sealed_by_operator" ] && [ "$s3" = false ] && serves; then
        good=$((good + 1))
    else
        echo "# seal/unseal cycle $c: seal $s1, '$s2', unseal -> sealed=$s3"
    fi
    rnd_sleep
done
expect_eq "sys/seal then sys/unseal x5 under load: each opens and serves" "$good" 5
good=0
c=0
while [ $c -lt 3 ]; do
    c=$((c + 1))
    [ "$(recover_with "$KEY")" = true ] && serves && good=$((good + 1))
    rnd_sleep
done
expect_eq "storage recovery x3 while serving under load" "$good" 3
load_stop
stop_prod
expect_eq "clean stop after the cycles: exit 0 (no leak report)" "$?" 0
restart_prod "$S" || exit 1
expect_eq "restart, unseal: opens" "$(unseal)" false
check "the file verifies" "$TRESOR" audit verify "$A"

# ---- 10. cut in place under a sealed, running server: refused at unseal, recovery sticks -------
for i in 1 2 3; do hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null; done
expect_eq "sealed by the operator" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
N=$(lines)
head -n $((N - 3)) "$A" >"$S/cut.log"
truncate -s "$(stat -c %s "$S/cut.log")" "$A"
expect_eq "3 anchored lines cut in place" "$(lines)" $((N - 3))
expect_eq "unseal refuses it: tamper_detected" "$(unseal),$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed_reason)" "true,tamper_detected"
expect_eq "with the audit evidence" "$(hcurl "$ADDR/v1/sys/seal-status" | j .audit_evidence.verdict)" tamper_detected
rc=$(recover_with "$KEY")
if [ "$rc" != true ]; then
    # the running device's head is not the file's: the quorum can accept the file after a restart
    check "recovery under the stale device says to restart" grep -q "restart the server" "$LOG"
    kill9
    restart_prod "$S" || exit 1
    expect_eq "restarted: still refused" "$(unseal),$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed_reason)" "true,tamper_detected"
    rc=$(recover_with "$KEY")
fi
expect_eq "recovery adopts the file" "$rc" true
check "and serves" serves
stop_prod
check "the adopted, continued file verifies" "$TRESOR" audit verify "$A"
restart_prod "$S" || exit 1
unseal >/dev/null
expect_eq "the adoption sticks: restart, unseal opens" "$(sealed_state)" "false,"

# ---- 11. the file swapped (renamed over) under a sealed, running server ----------------------
kill9
restart_prod "$S" || exit 1
[ "$(unseal)" = false ] || recover_with "$KEY" >/dev/null
expect_eq "serving again" "$(sealed_state)" "false,"
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
expect_eq "sealed by the operator" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
N=$(lines)
head -n $((N - 3)) "$A" >"$S/swap.log"
chmod 600 "$S/swap.log"
mv "$S/swap.log" "$A"
expect_eq "unseal refuses a file swapped in while sealed" "$(unseal)" true
kill9
restart_prod "$S" || exit 1
expect_eq "a restart refuses it" "$(unseal),$(hcurl "$ADDR/v1/sys/seal-status" | j .sealed_reason)" "true,tamper_detected"
kill9

# ---- 12. sys/seal under load, then a clean stop: every line is anchored (none left to cut) -----
restart_prod "$S" || exit 1
[ "$(unseal)" = false ] || recover_with "$KEY" >/dev/null
expect_eq "serving again" "$(sealed_state)" "false,"
good=0
c=0
while [ $c -lt 5 ]; do
    c=$((c + 1))
    load_start
    rnd_sleep
    s1=$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")
    sleep 0.3
    load_stop
    kill -TERM "$PID"
    wait "$PID"
    rc=$?
    N=$(lines)
    cp "$A" "$S/full.log"
    head -n $((N - 1)) "$S/full.log" >"$A"
    restart_prod "$S" || exit 1
    cut="$(unseal),$(sealed_state)"
    kill9
    cp "$S/full.log" "$A"
    restart_prod "$S" || exit 1
    back="$(unseal),$(sealed_state)"
    if [ "$s1" = 204 ] && [ "$rc" = 0 ] && [ "$cut" = "true,true,tamper_detected" ] &&
        [ "$back" = "false,false," ]; then
        good=$((good + 1))
    else
        echo "# seal+stop cycle $c: seal $s1, exit $rc, last line cut: '$cut', put back: '$back'"
        tail -n 2 "$S/full.log" | cut -c 1-300 | sed 's/^/#   /'
    fi
done
expect_eq "sys/seal under load then SIGTERM x5: cutting the last line is found" "$good" 5
stop_prod
expect_eq "clean stop: exit 0 (no leak report)" "$?" 0
check "no sanitizer report in any server log" \
    sh -c "! cat '$D'/prod-*.log '$E'/prod-*.log '$S'/prod-*.log | grep -q -e Sanitizer -e 'runtime error'"
finish
