//! One mobility option (RFC 6275 §6.2 TLV): the borrowed, zero-allocation form, its parser, its writer, and an
//! iterator over the options area of a message.
//!
//! Parsing accepts options at any offset (alignment is a sender rule, RFC 6275 §6.2.1); emission places each
//! option at its `xn+y` offset (see [`MobilityOption::alignment`]).

use super::apn;
use super::error::{Result, WireError};
use super::field;
use super::timestamp::Timestamp;
use super::values::*;
use super::vendor::VendorOpt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Pad1 (RFC 6275 §6.2.2): a single zero octet, no Length.
pub const OPT_PAD1: u8 = 0;
/// PadN (RFC 6275 §6.2.3).
pub const OPT_PADN: u8 = 1;
/// Alternate Care-of Address (RFC 6275 §6.2.5).
pub const OPT_ALT_COA: u8 = 3;
/// Mobile Node Identifier (RFC 4283).
pub const OPT_MN_ID: u8 = 8;
/// Vendor-Specific Mobility Option (RFC 5094).
pub const OPT_VENDOR: u8 = 19;
/// Service Selection (RFC 5149).
pub const OPT_SERVICE_SELECTION: u8 = 20;
/// Home Network Prefix (RFC 5213 §8.3).
pub const OPT_HNP: u8 = 22;
/// Handoff Indicator (RFC 5213 §8.4).
pub const OPT_HI: u8 = 23;
/// Access Technology Type (RFC 5213 §8.5).
pub const OPT_ATT: u8 = 24;
/// Mobile Node Link-layer Identifier (RFC 5213 §8.6).
pub const OPT_MN_LL_ID: u8 = 25;
/// Link-local Address (RFC 5213 §8.7).
pub const OPT_LINK_LOCAL: u8 = 26;
/// Timestamp (RFC 5213 §8.8).
pub const OPT_TIMESTAMP: u8 = 27;
/// Restart Counter (RFC 5847 §5.2).
pub const OPT_RESTART_COUNTER: u8 = 28;
/// NAT Detection (RFC 5555 §3.1.2).
pub const OPT_NAT_DETECTION: u8 = 31;
/// GRE Key (RFC 5845 §3.1).
pub const OPT_GRE_KEY: u8 = 33;
/// IPv4 Home Address Request (RFC 5844 §3.3.1).
pub const OPT_IPV4_HOA_REQ: u8 = 36;
/// IPv4 Home Address Reply (RFC 5844 §3.3.2).
pub const OPT_IPV4_HOA_REPLY: u8 = 37;
/// IPv4 Default-Router Address (RFC 5844 §3.3.3).
pub const OPT_IPV4_DEFAULT_ROUTER: u8 = 38;
/// IPv4 DHCP Support Mode (RFC 5844 §3.3.4).
pub const OPT_IPV4_DHCP_MODE: u8 = 39;

