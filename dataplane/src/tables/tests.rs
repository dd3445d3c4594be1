use super::*;
use crate::binding::TunnelEndpoints;
use crate::counters::{BindingSnapshot, WorkerCounters};
use std::sync::Arc;
use std::time::Duration;

fn lma(n: u32) -> Binding {
    Binding {
        function: Function::Lma,
        tunnel: TunnelEndpoints::Ipv6 {
            local: "2001:db8:2::1".parse().unwrap(),
            remote: "2001:db8:1::1".parse().unwrap(),
        },
        uplink_key: Some(0x0a00_0000 + n),
        downlink_key: Some(0x0001_0000 + n),
        ue_ipv4: Some(Ipv4Addr::from(0x0a2d_0000 + n)),
        ue_ipv6_prefix: Some(Ipv6Addr::from((0x2001_0db8_aaaa_0000u128 + u128::from(n)) << 64)),
        next_hop: Default::default(),
    }
}

fn mag(n: u32) -> Binding {
    Binding {
        function: Function::Mag,
        tunnel: TunnelEndpoints::Ipv4 { local: Ipv4Addr::new(192, 0, 2, 1), remote: Ipv4Addr::new(198, 51, 100, 1) },
        ..lma(n)
    }
}

#[test]
fn every_lookup_finds_its_binding_and_removal_clears_them_all() {
    let mut table = BindingTable::new(8);
    table.insert(BindingId(3), lma(1)).unwrap();
    table.insert(BindingId(0), mag(1)).unwrap();
    assert_eq!(table.len(), 2);

    assert_eq!(table.lma_by_uplink_key(0x0a00_0001).map(|(id, _)| id), Some(BindingId(3)));
    assert_eq!(table.by_ue_ipv4(Function::Lma, 0x0a2d_0001).map(|(id, _)| id), Some(BindingId(3)));
    assert_eq!(table.by_ue_prefix64(Function::Lma, 0x2001_0db8_aaaa_0001).map(|(id, _)| id), Some(BindingId(3)));
    let lmaa = Ipv4Addr::new(198, 51, 100, 1).to_ipv6_mapped().octets();
    assert_eq!(table.mag_by_downlink_key(lmaa, 0x0001_0001).map(|(id, _)| id), Some(BindingId(0)));
    assert_eq!(table.by_ue_ipv4(Function::Mag, 0x0a2d_0001).map(|(id, _)| id), Some(BindingId(0)));
    assert_eq!(table.by_ue_prefix64(Function::Mag, 0x2001_0db8_aaaa_0001).map(|(id, _)| id), Some(BindingId(0)));
    // Keys of the other function or direction do not match.
    assert!(table.lma_by_uplink_key(0x0001_0001).is_none(), "a downlink key is not an uplink key");
    let other_lmaa = Ipv4Addr::new(198, 51, 100, 2).to_ipv6_mapped().octets();
    assert!(table.mag_by_downlink_key(other_lmaa, 0x0001_0001).is_none(), "downlink keys are per LMAA");

    assert_eq!(table.remove(BindingId(3)), Ok(lma(1)));
    assert!(table.lma_by_uplink_key(0x0a00_0001).is_none());
    assert!(table.by_ue_ipv4(Function::Lma, 0x0a2d_0001).is_none());
    assert!(table.by_ue_prefix64(Function::Lma, 0x2001_0db8_aaaa_0001).is_none());
    assert_eq!(table.remove(BindingId(3)), Err(TableError::UnknownBinding(BindingId(3))));
    assert_eq!(table.iter().map(|(id, _)| id).collect::<Vec<_>>(), vec![BindingId(0)]);
}

