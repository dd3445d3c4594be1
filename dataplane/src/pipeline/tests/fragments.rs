//! IPv4 packets without DF too big for their egress leave as fragments (`fragment.rs`); outer fragments are
//! rebuilt (`reassembly.rs`) and then decapsulated. Every output is read back with etherparse.

use super::icmp::{udp4_of, SGI4};
use super::*;
use crate::reassembly::{Reassembler, ReassemblyConfig};

/// Runs `frame` (which must come out as fragments on `port`) and cuts it: the pieces, in order.
#[track_caller]
fn fragments_of(gateway: &Gateway, rx: PortIndex, frame: &[u8], port: PortIndex) -> Vec<VecPacket> {
    let mut packet = VecPacket::new(frame);
    let mut next = [Next::PUNT];
    gateway.fast_path.process_burst(rx, std::slice::from_mut(&mut packet), &mut next);
    assert_eq!(next[0].verdict(), Verdict::Fragment(port));
    let mut pieces = Vec::new();
    let made = gateway.fast_path.fragment(packet, next[0], || Some(VecPacket::new(&[])), |p| pieces.push(p));
    assert_eq!(made, Ok(pieces.len()));
    pieces
}

/// One fragment as etherparse reads it: (offset in bytes, more fragments, identification, DF, payload).
#[track_caller]
fn read_fragment(ip: &[u8]) -> (usize, bool, u16, bool, Vec<u8>) {
    let (header, rest) = etherparse::Ipv4Header::from_slice(ip).expect("an IPv4 header");
    assert_eq!(header.header_checksum, header.calc_header_checksum(), "IPv4 checksum");
    let payload_len = usize::from(header.total_len) - header.header_len();
    assert_eq!(rest.len(), payload_len, "total length covers the packet");
    (
        usize::from(header.fragment_offset.value()) * 8,
        header.more_fragments,
        header.identification,
        header.dont_fragment,
        rest.to_vec(),
    )
}

/// Checks the inner fragments carry `original` (an IPv4 packet) whole and in order.
#[track_caller]
fn assert_carry(inners: &[Vec<u8>], original: &[u8], mtu: usize) {
    let (whole, payload) = etherparse::Ipv4Header::from_slice(original).unwrap();
    let mut data = Vec::new();
    for (i, ip) in inners.iter().enumerate() {
        assert!(ip.len() <= mtu, "fragment {i} fits: {} > {mtu}", ip.len());
        let (offset, more, id, df, bytes) = read_fragment(ip);
        assert_eq!((offset, id, df), (data.len(), whole.identification, false), "fragment {i}");
        assert_eq!(more, i + 1 < inners.len(), "more fragments on all but the last");
        let (header, _) = etherparse::Ipv4Header::from_slice(ip).unwrap();
        assert_eq!((header.source, header.destination), (whole.source, whole.destination));
        assert_eq!(header.time_to_live, whole.time_to_live - 1, "forwarded one hop");
        if i + 1 < inners.len() {
            assert_eq!(bytes.len() % 8, 0, "fragment {i} carries a multiple of 8 bytes");
        }
        data.extend_from_slice(&bytes);
    }
    assert_eq!(data, payload, "the fragments carry the packet");
}

#[test]
fn ipv4_without_df_too_big_for_the_tunnel_is_fragmented_inside_it() {
    let gateway = Gateway::standard();
    // LMA downlink, UE A over IPv6 (tunnel MTU 1452), UE B over IPv4 (1472); MAG uplink the same.
    for (rx, src, dst, key, overhead) in [
        (SGI, CN4, UE_A4, DL_A, 48),
        (SGI, CN4, UE_B4, DL_B, 28),
        (ACCESS, UE_A4, CN4, UL_A, 48),
        (ACCESS, UE_B4, CN4, UL_B, 28),
    ] {
        let original = udp4_of(src, dst, 64, 3000, false);
        let before = gateway.snapshot();
        let pieces = fragments_of(&gateway, rx, &plain(&original), CORE);
        assert_eq!(pieces.len(), 3, "3000 bytes in {} at most", 1500 - overhead);
        let inners: Vec<Vec<u8>> = pieces
            .iter()
            .map(|piece| {
                assert!(piece.data().len() - 14 <= 1500, "the outer packet fits the core MTU");
                let tunnel = decode_encapsulated(piece.data());
                assert_eq!((tunnel.key, tunnel.protocol), (key, 0x0800));
                tunnel.inner
            })
            .collect();
        assert_carry(&inners, &original, 1500 - overhead);
        let after = gateway.snapshot();
        assert_eq!(after.encapsulated - before.encapsulated, 3, "every piece counts as a packet encapsulated");
        assert_eq!((after.fragmented - before.fragmented, after.fragments - before.fragments), (1, 3));
        assert_eq!(after.total_drops(), before.total_drops());
    }
}

