//! The binding cache: BCEs in slots (the slot number is the [`TunnelId`]) and the indexes the procedures look
//! them up by — home network prefix, IPv4 home address, MN-ID (which also finds a PDN connection: MN-ID, APN,
//! PDN Connection ID) and uplink key. Indexes change only through `insert`, `remove` and the `set_*` methods, so
//! they cannot drift.
//!
//! Every index holds slot numbers only ([`SlotIndex`]), hashed by what the BCE holds and confirmed against the
//! BCE itself: copies of every NAI, APN and address as map keys cost some 250 bytes a binding.

use super::checks::ValidPbu;
use super::pba::Granted;
use crate::fastpath::{FastpathToken, TunnelId};
use crate::session::PdnIdent;
use crate::slots::Slots;
use crate::transport::FrameHeader;
use crate::wire::{AccessTechType, MnId, Timestamp};
use hashbrown::hash_map::DefaultHashBuilder;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a BCE is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BceState {
    /// Forwarding; expires at `expires_at` unless refreshed.
    Active,
    /// De-registered: traffic dropped (fast-path entry removed), deleted after MinDelayBeforeBCEDelete unless a
    /// new PBU revives it (RFC 5213 §5.3.5).
    Deregistered,
    /// LMA-initiated revocation in progress (RFC 5846 §8.1): BRI with this sequence number outstanding.
    Revoking { seq: u16 },
}

/// One Binding Cache Entry: one PDN connection.
#[derive(Debug, Clone)]
pub struct Bce {
    pub id: TunnelId,
    pub pdn: PdnIdent,
    /// Index of the APN (and its pools) in the configuration.
    pub apn_index: usize,
    pub state: BceState,
    /// How to reach the MAG: the reply form of the last accepted PBU (dst = Proxy-CoA or IPv4-Proxy-CoA, src =
    /// the LMAA it reached, framing and ports as the MAG used them).
    pub path: FrameHeader,
    pub uplink_key: u32,
    pub downlink_key: u32,
    pub hnp: Option<Ipv6Addr>,
    pub ipv4: Option<Ipv4Addr>,
    pub att: AccessTechType,
    pub ll_id: Option<Box<[u8]>>,
    /// The MAG link-local address, if the MAG asked for one (RFC 5213 §6.9.1.1, TS 29.275 §5.1.1).
    pub link_local: Option<Ipv6Addr>,
    pub last_timestamp: Option<Timestamp>,
    pub last_seq: u16,
    /// Granted lifetime in 4 s units.
    pub lifetime_units: u16,
    /// When the binding expires (Active) or is deleted (Deregistered), monotonic ms.
    pub deadline: u64,
    /// A fast-path entry exists or has been asked for.
    pub installed: bool,
    /// The last fast-path update issued for this BCE; its PBAs wait for it.
    pub token: FastpathToken,
    /// What the last accepting PBA granted and the update it waited for: a duplicated PBU gets the same answer,
    /// rebuilt from these (`pba::accept`) rather than kept as a message (some 500 bytes a binding).
    pub last_answer: Option<(FastpathToken, Granted)>,
    /// A handover PBU waiting for the previous MAG (RFC 5213 §5.4.1, HI 4). Its checks were passed on arrival
    /// (the timestamp window is not checked again when the wait ends). Boxed: rare, and 456 bytes inline.
    pub held: Option<Box<ValidPbu>>,
}

impl Bce {
    /// The MAG this binding points at.
    pub fn proxy_coa(&self) -> IpAddr {
        self.path.dst
    }
}

/// BCEs and their indexes.
#[derive(Debug)]
pub struct BindingCache {
    slots: Slots<Bce>,
    by_hnp: SlotIndex,
    by_ipv4: SlotIndex,
    /// Every BCE of an MN (several entries of one hash); a PDN connection is found among its MN's, which saves
    /// an index of its own (an insert per binding, a warm start's largest cost).
    by_mn: SlotIndex,
    by_uplink_key: SlotIndex,
    hasher: DefaultHashBuilder,
    /// Uplink keys of the BCEs changed since [`take_changed`](BindingCache::take_changed), when tracked (durable
    /// state): every change goes through `insert`, `remove`, `get_mut` or a `set_*`, so none is missed.
    changed: Option<Vec<u32>>,
}

impl Default for BindingCache {
    fn default() -> Self {
        BindingCache {
            slots: Slots::default(),
            by_hnp: SlotIndex::new(|b, h| b.hnp.map(|p| h.hash_one(p))),
            by_ipv4: SlotIndex::new(|b, h| b.ipv4.map(|a| h.hash_one(a))),
            by_mn: SlotIndex::new(|b, h| Some(h.hash_one(&b.pdn.mn_id))),
            by_uplink_key: SlotIndex::new(|b, h| Some(h.hash_one(b.uplink_key))),
            hasher: DefaultHashBuilder::default(),
            changed: None,
        }
    }
}

/// The hash a BCE is indexed under, if it has the key.
type KeyHash = fn(&Bce, &DefaultHashBuilder) -> Option<u64>;

