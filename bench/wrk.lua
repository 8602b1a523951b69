-- One wrk script for every endpoint of bench/run. BENCH_ENDPOINT picks the request;
-- BENCH_USERS names the seeded users file: one line per user,
-- "<user_id> <access_token> <email> <task_id> <task_id> …". Each request picks a user at random,
-- and for get, patch and toggle one of that user's listed tasks at random (the pgbench scripts
-- of bench/run spread the same way); done() prints one RESULT line for bench/run to collect.

local endpoint = os.getenv("BENCH_ENDPOINT")
local users = {}

local function load_users()
  for line in io.lines(os.getenv("BENCH_USERS")) do
    local fields = {}
    for field in line:gmatch("%S+") do
      fields[#fields + 1] = field
    end
    local user = { id = fields[1], token = fields[2], email = fields[3], tasks = {} }
    for i = 4, #fields do
      user.tasks[#user.tasks + 1] = fields[i]
    end
    users[#users + 1] = user
  end
end

-- Each thread gets its own seed: threads start within the same second and clock tick, and
-- would otherwise walk the same sequence of users and tasks in lockstep.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  load_users()
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919
    + math.floor(os.clock() * 1000000))
end

local function auth(user, extra)
  local headers = { ["Authorization"] = "Bearer " .. user.token }
  if extra then
    headers["Content-Type"] = "application/json"
  end
  return headers
end

local function tasks_path(user)
  return "/api/v1/users/" .. user.id .. "/tasks"
end

local function any_task(user)
  return user.tasks[math.random(#user.tasks)]
end

local counter = 0

function request()
  local user = users[math.random(#users)]
  counter = counter + 1
  if endpoint == "list" then
    return wrk.format("GET", tasks_path(user) .. "?limit=20", auth(user))
  elseif endpoint == "list-filtered" then
    return wrk.format("GET", tasks_path(user) .. "?status=pending&priority=high&sort=due_date",
      auth(user))
  elseif endpoint == "list-position" then
    return wrk.format("GET", tasks_path(user) .. "?sort=position&limit=20", auth(user))
  elseif endpoint == "list-status" then
    return wrk.format("GET", tasks_path(user) .. "?status=not_started&limit=20", auth(user))
  elseif endpoint == "list-search" then
    return wrk.format("GET", tasks_path(user) .. "?q=report", auth(user))
  elseif endpoint == "get" then
    return wrk.format("GET", tasks_path(user) .. "/" .. any_task(user), auth(user))
  elseif endpoint == "create" then
    return wrk.format("POST", tasks_path(user), auth(user, true),
      '{"title":"bench task ' .. counter .. '","priority":"high","due_date":"2031-01-01T09:00:00Z"}')
  elseif endpoint == "patch" then
    return wrk.format("PATCH", tasks_path(user) .. "/" .. any_task(user), auth(user, true),
      '{"title":"patched ' .. counter .. '"}')
  elseif endpoint == "toggle" then
    return wrk.format("PATCH", tasks_path(user) .. "/" .. any_task(user) .. "/complete", auth(user))
  elseif endpoint == "login" then
    return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" },
      '{"email":"' .. user.email .. '","password":"bench-password-1"}')
  else
    return wrk.format("GET", "/health")
  end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1000000
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %s %.0f %.2f %.2f %d\n", endpoint, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
