//! Scenarios of TS 29.275 §6 / RFC 5213 / 5846 / 5847 run through the deterministic simulation: MAG and LMA
//! state machines, a faulty network, fake fast paths, a virtual clock.

mod sim;

use controlplane::api::{PdnType, Request, Response, Selector};
use controlplane::config::Ipv4Signalling;
use controlplane::fastpath::{Function, TunnelUpdate};
use controlplane::machine::{EndReason, Event};
use controlplane::time::Millis;
use controlplane::transport::Framing;
use controlplane::wire::*;
use sim::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn error_text(r: &Response) -> &str {
    match r {
        Response::Error { error } => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn pbas(sim: &Sim) -> Vec<&PbaRepr> {
    sim.wire.iter().filter_map(|w| if let MhRepr::Pba(p) = &w.msg { Some(p) } else { None }).collect()
}

fn pbus_from(sim: &Sim, node: NodeId) -> Vec<(Millis, &PbuRepr)> {
    sim.wire
        .iter()
        .filter(|w| w.from == node)
        .filter_map(|w| if let MhRepr::Pbu(p) = &w.msg { Some((w.at, p)) } else { None })
        .collect()
}

#[test]
fn attach_ipv6_installs_both_ends_with_matching_keys() {
    let mut sim = Sim::new(1, 1);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    assert_eq!(v.state, "active");
    let hnp: Ipv6Addr = v.home_prefix.as_deref().unwrap().trim_end_matches("/64").parse().unwrap();
    assert_eq!(v.ipv4_home_address, None);

    // The PBU carried what TS 29.275 / RFC 5213 ask for.
    let pbus = pbus_from(&sim, NodeId::Mag(0));
    let o = &pbus[0].1.options;
    assert_eq!(pbus[0].1.flags, BuFlags::PBU);
    assert_eq!(o.mn_id, Some(MnId::Nai(nai(1))));
    assert_eq!(o.hnps, vec![Ipv6Prefix::UNSPECIFIED]);
    assert!(o.ipv4_hoa_reqs.is_empty());
    assert_eq!(o.hi, Some(HandoffIndicator::NEW_INTERFACE));
    assert_eq!(o.att, Some(AccessTechType::EUTRAN));
    assert!(o.timestamp.is_some());
    assert_eq!(o.gre_key, Some(GreKeyOpt::Key(v.downlink_key.unwrap())));
    assert_eq!(o.service_selection, Some(Apn::from_dotted("internet").unwrap()));

    // Both fast paths hold the tunnel, keys crossed.
    let lma_entry = *sim.lma.fastpath.table.values().next().unwrap();
    let mag_entry = *sim.mags[0].fastpath.table.values().next().unwrap();
    assert_eq!(lma_entry.function, Function::Lma);
    assert_eq!(lma_entry.uplink_key, v.uplink_key);
    assert_eq!(lma_entry.downlink_key, v.downlink_key);
    assert_eq!(mag_entry.uplink_key, v.uplink_key);
    assert_eq!(lma_entry.ue_ipv6_prefix, Some(hnp));
    assert_eq!(mag_entry.ue_ipv6_prefix, Some(hnp));
    assert_eq!(lma_entry.endpoints.remote(), IpAddr::V6(mag6(0)));
    assert_eq!(mag_entry.endpoints.remote(), IpAddr::V6(LMA6));
    sim.check().unwrap();
}

#[test]
fn attach_ipv4_over_each_ipv4_framing_is_answered_in_that_framing() {
    for (framing, signalling) in [
        ("ipv4", Ipv4Signalling::Ipv4),
        ("ipv4-udp", Ipv4Signalling::Ipv4Udp),
        ("rfc5844-udp", Ipv4Signalling::Rfc5844Udp),
    ] {
        let mut mag = mag_config(0);
        mag.ipv4_signalling = signalling;
        let mut sim = Sim::with_configs(2, lma_config(), vec![mag]);
        let v = established(&sim.create(0, pdn(1, PdnType::Ipv4, LMA4.into())));
        assert_eq!(v.framing, framing);
        assert!(v.home_prefix.is_none());
        let addr = v.ipv4_home_address.unwrap();
        assert!(addr.octets()[..2] == [10, 45] && addr != Ipv4Addr::new(10, 45, 0, 1), "{addr}");
        let pba = sim.wire.iter().find(|w| matches!(w.msg, MhRepr::Pba(_))).unwrap();
        let pbu = sim.wire.iter().find(|w| matches!(w.msg, MhRepr::Pbu(_))).unwrap();
        assert_eq!(pba.header.framing, pbu.header.framing.reply(), "{framing}");
        assert_eq!(pba.header.dst, IpAddr::V4(mag4(0)));
        let MhRepr::Pba(p) = &pba.msg else { unreachable!() };
        assert_eq!(p.options.ipv4_default_router, Some(Ipv4Addr::new(10, 45, 0, 1)));
        assert!(p.options.hnps.is_empty(), "RFC 5844: no HNP answered to an IPv4-only PBU");
        let entry = sim.lma.fastpath.table.values().next().unwrap();
        assert_eq!(entry.endpoints.remote(), IpAddr::V4(mag4(0)));
        assert_eq!(entry.ue_ipv4, Some(addr));
        sim.check().unwrap();
    }
}

#[test]
fn attach_ipv4v6_gets_both_families() {
    let mut sim = Sim::new(3, 1);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    assert!(v.home_prefix.is_some() && v.ipv4_home_address.is_some());
    let o = &pbus_from(&sim, NodeId::Mag(0))[0].1.options;
    assert_eq!(o.hnps, vec![Ipv6Prefix::UNSPECIFIED]);
    assert_eq!(o.ipv4_hoa_reqs, vec![Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED }]);
    sim.check().unwrap();
}

#[test]
fn no_pba_leaves_before_the_fast_path_acknowledges_the_install() {
    let mut sim = Sim::new(4, 1);
    sim.lma.fastpath.ack_delay_ms = 50;
    let id = sim.api(NodeId::Mag(0), Request::PdnCreate(pdn(1, PdnType::Ipv6, LMA6.into())));
    sim.run_for(1); // PBU delivered (1 ms links): install issued, PBA held
    assert_eq!(sim.lma.fastpath.table.len(), 1);
    sim.run_for(49);
    assert!(pbas(&sim).is_empty(), "PBA sent before the install was acknowledged");
    sim.run_for(1);
    let (ack_at, _) = sim.lma.fastpath.acked[0];
    let pba = sim.wire.iter().find(|w| matches!(w.msg, MhRepr::Pba(_))).expect("PBA after the ack");
    assert_eq!(pba.at, ack_at);
    assert!(pba.at >= Millis(51));
    sim.run_for(5);
    assert!(matches!(sim.replies.get(&id), Some(Response::Pdn { .. })));
}

#[test]
fn a_refused_install_is_answered_with_130_and_leaves_nothing() {
    let mut sim = Sim::new(5, 1);
    sim.lma.fastpath.refuse_installs = 1;
    let r = sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into()));
    assert!(error_text(&r).contains("INSUFFICIENT_RESOURCES (130)"), "{r:?}");
    assert_eq!(sim.lma.machine.binding_count(), 0);
    assert_eq!(sim.mags[0].machine.binding_count(), 0);
    assert!(pbas(&sim).iter().all(|p| p.status == BaStatus::INSUFFICIENT_RESOURCES));
    sim.check().unwrap();
}

