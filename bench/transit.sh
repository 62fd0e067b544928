#!/bin/sh
# Transit throughput against a KV v2 read in the same run (issue #7): encrypt and decrypt of
# 64 B and 4 KiB payloads over TLS keep-alive with wrk, 127.0.0.1 only, bounded duration.
# Not part of the test suites. Prints requests/s, latency and the ratio to the KV read.
# Usage: sh bench/transit.sh [TRESORD]   (env: DURATION=5s THREADS=2 CONNS=16)
# Needs wrk (Debian: apt-get install -y wrk), curl, jq.
set -u
TRESORD=${1:-${TRESORD:-bin/tresord}}
DURATION=${DURATION:-5s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-16}
HERE=$(cd "$(dirname "$0")" && pwd)
LUA="$HERE/transit.lua"

case "$TRESORD" in /*) ;; *) TRESORD="$(pwd)/$TRESORD" ;; esac
for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 2; }
done
D=$(mktemp -d /tmp/tresor-bench-XXXXXX)
PID=""
SRV=""
cleanup() {
    [ -n "$SRV" ] && [ "$SRV" != "$PID" ] && kill -TERM "$SRV" 2>/dev/null
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$D"
}
trap cleanup EXIT INT TERM

(cd "$D" && exec "$TRESORD" -dev -dev-dir "$D/data" -dev-listen 127.0.0.1:0 >"$D/log" 2>&1) &
PID=$!
i=0
PORT=""
while [ $i -lt 100 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's/.*listening on .*(port \([0-9]*\),.*/\1/p' "$D/log" | head -1)
    [ -z "$PORT" ] && sleep 0.1
    i=$((i + 1))
done
[ -n "$PORT" ] || { echo "bench: server did not start" >&2; cat "$D/log" >&2; exit 1; }
# the daemon's pid (a shell may sit between us and it) for its CPU time
SRV=$PID
[ "$(cat /proc/$SRV/comm 2>/dev/null)" = tresord ] || SRV=$(pgrep -P "$PID" | head -1)
ticks() { awk '{ print $14 + $15 }' "/proc/$SRV/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
TOKEN=$(sed -n 's/.*Root Token: \(hvs\.[A-Za-z0-9_.-]*\).*/\1/p' "$D/log" | head -1)
ADDR="https://127.0.0.1:$PORT"
c() { curl -sS --cacert "$D/data/tls/ca.crt" -H "X-Vault-Token: $TOKEN" "$@"; }

c -X POST -d '{"type":"transit"}' "$ADDR/v1/sys/mounts/transit" >/dev/null
c -X POST "$ADDR/v1/transit/keys/bench" >/dev/null
c -X PUT -d '{"data":{"user":"bench","password":"0123456789abcdef0123456789abcdef"}}' \
    "$ADDR/v1/secret/data/bench" >/dev/null
for n in 64 4096; do
    pt=$(head -c "$n" /dev/urandom | base64 -w0)
    printf '{"plaintext":"%s"}' "$pt" >"$D/enc$n.json"
    ct=$(c -X POST --data-binary "@$D/enc$n.json" "$ADDR/v1/transit/encrypt/bench" | jq -r .data.ciphertext)
    case "$ct" in vault:v1:*) ;; *) echo "bench: encrypt setup failed" >&2; exit 1 ;; esac
    printf '{"ciphertext":"%s"}' "$ct" >"$D/dec$n.json"
done

# run NAME METHOD PATH [BODY_FILE]: one wrk run; prints and remembers requests/s and the
# server's CPU time per request (user + system, all threads)
run() {
    t0=$(ticks)
    out=$(BENCH_METHOD=$2 BENCH_TOKEN=$TOKEN BENCH_BODY_FILE=${4:-} \
        wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$LUA" "$ADDR$3" 2>&1)
    line=$(printf '%s\n' "$out" | grep '^BENCH ')
    non2xx=$(printf '%s\n' "$out" | sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p')
    rps=$(printf '%s' "$line" | sed -n 's/.*rps=\([0-9]*\).*/\1/p')
    p50=$(printf '%s' "$line" | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p')
    p99=$(printf '%s' "$line" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p')
    n=$(printf '%s' "$line" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
    cpu=$(awk -v a="$t0" -v b="$(ticks)" -v hz="$HZ" -v n="${n:-0}" \
        'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1e6 / hz / n; else print "?" }')
    eval "RPS_$1=\${rps:-0}"
    eval "CPU_$1=$cpu"
    printf '%-12s %7s req/s  p50 %7s us  p99 %7s us  server CPU %5s us/req  non-2xx %s\n' \
        "$1" "${rps:-?}" "${p50:-?}" "${p99:-?}" "$cpu" "${non2xx:-0}"
}

echo "tresord: $TRESORD; wrk $THREADS threads, $CONNS connections, $DURATION each, TLS keep-alive"
run kv_read GET /v1/secret/data/bench
run encrypt_64 POST /v1/transit/encrypt/bench "$D/enc64.json"
run decrypt_64 POST /v1/transit/decrypt/bench "$D/dec64.json"
run encrypt_4k POST /v1/transit/encrypt/bench "$D/enc4096.json"
run decrypt_4k POST /v1/transit/decrypt/bench "$D/dec4096.json"
echo "ratio to the KV v2 read: throughput (1.00 = as fast), server CPU per request (1.00 = as cheap):"
for t in encrypt_64 decrypt_64 encrypt_4k decrypt_4k; do
    eval "r=\$RPS_$t; c=\$CPU_$t"
    awk -v a="$r" -v b="$RPS_kv_read" -v c="$c" -v d="$CPU_kv_read" -v t="$t" \
        'BEGIN { printf "  %-12s %5.2f x throughput   %5.2f x CPU\n", t, (b > 0 ? a / b : 0), (d > 0 ? c / d : 0) }'
done
