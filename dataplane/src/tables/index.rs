//! A worker's hash index for the lookups a key cannot answer directly: UE addresses, and receive keys that did
//! not get their home slot (reserved keys equal to a GTP TEID, static keys that collide).
//!
//! One cache line per bucket: seven 32-bit signatures, seven slot numbers and an overflow count. A lookup hashes
//! the value, fetches one bucket (prefetched a stage ahead in the fast path), and compares signatures; the
//! candidate record then confirms the full value, so the index stores no keys and a false signature match costs a
//! record read, never a wrong answer. A full bucket spills into the next one and counts how many entries passed
//! it, so a lookup stops at the first bucket nothing spilled past and a removal needs no tombstones. Sized at
//! start for the table's capacity; it never grows.

use crate::binding::Function;
use crate::dpdk::HugePages;

const WAYS: usize = 7;

#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Bucket {
    signatures: [u32; WAYS],
    /// Entries stored beyond this bucket whose home is this bucket or one before it.
    overflow: u32,
    slots: [u32; WAYS],
    _pad: u32,
}

/// What a value is looked up as; part of the hash, so equal values of different kinds spread apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    UeIpv4(Function),
    UePrefix(Function),
    /// A receive key away from its home slot; a MAG's is folded with its LMAA.
    RxKey(Function),
}

impl Kind {
    /// A UE's IPv6 /64 (`ipv6`) or IPv4 home address.
    #[inline(always)]
    pub fn ue(function: Function, ipv6: bool) -> Kind {
        if ipv6 {
            Kind::UePrefix(function)
        } else {
            Kind::UeIpv4(function)
        }
    }

    #[inline(always)]
    fn salt(self) -> u64 {
        let (kind, function) = match self {
            Kind::UeIpv4(f) => (1, f),
            Kind::UePrefix(f) => (2, f),
            Kind::RxKey(f) => (3, f),
        };
        (kind << 1 | u64::from(function == Function::Mag)) << 56
    }
}

/// Where a value lives in the index: its home bucket and its signature (never zero: zero marks a free way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Probe {
    bucket: u32,
    signature: u32,
}

#[derive(Debug)]
pub(crate) struct Index {
    buckets: HugePages<Bucket>,
    shift: u32,
    len: usize,
}

impl Index {
    /// An index for up to `entries` values, at most 4 of 7 ways used on average.
    pub fn new(entries: usize) -> Self {
        let buckets = entries.div_ceil(4).max(2).next_power_of_two();
        Index { buckets: HugePages::new(buckets, Bucket::default), shift: 64 - buckets.trailing_zeros(), len: 0 }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn probe(&self, kind: Kind, value: u64) -> Probe {
        let mut h = (value ^ kind.salt()).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        Probe { bucket: (h >> self.shift) as u32, signature: (h as u32) | 1 }
    }

    /// Starts loading the probe's bucket.
    #[inline(always)]
    pub fn prefetch(&self, probe: Probe) {
        if let Some(bucket) = self.buckets.get(probe.bucket as usize) {
            crate::dpdk::prefetch(bucket);
        }
    }

    /// Every slot whose signature matches, home bucket first, until `accept` takes one.
    #[inline(always)]
    pub fn find(&self, probe: Probe, mut accept: impl FnMut(u32) -> bool) -> Option<u32> {
        if probe.signature == 0 {
            return None;
        }
        let mask = self.buckets.len() - 1;
        let mut at = probe.bucket as usize;
        for _ in 0..self.buckets.len() {
            let bucket = self.buckets.get(at)?;
            for (signature, slot) in bucket.signatures.iter().zip(&bucket.slots) {
                if *signature == probe.signature && accept(*slot) {
                    return Some(*slot);
                }
            }
            if bucket.overflow == 0 {
                return None;
            }
            at = (at + 1) & mask;
        }
        None
    }

    /// Adds an entry; false when the index is full (the table's capacity check comes first, so never in use).
    pub fn insert(&mut self, probe: Probe, slot: u32) -> bool {
        if self.len >= self.buckets.len() * WAYS {
            return false;
        }
        let mask = self.buckets.len() - 1;
        let mut at = probe.bucket as usize;
        loop {
            let Some(bucket) = self.buckets.get_mut(at) else { return false };
            if let Some(way) = bucket.signatures.iter().position(|s| *s == 0) {
                bucket.signatures[way] = probe.signature;
                bucket.slots[way] = slot;
                self.len += 1;
                return true;
            }
            bucket.overflow += 1;
            at = (at + 1) & mask;
        }
    }

    /// Removes the entry (`probe`, `slot`); false if there is none.
    pub fn remove(&mut self, probe: Probe, slot: u32) -> bool {
        let mask = self.buckets.len() - 1;
        let mut at = probe.bucket as usize;
        for passed in 0..self.buckets.len() {
            let Some(bucket) = self.buckets.get_mut(at) else { return false };
            let found =
                bucket.signatures.iter().zip(&bucket.slots).position(|(s, t)| *s == probe.signature && *t == slot);
            if let Some(way) = found {
                bucket.signatures[way] = 0;
                self.len -= 1;
                let mut back = probe.bucket as usize;
                for _ in 0..passed {
                    if let Some(bucket) = self.buckets.get_mut(back) {
                        bucket.overflow -= 1;
                    }
                    back = (back + 1) & mask;
                }
                return true;
            }
            if bucket.overflow == 0 {
                return false;
            }
            at = (at + 1) & mask;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_are_found_and_removed_without_tombstones() {
        let mut index = Index::new(8); // 2 buckets, 14 ways
        let kind = Kind::UeIpv4(Function::Lma);
        let probes: Vec<Probe> = (0..14u64).map(|v| index.probe(kind, v)).collect();
        for (slot, probe) in probes.iter().enumerate() {
            assert!(index.insert(*probe, slot as u32));
        }
        assert!(!index.insert(probes[0], 99), "full");
        for (slot, probe) in probes.iter().enumerate() {
            assert_eq!(index.find(*probe, |s| s == slot as u32), Some(slot as u32));
        }
        for (slot, probe) in probes.iter().enumerate().step_by(2) {
            assert!(index.remove(*probe, slot as u32));
            assert!(!index.remove(*probe, slot as u32), "only once");
        }
        for (slot, probe) in probes.iter().enumerate() {
            let found = index.find(*probe, |s| s == slot as u32);
            assert_eq!(found.is_some(), slot % 2 == 1, "slot {slot}");
        }
        assert_eq!(index.len(), 7);
        assert!(index.buckets.iter().all(|b| b.overflow <= 7));
    }

    #[test]
    fn kinds_and_functions_hash_apart() {
        let index = Index::new(1 << 20);
        let a = index.probe(Kind::UeIpv4(Function::Lma), 7);
        let b = index.probe(Kind::UeIpv4(Function::Mag), 7);
        let c = index.probe(Kind::RxKey(Function::Lma), 7);
        assert!(a != b && a != c && b != c);
    }
}