#[test]
fn lost_pba_is_recovered_by_retransmission_with_the_same_binding() {
    let mut sim = Sim::new(6, 1);
    let mut dropped = 0;
    sim.drop_when(move |_, m| {
        let first_pba = matches!(m, MhRepr::Pba(_)) && dropped == 0;
        dropped += usize::from(first_pba);
        first_pba
    });
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    let pbus = pbus_from(&sim, NodeId::Mag(0));
    assert_eq!(pbus.len(), 2);
    assert_eq!(pbus[1].0, pbus[0].0 + 1000, "first retransmission after INITIAL_BINDACK_TIMEOUT");
    assert_ne!(pbus[0].1.seq, pbus[1].1.seq, "each transmission its own sequence number");
    assert!(pbus[1].1.options.timestamp > pbus[0].1.options.timestamp, "fresh timestamp");
    // The LMA answered both with the same uplink key and prefix: one BCE.
    let answers = pbas(&sim);
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].options.gre_key, answers[1].options.gre_key);
    assert_eq!(answers[0].options.hnps, answers[1].options.hnps);
    assert_eq!(v.uplink_key, answers[1].options.gre_key.and_then(|k| k.key()));
    assert_eq!(sim.lma.machine.binding_count(), 1);
    assert_eq!(sim.mags[0].machine.counters().get("pbu-retransmissions"), 1);
    sim.check().unwrap();
}

#[test]
fn retransmissions_back_off_to_32s_then_fail_and_release_everything() {
    let mut mag = mag_config(0);
    mag.max_retransmissions = 6;
    let mut sim = Sim::with_configs(7, lma_config(), vec![mag]);
    sim.drop_when(|from, m| from == NodeId::Mag(0) && matches!(m, MhRepr::Pbu(_)));
    let r = sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into()));
    assert!(error_text(&r).contains("no PBA"), "{r:?}");
    let times: Vec<u64> = pbus_from(&sim, NodeId::Mag(0)).iter().map(|(t, _)| t.0).collect();
    // Sent at 0, then after 1, 2, 4, 8, 16, 32 s; failure after a further 32 s.
    assert_eq!(times, vec![0, 1000, 3000, 7000, 15_000, 31_000, 63_000]);
    assert_eq!(sim.now, Millis(95_000));
    let stamps: Vec<_> = pbus_from(&sim, NodeId::Mag(0)).iter().map(|(_, p)| p.options.timestamp).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "every retransmission carries a fresh timestamp");
    assert_eq!(sim.mags[0].machine.binding_count(), 0);
    assert!(sim.events.iter().any(|(_, _, e)| matches!(e, Event::BindingDown { reason: EndReason::NoResponse, .. })));
    sim.check().unwrap();
}

#[test]
fn duplicated_pbus_make_one_binding_and_no_rejection() {
    let mut sim = Sim::new(8, 1);
    sim.faults = Faults { drop: 0.0, duplicate: 1.0, min_delay_ms: 1, max_delay_ms: 30 };
    for i in 0..20 {
        let v = sim.create(0, pdn(i, PdnType::Ipv4v6, LMA6.into()));
        established(&v);
    }
    sim.run_for(100);
    assert_eq!(sim.lma.machine.binding_count(), 20);
    assert!(pbas(&sim).iter().all(|p| p.status == BaStatus::ACCEPTED), "a duplicate was rejected");
    assert!(sim.lma.machine.counters().get("pbu-duplicates") >= 20);
    // The answer to a duplicate is rebuilt from what the binding granted: the same PBA as the first one's.
    let all = pbas(&sim);
    for pba in &all {
        let first = all.iter().find(|p| p.seq == pba.seq && p.options.mn_id == pba.options.mn_id).unwrap();
        assert_eq!(pba, first, "a duplicate's PBA differs from the first");
    }
    assert!(all.len() > 20, "duplicates were answered: {} PBAs", all.len());
    sim.check().unwrap();
}

fn timestamp_case(mag_skew_ms: i64) -> Response {
    let mut sim = Sim::new(9, 1);
    sim.mags[0].skew_ms = mag_skew_ms;
    sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into()))
}

#[test]
fn stale_and_future_timestamps_are_refused_with_156_and_the_lma_clock() {
    assert!(matches!(timestamp_case(-250), Response::Pdn { .. }), "inside the 300 ms window");
    assert!(matches!(timestamp_case(250), Response::Pdn { .. }));
    for skew in [-2000, 2000] {
        let r = timestamp_case(skew);
        assert!(error_text(&r).contains("TIMESTAMP_MISMATCH (156)"), "skew {skew}: {r:?}");
    }
    // The rejecting PBA carries the LMA's time, not the echo (RFC 5213 §5.5).
    let mut sim = Sim::new(9, 1);
    sim.mags[0].skew_ms = 5000;
    sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into()));
    let pbu = pbus_from(&sim, NodeId::Mag(0))[0].1.clone();
    let pba = pbas(&sim)[0].clone();
    assert_eq!(pba.status, BaStatus::TIMESTAMP_MISMATCH);
    assert_ne!(pba.options.timestamp, pbu.options.timestamp);
    assert!(pba.options.timestamp < pbu.options.timestamp);
}