/// One option, borrowing variable-length data from the packet. Fixed-size values are decoded in place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // variants named after the option they hold; see the OPT_* constants for references
pub enum MobilityOption<'a> {
    /// One octet of padding.
    Pad1,
    /// PadN with `n` data octets (total size n + 2); the data is ignored on receive and zero on send.
    PadN(u8),
    /// `id` excludes the subtype octet. For subtype 1 the octets are checked to be UTF-8 (RFC 4282 NAI).
    MnId {
        subtype: u8,
        id: &'a [u8],
    },
    /// Identifier in TS 23.003 label encoding, already validated (see [`super::apn`]).
    ServiceSelection(&'a [u8]),
    HomeNetworkPrefix(Ipv6Prefix),
    HandoffIndicator(HandoffIndicator),
    AccessTechType(AccessTechType),
    /// The link-layer identifier after the 2 reserved octets.
    MnLinkLayerId(&'a [u8]),
    LinkLocalAddress(Ipv6Addr),
    Timestamp(Timestamp),
    RestartCounter(u32),
    NatDetection(NatDetection),
    GreKey(GreKeyOpt),
    Ipv4HoaRequest(Ipv4HoaRequest),
    Ipv4HoaReply(Ipv4HoaReply),
    Ipv4DefaultRouter(Ipv4Addr),
    Ipv4DhcpSupportMode(DhcpSupportMode),
    AlternateCoa(Ipv6Addr),
    Vendor(VendorOpt<&'a [u8]>),
    /// Any other type: skipped by its Length (RFC 6275 §6.2.1) but kept.
    Unknown {
        opt_type: u8,
        data: &'a [u8],
    },
}

fn fixed<const N: usize>(data: &[u8], opt_type: u8, offset: usize) -> Result<[u8; N]> {
    <[u8; N]>::try_from(data).map_err(|_| WireError::BadOptionLength {
        option_type: opt_type,
        length: data.len() as u8,
        offset,
    })
}

impl<'a> MobilityOption<'a> {
    /// Decodes the option of type `opt_type` whose data (after Type and Length) is `data`; `offset` is the
    /// position of its Type octet in the Mobility Header, used in errors.
    pub fn parse(opt_type: u8, data: &'a [u8], offset: usize) -> Result<Self> {
        let value = offset + 2;
        let bad_len = || WireError::BadOptionLength { option_type: opt_type, length: data.len() as u8, offset };
        Ok(match opt_type {
            OPT_PAD1 => MobilityOption::Pad1,
            OPT_PADN => MobilityOption::PadN(data.len() as u8),
            OPT_MN_ID => {
                let (&subtype, id) = data.split_first().ok_or_else(bad_len)?;
                if subtype == MnId::SUBTYPE_NAI && std::str::from_utf8(id).is_err() {
                    return Err(WireError::InvalidValue { what: "NAI (not UTF-8)", offset: value + 1 });
                }
                MobilityOption::MnId { subtype, id }
            }
            OPT_SERVICE_SELECTION => {
                apn::validate_wire(data, value)?;
                MobilityOption::ServiceSelection(data)
            }
            OPT_HNP => {
                let d: [u8; 18] = fixed(data, opt_type, offset)?;
                let len = d[1];
                if len > 128 {
                    return Err(WireError::InvalidValue { what: "HNP prefix length", offset: value + 1 });
                }
                MobilityOption::HomeNetworkPrefix(Ipv6Prefix { addr: field::ipv6_at(&d, 2, value, "HNP")?, len })
            }
            OPT_HI => MobilityOption::HandoffIndicator(HandoffIndicator(fixed::<2>(data, opt_type, offset)?[1])),
            OPT_ATT => MobilityOption::AccessTechType(AccessTechType(fixed::<2>(data, opt_type, offset)?[1])),
            OPT_MN_LL_ID => MobilityOption::MnLinkLayerId(data.get(2..).ok_or_else(bad_len)?),
            OPT_LINK_LOCAL => MobilityOption::LinkLocalAddress(Ipv6Addr::from(fixed::<16>(data, opt_type, offset)?)),
            OPT_ALT_COA => MobilityOption::AlternateCoa(Ipv6Addr::from(fixed::<16>(data, opt_type, offset)?)),
            OPT_TIMESTAMP => MobilityOption::Timestamp(Timestamp(u64::from_be_bytes(fixed(data, opt_type, offset)?))),
            OPT_RESTART_COUNTER => MobilityOption::RestartCounter(u32::from_be_bytes(fixed(data, opt_type, offset)?)),
            OPT_NAT_DETECTION => {
                let d: [u8; 6] = fixed(data, opt_type, offset)?;
                MobilityOption::NatDetection(NatDetection {
                    force_udp: d[0] & 0x80 != 0,
                    refresh_time: field::u32_at(&d, 2, value, "NAT refresh time")?,
                })
            }
            OPT_GRE_KEY => match data.len() {
                2 => MobilityOption::GreKey(GreKeyOpt::NoKey),
                6 => MobilityOption::GreKey(GreKeyOpt::Key(field::u32_at(data, 2, value, "GRE key")?)),
                _ => return Err(bad_len()),
            },
            OPT_IPV4_HOA_REQ => {
                let d: [u8; 6] = fixed(data, opt_type, offset)?;
                let prefix_len = ipv4_prefix_len(d[0], value)?;
                MobilityOption::Ipv4HoaRequest(Ipv4HoaRequest {
                    prefix_len,
                    addr: field::ipv4_at(&d, 2, value, "IPv4 HoA")?,
                })
            }
            OPT_IPV4_HOA_REPLY => {
                let d: [u8; 6] = fixed(data, opt_type, offset)?;
                let prefix_len = ipv4_prefix_len(d[1], value + 1)?;
                let addr = field::ipv4_at(&d, 2, value, "IPv4 HoA")?;
                MobilityOption::Ipv4HoaReply(Ipv4HoaReply { status: d[0], prefix_len, addr })
            }
            OPT_IPV4_DEFAULT_ROUTER => {
                let d: [u8; 6] = fixed(data, opt_type, offset)?;
                MobilityOption::Ipv4DefaultRouter(field::ipv4_at(&d, 2, value, "IPv4 default router")?)
            }
            OPT_IPV4_DHCP_MODE => {
                let d: [u8; 2] = fixed(data, opt_type, offset)?;
                MobilityOption::Ipv4DhcpSupportMode(DhcpSupportMode { server: d[1] & 0x01 != 0 })
            }
            OPT_VENDOR => MobilityOption::Vendor(VendorOpt::parse(data, offset)?),
            _ => MobilityOption::Unknown { opt_type, data },
        })
    }

    /// The Type octet.
    pub fn opt_type(&self) -> u8 {
        match self {
            MobilityOption::Pad1 => OPT_PAD1,
            MobilityOption::PadN(_) => OPT_PADN,
            MobilityOption::MnId { .. } => OPT_MN_ID,
            MobilityOption::ServiceSelection(_) => OPT_SERVICE_SELECTION,
            MobilityOption::HomeNetworkPrefix(_) => OPT_HNP,
            MobilityOption::HandoffIndicator(_) => OPT_HI,
            MobilityOption::AccessTechType(_) => OPT_ATT,
            MobilityOption::MnLinkLayerId(_) => OPT_MN_LL_ID,
            MobilityOption::LinkLocalAddress(_) => OPT_LINK_LOCAL,
            MobilityOption::Timestamp(_) => OPT_TIMESTAMP,
            MobilityOption::RestartCounter(_) => OPT_RESTART_COUNTER,
            MobilityOption::NatDetection(_) => OPT_NAT_DETECTION,
            MobilityOption::GreKey(_) => OPT_GRE_KEY,
            MobilityOption::Ipv4HoaRequest(_) => OPT_IPV4_HOA_REQ,
            MobilityOption::Ipv4HoaReply(_) => OPT_IPV4_HOA_REPLY,
            MobilityOption::Ipv4DefaultRouter(_) => OPT_IPV4_DEFAULT_ROUTER,
            MobilityOption::Ipv4DhcpSupportMode(_) => OPT_IPV4_DHCP_MODE,
            MobilityOption::AlternateCoa(_) => OPT_ALT_COA,
            MobilityOption::Vendor(_) => OPT_VENDOR,
            MobilityOption::Unknown { opt_type, .. } => *opt_type,
        }
    }

    /// Number of data octets (the Length octet's value); 0 for Pad1, which has no Length.
    pub fn data_len(&self) -> usize {
        match self {
            MobilityOption::Pad1 => 0,
            MobilityOption::PadN(n) => usize::from(*n),
            MobilityOption::MnId { id, .. } => 1 + id.len(),
            MobilityOption::ServiceSelection(s) => s.len(),
            MobilityOption::HomeNetworkPrefix(_) => 18,
            MobilityOption::HandoffIndicator(_) | MobilityOption::AccessTechType(_) => 2,
            MobilityOption::Ipv4DhcpSupportMode(_) => 2,
            MobilityOption::MnLinkLayerId(id) => 2 + id.len(),
            MobilityOption::LinkLocalAddress(_) | MobilityOption::AlternateCoa(_) => 16,
            MobilityOption::Timestamp(_) => 8,
            MobilityOption::RestartCounter(_) => 4,
            MobilityOption::GreKey(GreKeyOpt::NoKey) => 2,
            MobilityOption::GreKey(GreKeyOpt::Key(_)) => 6,
            MobilityOption::NatDetection(_)
            | MobilityOption::Ipv4HoaRequest(_)
            | MobilityOption::Ipv4HoaReply(_)
            | MobilityOption::Ipv4DefaultRouter(_) => 6,
            MobilityOption::Vendor(v) => v.data_len(),
            MobilityOption::Unknown { data, .. } => data.len(),
        }
    }

    /// Octets the option occupies on the wire (Type + Length + data; 1 for Pad1).
    pub fn wire_len(&self) -> usize {
        match self {
            MobilityOption::Pad1 => 1,
            _ => 2 + self.data_len(),
        }
    }

    /// Alignment requirement `(x, y)`: the Type octet must sit at an offset ≡ y (mod x) from the start of the
    /// Mobility Header. `(1, 0)` means none. Values from the defining RFCs:
    /// HNP 8n+4 (RFC 5213 §8.3), Link-local 8n+6 (§8.7), Timestamp 8n+2 (§8.8), Alternate CoA 8n+6
    /// (RFC 6275 §6.2.5), VSMO 4n+2 (RFC 5094), Restart Counter 4n+2 (RFC 5847), GRE Key and the IPv4 /
    /// NAT options 4n (RFC 5845, 5844, 5555).
    pub fn alignment(&self) -> (usize, usize) {
        match self {
            MobilityOption::HomeNetworkPrefix(_) => (8, 4),
            MobilityOption::LinkLocalAddress(_) | MobilityOption::AlternateCoa(_) => (8, 6),
            MobilityOption::Timestamp(_) => (8, 2),
            MobilityOption::Vendor(_) | MobilityOption::RestartCounter(_) => (4, 2),
            MobilityOption::GreKey(_)
            | MobilityOption::NatDetection(_)
            | MobilityOption::Ipv4HoaRequest(_)
            | MobilityOption::Ipv4HoaReply(_)
            | MobilityOption::Ipv4DefaultRouter(_) => (4, 0),
            _ => (1, 0),
        }
    }

    /// Writes the whole option (Type, Length, data) at the start of `out`; returns the octets written.
    /// Fails if `out` is too short or the data does not fit the 8-bit Length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        if let MobilityOption::Pad1 = self {
            field::put(out, 0, &[OPT_PAD1])?;
            return Ok(1);
        }
        self.check_value()?;
        let len = self.data_len();
        let len8 = u8::try_from(len).map_err(|_| WireError::ValueTooLong { what: "mobility option", len })?;
        let body = field::slice_mut(out, 0, 2 + len)?;
        body[0] = self.opt_type();
        body[1] = len8;
        let d = &mut body[2..];
        match self {
            MobilityOption::Pad1 => {}
            MobilityOption::PadN(_) => d.fill(0),
            MobilityOption::MnId { subtype, id } => {
                d[0] = *subtype;
                d[1..].copy_from_slice(id);
            }
            MobilityOption::ServiceSelection(s) => d.copy_from_slice(s),
            MobilityOption::HomeNetworkPrefix(p) => {
                d[0] = 0;
                d[1] = p.len;
                d[2..].copy_from_slice(&p.addr.octets());
            }
            MobilityOption::HandoffIndicator(HandoffIndicator(v))
            | MobilityOption::AccessTechType(AccessTechType(v)) => {
                d.copy_from_slice(&[0, *v]);
            }
            MobilityOption::MnLinkLayerId(id) => {
                d[..2].fill(0);
                d[2..].copy_from_slice(id);
            }
            MobilityOption::LinkLocalAddress(a) | MobilityOption::AlternateCoa(a) => d.copy_from_slice(&a.octets()),
            MobilityOption::Timestamp(t) => d.copy_from_slice(&t.0.to_be_bytes()),
            MobilityOption::RestartCounter(c) => d.copy_from_slice(&c.to_be_bytes()),
            MobilityOption::NatDetection(n) => {
                d[..2].copy_from_slice(&[if n.force_udp { 0x80 } else { 0 }, 0]);
                d[2..].copy_from_slice(&n.refresh_time.to_be_bytes());
            }
            MobilityOption::GreKey(k) => {
                d[..2].fill(0);
                if let GreKeyOpt::Key(key) = k {
                    d[2..].copy_from_slice(&key.to_be_bytes());
                }
            }
            MobilityOption::Ipv4HoaRequest(r) => {
                d[..2].copy_from_slice(&[(r.prefix_len & 0x3f) << 2, 0]);
                d[2..].copy_from_slice(&r.addr.octets());
            }
            MobilityOption::Ipv4HoaReply(r) => {
                d[..2].copy_from_slice(&[r.status, (r.prefix_len & 0x3f) << 2]);
                d[2..].copy_from_slice(&r.addr.octets());
            }
            MobilityOption::Ipv4DefaultRouter(a) => {
                d[..2].fill(0);
                d[2..].copy_from_slice(&a.octets());
            }
            MobilityOption::Ipv4DhcpSupportMode(m) => d.copy_from_slice(&[0, u8::from(m.server)]),
            MobilityOption::Vendor(v) => v.write_data(d)?,
            MobilityOption::Unknown { data, .. } => d.copy_from_slice(data),
        }
        Ok(2 + len)
    }
}

