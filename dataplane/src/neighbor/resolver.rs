//! Next-hop resolution on the control thread: one [`NeighborCache`] per port, the solicitations it asks for,
//! which fast-path entries depend on which neighbour, and frames held until their next hop answers.
//!
//! Sans-IO like the procedures: frames to send come back as `(port, bytes)`, the caller's clock drives the
//! timers, and the control thread turns "this neighbour changed" into table updates. Three kinds of next hop:
//! - a port's default next hop (`next_hop` in the config), published to the workers through [`PortNextHops`];
//! - a tunnel peer on `core` (when no `core` next hop is configured, peers are on-link) or a UE on `access`,
//!   carried in the binding itself, so the control thread rewrites the bindings that use it;
//! - a signalling peer, whose messages wait here (a few per peer) until it is resolved.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::{arp, ndp, CacheTimers, Lookup, NeighborCache, Solicit};
use crate::nexthop::{IpFamily, PortNextHops};
use crate::wire::ethernet::MacAddr;
use crate::PortIndex;

/// Frames held per unresolved next hop; older ones are dropped (and counted) first.
const HELD_PER_NEXT_HOP: usize = 4;

/// What resolution needs to know of a port.
#[derive(Clone, Debug)]
pub struct PortNeighbors {
    pub mac: MacAddr,
    /// Source of ARP requests (the port's first IPv4 address).
    pub ipv4: Option<Ipv4Addr>,
    /// Source of Neighbor Solicitations: the port's first IPv6 address, else its link-local address.
    pub ipv6: Ipv6Addr,
    /// A configured `next_hop_mac`: everything leaving the port goes there, nothing is resolved.
    pub fixed: Option<MacAddr>,
    /// Configured default next hops, IPv4 and IPv6.
    pub gateways: [Option<IpAddr>; 2],
}

impl PortNeighbors {
    /// The router for `family` when one is configured (or the fixed next hop makes resolution moot).
    pub fn routes(&self, family: IpFamily) -> bool {
        self.fixed.is_some() || self.gateways[family as usize].is_some()
    }
}

/// Counters of the resolution machinery, reported through the API.
#[derive(Clone, Debug, Default)]
pub struct NeighborStats {
    pub solicitations_sent: u64,
    pub resolved: u64,
    pub lost: u64,
    /// Held frames dropped: too many waiting for one next hop, or the next hop never answered.
    pub held_dropped: u64,
}

/// The control thread's neighbour state; `U` names what carries a neighbour's MAC (the control thread's tunnels).
pub struct Neighbors<U> {
    ports: Vec<PortNeighbors>,
    caches: Vec<NeighborCache>,
    next_hops: Arc<PortNextHops>,
    users: HashMap<(PortIndex, IpAddr), BTreeSet<U>>,
    /// Frames without their Ethernet destination yet (the first six bytes are filled on release).
    held: HashMap<(PortIndex, IpAddr), VecDeque<Vec<u8>>>,
    solicit: Vec<Solicit>,
    pub stats: NeighborStats,
}

impl<U: Ord + Copy> Neighbors<U> {
    /// `statics`: configured entries per port.
    pub fn new(
        ports: Vec<PortNeighbors>,
        statics: &[(PortIndex, IpAddr, MacAddr)],
        next_hops: Arc<PortNextHops>,
        timers: CacheTimers,
    ) -> Self {
        let mut caches: Vec<NeighborCache> = ports.iter().map(|_| NeighborCache::new(timers)).collect();
        for &(port, ip, mac) in statics {
            if let Some(cache) = caches.get_mut(port.get()) {
                cache.insert_static(ip, mac);
            }
        }
        Neighbors {
            ports,
            caches,
            next_hops,
            users: HashMap::new(),
            held: HashMap::new(),
            solicit: Vec::new(),
            stats: NeighborStats::default(),
        }
    }

    pub fn port(&self, port: PortIndex) -> Option<&PortNeighbors> {
        self.ports.get(port.get())
    }

    /// Starts resolving every port's configured next hops; call once at start, frames go to `out`.
    pub fn start(&mut self, now: u64, out: &mut Vec<(PortIndex, Vec<u8>)>) {
        self.refresh_gateways(now, out);
    }

