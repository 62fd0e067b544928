#!/bin/sh
# Static checks: formatting, cppcheck, banned calls, and the trusted core's boundary.
# Usage: mk/lint.sh BUILD_DIR
set -u
build=${1:-build}
fail=0
srcs=$(git ls-files '*.c' '*.h' 2>/dev/null || find common server enclave storage api cli tests bench fuzz -name '*.[ch]')

note() { echo "lint: $*"; }

if ! clang-format --dry-run -Werror $srcs >/tmp/tresor-lint.$$ 2>&1; then
    head -40 /tmp/tresor-lint.$$
    note "clang-format: files need formatting (clang-format -i <file>)"
    fail=1
fi
rm -f /tmp/tresor-lint.$$

if ! cppcheck -q --error-exitcode=1 --enable=warning,portability --inline-suppr \
        --std=c11 -D_GNU_SOURCE -DTR_SANITIZE_BUILD=0 --suppress=missingIncludeSystem --suppress=unknownMacro \
        common server enclave storage api cli 2>&1; then
    note "cppcheck found problems"
    fail=1
fi

# Banned calls (docs/style: unsafe or unseeded). memcmp on secrets is a review item instead.
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|rand|srand)[[:space:]]*\('
if grep -nE "$banned" $srcs; then
    note "banned call above (use snprintf, strtoll, randombytes_*, ...)"
    fail=1
fi

# Nothing outside enclave/ may include an enclave-internal header (unit tests and fuzz harnesses
# of internal modules excepted: they link the separate objects, never the daemon).
if grep -nE '#include[[:space:]]+"[^"]*enclave/[a-z_]+_int\.h"' $(echo "$srcs" | grep -v -e '^enclave/' -e '^tests/unit/' -e '^fuzz/'); then
    note "enclave internal header included from outside enclave/"
    fail=1
fi

# The trusted core exports exactly the entry points enclave.h marks ENC_API.
if [ -f "$build/enclave.o" ]; then
    want=$(sed -n 's/^ENC_API[^(]*[ *]\([a-z_0-9]*\)(.*/\1/p' enclave/enclave.h | sort -u)
    have=$(nm -g --defined-only "$build/enclave.o" | awk '{print $3}' | sort -u)
    if [ "$want" != "$have" ]; then
        note "enclave.o exports differ from enclave.h (< header only, > object only):"
        diff -u /dev/null /dev/null >/dev/null
        printf '%s\n' "$want" >/tmp/tresor-want.$$
        printf '%s\n' "$have" >/tmp/tresor-have.$$
        diff /tmp/tresor-want.$$ /tmp/tresor-have.$$
        rm -f /tmp/tresor-want.$$ /tmp/tresor-have.$$
        fail=1
    fi
fi

if [ $fail -ne 0 ]; then
    note "FAILED"
    exit 1
fi
note "ok"