impl MobilityOption<'_> {
    /// Emission-side check of the values `parse` would reject, so we never send what we would refuse.
    fn check_value(&self) -> Result<()> {
        let bad = |what| Err(WireError::InvalidValue { what, offset: 0 });
        match self {
            MobilityOption::HomeNetworkPrefix(p) if p.len > 128 => bad("HNP prefix length"),
            MobilityOption::Ipv4HoaRequest(Ipv4HoaRequest { prefix_len, .. })
            | MobilityOption::Ipv4HoaReply(Ipv4HoaReply { prefix_len, .. })
                if *prefix_len > 32 =>
            {
                bad("IPv4 prefix length")
            }
            MobilityOption::MnId { subtype: MnId::SUBTYPE_NAI, id } if std::str::from_utf8(id).is_err() => {
                bad("NAI (not UTF-8)")
            }
            MobilityOption::ServiceSelection(s) => apn::validate_wire(s, 0),
            _ => Ok(()),
        }
    }
}

/// The 6-bit prefix length in the top of `octet` (RFC 5844 §3.3.1/§3.3.2); more than 32 is invalid.
fn ipv4_prefix_len(octet: u8, offset: usize) -> Result<u8> {
    let len = octet >> 2;
    if len > 32 {
        return Err(WireError::InvalidValue { what: "IPv4 prefix length", offset });
    }
    Ok(len)
}

