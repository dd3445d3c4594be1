//! The LMA against single PBUs: the shared vectors are accepted, and every rejection the issue lists comes back
//! with its status and a PBA built per RFC 5213 §5.3.6 / RFC 5844 §3.3.

mod common;
mod sim;

use controlplane::config::LmaConfig;
use controlplane::keys::KeyRange;
use controlplane::lma::Lma;
use controlplane::machine::{Input, Output};
use controlplane::time::{Millis, Now};
use controlplane::transport::{self, FrameHeader, Framing, UdpPorts};
use controlplane::wire::*;
use sim::{lma_config, mag6, nai, LMA6, WALL_ORIGIN};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn at(ms: u64) -> Now {
    Now::virtual_at(Millis(ms), WALL_ORIGIN)
}

fn from_mag(i: usize) -> FrameHeader {
    FrameHeader::new(Framing::Ipv6, mag6(i).into(), LMA6.into())
}

/// A valid initial PBU for UE `ue` (IPv4v6 on `internet`) stamped at `now`.
fn pbu(ue: u32, now: Now) -> PbuRepr {
    PbuRepr {
        seq: 10,
        flags: BuFlags::PBU,
        lifetime_units: 900,
        options: MhOptions {
            mn_id: Some(MnId::Nai(nai(ue))),
            service_selection: Some(Apn::from_dotted("internet").unwrap()),
            hnps: vec![Ipv6Prefix::UNSPECIFIED],
            ipv4_hoa_reqs: vec![Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED }],
            hi: Some(HandoffIndicator::NEW_INTERFACE),
            att: Some(AccessTechType::EUTRAN),
            timestamp: Some(now.timestamp()),
            gre_key: Some(GreKeyOpt::Key(0x100 + ue)),
            ..Default::default()
        },
    }
}

/// Feeds a PBU, acknowledges every fast-path update at once, returns the PBA (if any).
fn send(lma: &mut Lma, header: FrameHeader, p: PbuRepr, now: Now) -> Option<PbaRepr> {
    let mut out = Vec::new();
    lma.handle(Input::Received { header, msg: MhRepr::Pbu(p) }, now, &mut out);
    let mut i = 0;
    while i < out.len() {
        if let Output::Fastpath { token, .. } = out[i] {
            let mut more = Vec::new();
            lma.handle(Input::FastpathApplied(token), now, &mut more);
            out.extend(more);
        }
        i += 1;
    }
    out.into_iter().find_map(|o| match o {
        Output::Send { msg: MhRepr::Pba(p), header: h } => {
            assert_eq!(h, header.reply(), "answered in the form it came");
            Some(p)
        }
        _ => None,
    })
}

fn status_of(config: LmaConfig, header: FrameHeader, p: PbuRepr) -> (BaStatus, PbaRepr) {
    let mut lma = Lma::new(config, 1).unwrap();
    let pba = send(&mut lma, header, p, at(0)).expect("a PBA");
    (pba.status, pba)
}

fn expect(config: LmaConfig, p: PbuRepr, want: BaStatus) -> PbaRepr {
    let (got, pba) = status_of(config, from_mag(0), p);
    assert_eq!(got, want, "{pba:?}");
    assert_eq!(pba.lifetime_units, 0, "rejected: lifetime 0");
    assert_eq!(pba.options.gre_key, None, "rejected: no uplink key");
    pba
}

