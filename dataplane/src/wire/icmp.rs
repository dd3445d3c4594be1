//! ICMP and ICMPv6 message types the gateway reads (RFC 792, RFC 4443, RFC 4861): one list for the pipeline's
//! punt decisions and the control thread's answers; and the errors the pipeline sends back about packets it
//! cannot forward.

use super::{checksum, ipv4, ipv6};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
pub const ICMPV6_ECHO_REPLY: u8 = 129;
pub const ICMPV6_ROUTER_SOLICITATION: u8 = 133;
pub const ICMPV6_ROUTER_ADVERTISEMENT: u8 = 134;
pub const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;
pub const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;

// ---- Errors the gateway originates about packets it cannot forward ----

pub const ICMP_DESTINATION_UNREACHABLE: u8 = 3;
/// Destination Unreachable code: fragmentation needed and DF set (RFC 792; next-hop MTU per RFC 1191 §4).
pub const ICMP_CODE_FRAGMENTATION_NEEDED: u8 = 4;
pub const ICMP_TIME_EXCEEDED: u8 = 11;
pub const ICMPV6_PACKET_TOO_BIG: u8 = 2;
pub const ICMPV6_TIME_EXCEEDED: u8 = 3;

/// ICMP and ICMPv6 headers are 8 bytes; the quoted packet follows.
pub const HEADER_LEN: usize = 8;
/// The largest error datagram: 576 bytes for IPv4 (RFC 1812 §4.3.2.3), the IPv6 minimum MTU of 1280 for IPv6
/// (RFC 4443 §2.4(c)).
pub const IPV4_ERROR_MAX: usize = 576;
pub const IPV6_ERROR_MAX: usize = 1280;

/// The ICMP types that are errors (RFC 792; RFC 1812 §4.3.2.7): an error never answers one.
pub fn is_ipv4_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
}

/// ICMPv6 errors are the types below 128 (RFC 4443 §2.1); an error never answers one (§2.4(e.1)).
pub fn is_ipv6_error(icmp_type: u8) -> bool {
    icmp_type < 128
}

/// What went wrong with a packet, as its source is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TTL / hop limit would reach zero (ICMP Time Exceeded code 0, ICMPv6 Time Exceeded code 0).
    TimeExceeded,
    /// Larger than the next hop takes; `mtu` is the largest packet that fits (ICMP Fragmentation Needed, ICMPv6
    /// Packet Too Big).
    TooBig { mtu: u16 },
}

/// Fills the IPv4 and ICMP headers of `datagram` = 20-byte IPv4 header, 8-byte ICMP header, then the quoted
/// packet, which is already in place. TOS 0xc0 (internetwork control, as routers send their errors), TTL 64, no
/// fragmentation (the datagram is at most 576 bytes).
pub fn write_ipv4_error(datagram: &mut [u8], source: Ipv4Addr, destination: Ipv4Addr, kind: ErrorKind) -> Option<()> {
    let total_len = u16::try_from(datagram.len()).ok()?;
    let (header, message) = datagram.split_first_chunk_mut::<{ ipv4::MIN_HEADER_LEN }>()?;
    ipv4::write_header(
        header,
        &ipv4::OuterIpv4 {
            src: source,
            dst: destination,
            protocol: ipv4::PROTOCOL_ICMP,
            ttl: 64,
            ecn: 0,
            payload_len: total_len - ipv4::MIN_HEADER_LEN as u16,
            checksum_offloaded: true,
        },
    );
    header[1] = 0xc0;
    header[6] = 0; // DF clear: the error may be fragmented on its way back.
    let sum = checksum::checksum(header);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    let (kind, code, rest) = match kind {
        ErrorKind::TimeExceeded => (ICMP_TIME_EXCEEDED, 0, 0u32),
        ErrorKind::TooBig { mtu } => (ICMP_DESTINATION_UNREACHABLE, ICMP_CODE_FRAGMENTATION_NEEDED, u32::from(mtu)),
    };
    write_icmp_header(message, kind, code, rest, 0)
}

/// Fills the IPv6 and ICMPv6 headers of `datagram` = 40-byte IPv6 header, 8-byte ICMPv6 header, then the quoted
/// packet. Hop limit 64; the ICMPv6 checksum covers the pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1).
pub fn write_ipv6_error(datagram: &mut [u8], source: Ipv6Addr, destination: Ipv6Addr, kind: ErrorKind) -> Option<()> {
    let (header, message) = datagram.split_first_chunk_mut::<{ ipv6::HEADER_LEN }>()?;
    let payload_len = u16::try_from(message.len()).ok()?;
    ipv6::write_header(
        header,
        &ipv6::OuterIpv6 {
            src: source,
            dst: destination,
            next_header: ipv6::NEXT_HEADER_ICMPV6,
            hop_limit: 64,
            ecn: 0,
            payload_len,
        },
    );
    let (kind, code, rest) = match kind {
        ErrorKind::TimeExceeded => (ICMPV6_TIME_EXCEEDED, 0, 0u32),
        ErrorKind::TooBig { mtu } => (ICMPV6_PACKET_TOO_BIG, 0, u32::from(mtu)),
    };
    let pseudo = [
        checksum::sum(&source.octets()),
        checksum::sum(&destination.octets()),
        checksum::sum(&u32::from(payload_len).to_be_bytes()),
        u16::from(ipv6::NEXT_HEADER_ICMPV6),
    ];
    let pseudo = pseudo.into_iter().fold(0, checksum::combine);
    write_icmp_header(message, kind, code, rest, pseudo)
}

/// Type, code, the 32-bit field after the checksum, then the checksum over the message plus `pseudo`.
fn write_icmp_header(message: &mut [u8], kind: u8, code: u8, rest: u32, pseudo: u16) -> Option<()> {
    let header = message.first_chunk_mut::<HEADER_LEN>()?;
    header[0] = kind;
    header[1] = code;
    header[2..4].copy_from_slice(&[0, 0]);
    header[4..8].copy_from_slice(&rest.to_be_bytes());
    let sum = !checksum::combine(checksum::sum(message), pseudo);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(())
}
