//! ICMP errors for plain packets that cannot go into their tunnel, decoded with etherparse: type, code, MTU,
//! both checksums, the addresses, and the quoted packet.

use super::*;
use etherparse::{
    icmpv4::DestUnreachableHeader, icmpv6, Icmpv4Header, Icmpv4Type, Icmpv6Header, Icmpv6Type, NetSlice, SlicedPacket,
    TransportSlice,
};
use std::sync::atomic::{AtomicU64, Ordering};

pub(super) const SGI4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const SGI6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x50, 0, 0, 0, 0, 1);
const ACCESS4: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 1);
const ACCESS6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 0, 0, 0, 0, 1);
/// UE A's tunnel is over IPv6: 40 + 8 bytes of overhead on the 1500-byte `core` link.
const TUNNEL_MTU_A: u16 = 1500 - 48;
const TUNNEL_MTU_B: u16 = 1500 - 28;

/// The standard gateway with ICMP sources on the plain-side ports.
fn with_sources(per_second: u32, clock: Clock) -> Gateway {
    let mut config = config();
    config.ports[SGI.get()].icmp_source_v4 = Some(SGI4);
    config.ports[SGI.get()].icmp_source_v6 = Some(SGI6);
    config.ports[ACCESS.get()].icmp_source_v4 = Some(ACCESS4);
    config.ports[ACCESS.get()].icmp_source_v6 = Some(ACCESS6);
    config.icmp_errors_per_second = per_second;
    config.clock = clock;
    Gateway::new(&config, &[lma_a(), lma_b(), mag_a(), mag_b()])
}

fn gateway() -> Gateway {
    with_sources(1000, Clock::monotonic())
}

/// An IPv4 UDP packet of `len` bytes in all, DF as given.
pub(super) fn udp4_of(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, len: usize, df: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let payload = vec![0x5a; len - 28];
    PacketBuilder::ipv4(src.octets(), dst.octets(), ttl).udp(40000, 33333).write(&mut out, &payload).unwrap();
    let (mut header, _) = etherparse::Ipv4Header::from_slice(&out).unwrap();
    header.dont_fragment = df;
    header.header_checksum = header.calc_header_checksum();
    out[..20].copy_from_slice(&header.to_bytes());
    out
}

fn udp6_of(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let payload = vec![0xa5; len - 48];
    PacketBuilder::ipv6(src.octets(), dst.octets(), hop_limit).udp(40000, 33333).write(&mut out, &payload).unwrap();
    out
}

/// What an ICMP error frame says, every checksum verified by etherparse.
#[derive(Debug)]
struct Error {
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    /// ICMPv4 (type, code, MTU) or ICMPv6 (type, code, MTU).
    kind: (u8, u8, u32),
    quote: Vec<u8>,
    ip_len: usize,
}

fn decode_error(frame: &[u8]) -> Error {
    let sliced = SlicedPacket::from_ethernet(frame).expect("an Ethernet frame");
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = &sliced.link else { panic!("Ethernet II") };
    let error = decode_error_ip(&frame[14..]);
    assert_eq!(frame.len(), 14 + error.ip_len, "no padding, lengths agree");
    Error { eth_dst: eth.destination(), eth_src: eth.source(), ..error }
}

