//! GRE key allocation (TS 29.275 §6.2, §6.3; RFC 5845).
//!
//! * [`IdAllocator`] — O(1) unique values from a range: a FIFO of released values (so a just-freed key is not
//!   handed out again at once, which keeps stray packets of an old session away from a new one) and a cursor over
//!   never-used values; any value may also be taken explicitly ([`IdAllocator::reserve`]). The pools of
//!   [`crate::pools`] use it too.
//! * [`KeyAllocator`] — GRE keys. **Key 0 is never handed out**: several GRE implementations and dissectors read
//!   a zero key as "no key", and GTP never allocates TEID 0 either, so reservations of 0 are refused as well.
//! * [`UplinkKeys`] — the LMA's keys, unique within the LMA (§6.3), plus reservations of given values (§6.3: the
//!   value of a GTP default-bearer TEID), each for one named PDN connection.
//!
//! The MAG's downlink keys must be unique per LMAA (§6.2); the MAG makes them unique across all its LMAAs with
//! one [`KeyAllocator`], see [`crate::mag`].

use crate::placement::Placement;
use crate::session::PdnIdent;
use hashbrown::{HashMap, HashSet};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use thiserror::Error;

/// Unique values from the inclusive range `first..=last`, allocated and released in O(1) (amortised).
#[derive(Debug, Clone)]
pub struct IdAllocator {
    first: u32,
    last: u32,
    /// Next never-used value; values below it have been handed out (or skipped as reserved) at least once.
    cursor: u64,
    /// Released values, oldest first. May hold a value that was reserved again since; `allocate` skips it.
    released: VecDeque<u32>,
    in_use: HashSet<u32>,
}

impl IdAllocator {
    /// An allocator over `first..=last` (empty if `first > last`).
    pub fn new(first: u32, last: u32) -> Self {
        IdAllocator { first, last, cursor: u64::from(first), released: VecDeque::new(), in_use: HashSet::new() }
    }

    /// The range, `(first, last)`.
    pub fn bounds(&self) -> (u32, u32) {
        (self.first, self.last)
    }

    /// Takes a free value from the range.
    pub fn allocate(&mut self) -> Option<u32> {
        while let Some(v) = self.released.pop_front() {
            if self.in_use.insert(v) {
                return Some(v);
            }
        }
        while self.cursor <= u64::from(self.last) {
            let v = self.cursor as u32;
            self.cursor += 1;
            if self.in_use.insert(v) {
                return Some(v);
            }
        }
        None
    }

    /// Takes a specific value, inside the range or not. False if it is already in use.
    pub fn reserve(&mut self, v: u32) -> bool {
        self.in_use.insert(v)
    }

    /// Gives a value back. False if it was not in use (a double release).
    pub fn release(&mut self, v: u32) -> bool {
        if !self.in_use.remove(&v) {
            return false;
        }
        // Values the cursor has not reached come back through the cursor; values outside the range are not ours.
        if v >= self.first && u64::from(v) < self.cursor {
            self.released.push_back(v);
        }
        true
    }

    pub fn is_in_use(&self, v: u32) -> bool {
        self.in_use.contains(&v)
    }

    /// Is `v` in the range?
    pub fn contains(&self, v: u32) -> bool {
        (self.first..=self.last).contains(&v)
    }

    /// Values currently in use (allocated or reserved).
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    /// Size of the range.
    pub fn capacity(&self) -> u64 {
        (u64::from(self.last) + 1).saturating_sub(u64::from(self.first))
    }
}

/// Range of GRE keys an allocator hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRange {
    pub first: u32,
    pub last: u32,
}

impl Default for KeyRange {
    fn default() -> Self {
        KeyRange { first: 1, last: u32::MAX }
    }
}

/// GRE keys from a range; key 0 is never allocated nor reservable (module documentation). Keys carry the
/// instance and worker fields of a [`Placement`]: the range is cut to this instance's block, and each new key
/// goes to the worker field with the fewest keys in use, so the workers own about as many bindings each.
#[derive(Debug, Clone)]
pub struct KeyAllocator {
    /// Counts per worker field, all `2^worker_bits` of them (a reserved or restored key may carry a field no
    /// worker is handed now, e.g. after the number of workers changed); key = count << worker_bits | field.
    fields: Vec<IdAllocator>,
    placement: Placement,
    /// The range's keys in this instance's block, inclusive (first > last: none): what `restore` takes back.
    first: u32,
    last: u32,
    in_use: usize,
}

