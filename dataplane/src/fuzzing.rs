//! The fast path's invariants, checked for any frame: what the fuzz target (`fuzz/fuzz_targets/pipeline.rs`)
//! asserts, and what the kept corpus (`testdata/fuzz/pipeline/`) replays in the tests.
//!
//! One gateway with both functions (LMA and MAG, each with a binding tunnelled over IPv6 and one over IPv4, ICMP
//! sources on the plain ports) takes the frame on each of its ports. Whatever the bytes:
//! - the pipeline returns, without panicking;
//! - the packet has exactly one outcome, counted once: forwarded (encapsulated, decapsulated or answered with an
//!   ICMP error, which also counts its drop reason), punted, or dropped under one reason;
//! - a dropped or punted packet leaves as it came;
//! - a forwarded packet is read by etherparse with valid IPv4 header checksums and lengths that cover the frame,
//!   and an ICMP error's checksum is valid;
//! - the pipeline run by the stages alone, through the prefetching lane (as for a table larger than the cache)
//!   and one packet at a time give the same outcome, the same bytes and the same counts.

use crate::binding::{Binding, Function, TunnelEndpoints};
use crate::counters::CountersSnapshot;
use crate::packet::{PacketBuf, RxChecksum, VecPacket};
use crate::pipeline::{Clock, FastPath, Next, PipelineConfig, PortConfig, Roles, Schedule, Verdict};
use crate::reassembly::{Reassembler, ReassemblyConfig};
use crate::tables::{TableConfig, UpdateSender};
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv4::{self, OuterIpv4};
use crate::wire::ipv6::{self, OuterIpv6};
use crate::PortIndex;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const CORE: PortIndex = PortIndex(0);
/// Every port's MTU.
const MTU: u16 = 1500;
const SGI: PortIndex = PortIndex(1);
const ACCESS: PortIndex = PortIndex(2);
const LMAA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
const PCOA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const LMAA4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PCOA4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// The gateway every frame goes through, and the control side that keeps its tables alive.
pub struct Fixture {
    _sender: UpdateSender,
    fast_path: FastPath,
    /// A second worker with the same bindings, made to run stage by stage (the reference) ...
    staged: FastPath,
    /// ... and a third through the prefetching lane, which a table this small would not take.
    prefetching: FastPath,
    reassembly: std::sync::Mutex<Reassembler<VecPacket>>,
}