#[test]
fn an_older_pbu_after_a_newer_one_is_refused_with_157() {
    let mut sim = Sim::new(10, 1);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    let first = pbus_from(&sim, NodeId::Mag(0))[0].1.clone();
    let mut old = first.clone();
    old.seq = first.seq.wrapping_add(7);
    old.options.timestamp = Some(Timestamp(first.options.timestamp.unwrap().0 - 1));
    let header = sim.wire[0].header;
    sim.inject(NodeId::Lma, header, MhRepr::Pbu(old));
    let last = pbas(&sim).last().copied().cloned().unwrap();
    assert_eq!(last.status, BaStatus::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED);
    assert_eq!(sim.lma.machine.binding_count(), 1, "the binding stays");
}

#[test]
fn sequence_number_mode_refuses_stale_numbers_with_135_and_the_last_accepted() {
    let mut lma = lma_config();
    lma.timestamp_based = false;
    let mut mag = mag_config(0);
    mag.timestamp_based = false;
    let mut sim = Sim::with_configs(11, lma, vec![mag]);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    let first = pbus_from(&sim, NodeId::Mag(0))[0].1.clone();
    assert_eq!(first.options.timestamp, None);
    assert_eq!(pbas(&sim)[0].options.timestamp, None, "no Timestamp in sequence-number mode");
    let mut stale = first.clone();
    stale.seq = first.seq.wrapping_sub(1);
    let header = sim.wire[0].header;
    sim.inject(NodeId::Lma, header, MhRepr::Pbu(stale));
    let last = pbas(&sim).last().copied().cloned().unwrap();
    assert_eq!(last.status, BaStatus::SEQUENCE_OUT_OF_WINDOW);
    assert_eq!(last.seq, first.seq, "135 carries the last accepted sequence number");
}

#[test]
fn refresh_at_80_percent_keeps_the_binding_and_its_keys() {
    let mut lma = lma_config();
    lma.max_lifetime_s = 100;
    let mut sim = Sim::with_configs(12, lma, vec![mag_config(0)]);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    assert_eq!(v.lifetime_s, 100, "granted lifetime capped by max_lifetime_s");
    let start = sim.now;
    sim.run_for(350_000);
    let pbus = pbus_from(&sim, NodeId::Mag(0));
    assert!(pbus.len() >= 5, "{} PBUs", pbus.len());
    let (t1, refresh) = pbus[1];
    assert_eq!(t1.0 - start.0, 80_000, "first refresh at 80 % of 100 s after the PBA");
    assert_eq!(refresh.options.hi, Some(HandoffIndicator::NOT_CHANGED));
    assert_eq!(refresh.options.gre_key, Some(GreKeyOpt::Key(v.downlink_key.unwrap())));
    assert_eq!(refresh.options.hnps[0].len, 64, "refresh names the assigned prefix");
    assert_ne!(refresh.options.ipv4_hoa_reqs[0].addr, Ipv4Addr::UNSPECIFIED);
    // RFC 5844 §3.3.1: the prefix length of the home network, as granted (the pool is a /16), not a host's /32.
    let granted = pbas(&sim)[0].options.ipv4_hoa_reply.expect("an IPv4 home address reply");
    assert_eq!(granted.prefix_len, 16);
    assert_eq!(refresh.options.ipv4_hoa_reqs[0], Ipv4HoaRequest { prefix_len: 16, addr: granted.addr });
    for p in pbas(&sim) {
        assert_eq!(p.status, BaStatus::ACCEPTED);
        assert_eq!(p.options.gre_key.and_then(|k| k.key()), v.uplink_key, "uplink key sticks");
    }
    let now = sim.api_wait(NodeId::Lma, Request::Bindings { selector: Selector::default() }, 10);
    let Response::Bindings { bindings } = now else { panic!() };
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].uplink_key, v.uplink_key);
    assert_eq!(sim.lma.machine.counters().get("bindings-expired"), 0);
    sim.check().unwrap();
}

/// MAG0 attaches; MAG1 takes over with `hi`, knowing the uplink key (from the MME) and the addresses.
fn handover(seed: u64, hi: u8) -> (Sim, controlplane::api::BindingView) {
    let mut sim = Sim::new(seed, 2);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    let mut p = pdn(1, PdnType::Ipv4v6, LMA6.into());
    p.handoff = Some(hi);
    p.uplink_key = v.uplink_key;
    p.home_prefix = v.home_prefix.as_deref().map(|h| h.trim_end_matches("/64").parse().unwrap());
    p.ipv4_home_address = v.ipv4_home_address;
    let id = sim.api(NodeId::Mag(1), Request::PdnCreate(p));
    // TS 29.275 §6.2: with the uplink key known, MAG1 forwards uplink before it even sent the PBU.
    let (t, first) = sim.mags[1].fastpath.updates[0];
    assert!(matches!(first, TunnelUpdate::Install { spec, .. } if spec.uplink_key == v.uplink_key));
    assert!(pbus_from(&sim, NodeId::Mag(1)).iter().all(|(at, _)| *at >= t));
    sim.run_for(10_000);
    let r = sim.replies.remove(&id).expect("MAG1 reply");
    let v1 = established(&r).clone();
    assert_eq!(v1.uplink_key, v.uplink_key, "uplink key unchanged by the handover");
    assert_eq!(v1.home_prefix, v.home_prefix);
    assert_eq!(v1.ipv4_home_address, v.ipv4_home_address);
    (sim, v)
}

