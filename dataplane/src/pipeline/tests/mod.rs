//! Pipeline tests over byte buffers: inputs built with etherparse or taken from the shared vectors, outputs
//! decoded with etherparse (GRE fields checked by hand), every drop checked against its reason counter.

mod adversarial;
mod concurrency;
mod directions;
mod fragments;
mod icmp;
mod lane;
mod lookups;
mod next_hops;
mod punt;

use super::*;
use crate::binding::{Binding, Function, TunnelEndpoints};
use crate::packet::VecPacket;
use crate::tables::{TableConfig, UpdateSender};
use crate::wire::ethernet::MacAddr;
use crate::PortIndex;
use etherparse::{IpNumber, PacketBuilder};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub const CORE: PortIndex = PortIndex(0);
pub const SGI: PortIndex = PortIndex(1);
pub const ACCESS: PortIndex = PortIndex(2);

pub const MAC: [MacAddr; 3] =
    [MacAddr([0x02, 0, 0, 0, 0, 0x10]), MacAddr([0x02, 0, 0, 0, 0, 0x11]), MacAddr([0x02, 0, 0, 0, 0, 0x12])];
pub const NEXT_HOP: [MacAddr; 3] =
    [MacAddr([0x02, 0, 0, 0, 0, 0x20]), MacAddr([0x02, 0, 0, 0, 0, 0x21]), MacAddr([0x02, 0, 0, 0, 0, 0x22])];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

// The shared vectors' addresses and keys (testdata/vectors/README.md) for UE A, and a second UE B.
pub const LMAA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const PCOA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const LMAA4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const PCOA4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const UE_A4: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 2);
pub const UE_A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 1, 0, 0, 0, 1);
pub const UE_B4: Ipv4Addr = Ipv4Addr::new(10, 45, 0, 3);
pub const UE_B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 2, 0, 0, 0, 1);
pub const CN4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
pub const CN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
pub const UL_A: u32 = 0x0a0b_0c0d;
pub const DL_A: u32 = 0x0001_0001;
pub const UL_B: u32 = 0x0a0b_0c0e;
pub const DL_B: u32 = 0x0001_0002;

fn port(roles: Roles, index: PortIndex) -> PortConfig {
    PortConfig {
        roles,
        mac: MAC[index.get()],
        next_hop_mac: Some(NEXT_HOP[index.get()]),
        mtu: 1500,
        tx_ipv4_checksum_offload: false,
        icmp_source_v4: None,
        icmp_source_v6: None,
        outer_dscp: Default::default(),
    }
}

/// Both functions in one box: port 0 `core`, port 1 `sgi`, port 2 `access`.
pub fn config() -> PipelineConfig {
    PipelineConfig {
        ports: vec![
            port(Roles { core: true, ..Roles::default() }, CORE),
            port(Roles { sgi: true, ..Roles::default() }, SGI),
            port(Roles { access: true, ..Roles::default() }, ACCESS),
        ],
        lmaa: vec![LMAA6.into(), LMAA4.into()],
        proxy_coa: vec![PCOA6.into(), PCOA4.into()],
        ..PipelineConfig::default()
    }
}

/// UE A is tunnelled over IPv6, UE B over IPv4.
pub fn lma_a() -> Binding {
    Binding {
        function: Function::Lma,
        tunnel: TunnelEndpoints::Ipv6 { local: LMAA6, remote: PCOA6 },
        uplink_key: Some(UL_A),
        downlink_key: Some(DL_A),
        ue_ipv4: Some(UE_A4),
        ue_ipv6_prefix: Some(Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 1, 0, 0, 0, 0)),
        next_hop: Default::default(),
    }
}
pub fn lma_b() -> Binding {
    Binding {
        function: Function::Lma,
        tunnel: TunnelEndpoints::Ipv4 { local: LMAA4, remote: PCOA4 },
        uplink_key: Some(UL_B),
        downlink_key: Some(DL_B),
        ue_ipv4: Some(UE_B4),
        ue_ipv6_prefix: Some(Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 2, 0, 0, 0, 0)),
        next_hop: Default::default(),
    }
}
pub fn mag_a() -> Binding {
    Binding { function: Function::Mag, tunnel: TunnelEndpoints::Ipv6 { local: PCOA6, remote: LMAA6 }, ..lma_a() }
}
pub fn mag_b() -> Binding {
    Binding { function: Function::Mag, tunnel: TunnelEndpoints::Ipv4 { local: PCOA4, remote: LMAA4 }, ..lma_b() }
}

