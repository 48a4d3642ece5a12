-- wrk script for the bench: POSTs a change_owner body to a random record, to a random new owner.
-- Args after `--`: the path template (`%s` is the record id) and the mode (`single` or `bulk`).
-- The ids, owners and token come from the Lua data file named by $BENCH_WRK_DATA (ids are
-- strings: 19-digit ids do not fit a Lua number).
local data = dofile(os.getenv("BENCH_WRK_DATA"))
local path_template, mode
local thread_counter = 0

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_number", thread_counter)
end

function init(args)
  path_template = args[1]
  mode = args[2] or "single"
  math.randomseed(os.time() * 100 + (thread_number or 0))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Zoho-oauthtoken " .. data.token
end

local function random_owner()
  return data.owners[math.random(#data.owners)]
end

function request()
  if mode == "bulk" then
    local body = data.bulk_body_head .. ',"owner":{"id":"' .. random_owner() .. '"}}'
    return wrk.format(nil, path_template, nil, body)
  end
  local id = data.ids[math.random(#data.ids)]
  local body = '{"owner":{"id":"' .. random_owner() .. '"}}'
  return wrk.format(nil, string.format(path_template, id), nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "status_errors": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max))
end