/// [`decode_error`] of an IP packet (one that came out of a tunnel); no link-layer addresses.
fn decode_error_ip(ip: &[u8]) -> Error {
    let sliced = SlicedPacket::from_ip(ip).expect("an IP packet");
    let (src, dst, ip_len, pseudo) = match sliced.net.as_ref().expect("an IP header") {
        NetSlice::Ipv4(ip) => {
            let header = ip.header().to_header();
            assert_eq!(header.header_checksum, header.calc_header_checksum(), "IPv4 header checksum");
            assert_eq!((header.time_to_live, header.protocol), (64, IpNumber::ICMP));
            (header.source.into(), header.destination.into(), usize::from(header.total_len), None)
        }
        NetSlice::Ipv6(ip) => {
            let header = ip.header().to_header();
            assert_eq!(header.next_header, IpNumber::IPV6_ICMP);
            let len = 40 + usize::from(header.payload_length);
            (header.source.into(), header.destination.into(), len, Some((header.source, header.destination)))
        }
    };
    assert_eq!(ip.len(), ip_len, "the IP length covers the packet");
    let (kind, quote) = match sliced.transport.expect("an ICMP message") {
        TransportSlice::Icmpv4(icmp) => {
            let checksum = Icmpv4Header::with_checksum(icmp.icmp_type(), icmp.payload()).checksum;
            assert_eq!(icmp.checksum(), checksum, "ICMP checksum");
            let kind = match icmp.icmp_type() {
                Icmpv4Type::TimeExceeded(code) => (11, code as u8, 0),
                Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded { next_hop_mtu }) => {
                    (3, 4, u32::from(next_hop_mtu))
                }
                other => panic!("unexpected {other:?}"),
            };
            (kind, icmp.payload().to_vec())
        }
        TransportSlice::Icmpv6(icmp) => {
            let (source, destination) = pseudo.unwrap();
            let checksum = Icmpv6Header::with_checksum(icmp.icmp_type(), source, destination, icmp.payload()).unwrap();
            assert_eq!(icmp.checksum(), checksum.checksum, "ICMPv6 checksum");
            let kind = match icmp.icmp_type() {
                Icmpv6Type::TimeExceeded(code) => (3, code as u8, 0),
                Icmpv6Type::PacketTooBig { mtu } => (2, 0, mtu),
                other => panic!("unexpected {other:?}"),
            };
            (kind, icmp.payload().to_vec())
        }
        other => panic!("not ICMP: {other:?}"),
    };
    Error { eth_dst: [0; 6], eth_src: [0; 6], src, dst, kind, quote, ip_len }
}

/// Runs a frame that must come back as an ICMP error on `port`, counted under `reason` and as sent.
#[track_caller]
fn assert_answered(gateway: &Gateway, port: PortIndex, frame: &[u8], reason: DropReason) -> Error {
    let before = gateway.snapshot();
    let (verdict, output) = gateway.run(port, frame);
    assert_eq!(verdict, Verdict::Forward(port), "sent back where it came from");
    let after = gateway.snapshot();
    assert_eq!(after.drops(reason), before.drops(reason) + 1, "the packet still counts under {reason}");
    assert_eq!(after.icmp_errors_sent, before.icmp_errors_sent + 1);
    let error = decode_error(output.data());
    assert_eq!(error.eth_dst, PEER_MAC, "to the neighbour the packet came from");
    assert_eq!(error.eth_src, MAC[port.get()].0);
    error
}

#[test]
fn too_big_for_the_tunnel_with_df_gets_fragmentation_needed_with_the_tunnel_mtu() {
    let gateway = gateway();
    // 1480 bytes towards UE A (tunnel over IPv6): 1528 on the 1500-byte core link.
    let ip = udp4_of(CN4, UE_A4, 64, 1480, true);
    let error = assert_answered(&gateway, SGI, &plain(&ip), DropReason::OverMtu);
    assert_eq!((error.src, error.dst), (SGI4.into(), CN4.into()));
    assert_eq!(error.kind, (3, 4, u32::from(TUNNEL_MTU_A)));
    // RFC 1812 §4.3.2.3: as much of the packet as fits in 576 bytes.
    assert_eq!(error.ip_len, 576);
    assert_eq!(error.quote, ip[..576 - 28]);
    // The largest packet that fits goes through; over IPv4 transport 20 bytes more fit.
    let fits = udp4_of(CN4, UE_A4, 64, usize::from(TUNNEL_MTU_A), true);
    assert_eq!(gateway.run(SGI, &plain(&fits)).0, Verdict::Forward(CORE));
    let error = assert_answered(&gateway, SGI, &plain(&udp4_of(CN4, UE_B4, 64, 1480, true)), DropReason::OverMtu);
    assert_eq!(error.kind, (3, 4, u32::from(TUNNEL_MTU_B)));
}