#[test]
fn conflicting_keys_are_refused_and_name_the_owner() {
    let mut table = BindingTable::new(8);
    table.insert(BindingId(0), lma(1)).unwrap();
    let same_uplink = Binding { ue_ipv4: None, ue_ipv6_prefix: Some(Ipv6Addr::from(9u128 << 64)), ..lma(2) };
    let same_uplink = Binding { uplink_key: Some(0x0a00_0001), ..same_uplink };
    assert_eq!(
        table.insert(BindingId(1), same_uplink),
        Err(TableError::Conflict(Conflict::UplinkKey(0x0a00_0001), BindingId(0)))
    );
    let same_ue = Binding { ue_ipv6_prefix: None, ue_ipv4: lma(1).ue_ipv4, ..lma(2) };
    assert_eq!(
        table.insert(BindingId(1), same_ue),
        Err(TableError::Conflict(Conflict::UeIpv4(Function::Lma, Ipv4Addr::new(10, 45, 0, 1)), BindingId(0)))
    );
    assert!(table.get(BindingId(1)).is_none(), "a refused insert leaves nothing behind");
    assert!(table.lma_by_uplink_key(0x0a00_0002).is_none(), "not even its other keys");

    // The same UE on both functions is fine (a one-box MAG+LMA), as is a downlink key reused towards another LMAA.
    table.insert(BindingId(1), mag(1)).unwrap();
    let other_lmaa = Binding {
        tunnel: TunnelEndpoints::Ipv4 { local: Ipv4Addr::new(192, 0, 2, 1), remote: Ipv4Addr::new(198, 51, 100, 2) },
        ue_ipv4: Some(Ipv4Addr::new(10, 46, 0, 1)),
        ue_ipv6_prefix: None,
        ..mag(1)
    };
    table.insert(BindingId(2), other_lmaa).unwrap();
    let same_lmaa = Binding { ue_ipv4: Some(Ipv4Addr::new(10, 47, 0, 1)), ..other_lmaa };
    assert!(matches!(
        table.insert(BindingId(3), same_lmaa),
        Err(TableError::Conflict(Conflict::DownlinkKey { key: 0x0001_0001, .. }, BindingId(2)))
    ));
    assert_eq!(table.insert(BindingId(0), lma(5)), Err(TableError::SlotTaken(BindingId(0))));
    assert!(matches!(
        table.insert(BindingId(4), Binding { downlink_key: None, ..lma(6) }),
        Err(TableError::Invalid(_))
    ));
}

#[test]
fn replace_moves_the_keys_and_may_keep_its_own() {
    let mut table = BindingTable::new(4);
    table.insert(BindingId(0), mag(1)).unwrap();
    // Handover: new downlink key and transport, same UE.
    let moved = Binding {
        tunnel: TunnelEndpoints::Ipv6 {
            local: "2001:db8:1::1".parse().unwrap(),
            remote: "2001:db8:2::1".parse().unwrap(),
        },
        downlink_key: Some(77),
        ..mag(1)
    };
    assert_eq!(table.replace(BindingId(0), moved), Ok(mag(1)));
    let old_lmaa = Ipv4Addr::new(198, 51, 100, 1).to_ipv6_mapped().octets();
    assert!(table.mag_by_downlink_key(old_lmaa, 0x0001_0001).is_none());
    let new_lmaa: Ipv6Addr = "2001:db8:2::1".parse().unwrap();
    assert_eq!(table.mag_by_downlink_key(new_lmaa.octets(), 77).map(|(id, _)| id), Some(BindingId(0)));
    assert_eq!(table.by_ue_ipv4(Function::Mag, 0x0a2d_0001).map(|(_, b)| b.downlink_key), Some(Some(77)));
    assert_eq!(table.len(), 1);
    assert_eq!(table.replace(BindingId(1), mag(2)), Err(TableError::UnknownBinding(BindingId(1))));
}