/// Slot numbers by the hash of something their BCE holds (`key`); a lookup confirms the candidates against the
/// BCEs.
#[derive(Debug)]
struct SlotIndex {
    table: HashTable<TunnelId>,
    key: KeyHash,
}

impl SlotIndex {
    fn new(key: KeyHash) -> Self {
        SlotIndex { table: HashTable::new(), key }
    }

    /// The first slot of `hash` that `is` confirms.
    fn find(&self, hash: u64, mut is: impl FnMut(TunnelId) -> bool) -> Option<TunnelId> {
        self.table.find(hash, |&id| is(id)).copied()
    }

    /// Every slot of `hash` that `is` confirms: an `eq` that never says yes makes the table offer every entry
    /// of the hash's probe run.
    fn find_all(&self, hash: u64, mut is: impl FnMut(TunnelId) -> bool) -> Vec<TunnelId> {
        let mut found = Vec::new();
        self.table.find(hash, |&id| {
            if is(id) {
                found.push(id);
            }
            false
        });
        found.sort_unstable();
        found
    }

    /// Adds `bce` under its key's hash (if it has the key); `slots` give the others' when the table grows.
    fn add(&mut self, slots: &Slots<Bce>, hasher: &DefaultHashBuilder, bce: &Bce) {
        let key = self.key;
        if let Some(hash) = key(bce, hasher) {
            let rehash = |&other: &TunnelId| slots.get(other).and_then(|b| key(b, hasher)).unwrap_or(0);
            self.table.insert_unique(hash, bce.id, rehash);
        }
    }

    /// Room for `additional` more entries without growing (a warm start knows how many are coming).
    fn reserve(&mut self, slots: &Slots<Bce>, hasher: &DefaultHashBuilder, additional: usize) {
        let key = self.key;
        self.table.reserve(additional, |&other| slots.get(other).and_then(|b| key(b, hasher)).unwrap_or(0));
    }

