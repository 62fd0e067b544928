#!/bin/sh
# The front end against hostile clients: absolute deadlines (slowloris, slow body, idle
# keep-alive), connection caps (total and per client), per-client login rate limit, URL and
# header caps, the debug access log, mTLS plumbing; afterwards every server still answers and
# exits 0 on SIGTERM. Four servers: -dev (default limits) and three config files with small ones.
# Every loop and wait is bounded; everything stays on 127.0.0.0/8.
# shellcheck disable=SC2046,SC2086 # splitting "STATUS MS" pairs and pid lists is intended
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# write_cfg DIR EXTRA_LISTENER_LINES: a devkey config using the dev server's certificates
write_cfg() {
    {
        printf 'listener:\n  address: "127.0.0.1:0"\n'
        printf '  tls_cert_file: %s\n  tls_key_file: %s\n  workers: 2\n' "$TLS/server.crt" \
            "$TLS/server.key"
        printf '%s\n' "$2"
        printf 'storage: {path: %s/data}\n' "$1"
        printf 'seal: {type: devkey, allow_insecure: true, devkey: {key_file: %s/dev.key}}\n' "$1"
        printf 'log: {level: debug}\n'
    } >"$1/cfg.yaml"
}

# timed_client PORT OUTFILE SECONDS: open a TLS connection, send stdin; when the server closes
# it, write the elapsed milliseconds to OUTFILE. Bounded by SECONDS.
timed_client() {
    t0=$(now_ms)
    timeout "$3" openssl s_client -connect "127.0.0.1:$1" -quiet >/dev/null 2>&1
    echo $(($(now_ms) - t0)) >"$2"
}

# in_range DESC VALUE LO HI
in_range() {
    if [ -n "$2" ] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then
        ok "$1 ($2)"
    else
        not_ok "$1 (got '$2', want $3..$4)"
    fi
}

# served STATUS: the API answered (health on a sealed dev-key server may be 200/429/501/503)
served() {
    case "$1" in 200 | 429 | 501 | 503) return 0 ;; *) return 1 ;; esac
}

# probe ADDR [curl args]: "STATUS MS" of one health request
probe() {
    a=$1
    shift
    t0=$(now_ms)
    c=$(curl -sS --max-time 5 --cacert "$CA" -o /dev/null -w '%{http_code}' "$@" \
        "$a/v1/sys/health" 2>/dev/null)
    echo "${c:-000} $(($(now_ms) - t0))"
}

# -- server D: -dev defaults (10 s handshake+header deadline) -------------------------------
D=$(tmpdir)
start_dev "$D" || exit 1
D_PID=$PID D_PORT=$PORT D_ADDR=$ADDR
TLS="$D/data/tls"

# A slowloris client: one header line per second for up to 20 s. Closed by the default 10 s
# deadline; meanwhile normal clients are answered at once (checked below).
{
    printf 'GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n'
    i=0
    while [ $i -lt 20 ]; do
        sleep 1
        printf 'X-Slow-%d: 1\r\n' $i
        i=$((i + 1))
    done
} 2>/dev/null | timed_client "$D_PORT" "$D/slow.ms" 25 &
SLOW_D=$!

# -- server B: small deadlines and rates ---------------------------------------------------
B=$(tmpdir)
write_cfg "$B" '  header_timeout_s: 3
  request_timeout_s: 6
  idle_timeout_s: 3
  login_rate_per_s: 1
  login_burst: 3'
start_cfg "$B" || exit 1
B_PID=$PID B_PORT=$PORT B_ADDR=$ADDR B_LOG=$LOG