#[test]
fn a_full_table_refuses_until_a_slot_is_freed_and_churn_keeps_it_usable() {
    let capacity = 64;
    let mut table = BindingTable::new(capacity);
    for round in 0..50u32 {
        for n in 0..capacity as u32 {
            table.insert(BindingId(n), lma(round * 1000 + n)).unwrap();
        }
        assert_eq!(table.insert(BindingId(0), lma(999_999)), Err(TableError::SlotTaken(BindingId(0))));
        assert_eq!(table.insert(BindingId(capacity as u32), lma(999_999)), Err(TableError::Full { capacity }));
        for n in 0..capacity as u32 {
            assert_eq!(table.lma_by_uplink_key(0x0a00_0000 + round * 1000 + n).map(|(id, _)| id), Some(BindingId(n)));
            table.remove(BindingId(n)).unwrap();
        }
        assert!(table.is_empty());
    }
}

fn quick(capacity: usize, queue_depth: usize) -> TableConfig {
    TableConfig { capacity, queue_depth, queue_wait: Duration::from_millis(20) }
}

fn counters_of(worker: &WorkerTable) -> WorkerCounters {
    WorkerCounters::new(Arc::clone(worker.records()))
}

#[test]
fn an_install_is_acknowledged_only_after_every_worker_applied_it() {
    let mut sender = UpdateSender::new(quick(16, 8));
    let mut workers = [sender.add_worker().unwrap(), sender.add_worker().unwrap()];
    let counters = counters_of(&workers[0]);

    let installed = sender.install(lma(1)).unwrap();
    assert_eq!(installed, Installed { id: BindingId(1), epoch: Epoch(1) }, "uplink key 0x0a000001's home slot");
    assert!(workers[0].find_rx(Function::Lma, 0x0a00_0001, &[]).is_none(), "not applied before the next burst");
    assert_eq!(sender.wait_applied(installed.epoch, Duration::from_millis(5)), Err(TableError::Timeout(Epoch(1))));
    assert!(sender.wakeups().try_recv().is_err(), "nothing applied: no ring");

    assert_eq!(workers[0].apply_pending(&counters, usize::MAX), 1);
    assert_eq!(sender.applied_epoch(), Epoch(0), "worker 1 still behind");
    assert_eq!(workers[1].apply_pending(&counters, usize::MAX), 1);
    assert_eq!(sender.wakeups().try_recv(), Ok(()), "the workers rang: the control thread looks at the epochs");
    assert!(sender.wakeups().try_recv().is_err(), "one pending ring for both workers");
    assert_eq!(workers[0].apply_pending(&counters, usize::MAX), 0);
    assert!(sender.wakeups().try_recv().is_err(), "nothing new applied: no ring");
    assert_eq!(sender.wait_applied(installed.epoch, Duration::from_millis(5)), Ok(()));
    for worker in &workers {
        assert_eq!(worker.find_rx(Function::Lma, 0x0a00_0001, &[]), Some(BindingId(1)));
        assert_eq!(worker.find_ue(Function::Lma, false, 0x0a2d_0001), Some(BindingId(1)));
        assert_eq!(worker.find_ue(Function::Lma, true, 0x2001_0db8_aaaa_0001), Some(BindingId(1)));
        assert_eq!(worker.find_ue(Function::Mag, false, 0x0a2d_0001), None, "the other function");
    }
    assert_eq!(counters.snapshot().updates_applied, 2);
}

#[test]
fn refused_updates_reach_no_worker() {
    let mut sender = UpdateSender::new(quick(1, 8));
    let mut worker = sender.add_worker().unwrap();
    let counters = counters_of(&worker);
    sender.install(lma(1)).unwrap();
    assert_eq!(sender.install(lma(2)), Err(TableError::Full { capacity: 1 }));
    let epoch = sender.latest_epoch();
    assert_eq!(sender.remove(BindingId(5)), Err(TableError::UnknownBinding(BindingId(5))));
    assert_eq!(sender.latest_epoch(), epoch, "no epoch for a refused update");
    assert_eq!(worker.apply_pending(&counters, usize::MAX), 1);
    assert_eq!(counters.snapshot().updates_refused, 0);
}

