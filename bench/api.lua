-- wrk script for bench/api-read, bench/api-write and bench/handshake (see bench/common.sh).
-- Environment:
--   BENCH_MODE   read  (GET the URL on keep-alive connections, the default)
--                write (PUT a KV v2 secret with a 100-byte value to a new key per request:
--                       <URL path>-<thread>-<n>, keep-alive)
--                close (GET with "Connection: close": a new TLS handshake per request)
--   BENCH_TOKEN  sent as X-Vault-Token when set
-- Prints one line: BENCH rps=.. ok_rps=.. secs=.. p50_us=.. p99_us=.. requests=.. bad=.. errors=..
-- (bad: answers other than 200/204; errors: wrk's socket errors).
local mode = os.getenv("BENCH_MODE") or "read"
local token = os.getenv("BENCH_TOKEN") or ""
if token ~= "" then
    wrk.headers["X-Vault-Token"] = token
end
if mode == "close" then
    wrk.headers["Connection"] = "close"
end

local threads = {}
local nthreads = 0
setup = function(thread)
    nthreads = nthreads + 1
    thread:set("tid", nthreads)
    table.insert(threads, thread)
end

local body = '{"data":{"v":"' .. string.rep("x", 100) .. '"}}'
local n = 0
bad = 0

if mode == "write" then
    wrk.method = "PUT"
    wrk.headers["Content-Type"] = "application/json"
    request = function()
        n = n + 1
        return wrk.format("PUT", wrk.path .. "-" .. tid .. "-" .. n, nil, body)
    end
end

response = function(status, headers, rbody)
    if status ~= 200 and status ~= 204 then
        bad = bad + 1
        if bad == 1 then
            io.stderr:write("bench: first bad answer " .. status .. ": " ..
                string.sub(rbody or "", 1, 200) .. "\n")
        end
    end
end

done = function(summary, latency, requests)
    local e = summary.errors
    local nbad = 0
    for _, t in ipairs(threads) do
        nbad = nbad + (t:get("bad") or 0)
    end
    local secs = summary.duration / 1e6
    io.write(string.format("BENCH rps=%.0f ok_rps=%.0f secs=%.3f p50_us=%d p99_us=%d requests=%d bad=%d errors=%d\n",
        summary.requests / secs, (summary.requests - nbad) / secs, secs, latency:percentile(50),
        latency:percentile(99), summary.requests, nbad,
        e.connect + e.read + e.write + e.timeout))
end