/// A worker's pipeline with the control side's handle next to it.
pub struct Gateway {
    pub sender: UpdateSender,
    pub fast_path: FastPath,
}

impl Gateway {
    pub fn new(config: &PipelineConfig, bindings: &[Binding]) -> Self {
        let mut sender =
            UpdateSender::new(TableConfig { capacity: 64, queue_depth: 64, queue_wait: Duration::from_millis(10) });
        for binding in bindings {
            sender.install(*binding).unwrap();
        }
        let tables = sender.add_worker().unwrap();
        let fast_path = FastPath::new(config, tables).unwrap();
        Gateway { sender, fast_path }
    }

    /// The two-function gateway with UE A and B bound on both.
    pub fn standard() -> Self {
        Self::new(&config(), &[lma_a(), lma_b(), mag_a(), mag_b()])
    }

    pub fn run(&self, port: PortIndex, frame: &[u8]) -> (Verdict, VecPacket) {
        self.run_packet(port, VecPacket::new(frame))
    }

    pub fn run_packet(&self, port: PortIndex, mut packet: VecPacket) -> (Verdict, VecPacket) {
        let verdict = self.fast_path.process(port, &mut packet);
        (verdict, packet)
    }

    pub fn snapshot(&self) -> crate::counters::CountersSnapshot {
        self.fast_path.counters().snapshot()
    }

    /// Runs a frame that must be dropped for `reason`, and checks it was counted there and nowhere else.
    #[track_caller]
    pub fn assert_dropped(&self, port: PortIndex, frame: &[u8], reason: DropReason) {
        let before = self.snapshot();
        let (verdict, packet) = self.run(port, frame);
        assert_eq!(verdict, Verdict::Drop(reason));
        assert_eq!(packet.data(), frame, "a dropped packet is left untouched");
        let after = self.snapshot();
        assert_eq!(after.drops(reason), before.drops(reason) + 1, "counted under {reason}");
        assert_eq!(after.total_drops(), before.total_drops() + 1, "and only there");
        assert_eq!(after.encapsulated + after.decapsulated, before.encapsulated + before.decapsulated);
    }
}

// ---- packet builders (etherparse) ----

pub fn ethernet(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + l3.len());
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x10]);
    frame.extend_from_slice(&PEER_MAC);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(l3);
    frame
}

pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src.octets(), dst.octets(), ttl).udp(40000, 33333).write(&mut out, b"hello-pmip").unwrap();
    out
}

pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(src.octets(), dst.octets(), hop_limit)
        .udp(40000, 33333)
        .write(&mut out, b"hello-pmip6")
        .unwrap();
    out
}

/// `GRE(K) | inner` with the protocol type of the inner packet's version.
pub fn gre_keyed(key: u32, inner: &[u8]) -> Vec<u8> {
    let protocol: u16 = if inner.first().is_some_and(|b| b >> 4 == 6) { 0x86dd } else { 0x0800 };
    gre_raw(0x2000, protocol, &key.to_be_bytes(), inner)
}

pub fn gre_raw(flags: u16, protocol: u16, optional: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(optional);
    out.extend_from_slice(inner);
    out
}

/// An Ethernet frame carrying `payload` in IPv4 with protocol `protocol`.
pub fn frame4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, MAC[CORE.get()].0)
        .ipv4(src.octets(), dst.octets(), 64)
        .write(&mut out, IpNumber(protocol), payload)
        .unwrap();
    out
}

/// An Ethernet frame carrying `payload` in IPv6 with next header `next_header` (the header is etherparse's; the
/// payload is taken as is, so it may start with hand-made extension headers).
pub fn frame6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let header = etherparse::Ipv6Header {
        traffic_class: 0,
        flow_label: etherparse::Ipv6FlowLabel::ZERO,
        payload_length: payload.len() as u16,
        next_header: IpNumber(next_header),
        hop_limit: 64,
        source: src.octets(),
        destination: dst.octets(),
    };
    let mut ip = header.to_bytes().to_vec();
    ip.extend_from_slice(payload);
    ethernet(0x86dd, &ip)
}

/// An IP packet (no link layer) framed for a UE- or PDN-facing port.
pub fn plain(ip: &[u8]) -> Vec<u8> {
    let ethertype = if ip.first().is_some_and(|b| b >> 4 == 6) { 0x86dd } else { 0x0800 };
    ethernet(ethertype, ip)
}

// ---- independent decoding of outputs ----