impl Fixture {
    pub fn new() -> Self {
        let port = |roles: Roles, last: u8| PortConfig {
            roles,
            mac: MacAddr([2, 0, 0, 0, 0, last]),
            next_hop_mac: Some(MacAddr([2, 0, 0, 0, 1, last])),
            mtu: MTU,
            tx_ipv4_checksum_offload: false,
            icmp_source_v4: Some(Ipv4Addr::new(10, 45, 0, last)),
            icmp_source_v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0x50, 0, 0, 0, 0, u16::from(last))),
            outer_dscp: Default::default(),
        };
        let config = PipelineConfig {
            ports: vec![
                port(Roles { core: true, ..Roles::default() }, 1),
                port(Roles { sgi: true, ..Roles::default() }, 2),
                port(Roles { access: true, ..Roles::default() }, 3),
            ],
            lmaa: vec![LMAA6.into(), LMAA4.into()],
            proxy_coa: vec![PCOA6.into(), PCOA4.into()],
            icmp_errors_per_second: 1_000_000_000,
            clock: Clock::monotonic(),
            ..PipelineConfig::default()
        };
        let mut sender =
            UpdateSender::new(TableConfig { capacity: 64, queue_depth: 64, queue_wait: Duration::from_millis(100) });
        for binding in bindings() {
            sender.install(binding).expect("the fixture's bindings install");
        }
        let tables = sender.add_worker().expect("a worker");
        let fast_path = FastPath::new(&config, tables).expect("a valid pipeline config");
        let mut staged = FastPath::new(&config, sender.add_worker().expect("a worker")).expect("the same config");
        staged.set_schedule(Schedule::Stages);
        let mut prefetching = FastPath::new(&config, sender.add_worker().expect("a worker")).expect("the same config");
        prefetching.set_schedule(Schedule::PrefetchingLane);
        let reassembly = std::sync::Mutex::new(Reassembler::new(ReassemblyConfig::default()));
        Fixture { _sender: sender, fast_path, staged, prefetching, reassembly }
    }

    /// Runs `frame` on every port with every NIC checksum verdict and checks the invariants; panics on a violation.
    pub fn check(&self, frame: &[u8]) {
        for port in [CORE, SGI, ACCESS] {
            for nic in [RxChecksum::Unknown, RxChecksum::Good, RxChecksum::Bad] {
                self.check_one(port, nic, frame);
            }
        }
    }

    /// [`Fixture::check`] for `data` as a frame, and as the payload of the frame shapes the gateway serves, with
    /// lengths and checksums made right (random bytes rarely make a frame the pipeline gets far into): plain IPv4 /
    /// IPv6 from or towards a bound UE, keyed GRE to a tunnel address with a bound key around those, and around
    /// the raw bytes. The first byte picks the TTL (0–3) and the key.
    pub fn check_input(&self, data: &[u8]) {
        self.check(data);
        // The first byte picks a TTL / hop limit and a key; the rest is the payload.
        let Some((&pick, rest)) = data.split_first() else { return };
        let ttl = pick % 4;
        let key = [0x0a0b_0c0d, 0x0a0b_0c0e, 0x0001_0001, 0x0001_0002][usize::from(pick >> 6)];
        let mut inner4 = ipv4([10, 45, 0, 2 + (pick & 1)], [203, 0, 113, 53], 17, ttl, rest);
        let mut towards4 = ipv4([203, 0, 113, 53], [10, 45, 0, 2 + (pick & 1)], 1, ttl, rest);
        if pick & 0x04 != 0 {
            // Without DF: a packet too big for where it goes is cut into fragments.
            clear_dont_fragment(&mut inner4);
            clear_dont_fragment(&mut towards4);
        }
        let ue_a6 = Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, 1, 0, 0, 0, 1);
        let inner6 = ipv6(ue_a6, Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1), 58, rest);
        self.check(&ethernet(0x0800, &inner4));
        self.check(&ethernet(0x0800, &towards4));
        self.check(&ethernet(0x86dd, &inner6));
        let tunnelled4 = ethernet(0x0800, &ipv4([192, 0, 2, 1], [198, 51, 100, 1], 47, 64, &gre(key, 0x0800, &inner4)));
        self.check(&tunnelled4);
        if pick & 0x08 != 0 {
            self.check_reassembly(&tunnelled4, usize::from(pick >> 4) * 8 + 8);
        }
        self.check(&ethernet(0x86dd, &ipv6(PCOA6, LMAA6, 47, &gre(key, 0x86dd, &inner6))));
        self.check(&ethernet(0x86dd, &ipv6(LMAA6, PCOA6, 47, &gre(key, 0x0800, &towards4))));
        // And raw bytes as the inner packet of a tunnel (inner headers of any shape).
        self.check(&ethernet(0x86dd, &ipv6(PCOA6, LMAA6, 47, &gre(key, 0x86dd, rest))));
    }

    fn check_one(&self, port: PortIndex, nic: RxChecksum, frame: &[u8]) {
        let (staged_next, staged_packet, staged_counts) = run_counted(&self.staged, port, nic, frame);
        let (lane_next, lane_packet, lane_counts) = run_counted(&self.prefetching, port, nic, frame);
        assert!(
            (staged_next, staged_packet.data(), &staged_counts) == (lane_next, lane_packet.data(), &lane_counts),
            "the prefetching lane differs on port {port}, NIC {nic:?}: {:?} vs {:?}, {frame:02x?}",
            staged_next.verdict(),
            lane_next.verdict()
        );
        let counters = self.fast_path.counters();
        let before = counters.snapshot();
        let bindings_before = binding_counts(&self.fast_path);
        let mut packet = VecPacket::new(frame);
        packet.rx_checksum = nic;
        let mut next = [Next::PUNT];
        self.fast_path.process_burst(port, std::slice::from_mut(&mut packet), &mut next);
        let verdict = next[0].verdict();
        let after = counters.snapshot();
        let counts = counted(&before, &after, &bindings_before, &binding_counts(&self.fast_path));
        assert!(
            (staged_next, staged_packet.data(), &staged_counts) == (next[0], packet.data(), &counts),
            "the staged run differs on port {port}, NIC {nic:?}: {:?} vs {:?}, {frame:02x?}",
            staged_next.verdict(),
            verdict
        );
        let grew = |a: u64, b: u64| a - b;
        let encapsulated = grew(after.encapsulated, before.encapsulated);
        let decapsulated = grew(after.decapsulated, before.decapsulated);
        let punted = grew(after.punted, before.punted);
        let icmp = grew(after.icmp_errors_sent, before.icmp_errors_sent);
        let drops = grew(after.total_drops(), before.total_drops());
        assert_eq!(grew(after.ports[port.get()].rx_packets, before.ports[port.get()].rx_packets), 1, "received once");
        let what = Run { port, nic, verdict, frame };
        match verdict {
            Verdict::Drop(reason) => {
                assert_eq!(packet.data(), frame, "a dropped packet is unchanged: {what}");
                assert_eq!((drops, after.drops(reason) - before.drops(reason)), (1, 1), "{what}");
                assert_eq!(encapsulated + decapsulated + punted + icmp, 0, "{what}");
            }
            Verdict::Reassemble => {
                assert_eq!(packet.data(), frame, "a fragment for reassembly is unchanged: {what}");
                let held = grew(after.reassembly_fragments, before.reassembly_fragments);
                assert_eq!((held, punted, drops, encapsulated + decapsulated + icmp), (1, 0, 0, 0), "{what}");
            }
            Verdict::Fragment(out) => {
                assert_eq!((punted, drops, icmp), (0, 0, 0), "{what}");
                self.check_fragments(packet, next[0], out, encapsulated + decapsulated, &what);
            }
            Verdict::Punt => {
                assert_eq!(packet.data(), frame, "a punted packet is unchanged: {what}");
                assert_eq!((punted, drops, encapsulated + decapsulated + icmp), (1, 0, 0), "{what}");
            }
            Verdict::Forward(out) => {
                assert!(out <= ACCESS, "{what}");
                assert_eq!(punted, 0, "{what}");
                match (encapsulated, decapsulated, icmp) {
                    (1, 0, 0) | (0, 1, 0) => assert_eq!(drops, 0, "{what}"),
                    (0, 0, 1) => assert_eq!(drops, 1, "an answered packet counts its drop reason: {what}"),
                    other => panic!("one outcome, not {other:?}: {what}"),
                }
                // A plain packet's IPv4 header is the NIC's to vouch for: what it passed goes on unchecked.
                let trusted = nic == RxChecksum::Good && encapsulated == 1;
                check_output(out, packet.data(), icmp == 1, trusted, &what);
            }
        }
    }
}