#[test]
fn ipv4_without_df_too_big_for_the_egress_after_decapsulation_is_fragmented() {
    let mut config = config();
    config.ports[SGI.get()].mtu = 1280;
    let gateway = Gateway::new(&config, &[lma_a(), lma_b()]);
    let original = udp4_of(UE_B4, CN4, 64, 1400, false);
    let pieces = fragments_of(&gateway, CORE, &frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &original)), SGI);
    let inners: Vec<Vec<u8>> = pieces
        .iter()
        .map(|piece| {
            let frame = piece.data();
            assert_eq!(frame[..6], NEXT_HOP[SGI.get()].0, "to the SGi next hop");
            assert_eq!(frame[12..14], [0x08, 0x00]);
            frame[14..].to_vec()
        })
        .collect();
    assert_eq!(inners.len(), 2);
    assert_carry(&inners, &original, 1280);
}

#[test]
fn options_marked_for_copying_go_into_every_fragment_others_only_the_first() {
    let gateway = Gateway::standard();
    // Security (copied, type 130, 11 bytes) and Record Route (not copied, type 7, 7 bytes), padded to 20.
    let options = [130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0, 0];
    let plain_packet = udp4_of(CN4, UE_B4, 64, 2000, false);
    let mut original = plain_packet[..20].to_vec();
    original.extend_from_slice(&options);
    original.extend_from_slice(&plain_packet[20..]);
    original[0] = 0x45 + 5;
    let total = original.len() as u16;
    original[2..4].copy_from_slice(&total.to_be_bytes());
    original[10..12].fill(0);
    let sum = crate::wire::checksum::checksum(&original[..40]);
    original[10..12].copy_from_slice(&sum.to_be_bytes());
    let pieces = fragments_of(&gateway, SGI, &plain(&original), CORE);
    let inners: Vec<Vec<u8>> = pieces.iter().map(|p| decode_encapsulated(p.data()).inner).collect();
    let (first, _) = etherparse::Ipv4Header::from_slice(&inners[0]).unwrap();
    assert_eq!(first.options.as_slice(), &options[..], "the first fragment keeps every option");
    for later in &inners[1..] {
        let (header, _) = etherparse::Ipv4Header::from_slice(later).unwrap();
        assert_eq!(header.options.as_slice(), &[130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "only the copied one");
    }
    assert_carry(&inners, &original, 1472);
}

#[test]
fn a_fragment_too_big_is_cut_again_keeping_its_place_and_its_more_fragments_flag() {
    let gateway = Gateway::standard();
    for (more, offset) in [(true, 0u16), (true, 185), (false, 370)] {
        let mut original = udp4_of(CN4, UE_B4, 64, 1500, false);
        let field = if more { 0x2000 } else { 0 } | offset;
        original[6..8].copy_from_slice(&field.to_be_bytes());
        original[10..12].fill(0);
        let sum = crate::wire::checksum::checksum(&original[..20]);
        original[10..12].copy_from_slice(&sum.to_be_bytes());
        let pieces = fragments_of(&gateway, SGI, &plain(&original), CORE);
        let inners: Vec<Vec<u8>> = pieces.iter().map(|p| decode_encapsulated(p.data()).inner).collect();
        let (first_offset, ..) = read_fragment(&inners[0]);
        let (last_offset, last_more, ..) = read_fragment(inners.last().unwrap());
        assert_eq!(first_offset, usize::from(offset) * 8);
        assert!(last_offset > first_offset);
        assert_eq!(last_more, more, "the last piece says what the packet said");
    }
}

#[test]
fn without_a_buffer_for_the_pieces_the_packet_is_dropped_and_counted() {
    let gateway = Gateway::standard();
    let mut packet = VecPacket::new(&plain(&udp4_of(CN4, UE_B4, 64, 3000, false)));
    let mut next = [Next::PUNT];
    gateway.fast_path.process_burst(SGI, std::slice::from_mut(&mut packet), &mut next);
    let mut emitted = 0;
    let outcome = gateway.fast_path.fragment(packet, next[0], || None, |_| emitted += 1);
    assert_eq!((outcome, emitted), (Err(DropReason::FragmentFailed), 0), "all or nothing");
    assert_eq!(gateway.snapshot().drops(DropReason::FragmentFailed), 1);
}

#[test]
fn with_df_it_is_still_fragmentation_needed() {
    let mut config = config();
    config.ports[SGI.get()].icmp_source_v4 = Some(SGI4);
    let gateway = Gateway::new(&config, &[lma_a(), lma_b()]);
    let (verdict, _) = gateway.run(SGI, &plain(&udp4_of(CN4, UE_B4, 64, 3000, true)));
    assert_eq!(verdict, Verdict::Forward(SGI), "the error goes back where the packet came from");
}

// ---- reassembly of outer fragments ----

const TIMEOUT: u64 = 1_000_000_000;

/// The pieces of a payload of `len` bytes cut at `cuts`: (from, to, more fragments follow).
fn pieces(len: usize, cuts: &[usize]) -> Vec<(usize, usize, bool)> {
    let bounds: Vec<usize> = [0].iter().chain(cuts).chain([len].iter()).copied().collect();
    bounds.windows(2).map(|w| (w[0], w[1], w[1] != len)).collect()
}

/// Cuts an outer IPv4 packet (a whole frame) at `cuts` (payload byte offsets, multiples of 8).
fn split4(frame: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &frame[34..];
    pieces(payload.len(), cuts)
        .into_iter()
        .map(|(from, to, more)| {
            let mut ip = frame[14..34].to_vec();
            ip[2..4].copy_from_slice(&((20 + to - from) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            let field = if more { 0x2000 } else { 0 } | (from / 8) as u16;
            ip[6..8].copy_from_slice(&field.to_be_bytes());
            ip[10..12].fill(0);
            let sum = crate::wire::checksum::checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            [&frame[..14], &ip, &payload[from..to]].concat()
        })
        .collect()
}

/// Cuts an outer IPv6 packet (a whole frame) at `cuts`, with a Fragment header (RFC 8200 §4.5).
fn split6(frame: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &frame[54..];
    pieces(payload.len(), cuts)
        .into_iter()
        .map(|(from, to, more)| {
            let mut ip = frame[14..54].to_vec();
            ip[4..6].copy_from_slice(&((8 + to - from) as u16).to_be_bytes());
            ip[6] = 44;
            ip.extend_from_slice(&[frame[14 + 6], 0]);
            ip.extend_from_slice(&((from as u16) | u16::from(more)).to_be_bytes());
            ip.extend_from_slice(&0xfeed_0001u32.to_be_bytes());
            [&frame[..14], &ip, &payload[from..to]].concat()
        })
        .collect()
}

/// Feeds fragments through the pipeline and the reassembly table as a worker does; returns the verdict of the
/// rebuilt packet and the packet, if one completed.
fn reassemble(
    gateway: &Gateway,
    table: &mut Reassembler<VecPacket>,
    fragments: &[Vec<u8>],
    now: u64,
) -> Option<(Verdict, VecPacket)> {
    let mut rebuilt = None;
    for fragment in fragments {
        let (verdict, packet) = gateway.run(CORE, fragment);
        assert_eq!(verdict, Verdict::Reassemble);
        if let Some(packet) = table.add(packet, now, gateway.fast_path.counters(), || Some(VecPacket::new(&[]))) {
            assert!(rebuilt.is_none(), "one datagram");
            rebuilt = Some(packet);
        }
    }
    let mut packet = rebuilt?;
    let mut next = [Next::PUNT];
    gateway.fast_path.process_reassembled(CORE, std::slice::from_mut(&mut packet), &mut next);
    Some((next[0].verdict(), packet))
}

#[test]
fn outer_fragments_in_and_out_of_order_are_rebuilt_then_decapsulated() {
    let gateway = Gateway::standard();
    let mut table = Reassembler::new(ReassemblyConfig { entries: 64, max_held: 1024, timeout_ns: TIMEOUT });
    let inner4 = udp4_of(UE_B4, CN4, 64, 1200, true);
    let inner6 = udp4_of(UE_A4, CN4, 64, 1200, true);
    let whole4 = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &inner4));
    let whole6 = frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &inner6));
    for (fragments, inner) in [(split4(&whole4, &[512, 1024]), &inner4), (split6(&whole6, &[400, 800]), &inner6)] {
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let before = gateway.snapshot();
            let shuffled: Vec<Vec<u8>> = order.iter().map(|&i| fragments[i].clone()).collect();
            let (verdict, packet) = reassemble(&gateway, &mut table, &shuffled, 0).expect("rebuilt");
            assert_eq!(verdict, Verdict::Forward(SGI), "decapsulated, order {order:?}");
            let out = &packet.data()[14..];
            let (offset, more, _, df, payload) = read_fragment(out);
            assert_eq!((offset, more, df), (0, false, true), "a whole packet");
            assert_eq!((out[8], &out[12..20]), (inner[8] - 1, &inner[12..20]), "one hop on, same addresses");
            assert_eq!(payload, inner[20..], "the inner packet whole");
            let after = gateway.snapshot();
            assert_eq!(
                after.ports[CORE.get()].rx_packets - before.ports[CORE.get()].rx_packets,
                3,
                "the fragments arrived"
            );
            assert_eq!((after.reassembled - before.reassembled, after.decapsulated - before.decapsulated), (1, 1));
            assert_eq!(after.fragments_reassembled - before.fragments_reassembled, 3);
            assert_eq!(table.held(), 0);
        }
    }
}

