-- A stand-in for pktgen's Lua API, to run pmipgw.lua where pktgen-dpdk is not installed (bench/pktgen/check.sh).
-- It models a 10 Gb/s port pair through a gateway that forwards at most MOCK_CAPACITY_MPPS; traffic above that
-- is lost. Only the calls pmipgw.lua makes are provided.
--
--   lua5.3 bench/pktgen/mock_pktgen.lua bench/pktgen/pmipgw.lua

local capacity = tonumber(os.getenv("MOCK_CAPACITY_MPPS") or "5") * 1e6
local line_rate = 14.88e6 -- 64-byte frames on 10 Gb/s
local counters = { [0] = { ipackets = 0, opackets = 0 }, [1] = { ipackets = 0, opackets = 0 } }
local state = { rate = 100, sending = {}, pcap = {} }

local function ports(list)
  if list == "all" or list == "0-1" then return { 0, 1 } end
  return { tonumber(list) }
end

local function other(p) return 1 - p end

pktgen = {
  set = function(list, what, value) if what == "rate" then state.rate = tonumber(value) end end,
  pcap = function(list, on) for _, p in ipairs(ports(list)) do state.pcap[p] = (on == "on") end end,
  clr = function() for p = 0, 1 do counters[p].ipackets, counters[p].opackets = 0, 0 end end,
  start = function(list) for _, p in ipairs(ports(list)) do assert(state.pcap[p], "pcap mode not on") state.sending[p] = true end end,
  stop = function(list) for _, p in ipairs(ports(list)) do state.sending[p] = false end end,
  delay = function(ms)
    for p = 0, 1 do
      if state.sending[p] then
        local offered = line_rate * state.rate / 100 * ms / 1000
        counters[p].opackets = counters[p].opackets + math.floor(offered)
        counters[other(p)].ipackets = counters[other(p)].ipackets + math.floor(math.min(offered, capacity * ms / 1000))
      end
    end
  end,
  portStats = function(list, kind)
    local t = { n = 0 }
    for _, p in ipairs(ports(list)) do t[p] = { ipackets = counters[p].ipackets, opackets = counters[p].opackets }; t.n = t.n + 1 end
    return t
  end,
  quit = function() end,
}
package.loaded["Pktgen"] = true
dofile(arg[1])