#[test]
fn too_big_ipv6_gets_packet_too_big_quoting_up_to_1280_bytes() {
    let gateway = gateway();
    let ip = udp6_of(CN6, UE_A6, 64, 1500);
    let error = assert_answered(&gateway, SGI, &plain(&ip), DropReason::OverMtu);
    assert_eq!((error.src, error.dst), (SGI6.into(), CN6.into()));
    assert_eq!(error.kind, (2, 0, u32::from(TUNNEL_MTU_A)));
    assert_eq!(error.ip_len, 1280, "RFC 4443 §2.4(c): no more than the minimum MTU");
    assert_eq!(error.quote, ip[..1280 - 48]);
    // A MAG's uplink: the UE is told, from the access port's address.
    let ip = udp6_of(UE_B6, CN6, 64, 1500);
    let error = assert_answered(&gateway, ACCESS, &plain(&ip), DropReason::OverMtu);
    assert_eq!((error.src, error.dst), (ACCESS6.into(), UE_B6.into()));
    assert_eq!(error.kind, (2, 0, u32::from(TUNNEL_MTU_B)));
}

#[test]
fn an_expiring_ttl_gets_time_exceeded_quoting_the_packet_as_it_arrived() {
    let gateway = gateway();
    for (port, ip, source) in [
        (SGI, udp4(CN4, UE_A4, 1), std::net::IpAddr::from(SGI4)),
        (SGI, udp6(CN6, UE_B6, 1), SGI6.into()),
        (ACCESS, udp4(UE_A4, CN4, 1), ACCESS4.into()),
        (ACCESS, udp6(UE_A6, CN6, 1), ACCESS6.into()),
    ] {
        let error = assert_answered(&gateway, port, &plain(&ip), DropReason::TtlExpired);
        assert_eq!(error.src, source);
        let (code_type, code) = if source.is_ipv4() { (11, 0) } else { (3, 0) };
        assert_eq!(error.kind, (code_type, code, 0));
        assert_eq!(error.quote, ip, "small packets are quoted whole, TTL untouched");
    }
}

#[test]
fn no_error_answers_an_error_a_later_fragment_a_group_or_a_packet_without_df() {
    let gateway = gateway();
    // IPv4 without DF: fragmented (`fragments.rs`), never "fragmentation needed".
    let (verdict, _) = gateway.run(SGI, &plain(&udp4_of(CN4, UE_A4, 64, 1480, false)));
    assert_eq!(verdict, Verdict::Fragment(CORE));
    // An ICMP error (Destination Unreachable) about to expire.
    let mut unreachable = Vec::new();
    PacketBuilder::ipv4(CN4.octets(), UE_A4.octets(), 1)
        .icmpv4(Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port))
        .write(&mut unreachable, &udp4(UE_A4, CN4, 64))
        .unwrap();
    gateway.assert_dropped(SGI, &plain(&unreachable), DropReason::TtlExpired);
    let mut unreachable6 = Vec::new();
    PacketBuilder::ipv6(CN6.octets(), UE_A6.octets(), 1)
        .icmpv6(Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port))
        .write(&mut unreachable6, &udp6(UE_A6, CN6, 64))
        .unwrap();
    gateway.assert_dropped(SGI, &plain(&unreachable6), DropReason::TtlExpired);
    // ... but an echo request is answered.
    let mut echo = Vec::new();
    PacketBuilder::ipv4(CN4.octets(), UE_A4.octets(), 1).icmpv4_echo_request(1, 1).write(&mut echo, b"ping").unwrap();
    assert_answered(&gateway, SGI, &plain(&echo), DropReason::TtlExpired);
    // A fragment other than the first.
    let mut fragment = udp4(CN4, UE_A4, 1);
    let (mut header, _) = etherparse::Ipv4Header::from_slice(&fragment).unwrap();
    header.fragment_offset = etherparse::IpFragOffset::try_new(100).unwrap();
    header.header_checksum = header.calc_header_checksum();
    fragment[..20].copy_from_slice(&header.to_bytes());
    gateway.assert_dropped(SGI, &plain(&fragment), DropReason::TtlExpired);
    // From an address that is no host's.
    gateway.assert_dropped(SGI, &plain(&udp4(Ipv4Addr::UNSPECIFIED, UE_A4, 1)), DropReason::TtlExpired);
    gateway.assert_dropped(SGI, &plain(&udp4(Ipv4Addr::new(224, 0, 0, 9), UE_A4, 1)), DropReason::TtlExpired);
    // Sent to a link-layer group.
    let mut broadcast = plain(&udp4(CN4, UE_A4, 1));
    broadcast[..6].copy_from_slice(&[0xff; 6]);
    gateway.assert_dropped(SGI, &broadcast, DropReason::TtlExpired);
    // A port without a source address of the family says nothing.
    let quiet = Gateway::new(&config(), &[lma_a()]);
    quiet.assert_dropped(SGI, &plain(&udp4(CN4, UE_A4, 1)), DropReason::TtlExpired);
    assert_eq!(gateway.snapshot().icmp_rate_limited, 0);
}