#[test]
fn overlapping_fragments_drop_their_whole_datagram() {
    let gateway = Gateway::standard();
    let mut table = Reassembler::new(ReassemblyConfig { entries: 64, max_held: 1024, timeout_ns: TIMEOUT });
    let whole = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4_of(UE_B4, CN4, 64, 1200, true)));
    let mut fragments = split4(&whole, &[512]);
    // A third fragment covering bytes 256..768 of the same datagram.
    let overlap = split4(&whole, &[256, 768]).remove(1);
    fragments.insert(1, overlap);
    assert!(reassemble(&gateway, &mut table, &fragments[..2], 0).is_none());
    let snapshot = gateway.snapshot();
    assert_eq!(snapshot.drops(DropReason::ReassemblyOverlap), 2, "both fragments held so far");
    assert_eq!((table.held(), snapshot.reassembled), (0, 0));
    // What comes after starts a new datagram, which never completes.
    assert!(reassemble(&gateway, &mut table, &fragments[2..], 0).is_none());
    assert_eq!(table.held(), 1);
}

#[test]
fn a_datagram_that_does_not_complete_in_time_is_dropped_as_a_timeout() {
    let gateway = Gateway::standard();
    let mut table = Reassembler::new(ReassemblyConfig { entries: 64, max_held: 1024, timeout_ns: TIMEOUT });
    let whole = frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp4_of(UE_A4, CN4, 64, 1200, true)));
    let fragments = split6(&whole, &[400, 800]);
    assert!(reassemble(&gateway, &mut table, &fragments[..2], 0).is_none());
    table.expire(TIMEOUT - 1, gateway.fast_path.counters());
    assert_eq!(table.held(), 2, "not yet");
    // The table is searched an eighth of the timeout apart: the datagram goes within that past its deadline.
    table.expire(TIMEOUT + TIMEOUT / 8, gateway.fast_path.counters());
    assert_eq!(table.held(), 0);
    assert_eq!(gateway.snapshot().drops(DropReason::ReassemblyTimeout), 2);
    // The last fragment, late, starts over and waits alone.
    assert!(reassemble(&gateway, &mut table, &fragments[2..], TIMEOUT).is_none());
    assert_eq!(gateway.snapshot().reassembly_held, 1, "the gauge");
}

