//! Random operations (create, refresh by the passing of time, delete, handover, revoke, key reservations, MAG
//! restarts) over a lossy, duplicating, reordering network must keep keys unique (uplink within the LMA,
//! downlink per LMAA), leak no key or address, and leave no binding without its fast-path entry nor an entry
//! without its binding. After everything is deleted and the lifetimes ran out, every pool and allocator is
//! empty again.

mod sim;

use controlplane::api::{PdnType, Request, Selector};
use controlplane::config::LmaConfig;
use proptest::prelude::*;
use sim::Rng as SimRng;
use sim::*;
use std::net::IpAddr;

const UES: u32 = 40;
const MAGS: usize = 3;
const APNS: [&str; 3] = ["internet", "ims", "v4only"];

#[derive(Debug, Clone)]
enum Op {
    Create {
        mag: usize,
        ue: u32,
        apn: usize,
        pdn_type: usize,
        ipv4_lma: bool,
    },
    Delete {
        ue: u32,
        apn: usize,
    },
    Handover {
        ue: u32,
        apn: usize,
        to: usize,
        hi: u8,
    },
    Revoke {
        ue: u32,
    },
    Reserve {
        ue: u32,
        apn: usize,
        key: u32,
    },
    Release {
        key: u32,
    },
    Advance {
        ms: u64,
    },
    RestartMag {
        mag: usize,
    },
    /// `kill -9` of a durable LMA and a warm start (`lma_crashes_...` only).
    CrashLma,
    /// `kill -9` of a durable MAG and a warm start (`a_durable_mag_...` only).
    CrashMag {
        mag: usize,
    },
}

