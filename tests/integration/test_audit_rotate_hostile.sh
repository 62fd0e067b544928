#!/bin/sh
# Hostile and busy cases for audit log rotation (api/audit.h "Rotation", api/audit_anchor.h,
# docs/operations.md "Audit log"). False alarms: kill -9 stopped at each step of a rotation
# (strace holds the rotating thread in a syscall) under concurrent audited writes, two rotations
# while the store cannot anchor, a crash right after a rotation then a SIGHUP; each restart must
# open, lose no acknowledged write's line, leave no leftover, and the series must verify.
# Bypasses: with the server stopped, root cuts, deletes or swaps (symlink) the rotated file that
# still holds the anchored line, forges a marker naming a file of its choosing, plants
# audit.log.next or empties the current file: tamper_detected at the next start. The server never
# follows a symlink at a rotation path and prunes only its own <base>.<seq> files, never the one
# it just rotated. Liveness: SIGHUP storms under load, during seal/unseal/recovery, startup and
# shutdown; a full audit disk during rotations; rotate_bytes 1 MiB with rotate_keep 1 under load.
# Real config-file tresord (devkey seal, file counter) over TLS, driven with curl.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl strace
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

sealed_state() { hcurl "$ADDR/v1/sys/seal-status" | j '[.sealed, .sealed_reason] | join(",")'; }
# rotated files of the audit log $A, oldest first
rotated() { ls "$(dirname "$A")" | grep -E '^audit\.log\.[1-9][0-9]*$' | sort -t. -k3 -n | sed "s|^|$(dirname "$A")/|"; }
nrotated() { rotated | wc -l | tr -d ' '; }
verify_all() { "$TRESOR" audit verify $(rotated) "$A" >/dev/null 2>&1; }
kill9() {
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
}
nrot_log() { cat "$D"/prod-*.log | grep -c "audit: rotated the log"; }
serves() { [ "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" = one ]; }
# prod_dir DIR [AUDIT_LINES]: a devkey config-file server in DIR, audit lines added to its audit
# section (default: anchor every 200 ms), initialised and serving
prod_dir() {
    D=$1
    A="$D/audit.log"
    start_prod "$D" devkey || exit 1
    stop_prod
    sed -i "s|^  path: $A\$|  path: $A\n${2:-  anchor_interval_ms: 200}|" "$D/tresor.yaml"
    restart_prod "$D" || exit 1
    init_devkey
}

