//! What the pipeline needs to know about ports and the gateway's own addresses: plain data, mapped from the
//! config file by the `pmipgw` package.

use super::icmp::Clock;
use crate::counters::MAX_PORTS;
use crate::nexthop::{IpFamily, PortNextHops};
use crate::wire::ethernet::MacAddr;
use crate::PortIndex;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// What a port faces. One port may have several roles (a one-armed deployment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// Towards peer MAGs/LMAs: GRE and signalling.
    pub core: bool,
    /// MAG: towards the UEs.
    pub access: bool,
    /// LMA: towards the PDN.
    pub sgi: bool,
}

/// One port as the pipeline uses it; its index in [`PipelineConfig::ports`] is the port index of verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortConfig {
    pub roles: Roles,
    /// Source MAC of frames sent here (the port's own address).
    pub mac: MacAddr,
    /// A configured next hop for every frame sent here that the binding does not direct elsewhere; it wins over
    /// anything resolved. Without it the port's next hops come from neighbour resolution ([`PortNextHops`]).
    pub next_hop_mac: Option<MacAddr>,
    /// Largest IP packet sent here (the L3 MTU).
    pub mtu: u16,
    /// The NIC fills outer IPv4 header checksums.
    pub tx_ipv4_checksum_offload: bool,
    /// Source of the ICMP errors sent back out of this port about packets that arrived on it, per family; without
    /// one, such packets are only dropped and counted.
    pub icmp_source_v4: Option<Ipv4Addr>,
    pub icmp_source_v6: Option<Ipv6Addr>,
    /// `core`: the DSCP of the outer headers written here.
    pub outer_dscp: OuterDscp,
}

/// The DSCP of an outer header (RFC 2983 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OuterDscp {
    /// The uniform model: the inner packet's DSCP, so a transport network that queues by DSCP treats the tunnel
    /// as it would treat the packet without it.
    #[default]
    Copy,
    /// The pipe model: this value (0–63) on every outer header, whatever the inner one says.
    Fixed(u8),
}

/// ICMP errors per second and worker unless configured: enough for path MTU discovery of a thousand new flows a
/// second per worker, little enough that the errors never crowd out traffic.
pub const DEFAULT_ICMP_ERRORS_PER_SECOND: u32 = 1000;

/// The smallest MTU accepted: every IPv4 host must take 576-byte datagrams (RFC 791).
pub const MIN_MTU: u16 = 576;

/// Everything a worker's pipeline is configured with.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub ports: Vec<PortConfig>,
    /// This gateway's LMA addresses (LMAA, IPv4-LMAA): uplink GRE arrives here, downlink GRE leaves from here.
    pub lmaa: Vec<IpAddr>,
    /// This gateway's MAG addresses (Proxy-CoA, IPv4-Proxy-CoA).
    pub proxy_coa: Vec<IpAddr>,
    /// TTL / hop limit of outer headers.
    pub outer_hop_limit: u8,
    /// LMA uplink: drop packets whose inner source is not the binding's UE address or inside its prefix.
    pub inner_source_check: bool,
    /// The gateway's other own addresses (on `access` and `sgi` ports): neighbour discovery and echo requests for
    /// them go to the control thread, anything else addressed to them is dropped.
    pub host_addresses: Vec<IpAddr>,
    /// Each port's default next hop per family, shared with the control thread that resolves them.
    pub next_hops: Arc<PortNextHops>,
    /// ICMP errors (Time Exceeded, Fragmentation Needed, Packet Too Big) each worker may send per second, in
    /// bursts of up to a tenth of that; 0 sends none.
    pub icmp_errors_per_second: u32,
    /// The time the ICMP error budget is measured with.
    pub clock: Clock,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            ports: Vec::new(),
            lmaa: Vec::new(),
            proxy_coa: Vec::new(),
            outer_hop_limit: 64,
            inner_source_check: true,
            host_addresses: Vec::new(),
            next_hops: Arc::new(PortNextHops::new()),
            icmp_errors_per_second: DEFAULT_ICMP_ERRORS_PER_SECOND,
            clock: Clock::monotonic(),
        }
    }
}

/// A pipeline configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PipelineConfigError {
    #[error("{0} ports configured; at most {MAX_PORTS} are supported")]
    TooManyPorts(usize),
    #[error("port {port}: MTU {mtu} is below the minimum of {MIN_MTU}")]
    MtuTooSmall { port: PortIndex, mtu: u16 },
    #[error("the {role} role is on ports {first} and {second}; each role may be on one port only")]
    RoleOnTwoPorts { role: &'static str, first: PortIndex, second: PortIndex },
    #[error("outer hop limit must be at least 1")]
    ZeroHopLimit,
}

impl PipelineConfig {
    pub fn validate(&self) -> Result<(), PipelineConfigError> {
        if self.ports.len() > MAX_PORTS {
            return Err(PipelineConfigError::TooManyPorts(self.ports.len()));
        }
        if self.outer_hop_limit == 0 {
            return Err(PipelineConfigError::ZeroHopLimit);
        }
        for (port, config) in PortIndex::all(self.ports.len()).zip(&self.ports) {
            if config.mtu < MIN_MTU {
                return Err(PipelineConfigError::MtuTooSmall { port, mtu: config.mtu });
            }
        }
        self.egress().map(drop)
    }

    /// Writes the ports' configured next hops into [`Self::next_hops`] (both families).
    pub(crate) fn seed_static_next_hops(&self) {
        for (index, port) in PortIndex::all(self.ports.len()).zip(&self.ports) {
            if let Some(mac) = port.next_hop_mac {
                self.next_hops.set(index, IpFamily::V4, Some(mac));
                self.next_hops.set(index, IpFamily::V6, Some(mac));
            }
        }
    }

    /// The one port of each role, which traffic of that direction leaves through.
    pub(crate) fn egress(&self) -> Result<Egress, PipelineConfigError> {
        Egress::of(self.ports.iter().map(|p| p.roles))
    }
}

/// Checks that each role is on one port at most, given each port's roles in port order: the one home of that
/// rule, which the gateway's configuration check uses too. The error names the role and both ports.
pub fn check_roles(ports: impl IntoIterator<Item = Roles>) -> Result<(), PipelineConfigError> {
    Egress::of(ports).map(drop)
}

/// The port index each direction leaves through, if that role is configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Egress {
    pub core: Option<PortIndex>,
    pub access: Option<PortIndex>,
    pub sgi: Option<PortIndex>,
}

impl Egress {
    /// From each port's roles in port order; the first role found on a second port is refused.
    fn of(ports: impl IntoIterator<Item = Roles>) -> Result<Egress, PipelineConfigError> {
        let mut egress = Egress::default();
        for (port, roles) in (0..).map(PortIndex).zip(ports) {
            let each = [
                ("core", roles.core, &mut egress.core),
                ("access", roles.access, &mut egress.access),
                ("sgi", roles.sgi, &mut egress.sgi),
            ];
            for (role, has, at) in each {
                match *at {
                    _ if !has => {}
                    Some(first) => return Err(PipelineConfigError::RoleOnTwoPorts { role, first, second: port }),
                    None => *at = Some(port),
                }
            }
        }
        Ok(egress)
    }
}
