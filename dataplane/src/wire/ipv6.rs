//! IPv6 header (RFC 8200): checked view, extension-header walk, in-place hop-limit/ECN rewrites and emission.

use super::array_at;
use std::net::Ipv6Addr;

pub const HEADER_LEN: usize = 40;
pub const NEXT_HEADER_HOP_BY_HOP: u8 = 0;
pub const NEXT_HEADER_UDP: u8 = 17;
pub const NEXT_HEADER_ROUTING: u8 = 43;
pub const NEXT_HEADER_FRAGMENT: u8 = 44;
pub const NEXT_HEADER_GRE: u8 = 47;
pub const NEXT_HEADER_ESP: u8 = 50;
pub const NEXT_HEADER_AH: u8 = 51;
pub const NEXT_HEADER_ICMPV6: u8 = 58;
pub const NEXT_HEADER_DESTINATION_OPTIONS: u8 = 60;
/// Mobility Header (RFC 6275 §6.1).
pub const NEXT_HEADER_MOBILITY: u8 = 135;

/// How many extension headers the walk follows before giving up; real traffic carries one or two.
const MAX_EXTENSION_HEADERS: usize = 4;

/// Why bytes are not a usable IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Error {
    /// Shorter than the header or than its payload length says.
    Truncated,
    /// Version ≠ 6.
    Invalid,
}

/// Checked view of an IPv6 packet: the fixed header is complete and the payload length fits in the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<'a> {
    fixed: &'a [u8; HEADER_LEN],
    /// Exactly the payload length: link-layer padding is excluded.
    payload: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, Ipv6Error> {
        let fixed: &[u8; HEADER_LEN] = array_at(buf, 0).ok_or(Ipv6Error::Truncated)?;
        if fixed[0] >> 4 != 6 {
            return Err(Ipv6Error::Invalid);
        }
        // A jumbogram also has payload length 0, but needs a Hop-by-Hop Jumbo Payload option, which
        // `upper_layer` refuses: read as an empty payload, it can only be dropped.
        let payload_len = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
        let payload = buf.get(HEADER_LEN..HEADER_LEN + payload_len).ok_or(Ipv6Error::Truncated)?;
        Ok(Ipv6Packet { fixed, payload })
    }

    /// Header plus payload length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
    pub fn ecn(&self) -> u8 {
        (self.fixed[1] >> 4) & 0x03
    }
    /// The traffic class: DSCP (upper six bits) and ECN, across the first two bytes.
    pub fn traffic_class(&self) -> u8 {
        traffic_class(self.fixed)
    }
    pub fn next_header(&self) -> u8 {
        self.fixed[6]
    }
    pub fn hop_limit(&self) -> u8 {
        self.fixed[7]
    }
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_octets())
    }
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_octets())
    }
    pub fn src_octets(&self) -> [u8; 16] {
        octets_at(self.fixed, 8)
    }
    pub fn dst_octets(&self) -> [u8; 16] {
        octets_at(self.fixed, 24)
    }
    /// The bytes after the fixed header, up to the payload length.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

fn octets_at(fixed: &[u8; HEADER_LEN], at: usize) -> [u8; 16] {
    array_at::<16>(fixed, at).copied().unwrap_or_default()
}

/// The upper 64 bits of an address: the key of a UE's /64 home network prefix.
/// The traffic class of the IPv6 header starting at `header[0]` (RFC 8200 §3: after the 4-bit version).
#[inline(always)]
pub fn traffic_class<const N: usize>(header: &[u8; N]) -> u8 {
    (u16::from_be_bytes([header[0], header[1]]) >> 4) as u8
}

pub fn prefix64(address: &[u8; 16]) -> u64 {
    let mut high = [0u8; 8];
    high.copy_from_slice(&address[..8]);
    u64::from_be_bytes(high)
}

/// Why the extension-header chain in front of the upper layer is not one the gateway walks past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtensionHeaderError {
    /// A Fragment header: reassembly is not done (yet).
    Fragment,
    /// Truncated, too long a chain, a Routing header with segments left, ESP/AH, or an option whose type says
    /// "discard if unrecognised" (RFC 8200 §4.2).
    Unsupported,
}

