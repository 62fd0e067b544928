#!/bin/sh
# `make test`: build, lint, run the unit and integration suites, then the same suites rebuilt with
# AddressSanitizer + UndefinedBehaviorSanitizer. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
jobs=$(nproc 2>/dev/null || echo 2)
tally=$(mktemp)
export TR_TALLY="$tally"
status=0

step() {
    name=$1
    shift
    echo "==> $name"
    if "$@"; then
        echo "PASS: $name" >>"$tally"
    else
        echo "FAIL: $name" >>"$tally"
        echo "==> $name FAILED"
        status=1
    fi
}

step "build" $MAKE --no-print-directory -j"$jobs" all unit
step "lint" $MAKE --no-print-directory lint
step "suites" $MAKE --no-print-directory suites
step "build (asan+ubsan)" $MAKE --no-print-directory -j"$jobs" SAN=1 all unit
step "suites (asan+ubsan)" $MAKE --no-print-directory SAN=1 suites
# libFuzzer harnesses (clang) replay their committed corpora: a few seconds, one check each.
step "fuzz corpus replay" $MAKE --no-print-directory -j"$jobs" fuzz-regress
if [ -f mk/deploy-check.sh ]; then
    step "deploy-check" $MAKE --no-print-directory deploy-check
fi

# The closing line counts test cases (cmocka cases and integration checks); a failed step or
# suite that produced no case line (a crash, a build error) counts as one failure more.
cases_ok=$(awk '/^CASES: /{s+=$2} END{print s+0}' "$tally")
cases_bad=$(awk '/^CASES: /{s+=$3} END{print s+0}' "$tally")
cases_todo=$(awk '/^CASES: /{s+=$4} END{print s+0}' "$tally")
steps_bad=$(grep -c '^FAIL: ' "$tally")
echo
grep '^FAIL: ' "$tally" || true
# the failed checks (first 10 per suite), so the end of the output says what failed
grep '^NOTOK: ' "$tally" | sed 's/^NOTOK: /  /' | tail -n 30
rm -f "$tally"
failed=$cases_bad
[ "$cases_bad" -eq 0 ] && [ "$steps_bad" -gt 0 ] && failed=$steps_bad
echo "$cases_ok passed, $failed failed, $cases_todo known gaps (TAP TODO: differences from Vault, listed above)"
[ "$steps_bad" -eq 0 ] && [ $status -eq 0 ]
