//! Golden tests: the real gateway on net_pcap ports forwards every role × direction × outer family × inner
//! family (16 cases) and the shared vectors V8–V10 exactly as expected. Outputs are decoded by etherparse (GRE
//! fields by hand) and, as a second opinion, every output frame's fields are read by `tshark -T fields`.

mod common;
mod fastpath_support;

use fastpath_support::*;
use std::net::IpAddr;

/// What must come out for one input.
enum Expected {
    /// On `sgi` or `access`: a new Ethernet header, then exactly this IP packet.
    Decapsulated(Vec<u8>),
    /// On `core`: outer header `src` → `dst`, GRE with K only and `key`, then exactly this IP packet.
    Encapsulated { src: IpAddr, dst: IpAddr, key: u32, inner: Vec<u8> },
}

struct Case {
    name: String,
    rx: usize,
    input: Vec<u8>,
    tx: &'static str,
    expected: Expected,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for function in ["LMA", "MAG"] {
        for uplink in [true, false] {
            for outer_v6 in [false, true] {
                for inner_v6 in [false, true] {
                    let name = format!(
                        "{function} {} outer IPv{} inner IPv{}",
                        if uplink { "uplink" } else { "downlink" },
                        if outer_v6 { 6 } else { 4 },
                        if inner_v6 { 6 } else { 4 }
                    );
                    // UE A is tunnelled over IPv6, UE B over IPv4.
                    let (ul, dl, lmaa, pcoa): (u32, u32, IpAddr, IpAddr) = if outer_v6 {
                        (UL_A, DL_A, LMAA6.into(), PCOA6.into())
                    } else {
                        (UL_B, DL_B, LMAA4.into(), PCOA4.into())
                    };
                    let (ue, cn): (IpAddr, IpAddr) = match (outer_v6, inner_v6) {
                        (true, true) => (UE_A6.into(), CN6.into()),
                        (true, false) => (UE_A4.into(), CN4.into()),
                        (false, true) => (UE_B6.into(), CN6.into()),
                        (false, false) => (UE_B4.into(), CN4.into()),
                    };
                    let packet =
                        if uplink { udp(ue, cn, 64, name.as_bytes()) } else { udp(cn, ue, 64, name.as_bytes()) };
                    let (rx, input, tx, expected) = match (function, uplink) {
                        ("LMA", true) => (
                            0,
                            tunnelled(pcoa, lmaa, 47, &gre_keyed(ul, &packet)),
                            "sgi",
                            Expected::Decapsulated(forwarded(&packet)),
                        ),
                        ("LMA", false) => (
                            1,
                            frame(&packet),
                            "core",
                            Expected::Encapsulated { src: lmaa, dst: pcoa, key: dl, inner: forwarded(&packet) },
                        ),
                        ("MAG", true) => (
                            2,
                            frame(&packet),
                            "core",
                            Expected::Encapsulated { src: pcoa, dst: lmaa, key: ul, inner: forwarded(&packet) },
                        ),
                        _ => (
                            0,
                            tunnelled(lmaa, pcoa, 47, &gre_keyed(dl, &packet)),
                            "access",
                            Expected::Decapsulated(forwarded(&packet)),
                        ),
                    };
                    cases.push(Case { name, rx, input, tx, expected });
                }
            }
        }
    }
    // The shared vectors: V8 is MAG downlink to UE A; V9 and V10 (with C and S) are LMA uplink of UE A's uplink
    // key arriving over IPv4 although UE A's tunnel is IPv6 — the key alone decides (TS 29.275 §6.3).
    let vectors = shared_vectors();
    let inner = |frame: &[u8], outer: usize| forwarded(&frame[14 + outer..]);
    cases.push(Case {
        name: "V8".into(),
        rx: 0,
        input: vectors[9].clone(),
        tx: "access",
        expected: Expected::Decapsulated(inner(&vectors[9], 48)),
    });
    cases.push(Case {
        name: "V9".into(),
        rx: 0,
        input: vectors[10].clone(),
        tx: "sgi",
        expected: Expected::Decapsulated(inner(&vectors[10], 28)),
    });
    cases.push(Case {
        name: "V10".into(),
        rx: 0,
        input: vectors[11].clone(),
        tx: "sgi",
        expected: Expected::Decapsulated(inner(&vectors[10], 28)),
    });
    cases
}

