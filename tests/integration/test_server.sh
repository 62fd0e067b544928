#!/bin/sh
# The serving skeleton end to end over TLS: dev mode, health/seal-status shapes, config errors,
# bad input, signals.
. "$(dirname "$0")/lib.sh"

D=$(tmpdir)
start_dev "$D" || exit 1

# -- dev mode layout
check "dev data dir is 0700" test "$(stat -c %a "$D/data")" = 700
check "dev TLS key is 0600" test "$(stat -c %a "$D/data/tls/server.key")" = 600
expect_contains "dev prints the CA path" "$(cat "$LOG")" "CA cert: $D/data/tls/ca.crt"

# -- health and seal-status
body=$(hcurl "$ADDR/v1/sys/health")
expect_contains "health has initialized" "$body" '"initialized":'
expect_contains "health has version" "$body" '"version":'
code=$(status_of -I "$ADDR/v1/sys/health")
case "$code" in 200 | 501 | 503) ok "HEAD health answers ($code)" ;; *) not_ok "HEAD health ($code)" ;; esac
len=$(curl -sS --cacert "$CA" -I "$ADDR/v1/sys/health" | wc -c)
headbody=$(curl -sS --cacert "$CA" -X HEAD --max-time 3 "$ADDR/v1/sys/health" 2>/dev/null | wc -c)
expect_eq "HEAD health carries no body" "$headbody" 0
check "HEAD has headers" test "$len" -gt 0
expect_eq "health honours activecode" \
    "$(status_of "$ADDR/v1/sys/health?activecode=299&standbyok=true")" 299
expect_eq "health rejects a junk code" "$(status_of "$ADDR/v1/sys/health?sealedcode=abc")" 400
# a 1xx is interim in HTTP: as what Vault's clients see, the body comes under 200, and the
# connection stays in step (the next request on it gets its own answer)
expect_eq "health activecode=150: 200 with the body" \
    "$(hcurl -w ' %{http_code}' "$ADDR/v1/sys/health?activecode=150" | sed 's/.*"initialized":\(true\).* \([0-9]*\)$/\1 \2/')" "true 200"
expect_eq "... and the next request on the same connection gets its own answer" \
    "$(curl -sS --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code} ' "$ADDR/v1/sys/health?activecode=101" \
        --next --cacert "$CA" -o /dev/null -w '%{http_code}' "$ADDR/v1/sys/health?activecode=299")" "200 299"
ss=$(hcurl "$ADDR/v1/sys/seal-status")
expect_contains "seal-status has type" "$ss" '"type":'
expect_contains "seal-status has progress" "$ss" '"progress":'
expect_eq "seal-status content type" \
    "$(curl -sS --cacert "$CA" -o /dev/null -w '%{content_type}' "$ADDR/v1/sys/seal-status")" \
    "application/json"
expect_contains "leader answers non-HA" "$(hcurl "$ADDR/v1/sys/leader")" '"ha_enabled":false'

# -- bad input
expect_eq "non-/v1 path is 404" "$(status_of "$ADDR/nope")" 404
expect_eq "dot-dot segment is 400" "$(status_of --path-as-is "$ADDR/v1/secret/../sys/seal")" 400
expect_eq "encoded dot-dot is 400" "$(status_of "$ADDR/v1/secret/%2e%2e/sys/seal")" 400
expect_eq "encoded NUL is 400" "$(status_of "$ADDR/v1/secret/a%00b")" 400
expect_eq "unknown method is 405" "$(status_of -X TRACE "$ADDR/v1/sys/health")" 405
err=$(hcurl -X PUT "$ADDR/v1/sys/seal-status")
expect_contains "wrong method gets a JSON error" "$err" '"errors":'
big=$(head -c 2000000 /dev/zero | tr '\0' a)
expect_eq "oversized body is refused" \
    "$(printf '%s' "$big" | status_of -X PUT --data-binary @- "$ADDR/v1/sys/unseal")" 413
plain=$(curl -sS --max-time 3 "http://127.0.0.1:$PORT/v1/sys/health" 2>&1)
case "$plain" in *initialized*) not_ok "plain HTTP must not be served" ;; *) ok "plain HTTP refused" ;; esac
printf 'GARBAGE\r\n\r\n' | timeout 3 openssl s_client -connect "127.0.0.1:$PORT" -quiet >/dev/null 2>&1
expect_contains "still serving after bad clients" "$(hcurl "$ADDR/v1/sys/health")" '"sealed":'
expect_eq "TLS 1.2 refused by the modern profile" \
    "$(curl -sS --cacert "$CA" --tls-max 1.2 -o /dev/null -w '%{http_code}' "$ADDR/v1/sys/health" 2>/dev/null)" 000

# -- signals: SIGHUP reloads, SIGTERM drains and exits 0
kill -HUP "$PID"
sleep 0.3
expect_contains "serving after SIGHUP" "$(hcurl "$ADDR/v1/sys/health")" '"sealed":'
kill -TERM "$PID"
wait "$PID"
expect_eq "SIGTERM exits 0" "$?" 0

# -- config errors: key name and line, exit 2, no crash
C=$(tmpdir)
cat >"$C/bad.yaml" <<YAML
listener:
  address: "127.0.0.1:0"
  tls_cert_file: $C/none.crt
  tls_key_file: $C/none.key
  colour: blue
storage:
  path: $C/data
seal:
  type: shamir
YAML
out=$("$TRESORD" -config "$C/bad.yaml" 2>&1)
rc=$?
expect_eq "unknown key exits 2" "$rc" 2
expect_contains "unknown key named with its line" "$out" "bad.yaml:5: unknown key 'listener.colour'"
sed -i '/colour/d' "$C/bad.yaml"
out=$("$TRESORD" -config "$C/bad.yaml" 2>&1)
rc=$?
expect_eq "missing cert file exits 1" "$rc" 1
expect_contains "missing cert file names the path" "$out" "$C/none.crt"
out=$("$TRESORD" -bogus 2>&1)
expect_eq "unknown flag exits 2" "$?" 2

finish
