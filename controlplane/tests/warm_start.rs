//! A durable LMA restarted (`kill -9`, then a warm start from what it wrote down): bindings come back with
//! their keys and addresses and no signalling; a lifetime that ran out while it was down ends as an expiry; a
//! binding the new configuration no longer allows is revoked with a BRI (RFC 5846), never kept or lost silently.

mod sim;

use controlplane::api::PdnType;
use controlplane::machine::{EndReason, Event};
use controlplane::time::Millis;
use controlplane::wire::{MhRepr, RevocationTrigger};
use sim::*;

fn durable_sim(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, 1);
    sim.lma_durable();
    sim
}

fn signalling_count(sim: &Sim) -> usize {
    sim.wire.len()
}

#[test]
fn bindings_come_back_with_their_keys_and_addresses_and_no_pbu() {
    let mut sim = durable_sim(1);
    let a = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    let b = established(&sim.create(0, pdn(2, PdnType::Ipv6, LMA4.into())));
    sim.run_for(100);
    let sent = signalling_count(&sim);
    let report = sim.crash_and_warm_start_lma(lma_config(), 1);
    assert_eq!((report.restored, report.expired, report.refused), (2, 0, 0));
    let entries: Vec<_> = sim.lma.fastpath.table.values().copied().collect();
    assert_eq!(entries.len(), 2, "both tunnels installed before anything is sent");
    for v in [&a, &b] {
        let e = entries.iter().find(|e| e.uplink_key == v.uplink_key).expect("the same uplink key");
        assert_eq!(e.downlink_key, v.downlink_key);
        assert_eq!(e.ue_ipv4, v.ipv4_home_address);
        assert_eq!(e.ue_ipv6_prefix.map(|p| format!("{p}/64")), v.home_prefix);
    }
    assert_eq!(signalling_count(&sim), sent, "a warm start sends nothing");
    // Lifetimes run on: the MAG's refreshes (at 80 % of 3600 s) are answered as re-registrations.
    sim.run_for(3_000_000);
    assert_eq!(sim.lma.machine.binding_count(), 2);
    assert!(sim.lma.machine.counters().get("reregistrations") >= 2);
    assert_eq!(sim.lma.machine.counters().get("bindings-created"), 0, "nothing was created anew");
    assert_eq!(sim.mags[0].machine.counters().get("peer-restarts"), 0, "the MAG saw no restart");
    sim.check().unwrap();
}

#[test]
fn a_lifetime_that_ran_out_while_down_ends_as_an_expiry() {
    let mut sim = durable_sim(2);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    // Down for longer than the lifetime (3600 s).
    sim.now = Millis(sim.now.0 + 3_700_000);
    let report = sim.crash_and_warm_start_lma(lma_config(), 1);
    assert_eq!((report.restored, report.expired), (0, 1));
    assert_eq!(sim.lma.machine.binding_count(), 0);
    assert!(sim.lma.fastpath.table.is_empty());
    assert!(!sim.lma.machine.keys().is_in_use(v.uplink_key.unwrap()), "its key is free again");
    assert!(sim
        .events
        .iter()
        .any(|(_, n, e)| *n == NodeId::Lma && matches!(e, Event::BindingDown { reason: EndReason::Expired, .. })));
    sim.lma.machine.check_invariants().unwrap();
}

#[test]
fn expiries_and_restored_bindings_mix_in_one_warm_start() {
    let mut sim = durable_sim(4);
    let old = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    sim.run_for(1_000_000);
    let young = established(&sim.create(0, pdn(2, PdnType::Ipv4v6, LMA6.into())));
    // Down for 3000 s: the first binding's hour ran out, the second's did not.
    sim.now = Millis(sim.now.0 + 3_000_000);
    let report = sim.crash_and_warm_start_lma(lma_config(), 1);
    assert_eq!((report.restored, report.expired), (1, 1));
    let entries: Vec<_> = sim.lma.fastpath.table.values().copied().collect();
    assert_eq!(entries.len(), 1, "only the live binding is installed");
    assert_eq!(entries[0].uplink_key, young.uplink_key);
    assert!(!sim.lma.machine.keys().is_in_use(old.uplink_key.unwrap()), "the expired one's key is free again");
    sim.lma.machine.check_invariants().unwrap();
}

#[test]
fn a_binding_the_new_configuration_refuses_is_revoked_and_the_others_stay() {
    let mut sim = durable_sim(3);
    let kept = established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    let mut ims = pdn(2, PdnType::Ipv6, LMA6.into());
    ims.apn = "ims".into();
    established(&sim.create(0, ims));
    let mut v4 = pdn(3, PdnType::Ipv4, LMA6.into());
    v4.apn = "v4only".into();
    established(&sim.create(0, v4));
    sim.run_for(100);
    // The APN "ims" is gone and the v4only pool moved.
    let mut config = lma_config();
    config.apns.retain(|a| a.name != "ims");
    config.apns.iter_mut().find(|a| a.name == "v4only").unwrap().ipv4_pool = Some("10.99.0.0/16".parse().unwrap());
    let bris_before = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Bri(_))).len();
    let report = sim.crash_and_warm_start_lma(config, 1);
    assert_eq!((report.restored, report.refused), (1, 2));
    let notes: Vec<String> = sim
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            Event::Note(n) if n.starts_with("restore: revoking") => Some(n.clone()),
            _ => None,
        })
        .collect();
    assert!(notes.iter().any(|n| n.contains("APN ims is no longer configured")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("10.46.0.2 is outside the APN's pool")), "{notes:?}");
    sim.run_for(2_000);
    let bris = sim.sent(Some(NodeId::Lma), |m| matches!(m, MhRepr::Bri(_)));
    assert_eq!(bris.len() - bris_before, 2, "one BRI per refused binding");
    for w in &bris[bris_before..] {
        let MhRepr::Bri(b) = &w.msg else { unreachable!() };
        assert_eq!(b.trigger, RevocationTrigger::ADMINISTRATIVE_REASON);
    }
    assert_eq!(sim.lma.machine.binding_count(), 1, "the refused ones went on the BRA");
    assert_eq!(sim.mags[0].machine.binding_count(), 1, "and the MAG let them go");
    assert_eq!(sim.lma.machine.cache().iter().next().unwrap().uplink_key, kept.uplink_key.unwrap());
    sim.check().unwrap();
}
