//! Golden test: the real gateway on net_pcap ports cuts IPv4 packets without DF that are too big for their tunnel
//! into fragments inside the tunnel, and those too big for the port they leave the tunnel by at that port, and rebuilds outer fragments (IPv4 and IPv6, in and out of order) before
//! decapsulating them. tshark reads every header and checksum, the rebuilt packets
//! leave byte for byte as they were sent, and etherparse puts the fragments together again.

mod common;
mod fastpath_support;

use fastpath_support::*;
use std::net::{IpAddr, Ipv4Addr};

/// A UDP packet of `len` bytes in all, IPv4 without DF, identification `id`.
fn sized4(src: Ipv4Addr, dst: Ipv4Addr, len: usize, id: u16) -> Vec<u8> {
    let payload: Vec<u8> = (0..len - 28).map(|i| (i % 251) as u8).collect();
    let mut ip = udp4(src, dst, 64, &payload);
    let (mut header, _) = etherparse::Ipv4Header::from_slice(&ip).unwrap();
    header.dont_fragment = false;
    header.identification = id;
    header.header_checksum = header.calc_header_checksum();
    ip[..20].copy_from_slice(&header.to_bytes());
    ip
}

/// The pieces of a payload of `len` bytes cut at `cuts`: (from, to, more fragments follow).
fn pieces(len: usize, cuts: &[usize]) -> Vec<(usize, usize, bool)> {
    let bounds: Vec<usize> = [0].iter().chain(cuts).chain([len].iter()).copied().collect();
    bounds.windows(2).map(|w| (w[0], w[1], w[1] != len)).collect()
}

/// An outer IPv4 frame cut into fragments at payload offsets `cuts` (RFC 791), headers by etherparse.
fn outer_fragments4(frame: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &frame[34..];
    let cut = |(from, to, more): (usize, usize, bool)| {
        let (mut header, _) = etherparse::Ipv4Header::from_slice(&frame[14..34]).unwrap();
        header.identification = 0x7777;
        header.dont_fragment = false;
        header.more_fragments = more;
        header.fragment_offset = etherparse::IpFragOffset::try_new((from / 8) as u16).unwrap();
        header.set_payload_len(to - from).unwrap();
        header.header_checksum = header.calc_header_checksum();
        [&frame[..14], &header.to_bytes(), &payload[from..to]].concat()
    };
    pieces(payload.len(), cuts).into_iter().map(cut).collect()
}

/// An outer IPv6 frame cut into fragments at payload offsets `cuts`, each with a Fragment header (RFC 8200 §4.5).
fn outer_fragments6(frame: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &frame[54..];
    let cut = |(from, to, more): (usize, usize, bool)| {
        let mut ip = frame[14..54].to_vec();
        ip[4..6].copy_from_slice(&((8 + to - from) as u16).to_be_bytes());
        ip[6] = 44;
        ip.extend_from_slice(&[frame[14 + 6], 0, (from >> 8) as u8, (from as u8) | u8::from(more)]);
        ip.extend_from_slice(&0x0bad_f00du32.to_be_bytes());
        [&frame[..14], &ip, &payload[from..to]].concat()
    };
    pieces(payload.len(), cuts).into_iter().map(cut).collect()
}

