//! Keyed, cancellable deadlines: at most one pending deadline per key, a binary heap underneath.
//!
//! Setting a key again replaces its deadline; cancelled and replaced deadlines stay in the heap as stale entries
//! and are skipped when they surface (compacted when they outnumber the live ones), so every operation is
//! O(log n) without searching the heap. Every change leaves a live entry on top, so [`Timers::next_deadline`] —
//! asked after every input by the I/O loop — is a plain peek.

use crate::time::Millis;
use hashbrown::HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::Hash;

/// A set of deadlines keyed by `K`.
#[derive(Debug)]
pub struct Timers<K: Hash + Eq + Ord + Clone> {
    /// (deadline, generation, key): the generation orders equal deadlines as they were set.
    heap: BinaryHeap<Reverse<(Millis, u64, K)>>,
    /// Live deadline of each key: a heap entry is live while its deadline is its key's. (Only the deadline, not
    /// the generation: this map holds an entry per binding, and eight bytes less of it is eight bytes less a
    /// binding.)
    live: HashMap<K, Millis>,
    generation: u64,
}

impl<K: Hash + Eq + Ord + Clone> Default for Timers<K> {
    fn default() -> Self {
        Timers { heap: BinaryHeap::new(), live: HashMap::new(), generation: 0 }
    }
}

impl<K: Hash + Eq + Ord + Clone> Timers<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `additional` more armed keys without growing (a warm start knows how many are coming).
    pub fn reserve(&mut self, additional: usize) {
        self.live.reserve(additional);
        self.heap.reserve(additional);
    }

    /// Arms `key` to fire at `at`, replacing any deadline it had.
    pub fn set(&mut self, key: K, at: Millis) {
        if self.live.get(&key) == Some(&at) {
            return;
        }
        self.generation += 1;
        self.live.insert(key.clone(), at);
        self.heap.push(Reverse((at, self.generation, key)));
        if self.heap.len() > 2 * self.live.len() + 64 {
            self.compact();
        }
        self.drop_stale_top();
    }

    /// Disarms `key`; returns whether it was armed.
    pub fn cancel(&mut self, key: &K) -> bool {
        let armed = self.live.remove(key).is_some();
        self.drop_stale_top();
        armed
    }

    /// The deadline of `key`, if armed.
    pub fn deadline(&self, key: &K) -> Option<Millis> {
        self.live.get(key).copied()
    }

    /// The earliest live deadline.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns one key whose deadline is at or before `now` (earliest first; equal deadlines in the
    /// order they were set).
    pub fn pop_expired(&mut self, now: Millis) -> Option<K> {
        let Reverse((at, _, _)) = self.heap.peek()?;
        if *at > now {
            return None;
        }
        let Reverse((_, _, key)) = self.heap.pop()?;
        self.live.remove(&key);
        self.drop_stale_top();
        Some(key)
    }

    /// Number of armed keys.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    fn is_live(&self, key: &K, at: Millis) -> bool {
        self.live.get(key) == Some(&at)
    }

    fn drop_stale_top(&mut self) {
        while let Some(Reverse((at, _, key))) = self.heap.peek() {
            if self.is_live(key, *at) {
                return;
            }
            self.heap.pop();
        }
    }

    /// Keeps one entry per armed key: its newest with the live deadline. (A key set back to a deadline it had
    /// before has two entries that look live; the first to fire empties it, the other is then stale.)
    fn compact(&mut self) {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.sort_unstable_by_key(|Reverse((_, generation, _))| Reverse(*generation));
        let mut kept = hashbrown::HashSet::with_capacity(self.live.len());
        entries.retain(|Reverse((at, _, key))| self.is_live(key, *at) && kept.insert(key.clone()));
        self.heap = BinaryHeap::from(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_respects_replace_and_cancel() {
        let mut t = Timers::new();
        t.set("a", Millis(30));
        t.set("b", Millis(10));
        t.set("c", Millis(20));
        t.set("a", Millis(5)); // replaces 30
        assert!(t.cancel(&"c"));
        assert!(!t.cancel(&"c"));
        assert_eq!(t.next_deadline(), Some(Millis(5)));
        assert_eq!(t.pop_expired(Millis(4)), None);
        assert_eq!(t.pop_expired(Millis(100)), Some("a"));
        assert_eq!(t.pop_expired(Millis(100)), Some("b"));
        assert_eq!(t.pop_expired(Millis(100)), None, "a's old deadline and c are stale");
        assert!(t.is_empty());
    }

    #[test]
    fn a_key_set_back_to_an_old_deadline_fires_once() {
        let mut t = Timers::new();
        for _ in 0..1_000 {
            t.set("a", Millis(10));
            t.set("a", Millis(20));
        }
        t.set("a", Millis(10));
        assert!(t.heap.len() <= 2 * t.len() + 65, "compacted: {}", t.heap.len());
        assert_eq!(t.pop_expired(Millis(15)), Some("a"));
        assert_eq!(t.pop_expired(Millis(100)), None, "the other entries are stale");
        assert!(t.is_empty());
    }

    #[test]
    fn stale_entries_are_compacted() {
        let mut t = Timers::new();
        for i in 0..10_000u64 {
            t.set(1u32, Millis(i));
        }
        assert!(t.heap.len() <= 2 * t.len() + 65);
        assert_eq!(t.deadline(&1), Some(Millis(9_999)));
    }
}