/// What an encapsulated output frame says, read with etherparse and a hand check of the GRE header.
#[derive(Debug)]
pub struct Encapsulated {
    pub eth_dst: [u8; 6],
    pub eth_src: [u8; 6],
    pub outer_src: std::net::IpAddr,
    pub outer_dst: std::net::IpAddr,
    pub outer_hop_limit: u8,
    pub outer_dscp: u8,
    pub outer_ecn: u8,
    pub protocol: u16,
    pub key: u32,
    pub inner: Vec<u8>,
}

#[track_caller]
pub fn decode_encapsulated(frame: &[u8]) -> Encapsulated {
    let sliced = etherparse::SlicedPacket::from_ethernet(frame).expect("etherparse reads the frame");
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = sliced.link else { panic!("no Ethernet II header") };
    let (outer_src, outer_dst, outer_hop_limit, (outer_dscp, outer_ecn), payload) = match sliced
        .net
        .expect("an IP header")
    {
        etherparse::NetSlice::Ipv4(ip) => {
            let header = ip.header().to_header();
            assert_eq!(eth.ether_type(), etherparse::EtherType::IPV4);
            assert_eq!(header.header_checksum, header.calc_header_checksum(), "outer IPv4 checksum");
            assert_eq!(usize::from(header.total_len), frame.len() - 14, "outer total length covers the frame");
            assert!(header.dont_fragment && !header.more_fragments && header.fragment_offset.value() == 0);
            assert_eq!(ip.payload().ip_number, IpNumber::GRE);
            (
                Ipv4Addr::from(header.source).into(),
                Ipv4Addr::from(header.destination).into(),
                header.time_to_live,
                (header.dscp.value(), header.ecn.value()),
                ip.payload().payload,
            )
        }
        etherparse::NetSlice::Ipv6(ip) => {
            let header = ip.header().to_header();
            assert_eq!(eth.ether_type(), etherparse::EtherType::IPV6);
            assert_eq!(usize::from(header.payload_length), frame.len() - 54, "outer payload length covers the frame");
            assert_eq!(ip.payload().ip_number, IpNumber::GRE);
            (
                Ipv6Addr::from(header.source).into(),
                Ipv6Addr::from(header.destination).into(),
                header.hop_limit,
                (header.traffic_class >> 2, header.traffic_class & 0x03),
                ip.payload().payload,
            )
        }
    };
    assert!(payload.len() >= 8, "a keyed GRE header");
    assert_eq!(&payload[..2], &[0x20, 0x00], "K only, version 0");
    Encapsulated {
        eth_dst: eth.destination(),
        eth_src: eth.source(),
        outer_src,
        outer_dst,
        outer_hop_limit,
        outer_dscp,
        outer_ecn,
        protocol: u16::from_be_bytes([payload[2], payload[3]]),
        key: u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]),
        inner: payload[8..].to_vec(),
    }
}

/// Checks an IP packet's header with etherparse (IPv4 checksum, lengths) and returns (src, dst, ttl, ecn).
#[track_caller]
pub fn decode_ip(ip: &[u8]) -> (std::net::IpAddr, std::net::IpAddr, u8, u8) {
    let sliced = etherparse::SlicedPacket::from_ip(ip).expect("etherparse reads the IP packet");
    match sliced.net.expect("an IP header") {
        etherparse::NetSlice::Ipv4(v4) => {
            let header = v4.header().to_header();
            assert_eq!(header.header_checksum, header.calc_header_checksum(), "IPv4 checksum");
            assert_eq!(usize::from(header.total_len), ip.len());
            (
                Ipv4Addr::from(header.source).into(),
                Ipv4Addr::from(header.destination).into(),
                header.time_to_live,
                header.ecn.value(),
            )
        }
        etherparse::NetSlice::Ipv6(v6) => {
            let header = v6.header().to_header();
            assert_eq!(usize::from(header.payload_length) + 40, ip.len());
            (
                Ipv6Addr::from(header.source).into(),
                Ipv6Addr::from(header.destination).into(),
                header.hop_limit,
                header.traffic_class & 0x03,
            )
        }
    }
}

/// The Ethernet frames of the shared vectors pcap, read with a minimal libpcap parser.
pub fn shared_vector_frames() -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/vectors/pmipv6_vectors.pcap");
    let bytes = std::fs::read(path).expect("shared vectors in testdata/vectors");
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond pcap");
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 1, "Ethernet link type");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let captured = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        frames.push(bytes[at + 16..at + 16 + captured].to_vec());
        at += 16 + captured;
    }
    assert_eq!(frames.len(), 13);
    frames
}