impl KeyAllocator {
    pub fn new(range: KeyRange) -> Self {
        KeyAllocator::placed(range, Placement::default())
    }

    /// Keys of `range` laid out by `placement` (which the caller has checked).
    pub fn placed(range: KeyRange, placement: Placement) -> Self {
        let (block_first, block_last) = placement.instance_keys();
        let first = range.first.max(block_first).max(1);
        let last = range.last.min(block_last);
        let bits = placement.worker_bits;
        let mask = u64::from(placement.worker_mask());
        let fields = (0..=mask)
            .map(|w| {
                if first > last || u64::from(last) < w {
                    return IdAllocator::new(1, 0);
                }
                let lo = (u64::from(first) + mask - w) >> bits;
                let hi = (u64::from(last) - w) >> bits;
                IdAllocator::new(lo as u32, hi as u32)
            })
            .collect();
        KeyAllocator { fields, placement, first, last, in_use: 0 }
    }

    fn split(&self, key: u32) -> (usize, u32) {
        (self.placement.worker_of(key) as usize, key >> self.placement.worker_bits)
    }

    /// A free key of the least loaded worker field that has one.
    pub fn allocate(&mut self) -> Option<u32> {
        let bits = self.placement.worker_bits;
        let workers = (self.placement.workers as usize).min(self.fields.len());
        let mut order: Vec<usize> = (0..workers).collect();
        order.sort_by_key(|&w| self.fields[w].in_use());
        for w in order {
            if let Some(count) = self.fields[w].allocate() {
                self.in_use += 1;
                return Some(count << bits | w as u32);
            }
        }
        None
    }

    /// Takes a given key (possibly outside the range). False if it is 0 or already in use.
    pub fn reserve(&mut self, key: u32) -> bool {
        let (field, count) = self.split(key);
        let taken = key != 0 && self.fields[field].reserve(count);
        self.in_use += usize::from(taken);
        taken
    }

    pub fn release(&mut self, key: u32) -> bool {
        let (field, count) = self.split(key);
        let released = self.fields[field].release(count);
        self.in_use -= usize::from(released);
        released
    }

    /// Takes a key of the range that a restored binding holds, whatever worker field it carries. False if it is
    /// outside the range or this instance's block (the configuration changed) or in use.
    pub fn restore(&mut self, key: u32) -> bool {
        (self.first..=self.last).contains(&key) && self.reserve(key)
    }

    pub fn is_in_use(&self, key: u32) -> bool {
        let (field, count) = self.split(key);
        self.fields[field].is_in_use(count)
    }

    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Keys in use per worker field, for the fields workers are handed.
    pub fn in_use_per_worker(&self) -> Vec<usize> {
        self.fields.iter().take(self.placement.workers as usize).map(IdAllocator::in_use).collect()
    }
}

/// Why a key reservation request fails.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("GRE key 0 cannot be reserved (never used as a key)")]
    Zero,
    #[error("GRE key {0:#010x} is already in use")]
    InUse(u32),
    #[error("PDN connection {0} already has key {1:#010x} reserved")]
    PdnAlreadyReserved(String, u32),
    #[error("GRE key {0:#010x} is not reserved")]
    NotReserved(u32),
    #[error("GRE key {0:#010x} is held by a live binding; revoke the binding to free it")]
    HeldByBinding(u32),
}

/// A key set aside for one PDN connection until a binding takes it or the operator releases it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub key: u32,
    pub pdn: PdnIdent,
    /// True once a binding uses the key; the key is then released with that binding (TS 29.275 §6.3: "when the
    /// PDN connection is released, the uplink GRE key shall be released").
    pub bound: bool,
}

/// The LMA's uplink keys: unique within the LMA, with reservations for named PDN connections.
#[derive(Debug, Clone)]
pub struct UplinkKeys {
    keys: KeyAllocator,
    reservations: HashMap<u32, Reservation>,
    by_pdn: HashMap<PdnIdent, u32>,
    /// Changes whenever the set of reservations does (what durable state watches).
    generation: u64,
}

impl UplinkKeys {
    pub fn new(range: KeyRange) -> Self {
        UplinkKeys::placed(range, Placement::default())
    }

