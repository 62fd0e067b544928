#!/bin/sh
# Run every libFuzzer harness built in OUT, one after the other (the machine is shared).
# Usage: fuzz/run.sh OUT SECS
#   SECS > 0: fuzz each harness for SECS seconds, starting from its committed seeds in
#             fuzz/corpus/<name>/; new inputs go to OUT/corpus/<name>/ (not committed), a crash
#             to OUT/crashes/<name>-crash-<sha1>.
#   SECS = 0: replay the committed seeds once (the regression step of `make test`).
# Prints one line per harness (executions, coverage, crashes) and appends a "CASES: ok bad"
# line per harness to $TR_TALLY when set, so each harness counts as one check.
set -u
out=$1
secs=$2
tally=${TR_TALLY:-/dev/null}
fail=0
# Leaks are bugs here too; libFuzzer turns these on by itself, the UBSan ones are for parity
# with tests/run.sh.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

for bin in "$out"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    seeds=fuzz/corpus/$name
    log=$(mktemp)
    mkdir -p "$seeds" "$out/crashes"
    # fuzz/<name>.dict, when a harness ships one: tokens for the mutator (libFuzzer's -dict)
    dict=
    [ -f "fuzz/$name.dict" ] && dict=-dict=fuzz/$name.dict
    if [ "$secs" -gt 0 ]; then
        mkdir -p "$out/corpus/$name"
        "$bin" -max_total_time="$secs" -timeout=25 -print_final_stats=1 $dict \
            -artifact_prefix="$out/crashes/$name-" "$out/corpus/$name" "$seeds" >"$log" 2>&1
    else
        "$bin" -runs=0 -timeout=25 -print_final_stats=1 \
            -artifact_prefix="$out/crashes/$name-" "$seeds" >"$log" 2>&1
    fi
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 |
        sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/\1 \2 \3/')
    set -- $cov
    crashes=0
    [ $rc -ne 0 ] && crashes=1
    printf 'fuzz %-13s %9s executions, cov %5s, features %6s, corpus %5s, crashes %d\n' \
        "$name" "${execs:-?}" "${1:-?}" "${2:-?}" "${3:-?}" "$crashes"
    if [ $rc -eq 0 ]; then
        echo "CASES: 1 0" >>"$tally"
    else
        echo "CASES: 0 1" >>"$tally"
        grep -E 'INVARIANT FAILED|ERROR:|runtime error|SUMMARY|#[0-9]+ 0x.* in |Test unit written' \
            "$log" | head -30
        fail=1
    fi
    rm -f "$log"
done
exit $fail
