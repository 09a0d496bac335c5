-- One wrk script for both systems and both operations, configured through environment variables
-- (setup() runs before init(args) sees script arguments, and it needs the target list):
--   BENCH_SYSTEM      etcd | kvstore
--   BENCH_OP          put | get | mixed (BENCH_READ_PERCENT % GETs, the rest PUTs)
--   BENCH_TARGETS     comma list host:port; wrk thread i talks to target (i mod n)
--   BENCH_KEYS        keyspace size (keys bench/000001 .. bench/<n>)
--   BENCH_VALUE_SIZE  value length in bytes (PUT)
-- done() prints one machine-readable line starting with BENCH_RESULT.

local system = os.getenv("BENCH_SYSTEM") or "kvstore"
local op = os.getenv("BENCH_OP") or "get"
local keyspace = tonumber(os.getenv("BENCH_KEYS") or "100000")
local value_size = tonumber(os.getenv("BENCH_VALUE_SIZE") or "100")
local targets = os.getenv("BENCH_TARGETS") or ""
local read_percent = tonumber(os.getenv("BENCH_READ_PERCENT") or "90")

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = string.byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = B64:sub(c1 + 1, c1 + 1) .. B64:sub(c2 + 1, c2 + 1)
      .. (b and B64:sub(c3 + 1, c3 + 1) or "=") .. (c and B64:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

local function key_name(i)
  return string.format("bench/%06d", i)
end

-- main state: assign threads to targets round-robin, remember threads for done()
local threads = {}
local thread_count = 0

function setup(thread)
  local list = {}
  for t in string.gmatch(targets, "[^,]+") do list[#list + 1] = t end
  if #list > 0 then
    local target = list[(thread_count % #list) + 1]
    local host, port = string.match(target, "^(.+):(%d+)$")
    thread.addr = wrk.lookup(host, port)[1]
  end
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end

-- thread state
local keys = {}
local put_body_prefix, put_body_suffix
non2xx = 0
responses = 0

function init(args)
  math.randomseed(os.time() * 1000 + (thread_index or 0) * 7919)
  local chars = "abcdefghijklmnopqrstuvwxyz0123456789"
  local v = {}
  for i = 1, value_size do
    local r = math.random(#chars)
    v[i] = chars:sub(r, r)
  end
  local value = table.concat(v)
  for i = 1, keyspace do
    if system == "etcd" then
      keys[i] = base64(key_name(i))
    else
      keys[i] = "/v1/kv/" .. key_name(i)
    end
  end
  if system == "etcd" then
    put_body_prefix = '{"key":"'
    put_body_suffix = '","value":"' .. base64(value) .. '"}'
  else
    put_body_prefix = nil
    put_body_suffix = '{"value":"' .. value .. '"}'
  end
end

local json_headers = { ["Content-Type"] = "application/json" }

function request()
  local k = keys[math.random(keyspace)]
  local this_op = op
  if op == "mixed" then
    this_op = (math.random(100) <= read_percent) and "get" or "put"
  end
  if system == "etcd" then
    if this_op == "put" then
      return wrk.format("POST", "/v3/kv/put", json_headers, put_body_prefix .. k .. put_body_suffix)
    end
    -- no "serializable": etcd's range is linearizable by default
    return wrk.format("POST", "/v3/kv/range", json_headers, '{"key":"' .. k .. '"}')
  end
  if this_op == "put" then
    return wrk.format("PUT", k, json_headers, put_body_suffix)
  end
  return wrk.format("GET", k, nil, nil)
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad, seen = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    seen = seen + (t:get("responses") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"responses":%d,"non2xx":%d,'
      .. '"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d,'
      .. '"p50Us":%d,"p90Us":%d,"p99Us":%d,"p999Us":%d,"maxUs":%d,"meanUs":%.1f}\n',
    summary.requests, summary.duration, seen, bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
