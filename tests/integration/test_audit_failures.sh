#!/bin/sh
# What operators see when the audit device's edges fail (docs/operations.md "Audit log"), on a
# real config-file tresord (devkey seal, file counter) over TLS, driven with curl:
# 1. the audit disk is full: every audited request gets 503 "audit log unavailable", the log says
#    so once, then at most one summary per 10 s with the count, then once when lines are written
#    again; tresor_audit_write_failures_total counts every refused line.
# 2. the store cannot anchor the chain's head (its writes fail with ENOSPC, injected by strace):
#    requests are still served; the log says so once, then summaries, then the recovery;
#    tresor_audit_anchor_failing / _failures_total / tresor_audit_unanchored_lines show it.
# 3. meanwhile the file grows past audit.rotate_bytes: the rotation waits (it may not leave the
#    stored head two files back), tresor_audit_rotation_waiting says so, the log once; when the
#    store works again, exactly one rotation follows at the next anchoring, and the series verifies.
# 4. the log restarted at seq 1 (a recovery adopted an emptied file): rotate_keep prunes the
#    earlier chain's rotated files (whose seqs are higher) once they are beyond keep, never the
#    file just rotated.
# 5. audit.anchor_max_lag_ms: once no anchoring succeeded for that long, audited requests get 503
#    (no lines the store cannot vouch for pile up); the first anchoring that works serves again.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl strace

sealed_state() { hcurl "$ADDR/v1/sys/seal-status" | j '[.sealed, .sealed_reason] | join(",")'; }
# metric NAME: its value in sys/metrics (empty when absent)
metric() { hcurl -H "$R" "$ADDR/v1/sys/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
rotated() { ls "$(dirname "$A")" | grep -E '^audit\.log\.[1-9][0-9]*$' | sort -t. -k3 -n | sed "s|^|$(dirname "$A")/|"; }
nrotated() { rotated | wc -l | tr -d ' '; }
nlog() { grep -c -- "$1" "$LOG"; }
now_s() { date +%s; }
now_ms() { date +%s%3N; }
# reads N: N audited reads of k1 over one keep-alive connection; prints how many answered 200
reads() {
    awk -v a="$ADDR" -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
        printf "url = \"%s/v1/secret/data/k1\"\noutput = \"/dev/null\"\n", a }' >"$D/reads.cfg"
    curl -sS --cacert "$CA" -H "$R" -K "$D/reads.cfg" -w '%{http_code}\n' 2>/dev/null | grep -c '^200$'
}
# strace_ready ERRFILE: strace is attached to every thread of the server
strace_ready() {
    _i=0
    while [ "$(grep -c attached "$1")" -lt "$(ls /proc/$PID/task | wc -l)" ] &&
        ! grep -q "attached with" "$1" && [ $_i -lt 50 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
}

# ---- 1. a full audit disk: 503 for each request, a bounded log, a counter -----------------------
D=$(tmpdir)
tmpfs_mount "$D/small" 1m
start_prod "$D" devkey || exit 1
stop_prod
A="$D/small/audit.log"
sed -i "s|path: $D/audit.log|path: $A|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
init_devkey
# a client's malformed path is its own mistake: 400 before any audit line, never the 503 of a
# failing audit device (jansson cannot put a non-UTF-8 path into a line)
expect_eq "audited server, path not UTF-8: 400" "$(status_of -H "$R" "$ADDR/v1/secret/data/%ff")" 400
expect_eq "... no audit write failure counted" "$(metric tresor_audit_write_failures_total)" 0
code=$(fill_audit_disk "$D/small/fill" -H "$R" "$ADDR/v1/secret/data/k1")
T0=$(now_s)
expect_eq "audit disk full: an audited read is refused with 503" "$code" 503
mkdir "$D/o"
awk -v a="$ADDR" -v d="$D/o" 'BEGIN { for (i = 0; i < 150; i++)
    printf "url = \"%s/v1/secret/data/k1\"\noutput = \"%s/%d\"\n", a, d, i }' >"$D/full.cfg"
