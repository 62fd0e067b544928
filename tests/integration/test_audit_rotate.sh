#!/bin/sh
# Audit log rotation (api/audit.h "Rotation", docs/operations.md "Audit log"): SIGHUP and
# audit.rotate_bytes rotate the file to audit.log.<seq>; the new file starts with a rotation marker
# that continues the hash chain, so `tresor audit verify OLD... NEW` checks every line across the
# files, and the anchored head keeps working: restarts (clean and kill -9) raise no false alarm,
# while a cut current file is still refused. rotate_keep prunes the oldest files. Rotations under
# concurrent audited reads lose no line. A real config-file tresord (devkey seal, file counter,
# audit file, anchor every 200 ms) over TLS, driven with curl.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl

D=$(tmpdir)
A="$D/audit.log"
start_prod "$D" devkey || exit 1
stop_prod
sed -i "s|^  path: $A\$|  path: $A\n  anchor_interval_ms: 200|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
INIT=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init")
ROOT=$(echo "$INIT" | j .root_token)
RKEY=$(echo "$INIT" | j '.recovery_keys[0]')
R="X-Vault-Token: $ROOT"
hcurl -H "$R" -X POST -d '{"type":"kv","options":{"version":"2"}}' "$ADDR/v1/sys/mounts/secret" >/dev/null
for i in 1 2 3; do
    hcurl -H "$R" -X PUT -d "{\"data\":{\"v\":\"s$i\"}}" "$ADDR/v1/secret/data/k$i" >/dev/null
done

sealed_state() { hcurl "$ADDR/v1/sys/seal-status" | j '[.sealed, .sealed_reason] | join(",")'; }
# rotated files, oldest first
rotated() { ls "$D" | grep -E '^audit\.log\.[1-9][0-9]*$' | sort -t. -k3 -n | sed "s|^|$D/|"; }
nrotated() { rotated | wc -l | tr -d ' '; }
# wait_rotated N: until N rotated files exist (the anchoring thread rotates within an interval)
wait_rotated() {
    _i=0
    while [ "$(nrotated)" -lt "$1" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    [ "$(nrotated)" -ge "$1" ]
}
verify_all() { "$TRESOR" audit verify $(rotated) "$A"; }
# reads_cfg N: a curl config for N keep-alive reads of k1..k3 with the root token
reads_cfg() {
    echo "header = \"X-Vault-Token: $ROOT\""
    _i=0
    while [ $_i -lt "$1" ]; do
        printf 'url = "%s/v1/secret/data/k%d"\noutput = "/dev/null"\n' "$ADDR" $((1 + _i % 3))
        _i=$((_i + 1))
    done
}

# -- SIGHUP rotates: the old lines keep their file, the new file continues the chain
N=$(wc -l <"$A" | tr -d ' ')
kill -HUP "$PID"
check "SIGHUP rotates the audit log" wait_rotated 1
F1=$(rotated | head -n 1)
LAST=$(tail -n 1 "$F1" | j .seq)
expect_eq "the rotated file is named after its last line" "$(basename "$F1")" "audit.log.$LAST"
check "the rotated file keeps at least the lines written before" test "$LAST" -ge "$N"
check "the rotated file verifies alone" "$TRESOR" audit verify "$F1"
M=$(head -n 1 "$A")
expect_eq "the new file starts with a rotation marker" "$(echo "$M" | j .type)" rotation
expect_eq "the marker continues the seq" "$(echo "$M" | j .seq)" $((LAST + 1))
expect_eq "the marker names the rotated file" "$(echo "$M" | j .rotation.file)" "audit.log.$LAST"
expect_eq "and its size" "$(echo "$M" | j .rotation.end)" "$(wc -c <"$F1" | tr -d ' ')"
expect_eq "the new file is 0600" "$(stat -c %a "$A")" 600
check "the log says so" grep -q "audit: rotated the log to $F1" "$LOG"
expect_eq "reads go on, audited in the new file" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" s1
check "the new file has the read's lines" grep -q '"path":"secret/data/k1"' "$A"
OUT=$("$TRESOR" audit verify "$A" 2>&1)
expect_eq "the new file verifies alone (exit 0)" "$?" 0
expect_contains "and says what it continues" "$OUT" "audit.log.$LAST"
OUT=$(verify_all 2>&1)
expect_eq "both files verify together (exit 0)" "$?" 0
expect_contains "from seq 1" "$OUT" "seq 1.."
OUT=$("$TRESOR" audit verify "$A" "$F1" 2>&1)
expect_eq "in the wrong order they do not (exit 2)" "$?" 2
check "tresord -audit-verify checks the series too" "$TRESORD" -audit-verify $(rotated) "$A"

# -- nothing written since: no empty rotation (the read above went to the new file: one more)
kill -HUP "$PID"
check "a second SIGHUP rotates the read's lines away" wait_rotated 2
hup_audit
check "a rotation with nothing new is skipped and logged" grep -q "nothing was written since the last one" "$LOG"
expect_eq "no file for it" "$(nrotated)" 2

# -- restarts after rotations raise no alarm; kill -9 right after a rotation neither
stop_prod
restart_prod "$D" || exit 1
expect_eq "a clean restart after a rotation opens" "$(sealed_state)" "false,"
for i in 1 2 3 4 5; do
    hcurl -H "$R" "$ADDR/v1/secret/data/k2" >/dev/null
    kill -HUP "$PID"
    wait_rotated $((i + 2)) || break
    kill -9 "$PID"
    wait "$PID" 2>/dev/null
    restart_prod "$D" || exit 1
    S=$(sealed_state)
    [ "$S" = "false," ] || break
done
expect_eq "five kill -9 right after rotations: no false alarm" "$S" "false,"
expect_eq "five more files" "$(nrotated)" 7
check "the whole series verifies" verify_all
check "no rotation leftover" test ! -e "$A.next"

# -- the current file cut is still refused; a rotated file changed is caught offline
hcurl -H "$R" "$ADDR/v1/secret/data/k3" >/dev/null
sleep 0.5
stop_prod
cp "$A" "$D/cur.bak"
head -n 1 "$D/cur.bak" >"$A"
restart_prod "$D" || exit 1
expect_eq "a cut current file: sealed, tamper_detected" "$(sealed_state)" "true,tamper_detected"
expect_eq "recovery adopts it" "$(hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/storage/recover" | j .complete)" true
F2=$(rotated | sed -n 2p)
cp "$F2" "$D/f2.bak"
sed -i '2s/"remote_address":"127.0.0.1"/"remote_address":"127.0.0.2"/' "$F2"
OUT=$(verify_all 2>&1)
expect_eq "an edited rotated file breaks the series (exit 2)" "$?" 2
expect_contains "at that file" "$OUT" "$(basename "$F2")"
cp "$D/f2.bak" "$F2"
rm "$F2"
OUT=$(verify_all 2>&1)
expect_eq "a missing middle file breaks the series (exit 2)" "$?" 2
cp "$D/f2.bak" "$F2"
check "restored, it verifies" verify_all

