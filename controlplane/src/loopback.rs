//! A MAG and an LMA joined in-process: signalling delivered at once, fast-path updates acknowledged at once, the
//! system clock. Each side answers the management API ([`Loopback::handler`]), so `pmipctl` can be tried — and
//! tested — against a running pair without DPDK. Timers fire when the next request comes in.

use crate::api::{ApiHandler, Request, Response};
use crate::config::{ApnConfig, ConfigError, LmaConfig, MagConfig};
use crate::fastpath::{TunnelId, TunnelSpec, TunnelUpdate};
use crate::lma::Lma;
use crate::machine::{Input, Output};
use crate::mag::Mag;
use crate::net::IpPrefix;
use crate::time::SystemClock;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// Which side of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lma,
    Mag,
}

#[derive(Debug)]
struct Pair {
    lma: Lma,
    mag: Mag,
    /// Addresses the MAG signals from (anything else is the LMA).
    mag_addresses: Vec<IpAddr>,
    clock: SystemClock,
    tables: [BTreeMap<TunnelId, TunnelSpec>; 2],
    next_api: u64,
}

/// The pair; clone handles share it.
#[derive(Debug, Clone)]
pub struct Loopback {
    pair: Arc<Mutex<Pair>>,
}

impl Loopback {
    pub fn new(lma: LmaConfig, mag: MagConfig) -> Result<Self, ConfigError> {
        let mag_addresses = mag.local_ipv6.map(IpAddr::V6).into_iter().chain(mag.local_ipv4.map(IpAddr::V4)).collect();
        let pair = Pair {
            lma: Lma::new(lma, 1)?,
            mag: Mag::new(mag, 1)?,
            mag_addresses,
            clock: SystemClock::new(),
            tables: [BTreeMap::new(), BTreeMap::new()],
            next_api: 0,
        };
        Ok(Loopback { pair: Arc::new(Mutex::new(pair)) })
    }

    /// A lab pair: an LMA serving MAGs in 2001:db8:1::/48 with the APN `internet` (prefixes from
    /// 2001:db8:100::/48, IPv4 addresses from 10.45.0.0/16) and a MAG at 2001:db8:1::1.
    pub fn lab() -> Result<Self, ConfigError> {
        let prefix = |key: &str, text: &str| {
            text.parse::<IpPrefix>().map_err(|e| ConfigError::Invalid { key: key.into(), problem: e.to_string() })
        };
        let lma = LmaConfig {
            allowed_mags: vec![prefix("allowed_mags", "2001:db8:1::/48")?],
            apns: vec![ApnConfig {
                name: "internet".into(),
                ipv6_pool: Some(prefix("ipv6_pool", "2001:db8:100::/48")?),
                ipv4_pool: Some(prefix("ipv4_pool", "10.45.0.0/16")?),
            }],
            ..LmaConfig::default()
        };
        let mag =
            MagConfig { local_ipv6: Some(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)), ..MagConfig::default() };
        Loopback::new(lma, mag)
    }

    /// An API handler for one side.
    pub fn handler(&self, side: Side) -> impl ApiHandler {
        let pair = Arc::clone(&self.pair);
        move |request: Request| match pair.lock() {
            Ok(mut p) => p.call(side, request),
            Err(_) => Response::error("the loopback gateway failed"),
        }
    }

    /// Fast-path entries one side holds.
    pub fn table(&self, side: Side) -> BTreeMap<TunnelId, TunnelSpec> {
        self.pair.lock().map(|p| p.tables[side as usize].clone()).unwrap_or_default()
    }
}

impl Pair {
    fn call(&mut self, side: Side, request: Request) -> Response {
        self.next_api += 1;
        let id = self.next_api;
        let mut queue: VecDeque<(Side, Input)> = VecDeque::new();
        queue.push_back((Side::Lma, Input::Tick));
        queue.push_back((Side::Mag, Input::Tick));
        queue.push_back((side, Input::Api { id, request }));
        let mut reply = None;
        // Bounded: a misbehaving exchange cannot spin forever.
        for _ in 0..10_000 {
            let Some((at, input)) = queue.pop_front() else { break };
            let now = self.clock.now();
            let mut out = Vec::new();
            match at {
                Side::Lma => self.lma.handle(input, now, &mut out),
                Side::Mag => self.mag.handle(input, now, &mut out),
            }
            for o in out {
                match o {
                    Output::Send { header, msg } => {
                        let to = if self.mag_addresses.contains(&header.dst) { Side::Mag } else { Side::Lma };
                        queue.push_back((to, Input::Received { header, msg }));
                    }
                    Output::Fastpath { token, update } => {
                        let table = &mut self.tables[at as usize];
                        match update {
                            TunnelUpdate::Install { id, spec } | TunnelUpdate::Modify { id, spec } => {
                                table.insert(id, spec);
                            }
                            TunnelUpdate::Remove { id } => {
                                table.remove(&id);
                            }
                        }
                        queue.push_back((at, Input::FastpathApplied(token)));
                    }
                    Output::ApiReply { id: r, response } if r == id => reply = Some(response),
                    // The loopback keeps no durable state.
                    Output::ApiReply { .. } | Output::Event(_) => {}
                }
            }
        }
        reply.unwrap_or_else(|| Response::error("no answer yet (the loopback answers only what completes at once)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PdnCreate, PdnType, Selector};

    pub(crate) fn pair() -> Loopback {
        Loopback::lab().unwrap()
    }

    #[test]
    fn a_pdn_created_on_the_mag_shows_on_both_sides() {
        let lb = pair();
        let mag = lb.handler(Side::Mag);
        let lma = lb.handler(Side::Lma);
        let lma_address = "2001:db8:2::1".parse().unwrap();
        let r = mag.handle(Request::PdnCreate(PdnCreate::new("001@nai", "internet", PdnType::Ipv4v6, lma_address)));
        let Response::Pdn { binding } = r else { panic!("{r:?}") };
        let Response::Bindings { bindings } = lma.handle(Request::Bindings { selector: Selector::default() }) else {
            panic!()
        };
        assert_eq!(bindings[0].uplink_key, binding.uplink_key);
        assert_eq!(lb.table(Side::Lma).len(), 1);
        assert_eq!(lb.table(Side::Mag).len(), 1);
    }
}
