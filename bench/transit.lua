-- wrk script for bench/transit.sh: one fixed request (method, token, JSON body from a file),
-- and a machine-readable summary line. Configured through the environment:
--   BENCH_METHOD (POST or GET), BENCH_TOKEN, BENCH_BODY_FILE (optional).
wrk.method = os.getenv("BENCH_METHOD") or "POST"
wrk.headers["X-Vault-Token"] = os.getenv("BENCH_TOKEN")
local f = os.getenv("BENCH_BODY_FILE")
if f and f ~= "" then
    local h = assert(io.open(f, "rb"))
    wrk.body = h:read("*a")
    h:close()
    wrk.headers["Content-Type"] = "application/json"
end

local bad = 0
response = function(status, headers, body)
    if status ~= 200 then
        bad = bad + 1
    end
end

done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("BENCH rps=%.0f p50_us=%d p99_us=%d requests=%d errors=%d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(50),
        latency:percentile(99), summary.requests,
        e.connect + e.read + e.write + e.timeout + e.status))
end