#[test]
fn handover_hi3_moves_the_binding_and_cleans_the_old_mag() {
    let (sim, v) = handover(13, 3);
    let bce = sim.lma.machine.cache().iter().next().unwrap();
    assert_eq!(bce.proxy_coa(), IpAddr::V6(mag6(1)));
    let entry = sim.lma.fastpath.table.values().next().unwrap();
    assert_eq!(entry.endpoints.remote(), IpAddr::V6(mag6(1)), "downlink now towards MAG1");
    assert_eq!(entry.uplink_key, v.uplink_key);
    let mag1_dl = sim.mags[1].machine.bules().next().unwrap().1.downlink_key;
    assert_eq!(entry.downlink_key, Some(mag1_dl), "MAG1's downlink key");
    // MAG0 got a BRI (trigger 2, same access type), removed everything and answered.
    let bri = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Bri(_)));
    assert_eq!(bri.len(), 1);
    let MhRepr::Bri(b) = &bri[0].msg else { unreachable!() };
    assert_eq!(b.trigger, RevocationTrigger::INTER_MAG_HANDOVER_SAME_ACCESS_TYPE);
    assert_eq!(bri[0].header.dst, IpAddr::V6(mag6(0)));
    assert_eq!(sim.mags[0].machine.binding_count(), 0);
    assert!(sim.mags[0].fastpath.table.is_empty());
    let bra = sim.sent(Some(NodeId::Mag(0)), |m| matches!(m, MhRepr::Bra(r) if r.status == BraStatus::SUCCESS));
    assert_eq!(bra.len(), 1);
    assert!(sim.events.iter().any(|(_, n, e)| *n == NodeId::Lma && matches!(e, Event::Handover { .. })));
    sim.check().unwrap();
}

#[test]
fn handover_hi2_revokes_with_trigger_3() {
    let (sim, _) = handover(14, 2);
    let bri = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Bri(_)));
    let MhRepr::Bri(b) = &bri[0].msg else { unreachable!() };
    assert_eq!(b.trigger, RevocationTrigger::INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE);
    sim.check().unwrap();
}

#[test]
fn handover_hi4_waits_max_delay_before_new_bce_assign() {
    let (sim, _) = handover(15, 4);
    let pbu_at = pbus_from(&sim, NodeId::Mag(1))[0].0;
    let pba = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Pba(_))).last().unwrap().at;
    assert_eq!(pba.0 - pbu_at.0, 1 + 1500, "held for MaxDelayBeforeNewBCEAssign");
    let bri = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Bri(_)));
    let MhRepr::Bri(b) = &bri[0].msg else { unreachable!() };
    assert_eq!(b.trigger, RevocationTrigger::INTER_MAG_HANDOVER_UNKNOWN);
    sim.check().unwrap();
}

#[test]
fn handover_hi4_proceeds_at_once_when_the_old_mag_deregisters() {
    let mut sim = Sim::new(16, 2);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    let mut p = pdn(1, PdnType::Ipv6, LMA6.into());
    p.handoff = Some(4);
    let id = sim.api(NodeId::Mag(1), Request::PdnCreate(p));
    sim.run_for(200);
    assert!(!sim.replies.contains_key(&id), "held");
    let del = sim.api(
        NodeId::Mag(0),
        Request::PdnDelete { mn_id: nai(1), apn: "internet".into(), pdn_connection_id: None, only: None },
    );
    sim.run_for(10);
    assert!(matches!(sim.replies.get(&del), Some(Response::Done { .. })));
    let v1 = established(sim.replies.get(&id).expect("handover answered right after the de-registration"));
    assert_eq!(v1.uplink_key, v.uplink_key);
    assert_eq!(v1.home_prefix, v.home_prefix, "HI 4 with ::/0 keeps the prefix of the PDN connection");
    assert!(sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Bri(_))).is_empty(), "no BRI needed");
    assert_eq!(sim.lma.machine.cache().iter().next().unwrap().state, controlplane::lma::store::BceState::Active);
    sim.check().unwrap();
}

#[test]
fn deregistration_answers_at_once_drops_traffic_and_deletes_after_min_delay() {
    let mut sim = Sim::new(17, 1);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    let t0 = sim.now;
    let r = sim.api_wait(
        NodeId::Mag(0),
        Request::PdnDelete { mn_id: nai(1), apn: "internet".into(), pdn_connection_id: None, only: None },
        5000,
    );
    assert!(matches!(r, Response::Done { .. }), "{r:?}");
    let (_, dereg) = *pbus_from(&sim, NodeId::Mag(0)).last().unwrap();
    assert_eq!(dereg.lifetime_units, 0);
    assert_eq!(dereg.options.hi, Some(HandoffIndicator::UNKNOWN));
    assert_eq!(dereg.options.gre_key, None, "RFC 5845: no GRE Key in a de-registration");
    let granted = pbas(&sim)[0].options.ipv4_hoa_reply.expect("an IPv4 home address reply");
    assert_eq!(
        dereg.options.ipv4_hoa_reqs,
        vec![Ipv4HoaRequest { prefix_len: granted.prefix_len, addr: granted.addr }],
        "the home network's prefix length, as granted (RFC 5844 §3.3.1)"
    );
    assert_eq!(pbas(&sim).last().unwrap().status, BaStatus::ACCEPTED);
    assert!(sim.now.0 - t0.0 <= 3, "PBA at once");
    // The LMA dropped the traffic (entry gone) but keeps the BCE for MinDelayBeforeBCEDelete.
    assert!(sim.lma.fastpath.table.is_empty());
    assert_eq!(sim.lma.machine.binding_count(), 1);
    assert!(sim.lma.machine.keys().is_in_use(v.uplink_key.unwrap()));
    assert_eq!(sim.mags[0].machine.binding_count(), 0, "MAG released on the PBA");
    sim.check().unwrap();
    sim.run_until(Millis(t0.0 + 9_990));
    assert_eq!(sim.lma.machine.binding_count(), 1);
    sim.run_until(Millis(t0.0 + 10_010));
    assert_eq!(sim.lma.machine.binding_count(), 0);
    assert!(!sim.lma.machine.keys().is_in_use(v.uplink_key.unwrap()));
    sim.check().unwrap();
}

