//! Proxy Binding Update (MH type 5, RFC 6275 §6.1.7 + RFC 5213 §8.1) and Proxy Binding Acknowledgement
//! (MH type 6, RFC 6275 §6.1.8 + RFC 5213 §8.2).

use super::error::Result;
use super::mh::{emit_parts, mh_type, parse_parts, MhPacket};
use super::options::MhOptions;
use std::ops::BitOr;
use std::time::Duration;

const FIXED_LEN: usize = 12;

/// Seconds per unit of the Lifetime field (RFC 6275 §6.1.7).
pub const LIFETIME_UNIT_SECS: u64 = 4;

/// Converts a duration to Lifetime units, rounding down (a granted lifetime may be shorter than asked, never
/// longer, RFC 5213 §5.3.6) and saturating at 65535 units (262 140 s).
pub fn lifetime_to_units(d: Duration) -> u16 {
    (d.as_secs() / LIFETIME_UNIT_SECS).min(u64::from(u16::MAX)) as u16
}

/// Converts Lifetime units to a duration.
pub fn lifetime_from_units(units: u16) -> Duration {
    Duration::from_secs(u64::from(units) * LIFETIME_UNIT_SECS)
}

/// Binding Update flags word (MH offset 8). Raw bits are kept, reserved ones included, so a message round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BuFlags(pub u16);