# deadlines, in the background while the rest runs
{
    printf 'GET /v1/sys/health HTTP/1.1\r\n'
    i=0
    while [ $i -lt 15 ]; do
        sleep 1
        printf 'X'
        i=$((i + 1))
    done
} 2>/dev/null | timed_client "$B_PORT" "$B/slowloris.ms" 20 &
SLOW_B1=$!
{
    printf 'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n'
    i=0
    while [ $i -lt 15 ]; do
        sleep 1
        printf 'x'
        i=$((i + 1))
    done
} 2>/dev/null | timed_client "$B_PORT" "$B/slowbody.ms" 20 &
SLOW_B2=$!
{
    printf 'GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n'
    sleep 15
} 2>/dev/null | timed_client "$B_PORT" "$B/idle.ms" 20 &
SLOW_B3=$!
{
    # keep-alive, then a slowloris second request starting 2 s after the first answer: its own
    # header deadline (2 + 3 s) applies, not the idle one (3 s)
    printf 'GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n'
    sleep 2
    printf 'GET /v1/sys/health HTTP/1.1\r\n'
    i=0
    while [ $i -lt 12 ]; do
        sleep 1
        printf 'X'
        i=$((i + 1))
    done
} 2>/dev/null | timed_client "$B_PORT" "$B/ka_slow.ms" 20 &
SLOW_B4=$!
{
    # a legitimate keep-alive client: one request a second for 8 s, longer than every deadline
    i=0
    while [ $i -lt 8 ]; do
        printf 'GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n'
        sleep 1
        i=$((i + 1))
    done
} 2>/dev/null | timeout 15 openssl s_client -connect "127.0.0.1:$B_PORT" -quiet 2>/dev/null |
    grep -o 'HTTP/1.1 [0-9]*' | wc -l | tr -d ' ' >"$B/ka_good.n" &
GOOD_B=$!
# a TCP client that never starts the TLS handshake (perl-base is part of every Debian system)
SILENT_B=""
if command -v perl >/dev/null 2>&1; then
    t0=$(now_ms)
    # shellcheck disable=SC2016 # perl code, not shell
    { timeout 20 perl -MIO::Socket::INET -e \
        '$s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]") or exit 1;
         sysread($s, $b, 1)' \
        "$B_PORT"; echo $(($(now_ms) - t0)) >"$B/silent.ms"; } &
    SILENT_B=$!
fi

# -- server C: per-client cap 4 (long header deadline, so idle connections stay) -------------
C=$(tmpdir)
write_cfg "$C" '  max_connections_per_ip: 4
  header_timeout_s: 30'
start_cfg "$C" || exit 1
C_PID=$PID C_ADDR=$ADDR

# 4 idle connections from 127.0.0.1: the 5th is closed at once, 127.0.0.2 is served
pids=""
for i in 1 2 3 4; do
    timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -ign_eof </dev/null >"$C/s$i.out" 2>&1 &
    pids="$pids $!"
done
# (bounded wait until all 4 handshakes are done: s_client prints the verify result then)
i=0
while [ $i -lt 50 ] && [ "$(cat "$C"/s*.out | grep -c 'Verify return code')" -lt 4 ]; do
    sleep 0.1
    i=$((i + 1))
done
set -- $(probe "$C_ADDR")
expect_eq "5th connection from one client is refused" "$1" 000
in_range "... at once, not after a wait (ms)" "$2" 0 1500
set -- $(probe "$C_ADDR" --interface 127.0.0.2)
check "another client is served meanwhile ($1)" served "$1"
kill $pids 2>/dev/null
wait $pids 2>/dev/null
sleep 0.3
set -- $(probe "$C_ADDR")
check "the client is served again once its connections closed ($1)" served "$1"

# rate limit: login burst 3, then 429 from the front end with Retry-After and a JSON body
i=0
codes=""
while [ $i -lt 3 ]; do
    codes="$codes$(status_of -X POST -d '{}' "$B_ADDR/v1/auth/approle/login") "
    i=$((i + 1))
done
case "$codes" in
*429*) not_ok "login burst passes ($codes)" ;;
*) ok "login burst passes ($codes)" ;;
esac
# (bounded retries: a slow machine may have refilled a token meanwhile)
i=0
r=""
while [ $i -lt 4 ]; do
    r=$(hcurl -i -X POST -d '{}' "$B_ADDR/v1/auth/approle/login")
    case "$r" in *"HTTP/1.1 429"*) break ;; esac
    i=$((i + 1))