#[test]
fn deregistration_without_pba_releases_after_one_second() {
    let mut sim = Sim::new(18, 1);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    sim.drop_when(|from, m| from == NodeId::Lma && matches!(m, MhRepr::Pba(_)));
    let t0 = sim.now;
    let r = sim.api_wait(
        NodeId::Mag(0),
        Request::PdnDelete { mn_id: nai(1), apn: "internet".into(), pdn_connection_id: None, only: None },
        5000,
    );
    assert!(matches!(r, Response::Done { .. }));
    assert_eq!(sim.now.0 - t0.0, 1000);
    assert_eq!(pbus_from(&sim, NodeId::Mag(0)).len(), 2, "the de-registration is not retransmitted");
    sim.check().unwrap();
}

#[test]
fn deregistration_from_a_mag_that_is_not_the_bindings_is_ignored() {
    let mut lma = lma_config();
    lma.revoke_previous_mag = false;
    let mut sim = Sim::with_configs(19, lma, vec![mag_config(0), mag_config(1)]);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    let mut p = pdn(1, PdnType::Ipv6, LMA6.into());
    p.handoff = Some(3);
    established(&sim.create(1, p));
    let before = pbas(&sim).len();
    // MAG0 (which got no BRI) now de-registers: the LMA must ignore it.
    sim.api_wait(
        NodeId::Mag(0),
        Request::PdnDelete { mn_id: nai(1), apn: "internet".into(), pdn_connection_id: None, only: None },
        5000,
    );
    assert_eq!(pbas(&sim).len(), before, "no PBA to a stale de-registration");
    let bce = sim.lma.machine.cache().iter().next().unwrap();
    assert_eq!(bce.proxy_coa(), IpAddr::V6(mag6(1)));
    assert_eq!(Some(bce.uplink_key), v.uplink_key);
    assert!(!sim.lma.fastpath.table.is_empty());
    sim.check().unwrap();
}

#[test]
fn lifetime_expiry_deletes_the_bce_its_entry_key_and_addresses() {
    let mut lma = lma_config();
    lma.max_lifetime_s = 40;
    let mut sim = Sim::with_configs(20, lma, vec![mag_config(0)]);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    let t0 = sim.now;
    // From now on the MAG's refreshes never arrive.
    sim.drop_when(|from, m| from == NodeId::Mag(0) && matches!(m, MhRepr::Pbu(_)));
    sim.run_until(Millis(t0.0 + 39_990));
    assert_eq!(sim.lma.machine.binding_count(), 1);
    sim.run_until(Millis(t0.0 + 40_000));
    assert_eq!(sim.lma.machine.binding_count(), 0);
    assert!(sim.lma.fastpath.table.is_empty());
    assert!(!sim.lma.machine.keys().is_in_use(v.uplink_key.unwrap()));
    assert!(sim
        .events
        .iter()
        .any(|(_, n, e)| *n == NodeId::Lma && matches!(e, Event::BindingDown { reason: EndReason::Expired, .. })));
    sim.run_for(60_000);
    assert_eq!(sim.mags[0].machine.binding_count(), 0, "the MAG gave up too");
    sim.check().unwrap();
}

#[test]
fn lma_initiated_revocation_bri_bra() {
    let mut sim = Sim::new(21, 1);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    established(&sim.create(0, pdn(2, PdnType::Ipv6, LMA6.into())));
    let sel = Selector { mn_id: Some(nai(1)), ..Default::default() };
    let r = sim.api_wait(NodeId::Lma, Request::BindingRevoke { selector: sel, trigger: None }, 10);
    assert!(matches!(r, Response::Done { .. }), "{r:?}");
    sim.run_for(50);
    let bri = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Bri(_)));
    let MhRepr::Bri(b) = &bri[0].msg else { unreachable!() };
    assert_eq!(b.flags, BrFlags::P);
    assert_eq!(b.trigger, RevocationTrigger::ADMINISTRATIVE_REASON);
    assert_eq!(b.options.mn_id, Some(MnId::Nai(nai(1))));
    assert_eq!(b.options.hnps.len(), 1);
    assert_eq!(b.options.ipv4_hoa_reqs[0].addr, v.ipv4_home_address.unwrap());
    assert_eq!(sim.lma.machine.binding_count(), 1, "the other UE's binding stays");
    assert_eq!(sim.mags[0].machine.binding_count(), 1);
    assert!(sim.events.iter().any(|(_, n, e)| *n == NodeId::Lma
        && matches!(e, Event::BindingDown { reason: EndReason::Revoked(Some(BraStatus::SUCCESS)), .. })));
    sim.check().unwrap();
}

#[test]
fn revocation_without_bra_retransmits_once_then_cleans_up() {
    let mut sim = Sim::new(22, 1);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    sim.drop_when(|_, m| matches!(m, MhRepr::Bra(_)));
    let t0 = sim.now;
    let sel = Selector { mn_id: Some(nai(1)), ..Default::default() };
    sim.api_wait(NodeId::Lma, Request::BindingRevoke { selector: sel, trigger: Some(5) }, 10);
    sim.run_for(10_000);
    let times: Vec<u64> =
        sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Bri(_))).iter().map(|w| w.at.0 - t0.0).collect();
    assert_eq!(times, vec![0, 1000], "one retransmission after InitMINDelayBRIs");
    let deleted =
        sim.events.iter().find(|(_, n, e)| *n == NodeId::Lma && matches!(e, Event::BindingDown { .. })).unwrap();
    assert_eq!(deleted.0 .0 - t0.0, 3000, "cleanup after the doubled delay (MAX_BRACK_TIMEOUT 2 s)");
    assert_eq!(sim.lma.machine.binding_count(), 0);
    sim.check().unwrap();
}

#[test]
fn heartbeat_loss_declares_the_peer_unreachable_and_cleans_up_both_sides() {
    let mut sim = Sim::new(23, 1);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    sim.drop_when(|_, m| matches!(m, MhRepr::Heartbeat(h) if h.kind != HeartbeatKind::Request));
    let t0 = sim.now;
    sim.run_for(4 * 60_000 + 100);
    assert_eq!(sim.lma.machine.binding_count(), 1, "three missing heartbeats are allowed");
    sim.run_for(60_000);
    assert_eq!(sim.lma.machine.binding_count(), 0);
    assert_eq!(sim.mags[0].machine.binding_count(), 0);
    assert!(sim.events.iter().any(|(_, n, e)| *n == NodeId::Lma && matches!(e, Event::PeerUnreachable { .. })));
    assert!(sim.now.0 - t0.0 < 6 * 60_000);
    sim.check().unwrap();
}

