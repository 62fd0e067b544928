#!/bin/sh
# HTTP-level compatibility of the front end: methods Vault does not serve get 405 with Vault's
# JSON envelope and never reach storage; LIST is recognised on the wire (libevent 2.1 keeps no
# name for methods it does not know), also when split across TLS records or pipelined; every
# error the server generates itself, including the requests libevent 2.1 refuses to parse,
# answers {"errors":[...]} as application/json.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

D=$(tmpdir)
start_dev "$D" || exit 1
TOKEN=$(dev_root)
H="X-Vault-Token: $TOKEN"

# raw REQUESTS: send stdin as is over TLS; print what the server answered (bounded)
raw() {
    timeout "${1:-5}" openssl s_client -connect "127.0.0.1:$PORT" -quiet 2>/dev/null
}

# -- methods ---------------------------------------------------------------------------------
hcurl -H "$H" -X PUT -d '{"data":{"v":"1"}}' "$ADDR/v1/secret/data/list/a" >/dev/null
keys=$(hcurl -H "$H" -X LIST "$ADDR/v1/secret/metadata/list")
expect_contains "LIST verb lists" "$keys" '"keys":["a"]'
for m in FOO PROPFIND list LISTS TRACE; do
    r=$(curl -sS --max-time 10 --cacert "$CA" -H "$H" -X "$m" -D "$D/h" \
        -w ' %{http_code}' "$ADDR/v1/secret/metadata/list")
    expect_eq "$m: 405 with Vault's empty error list" "$r" '{"errors":[]} 405'
    expect_contains "$m: JSON content type" "$(cat "$D/h")" "Content-Type: application/json"
done
r=$(curl -sS --max-time 10 --cacert "$CA" -H "$H" -X CONNECT -w ' %{http_code}' \
    "$ADDR/v1/secret/metadata/list")
expect_eq "CONNECT: 405 JSON" "$r" '{"errors":[]} 405'
# methods that would write if they were taken for PUT or LIST: nothing reaches storage
for m in FOO MKCOL PROPPATCH; do
    c=$(status_of -H "$H" -X "$m" -H 'Content-Type: application/json' \
        -d '{"data":{"v":"2"}}' "$ADDR/v1/secret/data/list/b")
    expect_eq "$m with a body: 405" "$c" 405
done
expect_eq "... and nothing was written" \
    "$(status_of -H "$H" "$ADDR/v1/secret/data/list/b")" 404
expect_contains "... the listing is unchanged" \
    "$(hcurl -H "$H" -X LIST "$ADDR/v1/secret/metadata/list")" '"keys":["a"]'

# on one keep-alive connection: the method token split over TLS records, pipelined requests,
# a 405 that keeps the connection, an over-long token
out=$({
    printf 'LI'
    sleep 0.4
    printf 'ST /v1/secret/metadata/list HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n' "$H"
    sleep 0.4
    printf 'FOO /v1/secret/metadata/list HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n' "$H"
    printf 'LIST /v1/secret/metadata/list HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n' "$H"
    printf 'GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n'
    sleep 0.4
    printf 'AVERYLONGMETHODTOKEN /v1/secret/metadata/list HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n' "$H"
    sleep 1
} | raw 6 | grep -a -o 'HTTP/1.1 [0-9]*\|"keys":\["a"\]' | tr '\n' ' ')
expect_eq "split, pipelined and over-long method tokens on one connection" "$out" \
    'HTTP/1.1 200 "keys":["a"] HTTP/1.1 405 HTTP/1.1 200 "keys":["a"] HTTP/1.1 200 HTTP/1.1 405 '