/// Runs `frame` through `fast_path`: its [`Next`], the packet, and what it counted ([`counted`]).
fn run_counted(fast_path: &FastPath, port: PortIndex, nic: RxChecksum, frame: &[u8]) -> (Next, VecPacket, Vec<u64>) {
    let before = fast_path.counters().snapshot();
    let bindings_before = binding_counts(fast_path);
    let mut packet = VecPacket::new(frame);
    packet.rx_checksum = nic;
    let mut next = [Next::PUNT];
    fast_path.process_burst(port, std::slice::from_mut(&mut packet), &mut next);
    let after = fast_path.counters().snapshot();
    (next[0], packet, counted(&before, &after, &bindings_before, &binding_counts(fast_path)))
}

/// Every binding's counters, slot by slot.
fn binding_counts(fast_path: &FastPath) -> Vec<crate::counters::BindingSnapshot> {
    let records = fast_path.tables().records();
    (0..records.len() as u32).filter_map(|slot| records.counters(slot)).collect()
}

/// What a run added to the counters a packet's way touches: per port, per path, per drop reason, per binding.
fn counted(
    before: &CountersSnapshot,
    after: &CountersSnapshot,
    bindings_before: &[crate::counters::BindingSnapshot],
    bindings_after: &[crate::counters::BindingSnapshot],
) -> Vec<u64> {
    let mut counts: Vec<u64> = before
        .ports
        .iter()
        .zip(&after.ports)
        .flat_map(|(b, a)| [a.rx_packets - b.rx_packets, a.rx_bytes - b.rx_bytes])
        .collect();
    counts.extend([
        after.encapsulated - before.encapsulated,
        after.decapsulated - before.decapsulated,
        after.punted - before.punted,
        after.icmp_errors_sent - before.icmp_errors_sent,
        after.fragmented - before.fragmented,
        after.fragments - before.fragments,
        after.reassembly_fragments - before.reassembly_fragments,
    ]);
    counts.extend(after.drops.0.iter().zip(&before.drops.0).map(|(a, b)| a - b));
    for (a, b) in bindings_after.iter().zip(bindings_before) {
        counts.extend([
            a.uplink_packets - b.uplink_packets,
            a.uplink_bytes - b.uplink_bytes,
            a.downlink_packets - b.downlink_packets,
            a.downlink_bytes - b.downlink_bytes,
        ]);
    }
    counts
}

