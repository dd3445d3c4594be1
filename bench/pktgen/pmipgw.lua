-- pktgen-dpdk script for pmipgw on real hardware: replays the pcaps given with -s P:file.pcap (pktgen's own GRE
-- mode is not usable: replay pcaps instead) and reports the rate through the gateway and the loss.
--
-- Wiring (two ports back to back with the gateway, see bench/README.md "pktgen"):
--   pktgen port 0 <-> gateway "core" port        pktgen port 1 <-> gateway "sgi" (LMA) / "access" (MAG) port
-- Uplink on an LMA: port 0 sends lma-up-*.pcap, port 1 receives decapsulated packets. Downlink: port 1 sends
-- lma-down-*.pcap, port 0 receives GRE. Both at once for a bidirectional run.
--
-- Settings come from the environment (pktgen inherits it):
--   PMIPGW_TX       ports that send, a pktgen port list ("0", "1" or "0-1"; default "0")
--   PMIPGW_RX       ports that receive what the gateway forwards (default: the other port, or both for "0-1")
--   PMIPGW_SECONDS  length of each trial (default 10)
--   PMIPGW_RATE     percent of line rate for a fixed-rate run (default 100)
--   PMIPGW_SEARCH   "1": binary-search the highest rate with loss at most PMIPGW_LOSS (default 0.001 = 0.1 %)
--
-- Each trial prints one line: offered and forwarded packets per second and the loss. The counters are the
-- ports' own (rte_eth_stats): the sender's opackets and the receiver's ipackets, cleared before each trial.
-- pktgen -l 0-4 -n 4 -a 0000:01:00.0 -a 0000:01:00.1 -- -P -T -m "[1:2].0,[3:4].1" \
--        -s 0:bench/pktgen/pcap/lma-up-v6-1k-64.pcap -f bench/pktgen/pmipgw.lua

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local tx = env("PMIPGW_TX", "0")
local rx_default = ({ ["0"] = "1", ["1"] = "0" })[tx] or tx
local rx = env("PMIPGW_RX", rx_default)
local seconds = tonumber(env("PMIPGW_SECONDS", "10"))
local rate = tonumber(env("PMIPGW_RATE", "100"))
local search = env("PMIPGW_SEARCH", "0") == "1"
local max_loss = tonumber(env("PMIPGW_LOSS", "0.001"))

-- Sum of one counter over a port list ("0", "1", "0-1").
local function total(ports, field)
  local stats = pktgen.portStats(ports, "port")
  local sum = 0
  for pid, s in pairs(stats) do
    if type(pid) == "number" then sum = sum + s[field] end
  end
  return sum
end

-- One trial at `pct` percent of line rate: returns offered pps, forwarded pps, loss ratio.
local function trial(pct)
  pktgen.stop(tx)
  pktgen.pcap(tx, "on")
  pktgen.set(tx, "rate", pct)
  pktgen.set(tx, "count", 0)
  pktgen.clr()
  pktgen.delay(500)
  local sent0, recv0 = total(tx, "opackets"), total(rx, "ipackets")
  pktgen.start(tx)
  pktgen.delay(seconds * 1000)
  pktgen.stop(tx)
  pktgen.delay(500) -- let the last packets through the gateway
  local sent = total(tx, "opackets") - sent0
  local recv = total(rx, "ipackets") - recv0
  local loss = 0
  if sent > 0 then loss = (sent - recv) / sent end
  print(string.format("pmipgw: rate %5.1f %%  offered %.3f Mpps  forwarded %.3f Mpps  loss %.4f %% (%d of %d)",
    pct, sent / seconds / 1e6, recv / seconds / 1e6, loss * 100, sent - recv, sent))
  return sent / seconds, recv / seconds, loss
end

if search then
  -- Highest rate whose loss stays within max_loss, to 0.5 % of line rate.
  local lo, hi, best = 0, 100, nil
  while hi - lo > 0.5 do
    local mid = (lo + hi) / 2
    local _, fwd, loss = trial(mid)
    if loss <= max_loss then lo, best = mid, fwd else hi = mid end
  end
  if best then
    print(string.format("pmipgw: no-loss rate %.1f %% of line rate, %.3f Mpps forwarded", lo, best / 1e6))
  else
    print("pmipgw: loss above the limit at every rate tried")
  end
else
  trial(rate)
end
pktgen.quit()
