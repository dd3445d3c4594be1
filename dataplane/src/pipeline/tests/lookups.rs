//! The two ways a binding is found: a receive key at its home slot (direct), or through the hash index (a key
//! whose home slot was taken, UE addresses). Slots are reused; a stale key must never reach the new occupant.

use super::*;
use crate::binding::BindingId;
use crate::tables::{home_slot, slot_count};
use std::net::IpAddr;

/// The test gateway's table has 64 slots: keys 64 apart share a home slot.
const SLOTS: u32 = 64;

fn lma_with(uplink_key: u32, downlink_key: u32, ue: u8) -> Binding {
    Binding {
        uplink_key: Some(uplink_key),
        downlink_key: Some(downlink_key),
        ue_ipv4: Some(Ipv4Addr::new(10, 45, 1, ue)),
        ue_ipv6_prefix: Some(Ipv6Addr::new(0x2001, 0xdb8, 0xbbbb, u16::from(ue), 0, 0, 0, 0)),
        ..lma_a()
    }
}

fn uplink(key: u32, ue: u8) -> Vec<u8> {
    frame6(PCOA6, LMAA6, 47, &gre_keyed(key, &udp4(Ipv4Addr::new(10, 45, 1, ue), CN4, 64)))
}

fn downlink(ue: u8) -> Vec<u8> {
    plain(&udp4(CN4, Ipv4Addr::new(10, 45, 1, ue), 64))
}

impl Gateway {
    fn install(&mut self, binding: Binding) -> BindingId {
        let id = self.sender.install(binding).unwrap().id;
        self.fast_path.apply_updates(usize::MAX);
        id
    }

    fn remove(&mut self, id: BindingId) {
        self.sender.remove(id).unwrap();
        self.fast_path.apply_updates(usize::MAX);
    }

    /// Runs GRE uplink and plain downlink for one UE; returns the downlink's GRE key.
    #[track_caller]
    fn both_ways(&self, key: u32, ue: u8) -> u32 {
        let (verdict, _) = self.run(CORE, &uplink(key, ue));
        assert_eq!(verdict, Verdict::Forward(SGI), "uplink with key {key:#x}");
        let (verdict, out) = self.run(SGI, &downlink(ue));
        assert_eq!(verdict, Verdict::Forward(CORE), "downlink to UE {ue}");
        decode_encapsulated(out.data()).key
    }
}

#[test]
fn the_test_table_has_the_slots_these_tests_assume() {
    assert_eq!(slot_count(64), SLOTS as usize);
    assert_eq!(home_slot(0x0a00_0005, 64), home_slot(0x0a00_0005 + SLOTS, 64));
}

#[test]
fn a_stale_key_is_dropped_once_its_slot_has_a_new_binding() {
    let mut gateway = Gateway::new(&config(), &[]);
    let old_key = 0x0a00_0005;
    let old = gateway.install(lma_with(old_key, 0x11, 1));
    assert_eq!(old, BindingId(home_slot(old_key, 64)), "a key's own home slot");
    assert_eq!(gateway.both_ways(old_key, 1), 0x11);

    gateway.remove(old);
    // A new PDN connection whose key has the same home slot takes the freed slot.
    let new_key = old_key + SLOTS;
    let new = gateway.install(lma_with(new_key, 0x22, 2));
    assert_eq!(new, old, "the slot is reused");

    // The old key finds the slot, but the record holds another key: refused with one compare.
    gateway.assert_dropped(CORE, &uplink(old_key, 1), DropReason::UnknownKey);
    // Even with the new UE's source address inside, it is not the new binding's traffic.
    gateway.assert_dropped(CORE, &uplink(old_key, 2), DropReason::UnknownKey);
    // The old UE's address has no binding any more.
    gateway.assert_dropped(SGI, &downlink(1), DropReason::NoBinding);
    assert_eq!(gateway.both_ways(new_key, 2), 0x22);
    let counted = gateway.fast_path.counters().binding_snapshot(new).unwrap();
    assert_eq!((counted.uplink_packets, counted.downlink_packets), (1, 1), "fresh counters for the new binding");
}

#[test]
fn direct_and_indexed_bindings_coexist_and_forward() {
    let mut gateway = Gateway::new(&config(), &[]);
    let key = 0x0a00_0007;
    let direct = gateway.install(lma_with(key, 0x31, 1));
    // Same home slot: displaced, found through the index (e.g. a key reserved to equal a GTP TEID).
    let displaced = gateway.install(lma_with(key + SLOTS, 0x32, 2));
    let also_displaced = gateway.install(lma_with(key + 2 * SLOTS, 0x33, 3));
    assert_eq!(direct, BindingId(home_slot(key, 64)));
    assert_ne!(displaced, direct);
    assert_ne!(also_displaced, direct);
    for _ in 0..3 {
        assert_eq!(gateway.both_ways(key, 1), 0x31);
        assert_eq!(gateway.both_ways(key + SLOTS, 2), 0x32);
        assert_eq!(gateway.both_ways(key + 2 * SLOTS, 3), 0x33);
    }
    // A displaced key of the other binding's UE is refused by the inner source check, not forwarded.
    gateway.assert_dropped(CORE, &uplink(key + SLOTS, 1), DropReason::InnerSourceMismatch);
    // A key of the same home slot that nobody holds.
    gateway.assert_dropped(CORE, &uplink(key + 3 * SLOTS, 1), DropReason::UnknownKey);

    // The direct binding leaves; the displaced ones stay where they are and keep forwarding.
    gateway.remove(direct);
    gateway.assert_dropped(CORE, &uplink(key, 1), DropReason::UnknownKey);
    assert_eq!(gateway.both_ways(key + SLOTS, 2), 0x32);
    assert_eq!(gateway.both_ways(key + 2 * SLOTS, 3), 0x33);
    let snapshot = gateway.snapshot();
    assert_eq!(snapshot.decapsulated, snapshot.encapsulated, "every uplink and downlink counted once");
}