impl Fixture {
    /// `whole` (an IPv4 frame for a tunnel address) cut into two outer fragments at payload byte `cut`: each goes
    /// to reassembly unchanged, and the packet rebuilt from them, second first, is `whole` byte for byte and
    /// gets the same verdict.
    fn check_reassembly(&self, whole: &[u8], cut: usize) {
        let payload_len = whole.len().saturating_sub(34);
        if cut >= payload_len {
            return;
        }
        let piece = |from: usize, to: usize, more: bool| {
            let mut frame = whole[..34].to_vec();
            frame[16..18].copy_from_slice(&((20 + to - from) as u16).to_be_bytes());
            let field =
                (u16::from_be_bytes([whole[20], whole[21]]) & 0x4000) | u16::from(more) << 13 | (from / 8) as u16;
            frame[20..22].copy_from_slice(&field.to_be_bytes());
            frame[24..26].fill(0);
            let sum = crate::wire::checksum::checksum(&frame[14..34]);
            frame[24..26].copy_from_slice(&sum.to_be_bytes());
            frame.extend_from_slice(&whole[34 + from..34 + to]);
            frame
        };
        let run = Run { port: CORE, nic: RxChecksum::Unknown, verdict: Verdict::Reassemble, frame: whole };
        let mut rebuilt = None;
        let mut table = self.reassembly.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for fragment in [piece(cut, payload_len, false), piece(0, cut, true)] {
            let mut packet = VecPacket::new(&fragment);
            let verdict = self.fast_path.process(CORE, &mut packet);
            assert_eq!(verdict, Verdict::Reassemble, "an outer fragment goes to reassembly: {run}");
            assert_eq!(packet.data(), fragment, "unchanged: {run}");
            let counters = self.fast_path.counters();
            if let Some(packet) = table.add(packet, 0, counters, || Some(VecPacket::new(&[]))) {
                rebuilt = Some(packet);
            }
        }
        let mut rebuilt = rebuilt.unwrap_or_else(|| panic!("two fragments make the packet: {run}"));
        assert_eq!(rebuilt.data(), whole, "rebuilt byte for byte: {run}");
        assert_eq!(table.held(), 0, "{run}");
        let mut original = VecPacket::new(whole);
        let expected = self.fast_path.process(CORE, &mut original);
        let mut next = [Next::PUNT];
        self.fast_path.process_reassembled(CORE, std::slice::from_mut(&mut rebuilt), &mut next);
        assert_eq!(next[0].verdict(), expected, "the rebuilt packet fares as the whole one: {run}");
        assert_eq!(rebuilt.data(), original.data(), "and leaves the same: {run}");
    }

