//! Where frames leaving a port go when the binding does not say: each port's default next-hop MAC per IP family,
//! written by the control thread as neighbour resolution succeeds or fails, read by every worker per packet.
//!
//! One relaxed atomic load per packet: a worker may use the previous MAC for a few packets after a change, which
//! is what a router's neighbour cache does too. A configured `next_hop_mac` is written once at start and never
//! changed (static entries win, issue 6).

use crate::counters::MAX_PORTS;
use crate::wire::ethernet::MacAddr;
use crate::PortIndex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// An IP version: of a packet inside (or going inside) a tunnel, of an outer header, of a next hop (resolved by
/// ARP for IPv4, NDP for IPv6). The value indexes per-family arrays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum IpFamily {
    #[default]
    V4 = 0,
    V6 = 1,
}

impl IpFamily {
    /// Also the GRE protocol type (RFC 2784 §2.4: the payload's EtherType).
    pub fn ethertype(self) -> u16 {
        match self {
            IpFamily::V4 => crate::wire::ethernet::ETHERTYPE_IPV4,
            IpFamily::V6 => crate::wire::ethernet::ETHERTYPE_IPV6,
        }
    }

    pub fn of(address: &std::net::IpAddr) -> IpFamily {
        match address {
            std::net::IpAddr::V4(_) => IpFamily::V4,
            std::net::IpAddr::V6(_) => IpFamily::V6,
        }
    }
}

/// Marks a stored MAC as present, so that 00:00:00:00:00:00 is still representable.
const PRESENT: u64 = 1 << 48;

/// Per port and family, the resolved default next hop (`None` while unresolved).
#[derive(Debug, Default)]
pub struct PortNextHops {
    macs: [[AtomicU64; 2]; MAX_PORTS],
}

impl PortNextHops {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or with `None` withdraws) the next hop of `port` for `family`; ports beyond [`MAX_PORTS`] are ignored.
    pub fn set(&self, port: PortIndex, family: IpFamily, mac: Option<MacAddr>) {
        if let Some(slot) = self.macs.get(port.get()) {
            slot[family as usize].store(pack_mac(mac), Relaxed);
        }
    }

    /// The next hop of `port` for `family`, if resolved.
    #[inline]
    pub fn get(&self, port: PortIndex, family: IpFamily) -> Option<MacAddr> {
        unpack_mac(self.macs.get(port.get())?[family as usize].load(Relaxed))
    }
}

/// An optional MAC in one `u64`, for an atomic: the six bytes and a presence bit.
#[inline]
pub(crate) fn pack_mac(mac: Option<MacAddr>) -> u64 {
    let Some(mac) = mac else { return 0 };
    let mut bytes = [0u8; 8];
    bytes[2..].copy_from_slice(&mac.0);
    u64::from_be_bytes(bytes) | PRESENT
}

/// The inverse of [`pack_mac`].
#[inline]
pub(crate) fn unpack_mac(value: u64) -> Option<MacAddr> {
    let bytes = value.to_be_bytes();
    (value & PRESENT != 0).then(|| MacAddr([bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_withdraw_per_port_and_family() {
        let hops = PortNextHops::new();
        assert_eq!(hops.get(PortIndex(0), IpFamily::V4), None);
        let zero = MacAddr([0; 6]);
        let mac = MacAddr([0x02, 0xff, 0, 0, 0xab, 0xcd]);
        hops.set(PortIndex(0), IpFamily::V4, Some(zero));
        hops.set(PortIndex(1), IpFamily::V6, Some(mac));
        assert_eq!(hops.get(PortIndex(0), IpFamily::V4), Some(zero), "the all-zero MAC is a value, not 'unresolved'");
        assert_eq!(hops.get(PortIndex(0), IpFamily::V6), None);
        assert_eq!(hops.get(PortIndex(1), IpFamily::V6), Some(mac));
        hops.set(PortIndex(1), IpFamily::V6, None);
        assert_eq!(hops.get(PortIndex(1), IpFamily::V6), None);
        hops.set(PortIndex(MAX_PORTS), IpFamily::V4, Some(mac));
        assert_eq!(hops.get(PortIndex(MAX_PORTS), IpFamily::V4), None, "out of range: ignored, not a panic");
    }
}