done
expect_contains "past the burst: 429" "$r" "HTTP/1.1 429"
expect_contains "429 has Retry-After" "$r" "Retry-After: 1"
expect_contains "429 is JSON" "$r" "Content-Type: application/json"
expect_contains "429 body" "$r" \
    '{"errors":["request path \"auth/approle/login\": rate limit quota exceeded"]}'
# limited URL: one of two back-to-back logins is 429 (the bucket refills 1 token a second, so
# on a slow machine the first may get a fresh token)
limited() {
    c1=$(status_of -X POST -d '{}' "$1")
    c2=$(status_of -X POST -d '{}' "$1")
    [ "$c1" = 429 ] || [ "$c2" = 429 ]
}
check "percent-encoded login shares the bucket" limited "$B_ADDR/v1/auth/approle/%6cogin"
check "nested login path shares the bucket" limited "$B_ADDR/v1/auth/userpass/login/bob"
c=$(status_of --interface 127.0.0.2 -X POST -d '{}' "$B_ADDR/v1/auth/approle/login")
check "another client has its own bucket ($c)" test "$c" != 429
c=$(status_of -X PUT -d '{}' "$B_ADDR/v1/sys/unseal")
check "unseal has its own, looser bucket ($c)" test "$c" != 429
codes=""
i=0
while [ $i -lt 10 ]; do
    codes="$codes$(status_of "$B_ADDR/v1/sys/health") $(status_of "$B_ADDR/v1/sys/seal-status") "
    i=$((i + 1))
done
case "$codes" in
*429*) not_ok "health/seal-status exempt ($codes)" ;;
*) ok "health/seal-status exempt" ;;
esac

# header and URL caps
h=""
i=0
while [ $i -lt 70 ]; do
    h="$h -H X-Hdr-$i:v"
    i=$((i + 1))
done
r=$(curl -sS --max-time 10 --cacert "$CA" $h -w ' %{http_code}' "$B_ADDR/v1/sys/health")
expect_eq "70 header fields: 431 JSON" "$r" '{"errors":["too many request header fields"]} 431'
u=$(head -c 9000 /dev/zero | tr '\0' a)
r=$(curl -sS --max-time 10 --cacert "$CA" -w ' %{http_code}' "$B_ADDR/v1/sys/health?x=$u")
expect_eq "9000-byte URL: 414 JSON" "$r" '{"errors":["request URI too long"]} 414'
# Over max_header_bytes libevent refuses the request itself (400, in our JSON envelope) and
# closes while curl may still be sending, so curl may only see the reset (000).
u=$(head -c 20000 /dev/zero | tr '\0' a)
r=$(curl -sS --max-time 10 --cacert "$CA" -w ' %{http_code}' "$B_ADDR/v1/sys/health?x=$u" \
    2>/dev/null)
case "$r" in
'{"errors":["malformed HTTP request"]} 400' | *000) ok "20 KB URL: refused by libevent ($r)" ;;
*) not_ok "20 KB URL ($r)" ;;
esac
r=$(head -c 2000000 /dev/zero | curl -sS --max-time 10 --cacert "$CA" -X PUT --data-binary @- \
    -w ' %{http_code}' "$B_ADDR/v1/sys/unseal")
expect_eq "2 MB body: 413 JSON" "$r" '{"errors":["http: request body too large"]} 413'

# access log at debug: method, path, status, client; never the token or the query
hcurl -o /dev/null -H 'X-Vault-Token: s.CanaryToken42' "$B_ADDR/v1/sys/seal-status?q=CanaryQuery"
sleep 0.2
expect_contains "access line logged" "$(cat "$B_LOG")" "GET /v1/sys/seal-status 200"
check "no token or query in the log" sh -c "! grep -q 'Canary' '$B_LOG'"

# -- server A: total connection cap 6, mTLS plumbing ----------------------------------------
A=$(tmpdir)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=limits-test-ca -keyout "$A/ca.key" -out "$A/ca.crt" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=limits-client \
    -keyout "$A/c.key" -out "$A/c.csr" >/dev/null 2>&1
