//! The neighbour cache: IP → MAC for next hops, with static entries, solicitation retries and ageing.
//!
//! A simplified RFC 4861 §7.3 state machine, used for IPv4 (ARP) too: INCOMPLETE while soliciting, REACHABLE
//! after an answer, STALE once that ages out (still used, re-verified on use), PROBE while re-verifying, and
//! FAILED for a hold-down after the retries run out, so a dead next hop is not solicited at line rate. Static
//! entries from the configuration always win. Time is the caller's monotonic clock in milliseconds.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::wire::ethernet::MacAddr;

/// Cache timers (RFC 4861 §10: REACHABLE_TIME 30 s, RETRANS_TIMER 1 s, MAX_MULTICAST_SOLICIT 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheTimers {
    pub reachable_ms: u64,
    pub retransmit_ms: u64,
    pub max_probes: u8,
    /// How long a next hop that never answered is reported unreachable before it is tried again.
    pub failed_hold_ms: u64,
}

impl Default for CacheTimers {
    fn default() -> Self {
        CacheTimers { reachable_ms: 30_000, retransmit_ms: 1_000, max_probes: 3, failed_hold_ms: 3_000 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Static,
    Incomplete { probes: u8, next_at: u64 },
    Reachable { until: u64 },
    Stale,
    Probe { probes: u8, next_at: u64 },
    Failed { until: u64 },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: Option<MacAddr>,
    state: State,
}

/// The answer to a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Resolved(MacAddr),
    /// Being solicited: hold or drop (and count) the packet.
    Pending,
    /// The next hop did not answer; solicitation resumes after the hold-down.
    Unreachable,
}

/// A solicitation to send: ARP request / Neighbor Solicitation for `ip`; unicast to `known_mac` when verifying
/// an entry we already have (RFC 4861 §7.3.3), broadcast / solicited-node multicast otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solicit {
    pub ip: IpAddr,
    pub known_mac: Option<MacAddr>,
}

/// The neighbour cache of one port.
#[derive(Debug, Default)]
pub struct NeighborCache {
    timers: CacheTimers,
    entries: HashMap<IpAddr, Entry>,
}

impl NeighborCache {
    pub fn new(timers: CacheTimers) -> Self {
        NeighborCache { timers, entries: HashMap::new() }
    }

    /// A configured next hop: never aged, never replaced by what is learned.
    pub fn insert_static(&mut self, ip: IpAddr, mac: MacAddr) {
        self.entries.insert(ip, Entry { mac: Some(mac), state: State::Static });
    }

    /// The MAC for `ip`, if known, without side effects.
    pub fn get(&self, ip: &IpAddr) -> Option<MacAddr> {
        self.entries.get(ip).and_then(|e| e.mac)
    }

    /// Whether resolution of `ip` has given up (hold-down after unanswered solicitations) or never started.
    pub fn gave_up(&self, ip: &IpAddr) -> bool {
        self.entries.get(ip).is_none_or(|e| matches!(e.state, State::Failed { .. }))
    }

    /// Looks `ip` up for sending, starting or refreshing resolution as needed (solicitations go to `out`).
    pub fn lookup(&mut self, ip: IpAddr, now: u64, out: &mut Vec<Solicit>) -> Lookup {
        let timers = self.timers;
        let entry = self.entries.entry(ip).or_insert(Entry { mac: None, state: State::Failed { until: 0 } });
        match entry.state {
            State::Static | State::Probe { .. } => entry.mac.map_or(Lookup::Pending, Lookup::Resolved),
            State::Reachable { until } if now < until => entry.mac.map_or(Lookup::Pending, Lookup::Resolved),
            State::Reachable { .. } | State::Stale => {
                // Still usable while we re-verify it.
                entry.state = State::Probe { probes: 1, next_at: now + timers.retransmit_ms };
                out.push(Solicit { ip, known_mac: entry.mac });
                entry.mac.map_or(Lookup::Pending, Lookup::Resolved)
            }
            State::Incomplete { .. } => Lookup::Pending,
            State::Failed { until } if now < until => Lookup::Unreachable,
            State::Failed { .. } => {
                *entry =
                    Entry { mac: None, state: State::Incomplete { probes: 1, next_at: now + timers.retransmit_ms } };
                out.push(Solicit { ip, known_mac: None });
                Lookup::Pending
            }
        }
    }

    /// Records that `ip` is at `mac` (an answer, or the sender of a request). Returns whether the usable MAC for
    /// `ip` changed, i.e. whether the fast path needs to hear about it.
    pub fn learn(&mut self, ip: IpAddr, mac: MacAddr, now: u64) -> bool {
        let until = now + self.timers.reachable_ms;
        match self.entries.get_mut(&ip) {
            Some(Entry { state: State::Static, .. }) => false,
            Some(entry) => {
                let changed = entry.mac != Some(mac);
                *entry = Entry { mac: Some(mac), state: State::Reachable { until } };
                changed
            }
            None => {
                self.entries.insert(ip, Entry { mac: Some(mac), state: State::Reachable { until } });
                true
            }
        }
    }

