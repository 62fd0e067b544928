#!/bin/sh
# Build and run bench/transit_core.c against a build tree's enclave objects (issue #7).
# Usage: sh bench/transit_core.sh [BUILD_DIR] [ITERATIONS]   (BUILD_DIR as `make BUILD=...`)
set -eu
BUILD=${1:-build}
ITERS=${2:-20000}
[ -f "$BUILD/enclave/transit.o" ] || { echo "bench: build $BUILD first (make BUILD=$BUILD)" >&2; exit 2; }
OUT=$(mktemp /tmp/tresor-transit-core-XXXXXX)
trap 'rm -f "$OUT"' EXIT INT TERM
PKGS="openssl libsodium lmdb libevent libevent_openssl libevent_pthreads yaml-0.1 jansson tss2-esys tss2-mu tss2-tctildr tss2-rc"
# shellcheck disable=SC2046
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror $(pkg-config --cflags $PKGS) \
    "$(dirname "$0")/transit_core.c" "$BUILD"/enclave/*.o "$BUILD/libtresor.a" \
    -o "$OUT" $(pkg-config --libs $PKGS) -lpthread
"$OUT" "$ITERS" 2>/dev/null