printf 'extendedKeyUsage=clientAuth\n' >"$A/ext.cnf"
openssl x509 -req -in "$A/c.csr" -CA "$A/ca.crt" -CAkey "$A/ca.key" -CAcreateserial -days 1 \
    -extfile "$A/ext.cnf" -out "$A/c.crt" >/dev/null 2>&1
write_cfg "$A" "  tls_client_ca_file: $A/ca.crt
  max_connections: 6
  header_timeout_s: 30"
start_cfg "$A" || exit 1
A_PID=$PID A_PORT=$PORT A_ADDR=$ADDR A_LOG=$LOG

set -- $(probe "$A_ADDR" --cert "$A/c.crt" --key "$A/c.key")
check "client certificate accepted and passed on ($1)" served "$1"

# max+5 idle TLS connections: 6 are accepted, the rest wait in the backlog, nothing crashes
pids=""
i=0
while [ $i -lt 11 ]; do
    timeout 20 openssl s_client -connect "127.0.0.1:$A_PORT" -quiet </dev/null >/dev/null 2>&1 &
    pids="$pids $!"
    i=$((i + 1))
done
i=0
while [ $i -lt 50 ] && ! grep -q "at the limit" "$A_LOG"; do
    sleep 0.1
    i=$((i + 1))
done
set -- $(probe "$A_ADDR" --max-time 2)
expect_eq "at the cap a new client waits (not served)" "$1" 000
in_range "... until its own timeout (ms)" "$2" 1800 4000
expect_contains "cap warning logged" "$(cat "$A_LOG")" "at the limit, new clients wait"
probe "$A_ADDR" --max-time 10 >"$A/late.txt" &
LATE=$!
sleep 1
kill $pids 2>/dev/null
wait $LATE
set -- $(cat "$A/late.txt")
check "the waiting client is served once others close ($1 after $2 ms)" served "$1"

# -- results of the background deadline clients ---------------------------------------------
set -- $(probe "$D_ADDR")
check "dev: served during slowloris ($1)" served "$1"
in_range "dev: ... within 1 s (ms)" "$2" 0 1000
wait $SLOW_B1 $SLOW_B2 $SLOW_B3 $SLOW_B4 $GOOD_B $SILENT_B
if [ -n "$SILENT_B" ]; then
    in_range "silent TCP client closed at the 3 s handshake deadline (ms)" "$(cat "$B/silent.ms")" \
        2500 5000
fi
in_range "slowloris closed at the 3 s header deadline (ms)" "$(cat "$B/slowloris.ms")" 2500 5000
in_range "slow body closed at the 6 s request deadline, not at 3 s (ms)" \
    "$(cat "$B/slowbody.ms")" 5500 8000
in_range "idle keep-alive closed after idle_timeout_s 3 (ms)" "$(cat "$B/idle.ms")" 2500 5500
in_range "slow 2nd keep-alive request closed by its own header deadline (ms)" \
    "$(cat "$B/ka_slow.ms")" 4500 7500
expect_eq "a keep-alive client with 8 requests over 8 s is never cut" "$(cat "$B/ka_good.n")" 8
set -- $(probe "$D_ADDR")
check "dev: still served ($1)" served "$1"
in_range "dev: ... within 1 s (ms)" "$2" 0 1000
wait $SLOW_D
in_range "dev: slowloris closed by the default 10 s deadline (ms)" "$(cat "$D/slow.ms")" 9500 12000
expect_contains "deadline close logged" "$(cat "$B_LOG")" "handshake/header deadline passed"

# -- everything still serves, then exits 0 --------------------------------------------------
for s in "$D_ADDR $D_PID dev" "$B_ADDR $B_PID B" "$C_ADDR $C_PID C" "$A_ADDR $A_PID A"; do
    set -- $s
    c=$(probe "$1" | cut -d' ' -f1)
    check "$3: health answers after the abuse ($c)" served "$c"
    kill -TERM "$2"
    wait "$2"
    expect_eq "$3: SIGTERM exits 0" "$?" 0
done

finish