    /// The MAC of `ip` on `port`, starting resolution if it is not known.
    pub fn resolve(
        &mut self,
        port: PortIndex,
        ip: IpAddr,
        now: u64,
        out: &mut Vec<(PortIndex, Vec<u8>)>,
    ) -> Option<MacAddr> {
        let cache = self.caches.get_mut(port.get())?;
        let found = cache.lookup(ip, now, &mut self.solicit);
        self.flush_solicitations(port, out);
        match found {
            Lookup::Resolved(mac) => Some(mac),
            Lookup::Pending | Lookup::Unreachable => None,
        }
    }

    /// Where a frame to `ip` out of `port` goes: the fixed next hop, the port's router for the family, or `ip`
    /// itself when on-link. Returns the neighbour to resolve.
    pub fn next_hop_for(&self, port: PortIndex, ip: IpAddr) -> Option<Result<MacAddr, IpAddr>> {
        let p = self.ports.get(port.get())?;
        if let Some(mac) = p.fixed {
            return Some(Ok(mac));
        }
        Some(Err(p.gateways[IpFamily::of(&ip) as usize].unwrap_or(ip)))
    }

    /// Records that `id` (a tunnel) carries the MAC of (`port`, `ip`) in its binding.
    pub fn add_user(&mut self, port: PortIndex, ip: IpAddr, id: U) {
        self.users.entry((port, ip)).or_default().insert(id);
    }

    pub fn remove_user(&mut self, port: PortIndex, ip: IpAddr, id: U) {
        if let Some(ids) = self.users.get_mut(&(port, ip)) {
            ids.remove(&id);
            if ids.is_empty() {
                self.users.remove(&(port, ip));
            }
        }
    }

    /// The users (tunnels) whose binding carries the MAC of (`port`, `ip`).
    pub fn users(&self, port: PortIndex, ip: IpAddr) -> Vec<U> {
        self.users.get(&(port, ip)).map(|ids| ids.iter().copied().collect()).unwrap_or_default()
    }

    /// Keeps `frame` (Ethernet header included, destination to be filled) until (`port`, `ip`) resolves.
    pub fn hold(&mut self, port: PortIndex, ip: IpAddr, frame: Vec<u8>) {
        let queue = self.held.entry((port, ip)).or_default();
        if queue.len() == HELD_PER_NEXT_HOP {
            queue.pop_front();
            self.stats.held_dropped += 1;
        }
        queue.push_back(frame);
    }

    /// Takes what a received ARP / ND message teaches: `ip` is at `mac` on `port`. Only neighbours we asked
    /// about, already know, or that spoke to one of our addresses are recorded (`addressed_us`), so a flood of
    /// foreign requests cannot fill the cache. Returns whether the MAC in use changed (fast-path users and the
    /// port's next hops are then due an update); held frames are released to `out` either way.
    pub fn learn(
        &mut self,
        port: PortIndex,
        ip: IpAddr,
        mac: MacAddr,
        addressed_us: bool,
        now: u64,
        out: &mut Vec<(PortIndex, Vec<u8>)>,
    ) -> bool {
        let Some(cache) = self.caches.get_mut(port.get()) else { return false };
        let interesting = addressed_us
            || cache.get(&ip).is_some()
            || self.users.contains_key(&(port, ip))
            || self.held.contains_key(&(port, ip))
            || self.ports[port.get()].gateways.contains(&Some(ip));
        if !interesting {
            return false;
        }
        let changed = cache.learn(ip, mac, now);
        // A static entry does not move, but what waited for it can go.
        let usable = cache.get(&ip);
        if changed {
            self.stats.resolved += 1;
            self.publish_gateway(port, ip, usable);
        }
        if let Some(frames) = self.held.remove(&(port, ip)) {
            if let Some(dst) = usable {
                for mut frame in frames {
                    if let Some(header) = frame.get_mut(..6) {
                        header.copy_from_slice(&dst.0);
                    }
                    out.push((port, frame));
                }
            }
        }
        changed
    }

    /// Advances every cache: retransmissions and re-verifications go to `out`; returns the neighbours that
    /// stopped answering (their MAC is withdrawn from the port's next hops here; bindings are the caller's).
    pub fn tick(&mut self, now: u64, out: &mut Vec<(PortIndex, Vec<u8>)>) -> Vec<(PortIndex, IpAddr)> {
        let mut lost = Vec::new();
        for port in PortIndex::all(self.caches.len()) {
            let gone = self.caches[port.get()].tick(now, &mut self.solicit);
            self.flush_solicitations(port, out);
            for ip in gone {
                self.stats.lost += 1;
                self.publish_gateway(port, ip, None);
                lost.push((port, ip));
            }
        }
        // Held frames whose next hop gave up are dropped rather than kept forever.
        let caches = &self.caches;
        let before: usize = self.held.values().map(VecDeque::len).sum();
        self.held.retain(|(port, ip), _| caches.get(port.get()).is_none_or(|cache| !cache.gave_up(ip)));
        let after: usize = self.held.values().map(VecDeque::len).sum();
        self.stats.held_dropped += (before - after) as u64;
        // What is in use is looked up again, so stale entries are re-verified before they age out.
        let in_use: Vec<(PortIndex, IpAddr)> = self.users.keys().copied().collect();
        for (port, ip) in in_use {
            self.resolve(port, ip, now, out);
        }
        self.refresh_gateways(now, out);
        lost
    }