#[test]
fn heartbeats_answered_keep_bindings_and_only_flow_while_bindings_exist() {
    let mut sim = Sim::new(24, 1);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    sim.run_for(10 * 60_000);
    assert_eq!(sim.lma.machine.binding_count(), 1);
    let requests = sim.sent(None, |m| matches!(m, MhRepr::Heartbeat(h) if h.kind == HeartbeatKind::Request)).len();
    assert!(requests >= 18, "{requests}");
    let Response::Peers { peers, .. } = sim.api_wait(NodeId::Mag(0), Request::Peers, 10) else { panic!() };
    assert_eq!(peers[0].state, "up");
    assert_eq!(peers[0].restart_counter, Some(1));
    sim.api_wait(
        NodeId::Mag(0),
        Request::PdnDelete { mn_id: nai(1), apn: "internet".into(), pdn_connection_id: None, only: None },
        2000,
    );
    sim.run_for(11_000);
    let n = sim.wire.len();
    sim.run_for(10 * 60_000);
    assert_eq!(sim.wire.len(), n, "no heartbeats without bindings");
}

#[test]
fn a_restarted_lma_is_detected_by_its_restart_counter_and_the_mag_cleans_up() {
    let mut sim = Sim::new(25, 1);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    established(&sim.create(0, pdn(2, PdnType::Ipv4, LMA6.into())));
    sim.run_for(61_000); // first heartbeat exchange: the MAG learns counter 1
    sim.restart_lma(lma_config(), 2);
    sim.run_for(60_000);
    assert_eq!(sim.mags[0].machine.binding_count(), 0);
    assert!(sim.mags[0].fastpath.table.is_empty());
    let restarted =
        sim.events.iter().find(|(_, n, e)| *n == NodeId::Mag(0) && matches!(e, Event::PeerRestarted { .. }));
    assert!(matches!(restarted, Some((_, _, Event::PeerRestarted { old: 1, new: 2, .. }))));
    sim.check().unwrap();
}

#[test]
fn a_restarted_mag_is_detected_and_the_lma_cleans_up() {
    let mut sim = Sim::new(26, 1);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    sim.run_for(61_000);
    sim.restart_mag(0, mag_config(0), 2);
    sim.run_for(60_000);
    assert_eq!(sim.lma.machine.binding_count(), 0);
    assert!(sim.lma.fastpath.table.is_empty());
    sim.check().unwrap();
}

#[test]
fn key_reservation_serves_the_named_pdn_connection_only() {
    let mut sim = Sim::new(27, 1);
    let key = 0x7700_0001;
    let reserve = Request::KeysReserve { key, mn_id: nai(1), apn: "internet".into(), pdn_connection_id: None };
    assert!(matches!(sim.api_wait(NodeId::Lma, reserve.clone(), 10), Response::Done { .. }));
    assert!(error_text(&sim.api_wait(NodeId::Lma, reserve, 10)).contains("already"));
    let other = established(&sim.create(0, pdn(2, PdnType::Ipv6, LMA6.into())));
    assert_ne!(other.uplink_key, Some(key));
    let owner = established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    assert_eq!(owner.uplink_key, Some(key), "the reserved value (TS 29.275 §6.3)");
    let r = sim.api_wait(NodeId::Lma, Request::KeysRelease { key }, 10);
    assert!(error_text(&r).contains("held by a live binding"), "{r:?}");
    // Ending the PDN connection releases the key and the reservation with it.
    sim.api_wait(
        NodeId::Mag(0),
        Request::PdnDelete { mn_id: nai(1), apn: "internet".into(), pdn_connection_id: None, only: None },
        2000,
    );
    sim.run_for(11_000);
    assert!(!sim.lma.machine.keys().is_in_use(key));
    let Response::Keys { reservations } = sim.api_wait(NodeId::Lma, Request::Keys, 10) else { panic!() };
    assert!(reservations.is_empty());
    // A reservation that was never used can be released.
    let reserve = Request::KeysReserve { key, mn_id: nai(3), apn: "internet".into(), pdn_connection_id: None };
    sim.api_wait(NodeId::Lma, reserve, 10);
    assert!(matches!(sim.api_wait(NodeId::Lma, Request::KeysRelease { key }, 10), Response::Done { .. }));
    assert!(error_text(&sim.api_wait(NodeId::Lma, Request::KeysRelease { key }, 10)).contains("not reserved"));
    sim.check().unwrap();
}

#[test]
fn several_pdn_connections_of_one_ue_are_separate_bces() {
    let mut sim = Sim::new(28, 1);
    let a = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    let mut ims = pdn(1, PdnType::Ipv6, LMA6.into());
    ims.apn = "ims".into();
    let b = established(&sim.create(0, ims));
    let mut second = pdn(1, PdnType::Ipv4, LMA6.into());
    second.pdn_connection_id = Some(6);
    let c = established(&sim.create(0, second));
    assert_eq!(sim.lma.machine.binding_count(), 3);
    let keys = [a.uplink_key, b.uplink_key, c.uplink_key];
    assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
    assert!(b.home_prefix.as_deref().unwrap().starts_with("2001:db8:200:"));
    let sel = Selector { mn_id: Some(nai(1)), ..Default::default() };
    let Response::Bindings { bindings } = sim.api_wait(NodeId::Lma, Request::Bindings { selector: sel }, 10) else {
        panic!()
    };
    assert_eq!(bindings.len(), 3);
    sim.check().unwrap();
}

#[test]
fn the_mag_reports_a_rejection_by_name() {
    let mut sim = Sim::new(29, 1);
    let mut p = pdn(1, PdnType::Ipv4, LMA6.into());
    p.apn = "ims".into();
    let r = sim.create(0, p);
    assert_eq!(error_text(&r), "the LMA rejected the PBU: NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE (170)");
    assert_eq!(sim.mags[0].machine.binding_count(), 0);
    sim.check().unwrap();
}