fn random_op(rng: &mut SimRng) -> Op {
    let ue = rng.below(u64::from(UES)) as u32;
    let apn = rng.below(3) as usize;
    let mag = rng.below(MAGS as u64) as usize;
    match rng.below(100) {
        0..=34 => Op::Create { mag, ue, apn, pdn_type: rng.below(3) as usize, ipv4_lma: rng.chance(0.3) },
        35..=49 => Op::Delete { ue, apn },
        50..=61 => Op::Handover { ue, apn, to: mag, hi: 2 + rng.below(3) as u8 },
        62..=67 => Op::Revoke { ue },
        68..=71 => Op::Reserve { ue, apn, key: 0x7000_0000 + rng.below(8) as u32 },
        72..=74 => Op::Release { key: 0x7000_0000 + rng.below(8) as u32 },
        75 => Op::RestartMag { mag },
        _ => Op::Advance { ms: rng.below(1_500) },
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..MAGS, 0..UES, 0..3usize, 0..3usize, any::<bool>())
            .prop_map(|(mag, ue, apn, pdn_type, ipv4_lma)| Op::Create { mag, ue, apn, pdn_type, ipv4_lma }),
        2 => (0..UES, 0..3usize).prop_map(|(ue, apn)| Op::Delete { ue, apn }),
        2 => (0..UES, 0..3usize, 0..MAGS, 2..5u8).prop_map(|(ue, apn, to, hi)| Op::Handover { ue, apn, to, hi }),
        1 => (0..UES).prop_map(|ue| Op::Revoke { ue }),
        1 => (0..UES, 0..3usize, 0..8u32).prop_map(|(ue, apn, k)| Op::Reserve { ue, apn, key: 0x7000_0000 + k }),
        1 => (0..8u32).prop_map(|k| Op::Release { key: 0x7000_0000 + k }),
        1 => (0..MAGS).prop_map(|mag| Op::RestartMag { mag }),
        3 => (0..3_000u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn lma() -> LmaConfig {
    let mut c = lma_config();
    c.max_lifetime_s = 60;
    // Small pools so exhaustion (130) happens too.
    c.apns[0].ipv4_pool = Some("10.45.0.0/28".parse().unwrap());
    c
}

fn new_sim(seed: u64) -> Sim {
    let mut sim = Sim::with_configs(seed, lma(), (0..MAGS).map(mag_config).collect());
    sim.faults = Faults { drop: 0.02, duplicate: 0.02, min_delay_ms: 1, max_delay_ms: 40 };
    sim.lma.fastpath.ack_delay_ms = 3;
    // Typed delivery: the framing is exercised by the scenario tests; here the state is what matters.
    sim.as_bytes = false;
    sim.record_wire = false;
    sim
}

/// The MAG that holds the PDN connection, with what it knows of it.
fn holder(sim: &Sim, ue: u32, apn: usize) -> Option<(usize, controlplane::mag::bule::Bule)> {
    let pdn = controlplane::session::PdnIdent::new(
        controlplane::wire::MnId::Nai(nai(ue)),
        controlplane::wire::Apn::from_dotted(APNS[apn]).unwrap(),
        None,
    );
    sim.mags.iter().enumerate().find_map(|(i, m)| m.machine.find(&pdn).map(|(_, b)| (i, b.clone())))
}

fn apply(sim: &mut Sim, op: &Op, restarts: &mut [u32; MAGS]) {
    match *op {
        Op::Create { mag, ue, apn, pdn_type, ipv4_lma } => {
            let t = [PdnType::Ipv4, PdnType::Ipv6, PdnType::Ipv4v6][pdn_type];
            let lma: IpAddr = if ipv4_lma { LMA4.into() } else { LMA6.into() };
            let mut p = pdn(ue, t, lma);
            p.apn = APNS[apn].into();
            p.wait = false;
            sim.api(NodeId::Mag(mag), Request::PdnCreate(p));
        }
        Op::Delete { ue, apn } => {
            if let Some((m, _)) = holder(sim, ue, apn) {
                let req =
                    Request::PdnDelete { mn_id: nai(ue), apn: APNS[apn].into(), pdn_connection_id: None, only: None };
                sim.api(NodeId::Mag(m), req);
            }
        }
        Op::Handover { ue, apn, to, hi } => {
            if let Some((from, b)) = holder(sim, ue, apn) {
                if from != to {
                    let mut p = pdn(ue, b.pdn_type, b.lma());
                    p.apn = APNS[apn].into();
                    p.handoff = Some(hi);
                    p.uplink_key = b.uplink_key;
                    p.home_prefix = b.hnp;
                    p.ipv4_home_address = b.ipv4;
                    p.wait = false;
                    sim.api(NodeId::Mag(to), Request::PdnCreate(p));
                }
            }
        }
        Op::Revoke { ue } => {
            let selector = Selector { mn_id: Some(nai(ue)), ..Default::default() };
            sim.api(NodeId::Lma, Request::BindingRevoke { selector, trigger: None });
        }
        Op::Reserve { ue, apn, key } => {
            sim.api(
                NodeId::Lma,
                Request::KeysReserve { key, mn_id: nai(ue), apn: APNS[apn].into(), pdn_connection_id: None },
            );
        }
        Op::Release { key } => {
            sim.api(NodeId::Lma, Request::KeysRelease { key });
        }
        Op::Advance { ms } => sim.run_for(ms),
        Op::RestartMag { mag } => {
            restarts[mag] += 1;
            sim.restart_mag(mag, mag_config(mag), restarts[mag]);
        }
        Op::CrashLma => {
            let before = bindings(sim);
            let report = sim.crash_and_warm_start_lma(lma(), 1);
            let after = bindings(sim);
            assert_eq!(before, after, "a warm start must bring back every binding as it was ({report:?})");
            assert_eq!((report.expired, report.refused), (0, 0));
            sim.check().unwrap_or_else(|e| panic!("right after a warm start: {e}"));
        }
        Op::CrashMag { mag } => {
            let before = accepted(sim, mag);
            let report = sim.crash_and_warm_start_mag(mag, mag_config(mag), restarts[mag]);
            assert_eq!(before, accepted(sim, mag), "a warm start must bring back every accepted connection");
            assert_eq!((report.expired, report.refused), (0, 0));
            sim.check().unwrap_or_else(|e| panic!("right after a MAG warm start: {e}"));
        }
    }
    sim.run_for(20);
}

/// The PDN connections MAG `mag` holds that its LMA has accepted (those a restart keeps), with their keys and
/// addresses and whether they forward.
fn accepted(sim: &Sim, mag: usize) -> Vec<String> {
    use controlplane::mag::bule::BuleState;
    let m = &sim.mags[mag];
    let mut all: Vec<String> = m
        .machine
        .bules()
        .filter(|(_, b)| matches!(b.state, BuleState::Active | BuleState::Refreshing) && b.uplink_key.is_some())
        .map(|(id, b)| {
            let entry = m.fastpath.table.get(&id).map(|e| (e.uplink_key, e.downlink_key, e.ue_ipv4, e.ue_ipv6_prefix));
            format!(
                "{} {:?} {} {:?} {:?} {:?} {:?}",
                b.pdn,
                b.lma(),
                b.downlink_key,
                b.uplink_key,
                b.hnp,
                b.ipv4,
                entry
            )
        })
        .collect();
    all.sort();
    all
}

/// What the LMA's bindings are, for comparing before and after a restart: every BCE still alive now, with its
/// identity, keys, addresses, MAG and whether it forwards.
fn bindings(sim: &Sim) -> Vec<String> {
    let now = sim.now.0;
    let mut all: Vec<String> = sim
        .lma
        .machine
        .cache()
        .iter()
        .filter(|b| b.deadline > now)
        .map(|b| {
            let state = match b.state {
                controlplane::lma::store::BceState::Deregistered => "deregistered",
                _ => "live",
            };
            format!(
                "{} {:#x} {:#x} {:?} {:?} {} {state} installed={}",
                b.pdn,
                b.uplink_key,
                b.downlink_key,
                b.hnp,
                b.ipv4,
                b.proxy_coa(),
                b.state != controlplane::lma::store::BceState::Deregistered
            )
        })
        .collect();
    all.sort();
    all
}

/// Deletes everything, lets lifetimes and timers run out, and checks that nothing is left held.
fn drain(sim: &mut Sim) {
    sim.faults = Faults::NONE;
    for i in 0..MAGS {
        let held: Vec<_> = sim.mags[i].machine.bules().map(|(_, b)| b.pdn.clone()).collect();
        for pdn in held {
            let mn_id = controlplane::session::mn_id_text(&pdn.mn_id);
            sim.api(
                NodeId::Mag(i),
                Request::PdnDelete { mn_id, apn: pdn.apn.to_dotted(), pdn_connection_id: None, only: None },
            );
        }
    }
    for k in 0..8 {
        sim.api(NodeId::Lma, Request::KeysRelease { key: 0x7000_0000 + k });
    }
    // Longer than a PBU's retransmissions (63 s), a lifetime (60 s) and MinDelayBeforeBCEDelete (10 s).
    sim.run_for(200_000);
    sim.check().unwrap();
    assert_eq!(sim.lma.machine.binding_count(), 0, "BCEs left");
    assert_eq!(sim.lma.machine.keys().in_use(), 0, "uplink keys leaked");
    assert!(sim.lma.fastpath.table.is_empty(), "LMA fast-path entries left");
    let stats = sim.lma.machine.stats();
    assert_eq!(stats.keys_in_use, 0);
    for m in &mut sim.mags {
        assert_eq!(m.machine.binding_count(), 0, "BULEs left");
        assert_eq!(m.machine.stats().keys_in_use, 0, "downlink keys leaked");
        assert!(m.fastpath.table.is_empty(), "MAG fast-path entries left");
    }
}

fn run(seed: u64, ops: &[Op], check_every: usize) -> Sim {
    let mut sim = new_sim(seed);
    let mut restarts = [1; MAGS];
    for (i, op) in ops.iter().enumerate() {
        apply(&mut sim, op, &mut restarts);
        if i % check_every == 0 {
            sim.check().unwrap_or_else(|e| panic!("after op {i} {op:?} at {}: {e}", sim.now));
        }
    }
    sim.check().unwrap();
    drain(&mut sim);
    sim
}

#[test]
fn hundred_thousand_random_operations_keep_every_invariant() {
    let mut rng = SimRng::new(0x5eed);
    let ops: Vec<Op> = (0..100_000).map(|_| random_op(&mut rng)).collect();
    let start = std::time::Instant::now();
    let sim = run(42, &ops, 97);
    eprintln!("100k operations: {:?} ({} of virtual time)", start.elapsed(), sim.now);
    // The run went through every path it is meant to: creations, refreshes, handovers (with and without the HI 4
    // wait), de-registrations, expiries, revocations, restarts, duplicates and refusals.
    let c = sim.lma.machine.counters();
    for (name, at_least) in [
        ("bindings-created", 10_000),
        ("reregistrations", 2_000),
        ("handovers", 1_000),
        ("handover-waits", 500),
        ("deregistrations", 1_000),
        ("bindings-expired", 100),
        ("bri-retransmissions", 100),
        ("peer-restarts", 100),
        ("pbu-duplicates", 100),
    ] {
        assert!(c.get(name) >= at_least, "only {} {name}", c.get(name));
    }
    let refused = c.messages(controlplane::stats::RxTx::Tx, "pba", Some("INSUFFICIENT_RESOURCES"));
    assert!(refused > 0, "the small IPv4 pool never ran out");
}

#[test]
fn a_durable_lma_killed_at_random_moments_loses_no_binding() {
    // 100 kill -9s at random moments of a random workload over a lossy network: each warm start brings back
    // exactly the bindings there were, the MAGs never see a restart, and everything still converges and drains.
    let mut rng = SimRng::new(0xdead);
    let mut ops: Vec<Op> = Vec::new();
    for _ in 0..100 {
        let run = 20 + rng.below(80) as usize;
        ops.extend((0..run).map(|_| random_op(&mut rng)).filter(|op| !matches!(op, Op::RestartMag { .. })));
        ops.push(Op::CrashLma);
    }
    let mut sim = new_sim(99);
    sim.lma_durable();
    let mut restarts = [1; MAGS];
    for (i, op) in ops.iter().enumerate() {
        apply(&mut sim, op, &mut restarts);
        if i % 13 == 0 {
            sim.check().unwrap_or_else(|e| panic!("after op {i} {op:?} at {}: {e}", sim.now));
        }
    }
    let crashes = ops.iter().filter(|op| matches!(op, Op::CrashLma)).count();
    assert_eq!(crashes, 100);
    assert!(sim.lma_restored >= 1_000, "only {} bindings were up at the crashes", sim.lma_restored);
    let c = sim.lma.machine.counters();
    assert_eq!(c.get("peer-restarts"), 0, "the LMA kept every MAG's restart counter");
    for m in &sim.mags {
        assert_eq!(m.machine.counters().get("peer-restarts"), 0, "no MAG saw the LMA restart");
    }
    drain(&mut sim);
    assert!(sim.lma_disk.as_ref().unwrap().keys().all(|k| !matches!(k, controlplane::durable::RecordKey::Bce(_))));
}

#[test]
fn a_durable_mag_killed_at_random_moments_keeps_every_accepted_connection() {
    // 60 kill -9s of a MAG at random moments of a random workload over a lossy network: each warm start brings
    // back exactly the connections its LMA had accepted, with their keys and addresses, installed in the fast
    // path; the LMA never sees the MAG restart; everything still converges and drains.
    let mut rng = SimRng::new(0xbeef);
    let mut ops: Vec<Op> = Vec::new();
    for _ in 0..60 {
        let run = 20 + rng.below(80) as usize;
        ops.extend((0..run).map(|_| random_op(&mut rng)).filter(|op| !matches!(op, Op::RestartMag { .. })));
        ops.push(Op::CrashMag { mag: rng.below(MAGS as u64) as usize });
    }
    let mut sim = new_sim(98);
    for mag in 0..MAGS {
        sim.mag_durable(mag);
    }
    let mut restarts = [1; MAGS];
    for (i, op) in ops.iter().enumerate() {
        apply(&mut sim, op, &mut restarts);
        if i % 13 == 0 {
            sim.check().unwrap_or_else(|e| panic!("after op {i} {op:?} at {}: {e}", sim.now));
        }
    }
    assert!(sim.mag_restored >= 200, "only {} connections were up at the crashes", sim.mag_restored);
    assert_eq!(sim.lma.machine.counters().get("peer-restarts"), 0, "the LMA saw no MAG restart");
    drain(&mut sim);
    for disk in &sim.mag_disks {
        let left = disk.as_ref().unwrap().keys().filter(|k| matches!(k, controlplane::durable::RecordKey::Bule(_)));
        assert_eq!(left.count(), 0, "nothing left on disk once every connection is gone");
    }
}

#[test]
fn the_pools_reach_exhaustion_and_recover() {
    // Many IPv4 creates on the small pool: some get 130, nothing leaks.
    let ops: Vec<Op> = (0..UES)
        .map(|ue| Op::Create { mag: (ue % 3) as usize, ue, apn: 0, pdn_type: 0, ipv4_lma: false })
        .chain(std::iter::once(Op::Advance { ms: 2_000 }))
        .collect();
    let mut sim = new_sim(7);
    sim.faults = Faults::NONE;
    sim.record_wire = true;
    let mut restarts = [1; MAGS];
    for op in &ops {
        apply(&mut sim, op, &mut restarts);
    }
    let rejected =
        sim.wire.iter().filter(|w| matches!(&w.msg, controlplane::wire::MhRepr::Pba(p) if p.status.0 == 130)).count();
    assert_eq!(sim.lma.machine.binding_count(), 13, "a /28 holds 13 home addresses");
    assert_eq!(rejected, UES as usize - 13);
    sim.check().unwrap();
    drain(&mut sim);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_keep_every_invariant(seed in any::<u64>(), ops in prop::collection::vec(op_strategy(), 1..150)) {
        run(seed, &ops, 1);
    }
}
