//! The fast path proper: classify → look up → encapsulate / decapsulate → a verdict per packet.
//!
//! Each packet goes through two steps. *Planning* reads the packet (checked views only) and the worker's tables
//! and either refuses it with a [`DropReason`] or produces an `Action` that records every decision; no byte is
//! changed, so a refused packet leaves exactly as it came (a later issue answers some drops with ICMP errors).
//! *Execution* then rewrites the packet in place: encapsulation prepends into the headroom, decapsulation moves
//! the data offset; nothing is copied. The worker turns the verdicts into transmissions, punts and frees.
//!
//! Per packet there is no allocation, lock, syscall, log or panic path; counters are single-writer stores.

mod config;
mod decap;
mod encap;
mod ingress;

pub use config::{PipelineConfig, PipelineConfigError, PortConfig, Roles, MIN_MTU};

use crate::binding::BindingId;
use crate::counters::{DropReason, WorkerCounters};
use crate::nexthop::{IpFamily, PortNextHops};
use crate::packet::PacketBuf;
use crate::tables::WorkerTable;
use crate::wire::ethernet::{self, MacAddr};
use config::Egress;
use std::net::IpAddr;
use std::sync::Arc;

/// What to do with a packet after the pipeline has seen it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten and ready to send on this port index.
    Forward(usize),
    /// For the control thread, unchanged.
    Punt,
    /// To be freed; already counted under this reason.
    Drop(DropReason),
}

/// One worker's pipeline: configuration, its own tables and its own counters.
pub struct FastPath {
    ports: Vec<PortConfig>,
    egress: Egress,
    local: LocalAddresses,
    outer_hop_limit: u8,
    inner_source_check: bool,
    next_hops: Arc<PortNextHops>,
    tables: WorkerTable,
    counters: Arc<WorkerCounters>,
}

impl FastPath {
    /// A pipeline over `tables` (from [`crate::tables::UpdateSender::add_worker`]) counting into `counters`.
    pub fn new(
        config: &PipelineConfig,
        tables: WorkerTable,
        counters: Arc<WorkerCounters>,
    ) -> Result<Self, PipelineConfigError> {
        config.validate()?;
        config.seed_static_next_hops();
        Ok(FastPath {
            ports: config.ports.clone(),
            egress: config.egress()?,
            local: LocalAddresses::new(&config.lmaa, &config.proxy_coa, &config.host_addresses),
            outer_hop_limit: config.outer_hop_limit,
            inner_source_check: config.inner_source_check,
            next_hops: Arc::clone(&config.next_hops),
            tables,
            counters,
        })
    }

    pub fn counters(&self) -> &Arc<WorkerCounters> {
        &self.counters
    }

    /// The worker's table, for inspection.
    pub fn tables(&self) -> &WorkerTable {
        &self.tables
    }

    /// Applies up to `max` queued table updates; call between bursts.
    pub fn apply_updates(&mut self, max: usize) -> usize {
        self.tables.apply_pending(&self.counters, max)
    }

    /// Processes a burst received on `rx_port`, writing one verdict per packet (`verdicts` must be at least as
    /// long as `packets`; extra packets are left alone and get no verdict).
    #[inline]
    pub fn process_burst<P: PacketBuf>(&self, rx_port: usize, packets: &mut [P], verdicts: &mut [Verdict]) {
        let count = packets.len().min(verdicts.len());
        for i in 0..count {
            if let Some(next) = packets.get(i + 1) {
                next.prefetch();
            }
            if let (Some(packet), Some(verdict)) = (packets.get_mut(i), verdicts.get_mut(i)) {
                *verdict = self.process(rx_port, packet);
            }
        }
    }

    /// Processes one packet received on `rx_port`.
    #[inline]
    pub fn process<P: PacketBuf>(&self, rx_port: usize, packet: &mut P) -> Verdict {
        if let Some(port) = self.counters.port(rx_port) {
            port.rx_packets.add(1);
            port.rx_bytes.add(packet.data().len() as u64);
        }
        let roles = self.ports.get(rx_port).map_or(Roles::default(), |port| port.roles);
        let outcome = match self.plan(roles, packet) {
            Ok(Action::Punt) => {
                self.counters.path.punted.add(1);
                Ok(Verdict::Punt)
            }
            Ok(Action::Decapsulate(plan)) => self.decapsulate(&plan, packet),
            Ok(Action::Encapsulate(plan)) => self.encapsulate(&plan, packet),
            Err(reason) => Err(reason),
        };
        outcome.unwrap_or_else(|reason| {
            self.counters.count_drop(reason);
            Verdict::Drop(reason)
        })
    }

    fn port(&self, index: usize) -> Result<&PortConfig, DropReason> {
        self.ports.get(index).ok_or(DropReason::NoEgressPort)
    }