#[test]
fn an_unknown_mobility_header_type_gets_a_binding_error() {
    let mut sim = Sim::new(30, 1);
    let header = controlplane::transport::FrameHeader::new(Framing::Ipv6, mag6(0).into(), LMA6.into());
    sim.inject(NodeId::Lma, header, MhRepr::Unknown { mh_type: 42, data: vec![0; 10] });
    let be = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::BindingError(_)));
    let MhRepr::BindingError(b) = &be[0].msg else { unreachable!() };
    assert_eq!(b.status, BindingErrorRepr::STATUS_UNRECOGNIZED_MH_TYPE);
}

#[test]
fn a_pba_that_does_not_echo_the_pbu_is_ignored() {
    let mut sim = Sim::new(31, 1);
    // Rewrite the LMA's PBA in flight by injecting a forged one first.
    sim.drop_when(|from, m| from == NodeId::Lma && matches!(m, MhRepr::Pba(_)));
    let id = sim.api(NodeId::Mag(0), Request::PdnCreate(pdn(1, PdnType::Ipv6, LMA6.into())));
    sim.run_for(5);
    let MhRepr::Pba(real) = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Pba(_)))[0].msg.clone() else {
        unreachable!()
    };
    let mut forged = real.clone();
    forged.options.att = Some(AccessTechType::IEEE_802_11);
    let header = controlplane::transport::FrameHeader::new(Framing::Ipv6, LMA6.into(), mag6(0).into());
    sim.inject(NodeId::Mag(0), header, MhRepr::Pba(forged));
    assert!(!sim.replies.contains_key(&id));
    assert_eq!(sim.mags[0].machine.counters().get("pba-bad-echo"), 1);
    sim.inject(NodeId::Mag(0), header, MhRepr::Pba(real));
    assert!(matches!(sim.replies.get(&id), Some(Response::Pdn { .. })));
}

#[test]
fn the_mag_answers_each_kind_of_bri_with_the_right_status() {
    let mut sim = Sim::new(32, 1);
    let a = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    established(&sim.create(0, pdn(2, PdnType::Ipv6, LMA6.into())));
    let mut c = pdn(3, PdnType::Ipv6, LMA6.into());
    c.mn_id = "00101000000000x@other.realm".into();
    established(&sim.create(0, c));
    let from_lma = controlplane::transport::FrameHeader::new(Framing::Ipv6, LMA6.into(), mag6(0).into());
    let mut bri_seq = 100;
    let mut bra = |sim: &mut Sim, trigger: u8, flags: BrFlags, options: MhOptions| -> BraRepr {
        bri_seq += 1;
        let bri = BriRepr { trigger: RevocationTrigger(trigger), seq: bri_seq, flags, options };
        sim.inject(NodeId::Mag(0), from_lma, MhRepr::Bri(bri));
        let MhRepr::Bra(b) = sim.wire.last().unwrap().msg.clone() else { panic!("no BRA") };
        assert_eq!(b.seq, bri_seq, "sequence copied");
        b
    };
    let mn = |i: u32| MhOptions { mn_id: Some(MnId::Nai(nai(i))), ..Default::default() };

    let r = bra(&mut sim, 1, BrFlags::P, MhOptions::default());
    assert_eq!(r.status, BraStatus::MN_IDENTITY_REQUIRED);
    assert_eq!(r.flags, BrFlags::P, "P, V, G copied");
    assert_eq!(bra(&mut sim, 42, BrFlags::P, mn(1)).status, BraStatus::TRIGGER_NOT_SUPPORTED);
    assert_eq!(bra(&mut sim, 128, BrFlags::P, mn(1)).status, BraStatus::REVOCATION_FUNCTION_NOT_SUPPORTED);
    assert_eq!(bra(&mut sim, 1, BrFlags::P, mn(9)).status, BraStatus::BINDING_DOES_NOT_EXIST);
    let wrong_prefix =
        MhOptions { hnps: vec![Ipv6Prefix { addr: "2001:db8:100:99::".parse().unwrap(), len: 64 }], ..mn(1) };
    assert_eq!(bra(&mut sim, 1, BrFlags::P, wrong_prefix).status, BraStatus::BINDING_DOES_NOT_EXIST);
    assert_eq!(sim.mags[0].machine.binding_count(), 3, "nothing released so far");

    // V = 1: only UE 1's IPv4 home address goes; its IPv6 prefix stays installed.
    let r = bra(&mut sim, 5, BrFlags::P | BrFlags::V, mn(1));
    assert_eq!((r.status, r.flags), (BraStatus::SUCCESS, BrFlags::P | BrFlags::V));
    let entry = sim.mags[0].fastpath.table.values().find(|s| s.uplink_key == a.uplink_key).unwrap();
    assert_eq!(entry.ue_ipv4, None);
    assert!(entry.ue_ipv6_prefix.is_some());
    assert_eq!(
        bra(&mut sim, 5, BrFlags::P | BrFlags::V, mn(2)).status,
        BraStatus::BINDING_DOES_NOT_EXIST,
        "UE 2 has no IPv4"
    );

    // G + 129 revokes a realm; G + 128 every binding with this LMA.
    let realm = MhOptions { mn_id: Some(MnId::Nai("@other.realm".into())), ..Default::default() };
    assert_eq!(bra(&mut sim, 129, BrFlags::P | BrFlags::G, realm).status, BraStatus::SUCCESS);
    assert_eq!(sim.mags[0].machine.binding_count(), 2);
    assert_eq!(
        bra(&mut sim, 129, BrFlags::P | BrFlags::G, MhOptions::default()).status,
        BraStatus::MN_IDENTITY_REQUIRED
    );
    assert_eq!(
        bra(&mut sim, 200, BrFlags::P | BrFlags::G, MhOptions::default()).status,
        BraStatus::TRIGGER_NOT_SUPPORTED
    );
    assert_eq!(bra(&mut sim, 128, BrFlags::P | BrFlags::G, MhOptions::default()).status, BraStatus::SUCCESS);
    assert_eq!(sim.mags[0].machine.binding_count(), 0);
    assert!(sim.mags[0].fastpath.table.is_empty());
    assert_eq!(sim.mags[0].machine.stats().keys_in_use, 0, "downlink keys released");
    sim.check().unwrap();
}

