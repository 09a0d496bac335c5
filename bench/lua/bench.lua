-- One wrk script for both systems and both operations, configured through environment variables
-- (setup() runs before init(args) sees script arguments, and it needs the target list):
--   BENCH_SYSTEM      etcd | kvstore
--   BENCH_OP          put | get | mixed (BENCH_READ_PERCENT % GETs, the rest PUTs)
--   BENCH_TARGETS     comma list host:port; wrk thread i talks to target (i mod n)
--   BENCH_KEYS        keyspace size (keys bench/000001 .. bench/<n>)
--   BENCH_VALUE_SIZE  value length in bytes (PUT)
--   BENCH_OP=load     bulk load for the growth points: keys bulk/<FROM> .. bulk/<FROM+COUNT-1> (as
--                     bench/lib/scenarios.ts bulkKey) exactly once each, a fresh random value per key,
--                     BENCH_LOAD_FROM, BENCH_LOAD_COUNT, BENCH_LOAD_THREADS (= -t = -c: one connection
--                     per thread, so a thread's requests and responses alternate and it knows when its
--                     last PUT is answered). A thread prints LOAD_THREAD_DONE then; wrk runs for -d
--                     regardless, so the harness interrupts it once every thread is done.
-- done() prints one machine-readable line starting with BENCH_RESULT.
-- The load generator's CPU counts in the figures and shares the cores with the members, so the
-- per-request path is kept short: requests are built once per key in init() (while they fit in
-- PRECOMPUTED_BYTES), and response() is defined only in load mode (wrk hands every response's
-- headers and body to Lua when it exists); otherwise non-2xx answers come from wrk's own count.

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

local load_from = tonumber(os.getenv("BENCH_LOAD_FROM") or "1")
local load_count = tonumber(os.getenv("BENCH_LOAD_COUNT") or "0")
local load_threads = tonumber(os.getenv("BENCH_LOAD_THREADS") or "1")
local value_chars = "abcdefghijklmnopqrstuvwxyz0123456789"

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
-- load: this thread's next and last key, whether a PUT awaits its answer, PUTs answered
local next_key, last_key, put_pending, load_finished = 0, -1, false, false
-- wrk calls request() once in thread 0's state before any connection opens (to check whether the
-- requests may be pipelined): that call must not consume a key
local verify_call = false
puts = 0
put_failures = 0

local function random_value()
  local v = {}
  for i = 1, value_size do
    local r = math.random(#value_chars)
    v[i] = value_chars:sub(r, r)
  end
  return table.concat(v)
end

local function load_init()
  local i = thread_index or 0
  local per = math.floor(load_count / load_threads)
  local extra = load_count % load_threads
  next_key = load_from + i * per + math.min(i, extra)
  last_key = next_key + per + ((i < extra) and 1 or 0) - 1
  verify_call = (i == 0)
end

local function load_done()
  if load_finished then return end
  load_finished = true
  io.write("LOAD_THREAD_DONE\n")
  io.stdout:flush()
  wrk.thread:stop()
end

-- Built requests per thread at most (PUT bodies of 256 KiB x 100k keys would not fit).
local PRECOMPUTED_BYTES = 64 * 1024 * 1024
local json_headers = { ["Content-Type"] = "application/json" }
-- requests built in init(), by key index: GETs and PUTs (mixed uses both)
local built_get, built_put = nil, nil

local function build(this_op, k)
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

function init(args)
  math.randomseed(os.time() * 1000 + (thread_index or 0) * 7919)
  if op == "load" then return load_init() end
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
  local want_get = op == "get" or op == "mixed"
  local want_put = op == "put" or op == "mixed"
  local per_key = (want_get and 80 or 0) + (want_put and (#put_body_suffix + 120) or 0)
  if per_key * keyspace <= PRECOMPUTED_BYTES then
    if want_get then built_get = {} end
    if want_put then built_put = {} end
    for i = 1, keyspace do
      if want_get then built_get[i] = build("get", keys[i]) end
      if want_put then built_put[i] = build("put", keys[i]) end
    end
  end
end

local function load_request()
  if next_key > last_key or verify_call then
    -- nothing left (or the last PUT's connection failed): a harmless read until wrk stops this thread
    if verify_call then
      verify_call = false
    else
      load_done()
    end
    if system == "etcd" then
      return wrk.format("POST", "/v3/kv/range", json_headers, '{"key":"' .. base64("bulk/") .. '"}')
    end
    return wrk.format("GET", "/v1/status", nil, nil)
  end
  local k = string.format("bulk/%07d", next_key)
  next_key = next_key + 1
  put_pending = true
  if system == "etcd" then
    return wrk.format("POST", "/v3/kv/put", json_headers,
      '{"key":"' .. base64(k) .. '","value":"' .. base64(random_value()) .. '"}')
  end
  return wrk.format("PUT", "/v1/kv/" .. k, json_headers, '{"value":"' .. random_value() .. '"}')
end

function request()
  if op == "load" then return load_request() end
  local i = math.random(keyspace)
  local this_op = op
  if op == "mixed" then
    this_op = (math.random(100) <= read_percent) and "get" or "put"
  end
  local built = (this_op == "put") and built_put or built_get
  if built then return built[i] end
  return build(this_op, keys[i])
end

if op == "load" then
  function response(status, headers, body)
    responses = responses + 1
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
    if put_pending then
      put_pending = false
      puts = puts + 1
      if status < 200 or status > 299 then put_failures = put_failures + 1 end
      if next_key > last_key then load_done() end
    end
  end
end

function done(summary, latency, requests)
  local bad, seen, answered, put_bad = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    seen = seen + (t:get("responses") or 0)
    answered = answered + (t:get("puts") or 0)
    put_bad = put_bad + (t:get("put_failures") or 0)
  end
  if op == "load" then
    io.write(string.format('LOAD_RESULT {"puts":%d,"failed":%d,"durationUs":%d}\n', answered, put_bad, summary.duration))
  end
  local e = summary.errors
  if op ~= "load" then
    -- no response() in Lua: wrk's own count of answers with a status above 399
    seen, bad = summary.requests, e.status
  end
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"responses":%d,"non2xx":%d,'
      .. '"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d,'
      .. '"p50Us":%d,"p90Us":%d,"p99Us":%d,"p999Us":%d,"maxUs":%d,"meanUs":%.1f}\n',
    summary.requests, summary.duration, seen, bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