#[test]
fn a_stalled_worker_fills_its_queue_and_the_update_is_refused_everywhere() {
    let mut sender = UpdateSender::new(quick(16, 2));
    let mut live = sender.add_worker().unwrap();
    let _stalled = sender.add_worker().unwrap();
    let counters = counters_of(&live);
    sender.install(lma(1)).unwrap();
    sender.install(lma(2)).unwrap();
    live.apply_pending(&counters, usize::MAX);
    assert_eq!(sender.install(lma(3)), Err(TableError::QueueFull { worker: 1 }));
    assert!(sender.table().lma_by_uplink_key(0x0a00_0003).is_none(), "the replica did not take it either");
    assert_eq!(live.apply_pending(&counters, usize::MAX), 0, "nor did the live worker");
}

#[test]
fn a_worker_that_ended_does_not_hold_acknowledgements_back() {
    let mut sender = UpdateSender::new(quick(16, 1));
    let mut live = sender.add_worker().unwrap();
    drop(sender.add_worker().unwrap());
    let counters = counters_of(&live);
    for n in 0..4 {
        let installed = sender.install(lma(n)).unwrap();
        live.apply_pending(&counters, usize::MAX);
        sender.wait_applied(installed.epoch, Duration::from_millis(50)).unwrap();
    }
}

#[test]
fn late_workers_start_with_every_binding_and_a_reused_slot_has_fresh_counters_and_refuses_the_stale_key() {
    let mut sender = UpdateSender::new(quick(4, 8));
    let first = sender.install(lma(1)).unwrap();
    sender.install(mag(2)).unwrap();
    let mut worker = sender.add_worker().unwrap();
    assert_eq!(worker.len(), 2);
    assert_eq!(sender.applied_epoch(), sender.latest_epoch(), "nothing outstanding for a new worker");

    let counters = counters_of(&worker);
    worker.start(TemplateContext::default());
    crate::tables::record_for_tests::count(worker.records(), first.id.0, 5);
    sender.remove(first.id).unwrap();
    // Uplink key 0x0a000005 has the same home slot (4 slots) as 0x0a000001.
    let reused = sender.install(lma(5)).unwrap();
    assert_eq!(reused.id, first.id, "the new key's home slot is the freed one");
    assert_eq!(worker.apply_pending(&counters, 1), 1, "max is honoured");
    assert_eq!(worker.apply_pending(&counters, usize::MAX), 1);
    assert_eq!(counters.binding_snapshot(first.id).unwrap(), BindingSnapshot::default());
    let snapshot = counters.snapshot();
    let retired = BindingSnapshot { downlink_packets: 1, downlink_bytes: 5, ..Default::default() };
    assert_eq!(snapshot.retired, retired, "the removed binding's traffic is kept, not lost with its slot");
    assert_eq!((snapshot.table_bindings, snapshot.table_index_entries), (2, 0), "every UE at its direct position");
    assert_eq!(worker.find_rx(Function::Lma, 0x0a00_0005, &[]), Some(first.id));
    assert!(worker.find_rx(Function::Lma, 0x0a00_0001, &[]).is_none(), "the stale key finds nothing");
    assert!(worker.find_ue(Function::Lma, false, 0x0a2d_0001).is_none(), "nor the old UE address");

    // UE 0x0a2d0009 and its prefix share direct positions with binding 5's (4 positions), and its uplink key
    // shares binding 5's home slot: all three go to the index, and both bindings are found by everything.
    let crowded = sender.install(lma(9)).unwrap();
    worker.apply_pending(&counters, usize::MAX);
    assert_eq!(counters.snapshot().table_index_entries, 3);
    for (id, n) in [(first.id, 5u32), (crowded.id, 9)] {
        assert_eq!(worker.find_ue(Function::Lma, false, u64::from(0x0a2d_0000 + n)), Some(id));
        assert_eq!(worker.find_ue(Function::Lma, true, 0x2001_0db8_aaaa_0000 + u64::from(n)), Some(id));
        assert_eq!(worker.find_rx(Function::Lma, 0x0a00_0000 + n, &[]), Some(id));
    }
    sender.remove(first.id).unwrap();
    worker.apply_pending(&counters, usize::MAX);
    assert_eq!(counters.snapshot().table_index_entries, 3, "a freed position is not taken over by an indexed UE");
    assert_eq!(worker.find_ue(Function::Lma, false, 0x0a2d_0009), Some(crowded.id));
    assert!(worker.find_ue(Function::Lma, false, 0x0a2d_0005).is_none());
    sender.sync(Duration::from_millis(50)).unwrap();
}