/// A de-registration of one family of a dual-family binding (RFC 5844 §3.1.2.5, options as §3.2.3.3 has the MAG
/// send them): only that family's state goes; the BCE, its keys and the other family stay.
#[test]
fn a_de_registration_naming_one_family_releases_only_that_family() {
    for release_ipv4 in [true, false] {
        let mut sim = Sim::new(31, 1);
        let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
        let granted = pbas(&sim)[0].clone();
        let ipv4 = granted.options.ipv4_hoa_reply.expect("an IPv4 home address");
        let hnp = granted.options.hnps[0];
        let mut pbu = pbus_from(&sim, NodeId::Mag(0))[0].1.clone();
        pbu.seq = pbu.seq.wrapping_add(1);
        pbu.options.timestamp = Some(Timestamp(pbu.options.timestamp.unwrap().0 + 1));
        pbu.lifetime_units = 0;
        pbu.options.gre_key = None;
        if release_ipv4 {
            pbu.options.hnps.clear();
            pbu.options.ipv4_hoa_reqs = vec![Ipv4HoaRequest { prefix_len: ipv4.prefix_len, addr: ipv4.addr }];
        } else {
            pbu.options.hnps = vec![hnp];
            pbu.options.ipv4_hoa_reqs.clear();
        }
        let header = sim.wire[0].header;
        sim.inject(NodeId::Lma, header, MhRepr::Pbu(pbu.clone()));
        sim.run_for(100);

        let what = if release_ipv4 { "IPv4 released" } else { "IPv6 released" };
        let reply = pbas(&sim).last().copied().cloned().unwrap();
        assert_eq!((reply.status, reply.seq), (BaStatus::ACCEPTED, pbu.seq), "{what}");
        // §3.1.2.6: the PBA names the released family only.
        assert_eq!(reply.options.ipv4_hoa_reply.is_some(), release_ipv4, "{what}");
        assert_eq!(reply.options.hnps.is_empty(), release_ipv4, "{what}");
        assert_eq!(sim.lma.machine.binding_count(), 1, "{what}: the BCE stays");
        let entry = *sim.lma.fastpath.table.values().next().expect("the binding's tunnel stays");
        assert_eq!(entry.uplink_key, v.uplink_key, "{what}");
        assert_eq!(entry.ue_ipv4.is_some(), !release_ipv4, "{what}");
        assert_eq!(entry.ue_ipv6_prefix.is_some(), release_ipv4, "{what}");
        assert_eq!(sim.lma.machine.counters().get("selective-deregistrations"), 1);
        assert_eq!(sim.lma.machine.counters().get("deregistrations"), 0);
        // The pool accounting agrees with the BCE (the released address is free again).
        sim.check().unwrap();
    }
}

/// `pdn delete --only`: the MAG releases one family of an ipv4v6 PDN connection with a lifetime-0 PBU naming only
/// that family (RFC 5844 §3.2.3.3); both sides keep the binding with the other family, and refreshes go on.
#[test]
fn a_mag_releases_one_family_and_keeps_the_other() {
    for (only, release_ipv4) in [(PdnType::Ipv4, true), (PdnType::Ipv6, false)] {
        let mut lma = lma_config();
        lma.max_lifetime_s = 100;
        let mut sim = Sim::with_configs(41, lma, vec![mag_config(0)]);
        let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
        let granted = pbas(&sim)[0].options.ipv4_hoa_reply.expect("an IPv4 home address");
        let request =
            Request::PdnDelete { mn_id: nai(1), apn: "internet".into(), pdn_connection_id: None, only: Some(only) };
        let reply = sim.api_wait(NodeId::Mag(0), request, 5000);
        assert!(matches!(reply, Response::Done { .. }), "{only:?}: {reply:?}");
        let (_, pbu) = *pbus_from(&sim, NodeId::Mag(0)).last().unwrap();
        assert_eq!((pbu.lifetime_units, pbu.options.gre_key), (0, None), "{only:?}");
        if release_ipv4 {
            assert!(pbu.options.hnps.is_empty());
            assert_eq!(pbu.options.ipv4_hoa_reqs, vec![Ipv4HoaRequest { prefix_len: 16, addr: granted.addr }]);
        } else {
            assert_eq!(pbu.options.hnps.len(), 1);
            assert!(pbu.options.ipv4_hoa_reqs.is_empty());
        }
        assert_eq!(pbas(&sim).last().unwrap().status, BaStatus::ACCEPTED);
        // Both sides keep the binding, its keys and the other family; their fast paths agree (Sim::check).
        assert_eq!((sim.mags[0].machine.binding_count(), sim.lma.machine.binding_count()), (1, 1));
        let lma_entry = *sim.lma.fastpath.table.values().next().unwrap();
        let mag_entry = *sim.mags[0].fastpath.table.values().next().unwrap();
        for entry in [lma_entry, mag_entry] {
            assert_eq!((entry.ue_ipv4.is_some(), entry.ue_ipv6_prefix.is_some()), (!release_ipv4, release_ipv4));
            assert_eq!(entry.uplink_key, v.uplink_key);
        }
        sim.check().unwrap();
        // The next refresh names only the family kept, and is accepted.
        sim.run_for(100_000);
        let (_, refresh) = *pbus_from(&sim, NodeId::Mag(0)).last().unwrap();
        assert!(refresh.lifetime_units > 0);
        assert_eq!(
            (refresh.options.hnps.is_empty(), refresh.options.ipv4_hoa_reqs.is_empty()),
            (!release_ipv4, release_ipv4)
        );
        assert_eq!(pbas(&sim).last().unwrap().status, BaStatus::ACCEPTED);
        assert_eq!((sim.mags[0].machine.binding_count(), sim.lma.machine.binding_count()), (1, 1));
        sim.check().unwrap();
    }
}