/// Padding needed before an option with alignment `(x, y)` placed at `offset`: `(y - offset) mod x`.
pub(crate) fn padding_for(offset: usize, (x, y): (usize, usize)) -> usize {
    (y + x - offset % x) % x
}

/// Writes `n` octets of padding at the start of `out` (Pad1 for one, a single PadN otherwise, RFC 6275 §6.2.3).
pub(crate) fn emit_padding(n: usize, out: &mut [u8]) -> Result<()> {
    match n {
        0 => Ok(()),
        1 => MobilityOption::Pad1.emit(out).map(drop),
        _ => {
            let data = u8::try_from(n - 2).map_err(|_| WireError::ValueTooLong { what: "padding", len: n })?;
            MobilityOption::PadN(data).emit(out).map(drop)
        }
    }
}

/// Iterates over the options area of a Mobility Header, yielding each option (padding included) with the
/// offset of its Type octet. After the first error it yields nothing more.
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

impl<'a> OptionIter<'a> {
    /// `data` is the options area; `base` its offset in the Mobility Header (for error offsets).
    pub fn new(data: &'a [u8], base: usize) -> Self {
        OptionIter { data, pos: 0, base, failed: false }
    }

    fn next_option(&mut self) -> Result<(usize, MobilityOption<'a>)> {
        let offset = self.base + self.pos;
        let opt_type = field::u8_at(self.data, self.pos, self.base, "option type")?;
        if opt_type == OPT_PAD1 {
            self.pos += 1;
            return Ok((offset, MobilityOption::Pad1));
        }
        let len = field::u8_at(self.data, self.pos + 1, self.base, "option length")?;
        let start = self.pos + 2;
        let data = self.data.get(start..start + usize::from(len)).ok_or(WireError::BadOptionLength {
            option_type: opt_type,
            length: len,
            offset,
        })?;
        let opt = MobilityOption::parse(opt_type, data, offset)?;
        self.pos = start + usize::from(len);
        Ok((offset, opt))
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<(usize, MobilityOption<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let item = self.next_option();
        self.failed = item.is_err();
        Some(item)
    }
}

impl std::iter::FusedIterator for OptionIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_rule() {
        // xn+y (RFC 2460 §4.2): p = (y - off) mod x. V1: HNP (8n+4) after offset 79 needs 5, Timestamp (8n+2)
        // after offset 112 needs 2.
        assert_eq!(padding_for(79, (8, 4)), 5);
        assert_eq!(padding_for(112, (8, 2)), 2);
        assert_eq!(padding_for(124, (4, 0)), 0);
        assert_eq!(padding_for(132, (4, 2)), 2);
        assert_eq!(padding_for(17, (1, 0)), 0);
    }

