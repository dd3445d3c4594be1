//! ARP over Ethernet for IPv4 (RFC 826): the only form the gateway speaks (hardware type 1, protocol 0x0800).

use std::net::Ipv4Addr;

use crate::wire::ethernet::{self, MacAddr};

/// Ethernet header plus the 28-byte ARP body; NICs pad the frame to 60 bytes.
pub const FRAME_LEN: usize = ethernet::HEADER_LEN + BODY_LEN;
const BODY_LEN: usize = 28;
const HARDWARE_ETHERNET: u16 = 1;

/// ARP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Request,
    Reply,
}

/// An ARP message about IPv4 over Ethernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    pub operation: Operation,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

/// Why a frame is not an ARP message the gateway handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    #[error("not an ARP frame")]
    NotArp,
    #[error("ARP frame shorter than {FRAME_LEN} bytes")]
    Truncated,
    #[error("ARP for another hardware or protocol type")]
    Unsupported,
    #[error("ARP operation {0} is neither request (1) nor reply (2)")]
    Operation(u16),
}

/// Parses an Ethernet frame carrying ARP.
pub fn parse(frame: &[u8]) -> Result<ArpPacket, ArpError> {
    let eth = ethernet::EthernetHeader::parse(frame).ok_or(ArpError::Truncated)?;
    if eth.ethertype() != ethernet::ETHERTYPE_ARP {
        return Err(ArpError::NotArp);
    }
    let body = frame.get(ethernet::HEADER_LEN..FRAME_LEN).ok_or(ArpError::Truncated)?;
    let be16 = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    if be16(0) != HARDWARE_ETHERNET || be16(2) != ethernet::ETHERTYPE_IPV4 || body[4] != 6 || body[5] != 4 {
        return Err(ArpError::Unsupported);
    }
    let operation = match be16(6) {
        1 => Operation::Request,
        2 => Operation::Reply,
        other => return Err(ArpError::Operation(other)),
    };
    let mac = |at: usize| MacAddr(body[at..at + 6].try_into().expect("6-byte slice of a 28-byte body"));
    let ip = |at: usize| Ipv4Addr::new(body[at], body[at + 1], body[at + 2], body[at + 3]);
    Ok(ArpPacket { operation, sender_mac: mac(8), sender_ip: ip(14), target_mac: mac(18), target_ip: ip(24) })
}

/// Builds a frame carrying `packet`, Ethernet-addressed to `destination`.
pub fn build(destination: MacAddr, packet: &ArpPacket) -> [u8; FRAME_LEN] {
    let mut frame = [0u8; FRAME_LEN];
    let (eth, body) = frame.split_at_mut(ethernet::HEADER_LEN);
    ethernet::write_header(
        eth.try_into().expect("header-sized"),
        destination,
        packet.sender_mac,
        ethernet::ETHERTYPE_ARP,
    );
    body[0..2].copy_from_slice(&HARDWARE_ETHERNET.to_be_bytes());
    body[2..4].copy_from_slice(&ethernet::ETHERTYPE_IPV4.to_be_bytes());
    body[4] = 6;
    body[5] = 4;
    let op: u16 = match packet.operation {
        Operation::Request => 1,
        Operation::Reply => 2,
    };
    body[6..8].copy_from_slice(&op.to_be_bytes());
    body[8..14].copy_from_slice(&packet.sender_mac.0);
    body[14..18].copy_from_slice(&packet.sender_ip.octets());
    body[18..24].copy_from_slice(&packet.target_mac.0);
    body[24..28].copy_from_slice(&packet.target_ip.octets());
    frame
}

/// The reply to `request` when it asks for `our_ip`, which lives at `our_mac`.
pub fn reply_to(request: &ArpPacket, our_mac: MacAddr, our_ip: Ipv4Addr) -> Option<[u8; FRAME_LEN]> {
    if request.operation != Operation::Request || request.target_ip != our_ip {
        return None;
    }
    let reply = ArpPacket {
        operation: Operation::Reply,
        sender_mac: our_mac,
        sender_ip: our_ip,
        target_mac: request.sender_mac,
        target_ip: request.sender_ip,
    };
    Some(build(request.sender_mac, &reply))
}

/// A broadcast request asking who has `target`.
pub fn request(our_mac: MacAddr, our_ip: Ipv4Addr, target: Ipv4Addr) -> [u8; FRAME_LEN] {
    let packet = ArpPacket {
        operation: Operation::Request,
        sender_mac: our_mac,
        sender_ip: our_ip,
        target_mac: MacAddr::default(),
        target_ip: target,
    };
    build(MacAddr([0xff; 6]), &packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const THEIRS: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    // Field-level decoding by an independent parser is in `tests/neighbor_tshark.rs`.
    #[test]
    fn replies_only_to_requests_for_our_address() {
        let frame = request(OURS, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(&frame[0..6], &[0xff; 6], "broadcast");
        let asked = parse(&request(THEIRS, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1))).unwrap();
        assert!(reply_to(&asked, OURS, Ipv4Addr::new(10, 0, 0, 9)).is_none(), "not our address");
        let reply = reply_to(&asked, OURS, Ipv4Addr::new(10, 0, 0, 1)).expect("ours");
        assert_eq!(&reply[0..6], &THEIRS.0, "unicast back to the asker");
        let parsed = parse(&reply).unwrap();
        assert_eq!(
            parsed,
            ArpPacket {
                operation: Operation::Reply,
                sender_mac: OURS,
                sender_ip: Ipv4Addr::new(10, 0, 0, 1),
                target_mac: THEIRS,
                target_ip: Ipv4Addr::new(10, 0, 0, 2),
            }
        );
        assert!(reply_to(&parsed, OURS, Ipv4Addr::new(10, 0, 0, 1)).is_none(), "replies are not answered");
    }

    #[test]
    fn malformed_frames_are_refused() {
        let good = request(OURS, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        for len in 0..FRAME_LEN {
            assert!(parse(&good[..len]).is_err(), "truncated at {len}");
        }
        let mut bad = good;
        bad[ethernet::HEADER_LEN + 7] = 9;
        assert_eq!(parse(&bad), Err(ArpError::Operation(9)));
        let mut bad = good;
        bad[ethernet::HEADER_LEN + 1] = 6; // hardware type 6 (IEEE 802)
        assert_eq!(parse(&bad), Err(ArpError::Unsupported));
        let mut bad = good;
        bad[12] = 0x08;
        bad[13] = 0x00;
        assert_eq!(parse(&bad), Err(ArpError::NotArp));
    }
}
