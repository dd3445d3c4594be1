//! Shared helpers for the integration tests: the repository's copy of the shared vectors, and the values the
//! vectors README documents for each of them (written out by hand from README.md, independent of the codec).
#![allow(dead_code)]

use controlplane::wire::checksum;
use controlplane::wire::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

pub const NAI: &str = "001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org";
pub const MAG6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const LMA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const MAG4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const LMA4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const DL_KEY: u32 = 0x0001_0001;
pub const UL_KEY: u32 = 0x0a0b_0c0d;

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors")
}

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// `vectors.json` as (name, ip_packet, mh) in pcap order (V1, V2, … V6a, V6b, … V11); `mh` is None for the GRE
/// vectors.
pub fn json_vectors() -> Vec<(String, Vec<u8>, Option<Vec<u8>>)> {
    let text = std::fs::read_to_string(vectors_dir().join("vectors.json")).expect("vectors.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut out = v
        .as_object()
        .expect("object")
        .iter()
        .map(|(name, e)| {
            let ip = hex(e["ip_packet"].as_str().expect("ip_packet"));
            let mh = e.get("mh").and_then(|m| m.as_str()).map(hex);
            (name.clone(), ip, mh)
        })
        .collect::<Vec<_>>();
    out.sort_by_key(|(n, _, _)| vector_number(n));
    out
}

/// "V6b_…" → (6, "V6b_…"): numeric order of the vector names, which is the pcap's frame order.
fn vector_number(name: &str) -> (u32, String) {
    let digits: String = name.chars().skip(1).take_while(|c| c.is_ascii_digit()).collect();
    (digits.parse().expect("vector number"), name.to_string())
}

/// The frames of `pmipv6_vectors.pcap` (Ethernet, linktype 1), link header included.
pub fn pcap_frames() -> Vec<Vec<u8>> {
    let file = std::fs::File::open(vectors_dir().join("pmipv6_vectors.pcap")).expect("pcap");
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("pcap header");
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        out.push(p.expect("pcap packet").data.into_owned());
    }
    out
}

fn prefix(s: &str, len: u8) -> Ipv6Prefix {
    Ipv6Prefix { addr: s.parse().unwrap(), len }
}

fn base_options(hi: u8, ts: u64) -> MhOptions {
    MhOptions {
        mn_id: Some(MnId::Nai(NAI.into())),
        hi: Some(HandoffIndicator(hi)),
        att: Some(AccessTechType::EUTRAN),
        timestamp: Some(Timestamp(ts)),
        ..Default::default()
    }
}

const TS_HALF: u64 = 0x0000_6592_0080_8000; // 2024-01-01T00:00:00.5Z
const TS_QUARTER: u64 = 0x0000_6592_0080_4000; // 2024-01-01T00:00:00.25Z

