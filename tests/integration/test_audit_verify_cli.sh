#!/bin/sh
# `tresor audit verify FILE [FILE...]` over a rotated audit log (common/tr_audit.h): a series of
# files written here by an independent implementation of the format (python3: hashlib, json with
# sorted keys and compact separators, as jansson writes plain ASCII), each rotated file named
# audit.log.<its last seq> and each newer file opened by a rotation marker. Checks exit codes
# (0 intact, 2 broken, 1 unreadable or usage) and what the messages name. No server needed.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "missing python3 (mk/deps.sh installs it)"; exit 1; }

D=$(tmpdir)
python3 - "$D" <<'EOF' || { echo "cannot generate the audit files"; exit 1; }
import hashlib, json, os, sys

d = sys.argv[1]
T = "2026-01-01T00:00:00Z"

def dump(o):
    return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()

class Chain:
    seq, prev, lines = 0, "0" * 64, []

def add(c, body):
    o = dict(body, seq=c.seq + 1, prev_hash=c.prev)
    o["hash"] = sha(dump(o))
    text = dump(o)
    c.seq, c.prev = c.seq + 1, sha(text)
    c.lines.append(text)

def requests(c, k):
    for _ in range(k):
        add(c, {"time": T, "type": "request",
                "request": {"operation": "read", "path": "secret/data/app-%d" % (c.seq + 1)}})

def rotate(c):
    text = "".join(l + "\n" for l in c.lines)
    name = "audit.log.%d" % c.seq
    with open(os.path.join(d, name), "w") as f:
        f.write(text)
    c.lines = []
    add(c, {"time": T, "type": "rotation",
            "rotation": {"file": name, "seq": c.seq, "end": len(text.encode())}})

c = Chain()
requests(c, 3)   # audit.log.3: seq 1..3
rotate(c)
requests(c, 1)   # audit.log.5: marker (4), 5
rotate(c)
requests(c, 2)   # audit.log: marker (6), 7, 8
with open(os.path.join(d, "audit.log"), "w") as f:
    f.write("".join(l + "\n" for l in c.lines))
EOF

# run CMD...: RC, OUT (stdout) and ERR (stderr) of CMD
run() {
    "$@" >"$D/.out" 2>"$D/.err"
    RC=$?
    OUT=$(cat "$D/.out")
    ERR=$(cat "$D/.err")
}

A3="$D/audit.log.3"
A5="$D/audit.log.5"
A="$D/audit.log"

run "$TRESOR" audit verify "$A3"
expect_eq "an intact single file: exit 0" "$RC" 0
expect_eq "it reports entries, seq range and files" "$OUT" \
    "OK: 3 audit entries verified (seq 1..3) in 1 file(s), hash chain intact"

run "$TRESOR" audit verify "$A"
expect_eq "a continuation file alone: exit 0" "$RC" 0
expect_contains "it counts the marker and the lines after it" "$OUT" \
    "OK: 3 audit entries verified (seq 6..8) in 1 file(s), hash chain intact"
expect_contains "a note names the file it continues" "$OUT" \
    "note: $A continues audit.log.5 (line 5); verify it together with that file to check the link"

run "$TRESOR" audit verify "$A5" "$A"
expect_eq "two files oldest first: exit 0" "$RC" 0
expect_contains "two files: entries and seq range" "$OUT" \
    "OK: 5 audit entries verified (seq 4..8) in 2 file(s), hash chain intact"
expect_contains "two files: the older one continues audit.log.3" "$OUT" "continues audit.log.3 (line 3)"

run "$TRESOR" audit verify "$A3" "$A5" "$A"
expect_eq "the whole series: exit 0" "$RC" 0
expect_eq "the whole series: all 8 entries, no note" "$OUT" \
    "OK: 8 audit entries verified (seq 1..8) in 3 file(s), hash chain intact"

run "$TRESOR" audit verify "$A" "$A5"
expect_eq "wrong order: exit 2" "$RC" 2
expect_contains "wrong order: the broken link is named" "$ERR" \
    "$A5: hash chain broken between it and $A (file 2 does not continue file 1"
expect_contains "wrong order: said so" "$ERR" "the files are out of order"

run "$TRESOR" audit verify "$A3" "$A"
expect_eq "a middle file missing: exit 2" "$RC" 2
expect_contains "a middle file missing: a seq gap" "$ERR" "seq gap"

mkdir "$D/t"
cp "$A3" "$A5" "$A" "$D/t/"
sed -i '2s/app-5/app-9/' "$D/t/audit.log.5"
run "$TRESOR" audit verify "$D/t/audit.log.3" "$D/t/audit.log.5" "$D/t/audit.log"
expect_eq "a tampered line in the middle file: exit 2" "$RC" 2
expect_contains "it names the file and the line" "$ERR" \
    "$D/t/audit.log.5: hash chain broken at line 2 (hash mismatch); 4 entries before it verified"

cp "$A3" "$D/t/audit.log.3"
printf '%s\n' "$(tail -n 1 "$A3")" >>"$D/t/audit.log.3"
run "$TRESOR" audit verify "$D/t/audit.log.3"
expect_eq "a line repeated at the end of a rotated file: exit 2" "$RC" 2
expect_contains "reported at that line" "$ERR" "at line 4"

run "$TRESOR" audit verify "$A3" "$D/no-such.log"
expect_eq "an unreadable file: exit 1" "$RC" 1
expect_contains "it names that file" "$ERR" "$D/no-such.log: cannot open"

run "$TRESOR" audit verify
expect_eq "no FILE: usage error, exit 1" "$RC" 1

run "$TRESOR" audit verify -h
expect_contains "help mentions verifying rotated files in order" "$OUT$ERR" \
    "tresor audit verify audit.log.1234 audit.log"

finish
