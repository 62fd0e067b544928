#!/bin/sh
# Every benchmark once, then a summary table against the targets (docs/performance.md).
# Figures are ratios to baselines measured in the same run (raw LMDB, nginx); nothing here is a
# pass/fail test. Bounded: each script runs under a timeout; the whole run takes ~4-5 minutes.
# Usage: make bench  (or: sh bench/run-all.sh; env BUILD, BENCH_DURATION as in bench/common.sh)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_ROOT=$(cd "$HERE/.." && pwd)
cd "$BENCH_ROOT" || exit 1
BUILD=${BUILD:-build-bench}
export BUILD
RES=$(mktemp /tmp/tr-bench-results-XXXXXX)
trap 'rm -f "$RES"' EXIT
trap 'exit 130' INT TERM

echo "== build (make BUILD=$BUILD bench-build)"
make --no-print-directory BUILD="$BUILD" bench-build >"$RES.build" 2>&1 || {
    tail -30 "$RES.build"
    rm -f "$RES.build"
    exit 1
}
rm -f "$RES.build"
export BENCH_NO_BUILD=1 BENCH_RESULTS="$RES"
echo "host: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
    "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tree: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "($(git status --porcelain 2>/dev/null | wc -l) uncommitted paths), build $BUILD"
fail=0
for b in storage-write storage-read startup api-read api-write handshake; do
    echo "== $b"
    timeout 300 sh "$HERE/$b" || { echo "bench: $b failed or timed out" >&2; fail=1; }
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== summary (targets from docs/performance.md)"
awk '
function f(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
function n(v) { sub(/[^0-9.]+$/, "", v); return v + 0 }
function row(name, fig, target, ok) { printf "%-34s %-44s %-30s %s\n", name, fig, target, ok }
BEGIN { row("benchmark", "figure", "target", "met") }
$1 == "storage-write" {
    name = "storage-write writers=" f("writers") " " f("counter")
    fig = f("tresor") " vs raw " f("raw") " = " f("ratio") " (batch " f("batch") ")"
    if (f("writers") == 64 && f("counter") == "tpm")
        row(name, fig, ">= 0.5 of raw, >= 5000/s", (n(f("ratio")) >= 0.5 && n(f("tresor")) >= 5000) ? "yes" : "NO")
    else
        row(name, fig, "-", "")
}
$1 == "storage-read" {
    row("storage-read keys=" f("keys") " threads=" f("threads"), f("tresor") " vs raw " f("raw") " = " f("ratio"),
        ">= 0.3 of raw mdb_get", n(f("ratio")) >= 0.3 ? "yes" : "NO")
}
$1 == "startup" {
    name = "startup keys=" f("keys") " " f("counter")
    if (f("skipped") != "") { row(name, "skipped: " f("skipped"), "-", ""); next }
    fig = f("open") " open, " f("rss_anon") " anon"
    if (f("keys") == 100000)
        row(name, fig, "< 2 s and < 64 MiB", (n(f("open")) < 2 && n(f("rss_anon")) < 64) ? "yes" : "NO")
    else
        row(name, fig, "-", "")
}
$1 == "api-read" {
    r = n(f("ratio"))
    row("api-read audit=" f("audit"), f("tresor") " vs nginx " f("nginx") " = " f("ratio") " p50 " f("p50") " p99 " f("p99"),
        ">= 0.5 of nginx (stretch 0.7)", r >= 0.7 ? "yes (stretch)" : r >= 0.5 ? "yes" : "NO")
}
$1 == "api-write" {
    name = "api-write counter=" f("counter") " audit=" f("audit")
    fig = f("acked") " acked, p50 " f("p50") " p99 " f("p99")
    if (f("counter") == "tpm" && f("audit") == "off")
        row(name, fig, ">= 3000 acked/s (swtpm)", n(f("acked")) >= 3000 ? "yes" : "NO")
    else
        row(name, fig, "-", "")
}
$1 == "handshake" {
    row("handshake", f("tresor") " vs nginx " f("nginx") " = " f("ratio"), ">= 0.8 of nginx", n(f("ratio")) >= 0.8 ? "yes" : "NO")
}
' "$RES"
echo
echo "== raw result lines"
cat "$RES"
exit $fail