    /// Advances timers: retransmits due solicitations into `out`, ages entries, and returns the next hops that
    /// just became unreachable (their MAC must be withdrawn from the fast path).
    pub fn tick(&mut self, now: u64, out: &mut Vec<Solicit>) -> Vec<IpAddr> {
        let timers = self.timers;
        let mut lost = Vec::new();
        self.entries.retain(|ip, entry| {
            match entry.state {
                State::Incomplete { probes, next_at } | State::Probe { probes, next_at } if now >= next_at => {
                    if probes < timers.max_probes {
                        let (probes, next_at) = (probes + 1, now + timers.retransmit_ms);
                        entry.state = match entry.state {
                            State::Probe { .. } => State::Probe { probes, next_at },
                            _ => State::Incomplete { probes, next_at },
                        };
                        out.push(Solicit { ip: *ip, known_mac: entry.mac });
                    } else {
                        if entry.mac.is_some() {
                            lost.push(*ip);
                        }
                        *entry = Entry { mac: None, state: State::Failed { until: now + timers.failed_hold_ms } };
                    }
                }
                State::Reachable { until } if now >= until => entry.state = State::Stale,
                State::Failed { until } if now >= until => return false,
                _ => {}
            }
            true
        });
        lost
    }

    /// Every entry with a MAC, for display (`ip`, `mac`, whether static).
    pub fn known(&self) -> impl Iterator<Item = (IpAddr, MacAddr, bool)> + '_ {
        self.entries.iter().filter_map(|(ip, e)| e.mac.map(|mac| (*ip, mac, e.state == State::Static)))
    }

    /// Every entry with its MAC (if any) and RFC 4861 state name, for management displays.
    pub fn entries(&self) -> impl Iterator<Item = (IpAddr, Option<MacAddr>, &'static str)> + '_ {
        self.entries.iter().map(|(ip, e)| {
            let state = match e.state {
                State::Static => "static",
                State::Incomplete { .. } => "incomplete",
                State::Reachable { .. } => "reachable",
                State::Stale => "stale",
                State::Probe { .. } => "probe",
                State::Failed { .. } => "failed",
            };
            (*ip, e.mac, state)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn resolves_after_an_answer_and_solicits_once_meanwhile() {
        let mut cache = NeighborCache::new(CacheTimers::default());
        let mut out = Vec::new();
        assert_eq!(cache.lookup(ip(1), 0, &mut out), Lookup::Pending);
        assert_eq!(out, vec![Solicit { ip: ip(1), known_mac: None }]);
        out.clear();
        assert_eq!(cache.lookup(ip(1), 10, &mut out), Lookup::Pending);
        assert!(out.is_empty(), "no second solicitation before the retransmit timer");
        assert!(cache.learn(ip(1), MAC_A, 20));
        assert_eq!(cache.lookup(ip(1), 30, &mut out), Lookup::Resolved(MAC_A));
        assert!(!cache.learn(ip(1), MAC_A, 40), "same MAC: nothing to tell the fast path");
        assert!(cache.learn(ip(1), MAC_B, 50), "moved");
    }

    #[test]
    fn retries_then_holds_down_then_tries_again() {
        let t = CacheTimers::default();
        let mut cache = NeighborCache::new(t);
        let mut out = Vec::new();
        cache.lookup(ip(2), 0, &mut out);
        for round in 1..t.max_probes as u64 {
            out.clear();
            assert!(cache.tick(round * t.retransmit_ms, &mut out).is_empty());
            assert_eq!(out.len(), 1, "retransmission {round}");
        }
        out.clear();
        let failed_at = t.max_probes as u64 * t.retransmit_ms;
        assert!(cache.tick(failed_at, &mut out).is_empty(), "never had a MAC: nothing to withdraw");
        assert!(out.is_empty(), "retries exhausted");
        assert_eq!(cache.lookup(ip(2), failed_at + 1, &mut out), Lookup::Unreachable);
        assert!(out.is_empty(), "no solicitation during the hold-down");
        cache.tick(failed_at + t.failed_hold_ms, &mut out);
        assert_eq!(cache.lookup(ip(2), failed_at + t.failed_hold_ms + 1, &mut out), Lookup::Pending);
        assert_eq!(out.len(), 1, "resolution starts again after the hold-down");
    }

    #[test]
    fn stale_entries_are_used_while_reverified_and_withdrawn_if_silent() {
        let t = CacheTimers::default();
        let mut cache = NeighborCache::new(t);
        let mut out = Vec::new();
        cache.learn(ip(3), MAC_A, 0);
        cache.tick(t.reachable_ms, &mut out);
        assert_eq!(cache.lookup(ip(3), t.reachable_ms + 1, &mut out), Lookup::Resolved(MAC_A), "stale but usable");
        assert_eq!(out, vec![Solicit { ip: ip(3), known_mac: Some(MAC_A) }], "unicast re-verification");
        let mut now = t.reachable_ms + 1;
        let mut lost = Vec::new();
        for _ in 0..t.max_probes {
            now += t.retransmit_ms;
            lost.extend(cache.tick(now, &mut out));
        }
        assert_eq!(lost, vec![ip(3)], "the fast path must forget it");
        assert_eq!(cache.get(&ip(3)), None);
    }

    #[test]
    fn static_entries_win() {
        let mut cache = NeighborCache::new(CacheTimers::default());
        let mut out = Vec::new();
        cache.insert_static(ip(4), MAC_A);
        assert!(!cache.learn(ip(4), MAC_B, 0));
        assert!(cache.tick(10_000_000, &mut out).is_empty());
        assert_eq!(cache.lookup(ip(4), 10_000_000, &mut out), Lookup::Resolved(MAC_A));
        assert!(out.is_empty());
        assert_eq!(cache.known().collect::<Vec<_>>(), vec![(ip(4), MAC_A, true)]);
    }
}
