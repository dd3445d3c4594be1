//! Signalling framing: how a Mobility Header travels between MAG and LMA, parsed from and emitted as a whole IP
//! packet (starting at the IPv4/IPv6 header; the link layer is not ours).
//!
//! Four forms (RFC 5844 §4; TS 29.275 §6.1):
//! * [`Framing::Ipv6`] — IPv6 transport: `IPv6 (NH 135) | MH`, sent natively.
//! * [`Framing::Ipv6InIpv4`] — 3GPP "IPv4" encapsulation: `IPv4 (protocol 41) | IPv6 | MH`, inner addresses the
//!   IPv4-mapped forms (RFC 4291 §2.5.5.2) of the outer ones; MH checksum over the inner IPv6 pseudo-header.
//! * [`Framing::Ipv6InIpv4Udp`] — 3GPP "IPv4-UDP": `IPv4 | UDP 5436 | IPv6 (mapped) | MH`.
//! * [`Framing::Ipv4Udp`] — RFC 5844 §4: `IPv4 | UDP 5436 | MH`, no IPv6 header, MH checksum 0 and ignored, the
//!   UDP checksum protecting the message.
//!
//! A parsed [`Frame`] records its form and ports so the reply goes back the same way ([`FrameHeader::reply`]).
//! Peers on IPv4 transport are identified by their IPv4 address: `src`/`dst` are the *outer* addresses and the
//! mapped inner ones are only a wire detail (TS 29.275 §6.1: "key its peer … by the IPv4 address").

#![warn(missing_docs)]

mod ip;

use crate::wire::{MhPacket, MhRepr, Result, WireError};
use ip::{IPPROTO_IPV6, IPV4_HEADER_LEN, IPV6_HEADER_LEN, UDP_HEADER_LEN};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::wire::checksum::{IPPROTO_MH, IPPROTO_UDP};

/// IANA "pmip6-cntl" port for signalling over IPv4-UDP (RFC 5844 §4).
pub const PMIP6_CNTL_PORT: u16 = 5436;
/// Hop limit / TTL used when the caller has no reason to pick another.
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// UDP ports of an IPv4-UDP framed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpPorts {
    /// Source port.
    pub src: u16,
    /// Destination port.
    pub dst: u16,
}

impl UdpPorts {
    /// 5436 → 5436, what an initiator (PBU, BRI, heartbeat request) uses.
    pub const CNTL: UdpPorts = UdpPorts { src: PMIP6_CNTL_PORT, dst: PMIP6_CNTL_PORT };

    /// Ports for the answer: swapped (RFC 5844 §4: the PBA goes from 5436 to the PBU's source port).
    pub fn reply(self) -> UdpPorts {
        UdpPorts { src: self.dst, dst: self.src }
    }
}

/// The form a signalling message travels in. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// `IPv6 | MH`.
    Ipv6,
    /// `IPv4 (41) | IPv6 (mapped) | MH` — TS 29.275 §6.1 "IPv4" encapsulation.
    Ipv6InIpv4,
    /// `IPv4 | UDP | IPv6 (mapped) | MH` — TS 29.275 §6.1 "IPv4-UDP" encapsulation.
    Ipv6InIpv4Udp(UdpPorts),
    /// `IPv4 | UDP | MH` — RFC 5844 §4.
    Ipv4Udp(UdpPorts),
}

impl Framing {
    /// True for the three IPv4-transport forms (peer addresses are IPv4).
    pub fn is_ipv4(self) -> bool {
        !matches!(self, Framing::Ipv6)
    }

    /// Same form with the UDP ports swapped, for answering.
    pub fn reply(self) -> Framing {
        match self {
            Framing::Ipv6InIpv4Udp(p) => Framing::Ipv6InIpv4Udp(p.reply()),
            Framing::Ipv4Udp(p) => Framing::Ipv4Udp(p.reply()),
            f => f,
        }
    }

