//! A MAG and an LMA joined in-process: signalling delivered at once, fast-path updates acknowledged at once, the
//! system clock. Each side answers the management API ([`Loopback::handler`]), so `pmipctl` can be tried — and
//! tested — against a running pair without DPDK. Timers fire when the next request comes in.

use crate::api::{ApiHandler, Request, Response};
use crate::config::{ConfigError, LmaConfig, MagConfig};
use crate::fastpath::{TunnelId, TunnelSpec, TunnelUpdate};
use crate::lma::Lma;
use crate::machine::{Input, Output};
use crate::mag::Mag;
use crate::time::SystemClock;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
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
    use crate::config::ApnConfig;

    pub(crate) fn pair() -> Loopback {
        let lma = LmaConfig {
            allowed_mags: vec!["2001:db8:1::/48".parse().unwrap()],
            apns: vec![ApnConfig {
                name: "internet".into(),
                ipv6_pool: Some("2001:db8:100::/48".parse().unwrap()),
                ipv4_pool: Some("10.45.0.0/16".parse().unwrap()),
            }],
            ..LmaConfig::default()
        };
        let mag = MagConfig { local_ipv6: Some("2001:db8:1::1".parse().unwrap()), ..MagConfig::default() };
        Loopback::new(lma, mag).unwrap()
    }

    #[test]
    fn a_pdn_created_on_the_mag_shows_on_both_sides() {
        let lb = pair();
        let mag = lb.handler(Side::Mag);
        let lma = lb.handler(Side::Lma);
        let r = mag.handle(Request::PdnCreate(PdnCreate {
            mn_id: "001@nai".into(),
            apn: "internet".into(),
            att: 8,
            pdn_type: PdnType::Ipv4v6,
            lma: "2001:db8:2::1".parse().unwrap(),
            ue_mac: None,
            uplink_key: None,
            pdn_connection_id: None,
            handoff: None,
            home_prefix: None,
            ipv4_home_address: None,
            wait: true,
        }));
        let Response::Pdn { binding } = r else { panic!("{r:?}") };
        let Response::Bindings { bindings } = lma.handle(Request::Bindings { selector: Selector::default() }) else {
            panic!()
        };
        assert_eq!(bindings[0].uplink_key, binding.uplink_key);
        assert_eq!(lb.table(Side::Lma).len(), 1);
        assert_eq!(lb.table(Side::Mag).len(), 1);
    }
}
