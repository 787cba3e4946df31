-- wrk script: POST the file named by BODY with content type CTYPE; at the end, one line that
-- bench/load.py reads: requests, duration (us), p50 and p99 latency (us), errors.
wrk.method = "POST"
local file = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("CTYPE")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
