-- Open-loop AdmissionReview load for wrk (LuaJIT), run by bench_webhook.py:
--
--   WRK_BODIES=FILE WRK_RATE=500 WRK_REQUESTS=5000 WRK_OUT=FILE \
--     wrk -t32 -c32 -d15s --timeout 10s -s benchmarks/wrk_admission.lua https://127.0.0.1:PORT/validate
--
-- wrk itself is closed-loop: a connection sends its next request only after the previous answer. Run with
-- one connection per thread (-t N -c N) and this script puts every connection on its own fixed schedule,
-- phase-shifted so that together they send WRK_RATE requests per second. A request whose due time passes
-- while its connection is still waiting on the server is timed from when it was due, not from when it
-- could be sent (no coordinated omission, as in wrk2); one sent on time is timed from its send. Each
-- thread stops after its share of WRK_REQUESTS, so every request sent is answered or counted as an error.
-- Bodies come from WRK_BODIES, one "uid<TAB>json" per line, rotated; an answer counts as ok only if it is
-- HTTP 200 and carries the request's uid. Results (every latency in ms, counters) go to WRK_OUT as JSON.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } pe_timespec;
int clock_gettime(int clock_id, pe_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("pe_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local next_id = 0
local clock_zero = nil

function setup(thread)
  if clock_zero == nil then
    clock_zero = now_ms() + 500 -- every thread starts on the same clock, after all have connected
  end
  thread:set("id", next_id)
  thread:set("start_at", clock_zero)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local requests = {}
local uids = {}
local rate, total, nthreads
local interval, due, quota
-- globals, not locals: done() reads them from each thread's state with thread:get
sent, ok, errors, denied = 0, 0, 0, 0
latencies = {}
sent_at = {}
samples = {}
local late = false
local wait_ms = nil -- set by delay(): the next request() is a real one
local started = 0
current_uid = ""
last_answer = 0

function init(args)
  rate = tonumber(os.getenv("WRK_RATE"))
  total = tonumber(os.getenv("WRK_REQUESTS"))
  nthreads = tonumber(os.getenv("WRK_THREADS"))
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(os.getenv("WRK_BODIES")) do
    local tab = line:find("\t", 1, true)
    table.insert(uids, line:sub(1, tab - 1))
    table.insert(requests, wrk.format("POST", "/validate", headers, line:sub(tab + 1)))
  end
  interval = nthreads * 1000 / rate
  due = start_at + id * 1000 / rate
  quota = math.floor(total / nthreads) + ((id < total % nthreads) and 1 or 0)
end

function delay()
  if sent >= quota then
    return 3600000 -- this thread's share is done; wrk's -d ends the run
  end
  local wait = due - now_ms()
  late = wait < 0
  wait_ms = late and 0 or math.ceil(wait)
  return wait_ms
end

function request()
  if wait_ms == nil then
    return requests[1] -- wrk's check that the script builds a request, made before the run starts
  end
  wait_ms = nil
  local i = (id + sent * nthreads) % #requests + 1
  current_uid = uids[i]
  started = late and due or now_ms()
  sent = sent + 1
  due = due + interval
  return requests[i]
end

function response(status, headers, body)
  last_answer = now_ms()
  table.insert(latencies, last_answer - started)
  table.insert(sent_at, started - start_at)
  if status == 200 and body:find('"uid": "' .. current_uid .. '"', 1, true) then
    ok = ok + 1
    if body:find('"allowed": false', 1, true) then
      denied = denied + 1
    end
  else
    errors = errors + 1
    if #samples < 5 then
      table.insert(samples, "HTTP " .. status .. ": " .. body:sub(1, 200))
    end
  end
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, reqs)
  local all = {}
  local at = {}
  local counts = { sent = 0, ok = 0, errors = 0, denied = 0 }
  local kept = {}
  local last = clock_zero
  for _, thread in ipairs(threads) do
    for _, v in ipairs(thread:get("latencies")) do
      table.insert(all, string.format("%.3f", v))
    end
    for _, v in ipairs(thread:get("sent_at")) do
      table.insert(at, string.format("%.1f", v))
    end
    last = math.max(last, thread:get("last_answer"))
    for k, _ in pairs(counts) do
      counts[k] = counts[k] + thread:get(k)
    end
    local open = thread:get("sent") - thread:get("ok") - thread:get("errors")
    if open > 0 then
      table.insert(kept, json_string(string.format("thread %d: %d request(s) sent, no answer (last uid %s)",
        thread:get("id"), open, thread:get("current_uid"))))
    end
    for _, s in ipairs(thread:get("samples")) do
      table.insert(kept, json_string(s))
    end
  end
  local e = summary.errors
  local out = assert(io.open(os.getenv("WRK_OUT"), "w"))
  out:write(string.format(
    '{"clock_zero_ms": %.3f, "sent": %d, "ok": %d, "errors": %d, "denied": %d, "socket_errors": %d, "seconds": %.3f, ' ..
    '"samples": [%s], "latencies_ms": [%s], "sent_at_ms": [%s]}\n',
    clock_zero, counts.sent, counts.ok, counts.errors, counts.denied, e.connect + e.read + e.write + e.timeout,
    (last - clock_zero) / 1000, table.concat(kept, ", "), table.concat(all, ", "), table.concat(at, ", ")))
  out:close()
end