# -- errors libevent detects itself ----------------------------------------------------------
# json_error DESC STATUS MESSAGE REQUEST: send REQUEST (printf format) raw, check the answer
json_error() {
    # shellcheck disable=SC2059 # the request is a printf format on purpose
    a=$(printf "$4" | raw)
    case "$a" in
    "HTTP/1."[01]" $2 "*) ok "$1: status $2" ;;
    *) not_ok "$1: status $2 ('$(printf '%s' "$a" | head -1)')" ;;
    esac
    expect_contains "$1: JSON content type" "$a" "Content-Type: application/json"
    expect_contains "$1: Vault error envelope" "$a" "{\"errors\":[\"$3\"]}"
    expect_contains "$1: connection closed" "$a" "Connection: close"
    case "$a" in *"<HTML>"* | *"<html>"*) not_ok "$1: no HTML" ;; *) ok "$1: no HTML" ;; esac
}
BAD="malformed HTTP request"
json_error "garbage request line" 400 "$BAD" 'GARBAGE\r\n\r\n'
json_error "request line with 4 fields" 400 "$BAD" 'GET /v1/sys/health HTTP/1.1 x\r\n\r\n'
json_error "unsupported HTTP version" 400 "$BAD" 'GET /v1/sys/health HTTP/2.0\r\nHost: x\r\n\r\n'
json_error "header line without a colon" 400 "$BAD" 'GET /v1/sys/health HTTP/1.1\r\nHost x\r\n\r\n'
json_error "HTTP/1.0 client (answered 1.0)" 400 "$BAD" 'GET /v1/sys/health HTTP/1.0\r\nHost x\r\n\r\n'
# libevent 2.1 parses any HTTP/0.x or 1.x version (a negative minor too) and would echo it in the
# status line ("HTTP/0.9 200 OK", found by fuzz/fuzz_http.c): those are refused, except a later
# 1.x, served as 1.1
json_error "HTTP/0.9 request" 400 "$BAD" 'GET /v1/sys/health HTTP/0.9\r\nHost: x\r\n\r\n'
a=$(printf 'GET /v1/sys/health HTTP/0.9\r\nHost: x\r\n\r\n' | raw | head -1)
expect_eq "HTTP/0.9 request: answered as HTTP/1.1" "$a" "$(printf 'HTTP/1.1 400 Bad Request\r')"
a=$(printf 'GET /v1/sys/health HTTP/1.-1\r\nHost: x\r\n\r\n' | raw | head -1)
expect_eq "HTTP/1.-1 request: 400 as HTTP/1.1" "$a" "$(printf 'HTTP/1.1 400 Bad Request\r')"
a=$(printf 'GET /v1/sys/health HTTP/1.5\r\nHost: x\r\nConnection: close\r\n\r\n' | raw | head -1)
expect_eq "HTTP/1.5 request: served as HTTP/1.1" "$a" "$(printf 'HTTP/1.1 200 OK\r')"
json_error "non-numeric Content-Length" 400 "$BAD" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'
json_error "Content-Length over max_request_bytes" 413 "http: request body too large" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n'
json_error "corrupt chunk size" 413 "malformed or too large chunked request body" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'
json_error "unknown Expect" 417 "expectation failed" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nExpect: tea\r\nContent-Length: 2\r\n\r\n{}'
# a head over max_header_bytes (16 KiB): libevent may close while the client is still sending,
# so the client may only see the reset; any answer it does see is JSON
a=$({
    printf 'GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' \
        "$(head -c 17000 /dev/zero | tr '\0' a)"
    sleep 1
} | raw)
case "$a" in
"" | *'{"errors":["malformed HTTP request"]}'*) ok "oversized head: JSON 400 or reset" ;;
*) not_ok "oversized head: '$(printf '%s' "$a" | head -c 200)'" ;;
esac

# -- framing another parser could read differently (request smuggling) -----------------------
# Each request carries a pipelined second one in what one reading takes for its body: the first
# is refused and the connection closed, so the second is never answered (libevent alone
# answered both: it framed by the first Content-Length, took "+2" as 2, kept "Content-Length :"
# as another field and read an unknown Transfer-Encoding as none).
NEXT='GET /v1/sys/seal-status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
answers() { grep -a -o 'HTTP/1\.[01] [0-9][0-9][0-9]' | wc -l | tr -d ' '; } # in a raw stream
smuggle() { # DESC STATUS MESSAGE HEAD (printf format; the body "{}" and NEXT follow)
    json_error "$1" "$2" "$3" "$4{}$NEXT"
    n=$(printf "$4{}$NEXT" | raw | answers)
    expect_eq "$1: the pipelined request is not answered" "$n" 1
}
smuggle "two different Content-Lengths" 400 \
    "http: message cannot contain multiple Content-Length headers" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 59\r\n\r\n'
smuggle "Content-Length with a sign" 400 "bad Content-Length" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n'
smuggle "space before the colon" 400 "malformed HTTP request: invalid header field name" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n\r\n'
smuggle "unknown Transfer-Encoding" 501 "unsupported transfer encoding" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n'
smuggle "Transfer-Encoding twice (libevent's own 400)" 400 "$BAD" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'
smuggle "chunked with a Content-Length (libevent's own 400)" 400 "$BAD" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n'
json_error "HTTP/1.1 without Host" 400 "missing required Host header" \
    'GET /v1/sys/health HTTP/1.1\r\n\r\n'
smuggle "two Host fields" 400 "too many Host headers" \
    'PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 2\r\n\r\n'
a=$(printf 'GET /v1/sys/health HTTP/1.0\r\n\r\n' | raw | head -1)
expect_eq "HTTP/1.0 without Host is served" "$a" "$(printf 'HTTP/1.0 200 OK\r')"
# what stays allowed: the same Content-Length twice, and chunked in any case
n=$(printf 'PUT /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}%b' \
    "$NEXT" | raw | answers)
expect_eq "the same Content-Length twice: both requests answered" "$n" 2
a=$(printf 'PUT /v1/secret/data/te HTTP/1.1\r\nHost: x\r\n%s\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n12\r\n{"data":{"v":"c"}}\r\n0\r\n\r\n' \
    "$H" | raw | head -1)
expect_eq "Transfer-Encoding: Chunked is served" "$a" "$(printf 'HTTP/1.1 200 OK\r')"
expect_contains "... and its body was read" "$(hcurl -H "$H" "$ADDR/v1/secret/data/te")" '"v":"c"'
expect_contains "still serving after the bad clients" "$(hcurl "$ADDR/v1/sys/health")" '"sealed":'

kill -TERM "$PID"
wait "$PID"
expect_eq "SIGTERM exits 0" "$?" 0
finish