/// etherparse's reading of an encapsulated frame: outer addresses, GRE key and protocol (checked by hand:
/// K only, version 0), and the inner packet. Also checks the outer header's checksum and lengths.
fn decode_encapsulated(frame: &[u8]) -> (IpAddr, IpAddr, u32, u16, Vec<u8>) {
    let sliced = etherparse::SlicedPacket::from_ethernet(frame).expect("etherparse reads the frame");
    let (src, dst, payload): (IpAddr, IpAddr, &[u8]) = match sliced.net.expect("IP") {
        etherparse::NetSlice::Ipv4(ip) => {
            let h = ip.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum(), "outer IPv4 checksum");
            assert_eq!(usize::from(h.total_len), frame.len() - 14);
            assert_eq!(h.time_to_live, 64, "default outer TTL");
            assert_eq!(ip.payload().ip_number, etherparse::IpNumber::GRE);
            (h.source.into(), h.destination.into(), ip.payload().payload)
        }
        etherparse::NetSlice::Ipv6(ip) => {
            let h = ip.header().to_header();
            assert_eq!(usize::from(h.payload_length), frame.len() - 54);
            assert_eq!(h.hop_limit, 64, "default outer hop limit");
            assert_eq!(ip.payload().ip_number, etherparse::IpNumber::GRE);
            (h.source.into(), h.destination.into(), ip.payload().payload)
        }
    };
    assert_eq!(&payload[..2], &[0x20, 0x00], "GRE: K only, version 0");
    let protocol = u16::from_be_bytes([payload[2], payload[3]]);
    let key = u32::from_be_bytes(payload[4..8].try_into().unwrap());
    (src, dst, key, protocol, payload[8..].to_vec())
}

/// What tshark must read for a frame carrying `outer` (if any) around `inner`: IPv4 and IPv6 source,
/// destination and TTL / hop limit lists, GRE key and protocol, one good checksum per IPv4 header.
fn tshark_expectation(outer: Option<(IpAddr, IpAddr, u32)>, inner: &[u8]) -> Vec<String> {
    let sliced = etherparse::SlicedPacket::from_ip(inner).unwrap();
    let (inner_src, inner_dst, inner_ttl): (IpAddr, IpAddr, u8) = match sliced.net.unwrap() {
        etherparse::NetSlice::Ipv4(ip) => {
            (ip.header().source_addr().into(), ip.header().destination_addr().into(), ip.header().ttl())
        }
        etherparse::NetSlice::Ipv6(ip) => {
            (ip.header().source_addr().into(), ip.header().destination_addr().into(), ip.header().hop_limit())
        }
    };
    let mut hops: Vec<(IpAddr, IpAddr, u8)> = Vec::new();
    if let Some((src, dst, _)) = outer {
        hops.push((src, dst, 64));
    }
    hops.push((inner_src, inner_dst, inner_ttl));
    let join = |v4: bool, field: fn(&(IpAddr, IpAddr, u8)) -> String| {
        hops.iter().filter(|h| h.0.is_ipv4() == v4).map(field).collect::<Vec<_>>().join(",")
    };
    vec![
        join(true, |h| h.0.to_string()),
        join(true, |h| h.1.to_string()),
        join(false, |h| h.0.to_string()),
        join(false, |h| h.1.to_string()),
        outer.map(|(_, _, key)| format!("0x{key:08x}")).unwrap_or_default(),
        outer.map(|_| format!("0x{:04x}", if inner[0] >> 4 == 6 { 0x86dd } else { 0x0800 })).unwrap_or_default(),
        join(true, |h| h.2.to_string()),
        join(false, |h| h.2.to_string()),
        join(true, |_| "1".to_owned()),
    ]
}

const TSHARK_FIELDS: [&str; 9] =
    ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "gre.key", "gre.proto", "ip.ttl", "ipv6.hlim", "ip.checksum.status"];