    /// An oversized packet cut into fragments: each fits the port's MTU and reads right, and their data, in
    /// order at their offsets, is the packet's.
    /// The pipeline counted the pieces it planned: `counted`.
    fn check_fragments(&self, packet: VecPacket, next: Next, out: PortIndex, counted: u64, what: &Run) {
        let (_, layout) = next.fragments().unwrap_or_else(|| panic!("a fragment verdict: {what}"));
        let at = layout.inner_at();
        let whole = packet.data().to_vec();
        let inner = &whole[at..];
        let header_len = usize::from(inner[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([inner[2], inner[3]]));
        let mut pieces = Vec::new();
        let made = self.fast_path.fragment(packet, next, || Some(VecPacket::new(&[])), |p| pieces.push(p));
        let Ok(made) = made else { return };
        assert_eq!(made, pieces.len(), "{what}");
        assert_eq!(made as u64, counted, "the pipeline counted the pieces that leave: {what}");
        assert!(made >= 2, "an oversized packet makes two fragments at least: {what}");
        let mut data = Vec::new();
        for piece in &pieces {
            let frame = piece.data();
            assert!(frame.len() - 14 <= usize::from(MTU), "a fragment fits the MTU: {what}");
            assert_eq!(frame[..14], whole[..14], "the same Ethernet header: {what}");
            assert_eq!(frame[14..at].len(), whole[14..at].len(), "{what}");
            if at > 14 {
                assert_eq!(frame[at - 8..at], whole[at - 8..at], "the same GRE header and key: {what}");
            }
            check_output(out, frame, false, false, what);
            let ip = &frame[at..];
            let field = u16::from_be_bytes([ip[6], ip[7]]);
            assert_eq!(usize::from(field & 0x1fff) * 8, data.len(), "fragments follow each other: {what}");
            assert_eq!(ip[4..6], inner[4..6], "one identification: {what}");
            assert_eq!(ip[12..20], inner[12..20], "the same addresses: {what}");
            let last = std::ptr::eq(piece, pieces.last().unwrap_or(piece));
            assert_eq!(field & 0x2000 != 0, !last, "more fragments on all but the last: {what}");
            let len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let own_header = usize::from(ip[0] & 0x0f) * 4;
            data.extend_from_slice(&ip[own_header..len]);
        }
        assert_eq!(data, inner[header_len..total], "the fragments carry the packet: {what}");
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// An LMA and a MAG binding for a UE tunnelled over IPv6 and one over IPv4.
fn bindings() -> Vec<Binding> {
    let lma = |tunnel, ul: u32, dl: u32, ue: u8, prefix: u16| Binding {
        function: Function::Lma,
        tunnel,
        uplink_key: Some(ul),
        downlink_key: Some(dl),
        ue_ipv4: Some(Ipv4Addr::new(10, 45, 0, ue)),
        ue_ipv6_prefix: Some(Ipv6Addr::new(0x2001, 0xdb8, 0xaaaa, prefix, 0, 0, 0, 0)),
        next_hop: Default::default(),
    };
    let a = lma(TunnelEndpoints::Ipv6 { local: LMAA6, remote: PCOA6 }, 0x0a0b_0c0d, 0x0001_0001, 2, 1);
    let b = lma(TunnelEndpoints::Ipv4 { local: LMAA4, remote: PCOA4 }, 0x0a0b_0c0e, 0x0001_0002, 3, 2);
    let mag_a = Binding { function: Function::Mag, tunnel: TunnelEndpoints::Ipv6 { local: PCOA6, remote: LMAA6 }, ..a };
    let mag_b = Binding { function: Function::Mag, tunnel: TunnelEndpoints::Ipv4 { local: PCOA4, remote: LMAA4 }, ..b };
    vec![a, b, mag_a, mag_b]
}

/// The run a check is about, for its message: formatted only when a check fails (formatting every run's frame
/// would cost more than the run).
struct Run<'a> {
    port: PortIndex,
    nic: RxChecksum,
    verdict: Verdict,
    frame: &'a [u8],
}

impl std::fmt::Display for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {}, {:?}, {:?}, frame {:02x?}", self.port, self.nic, self.verdict, self.frame)
    }
}

/// What leaves on `out` must read right: on `core` a keyed GRE packet in a valid outer header around a valid
/// inner one (whose checksum is not ours to check if the NIC vouched for it: `trusted`); elsewhere a valid IP
/// packet filling the frame. An ICMP error the gateway wrote (`answered`) has a valid checksum. Only the IP
/// headers are read: what the packet carries above them passes through as it came.
fn check_output(out: PortIndex, frame: &[u8], answered: bool, trusted: bool, what: &Run) {
    let ip = frame.get(14..).unwrap_or_else(|| panic!("an Ethernet header: {what}"));
    let (ip_len, payload) = check_ip(ip, true, what);
    assert_eq!(ip_len, ip.len(), "the IP length fills the frame: {what}");
    let packet = if out == CORE {
        assert!(payload.len() >= 8 && payload[..2] == [0x20, 0], "keyed GRE: {what}");
        let inner = &payload[8..];
        let (inner_len, _) = check_ip(inner, !trusted, what);
        assert_eq!(inner_len, inner.len(), "the inner length fills the tunnel: {what}");
        inner
    } else {
        ip
    };
    if answered {
        let sliced = SlicedPacket::from_ip(packet).unwrap_or_else(|e| panic!("the ICMP error: {e}: {what}"));
        check_icmp(&sliced, what);
    }
}