    #[test]
    fn padding_encodings() {
        // vectors/README.md "Padding encodings used".
        let cases: [&[u8]; 6] =
            [&[0x00], &[0x01, 0x00], &[0x01, 0x01, 0x00], &[1, 2, 0, 0], &[1, 3, 0, 0, 0], &[1, 4, 0, 0, 0, 0]];
        for (i, want) in cases.iter().enumerate() {
            let mut out = [0xffu8; 8];
            emit_padding(i + 1, &mut out).unwrap();
            assert_eq!(&out[..i + 1], *want);
        }
    }

    #[test]
    fn every_typed_option_round_trips() {
        let opts = [
            MobilityOption::MnId { subtype: 1, id: b"user@realm" },
            MobilityOption::ServiceSelection(b"\x08internet"),
            MobilityOption::HomeNetworkPrefix(Ipv6Prefix { addr: "2001:db8::".parse().unwrap(), len: 64 }),
            MobilityOption::HandoffIndicator(HandoffIndicator::NEW_INTERFACE),
            MobilityOption::AccessTechType(AccessTechType::EUTRAN),
            MobilityOption::MnLinkLayerId(&[1, 2, 3, 4, 5, 6]),
            MobilityOption::LinkLocalAddress("fe80::1".parse().unwrap()),
            MobilityOption::Timestamp(Timestamp(0x1234_5678_9abc_def0)),
            MobilityOption::RestartCounter(5),
            MobilityOption::NatDetection(NatDetection { force_udp: true, refresh_time: 110 }),
            MobilityOption::GreKey(GreKeyOpt::NoKey),
            MobilityOption::GreKey(GreKeyOpt::Key(0x0a0b_0c0d)),
            MobilityOption::Ipv4HoaRequest(Ipv4HoaRequest { prefix_len: 24, addr: Ipv4Addr::new(10, 0, 0, 1) }),
            MobilityOption::Ipv4HoaReply(Ipv4HoaReply { status: 0, prefix_len: 16, addr: Ipv4Addr::new(10, 45, 0, 2) }),
            MobilityOption::Ipv4DefaultRouter(Ipv4Addr::new(10, 45, 0, 1)),
            MobilityOption::Ipv4DhcpSupportMode(DhcpSupportMode { server: true }),
            MobilityOption::AlternateCoa("2001:db8::9".parse().unwrap()),
            MobilityOption::Unknown { opt_type: 99, data: &[1, 2, 3] },
        ];
        for opt in opts {
            let mut buf = [0u8; 64];
            let n = opt.emit(&mut buf).unwrap();
            assert_eq!(n, opt.wire_len());
            let mut it = OptionIter::new(&buf[..n], 0);
            assert_eq!(it.next().unwrap().unwrap(), (0, opt.clone()));
            assert!(it.next().is_none());
        }
    }

