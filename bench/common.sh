# Shared helpers of the bench/ scripts (POSIX sh; sourced). Everything runs on 127.0.0.1 with
# bounded durations; every process started here is killed at exit and every temporary
# directory removed (tests/integration/lib.sh's cleanup plus nginx below).
#
# Environment: BUILD (default build-bench; make's BINDIR rule applies), BENCH_NO_BUILD=1 to
# skip `make bench-build` (run-all.sh builds once), BENCH_DURATION (wrk seconds, default 10),
# BENCH_RESULTS (a file: every result line is appended to it for run-all.sh's summary).
set -u
BENCH_ROOT=${BENCH_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$BENCH_ROOT" || exit 1
BUILD=${BUILD:-build-bench}
if [ "$BUILD" = build ]; then BINDIR=${BINDIR:-bin}; else BINDIR=${BINDIR:-$BUILD/bin}; fi
case "$BINDIR" in /*) ;; *) BINDIR="$BENCH_ROOT/$BINDIR" ;; esac
case "$BUILD" in /*) BUILDDIR=$BUILD ;; *) BUILDDIR="$BENCH_ROOT/$BUILD" ;; esac
TRESORD="$BINDIR/tresord"
TRESOR=/bin/false # lib.sh names it; the benches never use the CLI
SB="$BUILDDIR/bench/storage_bench"
BENCH_DURATION=${BENCH_DURATION:-10}
export TSS2_LOG=all+none

# shellcheck source=../tests/integration/lib.sh
. "$BENCH_ROOT/tests/integration/lib.sh"

NGINX_PIDS=""
bench_cleanup() {
    for p in $NGINX_PIDS; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    cleanup
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_build() {
    [ "${BENCH_NO_BUILD:-0}" = 1 ] && return 0
    if ! make --no-print-directory BUILD="$BUILD" bench-build >/tmp/tr-bench-build.$$ 2>&1; then
        tail -30 /tmp/tr-bench-build.$$
        rm -f /tmp/tr-bench-build.$$
        echo "bench: make BUILD=$BUILD bench-build failed" >&2
        exit 1
    fi
    rm -f /tmp/tr-bench-build.$$
}

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "bench: $tool is missing (Debian: apt-get install -y $tool)" >&2
            exit 2
        }
    done
}

# result LINE: print a result line and keep it for the summary
result() {
    echo "$1"
    [ -n "${BENCH_RESULTS:-}" ] && echo "$1" >>"$BENCH_RESULTS"
    return 0
}

# field LINE KEY: the value of KEY=value in LINE
field() {
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

# ratio A B: A/B with 3 decimals
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'
}

# root_token LOG: the dev server's root token
root_token() {
    sed -n 's/.*Root Token: \(hvs\.[A-Za-z0-9_.-]*\).*/\1/p' "$1" | head -1
}

# stop_pid PID: SIGTERM and wait
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# start_nginx DIR BODY CERT KEY: nginx (2 workers, TLS 1.3 only, keep-alive, no logs) answering
# every request with BODY as application/json on a free loopback port. Sets NGINX_ADDR.
start_nginx() {
    _nd=$1
    _body=$(cat "$2")
    mkdir -p "$_nd/tmp"
    _try=0
    while [ $_try -lt 10 ]; do
        _try=$((_try + 1))
        _np=$(shuf -i 20000-60000 -n 1)
        cat >"$_nd/nginx.conf" <<CONF
worker_processes 2;
pid $_nd/nginx.pid;
error_log $_nd/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $_nd/tmp/body;
    proxy_temp_path $_nd/tmp/proxy;
    fastcgi_temp_path $_nd/tmp/fastcgi;
    uwsgi_temp_path $_nd/tmp/uwsgi;
    scgi_temp_path $_nd/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:$_np ssl;
        ssl_certificate $3;
        ssl_certificate_key $4;
        ssl_protocols TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        location / {
            default_type application/json;
            add_header Cache-Control no-store;
            return 200 '$_body';
        }
    }
}
CONF
        nginx -p "$_nd" -c "$_nd/nginx.conf" -g 'daemon off;' >"$_nd/stderr.log" 2>&1 &
        _npid=$!
        _i=0
        while [ $_i -lt 50 ]; do
            kill -0 "$_npid" 2>/dev/null || break
            if curl -sk --max-time 2 -o /dev/null "https://127.0.0.1:$_np/"; then
                NGINX_PIDS="$NGINX_PIDS $_npid"
                NGINX_ADDR="https://127.0.0.1:$_np"
                return 0
            fi
            sleep 0.1
            _i=$((_i + 1))
        done
        kill -TERM "$_npid" 2>/dev/null
        wait "$_npid" 2>/dev/null
    done
    cat "$_nd/stderr.log" "$_nd/error.log" 2>/dev/null
    return 1
}