static NOW: AtomicU64 = AtomicU64::new(0);

#[test]
fn errors_are_rate_limited_per_worker() {
    fn now() -> u64 {
        NOW.load(Ordering::Relaxed)
    }
    // 20 per second: one every 50 ms, in bursts of 2.
    let gateway = with_sources(20, Clock(now));
    let expiring = plain(&udp4(CN4, UE_A4, 1));
    let mut answered = 0;
    for _ in 0..5 {
        answered += usize::from(gateway.run(SGI, &expiring).0 == Verdict::Forward(SGI));
    }
    assert_eq!(answered, 2, "the burst");
    let snapshot = gateway.snapshot();
    assert_eq!((snapshot.icmp_errors_sent, snapshot.icmp_rate_limited), (2, 3));
    assert_eq!(snapshot.drops(DropReason::TtlExpired), 5, "every packet counted under its reason");
    // A held-back error leaves the packet as it came.
    gateway.assert_dropped(SGI, &expiring, DropReason::TtlExpired);
    NOW.store(50_000_000, Ordering::Relaxed);
    assert_eq!(gateway.run(SGI, &expiring).0, Verdict::Forward(SGI), "one more after one interval");
    assert_eq!(gateway.run(SGI, &expiring).0, Verdict::Drop(DropReason::TtlExpired));
    // Zero per second sends none.
    let silent = with_sources(0, Clock::monotonic());
    silent.assert_dropped(SGI, &expiring, DropReason::TtlExpired);
}

/// Runs a tunnelled frame whose inner packet must be answered back through the same tunnel: the error is
/// encapsulated towards the peer with the binding's sending key.
#[track_caller]
fn assert_answered_through_tunnel(gateway: &Gateway, frame: &[u8], reason: DropReason) -> (Encapsulated, Error) {
    let before = gateway.snapshot();
    let (verdict, output) = gateway.run(CORE, frame);
    assert_eq!(verdict, Verdict::Forward(CORE), "back into the tunnel");
    let after = gateway.snapshot();
    assert_eq!(after.drops(reason), before.drops(reason) + 1, "the packet still counts under {reason}");
    assert_eq!(after.icmp_errors_sent, before.icmp_errors_sent + 1);
    assert_eq!((after.encapsulated, after.decapsulated), (before.encapsulated, before.decapsulated));
    let tunnel = decode_encapsulated(output.data());
    let error = decode_error_ip(&tunnel.inner);
    (tunnel, error)
}