    /// Octets in front of the Mobility Header.
    pub fn header_len(self) -> usize {
        match self {
            Framing::Ipv6 => IPV6_HEADER_LEN,
            Framing::Ipv6InIpv4 => IPV4_HEADER_LEN + IPV6_HEADER_LEN,
            Framing::Ipv6InIpv4Udp(_) => IPV4_HEADER_LEN + UDP_HEADER_LEN + IPV6_HEADER_LEN,
            Framing::Ipv4Udp(_) => IPV4_HEADER_LEN + UDP_HEADER_LEN,
        }
    }
}

/// Everything about a frame except the Mobility Header: enough to answer it or to re-emit it identically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// The form the message travels in.
    pub framing: Framing,
    /// Sender: IPv6 for [`Framing::Ipv6`], the outer IPv4 address otherwise.
    pub src: IpAddr,
    /// Receiver, same convention as `src`.
    pub dst: IpAddr,
    /// IPv6 hop limit / IPv4 TTL (the inner IPv6 header of the 3GPP forms uses the same value).
    pub hop_limit: u8,
    /// IPv4 Identification (ignored for [`Framing::Ipv6`]).
    pub ipv4_ident: u16,
}

impl FrameHeader {
    /// A header with the default hop limit and identification 0.
    pub fn new(framing: Framing, src: IpAddr, dst: IpAddr) -> Self {
        FrameHeader { framing, src, dst, hop_limit: DEFAULT_HOP_LIMIT, ipv4_ident: 0 }
    }

    /// Header for the answer to this frame: addresses and ports swapped, same form, default hop limit.
    pub fn reply(&self) -> FrameHeader {
        FrameHeader::new(self.framing.reply(), self.dst, self.src)
    }

    /// Octets [`emit`] writes for `repr` in this framing.
    pub fn buffer_len(&self, repr: &MhRepr) -> usize {
        self.framing.header_len() + repr.buffer_len()
    }

    fn v4_addrs(&self) -> Result<(Ipv4Addr, Ipv4Addr)> {
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Ok((s, d)),
            _ => Err(WireError::InvalidValue { what: "IPv4 framing needs IPv4 addresses", offset: 0 }),
        }
    }

    /// Addresses of the IPv6 header that carries the MH (mapped forms for the 3GPP IPv4 profile).
    fn v6_addrs(&self) -> Result<(Ipv6Addr, Ipv6Addr)> {
        match (self.framing, self.src, self.dst) {
            (Framing::Ipv6, IpAddr::V6(s), IpAddr::V6(d)) => Ok((s, d)),
            (Framing::Ipv6, _, _) => {
                Err(WireError::InvalidValue { what: "IPv6 framing needs IPv6 addresses", offset: 0 })
            }
            _ => self.v4_addrs().map(|(s, d)| (s.to_ipv6_mapped(), d.to_ipv6_mapped())),
        }
    }
}

/// A received signalling packet: how it came, and its Mobility Header (bounds-checked, checksum verified).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Framing, addresses and IP header details.
    pub header: FrameHeader,
    /// The Mobility Header, borrowed from the packet.
    pub mh: MhPacket<&'a [u8]>,
}

impl Frame<'_> {
    /// The typed message.
    pub fn repr(&self) -> Result<MhRepr> {
        MhRepr::parse(&self.mh)
    }
}

/// The MH must fill the rest of its carrier exactly, so a wrong Header Len is caught even when it fits.
fn checked_mh(mh: &[u8]) -> Result<MhPacket<&[u8]>> {
    let p = MhPacket::new_checked(mh)?;
    if p.total_len() != mh.len() {
        return Err(WireError::BadHeaderLength { mh_type: p.mh_type(), octets: p.total_len(), available: mh.len() });
    }
    Ok(p)
}