/// The IP header's total length and its payload; with `checksum`, the IPv4 header checksum must be right.
fn check_ip<'a>(ip: &'a [u8], checksum: bool, what: &Run) -> (usize, &'a [u8]) {
    match ip.first().map(|b| b >> 4) {
        Some(4) => {
            let slice = etherparse::Ipv4HeaderSlice::from_slice(ip).unwrap_or_else(|e| panic!("IPv4: {e}: {what}"));
            let header = slice.to_header();
            // etherparse's header has no place for the reserved flag bit (RFC 791's bit 0), so its checksum of a
            // header with that bit set would differ from the one on the wire: such a header is not checked.
            let reserved_bit = slice.slice()[6] & 0x80 != 0;
            if checksum && !reserved_bit {
                assert_eq!(header.header_checksum, header.calc_header_checksum(), "IPv4 checksum: {what}");
            }
            let len = usize::from(header.total_len);
            let payload = ip.get(header.header_len()..len).unwrap_or_else(|| panic!("IPv4 length: {what}"));
            (len, payload)
        }
        Some(6) => {
            let header = etherparse::Ipv6HeaderSlice::from_slice(ip).unwrap_or_else(|e| panic!("IPv6: {e}: {what}"));
            let len = 40 + usize::from(header.payload_length());
            (len, ip.get(40..len).unwrap_or_else(|| panic!("IPv6 length: {what}")))
        }
        _ => panic!("not IP: {what}"),
    }
}

/// An ICMP error the gateway wrote: its checksum (with the IPv6 pseudo-header) must be right.
fn check_icmp(sliced: &SlicedPacket, what: &Run) {
    assert!(sliced.transport.is_some(), "an ICMP message etherparse reads: {what}");
    match (&sliced.transport, &sliced.net) {
        (Some(TransportSlice::Icmpv4(icmp)), _) => {
            let expected = etherparse::Icmpv4Header::with_checksum(icmp.icmp_type(), icmp.payload()).checksum;
            assert_eq!(icmp.checksum(), expected, "ICMP checksum: {what}");
        }
        (Some(TransportSlice::Icmpv6(icmp)), Some(NetSlice::Ipv6(ip))) => {
            let header = ip.header();
            let expected = etherparse::Icmpv6Header::with_checksum(
                icmp.icmp_type(),
                header.source(),
                header.destination(),
                icmp.payload(),
            )
            .map(|h| h.checksum);
            assert_eq!(Ok(icmp.checksum()), expected.map_err(|_| ()), "ICMPv6 checksum: {what}");
        }
        _ => {}
    }
}

// ---- frame builders for `check_input` ----

/// IPv4 header + payload with total length and checksum made right (the encapsulator's own header writer).
fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut header = [0u8; ipv4::MIN_HEADER_LEN];
    let payload_len = payload.len().min(0xffff - ipv4::MIN_HEADER_LEN) as u16;
    let fields =
        OuterIpv4 { src: src.into(), dst: dst.into(), protocol, ttl, ecn: 0, payload_len, checksum_offloaded: false };
    ipv4::write_header(&mut header, &fields);
    [&header[..], payload].concat()
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut header = [0u8; ipv6::HEADER_LEN];
    let payload_len = payload.len().min(0xffff) as u16;
    ipv6::write_header(&mut header, &OuterIpv6 { src, dst, next_header, hop_limit: 64, ecn: 0, payload_len });
    [&header[..], payload].concat()
}

/// Clears an IPv4 header's DF bit and makes its checksum right again.
fn clear_dont_fragment(ip: &mut [u8]) {
    if ip.len() >= ipv4::MIN_HEADER_LEN {
        ip[6] &= !0x40;
        ip[10..12].fill(0);
        let sum = crate::wire::checksum::checksum(&ip[..ipv4::MIN_HEADER_LEN]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
    }
}

fn ethernet(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0x99, 0x99];
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(l3);
    frame
}

fn gre(key: u32, protocol: u16, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0x20, 0];
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(&key.to_be_bytes());
    out.extend_from_slice(inner);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input the fuzzer kept (`testdata/fuzz/pipeline/`, minimised; seeded with the shared vectors and
    /// the pipeline tests' frames) holds the invariants: the fuzzer's findings stay found.
    #[test]
    fn the_kept_corpus_holds_the_invariants() {
        let fixture = Fixture::new();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fuzz/pipeline");
        let inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        assert!(inputs.len() >= 50, "the kept corpus is there: {} inputs in {}", inputs.len(), dir.display());
        for input in &inputs {
            fixture.check_input(input);
        }
    }
}
