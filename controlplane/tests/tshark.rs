//! Messages we emit, written to a pcap, are decoded by an independent dissector (tshark ≥ 4.0) without a single
//! malformed or expert-info frame, and the field values tshark reads equal what we emitted — in all four
//! framings. tshark is required: if it is missing this test fails (CI installs it).
//!
//! tshark does not verify the MH checksum (the vectors test covers it against scapy-checked values); it does
//! verify the IPv4 header and UDP checksums here (`ip.check_checksum`, `udp.check_checksum`).

mod common;

use common::*;
use controlplane::transport::{self, FrameHeader, Framing, UdpPorts};
use controlplane::wire::*;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

/// tshark field name → expected value.
type Expect = Vec<(&'static str, String)>;

/// One emitted frame and the tshark field values it must decode to (several occurrences joined by ',').
struct Case {
    name: &'static str,
    header: FrameHeader,
    repr: MhRepr,
    expect: Expect,
}

const APN: &str = "ims.mnc001.mcc001.gprs";
const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

fn ts(secs: u64, nanos: u32) -> Timestamp {
    Timestamp::from_system_time(UNIX_EPOCH + Duration::new(secs, nanos))
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn hnp(s: &str, len: u8) -> Ipv6Prefix {
    Ipv6Prefix { addr: v6(s), len }
}

fn e(field: &'static str, value: impl ToString) -> (&'static str, String) {
    (field, value.to_string())
}

/// A PBU carrying every option a MAG sends (RFC 5213 §6.9.1.5, RFC 5844, RFC 5845; APN and PDN Connection ID per
/// TS 29.275 §5.1.1).
fn pbu() -> (MhRepr, Expect) {
    let repr = MhRepr::Pbu(PbuRepr {
        seq: 4242,
        flags: BuFlags::PBU,
        lifetime_units: lifetime_to_units(Duration::from_secs(3600)),
        options: MhOptions {
            mn_id: Some(MnId::Nai(NAI.into())),
            service_selection: Some(Apn::from_dotted(APN).unwrap()),
            hnps: vec![Ipv6Prefix::UNSPECIFIED],
            ipv4_hoa_reqs: vec![Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED }],
            hi: Some(HandoffIndicator::NEW_INTERFACE),
            att: Some(AccessTechType::EUTRAN),
            mn_ll_id: Some(MAC.to_vec()),
            link_local: Some(Ipv6Addr::UNSPECIFIED),
            // 2024-01-01T00:00:00.5Z
            timestamp: Some(ts(1_704_067_200, 500_000_000)),
            gre_key: Some(GreKeyOpt::Key(DL_KEY)),
            alt_coa: Some(v6("2001:db8:1::77")),
            vendor: vec![VendorOpt::three_gpp(ThreeGppIe::PdnConnectionId(5))],
            ..Default::default()
        },
    });
    let expect = vec![
        e("mip6.mhtype", 5),
        e("mip6.bu.seqnr", 4242),
        e("mip6.bu.a_flag", 1),
        e("mip6.bu.h_flag", 1),
        e("mip6.bu.p_flag", 1),
        e("mip6.bu.lifetime", 900),
        e("mip6.mnid.subtype", 1),
        e("mip6.mnid.identifier", NAI),
        e("mip6.ss.identifier", APN),
        e("mip6.nemo.mnp.pfl", 0),
        e("mip6.nemo.mnp.mnp", "::"),
        e("mip6.ipv4ha.preflen", 0),
        e("mip6.ipv4ha.ha", "0.0.0.0"),
        e("mip6.hi", 1),
        e("mip6.att", 8),
        e("mip6.mnlli.lli", "021122334455"),
        e("mip6.lila_lla", "::"),
        e("mip6.timestamp_tmp", "Jan  1, 2024 00:00:00.500000000 UTC"),
        e("mip6.gre_key", DL_KEY),
        e("mip6.acoa.acoa", "2001:db8:1::77"),
        e("mip6.vsm.vendorId", 10415),
        e("mip6.vsm.subtype", 17),
        e("mip6.3gpp.flag.m", 0),
        e("mip6.3gpp.pdn_conn_id", 5),
    ];
    (repr, expect)
}

/// A PBA accepting the PBU above, with everything an LMA returns.
fn pba() -> (MhRepr, Expect) {
    let repr = MhRepr::Pba(PbaRepr {
        status: BaStatus::ACCEPTED,
        flags: BaFlags::P,
        seq: 4242,
        lifetime_units: 900,
        options: MhOptions {
            mn_id: Some(MnId::Nai(NAI.into())),
            service_selection: Some(Apn::from_dotted(APN).unwrap()),
            hnps: vec![hnp("2001:db8:aaaa:1::", 64)],
            ipv4_hoa_reply: Some(Ipv4HoaReply { status: 0, prefix_len: 16, addr: Ipv4Addr::new(10, 45, 0, 2) }),
            ipv4_default_router: Some(Ipv4Addr::new(10, 45, 0, 1)),
            dhcp_mode: Some(DhcpSupportMode { server: true }),
            hi: Some(HandoffIndicator::NEW_INTERFACE),
            att: Some(AccessTechType::EUTRAN),
            mn_ll_id: Some(MAC.to_vec()),
            link_local: Some(v6("fe80::1")),
            // 2025-06-15T12:34:56.25Z
            timestamp: Some(ts(1_749_990_896, 250_000_000)),
            gre_key: Some(GreKeyOpt::Key(UL_KEY)),
            nat_detection: Some(NatDetection { force_udp: true, refresh_time: 110 }),
            vendor: vec![
                VendorOpt::three_gpp(ThreeGppIe::PdnConnectionId(5)),
                VendorOpt::three_gpp(ThreeGppIe::ChargingId(0x0102_0304)),
                VendorOpt::three_gpp(ThreeGppIe::PdnTypeIndication { pdn_type: 3, cause: 18 }),
            ],
            ..Default::default()
        },
    });
    let expect = vec![
        e("mip6.mhtype", 6),
        e("mip6.ba.status", 0),
        e("mip6.ba.p_flag", 1),
        e("mip6.ba.seqnr", 4242),
        e("mip6.ba.lifetime", 900),
        e("mip6.mnid.identifier", NAI),
        e("mip6.ss.identifier", APN),
        e("mip6.nemo.mnp.pfl", 64),
        e("mip6.nemo.mnp.mnp", "2001:db8:aaaa:1::"),
        e("mip6.ipv4aa.sts", 0),
        e("mip6.ipv4ha.preflen", 16),
        e("mip6.ipv4ha.ha", "10.45.0.2"),
        e("mip6.ipv4dra.dra", "10.45.0.1"),
        e("mip6.ipv4dsm.s_flag", 1),
        e("mip6.hi", 1),
        e("mip6.att", 8),
        e("mip6.mnlli.lli", "021122334455"),
        e("mip6.lila_lla", "fe80::1"),
        e("mip6.timestamp_tmp", "Jun 15, 2025 12:34:56.250000000 UTC"),
        e("mip6.gre_key", UL_KEY),
        e("mip6.natd.f_flag", 1),
        e("mip6.natd.refresh_t", 110),
        e("mip6.vsm.vendorId", "10415,10415,10415"),
        e("mip6.vsm.subtype", "17,7,6"),
        e("mip6.3gpp.pdn_conn_id", 5),
        e("mip6.3gpp.chg_id", 0x0102_0304),
        e("mip6.3gpp.pdn_type", 3),
        e("mip6.3gpp.pdn_ind_cause", 18),
    ];
    (repr, expect)
}

/// Messages other than the PBU/PBA pair, on native IPv6.
fn others() -> Vec<(&'static str, MhRepr, Expect)> {
    vec![
        (
            "PBA reject 156 with 3GPP error code",
            MhRepr::Pba(PbaRepr {
                status: BaStatus::TIMESTAMP_MISMATCH,
                flags: BaFlags::P,
                seq: 9,
                lifetime_units: 0,
                options: MhOptions {
                    mn_id: Some(MnId::Nai(NAI.into())),
                    hnps: vec![Ipv6Prefix::UNSPECIFIED],
                    hi: Some(HandoffIndicator::NEW_INTERFACE),
                    att: Some(AccessTechType::EUTRAN),
                    timestamp: Some(ts(1_704_067_205, 0)),
                    vendor: vec![VendorOpt::three_gpp(ThreeGppIe::ErrorCode(221))],
                    ..Default::default()
                },
            }),
            vec![
                e("mip6.ba.status", 156),
                e("mip6.ba.lifetime", 0),
                e("mip6.timestamp_tmp", "Jan  1, 2024 00:00:05.000000000 UTC"),
                e("mip6.3gpp.spec_pmipv6_err_code", 221),
            ],
        ),
        (
            "PBU de-registration, keyless GRE option",
            MhRepr::Pbu(PbuRepr {
                seq: 10,
                flags: BuFlags::PBU,
                lifetime_units: 0,
                options: MhOptions {
                    mn_id: Some(MnId::Nai(NAI.into())),
                    hnps: vec![hnp("2001:db8:aaaa:1::", 64), hnp("2001:db8:aaaa:2::", 64)],
                    hi: Some(HandoffIndicator::UNKNOWN),
                    att: Some(AccessTechType::UTRAN),
                    gre_key: Some(GreKeyOpt::NoKey),
                    ..Default::default()
                },
            }),
            vec![
                e("mip6.bu.lifetime", 0),
                e("mip6.nemo.mnp.mnp", "2001:db8:aaaa:1::,2001:db8:aaaa:2::"),
                e("mip6.hi", 4),
                e("mip6.att", 7),
                // MN-ID at 12, HNP at 68, PadN(2) to put the 2nd HNP at 92 (8n+4), HI, ATT, keyless GRE at
                // 120 (4n), final PadN(2) to 128.
                e("mip6.mobility_opt.len", "54,18,2,18,2,2,2,2"),
                // Keyless GRE Key option (length 2): tshark sees the option but no key.
                e("mip6.gre_key", ""),
            ],
        ),
        (
            "Heartbeat request",
            MhRepr::Heartbeat(HeartbeatRepr {
                kind: HeartbeatKind::Request,
                seq: 70_000,
                options: MhOptions::default(),
            }),
            vec![e("mip6.mhtype", 13), e("mip6.hb.seqnr", 70_000), e("mip6.hb.r_flag", 0), e("mip6.hb.u_flag", 0)],
        ),
        (
            "Heartbeat response",
            MhRepr::Heartbeat(HeartbeatRepr {
                kind: HeartbeatKind::Response,
                seq: 70_000,
                options: MhOptions { restart_counter: Some(3), ..Default::default() },
            }),
            vec![e("mip6.hb.r_flag", 1), e("mip6.hb.u_flag", 0), e("mip6.rc", 3)],
        ),
        (
            "Heartbeat unsolicited response",
            MhRepr::Heartbeat(HeartbeatRepr {
                kind: HeartbeatKind::UnsolicitedResponse,
                seq: 0,
                options: MhOptions { restart_counter: Some(4), ..Default::default() },
            }),
            vec![e("mip6.hb.r_flag", 1), e("mip6.hb.u_flag", 1), e("mip6.rc", 4)],
        ),
        (
            "BRI",
            MhRepr::Bri(BriRepr {
                trigger: RevocationTrigger::USER_INITIATED_SESSION_TERMINATION,
                seq: 300,
                flags: BrFlags::P | BrFlags::V,
                options: MhOptions {
                    mn_id: Some(MnId::Nai(NAI.into())),
                    hnps: vec![hnp("2001:db8:aaaa:1::", 64)],
                    ipv4_hoa_reqs: vec![Ipv4HoaRequest { prefix_len: 16, addr: Ipv4Addr::new(10, 45, 0, 2) }],
                    ..Default::default()
                },
            }),
            vec![
                e("mip6.bri_br.type", 1),
                e("mip6.bri_r.trigger", 5),
                e("mip6.bri_seqnr", 300),
                e("mip6.bri_ip", 1),
                e("mip6.bri_iv", 1),
                e("mip6.bri_ig", 0),
                e("mip6.ipv4ha.ha", "10.45.0.2"),
            ],
        ),
        (
            "BRA",
            MhRepr::Bra(BraRepr {
                status: BraStatus::BINDING_DOES_NOT_EXIST,
                seq: 300,
                flags: BrFlags::P,
                options: MhOptions::default(),
            }),
            vec![e("mip6.bri_br.type", 2), e("mip6.bri_status", 128), e("mip6.bri_seqnr", 300), e("mip6.bri_ap", 1)],
        ),
        (
            "Binding Error",
            MhRepr::BindingError(BindingErrorRepr {
                status: BindingErrorRepr::STATUS_UNRECOGNIZED_MH_TYPE,
                home_addr: v6("2001:db8:1::1"),
                options: MhOptions::default(),
            }),
            vec![e("mip6.mhtype", 7), e("mip6.be.status", 2), e("mip6.be.haddr", "2001:db8:1::1")],
        ),
    ]
}

fn cases() -> Vec<Case> {
    let v6hdr = |src: Ipv6Addr, dst: Ipv6Addr| FrameHeader::new(Framing::Ipv6, src.into(), dst.into());
    let v4hdr = |f: Framing, src: Ipv4Addr, dst: Ipv4Addr| FrameHeader {
        ipv4_ident: 0x1234,
        ..FrameHeader::new(f, src.into(), dst.into())
    };
    let mut out = Vec::new();
    let ipv4_framings = [
        ("IPv4 (3GPP, proto 41)", Framing::Ipv6InIpv4),
        ("IPv4-UDP (3GPP, inner IPv6)", Framing::Ipv6InIpv4Udp(UdpPorts::CNTL)),
        ("IPv4-UDP (RFC 5844)", Framing::Ipv4Udp(UdpPorts::CNTL)),
    ];
    let (pbu, pbu_expect) = pbu();
    let (pba, pba_expect) = pba();
    out.push(Case { name: "PBU IPv6", header: v6hdr(MAG6, LMA6), repr: pbu.clone(), expect: pbu_expect.clone() });
    out.push(Case { name: "PBA IPv6", header: v6hdr(LMA6, MAG6), repr: pba.clone(), expect: pba_expect.clone() });
    for (name, framing) in ipv4_framings {
        let pbu_hdr = v4hdr(framing, MAG4, LMA4);
        out.push(Case { name, header: pbu_hdr, repr: pbu.clone(), expect: pbu_expect.clone() });
        // The PBA answers in the form the PBU came in (ports swapped).
        let pba_hdr = FrameHeader { ipv4_ident: 0x4321, ..pbu_hdr.reply() };
        out.push(Case { name, header: pba_hdr, repr: pba.clone(), expect: pba_expect.clone() });
    }
    for (name, repr, expect) in others() {
        out.push(Case { name, header: v6hdr(LMA6, MAG6), repr, expect });
    }
    for c in &mut out {
        c.expect.extend(address_fields(&c.header));
    }
    out
}

/// What tshark must show for the outer/inner headers of a frame.
fn address_fields(h: &FrameHeader) -> Expect {
    let mapped = |a: IpAddr| match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_string(),
        IpAddr::V6(v6) => v6.to_string(),
    };
    let mut f = vec![e("ipv6.src", mapped(h.src)), e("ipv6.dst", mapped(h.dst))];
    if h.framing.is_ipv4() {
        f.extend([e("ip.src", h.src), e("ip.dst", h.dst), e("ip.checksum.status", 1)]);
    }
    match h.framing {
        Framing::Ipv6InIpv4Udp(p) => {
            f.extend([e("udp.srcport", p.src), e("udp.dstport", p.dst), e("udp.checksum.status", 1)])
        }
        Framing::Ipv4Udp(p) => {
            f.retain(|(k, _)| !k.starts_with("ipv6."));
            f.extend([
                e("udp.srcport", p.src),
                e("udp.dstport", p.dst),
                e("udp.checksum.status", 1),
                e("mip6.csum", "0x0000"),
            ]);
        }
        _ => {}
    }
    f
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = PcapWriter::new(file).expect("pcap header");
    for (i, ip) in frames.iter().enumerate() {
        // Ethernet: locally administered MACs, EtherType from the IP version.
        let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
        frame.extend_from_slice(if ip[0] >> 4 == 6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
        frame.extend_from_slice(ip);
        w.write_packet(&PcapPacket::new(Duration::from_secs(i as u64), frame.len() as u32, &frame)).expect("write");
    }
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().unwrap_or_else(|e| {
        panic!("tshark could not be run ({e}). This test needs tshark ≥ 4.0 (Debian/Ubuntu: apt-get install tshark).")
    });
    assert!(out.status.success(), "tshark {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs tshark over `pcap` with `decode_as` and returns one field map per frame.
fn decode(pcap: &Path, decode_as: &[&str], fields: &[&str]) -> Vec<HashMap<String, String>> {
    let path = pcap.to_str().unwrap();
    let prefs = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"];
    // 1. Nothing malformed, no expert info of any severity.
    let mut args = vec![
        "-r",
        path,
        "-Y",
        "_ws.expert || _ws.malformed",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "_ws.expert.message",
    ];
    args.extend(prefs);
    args.extend(decode_as);
    let flagged = tshark(&args);
    assert!(flagged.trim().is_empty(), "tshark flagged frames in {path}:\n{flagged}");
    // 2. Field values.
    let mut args = vec!["-r", path, "-T", "fields", "-E", "header=y", "-E", "occurrence=a", "-E", "aggregator=,"];
    args.extend(prefs);
    args.extend(decode_as);
    for f in fields {
        args.extend(["-e", f]);
    }
    let text = tshark(&args);
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().expect("header line").split('\t').collect();
    lines.map(|l| names.iter().map(|n| n.to_string()).zip(l.split('\t').map(str::to_string)).collect()).collect()
}

#[test]
fn tshark_decodes_what_we_emit() {
    let cases = cases();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    // The 3GPP IPv4-UDP form puts an IPv6 header behind UDP 5436, where Wireshark expects a bare MH
    // (RFC 5844): those frames go to a second capture decoded with `udp.port==5436 → ipv6`.
    let (udp_v6, rest): (Vec<&Case>, Vec<&Case>) =
        cases.iter().partition(|c| matches!(c.header.framing, Framing::Ipv6InIpv4Udp(_)));
    let mut checked = 0;
    for (file, group, decode_as) in [
        ("codec_emitted.pcap", rest, vec![]),
        ("codec_emitted_3gpp_udp.pcap", udp_v6, vec!["-d", "udp.port==5436,ipv6"]),
    ] {
        let frames: Vec<Vec<u8>> = group
            .iter()
            .map(|c| {
                let mut buf = vec![0; c.header.buffer_len(&c.repr)];
                transport::emit(&c.header, &c.repr, &mut buf).unwrap();
                // Our own parser agrees before we ask tshark.
                assert_eq!(transport::parse(&buf).unwrap().repr().unwrap(), c.repr, "{}", c.name);
                buf
            })
            .collect();
        let path = dir.join(file);
        write_pcap(&path, &frames);
        let mut fields: Vec<&str> = group.iter().flat_map(|c| c.expect.iter().map(|(k, _)| *k)).collect();
        fields.sort();
        fields.dedup();
        let decoded = decode(&path, &decode_as, &fields);
        assert_eq!(decoded.len(), group.len(), "{file}: frame count");
        for (case, got) in group.iter().zip(&decoded) {
            for (field, want) in &case.expect {
                assert_eq!(
                    got.get(*field),
                    Some(want),
                    "{} ({:?}): tshark field {field}",
                    case.name,
                    case.header.framing
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "only {checked} field comparisons");
}
