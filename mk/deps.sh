#!/bin/sh
# Install what the build and the tests need, only when something is missing (we are root on
# Debian bookworm). Costs a few pkg-config/command -v calls when everything is there.
set -eu

PKGS="libssl-dev libsodium-dev liblmdb-dev libevent-dev libyaml-dev libjansson-dev libcmocka-dev
libtss2-dev pkg-config swtpm swtpm-tools tpm2-tools curl jq lmdb-utils clang-format cppcheck
binutils gcc make openssl procps nodejs npm python3"

missing=""
for p in openssl libsodium lmdb libevent libevent_openssl libevent_pthreads yaml-0.1 jansson \
         cmocka tss2-esys tss2-sys tss2-mu tss2-tctildr tss2-rc; do
    pkg-config --exists "$p" 2>/dev/null || missing="$missing $p"
done
for c in cc make pkg-config swtpm swtpm_setup tpm2_startup curl jq clang-format cppcheck \
         objcopy nm openssl mdb_stat pgrep node npm python3; do
    command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done

# Real Vault client libraries for the integration tests (pinned by tests/node/package-lock.json)
node_modules() {
    if [ ! -d tests/node/node_modules/node-vault ]; then
        echo "deps: installing the node test clients (npm ci in tests/node)"
        (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) || exit 1
    fi
}

if [ -z "$missing" ]; then
    node_modules
    exit 0
fi
echo "deps: missing:$missing; installing with apt-get"
if [ "$(id -u)" != 0 ]; then
    echo "deps: run as root (or install: $PKGS)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
echo "deps: installed"
node_modules