#[test]
fn oversized_ipv4_leaves_in_fragments_and_outer_fragments_are_rebuilt() {
    let (pcoa4, lmaa4): (IpAddr, IpAddr) = (PCOA4.into(), LMAA4.into());
    // Uplink from the tunnels, each cut by the peer: UE B over IPv4 (last piece first), UE A over IPv6 (2, 0, 1).
    let uplink_b = sized4(UE_B4, CN4, 1000, 1);
    let uplink_a = sized4(UE_A4, CN4, 1000, 2);
    let mut fragments_b = outer_fragments4(&tunnelled(pcoa4, lmaa4, 47, &gre_keyed(UL_B, &uplink_b)), &[512]);
    fragments_b.reverse();
    let fragments_a =
        outer_fragments6(&tunnelled(PCOA6.into(), LMAA6.into(), 47, &gre_keyed(UL_A, &uplink_a)), &[336, 672]);
    let mut core: Vec<Vec<u8>> = fragments_b.into_iter().chain([2, 0, 1].map(|i| fragments_a[i].clone())).collect();
    // And from UE A, 1400 bytes in one tunnel packet: decapsulated, too big for SGi's MTU of 1280, cut there.
    let uplink_big = sized4(UE_A4, CN4, 1400, 7);
    core.push(tunnelled(PCOA6.into(), LMAA6.into(), 47, &gre_keyed(UL_A, &uplink_big)));
    // Downlink to UE A (room 1452 in its IPv6 tunnel) and to UE B (1472), and uplink from UE B: 1500 bytes each;
    // and from UE B the first fragment of a larger packet, which its kernel cut at 1500.
    let down_a = sized4(CN4, UE_A4, 1500, 3);
    let down_b = sized4(CN4, UE_B4, 1500, 4);
    let up_b = sized4(UE_B4, CN4, 1500, 5);
    let mut first_piece = sized4(UE_B4, CN4, 1500, 6);
    let (mut header, _) = etherparse::Ipv4Header::from_slice(&first_piece).unwrap();
    header.more_fragments = true;
    header.header_checksum = header.calc_header_checksum();
    first_piece[..20].copy_from_slice(&header.to_bytes());
    let inputs: Inputs = [core, vec![frame(&down_a), frame(&down_b)], vec![frame(&up_b), frame(&first_piece)]];
    let run = run_both_functions_with_ports("fragments", &inputs, "", ["", "mtu = 1280", ""], "0");

    // The rebuilt packets, decapsulated to the SGi side: whole (length, no fragment bits), byte for byte.
    let sgi = tshark_fields(
        &run.tx_pcap("sgi"),
        &["ip.src", "ip.len", "ip.flags.mf", "ip.frag_offset", "ip.checksum.status"],
    );
    let (ue_b, ue_a) = (UE_B4.to_string(), UE_A4.to_string());
    let whole = |src: &str| vec![src.to_string(), "1000".into(), "0".into(), "0".into(), "1".into()];
    let piece = |len: &str, more: &str, offset: &str| {
        vec![ue_a.clone(), len.to_string(), more.to_string(), offset.to_string(), "1".into()]
    };
    // UE A's 1400 bytes in two: 1256 bytes of data fill 1280 less the header (157 units of 8), 124 follow. They
    // leave first: packets rebuilt from fragments go through the pipeline after the burst their last piece came in.
    let expected = vec![piece("1276", "1", "0"), piece("144", "0", "157"), whole(&ue_b), whole(&ue_a)];
    assert_eq!(sgi, expected, "{}", run.stdout);
    let sent = run.sent("sgi");
    for (sent, original) in sent[2..].iter().zip([&uplink_b, &uplink_a]) {
        assert_eq!(sent[14..], forwarded(original), "the inner packet, one hop on");
    }
    let rejoined = [&sent[0][14 + 20..], &sent[1][14 + 20..]].concat();
    assert_eq!(rejoined, uplink_big[20..], "the pieces carry the packet");
    assert!(sent[..2].iter().all(|frame| frame[..6] == NEXT_HOP[1]), "to the SGi next hop");

    // On core: two fragments each, in the tunnels with the right keys, every checksum good, offsets in order (in
    // 8-byte units: 1432 bytes fill UE A's 1452 less the header, 1448 UE B's 1472).
    let fields = ["gre.key", "ip.id", "ip.flags.mf", "ip.frag_offset", "ip.len", "ip.checksum.status"];
    let core = tshark_fields(&run.tx_pcap("core"), &fields);
    assert_eq!(core.len(), 8, "{}", run.stdout);
    let last = |row: &Vec<String>, i: usize| row[i].rsplit(',').next().unwrap().to_string();
    let summary: Vec<(String, String, String, String)> =
        core.iter().map(|row| (row[0].clone(), last(row, 1), last(row, 2), last(row, 3))).collect();
    let key = |k: u32| format!("0x{k:08x}");
    assert_eq!(
        summary,
        vec![
            (key(DL_A), "0x0003".into(), "1".into(), "0".into()),
            (key(DL_A), "0x0003".into(), "0".into(), "179".into()),
            (key(DL_B), "0x0004".into(), "1".into(), "0".into()),
            (key(DL_B), "0x0004".into(), "0".into(), "181".into()),
            (key(UL_B), "0x0005".into(), "1".into(), "0".into()),
            (key(UL_B), "0x0005".into(), "0".into(), "181".into()),
            // A first fragment cut again: both pieces say more follow.
            (key(UL_B), "0x0006".into(), "1".into(), "0".into()),
            (key(UL_B), "0x0006".into(), "1".into(), "181".into()),
        ],
        "{}",
        run.stdout
    );
    for row in &core {
        assert!(row[5].split(',').all(|status| status == "1"), "every IPv4 checksum good: {row:?}");
    }
    // Every frame fits the core port's MTU, and the inner fragments put back together are the packets.
    let sent = run.sent("core");
    for frame in &sent {
        assert!(frame.len() - 14 <= 1500, "{} bytes", frame.len() - 14);
    }
    for (pair, original) in sent.chunks(2).zip([&down_a, &down_b, &up_b, &first_piece]) {
        let mut data = Vec::new();
        for frame in pair {
            let sliced = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
            let Some(etherparse::NetSlice::Ipv4(_) | etherparse::NetSlice::Ipv6(_)) = sliced.net else { panic!() };
            let gre_at = if frame[12..14] == [0x86, 0xdd] { 54 } else { 34 };
            let inner = &frame[gre_at + 8..];
            let (header, rest) = etherparse::Ipv4Header::from_slice(inner).unwrap();
            assert_eq!(usize::from(header.fragment_offset.value()) * 8, data.len());
            data.extend_from_slice(rest);
        }
        assert_eq!(data, original[20..], "the fragments carry the packet");
    }
    assert_eq!((run.total("fragmented"), run.total("fragments")), (5, 10));
    assert_eq!((run.total("reassembly_fragments"), run.total("reassembled")), (5, 2));
    assert_eq!((run.total("fragments_reassembled"), run.total("reassembly_held")), (5, 0));
    assert_eq!(
        (run.total("encapsulated"), run.total("decapsulated"), run.total("dropped")),
        (8, 4, 0),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("fragmented 5 packets into 10 fragments"), "{}", run.stdout);
}

/// A burst whose fragments outnumber the transmit burst: the worker sends the full burst and goes on, so every
/// piece and every packet behind them leaves (no `tx-failed`).
#[test]
fn a_burst_of_fragments_and_packets_leaves_whole() {
    // 32 packets cut in two fill a transmit burst of 64 exactly; the 32 small ones behind them find it full.
    let frames: Vec<Vec<u8>> =
        (0..64u16).map(|i| frame(&sized4(CN4, UE_B4, if i < 32 { 1500 } else { 100 }, i))).collect();
    let inputs: Inputs = [vec![], frames, vec![]];
    let run = run_both_functions("fragment-burst", &inputs, "", "0");
    assert_eq!(run.sent("core").len(), 32 * 2 + 32, "{}", run.stdout);
    assert_eq!((run.total("fragmented"), run.total("dropped")), (32, 0), "{}", run.stdout);
}
