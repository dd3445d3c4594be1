//! Minimal IPv4, IPv6 and UDP header handling for signalling frames: checked parsing (with extension-header
//! skipping and checksum verification) and emission. Only what the framing layer needs; the data plane has its
//! own fast-path views.

use crate::wire::checksum::{self, IPPROTO_MH, IPPROTO_UDP};
use crate::wire::field::{array as get, u8_at as get_u8};
use crate::wire::{Result, WireError};
use std::net::{Ipv4Addr, Ipv6Addr};

/// 20: IPv4 header len.
pub const IPV4_HEADER_LEN: usize = 20;
/// 40: IPv6 header len.
pub const IPV6_HEADER_LEN: usize = 40;
/// 8: udp header len.
pub const UDP_HEADER_LEN: usize = 8;
/// IPv4 protocol number of an encapsulated IPv6 packet (RFC 4213).
pub const IPPROTO_IPV6: u8 = 41;

const NH_HOP_BY_HOP: u8 = 0;
const NH_ROUTING: u8 = 43;
const NH_FRAGMENT: u8 = 44;
const NH_AH: u8 = 51;
const NH_DEST_OPTS: u8 = 60;

/// A parsed IPv4 header: addresses, protocol, TTL, identification and the payload it delimits.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Header<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub ident: u16,
    pub payload: &'a [u8],
    /// Offset of `payload` in the original packet.
    pub payload_offset: usize,
}

/// Parses and verifies an IPv4 header at the start of `pkt`. Octets beyond Total Length (link padding) are
/// ignored; fragments are refused.
pub fn parse_ipv4(pkt: &[u8]) -> Result<Ipv4Header<'_>> {
    let h: [u8; IPV4_HEADER_LEN] = get(pkt, 0, 0, "IPv4 header")?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    if ihl < IPV4_HEADER_LEN {
        return Err(WireError::InvalidValue { what: "IPv4 IHL", offset: 0 });
    }
    let header = pkt.get(..ihl).ok_or(WireError::Truncated { what: "IPv4 options", offset: IPV4_HEADER_LEN })?;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total < ihl || total > pkt.len() {
        return Err(WireError::LengthMismatch { what: "IPv4 total length", field: total, actual: pkt.len() });
    }
    let found = u16::from_be_bytes([h[10], h[11]]);
    if checksum::fold(checksum::sum(0, header)) != 0xffff {
        let expected = checksum::finish(checksum::sum(checksum::sum(0, &header[..10]), &header[12..]));
        return Err(WireError::BadChecksum { what: "IPv4 header", expected, found });
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    if frag & 0x3fff != 0 {
        return Err(WireError::Fragmented { offset: 6 });
    }
    Ok(Ipv4Header {
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        protocol: h[9],
        ttl: h[8],
        ident: u16::from_be_bytes([h[4], h[5]]),
        payload: pkt.get(ihl..total).unwrap_or(&[]),
        payload_offset: ihl,
    })
}