#[test]
fn modify_keeps_the_slot_and_its_counters() {
    let mut sender = UpdateSender::new(quick(4, 8));
    let mut worker = sender.add_worker().unwrap();
    let counters = counters_of(&worker);
    let installed = sender.install(mag(1)).unwrap();
    worker.apply_pending(&counters, usize::MAX);
    crate::tables::record_for_tests::count(worker.records(), installed.id.0, 100);
    let epoch = sender.modify(installed.id, Binding { uplink_key: Some(42), ..mag(1) }).unwrap();
    worker.apply_pending(&counters, usize::MAX);
    sender.wait_applied(epoch, Duration::from_millis(50)).unwrap();
    assert_eq!(worker.records().get(installed.id.0).map(Record::tx_key), Some(42));
    assert_eq!(counters.binding_snapshot(installed.id).unwrap().downlink_bytes, 100);
}

#[test]
fn keys_away_from_their_home_slot_are_found_through_the_index() {
    let mut sender = UpdateSender::new(quick(4, 8));
    let mut worker = sender.add_worker().unwrap();
    let counters = counters_of(&worker);
    // 0x0a000001 and 0x0a000005 share home slot 1 of 4: the second is displaced.
    let home = sender.install(lma(1)).unwrap();
    let displaced = sender.install(Binding { uplink_key: Some(0x0a00_0005), ..lma(2) }).unwrap();
    assert_eq!(home.id, BindingId(1));
    assert_ne!(displaced.id, BindingId(1));
    // A MAG's downlink key towards two LMAAs (TS 29.275 §6.2: unique per LMAA only).
    let to_a = sender.install(mag(7)).unwrap();
    let other = TunnelEndpoints::Ipv4 { local: Ipv4Addr::new(192, 0, 2, 1), remote: Ipv4Addr::new(198, 51, 100, 2) };
    let to_b = sender.install(Binding { tunnel: other, downlink_key: Some(0x0001_0007), ue_ipv4: None, ..mag(8) });
    worker.apply_pending(&counters, usize::MAX);
    assert_eq!(worker.find_rx(Function::Lma, 0x0a00_0001, &[]), Some(home.id));
    assert_eq!(worker.find_rx(Function::Lma, 0x0a00_0005, &[]), Some(displaced.id));
    assert!(to_b.is_ok());
    assert_eq!(worker.find_rx(Function::Mag, 0x0001_0007, &[198, 51, 100, 1]), Some(to_a.id));
    let found_b = worker.find_rx(Function::Mag, 0x0001_0007, &[198, 51, 100, 2]);
    assert!(found_b.is_some() && found_b != Some(to_a.id), "the same key towards another LMAA: {found_b:?}");
    assert!(worker.find_rx(Function::Mag, 0x0001_0007, &[198, 51, 100, 3]).is_none(), "a foreign LMAA");
    sender.remove(displaced.id).unwrap();
    worker.apply_pending(&counters, usize::MAX);
    assert!(worker.find_rx(Function::Lma, 0x0a00_0005, &[]).is_none());
    assert_eq!(worker.find_rx(Function::Lma, 0x0a00_0001, &[]), Some(home.id));
}

