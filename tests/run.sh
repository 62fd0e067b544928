#!/bin/sh
# Run one build flavour's suites: every unit test binary, then every integration script.
# Usage: tests/run.sh BUILD_DIR BIN_DIR. Appends PASS:/FAIL: lines to $TR_TALLY when set.
set -u
build=$1
bindir=$(cd "$2" && pwd)
tally=${TR_TALLY:-/dev/null}
fail=0
export TRESORD="$bindir/tresord" TRESOR="$bindir/tresor"
export CMOCKA_MESSAGE_OUTPUT=stdout
# Leak checks stay on; TR_TEST_SEED makes random inputs repeatable.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
flavour=$(basename "$build")

for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name="$flavour/unit/$(basename "$t")"
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED)  \]|^\[  FAILED  \]' | sed "s|^|$name: |"
    n=$(printf '%s\n' "$out" | sed -n 's/^\[==========\] \([0-9]*\) test(s) run\./\1/p' | tail -1)
    np=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | tail -1)
    nf=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s),.*/\1/p' | tail -1)
    echo "CASES: ${np:-0} ${nf:-0}" >>"$tally"
    if [ $rc -eq 0 ]; then
        echo "PASS: $name (${n:-?} cases)" | tee -a "$tally"
    else
        printf '%s\n' "$out" | tail -40
        echo "FAIL: $name" | tee -a "$tally"
        printf '%s\n' "$out" | grep '^\[  FAILED  \] [a-z]' | head -10 | sed "s|^|NOTOK: $name: |" >>"$tally"
        fail=1
    fi
done

for t in tests/integration/test_*.sh; do
    [ -f "$t" ] || continue
    name="$flavour/integration/$(basename "$t" .sh)"
    log=$(mktemp)
    timeout 600 sh "$t" >"$log" 2>&1
    rc=$?
    # TAP: "not ok ... # TODO" is a known gap, reported but not a failure
    todo=$(grep -c '^not ok .*# TODO' "$log")
    echo "CASES: $(grep -c '^ok ' "$log") $(($(grep -c '^not ok ' "$log") - todo)) $todo" >>"$tally"
    if [ $rc -eq 0 ]; then
        grep -E '^(ok|not ok) ' "$log" | sed "s|^|  |"
        echo "PASS: $name" | tee -a "$tally"
    else
        tail -60 "$log"
        echo "FAIL: $name" | tee -a "$tally"
        # the failing checks themselves, repeated at the end of make test (mk/test.sh)
        grep '^not ok ' "$log" | grep -v '# TODO' | head -10 | sed "s|^|NOTOK: $name: |" >>"$tally"
        fail=1
    fi
    rm -f "$log"
done
exit $fail
