-- wrk script: the peer's POST /orders (post_order.lua, path in POST_ORDER_LUA), with wrk's
-- threads spread over the ports in SPREAD_PORTS (comma-separated, on 127.0.0.1): thread i sends
-- to port i mod n. Client-side balancing: no load balancer process shares the CPU measured.
dofile(os.getenv("POST_ORDER_LUA"))

local ports = {}
for p in string.gmatch(os.getenv("SPREAD_PORTS"), "%d+") do
  ports[#ports + 1] = p
end
local next_thread = 0

setup = function(thread)
  local port = ports[next_thread % #ports + 1]
  next_thread = next_thread + 1
  thread.addr = wrk.lookup("127.0.0.1", port)[1]
end