    /// The Ethernet destination out of `egress`: the binding's own next hop if it has one, else the port's for
    /// the family of the packet as sent (the outer header when encapsulating).
    #[inline]
    fn next_hop(&self, binding_mac: Option<MacAddr>, egress: usize, family: Family) -> Result<MacAddr, DropReason> {
        let family = match family {
            Family::Ipv4 => IpFamily::V4,
            Family::Ipv6 => IpFamily::V6,
        };
        binding_mac.or_else(|| self.next_hops.get(egress, family)).ok_or(DropReason::NextHopUnresolved)
    }

    /// Adds to the binding's counters for the direction of travel.
    fn count_binding(&self, id: BindingId, direction: Direction, bytes: usize) {
        if let Some(binding) = self.counters.binding(id) {
            let (packets, octets) = match direction {
                Direction::LmaUplink | Direction::MagUplink => (&binding.uplink_packets, &binding.uplink_bytes),
                Direction::LmaDownlink | Direction::MagDownlink => (&binding.downlink_packets, &binding.downlink_bytes),
            };
            packets.add(1);
            octets.add(bytes as u64);
        }
    }
}

/// Which way through which function a packet is going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// `core` → `sgi`, decapsulated.
    LmaUplink,
    /// `sgi` → `core`, encapsulated.
    LmaDownlink,
    /// `access` → `core`, encapsulated.
    MagUplink,
    /// `core` → `access`, decapsulated.
    MagDownlink,
}

/// Everything decided about a packet before it is touched.
enum Action<'t> {
    Punt,
    Decapsulate(decap::Plan),
    Encapsulate(encap::Plan<'t>),
}

/// The IP version of a packet inside (or about to go inside) the tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// Also the GRE protocol type (RFC 2784 §2.4: the payload's EtherType).
    fn ethertype(self) -> u16 {
        match self {
            Family::Ipv4 => ethernet::ETHERTYPE_IPV4,
            Family::Ipv6 => ethernet::ETHERTYPE_IPV6,
        }
    }
}

/// The header fields of a packet the gateway forwards, read during planning.
#[derive(Clone, Copy, Debug)]
struct Inner {
    family: Family,
    /// IP total length; bytes beyond it (link-layer padding) are cut.
    len: usize,
    ttl: u8,
    ecn: u8,
}

/// Which of our own address sets an address is in.
#[derive(Clone, Copy, Debug, Default)]
struct Local {
    lmaa: bool,
    proxy_coa: bool,
    /// One of the other addresses of the gateway's ports (e.g. the UEs' default gateway on `access`).
    host: bool,
}

impl Local {
    /// A tunnel end: GRE and signalling arrive here.
    fn tunnel(self) -> bool {
        self.lmaa || self.proxy_coa
    }

    fn any(self) -> bool {
        self.tunnel() || self.host
    }
}

/// The gateway's own tunnel addresses, as flat arrays for a short linear scan (there are a handful).
#[derive(Clone, Debug)]
struct LocalAddresses {
    lmaa_v4: Vec<u32>,
    lmaa_v6: Vec<[u8; 16]>,
    proxy_coa_v4: Vec<u32>,
    proxy_coa_v6: Vec<[u8; 16]>,
    host_v4: Vec<u32>,
    host_v6: Vec<[u8; 16]>,
}

impl LocalAddresses {
    fn new(lmaa: &[IpAddr], proxy_coa: &[IpAddr], host: &[IpAddr]) -> Self {
        let v4 = |list: &[IpAddr]| {
            list.iter()
                .filter_map(|a| match a {
                    IpAddr::V4(v4) => Some(u32::from(*v4)),
                    IpAddr::V6(_) => None,
                })
                .collect()
        };
        let v6 = |list: &[IpAddr]| {
            list.iter()
                .filter_map(|a| match a {
                    IpAddr::V6(v6) => Some(v6.octets()),
                    IpAddr::V4(_) => None,
                })
                .collect()
        };
        LocalAddresses {
            lmaa_v4: v4(lmaa),
            lmaa_v6: v6(lmaa),
            proxy_coa_v4: v4(proxy_coa),
            proxy_coa_v6: v6(proxy_coa),
            host_v4: v4(host),
            host_v6: v6(host),
        }
    }

    #[inline]
    fn ipv4(&self, address: u32) -> Local {
        Local {
            lmaa: self.lmaa_v4.contains(&address),
            proxy_coa: self.proxy_coa_v4.contains(&address),
            host: self.host_v4.contains(&address),
        }
    }

    #[inline]
    fn ipv6(&self, address: &[u8; 16]) -> Local {
        Local {
            lmaa: self.lmaa_v6.contains(address),
            proxy_coa: self.proxy_coa_v6.contains(address),
            host: self.host_v6.contains(address),
        }
    }
}

#[cfg(test)]
mod tests;