#[test]
fn a_tunnelled_packet_at_the_end_of_its_ttl_is_answered_through_its_tunnel() {
    let gateway = gateway();
    // LMA uplink from UE B (tunnel over IPv4): traceroute's first hop from the UE is the LMA.
    let inner = udp4(UE_B4, CN4, 1);
    let frame = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &inner));
    let (tunnel, error) = assert_answered_through_tunnel(&gateway, &frame, DropReason::TtlExpired);
    assert_eq!((tunnel.outer_src, tunnel.outer_dst, tunnel.key), (LMAA4.into(), PCOA4.into(), DL_B));
    assert_eq!(tunnel.protocol, 0x0800);
    assert_eq!((error.src, error.dst), (SGI4.into(), UE_B4.into()), "from the LMA's SGi address");
    assert_eq!(error.kind, (11, 0, 0));
    assert_eq!(error.quote, inner);
    // MAG downlink to UE A (tunnel over IPv6): back to the LMA with the uplink key, from the access address.
    let inner = udp6(CN6, UE_A6, 1);
    let frame = frame6(LMAA6, PCOA6, 47, &gre_keyed(DL_A, &inner));
    let (tunnel, error) = assert_answered_through_tunnel(&gateway, &frame, DropReason::TtlExpired);
    assert_eq!((tunnel.outer_src, tunnel.outer_dst, tunnel.key), (PCOA6.into(), LMAA6.into(), UL_A));
    assert_eq!(tunnel.protocol, 0x86dd);
    assert_eq!((error.src, error.dst), (ACCESS6.into(), CN6.into()));
    assert_eq!(error.kind, (3, 0, 0));
    assert_eq!(error.quote, inner);
}

#[test]
fn a_tunnelled_packet_too_big_for_its_egress_is_answered_through_its_tunnel() {
    let mut config = config();
    config.ports[SGI.get()].mtu = 1280;
    config.ports[SGI.get()].icmp_source_v4 = Some(SGI4);
    config.ports[SGI.get()].icmp_source_v6 = Some(SGI6);
    let gateway = Gateway::new(&config, &[lma_a(), lma_b()]);
    let inner = udp4_of(UE_B4, CN4, 64, 1400, true);
    let (tunnel, error) = assert_answered_through_tunnel(
        &gateway,
        &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &inner)),
        DropReason::OverMtu,
    );
    assert_eq!(tunnel.key, DL_B);
    assert_eq!((error.src, error.dst, error.kind), (SGI4.into(), UE_B4.into(), (3, 4, 1280)));
    assert_eq!(error.quote, inner[..576 - 28]);
    let inner = udp6_of(UE_A6, CN6, 64, 1400);
    let (tunnel, error) = assert_answered_through_tunnel(
        &gateway,
        &frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &inner)),
        DropReason::OverMtu,
    );
    assert_eq!((tunnel.key, error.kind), (DL_A, (2, 0, 1280)));
    assert_eq!(error.dst, std::net::IpAddr::from(UE_A6));
    // Without DF: fragmented (`fragments.rs`), never answered.
    let frame = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4_of(UE_B4, CN4, 64, 1400, false)));
    assert_eq!(gateway.run(CORE, &frame).0, Verdict::Fragment(SGI));
}

/// A MAG's access port may have only a link-local IPv6 address: it answers the UEs on its link with it, but never
/// a host at the far end of a tunnel, for which a link-local source means nothing.
#[test]
fn a_link_local_source_answers_only_on_its_link() {
    let mut config = config();
    let link_local: Ipv6Addr = "fe80::ff:fe00:aa01".parse().unwrap();
    config.ports[ACCESS.get()].icmp_source_v6 = Some(link_local);
    let gateway = Gateway::new(&config, &[mag_a(), mag_b()]);
    let error = assert_answered(&gateway, ACCESS, &plain(&udp6(UE_A6, CN6, 1)), DropReason::TtlExpired);
    assert_eq!((error.src, error.dst), (link_local.into(), UE_A6.into()));
    let downlink = frame6(LMAA6, PCOA6, 47, &gre_keyed(DL_A, &udp6(CN6, UE_A6, 1)));
    gateway.assert_dropped(CORE, &downlink, DropReason::TtlExpired);
}