    /// Keys of `range` laid out by `placement` ([`KeyAllocator::placed`]).
    pub fn placed(range: KeyRange, placement: Placement) -> Self {
        UplinkKeys {
            keys: KeyAllocator::placed(range, placement),
            reservations: HashMap::new(),
            by_pdn: HashMap::new(),
            generation: 0,
        }
    }

    /// The key for a new binding of `pdn`: its unbound reservation if it has one, else a fresh key.
    pub fn take_for(&mut self, pdn: &PdnIdent) -> Option<u32> {
        if let Some(&key) = self.by_pdn.get(pdn) {
            if let Some(r) = self.reservations.get_mut(&key) {
                if !r.bound {
                    r.bound = true;
                    return Some(key);
                }
            }
        }
        self.keys.allocate()
    }

    /// Gives back the key of a binding that ended; a reservation bound to it ends with it.
    pub fn release(&mut self, key: u32) -> bool {
        if let Some(r) = self.reservations.remove(&key) {
            self.by_pdn.remove(&r.pdn);
            self.generation += 1;
        }
        self.keys.release(key)
    }

    /// Reserves `key` for `pdn` (TS 29.275 §6.3).
    pub fn reserve(&mut self, key: u32, pdn: PdnIdent) -> Result<(), KeyError> {
        if key == 0 {
            return Err(KeyError::Zero);
        }
        if let Some(&existing) = self.by_pdn.get(&pdn) {
            return Err(KeyError::PdnAlreadyReserved(pdn.to_string(), existing));
        }
        if !self.keys.reserve(key) {
            return Err(KeyError::InUse(key));
        }
        self.by_pdn.insert(pdn.clone(), key);
        self.reservations.insert(key, Reservation { key, pdn, bound: false });
        self.generation += 1;
        Ok(())
    }

    /// Cancels a reservation no binding uses yet.
    pub fn unreserve(&mut self, key: u32) -> Result<(), KeyError> {
        match self.reservations.get(&key) {
            None => Err(KeyError::NotReserved(key)),
            Some(r) if r.bound => Err(KeyError::HeldByBinding(key)),
            Some(_) => {
                self.release(key);
                Ok(())
            }
        }
    }

    pub fn is_in_use(&self, key: u32) -> bool {
        self.keys.is_in_use(key)
    }

    pub fn in_use(&self) -> usize {
        self.keys.in_use()
    }

    /// Keys in use per worker field.
    pub fn in_use_per_worker(&self) -> Vec<usize> {
        self.keys.in_use_per_worker()
    }

    /// Takes the key a restored binding of `pdn` holds: its reservation, or a key of the range. False if neither
    /// (the range changed, or the key is reserved for another PDN connection).
    pub fn restore(&mut self, key: u32, pdn: &PdnIdent) -> bool {
        match self.reservations.get_mut(&key) {
            Some(r) if r.pdn == *pdn && !r.bound => {
                r.bound = true;
                true
            }
            Some(_) => false,
            None => self.keys.restore(key),
        }
    }

    /// Holds a key outside the range (or anywhere) for a restored binding about to be revoked. False if in use.
    pub fn hold_outside_range(&mut self, key: u32) -> bool {
        self.keys.reserve(key)
    }

    /// Changes whenever a reservation is made or ends.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Reservations held (bound or not).
    pub fn reservation_count(&self) -> usize {
        self.reservations.len()
    }

    /// Every reservation, ordered by key.
    pub fn reservations(&self) -> Vec<Reservation> {
        let mut v: Vec<_> = self.reservations.values().cloned().collect();
        v.sort_by_key(|r| r.key);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Apn, MnId};

    fn pdn(n: &str) -> PdnIdent {
        PdnIdent::new(MnId::Nai(format!("{n}@example")), Apn::from_dotted("internet").unwrap(), None)
    }

    #[test]
    fn allocates_every_value_once_then_reuses_oldest_released() {
        let mut a = IdAllocator::new(10, 12);
        assert_eq!((a.allocate(), a.allocate(), a.allocate(), a.allocate()), (Some(10), Some(11), Some(12), None));
        assert!(a.release(11) && a.release(10));
        assert!(!a.release(10), "double release is reported");
        assert_eq!(a.allocate(), Some(11));
        assert_eq!(a.allocate(), Some(10));
        assert_eq!(a.in_use(), 3);
    }