/// IPv6 (inner or native) carrying an MH: verify the MH checksum over this header's addresses.
fn parse_v6_mh(pkt: &[u8], base: usize) -> Result<(ip::Ipv6Header<'_>, MhPacket<&[u8]>)> {
    let v6 = ip::parse_ipv6(pkt, base)?;
    let mh = checked_mh(v6.mh)?;
    mh.verify_checksum(&v6.src, &v6.dst)?;
    Ok((v6, mh))
}

/// Inner IPv6 addresses of the 3GPP IPv4 profile must be the mapped forms of the outer IPv4 ones.
fn check_mapped(v6: &ip::Ipv6Header<'_>, v4: &ip::Ipv4Header<'_>) -> Result<()> {
    if v6.src.to_ipv4_mapped() != Some(v4.src) {
        return Err(WireError::MappedAddressMismatch { which: "source" });
    }
    if v6.dst.to_ipv4_mapped() != Some(v4.dst) {
        return Err(WireError::MappedAddressMismatch { which: "destination" });
    }
    Ok(())
}

/// Parses a whole IP packet carrying a Mobility Header in any of the four forms, verifying every checksum that
/// applies (IPv4 header, UDP, MH). Octets after the IP packet's own length (link padding) are ignored.
pub fn parse(packet: &[u8]) -> Result<Frame<'_>> {
    let version = packet.first().map(|b| b >> 4).ok_or(WireError::Truncated { what: "IP header", offset: 0 })?;
    match version {
        6 => {
            let (v6, mh) = parse_v6_mh(packet, 0)?;
            let header = FrameHeader {
                framing: Framing::Ipv6,
                src: v6.src.into(),
                dst: v6.dst.into(),
                hop_limit: v6.hop_limit,
                ipv4_ident: 0,
            };
            Ok(Frame { header, mh })
        }
        4 => parse_ipv4_transport(packet),
        v => Err(WireError::NotSignalling { what: "IP version", value: u32::from(v), offset: 0 }),
    }
}

fn parse_ipv4_transport(packet: &[u8]) -> Result<Frame<'_>> {
    let v4 = ip::parse_ipv4(packet)?;
    let base = v4.payload_offset;
    let (framing, mh) = match v4.protocol {
        IPPROTO_IPV6 => {
            let (v6, mh) = parse_v6_mh(v4.payload, base)?;
            check_mapped(&v6, &v4)?;
            (Framing::Ipv6InIpv4, mh)
        }
        IPPROTO_UDP => {
            let udp = ip::parse_udp(&v4, base)?;
            if udp.src_port != PMIP6_CNTL_PORT && udp.dst_port != PMIP6_CNTL_PORT {
                return Err(WireError::NotSignalling {
                    what: "UDP port",
                    value: u32::from(udp.dst_port),
                    offset: base + 2,
                });
            }
            let ports = UdpPorts { src: udp.src_port, dst: udp.dst_port };
            let inner = base + UDP_HEADER_LEN;
            // An MH starts with Payload Proto 59 (0x3b); an IPv6 header with version nibble 6.
            if udp.payload.first().is_some_and(|b| b >> 4 == 6) {
                let (v6, mh) = parse_v6_mh(udp.payload, inner)?;
                check_mapped(&v6, &v4)?;
                (Framing::Ipv6InIpv4Udp(ports), mh)
            } else {
                // RFC 5844 §4: MH checksum ignored, so the UDP checksum must be there to protect the message.
                if udp.checksum == 0 {
                    return Err(WireError::BadChecksum { what: "UDP (absent)", expected: 0xffff, found: 0 });
                }
                (Framing::Ipv4Udp(ports), checked_mh(udp.payload)?)
            }
        }
        p => return Err(WireError::NotSignalling { what: "IPv4 protocol", value: u32::from(p), offset: 9 }),
    };
    let header =
        FrameHeader { framing, src: v4.src.into(), dst: v4.dst.into(), hop_limit: v4.ttl, ipv4_ident: v4.ident };
    Ok(Frame { header, mh })
}