#[test]
fn the_shared_pbu_vectors_are_accepted_with_an_uplink_key() {
    for (packet, vector_time_ms) in [(common::v1_packet(), 500), (common::v4_packet(), 250)] {
        let frame = transport::parse(&packet).unwrap();
        let (header, msg) = (frame.header, frame.repr().unwrap());
        let MhRepr::Pbu(p) = msg else { panic!() };
        let mut lma = Lma::new(lma_config(), 1).unwrap();
        let pba = send(&mut lma, header, p.clone(), at(vector_time_ms)).unwrap();
        assert_eq!(pba.status, BaStatus::ACCEPTED, "{pba:?}");
        assert_eq!(pba.seq, p.seq);
        assert_eq!(pba.lifetime_units, 900);
        assert!(matches!(pba.options.gre_key, Some(GreKeyOpt::Key(k)) if k != 0));
        assert_eq!(pba.options.timestamp, p.options.timestamp, "valid timestamp echoed");
        assert_eq!(pba.options.mn_id, Some(MnId::Nai(common::NAI.into())));
        // It re-emits in the peer's framing (RFC 5844 form: UDP ports mirrored).
        let reply = header.reply();
        let mut buf = vec![0; reply.buffer_len(&MhRepr::Pba(pba.clone()))];
        transport::emit(&reply, &MhRepr::Pba(pba.clone()), &mut buf).unwrap();
        let back = transport::parse(&buf).unwrap();
        assert_eq!(back.header.framing, header.framing.reply());
        if let Framing::Ipv4Udp(ports) = back.header.framing {
            assert_eq!(ports, UdpPorts { src: 5436, dst: 5436 });
            assert!(pba.options.ipv4_hoa_reply.is_some_and(|r| r.status == 0));
        } else {
            assert_eq!(pba.options.hnps.len(), 1);
            assert_eq!(pba.options.hnps[0].len, 64);
        }
    }
}

#[test]
fn non_proxy_binding_update_is_refused_131() {
    let mut p = pbu(1, at(0));
    p.flags = BuFlags::A | BuFlags::H;
    let pba = expect(lma_config(), p, BaStatus(131));
    assert!(!pba.flags.contains(BaFlags::P), "P only if the BU had it");
}

#[test]
fn missing_mn_id_160_with_zero_length_identifier() {
    let mut p = pbu(1, at(0));
    p.options.mn_id = None;
    let pba = expect(lma_config(), p, BaStatus::MISSING_MN_IDENTIFIER_OPTION);
    assert_eq!(pba.options.mn_id, Some(MnId::Nai(String::new())));
}

#[test]
fn mag_outside_the_allowlist_154() {
    let header = FrameHeader::new(Framing::Ipv6, "2001:db8:9::1".parse::<Ipv6Addr>().unwrap().into(), LMA6.into());
    let (status, _) = status_of(lma_config(), header, pbu(1, at(0)));
    assert_eq!(status, BaStatus::MAG_NOT_AUTHORIZED_FOR_PROXY_REG);
    let mut closed = lma_config();
    closed.allowed_mags.clear();
    expect(closed, pbu(1, at(0)), BaStatus::MAG_NOT_AUTHORIZED_FOR_PROXY_REG);
}

#[test]
fn foreign_realm_153_and_disabled_mn_152() {
    let mut c = lma_config();
    c.served_realms = vec!["NAI.EPC.MNC001.MCC001.3GPPNETWORK.ORG".into()];
    let mut p = pbu(1, at(0));
    p.options.mn_id = Some(MnId::Nai("001019999999999@nai.epc.mnc999.mcc999.3gppnetwork.org".into()));
    expect(c.clone(), p, BaStatus::NOT_LMA_FOR_THIS_MOBILE_NODE);
    assert_eq!(status_of(c, from_mag(0), pbu(1, at(0))).0, BaStatus::ACCEPTED, "realm match ignores case");
    let mut c = lma_config();
    c.proxy_registration_disabled = vec![nai(1)];
    expect(c, pbu(1, at(0)), BaStatus::PROXY_REG_NOT_ENABLED);
}

#[test]
fn timestamp_outside_window_or_missing_156() {
    let mut p = pbu(1, at(0));
    p.options.timestamp = Some(at(301).timestamp());
    let pba = expect(lma_config(), p, BaStatus::TIMESTAMP_MISMATCH);
    assert_eq!(pba.options.timestamp, Some(at(0).timestamp()), "the LMA's clock");
    let mut p = pbu(1, at(0));
    p.options.timestamp = Some(at(299).timestamp());
    assert_eq!(status_of(lma_config(), from_mag(0), p).0, BaStatus::ACCEPTED);
    let mut p = pbu(1, at(0));
    p.options.timestamp = None;
    expect(lma_config(), p, BaStatus::TIMESTAMP_MISMATCH);
}