    #[test]
    fn reserved_values_are_skipped_by_the_cursor_and_the_free_list() {
        let mut a = IdAllocator::new(1, 4);
        assert!(a.reserve(2));
        assert!(!a.reserve(2));
        assert_eq!(a.allocate(), Some(1));
        assert!(a.release(1));
        assert!(a.reserve(1), "a released value can be reserved");
        assert_eq!(a.allocate(), Some(3), "1 is in the free list but reserved, 2 reserved");
        assert_eq!(a.allocate(), Some(4));
        assert_eq!(a.allocate(), None);
        assert!(a.reserve(1000), "outside the range");
        assert!(a.release(1000));
        assert_eq!(a.allocate(), None, "outside values never enter the free list");
    }

    #[test]
    fn full_u32_range_edge() {
        let mut k = KeyAllocator::new(KeyRange { first: u32::MAX - 1, last: u32::MAX });
        assert_eq!(k.allocate(), Some(u32::MAX - 1));
        assert_eq!(k.allocate(), Some(u32::MAX));
        assert_eq!(k.allocate(), None);
        let mut z = KeyAllocator::new(KeyRange { first: 0, last: 1 });
        assert_eq!(z.allocate(), Some(1), "key 0 is never allocated");
        assert_eq!(z.allocate(), None);
        assert!(!z.reserve(0));
    }

    #[test]
    fn placed_keys_carry_instance_and_worker_and_spread_over_workers() {
        let placement = Placement { instance: 1, instances: 2, worker_bits: 2, workers: 3 };
        let mut k = KeyAllocator::placed(KeyRange::default(), placement);
        let keys: Vec<u32> = (0..30).map(|_| k.allocate().unwrap()).collect();
        assert!(keys.iter().all(|&key| key >> 31 == 1), "instance 1 of 2: the top bit");
        let mut per_worker = [0; 4];
        for &key in &keys {
            per_worker[(key & 3) as usize] += 1;
        }
        assert_eq!(per_worker, [10, 10, 10, 0], "three workers share evenly; field 3 names none");
        assert_eq!(k.in_use_per_worker(), [10, 10, 10]);
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 30, "all different");
        // A key of field 3 (the workers were four before a restart) is taken back; another instance's is not.
        assert!(k.restore(0x8000_0107));
        assert!(!k.restore(0x0000_0107));
        assert!(k.is_in_use(0x8000_0107) && k.in_use() == 31);
        assert!(k.release(keys[4]) && k.in_use() == 30);
        assert_eq!(k.allocate(), Some(keys[4]), "the freed key of the least loaded worker comes back");
    }

    #[test]
    fn placed_ranges_keep_their_bounds_per_worker_field() {
        let placement = Placement { worker_bits: 1, workers: 2, ..Placement::default() };
        let mut k = KeyAllocator::placed(KeyRange { first: 5, last: 9 }, placement);
        let mut keys: Vec<u32> = std::iter::from_fn(|| k.allocate()).collect();
        keys.sort_unstable();
        assert_eq!(keys, [5, 6, 7, 8, 9]);
        let mut z = KeyAllocator::placed(KeyRange { first: 0, last: 3 }, placement);
        let mut keys: Vec<u32> = std::iter::from_fn(|| z.allocate()).collect();
        keys.sort_unstable();
        assert_eq!(keys, [1, 2, 3], "key 0 is never allocated");
    }

    #[test]
    fn reservation_serves_only_its_pdn_and_ends_with_the_binding() {
        let mut u = UplinkKeys::new(KeyRange { first: 1, last: 3 });
        u.reserve(2, pdn("a")).unwrap();
        assert_eq!(u.reserve(2, pdn("b")), Err(KeyError::InUse(2)));
        assert!(matches!(u.reserve(3, pdn("a")), Err(KeyError::PdnAlreadyReserved(..))));
        assert_eq!(u.take_for(&pdn("b")), Some(1));
        assert_eq!(u.take_for(&pdn("c")), Some(3), "2 is reserved for a");
        assert_eq!(u.take_for(&pdn("a")), Some(2));
        assert_eq!(u.unreserve(2), Err(KeyError::HeldByBinding(2)));
        assert!(u.release(2));
        assert!(u.reservations().is_empty());
        assert_eq!(u.unreserve(2), Err(KeyError::NotReserved(2)));
        u.reserve(0x1234, pdn("d")).unwrap();
        u.unreserve(0x1234).unwrap();
        assert!(!u.is_in_use(0x1234));
        assert_eq!(u.reserve(0, pdn("d")), Err(KeyError::Zero));
    }
}
