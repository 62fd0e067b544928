#!/bin/sh
# listener.telemetry.unauthenticated_metrics_access (Vault's listener option of that name), on a
# real config-file tresord (devkey seal, file counter, audit file) over TLS, driven with curl:
# 1. off (the default): GET /v1/sys/metrics needs a token with read there (403 without one) and is
#    audited like any request; sealed it is 503.
# 2. on: answered without a token (one sent, valid or garbage, is ignored), with no ACL check and
#    no audit line, GET only (405 otherwise), format as usual; uninitialised, sealed, and while
#    the audit disk is full (an audited read then gets 503) it still answers 200 with what is
#    known. Every other path keeps its token, ACL, audit and sealed answers.
. "$(dirname "$0")/lib.sh"
j() { jq -r "$1"; }
need jq curl awk

CT="text/plain; version=0.0.4; charset=utf-8"
# prom_bad FILE: the lines of FILE that are not Prometheus text exposition (version 0.0.4): a
# "# TYPE name counter|gauge" comment, or "name value" for the name the last TYPE declared
prom_bad() {
    awk '/^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge)$/ { t = $3; next }
        /^[a-zA-Z_:][a-zA-Z0-9_:]* [0-9]+(\.[0-9]+)?$/ && $1 == t { next }
        { print NR ": " $0 }' "$1"
}
# value FILE NAME: the sample value of NAME in FILE (empty when absent)
value() { awk -v m="$2" '$1 == m { print $2 }' "$1"; }
# scrape OUT [CURL ARGS...]: GET /v1/sys/metrics without a token into OUT; prints the status
scrape() {
    _o=$1
    shift
    curl -sS --max-time 10 --cacert "$CA" -o "$_o" -w '%{http_code}' "$@" "$ADDR/v1/sys/metrics"
}
# metric_lines: audit lines that name the path sys/metrics (requests and responses)
metric_lines() { grep -c '"path":"sys/metrics"' "$A"; }

# ---- 1. off (the default) --------------------------------------------------------------------
D=$(tmpdir)
A="$D/audit.log"
start_prod "$D" devkey || exit 1
init_devkey
expect_eq "off: no token is 403" "$(status_of "$ADDR/v1/sys/metrics")" 403
expect_eq "off: with the error Vault gives" "$(hcurl "$ADDR/v1/sys/metrics" | j '.errors[0]')" \
    "permission denied"
expect_eq "off: a garbage token is 403" \
    "$(status_of -H "X-Vault-Token: hvs.garbage" "$ADDR/v1/sys/metrics")" 403
U=$(hcurl -H "$R" -X POST -d '{"policies":["default"]}' "$ADDR/v1/auth/token/create" | j .auth.client_token)
expect_eq "off: a token without read on sys/metrics is 403" \
    "$(status_of -H "X-Vault-Token: $U" "$ADDR/v1/sys/metrics")" 403
expect_eq "off: the root token reads them" "$(scrape "$D/m" -H "$R")" 200
expect_eq "off: the refusals and the read are audited (5 requests, each 2 lines)" "$(metric_lines)" 10
expect_eq "off: POST is refused as an unsupported path" \
    "$(status_of -H "$R" -X POST "$ADDR/v1/sys/metrics")" 404
expect_eq "seal" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
expect_eq "off: sealed is 503, token or not" "$(status_of "$ADDR/v1/sys/metrics")" 503
expect_eq "off: sealed is 503 for root too" "$(status_of -H "$R" "$ADDR/v1/sys/metrics")" 503
check "off: the server stops cleanly (exit 0)" stop_prod

# ---- 2. on: a server whose audit file sits on a 1 MiB disk -----------------------------------
D=$(tmpdir)
tmpfs_mount "$D/small" 1m
start_prod "$D" devkey || exit 1
stop_prod
A="$D/small/audit.log"
sed -i -e "s|path: $D/audit.log|path: $A|" \
    -e 's|^  tls_key_file: .*|&\n  telemetry: { unauthenticated_metrics_access: true }|' "$D/tresor.yaml"
check "the config carries the option" grep -q 'telemetry: { unauthenticated_metrics_access: true }' "$D/tresor.yaml"
restart_prod "$D" || exit 1

# uninitialised (sealed): what is known without a store
expect_eq "on, uninitialised: 200 without a token" "$(scrape "$D/m0")" 200
expect_eq "on, uninitialised: tresor_core_unsealed 0" "$(value "$D/m0" tresor_core_unsealed)" 0
expect_eq "on, uninitialised: no store lines (no store is open)" \
    "$(grep -c '^tresor_store_\|^tresor_key_term' "$D/m0")" 0
check "on, uninitialised: the audit device's lines are there" grep -q '^tresor_audit_file_bytes ' "$D/m0"
expect_eq "on, uninitialised: valid Prometheus text" "$(prom_bad "$D/m0")" ""
expect_eq "on, uninitialised: a KV read is 503" "$(status_of "$ADDR/v1/secret/data/k1")" 503

init_devkey
expect_eq "on: 200 without a token" "$(scrape "$D/m1")" 200
expect_eq "on: content type" "$(curl -sS --cacert "$CA" -o /dev/null -w '%{content_type}' "$ADDR/v1/sys/metrics")" "$CT"
expect_eq "on: valid Prometheus text" "$(prom_bad "$D/m1")" ""
expect_eq "on: tresor_core_unsealed 1" "$(value "$D/m1" tresor_core_unsealed)" 1
check "on: the store's counters are there" test "$(value "$D/m1" tresor_store_records)" -ge 1
check "on: and the key term" test "$(value "$D/m1" tresor_key_term)" -ge 1
check "on: nothing secret: no token, no share, no stored value" \
    sh -c '! grep -q -e "hvs\." -e "$1" -e "$2" -e "\"one\"" "$3"' _ "${R#X-Vault-Token: }" "$RKEY" "$D/m1"