# -- rotation while sealed is refused, with a message
hcurl -H "$R" -X PUT "$ADDR/v1/sys/seal" >/dev/null
hup_audit
check "SIGHUP while sealed: not rotated, logged" grep -q "rotation not done: the server is sealed" "$LOG"
stop_prod

# -- rotate_bytes and rotate_keep
sed -i "s|^  anchor_interval_ms: 200\$|  anchor_interval_ms: 200\n  rotate_bytes: 1048576\n  rotate_keep: 2|" "$D/tresor.yaml"
restart_prod "$D" || exit 1
expect_eq "unsealed by the recovery key" "$(hcurl -X PUT -d "{\"key\":\"$RKEY\"}" "$ADDR/v1/sys/unseal" | j .sealed)" false
NROT=$(grep -c "audit: rotated the log" "$LOG")
reads_cfg 1400 >"$D/urls.cfg"
curl -sS --cacert "$CA" -K "$D/urls.cfg" -w '%{http_code}\n' >"$D/codes" 2>&1
expect_eq "1400 reads over one connection: all 200" "$(grep -c '^200$' "$D/codes")" 1400
i=0 # the rotation by size follows the next anchoring
while [ "$(grep -c "audit: rotated the log" "$LOG")" -lt $((NROT + 1)) ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
check "the file was rotated by size (2 MB of lines, 1 MiB files)" \
    test "$(grep -c "audit: rotated the log" "$LOG")" -ge $((NROT + 1))
check "the current file is below 1 MiB again" test "$(wc -c <"$A")" -lt 1048576
expect_eq "rotate_keep 2: two rotated files left" "$(nrotated)" 2
check "the oldest ones were removed (logged)" grep -q "removed the old rotated file" "$LOG"
check "the files kept verify with the current one" verify_all
stop_prod
restart_prod "$D" || exit 1
expect_eq "restart after size rotations: no alarm" "$(sealed_state)" "false,"

# -- rotations under concurrent audited reads lose no line
sed -i "/^  rotate_bytes: /d; s|^  rotate_keep: 2\$|  rotate_keep: 0|" "$D/tresor.yaml"
stop_prod
for f in $(rotated); do rm -f "$f"; done
restart_prod "$D" || exit 1
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
kill -HUP "$PID"
wait_rotated 1
reads() { cat $(rotated) "$A" | grep '"type":"response"' | grep -c '"path":"secret/data/k[123]"'; }
C0=$(reads)
CURLS=""
for w in 1 2 3 4; do
    reads_cfg 300 >"$D/u$w.cfg"
    curl -sS --cacert "$CA" -K "$D/u$w.cfg" -w '%{http_code}\n' >"$D/c$w" 2>&1 &
    CURLS="$CURLS $!"
done
for r in 1 2 3 4 5 6 7 8; do kill -HUP "$PID"; sleep 0.3; done
for c in $CURLS; do wait "$c"; done
sleep 0.5
expect_eq "1200 concurrent reads during rotations: all 200" "$(cat "$D"/c1 "$D"/c2 "$D"/c3 "$D"/c4 | grep -c '^200$')" 1200
check "several rotations happened meanwhile" test "$(nrotated)" -ge 3
check "the series verifies" verify_all
expect_eq "every read has its response line, in some file" "$(( $(reads) - C0 ))" 1200
stop_prod
restart_prod "$D" || exit 1
expect_eq "and the restart opens" "$(sealed_state)" "false,"
finish
