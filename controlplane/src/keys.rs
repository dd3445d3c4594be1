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

/// GRE keys from a range; key 0 is never allocated nor reservable (module documentation).
#[derive(Debug, Clone)]
pub struct KeyAllocator {
    ids: IdAllocator,
}

impl KeyAllocator {
    pub fn new(range: KeyRange) -> Self {
        KeyAllocator { ids: IdAllocator::new(range.first.max(1), range.last) }
    }

    pub fn allocate(&mut self) -> Option<u32> {
        self.ids.allocate()
    }

    /// Takes a given key (possibly outside the range). False if it is 0 or already in use.
    pub fn reserve(&mut self, key: u32) -> bool {
        key != 0 && self.ids.reserve(key)
    }

    pub fn release(&mut self, key: u32) -> bool {
        self.ids.release(key)
    }

    /// Takes a key of the range that a restored binding holds. False if it is outside the range (the range
    /// changed) or in use.
    pub fn restore(&mut self, key: u32) -> bool {
        self.ids.contains(key) && self.ids.reserve(key)
    }

    pub fn is_in_use(&self, key: u32) -> bool {
        self.ids.is_in_use(key)
    }

    pub fn in_use(&self) -> usize {
        self.ids.in_use()
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
        UplinkKeys {
            keys: KeyAllocator::new(range),
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