#[test]
fn a_mag_finds_one_downlink_key_towards_two_lmaas() {
    // TS 29.275 §6.2 makes downlink keys unique per LMAA only: two LMAs may be given the same key by a MAG
    // that allocates per LMAA (static bindings can do that here); the LMAA tells them apart.
    let mut gateway = Gateway::new(&config(), &[]);
    let key = 0x0002_0001;
    let over_v6 = Binding { downlink_key: Some(key), ..mag_a() };
    let over_v4 = Binding { downlink_key: Some(key), ..mag_b() };
    gateway.install(over_v6);
    gateway.install(over_v4);
    let down6 = frame6(LMAA6, PCOA6, 47, &gre_keyed(key, &udp4(CN4, UE_A4, 64)));
    let down4 = frame4(LMAA4, PCOA4, 47, &gre_keyed(key, &udp4(CN4, UE_B4, 64)));
    for (frame, ue) in [(down6, UE_A4), (down4, UE_B4)] {
        let (verdict, out) = gateway.run(CORE, &frame);
        assert_eq!(verdict, Verdict::Forward(ACCESS));
        assert_eq!(decode_ip(&out.data()[14..]).1, IpAddr::V4(ue), "each LMAA's packet reaches its own UE");
    }
    // The same key from an LMAA that holds no such binding.
    let foreign =
        frame6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 9), PCOA6, 47, &gre_keyed(key, &udp4(CN4, UE_A4, 64)));
    gateway.assert_dropped(CORE, &foreign, DropReason::UnknownKey);
}

#[test]
fn a_mag_refuses_its_downlink_key_from_another_lmaa_over_either_transport() {
    // The binding sits at its key's home slot, so the record's own check of the LMAA decides: an IPv4 LMAA is
    // kept in the record's line 0, an IPv6 one in line 1. One packet at a time and through the prefetching lane.
    for (binding, own, foreign) in [
        (
            mag_a(),
            frame6(LMAA6, PCOA6, 47, &gre_keyed(DL_A, &udp4(CN4, UE_A4, 64))),
            frame6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 9), PCOA6, 47, &gre_keyed(DL_A, &udp4(CN4, UE_A4, 64))),
        ),
        (
            mag_b(),
            frame4(LMAA4, PCOA4, 47, &gre_keyed(DL_B, &udp4(CN4, UE_B4, 64))),
            frame4(Ipv4Addr::new(192, 0, 2, 99), PCOA4, 47, &gre_keyed(DL_B, &udp4(CN4, UE_B4, 64))),
        ),
    ] {
        let mut gateway = Gateway::new(&config(), &[]);
        let key = binding.downlink_key.expect("a MAG binding receives with its downlink key");
        let id = gateway.install(binding);
        assert_eq!(id, BindingId(home_slot(key, 64)), "at its home slot");
        for schedule in [Schedule::OnePass, Schedule::PrefetchingLane] {
            gateway.fast_path.set_schedule(schedule);
            assert_eq!(gateway.run(CORE, &own).0, Verdict::Forward(ACCESS), "{schedule:?}");
            gateway.assert_dropped(CORE, &foreign, DropReason::UnknownKey);
        }
    }
}

#[test]
fn ues_that_share_a_direct_position_both_forward_and_a_freed_position_is_taken_again() {
    // UEs 10.45.1.1 and 10.45.1.65 have the same low six bits: one direct position in a 64-slot table. The first
    // binding takes it, the second is found through the index; both ways, staged and one packet at a time.
    let mut gateway = Gateway::new(&config(), &[]);
    let first = gateway.install(lma_with(0x0a00_0001, 0x41, 1));
    let second = gateway.install(lma_with(0x0a00_0002, 0x42, 65));
    for schedule in [Schedule::OnePass, Schedule::PrefetchingLane, Schedule::Stages] {
        gateway.fast_path.set_schedule(schedule);
        assert_eq!(gateway.both_ways(0x0a00_0001, 1), 0x41, "{schedule:?}");
        assert_eq!(gateway.both_ways(0x0a00_0002, 65), 0x42, "{schedule:?}");
    }
    // The holder leaves: the other UE still forwards (through the index), and the next binding at that position
    // takes it.
    gateway.remove(first);
    gateway.assert_dropped(SGI, &downlink(1), DropReason::NoBinding);
    assert_eq!(gateway.both_ways(0x0a00_0002, 65), 0x42);
    let third = gateway.install(lma_with(0x0a00_0003, 0x43, 129));
    assert_eq!(gateway.both_ways(0x0a00_0003, 129), 0x43);
    assert_eq!(gateway.both_ways(0x0a00_0002, 65), 0x42);
    gateway.remove(second);
    gateway.remove(third);
    gateway.assert_dropped(SGI, &downlink(65), DropReason::NoBinding);
    gateway.assert_dropped(SGI, &downlink(129), DropReason::NoBinding);
}