#[test]
fn lower_timestamp_157_and_stale_sequence_135() {
    let mut lma = Lma::new(lma_config(), 1).unwrap();
    let first = pbu(1, at(100));
    assert_eq!(send(&mut lma, from_mag(0), first.clone(), at(100)).unwrap().status, BaStatus::ACCEPTED);
    let mut older = pbu(1, at(50));
    older.seq = 11;
    assert_eq!(
        send(&mut lma, from_mag(0), older, at(100)).unwrap().status,
        BaStatus::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED
    );

    let mut c = lma_config();
    c.timestamp_based = false;
    let mut lma = Lma::new(c, 1).unwrap();
    let mut p = pbu(1, at(0));
    p.options.timestamp = None;
    p.seq = 40_000;
    assert_eq!(send(&mut lma, from_mag(0), p.clone(), at(0)).unwrap().status, BaStatus::ACCEPTED);
    p.seq = 40_000u16.wrapping_sub(100);
    let pba = send(&mut lma, from_mag(0), p.clone(), at(0)).unwrap();
    assert_eq!((pba.status, pba.seq), (BaStatus::SEQUENCE_OUT_OF_WINDOW, 40_000));
    p.seq = 40_001;
    assert_eq!(send(&mut lma, from_mag(0), p, at(0)).unwrap().status, BaStatus::ACCEPTED);
}

#[test]
fn missing_options_158_161_162_163() {
    let mut p = pbu(1, at(0));
    p.options.hnps.clear();
    p.options.ipv4_hoa_reqs.clear();
    let pba = expect(lma_config(), p, BaStatus::MISSING_HOME_NETWORK_PREFIX_OPTION);
    assert_eq!(pba.options.hnps, vec![Ipv6Prefix::UNSPECIFIED], "a single ::/0 when none was sent");
    let mut p = pbu(1, at(0));
    p.options.hi = None;
    let pba = expect(lma_config(), p, BaStatus::MISSING_HANDOFF_INDICATOR_OPTION);
    assert_eq!(pba.options.hi, Some(HandoffIndicator::RESERVED), "value 0 when missing");
    let mut p = pbu(1, at(0));
    p.options.att = None;
    expect(lma_config(), p, BaStatus::MISSING_ACCESS_TECH_TYPE_OPTION);
    let mut p = pbu(1, at(0));
    p.options.gre_key = None;
    expect(lma_config(), p, BaStatus::GRE_KEY_OPTION_REQUIRED);
    let mut p = pbu(1, at(0));
    p.options.gre_key = Some(GreKeyOpt::NoKey);
    expect(lma_config(), p, BaStatus::GRE_KEY_OPTION_REQUIRED);
}

#[test]
fn handover_without_gre_key_163() {
    let mut lma = Lma::new(lma_config(), 1).unwrap();
    let pba = send(&mut lma, from_mag(0), pbu(1, at(0)), at(0)).unwrap();
    let mut h = pbu(1, at(10));
    h.options.hi = Some(HandoffIndicator::SAME_INTERFACE);
    h.options.hnps = pba.options.hnps.clone();
    h.options.gre_key = None;
    assert_eq!(send(&mut lma, from_mag(1), h, at(10)).unwrap().status, BaStatus::GRE_KEY_OPTION_REQUIRED);
    assert_eq!(lma.cache().iter().next().unwrap().proxy_coa(), IpAddr::V6(mag6(0)), "binding did not move");
}