/// Walks the extension headers RFC 8200 §4 lets a final destination pass over — Hop-by-Hop and Destination
/// Options (whose options must all be skippable: Pad1, PadN or an action of 00), and a Routing header with no
/// segments left — and returns the upper-layer protocol and its offset in `payload`.
#[inline]
pub fn upper_layer(next_header: u8, payload: &[u8]) -> Result<(u8, usize), ExtensionHeaderError> {
    // The common case, nothing in between, decided without the walk.
    if next_header == NEXT_HEADER_GRE {
        return Ok((next_header, 0));
    }
    let mut protocol = next_header;
    let mut offset = 0usize;
    for _ in 0..MAX_EXTENSION_HEADERS {
        let header = payload.get(offset..).unwrap_or_default();
        let (next, length) = match protocol {
            NEXT_HEADER_HOP_BY_HOP | NEXT_HEADER_DESTINATION_OPTIONS => options_header(header)?,
            NEXT_HEADER_ROUTING => routing_header(header)?,
            NEXT_HEADER_FRAGMENT => return Err(ExtensionHeaderError::Fragment),
            NEXT_HEADER_ESP | NEXT_HEADER_AH => return Err(ExtensionHeaderError::Unsupported),
            _ => return Ok((protocol, offset)),
        };
        protocol = next;
        offset += length;
    }
    match protocol {
        NEXT_HEADER_HOP_BY_HOP
        | NEXT_HEADER_DESTINATION_OPTIONS
        | NEXT_HEADER_ROUTING
        | NEXT_HEADER_ESP
        | NEXT_HEADER_AH => Err(ExtensionHeaderError::Unsupported),
        NEXT_HEADER_FRAGMENT => Err(ExtensionHeaderError::Fragment),
        _ => Ok((protocol, offset)),
    }
}

/// Length in bytes of an extension header whose second octet counts 8-octet units beyond the first.
fn extension_len(header: &[u8]) -> Result<(u8, usize, &[u8]), ExtensionHeaderError> {
    let &[next, units, ..] = header else { return Err(ExtensionHeaderError::Unsupported) };
    let length = (usize::from(units) + 1) * 8;
    let whole = header.get(..length).ok_or(ExtensionHeaderError::Unsupported)?;
    Ok((next, length, whole))
}

fn options_header(header: &[u8]) -> Result<(u8, usize), ExtensionHeaderError> {
    let (next, length, whole) = extension_len(header)?;
    let mut options = whole.get(2..).unwrap_or_default();
    while let Some((&kind, rest)) = options.split_first() {
        if kind == 0 {
            options = rest; // Pad1
            continue;
        }
        // The two high bits of the type say what a node that does not know the option must do; only 00
        // ("skip") lets us pass an option we do not implement. PadN (1) has them zero.
        if kind >> 6 != 0 {
            return Err(ExtensionHeaderError::Unsupported);
        }
        let (&data_len, rest) = rest.split_first().ok_or(ExtensionHeaderError::Unsupported)?;
        options = rest.get(usize::from(data_len)..).ok_or(ExtensionHeaderError::Unsupported)?;
    }
    Ok((next, length))
}

fn routing_header(header: &[u8]) -> Result<(u8, usize), ExtensionHeaderError> {
    let (next, length, whole) = extension_len(header)?;
    // Segments left ≠ 0 means this node is an intermediate hop that must process the routing type: not supported.
    match whole.get(3) {
        Some(0) => Ok((next, length)),
        _ => Err(ExtensionHeaderError::Unsupported),
    }
}

/// Decrements the hop limit; the caller has checked it is > 1.
pub fn decrement_hop_limit(fixed: &mut [u8; HEADER_LEN]) {
    fixed[7] = fixed[7].wrapping_sub(1);
}

/// Sets the ECN bits of the traffic class.
pub fn set_ecn(fixed: &mut [u8; HEADER_LEN], ecn: u8) {
    fixed[1] = (fixed[1] & !0x30) | ((ecn & 0x03) << 4);
}

/// The fields of an outer IPv6 header the encapsulator chooses.
#[derive(Clone, Copy, Debug)]
pub struct OuterIpv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub ecn: u8,
    pub payload_len: u16,
}