    #[test]
    fn length_errors_point_at_the_option() {
        // HI with length 3 at offset 20.
        let buf = [0x17, 0x03, 0, 1, 0];
        let err = OptionIter::new(&buf, 20).next().unwrap().unwrap_err();
        assert_eq!(err, WireError::BadOptionLength { option_type: OPT_HI, length: 3, offset: 20 });
        // Length overruns the area.
        let buf = [0x01, 0x05, 0, 0];
        let err = OptionIter::new(&buf, 12).next().unwrap().unwrap_err();
        assert_eq!(err, WireError::BadOptionLength { option_type: OPT_PADN, length: 5, offset: 12 });
        // Type octet without Length.
        let err = OptionIter::new(&[0x17], 30).next().unwrap().unwrap_err();
        assert_eq!(err, WireError::Truncated { what: "option length", offset: 31 });
        // GRE key length 4 is neither 2 nor 6.
        let buf = [0x21, 0x04, 0, 0, 0, 0];
        assert!(matches!(OptionIter::new(&buf, 0).next(), Some(Err(WireError::BadOptionLength { .. }))));
    }

    #[test]
    fn invalid_values_rejected() {
        let mut hnp = [0u8; 20];
        hnp[..4].copy_from_slice(&[0x16, 0x12, 0, 129]);
        assert!(matches!(OptionIter::new(&hnp, 0).next(), Some(Err(WireError::InvalidValue { .. }))));
        let nai = [0x08, 0x03, 0x01, 0xff, 0xfe];
        assert!(matches!(OptionIter::new(&nai, 0).next(), Some(Err(WireError::InvalidValue { offset: 3, .. }))));
        let req = [0x24, 0x06, 33 << 2, 0, 10, 0, 0, 1];
        assert!(matches!(OptionIter::new(&req, 0).next(), Some(Err(WireError::InvalidValue { .. }))));
    }
}