fn check_golden(lcores: &str) {
    let cases = cases();
    let mut inputs: Inputs = Default::default();
    for case in &cases {
        inputs[case.rx].push(case.input.clone());
    }
    let run = run_both_functions("golden", &inputs, "", lcores);
    let port_mac = |name: &str| {
        let ports = run.counters["ports"].as_array().unwrap();
        common::mac(ports.iter().find(|p| p["name"] == name).unwrap()["mac"].as_str().unwrap())
    };

    for port in ["core", "sgi", "access"] {
        let sent = run.sent(port);
        let mine: Vec<&Case> = cases.iter().filter(|c| c.tx == port).collect();
        assert_eq!(sent.len(), mine.len(), "{port}: one frame out per case\n{}", run.stdout);
        let index = PORTS.iter().position(|p| *p == port).unwrap();
        let rows = tshark_fields(&run.tx_pcap(port), &TSHARK_FIELDS);
        let mut matched = vec![false; mine.len()];
        for (frame, row) in sent.iter().zip(&rows) {
            assert_eq!(&frame[..6], &NEXT_HOP[index], "{port}: next hop MAC");
            assert_eq!(&frame[6..12], &port_mac(port), "{port}: the port's own MAC as source");
            // Which case is this? Every inner packet is unique (its payload names the case).
            let (position, outer, inner) = match port {
                "core" => {
                    let (src, dst, key, protocol, inner) = decode_encapsulated(frame);
                    let position = (0..mine.len()).find(|&i| {
                        !matched[i]
                            && matches!(&mine[i].expected, Expected::Encapsulated { inner: x, .. } if *x == inner)
                    });
                    let position = position.unwrap_or_else(|| panic!("core: unexpected frame {frame:02x?}"));
                    let Expected::Encapsulated { src: want_src, dst: want_dst, key: want_key, .. } =
                        mine[position].expected
                    else {
                        unreachable!()
                    };
                    let name = &mine[position].name;
                    assert_eq!((src, dst), (want_src, want_dst), "{name}: outer addresses");
                    assert_eq!(key, want_key, "{name}: GRE key");
                    assert_eq!(protocol, ethertype_of(&inner), "{name}: GRE protocol type");
                    assert_eq!(u16::from_be_bytes([frame[12], frame[13]]), if src.is_ipv6() { 0x86dd } else { 0x0800 });
                    (position, Some((src, dst, key)), inner)
                }
                _ => {
                    let inner = frame[14..].to_vec();
                    // V9 and V10 carry the same inner packet: take the first case not matched yet.
                    let position = (0..mine.len()).find(|&i| {
                        !matched[i] && matches!(&mine[i].expected, Expected::Decapsulated(x) if *x == inner)
                    });
                    let position = position.unwrap_or_else(|| panic!("{port}: unexpected frame {frame:02x?}"));
                    assert_eq!(
                        u16::from_be_bytes([frame[12], frame[13]]),
                        ethertype_of(&inner),
                        "{}: EtherType",
                        mine[position].name
                    );
                    (position, None, inner)
                }
            };
            matched[position] = true;
            assert_eq!(
                row,
                &tshark_expectation(outer, &inner),
                "{}: tshark reads {TSHARK_FIELDS:?}",
                mine[position].name
            );
        }
        assert!(matched.iter().all(|m| *m), "{port}: every case came out");
    }
    let total = |key: &str| run.total(key);
    assert_eq!(total("encapsulated"), 8);
    assert_eq!(total("decapsulated"), 11);
    assert_eq!(total("dropped"), 0, "{}", run.stdout);
    // Per-binding counters: one packet each way per UE and function, the vectors on UE A.
    let bindings = run.counters["fastpath"]["bindings"].as_array().unwrap();
    let packets = |i: usize, way: &str| bindings[i][format!("{way}_packets")].as_u64().unwrap();
    assert_eq!((packets(0, "uplink"), packets(0, "downlink")), (2 + 2, 2), "LMA UE A: 4 uplink (2 + V9 + V10)");
    assert_eq!((packets(1, "uplink"), packets(1, "downlink")), (2, 2), "LMA UE B");
    assert_eq!((packets(2, "uplink"), packets(2, "downlink")), (2, 2 + 1), "MAG UE A: 3 downlink (2 + V8)");
    assert_eq!((packets(3, "uplink"), packets(3, "downlink")), (2, 2), "MAG UE B");
}

#[test]
fn sixteen_cases_and_the_shared_vectors_on_net_pcap() {
    check_golden("0");
}

#[test]
fn the_same_with_the_worker_on_its_own_eal_lcore() {
    // lcores "0-1": the control thread on lcore 0, the worker launched by EAL on lcore 1 (pinned).
    check_golden("0-1");
}