    /// Removes `bce`'s entry (it must still hold the key it was added under).
    fn remove(&mut self, hasher: &DefaultHashBuilder, bce: &Bce) {
        let Some(hash) = (self.key)(bce, hasher) else { return };
        if let Ok(entry) = self.table.find_entry(hash, |&x| x == bce.id) {
            entry.remove();
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }
}

impl BindingCache {
    pub fn new(capacity: usize) -> Self {
        BindingCache { slots: Slots::new(capacity), ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Room in every index for `additional` more BCEs: a warm start of a million then never rehashes.
    pub fn reserve(&mut self, additional: usize) {
        let (slots, hasher) = (&self.slots, &self.hasher);
        for index in [&mut self.by_hnp, &mut self.by_ipv4, &mut self.by_mn, &mut self.by_uplink_key] {
            index.reserve(slots, hasher, additional);
        }
    }

    /// The slot the next [`insert`](Self::insert) will use, or None when full.
    pub fn next_id(&self) -> Option<TunnelId> {
        self.slots.next_id()
    }

    /// Stores a BCE in slot `bce.id` (which must be [`next_id`](Self::next_id)) and indexes it.
    pub fn insert(&mut self, bce: Bce) {
        if self.slots.next_id() != Some(bce.id) {
            return;
        }
        let id = bce.id;
        self.note_change(bce.uplink_key);
        self.slots.insert(bce);
        self.index(id);
    }

    /// Removes a BCE and its index entries.
    pub fn remove(&mut self, id: TunnelId) -> Option<Bce> {
        let bce = self.slots.remove(id)?;
        self.note_change(bce.uplink_key);
        self.unindex(&bce);
        Some(bce)
    }

    pub fn get(&self, id: TunnelId) -> Option<&Bce> {
        self.slots.get(id)
    }

    /// Mutable access for fields no index covers (state, path, downlink key, timestamps, ...).
    pub fn get_mut(&mut self, id: TunnelId) -> Option<&mut Bce> {
        let bce = self.slots.get_mut(id)?;
        if let Some(changed) = &mut self.changed {
            changed.push(bce.uplink_key);
        }
        Some(bce)
    }

    /// Starts noting which BCEs change (for durable state).
    pub fn track_changes(&mut self) {
        self.changed.get_or_insert_with(Vec::new);
    }

    /// Puts in `keys` (emptied first) the uplink keys of the BCEs changed (created, modified, removed) since the
    /// last call, each once. The two lists trade places: neither is allocated again.
    pub fn take_changed(&mut self, keys: &mut Vec<u32>) {
        keys.clear();
        if let Some(changed) = &mut self.changed {
            std::mem::swap(changed, keys);
            keys.sort_unstable();
            keys.dedup();
        }
    }

    /// How many changes are noted so far; with [`BindingCache::forget_changes_since`], a warm start forgets the
    /// changes of a binding it restored as it was (its record is already on disk).
    pub fn changes_noted(&self) -> usize {
        self.changed.as_ref().map_or(0, Vec::len)
    }

    pub fn forget_changes_since(&mut self, noted: usize) {
        if let Some(changed) = &mut self.changed {
            changed.truncate(noted);
        }
    }

    fn note_change(&mut self, uplink_key: u32) {
        if let Some(changed) = &mut self.changed {
            changed.push(uplink_key);
        }
    }

    /// Changes the home network prefix, keeping the index right.
    pub fn set_hnp(&mut self, id: TunnelId, hnp: Option<Ipv6Addr>) {
        if let Some(bce) = self.slots.get(id) {
            self.by_hnp.remove(&self.hasher, bce);
        }
        if let Some(bce) = self.get_mut(id) {
            bce.hnp = hnp;
        }
        if let Some(bce) = self.slots.get(id) {
            self.by_hnp.add(&self.slots, &self.hasher, bce);
        }
    }

    /// Changes the IPv4 home address, keeping the index right.
    pub fn set_ipv4(&mut self, id: TunnelId, ipv4: Option<Ipv4Addr>) {
        if let Some(bce) = self.slots.get(id) {
            self.by_ipv4.remove(&self.hasher, bce);
        }
        if let Some(bce) = self.get_mut(id) {
            bce.ipv4 = ipv4;
        }
        if let Some(bce) = self.slots.get(id) {
            self.by_ipv4.add(&self.slots, &self.hasher, bce);
        }
    }

    pub fn by_hnp(&self, prefix: &Ipv6Addr) -> Option<TunnelId> {
        self.by_hnp.find(self.hasher.hash_one(prefix), |id| self.slots.get(id).is_some_and(|b| b.hnp == Some(*prefix)))
    }

    pub fn by_ipv4(&self, addr: &Ipv4Addr) -> Option<TunnelId> {
        self.by_ipv4.find(self.hasher.hash_one(addr), |id| self.slots.get(id).is_some_and(|b| b.ipv4 == Some(*addr)))
    }

    pub fn by_pdn(&self, pdn: &PdnIdent) -> Option<TunnelId> {
        self.by_mn.find(self.hasher.hash_one(&pdn.mn_id), |id| self.slots.get(id).is_some_and(|b| b.pdn == *pdn))
    }

    pub fn by_uplink_key(&self, key: u32) -> Option<TunnelId> {
        self.by_uplink_key.find(self.hasher.hash_one(key), |id| self.slots.get(id).is_some_and(|b| b.uplink_key == key))
    }

    /// Every BCE of an MN-ID, in slot order.
    pub fn by_mn(&self, mn_id: &MnId) -> Vec<TunnelId> {
        self.by_mn.find_all(self.hasher.hash_one(mn_id), |id| self.slots.get(id).is_some_and(|b| b.pdn.mn_id == *mn_id))
    }

    /// Every BCE in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Bce> {
        self.slots.iter().map(|(_, b)| b)
    }

    /// Ids of every BCE in slot order.
    pub fn ids(&self) -> Vec<TunnelId> {
        self.iter().map(|b| b.id).collect()
    }

    /// Indexes the BCE in slot `id`.
    fn index(&mut self, id: TunnelId) {
        let (slots, hasher) = (&self.slots, &self.hasher);
        let Some(bce) = slots.get(id) else { return };
        for index in [&mut self.by_hnp, &mut self.by_ipv4, &mut self.by_mn, &mut self.by_uplink_key] {
            index.add(slots, hasher, bce);
        }
    }

    fn unindex(&mut self, bce: &Bce) {
        for index in [&mut self.by_hnp, &mut self.by_ipv4, &mut self.by_mn, &mut self.by_uplink_key] {
            index.remove(&self.hasher, bce);
        }
    }

    /// Checks that every index agrees with the entries (for tests).
    pub fn check_indexes(&self) -> Result<(), String> {
        let mut hnps = 0;
        let mut v4s = 0;
        for b in self.iter() {
            if let Some(p) = b.hnp {
                hnps += 1;
                if self.by_hnp(&p) != Some(b.id) {
                    return Err(format!("hnp index wrong for {:?}", b.id));
                }
            }
            if let Some(a) = b.ipv4 {
                v4s += 1;
                if self.by_ipv4(&a) != Some(b.id) {
                    return Err(format!("ipv4 index wrong for {:?}", b.id));
                }
            }
            if self.by_pdn(&b.pdn) != Some(b.id) || self.by_uplink_key(b.uplink_key) != Some(b.id) {
                return Err(format!("pdn/key index wrong for {:?}", b.id));
            }
            if !self.by_mn(&b.pdn.mn_id).contains(&b.id) {
                return Err(format!("mn index wrong for {:?}", b.id));
            }
        }
        let sizes_ok = self.by_hnp.len() == hnps
            && self.by_ipv4.len() == v4s
            && self.by_uplink_key.len() == self.len()
            && self.by_mn.len() == self.len();
        if sizes_ok {
            Ok(())
        } else {
            Err("an index holds entries for BCEs that are gone".into())
        }
    }
}