#[test]
fn no_address_or_key_left_130() {
    let mut c = lma_config();
    c.apns[0].ipv4_pool = Some("10.45.0.0/30".parse().unwrap()); // exactly one home address
    let mut lma = Lma::new(c, 1).unwrap();
    assert_eq!(send(&mut lma, from_mag(0), pbu(1, at(0)), at(0)).unwrap().status, BaStatus::ACCEPTED);
    let pba = send(&mut lma, from_mag(0), pbu(2, at(0)), at(0)).unwrap();
    assert_eq!(pba.status, BaStatus::INSUFFICIENT_RESOURCES);
    assert_eq!(pba.options.ipv4_hoa_reply.map(|r| r.status), Some(Ipv4HoaReply::STATUS_FAILURE_UNSPECIFIED));
    lma.check_invariants().unwrap(); // the prefix taken for UE 2 went back

    let mut c = lma_config();
    c.uplink_keys = KeyRange { first: 7, last: 7 };
    let mut lma = Lma::new(c, 1).unwrap();
    assert_eq!(send(&mut lma, from_mag(0), pbu(1, at(0)), at(0)).unwrap().options.gre_key, Some(GreKeyOpt::Key(7)));
    assert_eq!(send(&mut lma, from_mag(0), pbu(2, at(0)), at(0)).unwrap().status, BaStatus::INSUFFICIENT_RESOURCES);
    lma.check_invariants().unwrap();
}

#[test]
fn ipv4_cases_170_171_172_173() {
    let mut p = pbu(1, at(0));
    p.options.service_selection = Some(Apn::from_dotted("ims").unwrap());
    expect(lma_config(), p, BaStatus::NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE);

    let mut p = pbu(1, at(0));
    p.options.ipv4_hoa_reqs = vec![Ipv4HoaRequest { prefix_len: 32, addr: Ipv4Addr::new(10, 99, 0, 5) }];
    let pba = expect(lma_config(), p, BaStatus::NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS);
    let reply = pba.options.ipv4_hoa_reply.unwrap();
    assert_eq!(
        (reply.status, reply.addr),
        (Ipv4HoaReply::STATUS_ADMINISTRATIVELY_PROHIBITED, Ipv4Addr::new(10, 99, 0, 5))
    );

    let mut p = pbu(1, at(0));
    p.options.service_selection = Some(Apn::from_dotted("v4only").unwrap());
    expect(lma_config(), p, BaStatus::NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE);

    let mut p = pbu(1, at(0));
    p.options.ipv4_hoa_reqs.push(Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED });
    expect(lma_config(), p, BaStatus::MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED);
}

#[test]
fn apn_not_served_151() {
    let mut p = pbu(1, at(0));
    p.options.service_selection = Some(Apn::from_dotted("corporate").unwrap());
    expect(lma_config(), p, BaStatus::SERVICE_AUTHORIZATION_FAILED);
    let mut c = lma_config();
    c.default_apn = None;
    let mut p = pbu(1, at(0));
    p.options.service_selection = None;
    expect(c, p, BaStatus::SERVICE_AUTHORIZATION_FAILED);
}

#[test]
fn prefix_of_another_mn_155_and_prefix_set_mismatch_159() {
    let mut lma = Lma::new(lma_config(), 1).unwrap();
    let a = send(&mut lma, from_mag(0), pbu(1, at(0)), at(0)).unwrap();
    let b = send(&mut lma, from_mag(0), pbu(2, at(0)), at(0)).unwrap();
    // UE 2 claims UE 1's prefix.
    let mut p = pbu(2, at(10));
    p.options.hi = Some(HandoffIndicator::NOT_CHANGED);
    p.options.hnps = a.options.hnps.clone();
    assert_eq!(
        send(&mut lma, from_mag(0), p, at(10)).unwrap().status,
        BaStatus::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
    );
    // A prefix the LMA never handed out, longer than /64.
    let mut p = pbu(3, at(10));
    p.options.hnps = vec![Ipv6Prefix { addr: "2001:db8:100:5::".parse().unwrap(), len: 80 }];
    assert_eq!(
        send(&mut lma, from_mag(0), p, at(10)).unwrap().status,
        BaStatus::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX
    );
    // UE 1 refreshes naming its prefix plus another one: the sets differ.
    let mut p = pbu(1, at(20));
    p.options.hi = Some(HandoffIndicator::NOT_CHANGED);
    p.options.hnps = vec![a.options.hnps[0], Ipv6Prefix { addr: "2001:db8:100:77::".parse().unwrap(), len: 64 }];
    assert_eq!(send(&mut lma, from_mag(0), p, at(20)).unwrap().status, BaStatus::BCE_PBU_PREFIX_SET_DO_NOT_MATCH);
    // UE 2 refreshes with a different (free) prefix than its own.
    let mut p = pbu(2, at(30));
    p.options.hnps = vec![Ipv6Prefix { addr: "2001:db8:100:77::".parse().unwrap(), len: 64 }];
    assert_eq!(send(&mut lma, from_mag(0), p, at(30)).unwrap().status, BaStatus::BCE_PBU_PREFIX_SET_DO_NOT_MATCH);
    let _ = b;
    lma.check_invariants().unwrap();
    assert_eq!(lma.binding_count(), 2);
}