/// Writes `repr` framed as `header` says into `buf`, with every checksum filled (the MH checksum is 0 in the
/// RFC 5844 form). Returns the packet length, `header.buffer_len(repr)`.
pub fn emit(header: &FrameHeader, repr: &MhRepr, buf: &mut [u8]) -> Result<usize> {
    let total = header.buffer_len(repr);
    let available = buf.len();
    let buf = buf.get_mut(..total).ok_or(WireError::BufferTooSmall { needed: total, available })?;
    let mh_off = header.framing.header_len();
    let mh_len = total - mh_off;
    let ttl = header.hop_limit;
    let (head, mh) = buf.split_at_mut(mh_off);
    match header.framing {
        Framing::Ipv4Udp(_) => {
            repr.emit(mh)?;
        }
        _ => {
            let (s, d) = header.v6_addrs()?;
            repr.emit_with_checksum(mh, &s, &d)?;
            let v6 = head.get_mut(mh_off - IPV6_HEADER_LEN..).unwrap_or_default();
            ip::emit_ipv6(v6, &s, &d, IPPROTO_MH, ttl, mh_len)?;
        }
    }
    match header.framing {
        Framing::Ipv6 => {}
        Framing::Ipv6InIpv4 => {
            let (s, d) = header.v4_addrs()?;
            ip::emit_ipv4(buf, s, d, IPPROTO_IPV6, ttl, header.ipv4_ident, total - IPV4_HEADER_LEN)?;
        }
        Framing::Ipv6InIpv4Udp(ports) | Framing::Ipv4Udp(ports) => {
            let (s, d) = header.v4_addrs()?;
            let udp = buf.get_mut(IPV4_HEADER_LEN..).unwrap_or_default();
            ip::emit_udp(udp, s, d, ports.src, ports.dst)?;
            ip::emit_ipv4(buf, s, d, IPPROTO_UDP, ttl, header.ipv4_ident, total - IPV4_HEADER_LEN)?;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_mirrors_addresses_and_ports() {
        // RFC 5844 §4: a PBU from port 40000 to 5436 is answered from 5436 to 40000, IPv4 addresses swapped.
        let mag: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
        let lma: IpAddr = Ipv4Addr::new(198, 51, 100, 1).into();
        let pbu = FrameHeader::new(Framing::Ipv4Udp(UdpPorts { src: 40000, dst: PMIP6_CNTL_PORT }), mag, lma);
        let pba = pbu.reply();
        assert_eq!(pba.framing, Framing::Ipv4Udp(UdpPorts { src: PMIP6_CNTL_PORT, dst: 40000 }));
        assert_eq!((pba.src, pba.dst), (lma, mag));
        // The 3GPP forms answer in the same form.
        let h = FrameHeader::new(Framing::Ipv6InIpv4, mag, lma);
        assert_eq!(h.reply().framing, Framing::Ipv6InIpv4);
    }

    #[test]
    fn address_family_must_match_the_framing() {
        let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
        let v4: IpAddr = Ipv4Addr::LOCALHOST.into();
        let repr = MhRepr::Unknown { mh_type: 99, data: vec![0; 10] };
        let mut buf = [0u8; 128];
        for (framing, src, dst) in
            [(Framing::Ipv6, v4, v4), (Framing::Ipv6InIpv4, v6, v6), (Framing::Ipv4Udp(UdpPorts::CNTL), v4, v6)]
        {
            let err = emit(&FrameHeader::new(framing, src, dst), &repr, &mut buf).unwrap_err();
            assert!(matches!(err, WireError::InvalidValue { .. }), "{framing:?}: {err:?}");
        }
        let err = emit(&FrameHeader::new(Framing::Ipv6, v6, v6), &repr, &mut buf[..40]).unwrap_err();
        assert_eq!(err, WireError::BufferTooSmall { needed: 56, available: 40 });
    }
}