/// Writes a 40-byte header with DSCP 0 and flow label 0.
pub fn write_header(out: &mut [u8; HEADER_LEN], fields: &OuterIpv6) {
    out[0] = 0x60;
    out[1] = (fields.ecn & 0x03) << 4;
    out[2..4].copy_from_slice(&[0, 0]);
    out[4..6].copy_from_slice(&fields.payload_len.to_be_bytes());
    out[6] = fields.next_header;
    out[7] = fields.hop_limit;
    out[8..24].copy_from_slice(&fields.src.octets());
    out[24..40].copy_from_slice(&fields.dst.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    const V8: &str = "6000000000432f4020010db800020000000000000000000120010db800010000000000000000000120\
                      0086dd000100016000000000133a3f20010db8ffff0000000000000000000120010db8aaaa0001000000\
                      00000000018000106112340001706d697076362d74657374";

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn parses_shared_vector_v8() {
        let bytes = hex(V8);
        let packet = Ipv6Packet::parse(&bytes).unwrap();
        assert_eq!(packet.next_header(), NEXT_HEADER_GRE);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.src(), "2001:db8:2::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(packet.dst(), "2001:db8:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(packet.total_len(), 107);
        assert_eq!(upper_layer(packet.next_header(), packet.payload()), Ok((NEXT_HEADER_GRE, 0)));
        assert_eq!(prefix64(&packet.dst_octets()), 0x2001_0db8_0001_0000);
    }

    #[test]
    fn rejects_truncation_and_version() {
        let bytes = hex(V8);
        for len in 0..bytes.len() {
            assert_eq!(Ipv6Packet::parse(&bytes[..len]).unwrap_err(), Ipv6Error::Truncated, "length {len}");
        }
        let mut v4 = bytes.clone();
        v4[0] = 0x40;
        assert_eq!(Ipv6Packet::parse(&v4).unwrap_err(), Ipv6Error::Invalid);
        let mut empty = bytes;
        empty[4..6].copy_from_slice(&[0, 0]);
        assert_eq!(Ipv6Packet::parse(&empty).unwrap().payload(), &[] as &[u8]);
    }

    #[test]
    fn walks_skippable_extension_headers() {
        // Hop-by-Hop with Router Alert (type 5, action 00) + PadN, then Destination Options with Pad1s and a
        // Tunnel Encapsulation Limit (type 4), then a Routing header with segments left 0, then GRE.
        let mut chain = vec![NEXT_HEADER_DESTINATION_OPTIONS, 0, 5, 2, 0, 0, 1, 0];
        chain.extend_from_slice(&[NEXT_HEADER_ROUTING, 0, 0, 0, 4, 1, 4, 0]);
        chain.extend_from_slice(&[NEXT_HEADER_GRE, 0, 4, 0, 0, 0, 0, 0]);
        chain.extend_from_slice(&[0x20, 0x00, 0x08, 0x00]);
        assert_eq!(upper_layer(NEXT_HEADER_HOP_BY_HOP, &chain), Ok((NEXT_HEADER_GRE, 24)));
    }

    #[test]
    fn refuses_what_a_final_destination_cannot_pass() {
        let fragment = [NEXT_HEADER_GRE, 0, 0, 1, 0, 0, 0, 1];
        assert_eq!(upper_layer(NEXT_HEADER_FRAGMENT, &fragment), Err(ExtensionHeaderError::Fragment));
        // Behind a skippable header too.
        let mut behind = vec![NEXT_HEADER_FRAGMENT, 0, 1, 4, 0, 0, 0, 0];
        behind.extend_from_slice(&fragment);
        assert_eq!(upper_layer(NEXT_HEADER_DESTINATION_OPTIONS, &behind), Err(ExtensionHeaderError::Fragment));
        // Routing header with segments left.
        let routing = [NEXT_HEADER_GRE, 0, 4, 1, 0, 0, 0, 0];
        assert_eq!(upper_layer(NEXT_HEADER_ROUTING, &routing), Err(ExtensionHeaderError::Unsupported));
        // An option that must not be skipped (Jumbo Payload 0xc2 has action 11).
        let jumbo = [NEXT_HEADER_GRE, 0, 0xc2, 4, 0, 0, 0, 0];
        assert_eq!(upper_layer(NEXT_HEADER_HOP_BY_HOP, &jumbo), Err(ExtensionHeaderError::Unsupported));
        // An option running past its header.
        let overrun = [NEXT_HEADER_GRE, 0, 1, 9, 0, 0, 0, 0];
        assert_eq!(upper_layer(NEXT_HEADER_DESTINATION_OPTIONS, &overrun), Err(ExtensionHeaderError::Unsupported));
        // Truncated header, ESP, and a chain longer than we follow.
        assert_eq!(
            upper_layer(NEXT_HEADER_DESTINATION_OPTIONS, &[NEXT_HEADER_GRE, 1, 0, 0]),
            Err(ExtensionHeaderError::Unsupported)
        );
        assert_eq!(upper_layer(NEXT_HEADER_ESP, &[0; 16]), Err(ExtensionHeaderError::Unsupported));
        let long: Vec<u8> = (0..5).flat_map(|_| [NEXT_HEADER_DESTINATION_OPTIONS, 0, 1, 4, 0, 0, 0, 0]).collect();
        assert_eq!(upper_layer(NEXT_HEADER_DESTINATION_OPTIONS, &long), Err(ExtensionHeaderError::Unsupported));
    }

    #[test]
    fn rewrites_and_written_header_agree_with_etherparse() {
        let mut out = [0u8; HEADER_LEN];
        let fields = OuterIpv6 {
            src: "2001:db8:2::1".parse().unwrap(),
            dst: "2001:db8:1::1".parse().unwrap(),
            next_header: NEXT_HEADER_GRE,
            hop_limit: 9,
            ecn: 0b01,
            payload_len: 300,
        };
        write_header(&mut out, &fields);
        decrement_hop_limit(&mut out);
        let theirs = etherparse::Ipv6HeaderSlice::from_slice(&out).unwrap().to_header();
        assert_eq!(theirs.source, fields.src.octets());
        assert_eq!(theirs.destination, fields.dst.octets());
        assert_eq!(theirs.next_header, etherparse::IpNumber::GRE);
        assert_eq!(theirs.hop_limit, 8);
        assert_eq!(theirs.traffic_class, 0b01);
        assert_eq!(theirs.payload_length, 300);
        set_ecn(&mut out, 0b11);
        assert_eq!(etherparse::Ipv6HeaderSlice::from_slice(&out).unwrap().traffic_class(), 0b11);
    }
}
