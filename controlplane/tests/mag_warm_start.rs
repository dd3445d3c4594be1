//! A durable MAG restarted (`kill -9`, then a warm start from what it wrote down): PDN connections come back
//! with their keys and addresses and no signalling, their refreshes go on, the LMA sees no restart; a lifetime
//! that ran out while the MAG was down ends as an expiry; a connection the new configuration no longer allows is
//! de-registered with its reason logged; one still registering at the crash is not kept.

mod sim;

use controlplane::api::PdnType;
use controlplane::durable::RecordKey;
use controlplane::machine::Event;
use controlplane::mag::bule::BuleState;
use controlplane::time::Millis;
use controlplane::wire::MhRepr;
use sim::*;

fn durable_sim(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, 1);
    sim.mag_durable(0);
    sim
}

/// Downlink key, uplink key, IPv4 home address, home network prefix.
type Entry = (Option<u32>, Option<u32>, Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>);

/// Every MAG fast-path entry.
fn entries(sim: &Sim) -> Vec<Entry> {
    let mut all: Vec<_> = sim.mags[0]
        .fastpath
        .table
        .values()
        .map(|e| (e.downlink_key, e.uplink_key, e.ue_ipv4, e.ue_ipv6_prefix))
        .collect();
    all.sort();
    all
}

#[test]
fn pdn_connections_come_back_with_their_keys_and_addresses_and_no_pbu() {
    let mut sim = durable_sim(11);
    let a = established(&sim.create(0, pdn(1, PdnType::Ipv4v6, LMA6.into())));
    let b = established(&sim.create(0, pdn(2, PdnType::Ipv4, LMA4.into())));
    sim.run_for(100);
    let before = entries(&sim);
    let sent = sim.wire.len();
    let report = sim.crash_and_warm_start_mag(0, mag_config(0), 1);
    assert_eq!((report.restored, report.expired, report.refused), (2, 0, 0));
    assert_eq!(entries(&sim), before, "both tunnels installed again, with the same keys and addresses");
    for v in [&a, &b] {
        let (_, bule) = sim.mags[0].machine.bules().find(|(_, b)| Some(b.downlink_key) == v.downlink_key).unwrap();
        assert_eq!((bule.uplink_key, bule.ipv4, bule.state), (v.uplink_key, v.ipv4_home_address, BuleState::Active));
    }
    assert_eq!(sim.wire.len(), sent, "a warm start sends nothing");
    // Lifetimes run on: refreshes at 80 % of 3600 s are accepted by the LMA as refreshes of the same bindings.
    sim.run_for(3_000_000);
    assert_eq!(sim.mags[0].machine.binding_count(), 2);
    assert!(sim.mags[0].machine.counters().get("refreshes") >= 2);
    assert_eq!(sim.lma.machine.counters().get("bindings-created"), 2, "nothing was created anew at the LMA");
    assert_eq!(sim.lma.machine.counters().get("peer-restarts"), 0, "the LMA saw no restart");
    assert_eq!(entries(&sim), before);
    sim.check().unwrap();
}

#[test]
fn a_lifetime_that_ran_out_while_down_ends_as_an_expiry_without_signalling() {
    let mut sim = durable_sim(12);
    let v = established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    sim.now = Millis(sim.now.0 + 3_700_000);
    let sent = sim.wire.len();
    let report = sim.crash_and_warm_start_mag(0, mag_config(0), 1);
    assert_eq!((report.restored, report.expired), (0, 1));
    assert_eq!(sim.mags[0].machine.binding_count(), 0);
    assert!(sim.mags[0].fastpath.table.is_empty());
    assert_eq!(sim.wire.len(), sent, "an expiry is not signalled");
    assert!(sim.mag_disks[0].as_ref().unwrap().is_empty(), "and leaves nothing on disk");
    assert!(v.downlink_key.is_some());
    sim.mags[0].machine.check_invariants().unwrap();
}

#[test]
fn a_connection_the_new_configuration_refuses_is_deregistered_and_the_others_stay() {
    let mut sim = durable_sim(13);
    let kept = established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    let moved = established(&sim.create(0, pdn(2, PdnType::Ipv4, LMA4.into())));
    sim.run_for(100);
    // The MAG's IPv4 address changed: the IPv4 connection's Proxy-CoA is no longer ours.
    let mut config = mag_config(0);
    config.local_ipv4 = Some("192.0.2.200".parse().unwrap());
    let deregs_before = sim.sent(Some(NodeId::Mag(0)), |m| matches!(m, MhRepr::Pbu(p) if p.lifetime_units == 0)).len();
    let report = sim.crash_and_warm_start_mag(0, config, 1);
    assert_eq!((report.restored, report.refused), (1, 1));
    let notes: Vec<&String> = sim
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            Event::Note(n) if n.starts_with("restore: de-registering") => Some(n),
            _ => None,
        })
        .collect();
    assert!(notes.iter().any(|n| n.contains("no longer this MAG's address")), "{notes:?}");
    // Past the LMA's MinDelayBeforeBCEDelete (RFC 5213 §5.3.5).
    sim.run_for(15_000);
    let deregs = sim.sent(Some(NodeId::Mag(0)), |m| matches!(m, MhRepr::Pbu(p) if p.lifetime_units == 0));
    assert_eq!(deregs.len() - deregs_before, 1, "one de-registration PBU, for the refused connection");
    let MhRepr::Pbu(dereg) = &deregs[deregs.len() - 1].msg else { unreachable!() };
    assert_eq!(dereg.seq, 3, "numbered past the PBUs the LMA accepted before the crash");
    assert_eq!(sim.mags[0].machine.binding_count(), 1);
    let (_, left) = sim.mags[0].machine.bules().next().unwrap();
    assert_eq!(Some(left.downlink_key), kept.downlink_key);
    assert_ne!(Some(left.downlink_key), moved.downlink_key);
    assert_eq!(sim.lma.machine.binding_count(), 1, "the LMA let the refused one go");
    sim.check().unwrap();
}

#[test]
fn a_connection_still_registering_at_the_crash_is_not_kept() {
    let mut sim = durable_sim(14);
    established(&sim.create(0, pdn(1, PdnType::Ipv6, LMA6.into())));
    // The next PBA never arrives before the crash.
    sim.drop_when(|from, m| from == NodeId::Lma && matches!(m, MhRepr::Pba(_)));
    let mut second = pdn(2, PdnType::Ipv6, LMA6.into());
    second.wait = false;
    let _ = sim.api(NodeId::Mag(0), controlplane::api::Request::PdnCreate(second));
    sim.run_for(50);
    assert_eq!(sim.mags[0].machine.binding_count(), 2);
    sim.clear_drop_rule();
    let report = sim.crash_and_warm_start_mag(0, mag_config(0), 1);
    assert_eq!(report.restored, 1, "only the accepted connection");
    assert_eq!(sim.mags[0].machine.binding_count(), 1);
    let disk = sim.mag_disks[0].as_ref().unwrap();
    assert_eq!(disk.keys().filter(|k| matches!(k, RecordKey::Bule(_))).count(), 1, "its record alone");
    sim.check().unwrap();
}