/// Expected message of each signalling vector, from the tables in vectors/README.md.
pub fn expected(name: &str) -> Option<MhRepr> {
    let apn = || Some(Apn::from_dotted("internet").unwrap());
    let assigned = || vec![prefix("2001:db8:aaaa:1::", 64)];
    Some(match name {
        "V1_PBU_initial_IPv6" => MhRepr::Pbu(PbuRepr {
            seq: 1,
            flags: BuFlags(0xc200),
            lifetime_units: 900,
            options: MhOptions {
                service_selection: apn(),
                hnps: vec![Ipv6Prefix::UNSPECIFIED],
                gre_key: Some(GreKeyOpt::Key(DL_KEY)),
                ..base_options(1, TS_HALF)
            },
        }),
        "V2_PBA_accept_IPv6" => MhRepr::Pba(PbaRepr {
            status: BaStatus(0),
            flags: BaFlags(0x20),
            seq: 1,
            lifetime_units: 900,
            options: MhOptions {
                service_selection: apn(),
                hnps: assigned(),
                gre_key: Some(GreKeyOpt::Key(UL_KEY)),
                vendor: vec![VendorOpt::three_gpp(ThreeGppIe::ChargingId(0x0102_0304))],
                ..base_options(1, TS_HALF)
            },
        }),
        "V3_PBU_dereg_IPv6" => MhRepr::Pbu(PbuRepr {
            seq: 2,
            flags: BuFlags(0xc200),
            lifetime_units: 0,
            options: MhOptions { service_selection: apn(), hnps: assigned(), ..base_options(4, 0x0000_6592_02d8_0000) },
        }),
        "V4_PBU_initial_IPv4_UDP" => MhRepr::Pbu(PbuRepr {
            seq: 3,
            flags: BuFlags(0xc200),
            lifetime_units: 900,
            options: MhOptions {
                ipv4_hoa_reqs: vec![Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED }],
                gre_key: Some(GreKeyOpt::Key(DL_KEY)),
                ..base_options(1, TS_QUARTER)
            },
        }),
        "V5_PBA_accept_IPv4_UDP" => MhRepr::Pba(PbaRepr {
            status: BaStatus(0),
            flags: BaFlags(0x20),
            seq: 3,
            lifetime_units: 900,
            options: MhOptions {
                ipv4_hoa_reply: Some(Ipv4HoaReply { status: 0, prefix_len: 16, addr: Ipv4Addr::new(10, 45, 0, 2) }),
                ipv4_default_router: Some(Ipv4Addr::new(10, 45, 0, 1)),
                gre_key: Some(GreKeyOpt::Key(UL_KEY)),
                ..base_options(1, TS_QUARTER)
            },
        }),
        "V6a_Heartbeat_request" => {
            MhRepr::Heartbeat(HeartbeatRepr { kind: HeartbeatKind::Request, seq: 7, options: MhOptions::default() })
        }
        "V6b_Heartbeat_response_RC" => MhRepr::Heartbeat(HeartbeatRepr {
            kind: HeartbeatKind::Response,
            seq: 7,
            options: MhOptions { restart_counter: Some(5), ..Default::default() },
        }),
        "V7a_BRI_admin" => MhRepr::Bri(BriRepr {
            trigger: RevocationTrigger::ADMINISTRATIVE_REASON,
            seq: 257,
            flags: BrFlags::P,
            options: MhOptions { mn_id: Some(MnId::Nai(NAI.into())), hnps: assigned(), ..Default::default() },
        }),
        "V7b_BRA_success" => MhRepr::Bra(BraRepr {
            status: BraStatus::SUCCESS,
            seq: 257,
            flags: BrFlags::P,
            options: MhOptions::default(),
        }),
        "V11_PBA_reject_156" => MhRepr::Pba(PbaRepr {
            status: BaStatus::TIMESTAMP_MISMATCH,
            flags: BaFlags(0x20),
            seq: 1,
            lifetime_units: 0,
            options: MhOptions {
                service_selection: apn(),
                hnps: vec![Ipv6Prefix::UNSPECIFIED],
                ..base_options(1, 0x0000_6592_0085_0000)
            },
        }),
        _ => return None,
    })
}

/// The MH checksum each vector carries, from vectors/README.md (0 for the RFC 5844 UDP vectors).
pub fn expected_checksum(name: &str) -> Option<u16> {
    Some(match name {
        "V1_PBU_initial_IPv6" => 0xce58,
        "V2_PBA_accept_IPv6" => 0x58ab,
        "V3_PBU_dereg_IPv6" => 0x97ed,
        "V4_PBU_initial_IPv4_UDP" | "V5_PBA_accept_IPv4_UDP" => 0,
        "V6a_Heartbeat_request" => 0x5ae7,
        "V6b_Heartbeat_response_RC" => 0x3dd4,
        "V7a_BRI_admin" => 0x575f,
        "V7b_BRA_success" => 0xd4ec,
        "V11_PBA_reject_156" => 0x97c9,
        _ => return None,
    })
}

/// V1 (PBU over native IPv6) as an IP packet.
pub fn v1_packet() -> Vec<u8> {
    json_vectors().into_iter().find(|(n, _, _)| n == "V1_PBU_initial_IPv6").unwrap().1
}

/// V4 (PBU over RFC 5844 IPv4-UDP) as an IP packet.
pub fn v4_packet() -> Vec<u8> {
    json_vectors().into_iter().find(|(n, _, _)| n == "V4_PBU_initial_IPv4_UDP").unwrap().1
}

/// Recomputes the MH checksum of a native IPv6 packet without extension headers (MH at offset 40), so a test
/// can reach the checks that come after the checksum.
pub fn fix_v6_mh_checksum(ip: &mut [u8]) {
    let src: [u8; 16] = ip[8..24].try_into().unwrap();
    let dst: [u8; 16] = ip[24..40].try_into().unwrap();
    MhPacket::new_unchecked(&mut ip[40..]).fill_checksum(&src.into(), &dst.into());
}

/// Recomputes the UDP checksum of an IPv4 packet with a 20-octet header.
pub fn fix_udp_checksum(ip: &mut [u8]) {
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    ip[26..28].fill(0);
    let udp = &ip[20..];
    let acc = checksum::pseudo_header_v4(&src, &dst, 17, udp.len() as u16);
    let c = checksum::finish(checksum::sum(acc, udp));
    ip[26..28].copy_from_slice(&c.to_be_bytes());
}

/// Recomputes the IPv4 header checksum (20-octet header).
pub fn fix_ipv4_checksum(ip: &mut [u8]) {
    ip[10..12].fill(0);
    let c = checksum::finish(checksum::sum(0, &ip[..20]));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
}