impl BuFlags {
    /// A: acknowledgement requested (must be 1 in a PBU, RFC 5213 §6.9.1.5).
    pub const A: BuFlags = BuFlags(0x8000);
    /// H: home registration. Sent as 1, accepted either way: RFC 5213 §6.9.1.5 requires only A and P; H = 1 is
    /// inferred from RFC 5213 §5.3.1 and RFC 6275 §9.5.1.
    pub const H: BuFlags = BuFlags(0x4000);
    /// L: link-local address compatibility (RFC 6275), 0 in PMIPv6.
    pub const L: BuFlags = BuFlags(0x2000);
    /// K: key management mobility capability (RFC 6275), 0 in PMIPv6.
    pub const K: BuFlags = BuFlags(0x1000);
    /// M: MAP registration (RFC 5380), 0 in PMIPv6.
    pub const M: BuFlags = BuFlags(0x0800);
    /// R: mobile router (RFC 3963), 0 in PMIPv6.
    pub const R: BuFlags = BuFlags(0x0400);
    /// P: proxy registration (RFC 5213 §8.1).
    pub const P: BuFlags = BuFlags(0x0200);
    /// F: force UDP encapsulation (RFC 5555, used by RFC 5844).
    pub const F: BuFlags = BuFlags(0x0100);
    /// T: TLV-header format for IPv4-UDP GRE (RFC 5845 §6.3).
    pub const T: BuFlags = BuFlags(0x0080);
    /// B: bulk binding update (RFC 6602).
    pub const B: BuFlags = BuFlags(0x0040);
    /// The usual PBU flags A|H|P (0xC200).
    pub const PBU: BuFlags = BuFlags(0xC200);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: BuFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for BuFlags {
    type Output = BuFlags;
    fn bitor(self, rhs: BuFlags) -> BuFlags {
        BuFlags(self.0 | rhs.0)
    }
}

/// Binding Acknowledgement flags octet (MH offset 7). Raw bits kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BaFlags(pub u8);

impl BaFlags {
    /// K: key management mobility capability, 0 in PMIPv6.
    pub const K: BaFlags = BaFlags(0x80);
    /// R: mobile router (RFC 3963), 0 in PMIPv6.
    pub const R: BaFlags = BaFlags(0x40);
    /// P: set iff the acknowledged BU had P set (RFC 5213 §8.2).
    pub const P: BaFlags = BaFlags(0x20);
    /// T: UDP-TLV accepted (RFC 5845 §6.3).
    pub const T: BaFlags = BaFlags(0x10);
    /// B: bulk binding update (RFC 6602).
    pub const B: BaFlags = BaFlags(0x08);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: BaFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for BaFlags {
    type Output = BaFlags;
    fn bitor(self, rhs: BaFlags) -> BaFlags {
        BaFlags(self.0 | rhs.0)
    }
}

/// Binding Acknowledgement status (RFC 6275 §6.1.8, RFC 5213 §8.9, RFC 5844, RFC 5845, IANA registry).
/// Values < 128 mean accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BaStatus(pub u8);

impl BaStatus {
    /// 0: accepted.
    pub const ACCEPTED: Self = Self(0);
    /// 2: GRE key option not required.
    pub const GRE_KEY_OPTION_NOT_REQUIRED: Self = Self(2);
    /// 3: GRE tunneling but TLV header not supported.
    pub const GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED: Self = Self(3);
    /// 128: reason unspecified.
    pub const REASON_UNSPECIFIED: Self = Self(128);
    /// 129: administratively prohibited.
    pub const ADMINISTRATIVELY_PROHIBITED: Self = Self(129);
    /// 130: insufficient resources.
    pub const INSUFFICIENT_RESOURCES: Self = Self(130);
    /// 135: sequence out of window.
    pub const SEQUENCE_OUT_OF_WINDOW: Self = Self(135);
    /// 151: service authorization failed.
    pub const SERVICE_AUTHORIZATION_FAILED: Self = Self(151);
    /// 152: proxy reg not enabled.
    pub const PROXY_REG_NOT_ENABLED: Self = Self(152);
    /// 153: not LMA for this mobile node.
    pub const NOT_LMA_FOR_THIS_MOBILE_NODE: Self = Self(153);
    /// 154: MAG not authorized for proxy reg.
    pub const MAG_NOT_AUTHORIZED_FOR_PROXY_REG: Self = Self(154);
    /// 155: not authorized for home network prefix.
    pub const NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX: Self = Self(155);
    /// 156: timestamp mismatch.
    pub const TIMESTAMP_MISMATCH: Self = Self(156);
    /// 157: timestamp lower than prev accepted.
    pub const TIMESTAMP_LOWER_THAN_PREV_ACCEPTED: Self = Self(157);
    /// 158: missing home network prefix option.
    pub const MISSING_HOME_NETWORK_PREFIX_OPTION: Self = Self(158);
    /// 159: BCE PBU prefix set do not match.
    pub const BCE_PBU_PREFIX_SET_DO_NOT_MATCH: Self = Self(159);
    /// 160: missing MN identifier option.
    pub const MISSING_MN_IDENTIFIER_OPTION: Self = Self(160);
    /// 161: missing handoff indicator option.
    pub const MISSING_HANDOFF_INDICATOR_OPTION: Self = Self(161);
    /// 162: missing access tech type option.
    pub const MISSING_ACCESS_TECH_TYPE_OPTION: Self = Self(162);
    /// 163: GRE key option required.
    pub const GRE_KEY_OPTION_REQUIRED: Self = Self(163);
    /// 170: not authorized for IPv4 mobility service.
    pub const NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE: Self = Self(170);
    /// 171: not authorized for IPv4 home address.
    pub const NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS: Self = Self(171);
    /// 172: not authorized for IPv6 mobility service.
    pub const NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE: Self = Self(172);
    /// 173: multiple IPv4 home address assignment not supported.
    pub const MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED: Self = Self(173);

    /// Status < 128: the binding was accepted (RFC 6275 §6.1.8).
    pub fn is_accepted(self) -> bool {
        self.0 < 128
    }
}

/// A (Proxy) Binding Update. `P` in `flags` distinguishes a PBU from a host's MIPv6 BU; the procedures check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbuRepr {
    /// Sequence number (RFC 5213 §5.5 / §6.9.1.5).
    pub seq: u16,
    /// A, H, P, … (see [`BuFlags`]; usually [`BuFlags::PBU`]).
    pub flags: BuFlags,
    /// Requested lifetime in 4-second units; 0 = de-registration. See [`PbuRepr::lifetime`].
    pub lifetime_units: u16,
    /// Mobility options (MN-ID, HNPs, HI, ATT, Timestamp, GRE Key, …).
    pub options: MhOptions,
}

impl PbuRepr {
    /// Requested lifetime as a duration.
    pub fn lifetime(&self) -> Duration {
        lifetime_from_units(self.lifetime_units)
    }