expect_eq "on: a garbage X-Vault-Token is ignored (200)" \
    "$(scrape "$D/m" -H "X-Vault-Token: hvs.garbage")" 200
expect_eq "on: a garbage Bearer token is ignored (200)" \
    "$(scrape "$D/m" -H "Authorization: Bearer junk")" 200
expect_eq "on: the root token changes nothing (200)" "$(scrape "$D/m" -H "$R")" 200
expect_eq "on: format=prometheus" "$(scrape "$D/m" -G -d format=prometheus)" 200
expect_eq "on: an unknown format is 400, as with a token" "$(scrape "$D/m" -G -d format=json)" 400
expect_eq "on: with Vault's message" "$(j '.errors[0]' <"$D/m")" 'metric response format "json" unknown'
expect_eq "on: ?help is not read (metrics, as Vault's handler)" "$(scrape "$D/m" -G -d help=1)" 200
check "on: ... and the body is the metrics" grep -q '^tresor_core_unsealed 1$' "$D/m"
for m in POST PUT DELETE PATCH LIST HEAD OPTIONS; do
    if [ "$m" = HEAD ]; then
        got=$(curl -sS --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code}' -I "$ADDR/v1/sys/metrics")
    else
        got=$(scrape "$D/m" -X "$m")
    fi
    expect_eq "on: $m is 405 (GET only, as Vault)" "$got" 405
done
expect_eq "on: POST with the root token is 405 too" "$(scrape "$D/m" -H "$R" -X POST)" 405
expect_eq "on: sys/metrics/ is another path: 403 without a token" \
    "$(status_of "$ADDR/v1/sys/metrics/")" 403
expect_eq "on: other paths still need a token" "$(status_of "$ADDR/v1/secret/data/k1")" 403
expect_eq "on: and are served with one" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one
expect_eq "on: sys/key-status still needs a token" "$(status_of "$ADDR/v1/sys/key-status")" 403

# audit: no line for any scrape (above, with and without tokens, refused or not); the KV reads and
# the refused requests around them have theirs
expect_eq "on: no audit line names sys/metrics" "$(metric_lines)" 0
check "on: the other requests are audited" grep -q '"path":"secret/data/k1"' "$A"
n0=$(wc -l <"$A")
scrape "$D/m" >/dev/null
scrape "$D/m" -H "$R" >/dev/null
expect_eq "on: two scrapes add no line to the audit file" "$(wc -l <"$A")" "$n0"
hcurl -H "$R" "$ADDR/v1/secret/data/k1" >/dev/null
expect_eq "on: one KV read adds two (request, response)" "$(wc -l <"$A")" "$((n0 + 2))"

# the audit disk fills: audited requests get 503, the scrape still answers and shows why
code=$(fill_audit_disk "$D/small/fill" -H "$R" "$ADDR/v1/secret/data/k1")
expect_eq "audit disk full: a KV read is 503" "$code" 503
expect_eq "audit disk full: the scrape answers 200" "$(scrape "$D/m2")" 200
check "audit disk full: tresor_audit_write_failures_total counts the refused lines" \
    test "$(value "$D/m2" tresor_audit_write_failures_total)" -ge 1
expect_eq "audit disk full: still valid Prometheus text" "$(prom_bad "$D/m2")" ""
expect_eq "audit disk full: the root token's scrape is not audited either (200)" \
    "$(scrape "$D/m" -H "$R")" 200
rm -f "$D/small/fill"
expect_eq "space back: KV reads are served again" "$(hcurl -H "$R" "$ADDR/v1/secret/data/k1" | j .data.data.v)" one

# sealed by the operator: the scrape answers with what is known, every other path is 503
expect_eq "seal" "$(status_of -H "$R" -X PUT "$ADDR/v1/sys/seal")" 204
expect_eq "sealed: the scrape answers 200" "$(scrape "$D/m3")" 200
expect_eq "sealed: tresor_core_unsealed 0" "$(value "$D/m3" tresor_core_unsealed)" 0
expect_eq "sealed: no store lines" "$(grep -c '^tresor_store_\|^tresor_key_term' "$D/m3")" 0
check "sealed: the API cache's and the audit device's lines" \
    sh -c 'grep -q "^tresor_api_cache_clears_total " "$1" && grep -q "^tresor_audit_write_failures_total " "$1"' _ "$D/m3"
expect_eq "sealed: valid Prometheus text" "$(prom_bad "$D/m3")" ""
expect_eq "sealed: a KV read is 503" "$(status_of -H "$R" "$ADDR/v1/secret/data/k1")" 503
expect_eq "sealed: sys/key-status is 503" "$(status_of -H "$R" "$ADDR/v1/sys/key-status")" 503
expect_eq "sealed: sys/metrics/ (another path) is 503" "$(status_of "$ADDR/v1/sys/metrics/")" 503
expect_eq "sealed: POST sys/metrics is still 405" "$(scrape "$D/m" -X POST)" 405
expect_eq "sealed: no audit line names sys/metrics" "$(metric_lines)" 0
check "the server stops cleanly (exit 0)" stop_prod
check "the audit chain verifies" "$TRESOR" audit verify "$A"
check "the server logged no warning about the scrapes" sh -c '! grep -qi "sys/metrics" "$1"' _ "$LOG"

finish
