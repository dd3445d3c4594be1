//! Numbered slots for bindings: the slot number is the binding's [`TunnelId`] (and the index of its per-binding
//! counters in the fast path). Freed slots are reused oldest first, so a number is not handed to a new binding
//! while traffic counted for the old one may still be read.

use crate::fastpath::TunnelId;
use std::collections::VecDeque;

/// Up to `capacity` values, each in its own numbered slot.
#[derive(Debug, Clone)]
pub struct Slots<T> {
    slots: Vec<Option<T>>,
    free: VecDeque<u32>,
    capacity: usize,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots { slots: Vec::new(), free: VecDeque::new(), capacity: 0, len: 0 }
    }
}

impl<T> Slots<T> {
    pub fn new(capacity: usize) -> Self {
        Slots { capacity, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot the next [`insert`](Self::insert) uses, or None when full.
    pub fn next_id(&self) -> Option<TunnelId> {
        if let Some(&slot) = self.free.front() {
            return Some(TunnelId(slot));
        }
        (self.slots.len() < self.capacity).then_some(TunnelId(self.slots.len() as u32))
    }

    /// Stores `value` in the next slot and returns its id; None when full.
    pub fn insert(&mut self, value: T) -> Option<TunnelId> {
        let id = self.next_id()?;
        if self.free.front() == Some(&id.0) {
            self.free.pop_front();
        }
        let slot = id.0 as usize;
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || None);
        }
        self.slots[slot] = Some(value);
        self.len += 1;
        Some(id)
    }

    pub fn remove(&mut self, id: TunnelId) -> Option<T> {
        let value = self.slots.get_mut(id.0 as usize)?.take()?;
        self.free.push_back(id.0);
        self.len -= 1;
        Some(value)
    }

    pub fn get(&self, id: TunnelId) -> Option<&T> {
        self.slots.get(id.0 as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, id: TunnelId) -> Option<&mut T> {
        self.slots.get_mut(id.0 as usize)?.as_mut()
    }

    /// Occupied slots in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (TunnelId, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| s.as_ref().map(|v| (TunnelId(i as u32), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_oldest_first_and_capacity_holds() {
        let mut s = Slots::new(3);
        let a = s.insert('a').unwrap();
        let b = s.insert('b').unwrap();
        let c = s.insert('c').unwrap();
        assert_eq!((a, b, c), (TunnelId(0), TunnelId(1), TunnelId(2)));
        assert_eq!(s.insert('d'), None);
        assert_eq!(s.remove(b), Some('b'));
        assert_eq!(s.remove(a), Some('a'));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.insert('e'), Some(b), "oldest freed first");
        assert_eq!(s.iter().map(|(_, v)| *v).collect::<String>(), "ec");
        assert_eq!(s.len(), 2);
    }
}