    /// Lifetime 0 (RFC 5213 §6.9.1.5): a de-registration.
    pub fn is_deregistration(&self) -> bool {
        self.lifetime_units == 0
    }

    /// Parses a Binding Update (MH type 5 expected; the caller dispatches through [`super::MhRepr`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &MhPacket<T>) -> Result<Self> {
        let (f, options) = parse_parts(packet, FIXED_LEN)?;
        let [s0, s1, f0, f1, l0, l1] = fixed6(f);
        Ok(PbuRepr {
            seq: u16::from_be_bytes([s0, s1]),
            flags: BuFlags(u16::from_be_bytes([f0, f1])),
            lifetime_units: u16::from_be_bytes([l0, l1]),
            options,
        })
    }

    /// Octets `emit` writes.
    pub fn buffer_len(&self) -> usize {
        self.options.end_offset(FIXED_LEN)
    }

    /// Writes the message (checksum 0); returns the octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_parts(buf, mh_type::BINDING_UPDATE, FIXED_LEN, &self.options, |f| {
            f[0..2].copy_from_slice(&self.seq.to_be_bytes());
            f[2..4].copy_from_slice(&self.flags.0.to_be_bytes());
            f[4..6].copy_from_slice(&self.lifetime_units.to_be_bytes());
        })
    }
}

/// A (Proxy) Binding Acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbaRepr {
    /// Accepted (< 128) or the reason for rejection.
    pub status: BaStatus,
    /// P (set when answering a PBU), T, …
    pub flags: BaFlags,
    /// Copied from the PBU (RFC 5213 §5.3.6).
    pub seq: u16,
    /// Granted lifetime in 4-second units (send 0 when rejecting). See [`PbaRepr::lifetime`].
    pub lifetime_units: u16,
    /// Mobility options (echoed MN-ID/HI/ATT, assigned HNPs, uplink GRE Key, …).
    pub options: MhOptions,
}

impl PbaRepr {
    /// Granted lifetime as a duration.
    pub fn lifetime(&self) -> Duration {
        lifetime_from_units(self.lifetime_units)
    }

    /// Parses a Binding Acknowledgement.
    pub fn parse<T: AsRef<[u8]>>(packet: &MhPacket<T>) -> Result<Self> {
        let (f, options) = parse_parts(packet, FIXED_LEN)?;
        let [status, flags, s0, s1, l0, l1] = fixed6(f);
        Ok(PbaRepr {
            status: BaStatus(status),
            flags: BaFlags(flags),
            seq: u16::from_be_bytes([s0, s1]),
            lifetime_units: u16::from_be_bytes([l0, l1]),
            options,
        })
    }

    /// Octets `emit` writes.
    pub fn buffer_len(&self) -> usize {
        self.options.end_offset(FIXED_LEN)
    }

    /// Writes the message (checksum 0); returns the octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_parts(buf, mh_type::BINDING_ACK, FIXED_LEN, &self.options, |f| {
            f[0] = self.status.0;
            f[1] = self.flags.0;
            f[2..4].copy_from_slice(&self.seq.to_be_bytes());
            f[4..6].copy_from_slice(&self.lifetime_units.to_be_bytes());
        })
    }
}

/// The six fixed octets after the common header (`parse_parts` guarantees there are exactly six).
pub(crate) fn fixed6(f: &[u8]) -> [u8; 6] {
    <[u8; 6]>::try_from(f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_units() {
        assert_eq!(lifetime_from_units(900), Duration::from_secs(3600));
        assert_eq!(lifetime_to_units(Duration::from_secs(3600)), 900);
        assert_eq!(lifetime_to_units(Duration::from_secs(7)), 1);
        assert_eq!(lifetime_to_units(Duration::from_secs(10_000_000)), u16::MAX);
    }

    #[test]
    fn flags() {
        assert_eq!(BuFlags::A | BuFlags::H | BuFlags::P, BuFlags::PBU);
        assert!(BuFlags(0xC200).contains(BuFlags::P));
        assert!(!BuFlags(0xC000).contains(BuFlags::P));
        assert!(BaStatus(0).is_accepted() && BaStatus(127).is_accepted() && !BaStatus(128).is_accepted());
    }
}
