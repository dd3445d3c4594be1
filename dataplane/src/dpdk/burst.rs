use std::mem::MaybeUninit;

use super::Mbuf;

/// Largest burst the gateway moves at once (rx, or tx to one queue).
pub const MAX_BURST: usize = 64;

/// A fixed-capacity, owning array of mbufs: what an rx burst fills and a tx burst drains. Whatever is still in it
/// when it is cleared or dropped is freed in one bulk call, so no path can leak an mbuf.
pub struct Burst {
    mbufs: [MaybeUninit<Mbuf>; MAX_BURST],
    len: usize,
}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl Burst {
    pub fn new() -> Self {
        Burst { mbufs: [const { MaybeUninit::uninit() }; MAX_BURST], len: 0 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == MAX_BURST
    }

    /// Room left.
    #[inline]
    pub fn spare(&self) -> usize {
        MAX_BURST - self.len
    }

    /// Adds an mbuf at the end; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, mbuf: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(mbuf);
        }
        self.mbufs[self.len].write(mbuf);
        self.len += 1;
        Ok(())
    }

    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: the first `len` slots are initialised; MaybeUninit<Mbuf> has Mbuf's layout.
        unsafe { std::slice::from_raw_parts(self.mbufs.as_ptr() as *const Mbuf, self.len) }
    }

    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `as_slice`, with exclusive access through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.mbufs.as_mut_ptr() as *mut Mbuf, self.len) }
    }

    /// Moves every mbuf out, in order; the burst is empty afterwards (also if the iterator is dropped early:
    /// the rest are freed).
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        let len = self.len;
        // From here the burst owns nothing: Drain owns slots [next, len).
        self.len = 0;
        Drain { burst: self, next: 0, len }
    }

    /// Frees every mbuf still held.
    pub fn clear(&mut self) {
        if self.len == 0 {
            return;
        }
        let ptr = self.raw_slots_mut();
        // SAFETY: the first `len` slots hold owned, valid mbuf pointers (Mbuf is repr(transparent) over the
        // pointer); we give them all to DPDK and forget them by resetting len.
        unsafe { dpdk_sys::rte_pktmbuf_free_bulk(ptr, self.len as u32) };
        self.len = 0;
    }

    /// The slot array as raw mbuf pointers, for rx/tx burst calls.
    pub(crate) fn raw_slots_mut(&mut self) -> *mut *mut dpdk_sys::rte_mbuf {
        self.mbufs.as_mut_ptr() as *mut *mut dpdk_sys::rte_mbuf
    }

    /// Records that DPDK wrote `added` valid mbuf pointers after the current ones.
    ///
    /// # Safety
    /// Slots `[len, len + added)` must now hold valid mbufs owned by this burst.
    pub(crate) unsafe fn assume_filled(&mut self, added: usize) {
        debug_assert!(self.len + added <= MAX_BURST);
        self.len += added;
    }

    /// Forgets the first `sent` mbufs (the driver took them) and shifts the rest to the front.
    pub(crate) fn forget_front(&mut self, sent: usize) {
        let sent = sent.min(self.len);
        let rest = self.len - sent;
        // SAFETY: slots [sent, len) are initialised; copy them to the front (regions may overlap: ptr::copy).
        // Slots [0, sent) are no longer ours, so overwriting them without dropping is right.
        unsafe { std::ptr::copy(self.mbufs.as_ptr().add(sent), self.mbufs.as_mut_ptr(), rest) };
        self.len = rest;
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Iterator returned by [`Burst::drain`].
pub struct Drain<'a> {
    burst: &'a mut Burst,
    next: usize,
    len: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.len {
            return None;
        }
        // SAFETY: slot `next` is initialised and owned by the Drain; advancing `next` transfers it out exactly once.
        let mbuf = unsafe { self.burst.mbufs[self.next].assume_init_read() };
        self.next += 1;
        Some(mbuf)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len - self.next, Some(self.len - self.next))
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for slot in &mut self.burst.mbufs[self.next..self.len] {
            // SAFETY: slots not yet yielded are initialised and still owned by the Drain.
            unsafe { slot.assume_init_drop() };
        }
    }
}