stop_nginx() {
    for p in $NGINX_PIDS; do stop_pid "$p"; done
    NGINX_PIDS=""
}

# wrk_run NAME URL MODE [CONNS]: wrk -t2 -c CONNS (64) for BENCH_DURATION s with bench/api.lua
# (MODE read | write | close; BENCH_TOKEN sent as X-Vault-Token). Prints and keeps
# "NAME rps=.. ok_rps=.. p50=..ms p99=..ms requests=.. bad=.. errors=..", sets WRK_RPS,
# WRK_OK_RPS (answers 200/204 per second), WRK_LINE.
wrk_run() {
    _out=$(BENCH_MODE=$3 BENCH_TOKEN=${BENCH_TOKEN:-} \
        timeout $((BENCH_DURATION + 30)) wrk -t2 -c"${4:-64}" -d"${BENCH_DURATION}s" --latency \
        -s "$BENCH_ROOT/bench/api.lua" "$2" 2>&1)
    _l=$(printf '%s\n' "$_out" | grep '^BENCH ' | head -1)
    if [ -z "$_l" ]; then
        printf '%s\n' "$_out" | tail -5 >&2
        _l="BENCH rps=0 ok_rps=0 p50_us=0 p99_us=0 requests=0 bad=0 errors=0"
    fi
    WRK_RPS=$(field "$_l" rps)
    WRK_OK_RPS=$(field "$_l" ok_rps)
    _p50=$(awk -v v="$(field "$_l" p50_us)" 'BEGIN { printf "%.2f", v / 1000 }')
    _p99=$(awk -v v="$(field "$_l" p99_us)" 'BEGIN { printf "%.2f", v / 1000 }')
    WRK_LINE="$1 rps=$WRK_RPS ok_rps=$WRK_OK_RPS p50=${_p50}ms p99=${_p99}ms requests=$(field "$_l" requests) bad=$(field "$_l" bad) errors=$(field "$_l" errors)"
    echo "  $WRK_LINE"
}