curl -sS --cacert "$CA" -H "$R" -K "$D/full.cfg" -w '%{http_code}\n' >"$D/codes" 2>&1
expect_eq "150 more: each a 503" "$(grep -c '^503$' "$D/codes")" 150
expect_eq "with the message clients get" "$(grep -l '^{"errors":\["audit log unavailable"\]}$' "$D"/o/* | wc -l | tr -d ' ')" 150
if [ $(($(now_s) - T0)) -lt 9 ]; then
    expect_eq "the log says it once so far" "$(nlog 'audit: write failed')" 1
fi
check "with the reason" grep -Eq "audit: write failed: (No space left on device|short write \([0-9]+ of [0-9]+ bytes\)); audited requests get 503" "$LOG"
# past the summary interval (10 s since the first failure), one more failure brings the summary
while [ $(($(now_s) - T0)) -lt 12 ]; do sleep 1; done
status_of -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
expect_eq "after 10 s: one summary line, not one per request" "$(nlog 'audit: write failed')" 2
check "the summary counts the refused lines" \
    grep -Eq "audit: write failed: 1[0-9][0-9] more lines since the last report, 1[0-9][0-9] since the first failure [0-9]+ s ago" "$LOG"
expect_eq "sys/health still answers" "$(status_of "$ADDR/v1/sys/health")" 200
rm -f "$D/small/fill"
T1=$(now_s)
expect_eq "space back: reads are served again" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one
# the end of the run is said once lines were written for 10 s without a failure (a nearly full
# disk that takes a line now and then is one run, not a line per flap)
while [ $(($(now_s) - T1)) -lt 11 ]; do sleep 1; done
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
check "then the log says writing works again, with the total" \
    grep -Eq "audit: lines are written again, after 1[0-9][0-9] failed over [0-9]+ s" "$LOG"
expect_eq "and that is all: first, summary, recovery" "$(nlog 'audit: write failed\|written again')" 3
check "tresor_audit_write_failures_total counts every refused line" \
    test "$(metric tresor_audit_write_failures_total)" -ge 152
FB=$(metric tresor_audit_file_bytes)
check "the file size is shown ($FB)" test "$FB" -gt 0 -a "$FB" -le "$(wc -c <"$A")"
stop_prod
check "the chain verifies" "$TRESOR" audit verify "$A"

# ---- 2 and 3. the store cannot anchor while the file passes rotate_bytes -------------------------
D=$(tmpdir)
A="$D/audit.log"
start_prod "$D" devkey || exit 1
stop_prod
sed -i "s|^  path: $A\$|  path: $A\n  anchor_interval_ms: 200\n  rotate_bytes: 1048576|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
init_devkey
reads 5 >/dev/null
sleep 0.5
expect_eq "anchoring works: tresor_audit_anchor_failing 0" "$(metric tresor_audit_anchor_failing)" 0
# no commit in flight while strace attaches: one whose pages pass before and whose meta page
# fails after would stop LMDB for good (the server then seals: test_store_panic.sh)
sleep 1
strace -f -p "$PID" -o "$D/st" -P "$D/store/data.mdb" -e trace=pwrite64,pwritev,write,writev \
    -e inject=pwrite64,pwritev,write,writev:error=ENOSPC 2>"$D/st.err" &