#[test]
fn a_full_table_refuses_new_datagrams_and_keeps_the_ones_it_has() {
    let gateway = Gateway::standard();
    let mut table = Reassembler::new(ReassemblyConfig { entries: 8, max_held: 1024, timeout_ns: TIMEOUT });
    let whole = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4_of(UE_B4, CN4, 64, 1200, true)));
    let fragments = split4(&whole, &[512]);
    for id in 0..9u16 {
        let mut first = fragments[0].clone();
        first[18..20].copy_from_slice(&id.to_be_bytes());
        first[24..26].fill(0);
        let sum = crate::wire::checksum::checksum(&first[14..34]);
        first[24..26].copy_from_slice(&sum.to_be_bytes());
        assert!(reassemble(&gateway, &mut table, &[first], 0).is_none());
    }
    assert_eq!(table.held(), 8);
    assert_eq!(gateway.snapshot().drops(DropReason::ReassemblyTableFull), 1);
}

#[test]
fn fragments_that_cannot_make_a_datagram_are_invalid() {
    let gateway = Gateway::standard();
    let mut table = Reassembler::new(ReassemblyConfig { entries: 64, max_held: 1024, timeout_ns: TIMEOUT });
    let whole = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4_of(UE_B4, CN4, 64, 1200, true)));
    // A first fragment whose length is not a multiple of 8.
    let odd = split4(&whole, &[500]);
    assert!(reassemble(&gateway, &mut table, &odd[..1], 0).is_none());
    assert_eq!(gateway.snapshot().drops(DropReason::ReassemblyInvalid), 1);
    // A last fragment that ends before data already held.
    let fragments = split4(&whole, &[512, 1024]);
    let short_last = split4(&whole[..14 + 20 + 768], &[512]).remove(1);
    assert!(reassemble(&gateway, &mut table, &[fragments[2].clone(), short_last], 0).is_none());
    assert_eq!(gateway.snapshot().drops(DropReason::ReassemblyInvalid), 3, "both, and the datagram is gone");
    assert_eq!(table.held(), 0);
}