    /// Every cache entry of every port: (port, ip, mac, state, bindings using it), sorted for display.
    /// Cache entries, next hops with tunnels depending on them, and frames held for resolution.
    pub fn occupancy(&self) -> [(&'static str, usize); 3] {
        [
            ("neighbour.entries", self.caches.iter().map(|c| c.entries().count()).sum()),
            ("neighbour.next_hops_in_use", self.users.len()),
            ("neighbour.frames_held", self.held.values().map(VecDeque::len).sum()),
        ]
    }

    pub fn entries(&self) -> Vec<(PortIndex, IpAddr, Option<MacAddr>, &'static str, usize)> {
        let mut all: Vec<_> = self
            .caches
            .iter()
            .enumerate()
            .flat_map(|(port, cache)| {
                let port = PortIndex(port);
                cache.entries().map(move |(ip, mac, state)| {
                    let users = self.users.get(&(port, ip)).map_or(0, BTreeSet::len);
                    (port, ip, mac, state, users)
                })
            })
            .collect();
        all.sort_by_key(|&(port, ip, ..)| (port, ip));
        all
    }

    fn refresh_gateways(&mut self, now: u64, out: &mut Vec<(PortIndex, Vec<u8>)>) {
        for port in PortIndex::all(self.ports.len()) {
            if self.ports[port.get()].fixed.is_some() {
                continue;
            }
            for gateway in self.ports[port.get()].gateways.into_iter().flatten() {
                let mac = self.resolve(port, gateway, now, out);
                self.publish_gateway(port, gateway, mac);
            }
        }
    }

    /// If `ip` is a configured next hop of `port`, tells the workers its MAC (or that it has none).
    fn publish_gateway(&self, port: PortIndex, ip: IpAddr, mac: Option<MacAddr>) {
        let Some(p) = self.ports.get(port.get()) else { return };
        if p.fixed.is_none() && p.gateways[IpFamily::of(&ip) as usize] == Some(ip) {
            self.next_hops.set(port, IpFamily::of(&ip), mac);
        }
    }

    fn flush_solicitations(&mut self, port: PortIndex, out: &mut Vec<(PortIndex, Vec<u8>)>) {
        let Some(p) = self.ports.get(port.get()) else {
            self.solicit.clear();
            return;
        };
        for solicit in self.solicit.drain(..) {
            let frame = match solicit.ip {
                IpAddr::V4(target) => match p.ipv4 {
                    Some(source) => arp::request(p.mac, source, target).to_vec(),
                    None => continue,
                },
                // Re-verification is multicast too (simpler than RFC 4861 §7.3.3's unicast probe, and answered
                // the same way).
                IpAddr::V6(target) => ndp::neighbor_solicitation(p.mac, &p.ipv6, &target),
            };
            self.stats.solicitations_sent += 1;
            out.push((port, frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const ROUTER: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xe]);
    const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xf]);

    fn port(gateways: [Option<IpAddr>; 2]) -> PortNeighbors {
        PortNeighbors {
            mac: OURS,
            ipv4: Some(Ipv4Addr::new(203, 0, 113, 1)),
            ipv6: "2001:db8:50::1".parse().unwrap(),
            fixed: None,
            gateways,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_configured_next_hop_is_solicited_published_and_withdrawn_when_silent() {
        let hops = Arc::new(PortNextHops::new());
        let router4 = ip("203.0.113.10");
        let router6 = ip("2001:db8:50::10");
        let mut n: Neighbors<u32> =
            Neighbors::new(vec![port([Some(router4), Some(router6)])], &[], Arc::clone(&hops), CacheTimers::default());
        let mut out = Vec::new();
        n.start(0, &mut out);
        assert_eq!(out.len(), 2, "an ARP request and a Neighbor Solicitation");
        let request = arp::parse(&out[0].1).expect("an ARP frame");
        assert_eq!(
            (request.sender_ip, request.target_ip),
            (Ipv4Addr::new(203, 0, 113, 1), Ipv4Addr::new(203, 0, 113, 10))
        );
        let ns = ndp::parse(&out[1].1).expect("an ND frame");
        assert!(
            matches!(ns.message, ndp::NdpMessage::NeighborSolicitation { target, .. } if IpAddr::V6(target) == router6)
        );
        assert_eq!(hops.get(PortIndex(0), IpFamily::V4), None);

        out.clear();
        assert!(
            n.learn(PortIndex(0), router4, ROUTER, false, 10, &mut out),
            "a configured next hop is always of interest"
        );
        assert_eq!(hops.get(PortIndex(0), IpFamily::V4), Some(ROUTER));
        assert_eq!(hops.get(PortIndex(0), IpFamily::V6), None, "per family");

        // Silent from now on: after reachable time it is re-verified, then withdrawn.
        let t = CacheTimers::default();
        let mut lost = Vec::new();
        let mut now = 10;
        while now < 10 + t.reachable_ms + 10 * t.retransmit_ms {
            now += 200;
            lost.extend(n.tick(now, &mut out));
        }
        assert!(lost.contains(&(PortIndex(0), router4)), "{lost:?}");
        assert_eq!(hops.get(PortIndex(0), IpFamily::V4), None, "the workers stop using it");
        assert!(n.stats.lost >= 1 && n.stats.solicitations_sent > 2);
    }

    #[test]
    fn held_frames_leave_with_the_resolved_mac_or_are_dropped_and_counted() {
        let hops = Arc::new(PortNextHops::new());
        let mut n: Neighbors<u32> = Neighbors::new(vec![port([None, None])], &[], hops, CacheTimers::default());
        let mut out = Vec::new();
        let lma = ip("2001:db8:2::1");
        assert_eq!(n.resolve(PortIndex(0), lma, 0, &mut out), None);
        assert_eq!(out.len(), 1, "solicited");
        for i in 0..6u8 {
            n.hold(PortIndex(0), lma, vec![0, 0, 0, 0, 0, 0, i]);
        }
        assert_eq!(n.stats.held_dropped, 2, "four are kept per next hop");
        out.clear();
        n.learn(PortIndex(0), lma, PEER, false, 5, &mut out);
        let released: Vec<_> = out.iter().map(|(_, f)| f.clone()).collect();
        assert_eq!(released.len(), 4);
        assert!(released.iter().all(|f| f[..6] == PEER.0), "destination filled in");
        assert_eq!(released.iter().map(|f| f[6]).collect::<Vec<_>>(), vec![2, 3, 4, 5], "oldest dropped, order kept");

        // A peer that never answers: the held frame is dropped when resolution gives up.
        let silent = ip("2001:db8:2::99");
        n.resolve(PortIndex(0), silent, 100, &mut out);
        n.hold(PortIndex(0), silent, vec![0; 7]);
        let mut now = 100;
        for _ in 0..30 {
            now += 200;
            n.tick(now, &mut out);
        }
        assert_eq!(n.stats.held_dropped, 3);
    }

    #[test]
    fn only_neighbours_of_interest_are_learned_and_users_are_tracked() {
        let hops = Arc::new(PortNextHops::new());
        let mut n = Neighbors::new(
            vec![port([None, None])],
            &[(PortIndex(0), ip("10.0.0.9"), PEER)],
            hops,
            CacheTimers::default(),
        );
        let mut out = Vec::new();
        let stranger = ip("10.0.0.7");
        assert!(!n.learn(PortIndex(0), stranger, PEER, false, 0, &mut out), "a foreign request is not cached");
        assert_eq!(n.resolve(PortIndex(0), stranger, 0, &mut out), None);
        n.add_user(PortIndex(0), stranger, 7u32);
        assert!(n.learn(PortIndex(0), stranger, PEER, false, 1, &mut out));
        assert_eq!(n.users(PortIndex(0), stranger), vec![7u32]);
        n.remove_user(PortIndex(0), stranger, 7u32);
        assert!(n.users(PortIndex(0), stranger).is_empty());
        assert!(!n.learn(PortIndex(0), ip("10.0.0.9"), ROUTER, true, 2, &mut out), "static entries win");
        assert_eq!(n.resolve(PortIndex(0), ip("10.0.0.9"), 3, &mut out), Some(PEER));
        assert_eq!(n.next_hop_for(PortIndex(0), stranger), Some(Err(stranger)), "on-link without a router");
    }
}