SP=$!
T_PIDS="$T_PIDS $SP"
strace_ready "$D/st.err"
kill -HUP "$PID" # allowed (the store holds a line of this file); its anchoring then fails
i=0
while [ "$(nrotated)" -lt 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
expect_eq "a first rotation" "$(nrotated)" 1
sleep 0.5
T0=$(now_s)
expect_eq "its anchoring fails (logged once)" "$(nlog 'cannot store the audit head (line')" 1
expect_eq "requests are still served: 1000 audited reads all 200" "$(reads 1000)" 1000
check "the file passed rotate_bytes" test "$(wc -c <"$A")" -gt 1048576
sleep 1
T1=$(now_s) # the wait began before this
expect_eq "but it is not rotated again" "$(nrotated)" 1
expect_eq "tresor_audit_anchor_failing 1" "$(metric tresor_audit_anchor_failing)" 1
check "tresor_audit_anchor_failures_total counts the attempts" test "$(metric tresor_audit_anchor_failures_total)" -ge 3
check "tresor_audit_unanchored_lines counts the lines" test "$(metric tresor_audit_unanchored_lines)" -ge 2000
expect_eq "tresor_audit_rotation_waiting 1" "$(metric tresor_audit_rotation_waiting)" 1
expect_eq "the wait is logged once" "$(nlog 'reached rotate_bytes')" 1
while [ $(($(now_s) - T1)) -lt 11 ]; do sleep 1; done
EL=$(($(now_s) - T0 + 2))
NA=$(nlog 'still cannot store the audit head')
check "a summary of the failed anchorings after 10 s ($NA)" test "$NA" -ge 1
check "at most one per 10 s" test "$NA" -le $((EL / 10 + 1))
check "with the count and the lines not anchored" \
    grep -Eq "still cannot store the audit head: [0-9]+ failed attempts since the first [0-9]+ s ago \(last: .*\); the store holds line [0-9]+, the file is at line [0-9]+ \([0-9]+ lines not anchored\)" "$LOG"
check "and of the waiting rotation" grep -q "rotation still waiting for an anchoring" "$LOG"
expect_eq "still one rotation" "$(nrotated)" 1
# the store works again: the next anchoring succeeds, and the rotation follows in that interval
kill "$SP"
wait "$SP" 2>/dev/null
i=0
while [ "$(nrotated)" -lt 2 ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
check "store back: rotated within 3 s ($((i * 100)) ms)" test "$(nrotated)" -eq 2
sleep 1
expect_eq "exactly one rotation" "$(nrotated)" 2
check "the current file is small again" test "$(wc -c <"$A")" -lt 1048576
check "the log says how long the rotation waited" grep -Eq "the rotation by size waited [0-9]+ s for an anchoring" "$LOG"
expect_eq "tresor_audit_anchor_failing 0" "$(metric tresor_audit_anchor_failing)" 0
expect_eq "tresor_audit_rotation_waiting 0" "$(metric tresor_audit_rotation_waiting)" 0
# each metrics read adds lines of its own; the next anchoring (every 200 ms) takes them
i=0
while [ "$(metric tresor_audit_unanchored_lines | awk '{ print ($1 <= 4) }')" != 1 ] && [ $i -lt 30 ]; do
    sleep 0.1
    i=$((i + 1))
done
check "tresor_audit_unanchored_lines back to 0 (but the metrics reads' own lines)" test $i -lt 30
expect_eq "tresor_audit_rotations_total 2" "$(metric tresor_audit_rotations_total)" 2
check "the series verifies" "$TRESOR" audit verify $(rotated) "$A"
sleep 10 # anchoring has worked for 10 s: the run of failures is over
check "the log says anchoring works again, with the count" \
    grep -Eq "audit head is anchored again \(line [0-9]+\), after [0-9]+ failed attempts over [0-9]+ s" "$LOG"
kill -9 "$PID"
wait "$PID" 2>/dev/null
restart_prod "$D" || exit 1
expect_eq "kill -9 then restart: opens (no false tamper_detected)" "$(sealed_state)" "false,"
stop_prod

# ---- 4. an earlier chain's rotated files are pruned once beyond rotate_keep ----------------------
D=$(tmpdir)
A="$D/audit.log"
start_prod "$D" devkey || exit 1
stop_prod
sed -i "s|^  path: $A\$|  path: $A\n  anchor_interval_ms: 200\n  rotate_keep: 2|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
init_devkey
for i in 1 2 3; do
    reads 40 >/dev/null
    hup_audit
done
OLD=$(rotated | tr '\n' ' ')
expect_eq "the earlier chain: rotate_keep 2 left two files" "$(nrotated)" 2
stop_prod
: >"$A" # emptied; the recovery quorum adopts it: the chain starts again at seq 1
restart_prod "$D" || exit 1
expect_eq "the emptied file: tamper_detected" "$(sealed_state)" "true,tamper_detected"
expect_eq "recovery adopts it" "$(hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/storage/recover" | j .complete)" true
reads 3 >/dev/null
hup_audit
B1=$(tail -n 1 "$A" | j .rotation.file)
check "the new chain rotates into a lower seq ($B1)" test -f "$D/$B1"
set -- $OLD
check "the older of the earlier chain's files is pruned ($(basename "$1"))" test ! -e "$1"
check "the newer one is kept (keep 2: the file just rotated and one more)" test -f "$2"
check "logged as not linked to this chain" grep -q "removed the old rotated file .*not linked to this chain" "$LOG"
reads 3 >/dev/null
hup_audit
check "the next rotation prunes the last of them" test ! -e "$2"
expect_eq "two files of the new chain left" "$(nrotated)" 2
check "the file first rotated is kept" test -f "$D/$B1"
check "they verify with the current file" "$TRESOR" audit verify $(rotated) "$A"
stop_prod
restart_prod "$D" || exit 1
expect_eq "restart: opens" "$(sealed_state)" "false,"
stop_prod

# ---- 5. anchor_max_lag_ms: refuse audited requests while the head cannot be stored ----------------
D=$(tmpdir)
A="$D/audit.log"
start_prod "$D" devkey || exit 1
stop_prod
sed -i "s|^  path: $A\$|  path: $A\n  anchor_interval_ms: 200\n  anchor_max_lag_ms: 2000|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
init_devkey
expect_eq "lag bound set, anchoring works: reads served" "$(reads 20)" 20
expect_eq "tresor_audit_anchor_holding 0" "$(metric tresor_audit_anchor_holding)" 0
sleep 1 # the metrics read's lines are anchored (every 200 ms): nothing is due any more
strace -f -p "$PID" -o "$D/st" -P "$D/store/data.mdb" -e trace=pwrite64,pwritev,write,writev \
    -e inject=pwrite64,pwritev,write,writev:error=ENOSPC 2>"$D/st.err" &
SP=$!
T_PIDS="$T_PIDS $SP"
strace_ready "$D/st.err"
# the server is idle while strace attaches and 2.5 s more: that is no lag (nothing was due), the
# bound counts from the reads below
sleep 2.5
expect_eq "idle: no anchoring was attempted" "$(nlog 'cannot store the audit head')" 0
T0=$(now_ms)
expect_eq "anchoring fails: reads still served at first (an idle spell is not lag)" "$(reads 20)" 20
i=0
while ! grep -q "audited requests are refused (503)" "$LOG" && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
EL=$(($(now_ms) - T0))
check "after the bound the log says requests are refused" grep -Eq "no anchoring for [0-9]+ ms \(audit.anchor_max_lag_ms 2000\): audited requests are refused \(503\)" "$LOG"
LAG=$(sed -n 's/.*no anchoring for \([0-9]*\) ms (audit.anchor_max_lag_ms.*/\1/p' "$LOG" | head -1)
check "the lag it reports reached the bound ($LAG ms)" test "${LAG:-0}" -ge 2000
# the first failed anchoring follows the first read; its lines count from one interval before
check "not before the bound (refused $EL ms after the reads began, >= 2000 - 200)" test "$EL" -ge 1800
expect_eq "then every audited read: 503" "$(reads 20)" 0
expect_eq "... audit log unavailable" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j '.errors[0]')" \
    "audit log unavailable"
expect_eq "the state stays readable: seal-status" "$(sealed_state)" "false,"
N1=$(wc -l <"$A")
sleep 0.5
reads 5 >/dev/null
expect_eq "no line is added while refusing" "$(wc -l <"$A")" "$N1"
kill "$SP"
wait "$SP" 2>/dev/null
i=0
while [ "$(reads 1)" != 1 ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
check "store back: reads served again within 3 s ($((i * 100)) ms)" test $i -lt 30
expect_eq "all of them" "$(reads 20)" 20
check "logged" grep -q "the audit head is stored again (line [0-9]*): audited requests are served again" "$LOG"
expect_eq "tresor_audit_anchor_holding 0" "$(metric tresor_audit_anchor_holding)" 0
stop_prod
check "the chain verifies" "$TRESOR" audit verify "$A"
finish