/// Writes a 20-octet IPv4 header (DF set, no options) for a payload of `payload_len` octets.
pub fn emit_ipv4(
    out: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ttl: u8,
    ident: u16,
    payload_len: usize,
) -> Result<()> {
    let total = IPV4_HEADER_LEN + payload_len;
    let total16 = u16::try_from(total).map_err(|_| WireError::ValueTooLong { what: "IPv4 packet", len: total })?;
    let h =
        out.get_mut(..IPV4_HEADER_LEN).ok_or(WireError::BufferTooSmall { needed: IPV4_HEADER_LEN, available: 0 })?;
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&total16.to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    // DF: signalling is small and must not be fragmented on the way (RFC 5844 leaves this open; vectors set it).
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    h[8] = ttl;
    h[9] = protocol;
    h[10..12].fill(0);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum::finish(checksum::sum(0, h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// A parsed IPv6 header chain ending at the Mobility Header.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Header<'a> {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    /// The Mobility Header and nothing after it (the rest of the IPv6 payload).
    pub mh: &'a [u8],
}

/// Parses an IPv6 header at the start of `pkt`, skips the standard extension headers (Hop-by-Hop, Destination
/// Options, Routing with Segments Left 0, an atomic Fragment header, AH) and requires the chain to end in a
/// Mobility Header. `base` is `pkt`'s offset in the whole packet, for error offsets.
pub fn parse_ipv6(pkt: &[u8], base: usize) -> Result<Ipv6Header<'_>> {
    let h: [u8; IPV6_HEADER_LEN] = get(pkt, 0, base, "IPv6 header")?;
    if h[0] >> 4 != 6 {
        return Err(WireError::NotSignalling { what: "IP version", value: u32::from(h[0] >> 4), offset: base });
    }
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let end = IPV6_HEADER_LEN + payload_len;
    if end > pkt.len() {
        return Err(WireError::LengthMismatch {
            what: "IPv6 payload length",
            field: payload_len,
            actual: pkt.len() - IPV6_HEADER_LEN,
        });
    }
    let mut next = h[6];
    let mut off = IPV6_HEADER_LEN;
    let payload = pkt.get(..end).unwrap_or(&[]);
    loop {
        let ext_len = match next {
            IPPROTO_MH => break,
            NH_HOP_BY_HOP | NH_DEST_OPTS => (usize::from(get_u8(payload, off + 1, base, "extension header")?) + 1) * 8,
            NH_ROUTING => {
                // With Segments Left > 0 the pseudo-header destination would be the final one, which we do not
                // compute; RFC 5213 forbids routing headers in PBU/PBA anyway.
                if get_u8(payload, off + 3, base, "routing header")? != 0 {
                    return Err(WireError::InvalidValue {
                        what: "routing header with segments left",
                        offset: base + off + 3,
                    });
                }
                (usize::from(get_u8(payload, off + 1, base, "routing header")?) + 1) * 8
            }
            NH_FRAGMENT => {
                let f: [u8; 8] = get(payload, off, base, "fragment header")?;
                if u16::from_be_bytes([f[2], f[3]]) & 0xfff9 != 0 {
                    return Err(WireError::Fragmented { offset: base + off });
                }
                8
            }
            NH_AH => (usize::from(get_u8(payload, off + 1, base, "AH")?) + 2) * 4,
            other => {
                return Err(WireError::NotSignalling {
                    what: "IPv6 next header",
                    value: u32::from(other),
                    offset: base + 6,
                })
            }
        };
        next = get_u8(payload, off, base, "extension header")?;
        off += ext_len;
    }
    let mh =
        payload.get(off..).ok_or(WireError::Truncated { what: "extension header", offset: base + payload.len() })?;
    Ok(Ipv6Header {
        src: Ipv6Addr::from(get::<16>(&h, 8, base, "IPv6 source")?),
        dst: Ipv6Addr::from(get::<16>(&h, 24, base, "IPv6 destination")?),
        hop_limit: h[7],
        mh,
    })
}

/// Writes a 40-octet IPv6 header (traffic class and flow label 0).
pub fn emit_ipv6(
    out: &mut [u8],
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload_len: usize,
) -> Result<()> {
    let len16 =
        u16::try_from(payload_len).map_err(|_| WireError::ValueTooLong { what: "IPv6 payload", len: payload_len })?;
    let h =
        out.get_mut(..IPV6_HEADER_LEN).ok_or(WireError::BufferTooSmall { needed: IPV6_HEADER_LEN, available: 0 })?;
    h[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    h[4..6].copy_from_slice(&len16.to_be_bytes());
    h[6] = next_header;
    h[7] = hop_limit;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    Ok(())
}

/// A parsed UDP header and payload.
#[derive(Debug, Clone, Copy)]
pub struct UdpHeader<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    /// 0 when the sender did not compute one (allowed over IPv4, RFC 768).
    pub checksum: u16,
    pub payload: &'a [u8],
}

/// Parses UDP over IPv4 and verifies a non-zero checksum. `base` is the UDP header's offset in the packet.
pub fn parse_udp<'a>(ip: &Ipv4Header<'a>, base: usize) -> Result<UdpHeader<'a>> {
    let d = ip.payload;
    let h: [u8; UDP_HEADER_LEN] = get(d, 0, base, "UDP header")?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if len < UDP_HEADER_LEN || len != d.len() {
        return Err(WireError::LengthMismatch { what: "UDP length", field: len, actual: d.len() });
    }
    let found = u16::from_be_bytes([h[6], h[7]]);
    if found != 0 {
        let acc = checksum::pseudo_header_v4(&ip.src, &ip.dst, IPPROTO_UDP, len as u16);
        if checksum::fold(checksum::sum(acc, d)) != 0xffff {
            let acc = checksum::sum(checksum::sum(acc, &d[..6]), &d[8..]);
            return Err(WireError::BadChecksum { what: "UDP", expected: udp_checksum_value(acc), found });
        }
    }
    Ok(UdpHeader {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        checksum: found,
        payload: d.get(UDP_HEADER_LEN..).unwrap_or(&[]),
    })
}

/// RFC 768: a computed checksum of zero is sent as all ones.
fn udp_checksum_value(acc: u32) -> u16 {
    match checksum::finish(acc) {
        0 => 0xffff,
        c => c,
    }
}

/// Writes the UDP header in front of an already written payload (`udp` = header + payload) and fills the
/// checksum over the IPv4 pseudo-header.
pub fn emit_udp(udp: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> Result<()> {
    let len = udp.len();
    let len16 = u16::try_from(len).map_err(|_| WireError::ValueTooLong { what: "UDP datagram", len })?;
    let h =
        udp.get_mut(..UDP_HEADER_LEN).ok_or(WireError::BufferTooSmall { needed: UDP_HEADER_LEN, available: len })?;
    h[0..2].copy_from_slice(&src_port.to_be_bytes());
    h[2..4].copy_from_slice(&dst_port.to_be_bytes());
    h[4..6].copy_from_slice(&len16.to_be_bytes());
    h[6..8].fill(0);
    let acc = checksum::sum(checksum::pseudo_header_v4(&src, &dst, IPPROTO_UDP, len16), udp);
    let c = udp_checksum_value(acc);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    Ok(())
}
