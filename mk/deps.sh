#!/bin/sh
# Install what the build and the tests need, only when something is missing (we are root on
# Debian bookworm). Costs a few pkg-config/command -v calls when everything is there. Only the
# packages whose check failed are installed: asking apt for the whole list would also touch
# packages that are present in another form (e.g. a nodejs that bundles npm conflicts with
# Debian's npm) and fail.
set -eu

missing=""
need() { # need PACKAGE: queue a Debian package once
    case " $missing " in
    *" $1 "*) ;;
    *) missing="$missing $1" ;;
    esac
}

# pkg-config module -> Debian package
for m in openssl:libssl-dev libsodium:libsodium-dev lmdb:liblmdb-dev libevent:libevent-dev \
         libevent_openssl:libevent-dev libevent_pthreads:libevent-dev yaml-0.1:libyaml-dev \
         jansson:libjansson-dev cmocka:libcmocka-dev tss2-esys:libtss2-dev tss2-mu:libtss2-dev \
         tss2-tctildr:libtss2-dev tss2-rc:libtss2-dev; do
    pkg-config --exists "${m%%:*}" 2>/dev/null || need "${m#*:}"
done
# command -> Debian package
for m in cc:gcc make:make pkg-config:pkg-config swtpm:swtpm swtpm_setup:swtpm-tools \
         tpm2_startup:tpm2-tools curl:curl jq:jq clang-format:clang-format cppcheck:cppcheck \
         objcopy:binutils nm:binutils openssl:openssl mdb_stat:lmdb-utils pgrep:procps \
         node:nodejs npm:npm python3:python3 clang:clang strace:strace; do
    command -v "${m%%:*}" >/dev/null 2>&1 || need "${m#*:}"
done
# libFuzzer's runtime (make fuzz; the fuzz replay step of make test) is only a Recommends of clang
[ -f "$(clang -print-resource-dir 2>/dev/null)/lib/linux/libclang_rt.fuzzer-$(uname -m).a" ] ||
    need libclang-rt-dev
# hvac, the Python Vault client of tests/integration/test_hvac.sh, is Debian's package (it
# also brings /usr/bin/python3, the interpreter the test runs it with)
dpkg-query -W -f='${Status}' python3-hvac 2>/dev/null | grep -q 'ok installed' ||
    need python3-hvac

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
    echo "deps: run as root (or install:$missing)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: installed"
node_modules