# Load: audited writes to unique paths (KV v2 puts), 3 keep-alive curl workers, until load_stop.
# Every answer goes to $D/acks? as "CODE URL SECONDS"; acked_missing counts the 200s whose
# response line is in no file of the series.
LOADP=""
LOADN=0
load_start() {
    LOADN=$((LOADN + 1))
    for w in 1 2 3; do
        (
            c=
            trap 'kill $c 2>/dev/null; exit 0' TERM # its curl must not outlive it
            r=0
            while :; do
                r=$((r + 1))
                awk -v a="$ADDR" -v p="w$LOADN-$w-$r" 'BEGIN { for (i = 0; i < 100; i++)
                    printf "url = \"%s/v1/secret/data/%s-%d\"\noutput = \"/dev/null\"\n", a, p, i }' \
                    >"$D/load$w.cfg"
                curl -sS --max-time 10 --cacert "$CA" -H "$R" -X PUT -d '{"data":{"v":"x"}}' \
                    -K "$D/load$w.cfg" -w '%{http_code} %{url_effective} %{time_total}\n' \
                    >>"$D/acks$w" 2>/dev/null &
                c=$!
                wait $c
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
# (a line cut by a kill has fewer fields; awk reads each file apart, so none is glued to the next)
acked_missing() {
    awk '$1 == 200 && NF == 3 { sub(".*/v1/", "", $2); print $2 }' "$D"/acks? 2>/dev/null | sort -u >"$D/acked"
    cat $(rotated) "$A" | grep '"type":"response"' | grep -o '"path":"secret/data/w[0-9-]*"' |
        sed 's/"path":"\(.*\)"/\1/' | sort -u >"$D/logged"
    comm -23 "$D/acked" "$D/logged" | wc -l | tr -d ' '
}
acked() { wc -l <"$D/acked" | tr -d ' '; }
# 200 answers so far; wait_acks N: until 5 more than N (20 s at most)
acks200() { cat "$D"/acks? 2>/dev/null | grep -c '^200 '; }
wait_acks() {
    _i=0
    while [ "$(acks200)" -lt $(($1 + 5)) ] && [ $_i -lt 200 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
}
# answers other than 200, but for those cut short by a kill or load_stop (000)
not200() { awk 'NF == 3 && $1 != 200 && $1 != "000" { print $1 }' "$D"/acks? 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }

# strace_ready ERRFILE: strace (stderr in ERRFILE) is attached to every thread of the server
# (one "attached" line per thread, or one "attached with N threads")
strace_ready() {
    _i=0
    while [ "$(grep -c attached "$1")" -lt "$(ls /proc/$PID/task | wc -l)" ] &&
        ! grep -q "attached with" "$1" && [ $_i -lt 50 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
}
# hold NAME SYSCALL WHEN [STRACE FILTER...]: SIGHUP, let strace hold the rotating thread for 3 s
# in the first matching syscall (delay at its entry or exit), then kill -9 the server there.
# hit tells whether the syscall was reached.
hold() {
    _n=$1 _sc=$2 _when=$3
    shift 3
    strace -f -p "$PID" -o "$D/st-$_n" "$@" -e trace="$_sc" \
        -e inject="$_sc:delay_$_when=3000000:when=1" 2>"$D/st-$_n.err" &
    _sp=$!
    strace_ready "$D/st-$_n.err"
    kill -HUP "$PID"
    _i=0
    while ! grep -q "$_sc(" "$D/st-$_n" 2>/dev/null && [ $_i -lt 60 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    sleep 0.3
    grep -q "$_sc(" "$D/st-$_n" 2>/dev/null && hit=yes || hit=no
    kill9
    kill "$_sp" 2>/dev/null
    wait "$_sp" 2>/dev/null
}

# ---- 1. kill -9 at each step of a rotation, under concurrent audited writes ---------------------
# The steps (api/audit.c rotate_locked): old file synced | unlink .next | create it | write the
# marker | sync it | rename old -> <path>.<seq> | rename .next -> path | sync the directory |
# anchor. rename(2) is matched without a path (only a rotation renames in this server).
prod_dir "$(tmpdir)"
good=0
for step in "unlink enter -P $A.next" "openat exit -P $A.next" "writev exit -P $A.next" \
    "renameat2 enter -P $A" "renameat2 exit -P $A" "rename exit" "fsync exit -P $D"; do
    set -- $step
    n0=$(acks200)
    load_start
    wait_acks "$n0" # writes answered before the hold: a slow (sanitizer) build needs seconds
    hold "$1-$2" "$@"
    load_stop
    files=$(ls "$D" | grep '^audit\.log' | tr '\n' ' ')
    restart_prod "$D" || exit 1
    st=$(sealed_state)
    left=$(test -e "$A.next" && echo "next left" || echo "none")
    verify_all && v=ok || v=broken
    miss=$(acked_missing)
    if [ "$hit" = yes ] && [ "$st" = "false," ] && [ "$left" = none ] && [ "$v" = ok ] && [ "$miss" = 0 ]; then
        good=$((good + 1))
    else
        echo "# killed in $1 ($2): reached $hit; files $files-> restart '$st', leftover $left, series $v, acked lines missing $miss"
    fi
done
expect_eq "kill -9 in each of 7 steps of a rotation under load: reached, opens, nothing left, series intact, no acked line lost" "$good" 7
check "acked writes meanwhile ($(acked), 5 or more before each hold)" test "$(acked)" -ge 35
expect_eq "every answer was a 200 (or cut by the kill)" "$(not200)" ""

# ---- 2. the file holds only its marker (killed before anchoring): a SIGHUP makes no empty part ---
n=$(nrotated)
hup_audit
expect_eq "SIGHUP after a restart onto a marker-only file: no new file" "$(nrotated)" "$n"
check "and it says nothing was written since" grep -q "nothing was written since the last one" "$LOG"

# ---- 3. the store cannot anchor (its writes fail): a second rotation waits, no false alarm -------
kill9
prod_dir "$(tmpdir)"
sleep 1 # anchored: no commit in flight while strace attaches (see test_audit_failures.sh)
n=$(nrotated)
strace -f -p "$PID" -o "$D/st-enospc" -P "$D/store/data.mdb" -e trace=pwrite64,pwritev,write,writev \
    -e inject=pwrite64,pwritev,write,writev:error=ENOSPC 2>"$D/st-enospc.err" &
SP=$!
strace_ready "$D/st-enospc.err"
for i in 1 2 3; do
    hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
    hup_audit
done
check "the store's writes failed (anchoring refused)" grep -q "cannot store the audit head" "$LOG"
expect_eq "only the first of three rotations is done" "$(nrotated)" $((n + 1))
check "the others are refused and logged" grep -q "rotation not done: the last rotation is not anchored" "$LOG"
kill9
kill "$SP" 2>/dev/null
wait "$SP" 2>/dev/null
restart_prod "$D" || exit 1
expect_eq "kill -9 then: the restart opens (no false tamper_detected)" "$(sealed_state)" "false,"
check "the series verifies" verify_all
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
sleep 0.5
hup_audit
expect_eq "anchoring again: SIGHUP rotates again" "$(nrotated)" $((n + 2))

# ---- 4. root on the host, server stopped, in the window where the anchored line is still in the
#         rotated file (kill -9 right after a rotation, before its anchoring) ---------------------
kill9
prod_dir "$(tmpdir)"
for i in 1 2 3; do hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null; done
sleep 0.5
hold window fsync exit -P "$D"
expect_eq "killed between a rotation and its anchoring" "$hit" yes
F=$(rotated | tail -n 1)
B=$(basename "$F")
mkdir "$D/pristine"
cp -p "$F" "$A" "$D/pristine/"
cp -rp "$D/store" "$D/pristine/" # a start that opens anchors the marker: the window must come back
# forge NAME: make the current file's marker name NAME, all else as the real one (a marker is a
# line anyone can write: python3 serialises it as jansson does)
forge() {
    python3 - "$A" "$1" <<'PY'
import hashlib, json, sys
path, name = sys.argv[1], sys.argv[2]
m = json.loads(open(path, "rb").readline())
m["rotation"]["file"] = name
del m["hash"]
d = lambda o: json.dumps(o, sort_keys=True, separators=(",", ":"))
m["hash"] = hashlib.sha256(d(m).encode()).hexdigest()
open(path, "w").write(d(m) + "\n")
PY
}
atk_none() { :; }
atk_cut() { head -n -1 "$D/pristine/$B" >"$F"; }
atk_rm() { rm "$F"; }
atk_link() { mv "$F" "$D/copy" && ln -s "$D/copy" "$F"; }
atk_forge() { cp -p "$F" "$D/evil" && forge evil; }
atk_empty() { : >"$A"; }
atk_next() { cp -p "$F" "$D/evil" && forge evil && mv "$A" "$A.next"; }
atk_edit() { sed -i '2s/"remote_address":"127.0.0.1"/"remote_address":"127.0.0.2"/' "$F"; }
# pristine: the window as the kill left it (store included)
pristine() {
    rm -rf "$A" "$A.next" "$F" "$D/evil" "$D/copy" "$D/store"
    cp -p "$D/pristine/$B" "$F"
    cp -p "$D/pristine/audit.log" "$A"
    cp -rp "$D/pristine/store" "$D/"
}
# attack DESC WANT FN: from the pristine window, run FN with the server stopped, start, compare
attack() {
    pristine
    $3
    restart_prod "$D" || exit 1
    expect_eq "$1" "$(sealed_state)" "$2"
    kill9
}
attack "window, untouched: opens (the check follows the marker to $B)" "false," atk_none
attack "window: the rotated file cut by a line: tamper_detected" "true,tamper_detected" atk_cut
attack "window: the rotated file deleted: tamper_detected" "true,tamper_detected" atk_rm
attack "window: the rotated file swapped for a symlink to itself: tamper_detected" "true,tamper_detected" atk_link
attack "window: a forged marker naming an identical copy: tamper_detected" "true,tamper_detected" atk_forge
attack "window: the current file emptied: tamper_detected" "true,tamper_detected" atk_empty
attack "window: current file gone, that forged marker planted as audit.log.next: tamper_detected" \
    "true,tamper_detected" atk_next
attack "documented limit: a same-size edit before the anchored line passes the start" "false," atk_edit
check "and the offline check of the series finds it" sh -c "! '$TRESOR' audit verify '$F' '$A' >/dev/null 2>&1"
# a symlink planted as audit.log.next while the current file is gone: never followed (moved in
# as it is, it is refused at open: the server does not start), its target untouched
attack_next_link() {
    pristine
    mv "$A" "$D/target"
    ln -s "$D/target" "$A.next"
    T_STARTS=$((T_STARTS + 1))
    LOG="$D/prod-$T_STARTS.log"
    "$TRESORD" -config "$D/tresor.yaml" >"$LOG" 2>&1 &
    PID=$!
    T_PIDS="$T_PIDS $PID"
    _i=0
    while kill -0 "$PID" 2>/dev/null && ! grep -q "listening on" "$LOG" && [ $_i -lt 50 ]; do
        sleep 0.1
        _i=$((_i + 1))
    done
    kill -0 "$PID" 2>/dev/null && up=up || up=exited
    kill9
}
attack_next_link
expect_eq "a symlink planted as audit.log.next (no current file): the server does not start" "$up" exited
check "and the symlink's target is untouched" cmp -s "$D/target" "$D/pristine/audit.log"
rm -f "$A" "$D/target"
pristine
restart_prod "$D" || exit 1
expect_eq "put back: opens" "$(sealed_state)" "false,"

# ---- 5. the server running: symlinks at the rotation paths are never followed ---------------------
echo "target" >"$D/target"
cp -p "$D/target" "$D/target.orig"
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
sleep 0.4
ln -s "$D/target" "$A.next"
n=$(nrotated)
hup_audit
expect_eq "a symlink at audit.log.next: the rotation replaces it" "$(nrotated)" $((n + 1))
check "its target is untouched" cmp -s "$D/target" "$D/target.orig"
check "the current file is a regular file" test -f "$A" -a ! -L "$A"
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
sleep 0.4
S=$(tail -n 1 "$A" | j .seq)
ln -s "$D/target" "$A.$S"
hup_audit
check "a symlink at the rotated name: not rotated over it (logged)" grep -q "cannot rotate .* File exists" "$LOG"
check "the symlink stays, its target untouched" sh -c "test -L '$A.$S' && cmp -s '$D/target' '$D/target.orig'"
check "reads go on" serves
rm "$A.$S"
n=$(nrotated)
hup_audit
expect_eq "removed: the next SIGHUP rotates" "$(nrotated)" $((n + 1))
check "the series verifies" verify_all

# ---- 6. rotate_keep 1 prunes older files (this chain's, and an earlier chain's, whose seqs are
#         higher), never the one just rotated nor anything but its own <base>.<seq> files -------
kill9
prod_dir "$(tmpdir)"
for i in 1 2 3; do
    for k in 1 2 3 4 5 6 7 8 9 10; do hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null; done
    hup_audit
done
stop_prod
sed -i "s|^  anchor_interval_ms: 200\$|  anchor_interval_ms: 200\n  rotate_keep: 1|" "$D/tresor.yaml"
mkdir "$D/oldchain"
for f in $(rotated); do cp -p "$f" "$D/oldchain/"; done
# the operator empties the log; the recovery quorum adopts it: a new chain starts at seq 1,
# below the old chain's rotated files
rm "$A"
restart_prod "$D" || exit 1
expect_eq "the log removed: tamper_detected" "$(sealed_state)" "true,tamper_detected"
expect_eq "recovery adopts the new empty file" "$(hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/storage/recover" | j .complete)" true
echo "target" >"$D/target"
cp -p "$D/target" "$D/target.orig"
echo "not ours" >"$A.1"
chown 65534 "$A.1"
ln -s "$D/target" "$A.2"
mkdir "$A.3"
for i in 1 2 3 4; do hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null; done
sleep 0.5
S=$(tail -n 1 "$A" | j .seq)
hold keep fdatasync enter -P "$D/store/data.mdb"
expect_eq "killed in the rotation's anchoring" "$hit" yes
restart_prod "$D" || exit 1
expect_eq "rotated and killed before its anchoring: the restart opens" "$(sealed_state)" "false,"
check "the file just rotated ($(basename "$A").$S) is kept" test -f "$A.$S"
check "it verifies with the current file" sh -c "'$TRESOR' audit verify '$A.$S' '$A' >/dev/null"
for f in "$D"/oldchain/*; do
    [ "${f##*.}" -gt "$S" ] && test -e "$A.${f##*.}" && echo "# left: $f"
done >"$D/left"
expect_eq "the earlier chain's files (higher seqs, older) are pruned beyond rotate_keep 1" "$(cat "$D/left")" ""
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
sleep 0.4
hup_audit
check "the next rotation prunes $(basename "$A").$S (logged)" sh -c "test ! -e '$A.$S' && grep -q 'removed the old rotated file' '$LOG'"
check "not a file of another user" test -f "$A.1"
check "nor a symlink or a directory" sh -c "test -L '$A.2' -a -d '$A.3'"
check "the symlink's target is untouched" cmp -s "$D/target" "$D/target.orig"
rm -rf "$A.1" "$A.2" "$A.3"
for f in "$D"/oldchain/*; do rm -f "$A.${f##*.}"; done
check "the kept file and the current one verify" verify_all
kill9

# ---- 7. liveness: a SIGHUP storm under concurrent audited writes and reads ---------------------
prod_dir "$(tmpdir)"
n0=$(nrot_log)
load_start
(
    while :; do curl -s -o /dev/null --max-time 10 --cacert "$CA" -H "$R" "$ADDR/v1/secret/data/k1"; done
) &
READP=$!
T_PIDS="$T_PIDS $READP"
sleep 0.3
i=0
while [ $i -lt 100 ]; do
    kill -HUP "$PID"
    sleep 0.05
    i=$((i + 1))
done
load_stop
kill "$READP"
wait "$READP" 2>/dev/null
sleep 0.3
check "SIGHUP every 50 ms for 5 s under load: $(($(nrot_log) - n0)) rotations" test $(($(nrot_log) - n0)) -ge 20
expect_eq "every write answered 200 (no 503 on a healthy disk)" "$(not200)" ""
slow=$(awk '$1 == 200 && $3 > 3 { n++ } END { print n + 0 }' "$D"/acks?)
expect_eq "none waited 3 s or more" "$slow" 0
miss=$(acked_missing)
expect_eq "every acked write ($(acked)) has its response line" "$miss" 0
check "the series verifies ($(nrotated) files)" verify_all

# ---- 8. SIGHUP storms during seal/unseal, recovery, shutdown and startup ----------------------
storm_start() {
    (while kill -HUP "$1" 2>/dev/null; do sleep "${2:-0.01}"; done) &
    STORM=$!
}
storm_stop() {
    kill "$STORM" 2>/dev/null
    wait "$STORM" 2>/dev/null
}
unseal_rk() { hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/unseal" | j .sealed; }
rm -f "$D"/acks?
load_start
storm_start "$PID"
good=0
c=0
while [ $c -lt 4 ]; do
    c=$((c + 1))
    s1=$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")
    n=$(nrotated)
    sleep 0.4
    n2=$(nrotated)
    s3=$(unseal_rk)
    if [ "$s1" = 204 ] && [ "$n" = "$n2" ] && [ "$s3" = false ] && serves; then
        good=$((good + 1))
    else
        echo "# seal/unseal cycle $c: seal $s1, rotated files $n then $n2 while sealed, unseal sealed=$s3"
    fi
    sleep 0.3
done
expect_eq "seal, 0.4 s sealed, unseal x4 under a SIGHUP storm and load: no hang, no rotation while sealed" "$good" 4
check "the SIGHUPs while sealed were refused, logged" grep -q "rotation not done: the server is sealed" "$LOG"
good=0
for c in 1 2; do
    [ "$(hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/storage/recover" | j .complete)" = true ] &&
        serves && good=$((good + 1))
    sleep 0.3
done
expect_eq "storage recovery x2 under the storm" "$good" 2
load_stop
miss=$(acked_missing)
expect_eq "every acked write ($(acked)) has its response line" "$miss" 0
kill -TERM "$PID"
wait "$PID"
rc=$?
storm_stop
expect_eq "SIGTERM under a SIGHUP storm: a clean stop (exit 0)" "$rc" 0
T_STARTS=$((T_STARTS + 1))
LOG="$D/prod-$T_STARTS.log"
"$TRESORD" -config "$D/tresor.yaml" >"$LOG" 2>&1 &
PID=$!
T_PIDS="$T_PIDS $PID"
# from its first log line (the seal's), well before the store opens and the event loop runs
while ! grep -q INSECURE "$LOG" && kill -0 "$PID" 2>/dev/null; do :; done
storm_start "$PID" 0.002
PORT=$(wait_port "$LOG")
sleep 0.3
kill -0 "$PID" 2>/dev/null && up=up || up=dead
storm_stop
ADDR="https://127.0.0.1:$PORT"
expect_eq "started under a SIGHUP storm: it comes up" "$up" up
expect_eq "and opens" "$(sealed_state)" "false,"
stop_prod
expect_eq "clean stop (exit 0)" "$?" 0
check "the series verifies" verify_all
check "no sanitizer report so far" sh -c "! cat \"\$@\" | grep -q -e Sanitizer -e 'runtime error'" _ "$D"/prod-*.log

# ---- 9. a full audit disk during rotations: 503s, nothing acked is lost, it recovers -------------
E=$(tmpdir)
tmpfs_mount "$E/small" 2m
start_prod "$E" devkey || exit 1
stop_prod
D=$E
A="$E/small/audit.log"
sed -i "s|^  path: $E/audit.log\$|  path: $A\n  anchor_interval_ms: 200\n  rotate_bytes: 1048576|" "$E/tresor.yaml"
restart_prod "$E" || exit 1
init_devkey
dd if=/dev/zero of="$E/small/fill" bs=4k count=400 2>/dev/null
load_start
i=0
while [ $i -lt 40 ] && ! grep -q "No space left" "$LOG"; do
    kill -HUP "$PID"
    sleep 0.3
    i=$((i + 1))
done
for i in 1 2 3 4 5; do
    kill -HUP "$PID"
    sleep 0.3
done
full=$(awk '$1 == 503' "$D"/acks? | wc -l | tr -d ' ')
rm -f "$E/small/fill"
n=$(nrotated)
i=0
while [ $i -lt 10 ] && [ "$(nrotated)" = "$n" ]; do
    kill -HUP "$PID"
    sleep 0.3
    i=$((i + 1))
done
sleep 0.5
load_stop
check "the disk filled: writes refused with 503 ($full)" test "$full" -gt 0
expect_eq "and only 503 (no other failure)" "$(not200 | sed 's/ *[0-9]* 503;//')" ""
check "rotations failed on the full disk (logged)" grep -q "rotation failed" "$LOG"
check "space back: a rotation is done ($(nrotated) files)" test "$(nrotated)" -gt "$n"
check "and writes succeed again" sh -c "tail -n 3 '$D/acks1' | grep -q '^200 '"
miss=$(acked_missing)
expect_eq "every acked write ($(acked)) has its response line" "$miss" 0
check "no leftover audit.log.next" test ! -e "$A.next"
check "the series verifies" verify_all
kill9
restart_prod "$E" || exit 1
expect_eq "kill -9 after it: opens" "$(sealed_state)" "false,"

# ---- 10. rotate_bytes 1 MiB and rotate_keep 1 under load ----------------------------------------
kill9
prod_dir "$(tmpdir)" "  anchor_interval_ms: 200\n  rotate_bytes: 1048576\n  rotate_keep: 1"
n0=$(nrot_log)
load_start
i=0
while [ $i -lt 150 ] && [ $(($(nrot_log) - n0)) -lt 3 ]; do
    sleep 0.1
    i=$((i + 1))
done
load_stop
sleep 0.4
check "three rotations by size under load" test $(($(nrot_log) - n0)) -ge 3
expect_eq "rotate_keep 1: one rotated file left" "$(nrotated)" 1
check "the current file is below 1 MiB + a line" test "$(wc -c <"$A")" -lt 1100000
expect_eq "every write answered 200" "$(not200)" ""
check "the kept file and the current one verify" verify_all
kill9
restart_prod "$D" || exit 1
expect_eq "kill -9 then: opens" "$(sealed_state)" "false,"
stop_prod
expect_eq "clean stop: exit 0 (no leak report)" "$?" 0
check "no sanitizer report in any server log" \
    sh -c "! cat \"\$@\" | grep -q -e Sanitizer -e 'runtime error'" _ "$T_BASE"/d-*/prod-*.log
finish