#[test]
fn a_full_table_of_a_million_refuses_the_next_install_with_its_capacity() {
    const MILLION: usize = 1 << 20;
    let mut sender =
        UpdateSender::new(TableConfig { capacity: MILLION, queue_depth: 1 << 16, queue_wait: Duration::ZERO });
    let mut worker = sender.add_worker().unwrap();
    let counters = counters_of(&worker);
    for n in 0..MILLION as u32 {
        let binding = Binding { ue_ipv6_prefix: None, ..lma(n) };
        sender.install(binding).unwrap();
        if n % (1 << 15) == 0 {
            worker.apply_pending(&counters, usize::MAX);
        }
    }
    worker.apply_pending(&counters, usize::MAX);
    assert_eq!(sender.install(lma(MILLION as u32)), Err(TableError::Full { capacity: MILLION }));
    assert_eq!(
        TableError::Full { capacity: MILLION }.to_string(),
        "binding table full (1048576 bindings)",
        "the error an operator sees"
    );
    assert_eq!(worker.len(), MILLION);
    assert_eq!(counters.snapshot().updates_refused, 0);
    // Keys allocated from a range: every one in its home slot.
    for n in [0u32, 1, 4095, 1 << 19, MILLION as u32 - 1] {
        let key = 0x0a00_0000 + n;
        assert_eq!(worker.find_rx(Function::Lma, key, &[]), Some(BindingId(home_slot(key, MILLION))));
        assert!(worker.find_ue(Function::Lma, false, u64::from(0x0a2d_0000 + n)).is_some());
    }
    // Room again after a removal.
    sender.remove(BindingId(home_slot(0x0a00_0000, MILLION))).unwrap();
    assert!(sender.install(lma(MILLION as u32)).is_ok());
}

#[test]
fn bulk_ue_lookups_answer_as_single_ones() {
    let mut sender = UpdateSender::new(quick(256, 512));
    let mut worker = sender.add_worker().unwrap();
    let counters = counters_of(&worker);
    for n in 0..200 {
        sender.install(if n % 2 == 0 { lma(n) } else { mag(n) }).unwrap();
    }
    worker.apply_pending(&counters, usize::MAX);
    // Present and absent values, more than one step of the staged lookup, both families and functions.
    for (function, ipv6) in [(Function::Lma, false), (Function::Lma, true), (Function::Mag, false)] {
        let values: Vec<u64> =
            (0..150u64).map(|n| if ipv6 { 0x2001_0db8_aaaa_0000 + n * 3 } else { 0x0a2d_0000 + n * 3 }).collect();
        let mut bulk = vec![None; values.len()];
        worker.find_ue_bulk(function, ipv6, &values, &mut bulk);
        let single: Vec<_> = values.iter().map(|v| worker.find_ue(function, ipv6, *v)).collect();
        assert_eq!(bulk, single, "{function:?} ipv6 {ipv6}");
        assert!(single.iter().filter(|id| id.is_some()).count() > 20, "some values are bound");
    }
}

#[test]
fn a_large_table_counts_as_cached_while_it_holds_few_bindings() {
    let mut sender = UpdateSender::new(quick(1 << 16, 4096));
    let mut worker = sender.add_worker().unwrap();
    let counters = counters_of(&worker);
    assert!(worker.in_cache(), "empty");
    for n in 0..1024 {
        sender.install(lma(n)).unwrap();
    }
    worker.apply_pending(&counters, usize::MAX);
    assert!(worker.in_cache(), "1,024 bindings of 65,536 slots: what packets read fits the cache");
    sender.install(lma(1024)).unwrap();
    worker.apply_pending(&counters, usize::MAX);
    assert!(!worker.in_cache(), "one more: the lookups are prefetched a stage ahead");
    let small = UpdateSender::new(quick(4096, 8)).add_worker().unwrap();
    assert!(small.in_cache(), "a table of 4,096 slots is cached whatever it holds");
}