#[test]
fn a_refresh_from_the_mag_a_handover_left_is_refused_and_the_binding_stays() {
    let mut lma = Lma::new(lma_config(), 1).unwrap();
    let first = send(&mut lma, from_mag(0), pbu(1, at(0)), at(0)).unwrap();
    // MAG1 takes over (HI 3) with the granted prefix and address.
    let mut moved = pbu(1, at(100));
    moved.seq = 11;
    moved.options.hi = Some(HandoffIndicator::SAME_INTERFACE);
    moved.options.hnps = first.options.hnps.clone();
    let hoa = first.options.ipv4_hoa_reply.unwrap();
    moved.options.ipv4_hoa_reqs = vec![Ipv4HoaRequest { prefix_len: hoa.prefix_len, addr: hoa.addr }];
    moved.options.gre_key = Some(GreKeyOpt::Key(0x900));
    assert_eq!(send(&mut lma, from_mag(1), moved.clone(), at(100)).unwrap().status, BaStatus::ACCEPTED);
    // MAG0's refresh timer fired before the BRI reached it: HI 5 from MAG0, a later timestamp.
    let mut stale = moved;
    stale.seq = 12;
    stale.options.hi = Some(HandoffIndicator::NOT_CHANGED);
    stale.options.timestamp = Some(at(150).timestamp());
    stale.options.gre_key = Some(GreKeyOpt::Key(0x101));
    let pba = send(&mut lma, from_mag(0), stale, at(150)).expect("answered at once, not held");
    assert_eq!(pba.status, BaStatus::ADMINISTRATIVELY_PROHIBITED);
    let bce = lma.cache().iter().next().unwrap();
    assert_eq!(bce.proxy_coa(), IpAddr::V6(mag6(1)), "the binding stays with the MAG that serves it");
    assert_eq!(bce.downlink_key, 0x900);
    lma.check_invariants().unwrap();
}

#[test]
fn unmatched_deregistration_is_silently_ignored() {
    let mut lma = Lma::new(lma_config(), 1).unwrap();
    let mut p = pbu(1, at(0));
    p.lifetime_units = 0;
    assert_eq!(send(&mut lma, from_mag(0), p, at(0)), None);
}

#[test]
fn a_specific_free_prefix_and_address_can_be_asked_for() {
    let mut lma = Lma::new(lma_config(), 1).unwrap();
    let mut p = pbu(1, at(0));
    p.options.hnps = vec![Ipv6Prefix { addr: "2001:db8:100:42::".parse().unwrap(), len: 64 }];
    p.options.ipv4_hoa_reqs = vec![Ipv4HoaRequest { prefix_len: 32, addr: Ipv4Addr::new(10, 45, 3, 3) }];
    let pba = send(&mut lma, from_mag(0), p, at(0)).unwrap();
    assert_eq!(pba.status, BaStatus::ACCEPTED);
    assert_eq!(pba.options.hnps[0].addr, "2001:db8:100:42::".parse::<Ipv6Addr>().unwrap());
    assert_eq!(pba.options.ipv4_hoa_reply.unwrap().addr, Ipv4Addr::new(10, 45, 3, 3));
    lma.check_invariants().unwrap();
    let _ = Duration::ZERO;
}