#[test]
fn a_duplicate_goes_alone_and_an_atomic_fragment_is_a_packet_of_its_own() {
    let gateway = Gateway::standard();
    let mut table = Reassembler::new(ReassemblyConfig { entries: 64, max_held: 1024, timeout_ns: TIMEOUT });
    let whole = frame6(PCOA6, LMAA6, 47, &gre_keyed(UL_A, &udp4_of(UE_A4, CN4, 64, 1200, true)));
    let fragments = split6(&whole, &[400, 800]);
    let with_copy = [fragments[0].clone(), fragments[1].clone(), fragments[1].clone(), fragments[2].clone()];
    let (verdict, _) = reassemble(&gateway, &mut table, &with_copy, 0).expect("rebuilt despite the copy");
    assert_eq!(verdict, Verdict::Forward(SGI));
    assert_eq!(gateway.snapshot().drops(DropReason::ReassemblyDuplicate), 1);
    // An atomic fragment (offset 0, no more) with the identification of a datagram in progress: rebuilt alone
    // (RFC 6946), and the datagram goes on.
    assert!(reassemble(&gateway, &mut table, &fragments[..1], 0).is_none());
    let atomic = split6(&whole, &[]);
    let (verdict, _) = reassemble(&gateway, &mut table, &atomic, 0).expect("a packet of its own");
    assert_eq!(verdict, Verdict::Forward(SGI));
    let (verdict, _) = reassemble(&gateway, &mut table, &fragments[1..], 0).expect("the datagram completes");
    assert_eq!(verdict, Verdict::Forward(SGI));
}

#[test]
fn a_congestion_mark_on_any_fragment_marks_the_rebuilt_packet() {
    let gateway = Gateway::standard();
    let mut table = Reassembler::new(ReassemblyConfig { entries: 64, max_held: 1024, timeout_ns: TIMEOUT });
    let mut inner = udp4_of(UE_B4, CN4, 64, 1200, true);
    inner[1] = 0x02; // ECT(0)
    inner[10..12].fill(0);
    let sum = crate::wire::checksum::checksum(&inner[..20]);
    inner[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut whole = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &inner));
    whole[15] = 0x02; // the outer header copies ECT(0) (RFC 6040)
    let mut fragments = split4(&whole, &[512]);
    // A router on the way marks the second fragment CE.
    fragments[1][15] = 0x03;
    fragments[1][24..26].fill(0);
    let sum = crate::wire::checksum::checksum(&fragments[1][14..34]);
    fragments[1][24..26].copy_from_slice(&sum.to_be_bytes());
    let (verdict, packet) = reassemble(&gateway, &mut table, &fragments, 0).expect("rebuilt");
    assert_eq!(verdict, Verdict::Forward(SGI));
    assert_eq!(packet.data()[15] & 0x03, 0x03, "CE reaches the inner packet (RFC 3168 §5.3, RFC 6040)");
    // Not-ECT and ECT fragments of one datagram: dropped (RFC 3168 §5.3).
    let mut mixed = split4(&whole, &[512]);
    mixed[0][15] = 0;
    mixed[0][24..26].fill(0);
    let sum = crate::wire::checksum::checksum(&mixed[0][14..34]);
    mixed[0][24..26].copy_from_slice(&sum.to_be_bytes());
    assert!(reassemble(&gateway, &mut table, &mixed, 0).is_none());
    assert_eq!(gateway.snapshot().drops(DropReason::ReassemblyInvalid), 2);
}

#[test]
fn a_worker_holds_no_more_fragments_than_it_may() {
    let gateway = Gateway::standard();
    let mut table = Reassembler::new(ReassemblyConfig { entries: 64, max_held: 3, timeout_ns: TIMEOUT });
    let whole = frame4(PCOA4, LMAA4, 47, &gre_keyed(UL_B, &udp4_of(UE_B4, CN4, 64, 1200, true)));
    let fragments = split4(&whole, &[256, 512, 768]);
    assert!(reassemble(&gateway, &mut table, &fragments[..3], 0).is_none());
    assert!(reassemble(&gateway, &mut table, &fragments[3..], 0).is_none(), "the fourth is refused");
    assert_eq!((table.held(), gateway.snapshot().drops(DropReason::ReassemblyTableFull)), (3, 1));
}