hw_line() {
    echo "host: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# start_cfg DIR COUNTER AUDIT: a config-file server like lib.sh's start_prod (TLS material from a
# throwaway dev run, devkey seal with allow_insecure), with COUNTER file | tpm (needs $TCTI and
# $BENCH_NV) and AUDIT on | off, and max_connections_per_ip raised so connection churn (one
# handshake per request) is not cut by the per-client cap. Initialises it (one recovery share),
# mounts secret/ as KV v2. Sets PID, PORT, ADDR, CA, LOG, CFG_TOKEN.
start_cfg() {
    _cd=$1
    start_dev "$_cd" || return 1
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null
    mkdir -p "$_cd/tls" && cp "$_cd/data/tls/"* "$_cd/tls/"
    CA="$_cd/tls/ca.crt"
    if [ "$2" = tpm ]; then
        _counter="counter: { type: tpm2, tpm2: { tcti: \"$TCTI\", nv_index: $BENCH_NV } }"
    else
        _counter="counter: { type: file }"
    fi
    _audit=""
    [ "$3" = on ] && _audit="audit: { path: $_cd/audit.log }"
    cat >"$_cd/tresor.yaml" <<YAML
listener:
  address: "127.0.0.1:0"
  tls_cert_file: $_cd/tls/server.crt
  tls_key_file: $_cd/tls/server.key
  max_connections_per_ip: 4096
storage:
  path: $_cd/store
seal:
  type: devkey
  allow_insecure: true
  devkey: { key_file: $_cd/store-dev.key }
$_counter
$_audit
YAML
    restart_prod "$_cd" || return 1
    CFG_TOKEN=$(hcurl -X PUT -d '{"recovery_shares":1,"recovery_threshold":1}' "$ADDR/v1/sys/init" |
        jq -r .root_token)
    case "$CFG_TOKEN" in hvs.*) ;; *) echo "bench: init failed" >&2; cat "$LOG" >&2; return 1 ;; esac
    [ "$(status_of -H "X-Vault-Token: $CFG_TOKEN" -X POST -d '{"type":"kv","options":{"version":"2"}}' \
        "$ADDR/v1/sys/mounts/secret")" = 204 ] || { echo "bench: mount failed" >&2; return 1; }
}

# Alternating rounds: on a shared VM the load of other processes moves within seconds, so the
# API comparisons run short rounds that alternate between the targets (order rotated) instead
# of one long run each. wrk_round NAME URL MODE appends one BENCH_ROUND_SECS run to
# $ROUNDS_FILE as "NAME requests secs p50_us p99_us bad errors" (BENCH_TOKEN as for wrk_run).
BENCH_ROUND_SECS=${BENCH_ROUND_SECS:-3}
BENCH_ROUNDS=${BENCH_ROUNDS:-4}
wrk_round() {
    _out=$(BENCH_MODE=$3 BENCH_TOKEN=${BENCH_TOKEN:-} \
        timeout $((BENCH_ROUND_SECS + 30)) wrk -t2 -c64 -d"${BENCH_ROUND_SECS}s" \
        -s "$BENCH_ROOT/bench/api.lua" "$2" 2>&1)
    _l=$(printf '%s\n' "$_out" | grep '^BENCH ' | head -1)
    if [ -z "$_l" ]; then
        printf '%s\n' "$_out" | tail -5 >&2
        _l="BENCH requests=0 secs=$BENCH_ROUND_SECS p50_us=0 p99_us=0 bad=0 errors=1"
    fi
    echo "$1 $(field "$_l" requests) $(field "$_l" secs) $(field "$_l" p50_us) $(field "$_l" p99_us) $(field "$_l" bad) $(field "$_l" errors)" >>"$ROUNDS_FILE"
}

# round_summary NAME: "rps=.. p50=..ms p99=..ms rounds=r1,r2,.. bad=.. errors=.." where rps is
# all requests over all seconds of NAME's rounds and p50/p99 are the medians of the rounds'.
round_summary() {
    awk -v n="$1" '
    function median(a, k,   i, j, t) {
        for (i = 1; i < k; i++)
            for (j = i; j > 0 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return k % 2 ? a[(k - 1) / 2] : (a[k / 2 - 1] + a[k / 2]) / 2
    }
    $1 == n { req += $2; secs += $3; p50[k] = $4; p99[k] = $5; k++; bad += $6; err += $7
              r = r sep sprintf("%.0f", $3 > 0 ? $2 / $3 : 0); sep = "," }
    END { if (!k) { print "rps=0 p50=0ms p99=0ms rounds= bad=0 errors=0"; exit }
          printf "rps=%.0f p50=%.2fms p99=%.2fms rounds=%s bad=%d errors=%d\n", (secs > 0 ? req / secs : 0),
                 median(p50, k) / 1000, median(p99, k) / 1000, r, bad, err }' "$ROUNDS_FILE"
}
