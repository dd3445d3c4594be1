//! Small value types carried by mobility options (RFC 5213 §8, RFC 5844 §3.3, RFC 5845 §3.1, RFC 5555 §3.1).
//! They are plain `Copy` data except the MN identifier, shared by the borrowed and the owned option forms.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv6 prefix as carried in the Home Network Prefix option (type 22). `len` is at most 128 (checked on parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    /// Prefix bits (bits beyond `len` are carried as sent).
    pub addr: Ipv6Addr,
    /// Prefix length in bits.
    pub len: u8,
}

impl Ipv6Prefix {
    /// `::/0`, the "LMA, please allocate" HNP of an initial PBU (RFC 5213 §6.9.1.1).
    pub const UNSPECIFIED: Ipv6Prefix = Ipv6Prefix { addr: Ipv6Addr::UNSPECIFIED, len: 0 };

    /// True for `::/0` (the allocation request, RFC 5213 ALL_ZERO).
    pub fn is_unspecified(&self) -> bool {
        self.len == 0 && self.addr.is_unspecified()
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Handoff Indicator (option 23, RFC 5213 §8.4 values + RFC 7864).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandoffIndicator(pub u8);

impl HandoffIndicator {
    /// 0: reserved.
    pub const RESERVED: Self = Self(0);
    /// Attachment over a new interface (initial attach).
    pub const NEW_INTERFACE: Self = Self(1);
    /// Handoff between two different interfaces of the mobile node.
    pub const DIFFERENT_INTERFACES: Self = Self(2);
    /// Handoff between mobile access gateways for the same interface.
    pub const SAME_INTERFACE: Self = Self(3);
    /// Handoff state unknown (also used in de-registration).
    pub const UNKNOWN: Self = Self(4);
    /// Handoff state not changed (re-registration).
    pub const NOT_CHANGED: Self = Self(5);
    /// RFC 7864: attachment over a new interface sharing prefixes.
    pub const NEW_INTERFACE_SHARED_PREFIXES: Self = Self(6);
}

/// Access Technology Type (option 24, RFC 5213 §8.5; 6–13 registered by 3GPP/3GPP2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessTechType(pub u8);

impl AccessTechType {
    /// 0: reserved.
    pub const RESERVED: Self = Self(0);
    /// 1: virtual.
    pub const VIRTUAL: Self = Self(1);
    /// 2: PPP.
    pub const PPP: Self = Self(2);
    /// 3: IEEE 802.3.
    pub const IEEE_802_3: Self = Self(3);
    /// 4: IEEE 802.11.
    pub const IEEE_802_11: Self = Self(4);
    /// 5: IEEE 802.16e.
    pub const IEEE_802_16E: Self = Self(5);
    /// 6: GERAN.
    pub const GERAN: Self = Self(6);
    /// 7: UTRAN.
    pub const UTRAN: Self = Self(7);
    /// 8: E-UTRAN.
    pub const EUTRAN: Self = Self(8);
    /// 9: eHRPD.
    pub const EHRPD: Self = Self(9);
    /// 10: HRPD.
    pub const HRPD: Self = Self(10);
    /// 11: 1xRTT.
    pub const ONE_X_RTT: Self = Self(11);
    /// 12: UMB.
    pub const UMB: Self = Self(12);
    /// 13: NB-IoT.
    pub const NB_IOT: Self = Self(13);
}

/// GRE Key option (type 33, RFC 5845 §3.1). Length 2 means "GRE encapsulation, no key" (`NoKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GreKeyOpt {
    /// Length-2 form: GRE wanted but no key field.
    NoKey,
    /// Length-6 form: the downlink key (PBU) or uplink key (PBA).
    Key(u32),
}

impl GreKeyOpt {
    /// The key, if the option carries one.
    pub fn key(self) -> Option<u32> {
        match self {
            GreKeyOpt::NoKey => None,
            GreKeyOpt::Key(k) => Some(k),
        }
    }
}

/// IPv4 Home Address Request (type 36, RFC 5844 §3.3.1). `0.0.0.0` asks the LMA to allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4HoaRequest {
    /// 6-bit prefix length, at most 32 (checked on parse).
    pub prefix_len: u8,
    /// Requested address; `0.0.0.0` asks the LMA to allocate one.
    pub addr: Ipv4Addr,
}

/// IPv4 Home Address Reply (type 37, RFC 5844 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4HoaReply {
    /// 0–127 success, ≥128 failure (see `Ipv4HoaReply::STATUS_*`).
    pub status: u8,
    /// 6-bit prefix length, at most 32 (checked on parse).
    pub prefix_len: u8,
    /// Assigned address (or the requested one echoed on failure).
    pub addr: Ipv4Addr,
}

impl Ipv4HoaReply {
    /// 0: success.
    pub const STATUS_SUCCESS: u8 = 0;
    /// 128: failure unspecified.
    pub const STATUS_FAILURE_UNSPECIFIED: u8 = 128;
    /// 129: administratively prohibited.
    pub const STATUS_ADMINISTRATIVELY_PROHIBITED: u8 = 129;
    /// 130: incorrect IPv4 HoA.
    pub const STATUS_INCORRECT_IPV4_HOA: u8 = 130;
    /// 131: invalid IPv4 address.
    pub const STATUS_INVALID_IPV4_ADDRESS: u8 = 131;
    /// 132: dynamic assignment not available.
    pub const STATUS_DYNAMIC_ASSIGNMENT_NOT_AVAILABLE: u8 = 132;
}

/// IPv4 DHCP Support Mode (type 39, RFC 5844 §3.3.4): S=1 → the MAG acts as DHCP server, S=0 → relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DhcpSupportMode {
    /// The S flag.
    pub server: bool,
}

/// NAT Detection (type 31, RFC 5555 §3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatDetection {
    /// F flag: the LMA/HA forces UDP encapsulation.
    pub force_udp: bool,
    /// Keepalive refresh time in seconds (0 = ignore, all-ones = no keepalives needed).
    pub refresh_time: u32,
}

/// Mobile Node Identifier (type 8, RFC 4283). PMIPv6 uses subtype 1 (NAI, RFC 4282 UTF-8); other subtypes are
/// kept as raw octets so they round-trip.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MnId {
    /// Subtype 1. May be empty: RFC 5213 §5.3.1 answers a PBU without MN-ID with a zero-length identifier.
    Nai(String),
    /// Any other subtype, identifier octets as received.
    Other {
        /// RFC 4283 subtype (not 1).
        subtype: u8,
        /// Identifier octets after the subtype.
        id: Vec<u8>,
    },
}

impl MnId {
    /// RFC 4283 subtype of the NAI form.
    pub const SUBTYPE_NAI: u8 = 1;

    /// The subtype octet.
    pub fn subtype(&self) -> u8 {
        match self {
            MnId::Nai(_) => Self::SUBTYPE_NAI,
            MnId::Other { subtype, .. } => *subtype,
        }
    }

    /// The identifier octets (without the subtype).
    pub fn id_bytes(&self) -> &[u8] {
        match self {
            MnId::Nai(s) => s.as_bytes(),
            MnId::Other { id, .. } => id,
        }
    }
}

/// An option we do not interpret, kept verbatim (type and data) so the message round-trips.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawOpt {
    /// The option's Type octet.
    pub opt_type: u8,
    /// The option data (Length octets after Type and Length).
    pub data: Vec<u8>,
}
