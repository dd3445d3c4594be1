//! Table updates racing traffic: what an acknowledgement promises must hold for every packet.

use super::*;
use crate::tables::Epoch;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

const UES: u32 = 64;
const UPDATES: u32 = 100_000;

/// The binding of UE `ue` in its `generation`-th life: each life has its own downlink key.
fn life(ue: u32, generation: u64) -> Binding {
    Binding {
        ue_ipv4: Some(Ipv4Addr::from(0x0a01_0000 + ue)),
        ue_ipv6_prefix: None,
        next_hop: Default::default(),
        uplink_key: Some(0x1000_0000 + ue),
        downlink_key: Some(downlink_key(ue, generation)),
        ..lma_b()
    }
}

fn downlink_key(ue: u32, generation: u64) -> u32 {
    ((generation as u32) << 8) | ue
}

/// What the control side has acknowledged about a UE, published only after `wait_applied` returned.
const IN_FLIGHT: u64 = 0;
fn installed(generation: u64) -> u64 {
    (generation << 2) | 1
}
fn removed(generation: u64) -> u64 {
    (generation << 2) | 2
}

#[test]
fn acknowledged_installs_and_removals_hold_for_every_packet_while_100k_updates_stream() {
    let mut sender = UpdateSender::new(TableConfig {
        capacity: UES as usize,
        queue_depth: 256,
        queue_wait: Duration::from_secs(10),
    });
    let tables = sender.add_worker().unwrap();
    let mut fast_path = FastPath::new(&config(), tables).unwrap();
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..UES).map(|_| AtomicU64::new(removed(0))).collect());
    let stop = Arc::new(AtomicBool::new(false));
    // Bursts the worker has finished: the control side waits on it so that every acknowledged state is exercised
    // by real packets however the two threads are scheduled.
    let bursts = Arc::new(AtomicU64::new(0));

    let worker = {
        let acked = Arc::clone(&acked);
        let stop = Arc::clone(&stop);
        let bursts = Arc::clone(&bursts);
        std::thread::spawn(move || {
            let frames: Vec<VecPacket> =
                (0..UES).map(|ue| VecPacket::new(&plain(&udp4(CN4, Ipv4Addr::from(0x0a01_0000 + ue), 64)))).collect();
            let (mut violations, mut seen_installed, mut seen_removed) = (Vec::new(), 0u64, 0u64);
            let mut next = 0u32;
            while !stop.load(Ordering::Relaxed) {
                fast_path.apply_updates(usize::MAX);
                for _ in 0..32 {
                    let ue = next % UES;
                    next = next.wrapping_add(7);
                    // Read what was acknowledged before the packet is processed: updates only land between bursts.
                    let state = acked[ue as usize].load(Ordering::Acquire);
                    let mut packet = frames[ue as usize].clone();
                    let verdict = fast_path.process(SGI, &mut packet);
                    let generation = state >> 2;
                    match state & 3 {
                        1 => {
                            seen_installed += 1;
                            let key =
                                (verdict == Verdict::Forward(CORE)).then(|| decode_encapsulated(packet.data()).key);
                            if key != Some(downlink_key(ue, generation)) {
                                violations
                                    .push(format!("UE {ue} installed (gen {generation}) but {verdict:?} key {key:x?}"));
                            }
                        }
                        2 => {
                            seen_removed += 1;
                            if verdict != Verdict::Drop(DropReason::NoBinding) {
                                violations.push(format!("UE {ue} removed (gen {generation}) but {verdict:?}"));
                            }
                        }
                        _ => {}
                    }
                }
                bursts.fetch_add(1, Ordering::Release);
            }
            (violations, seen_installed, seen_removed, fast_path)
        })
    };

    let mut ids = vec![None; UES as usize];
    let mut generation = vec![0u64; UES as usize];
    let mut sent = 0;
    while sent < UPDATES {
        // A batch toggles every UE (install if absent, remove if present), then waits for the last epoch.
        let mut last = Epoch::default();
        for ue in 0..UES as usize {
            acked[ue].store(IN_FLIGHT, Ordering::Release);
            last = match ids[ue].take() {
                Some(id) => sender.remove(id).unwrap(),
                None => {
                    generation[ue] += 1;
                    let done = sender.install(life(ue as u32, generation[ue])).unwrap();
                    ids[ue] = Some(done.id);
                    done.epoch
                }
            };
            sent += 1;
        }
        sender.wait_applied(last, Duration::from_secs(10)).unwrap();
        for ue in 0..UES as usize {
            let state = if ids[ue].is_some() { installed(generation[ue]) } else { removed(generation[ue]) };
            acked[ue].store(state, Ordering::Release);
        }
        // Let the worker run two whole bursts in the acknowledged state: the second starts after the stores above.
        let seen = bursts.load(Ordering::Acquire);
        let deadline = Instant::now() + Duration::from_secs(10);
        while bursts.load(Ordering::Acquire) < seen + 2 {
            assert!(Instant::now() < deadline, "the worker stopped running bursts");
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (violations, seen_installed, seen_removed, fast_path) = worker.join().unwrap();

    assert!(violations.is_empty(), "{} violations, first: {:?}", violations.len(), violations.first());
    assert!(seen_installed > 1000 && seen_removed > 1000, "exercised: {seen_installed} / {seen_removed} packets");
    let snapshot = fast_path.counters().snapshot();
    assert_eq!(snapshot.updates_applied, u64::from(sent));
    assert_eq!(snapshot.updates_refused, 0);
}
