//! What the fast path knows about one PDN connection's tunnel: plain data the control plane (or the config file)
//! hands to the tables.

use crate::wire::ethernet::MacAddr;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Which end of the tunnel this gateway is for a binding. One process may hold both (a one-box lab setup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    /// Binding cache entry: receives uplink by uplink key, sends downlink with the downlink key.
    Lma,
    /// Binding update list entry: sends uplink with the uplink key, receives downlink by (LMAA, downlink key).
    Mag,
}

/// Which way a packet crosses a binding: uplink from the UE towards the PDN, downlink back. The value indexes
/// the binding's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Way {
    Uplink = 0,
    Downlink = 1,
}

/// The tunnel's outer addresses: Proxy-CoA and LMAA over IPv6, or IPv4-Proxy-CoA and IPv4-LMAA over IPv4
/// (TS 29.275 §6.1). `local` is this gateway's address (the LMAA on an LMA, the Proxy-CoA on a MAG).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelEndpoints {
    Ipv6 { local: Ipv6Addr, remote: Ipv6Addr },
    Ipv4 { local: Ipv4Addr, remote: Ipv4Addr },
}

impl TunnelEndpoints {
    /// The LMA's address of this tunnel in IPv6 form (IPv4 mapped, RFC 4291 §2.5.5.2), as the MAG's downlink
    /// lookup keys it.
    pub fn lmaa(&self, function: Function) -> Ipv6Addr {
        let (local, remote) = match *self {
            TunnelEndpoints::Ipv6 { local, remote } => (local, remote),
            TunnelEndpoints::Ipv4 { local, remote } => (local.to_ipv6_mapped(), remote.to_ipv6_mapped()),
        };
        match function {
            Function::Lma => local,
            Function::Mag => remote,
        }
    }
}

/// One PDN connection as the data plane sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    pub function: Function,
    pub tunnel: TunnelEndpoints,
    /// Chosen by the LMA (TS 29.275 §6.3); the LMA receives with it, the MAG sends with it. A MAG may hold it
    /// before any PBA (§6.2: it can come from the MME), or not yet.
    pub uplink_key: Option<u32>,
    /// Chosen by the MAG, unique per LMAA (TS 29.275 §6.2); the MAG receives with it, the LMA sends with it.
    pub downlink_key: Option<u32>,
    /// The UE's IPv4 home address.
    pub ue_ipv4: Option<Ipv4Addr>,
    /// The UE's IPv6 home network prefix; always a /64 (RFC 5213 per-MN prefix), so the low 64 bits are zero.
    pub ue_ipv6_prefix: Option<Ipv6Addr>,
    /// Link-layer destinations of this binding's traffic, as resolved by the control thread.
    pub next_hop: BindingNextHops,
}

/// Ethernet destinations that depend on the binding rather than on the port. Where one is `None`, the port's
/// default next hop is used ([`crate::nexthop::PortNextHops`]); where that is unresolved too, the packet is dropped
/// under `next-hop-unresolved`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BindingNextHops {
    /// Encapsulated packets (out of `core`): the tunnel peer's MAC when it is on-link.
    pub core: Option<MacAddr>,
    /// MAG downlink (out of `access`): the UE's MAC.
    pub access: Option<MacAddr>,
}

/// Why a binding cannot be installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("the binding has neither a UE IPv4 address nor a UE IPv6 prefix")]
    NoUeAddress,
    #[error("an LMA binding needs both the uplink key (to receive) and the downlink key (to send)")]
    LmaNeedsBothKeys,
    #[error("a MAG binding needs an uplink or a downlink key")]
    MagNeedsAKey,
    #[error("the UE IPv6 prefix {0} has bits set beyond /64")]
    PrefixNotSlash64(Ipv6Addr),
}

impl Binding {
    /// Checks what the tables rely on.
    pub fn validate(&self) -> Result<(), BindingError> {
        if self.ue_ipv4.is_none() && self.ue_ipv6_prefix.is_none() {
            return Err(BindingError::NoUeAddress);
        }
        match self.function {
            Function::Lma if self.uplink_key.is_none() || self.downlink_key.is_none() => {
                return Err(BindingError::LmaNeedsBothKeys)
            }
            Function::Mag if self.uplink_key.is_none() && self.downlink_key.is_none() => {
                return Err(BindingError::MagNeedsAKey)
            }
            _ => {}
        }
        if let Some(prefix) = self.ue_ipv6_prefix {
            if u128::from(prefix) as u64 != 0 {
                return Err(BindingError::PrefixNotSlash64(prefix));
            }
        }
        Ok(())
    }

