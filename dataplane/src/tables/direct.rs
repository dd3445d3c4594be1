//! Direct-mapped UE lookups: the first place a plain packet's binding is looked for, before the hash index.
//!
//! An LMA hands out UE addresses and /64 prefixes from its pools in order, lowest free first, so the UEs of the
//! bindings alive at any time differ in their low bits: the IPv4 address's low bits, or a /64's subnet bits
//! (the low bits of its upper 64). A MAG sees its LMAs' pools. Per family, one `u32` slot number per position
//! (`value & (len - 1)`): a lookup is a mask and one load, the record confirms the full address and the function,
//! and a position already held by another binding leaves the newcomer to the index. A UE is either at its
//! position or in the index, never both, so an update touches one of them. Nothing here can give a wrong answer,
//! only a slower one.

use crate::dpdk::HugePages;

/// No binding at this position.
pub(crate) const EMPTY: u32 = u32::MAX;

#[derive(Debug)]
pub(crate) struct UeDirect {
    /// IPv4 addresses, then /64 prefixes.
    slots: [HugePages<u32>; 2],
    mask: u64,
}

impl UeDirect {
    /// `len` positions per family: a power of two (the table's slot count).
    pub fn new(len: usize) -> Self {
        debug_assert!(len.is_power_of_two());
        let family = || HugePages::new(len, || EMPTY);
        UeDirect { slots: [family(), family()], mask: len as u64 - 1 }
    }

    /// The position of an IPv4 address (`ipv6` false) or a /64's upper bits.
    #[inline(always)]
    pub fn position(&self, value: u64) -> u32 {
        (value & self.mask) as u32
    }

    /// Starts loading a position.
    #[inline(always)]
    pub fn prefetch(&self, ipv6: bool, position: u32) {
        if let Some(slot) = self.slots[usize::from(ipv6)].get(position as usize) {
            crate::dpdk::prefetch(slot);
        }
    }

    /// The slot at a position, or [`EMPTY`].
    #[inline(always)]
    pub fn get(&self, ipv6: bool, position: u32) -> u32 {
        self.slots[usize::from(ipv6)].get(position as usize).copied().unwrap_or(EMPTY)
    }

    /// Puts `slot` at `value`'s position if the position is free; false: taken, the index must find it. (A
    /// binding gives its positions back whenever it changes or goes, so no position points at a slot that no
    /// longer has its value.)
    pub fn claim(&mut self, ipv6: bool, value: u64, slot: u32) -> bool {
        let position = self.position(value) as usize;
        match self.slots[usize::from(ipv6)].get_mut(position) {
            Some(at) if *at == EMPTY => {
                *at = slot;
                true
            }
            _ => false,
        }
    }

    /// Frees `value`'s position if `slot` holds it; false: it did not, so its entry is in the index.
    pub fn release(&mut self, ipv6: bool, value: u64, slot: u32) -> bool {
        let position = self.position(value) as usize;
        match self.slots[usize::from(ipv6)].get_mut(position) {
            Some(at) if *at == slot => {
                *at = EMPTY;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_binding_at_a_position_keeps_it_until_released() {
        let mut direct = UeDirect::new(8);
        assert!(direct.claim(false, 0x0a00_0001, 3));
        assert!(!direct.claim(false, 0x0b00_0001, 4), "same low bits: left to the index");
        assert_eq!(direct.get(false, direct.position(0x0a00_0001)), 3);
        assert_eq!(direct.get(true, direct.position(0x0a00_0001)), EMPTY, "families apart");
        assert!(!direct.release(false, 0x0b00_0001, 4));
        assert_eq!(direct.get(false, 1), 3, "only its holder releases a position");
        assert!(direct.release(false, 0x0a00_0001, 3));
        assert_eq!(direct.get(false, 1), EMPTY);
        assert!(direct.claim(false, 0x0b00_0001, 4));
        assert_eq!(direct.get(false, 1), 4, "free again, for the next binding there");
    }
}