    /// The key of packets this gateway sends on this binding.
    pub fn tx_key(&self) -> Option<u32> {
        match self.function {
            Function::Lma => self.downlink_key,
            Function::Mag => self.uplink_key,
        }
    }

    /// The UE's /64 prefix as the upper 64 bits, the form the tables key it by.
    pub fn ue_prefix64(&self) -> Option<u64> {
        self.ue_ipv6_prefix.map(|prefix| (u128::from(prefix) >> 64) as u64)
    }

    /// The inner source check of LMA uplink: is `src` the UE's IPv4 home address?
    pub fn owns_ipv4(&self, src: Ipv4Addr) -> bool {
        self.ue_ipv4 == Some(src)
    }

    /// Is an IPv6 address with upper 64 bits `prefix64` inside the UE's home network prefix?
    pub fn owns_prefix64(&self, prefix64: u64) -> bool {
        self.ue_prefix64() == Some(prefix64)
    }
}

/// The slot a binding occupies in every worker's table; also the index of its per-binding counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingId(pub u32);

impl BindingId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn lma_binding() -> Binding {
        Binding {
            function: Function::Lma,
            tunnel: TunnelEndpoints::Ipv6 {
                local: "2001:db8:2::1".parse().unwrap(),
                remote: "2001:db8:1::1".parse().unwrap(),
            },
            uplink_key: Some(0x0a0b0c0d),
            downlink_key: Some(0x00010001),
            ue_ipv4: Some(Ipv4Addr::new(10, 45, 0, 2)),
            ue_ipv6_prefix: Some("2001:db8:aaaa:1::".parse().unwrap()),
            next_hop: BindingNextHops::default(),
        }
    }

    #[test]
    fn validation_names_what_is_missing() {
        assert_eq!(lma_binding().validate(), Ok(()));
        let no_ue = Binding { ue_ipv4: None, ue_ipv6_prefix: None, ..lma_binding() };
        assert_eq!(no_ue.validate(), Err(BindingError::NoUeAddress));
        let no_dl = Binding { downlink_key: None, ..lma_binding() };
        assert_eq!(no_dl.validate(), Err(BindingError::LmaNeedsBothKeys));
        let mag_uplink_only = Binding { function: Function::Mag, downlink_key: None, ..lma_binding() };
        assert_eq!(mag_uplink_only.validate(), Ok(()), "TS 29.275 §6.2: uplink key before the PBU");
        let mag_keyless = Binding { uplink_key: None, ..mag_uplink_only };
        assert_eq!(mag_keyless.validate(), Err(BindingError::MagNeedsAKey));
        let host_bits = Binding { ue_ipv6_prefix: Some("2001:db8:aaaa:1::1".parse().unwrap()), ..lma_binding() };
        assert!(matches!(host_bits.validate(), Err(BindingError::PrefixNotSlash64(_))));
    }

    #[test]
    fn keys_and_lmaa_follow_the_function() {
        let lma = lma_binding();
        assert_eq!(lma.tx_key(), Some(0x00010001));
        assert_eq!(lma.tunnel.lmaa(Function::Lma), "2001:db8:2::1".parse::<Ipv6Addr>().unwrap());
        let mag = Binding {
            function: Function::Mag,
            tunnel: TunnelEndpoints::Ipv4 {
                local: Ipv4Addr::new(192, 0, 2, 1),
                remote: Ipv4Addr::new(198, 51, 100, 1),
            },
            ..lma
        };
        assert_eq!(mag.tx_key(), Some(0x0a0b0c0d));
        assert_eq!(mag.tunnel.lmaa(Function::Mag), Ipv4Addr::new(198, 51, 100, 1).to_ipv6_mapped());
        assert!(lma.owns_prefix64(0x2001_0db8_aaaa_0001));
        assert!(!lma.owns_prefix64(0x2001_0db8_aaaa_0002));
        assert!(lma.owns_ipv4(Ipv4Addr::new(10, 45, 0, 2)));
    }
}
