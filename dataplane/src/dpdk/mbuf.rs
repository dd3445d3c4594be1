use std::ptr::NonNull;

use crate::packet::{PacketBuf, RxChecksum};

/// An owned DPDK packet buffer; freed back to its pool when dropped.
///
/// Data access covers the first segment: the gateway's pools hold a whole frame per mbuf, and the pipeline
/// drops multi-segment packets (counted) before touching them (`is_contiguous`).
#[repr(transparent)]
pub struct Mbuf {
    raw: NonNull<dpdk_sys::rte_mbuf>,
}

// SAFETY: an Mbuf is exclusively owned; moving it to another thread moves that ownership (DPDK mbufs are
// routinely handed between lcores, and freeing from any lcore is allowed).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nothing else will use or free.
    pub(crate) unsafe fn from_raw(raw: NonNull<dpdk_sys::rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }

    #[inline]
    fn hdr(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for our whole lifetime.
        unsafe { self.raw.as_ref() }
    }

    #[inline]
    fn hdr_mut(&mut self) -> &mut dpdk_sys::rte_mbuf {
        // SAFETY: we own the mbuf exclusively, so a unique reference is sound.
        unsafe { self.raw.as_mut() }
    }

    /// Length of the first segment's data.
    #[inline]
    pub fn len(&self) -> usize {
        self.hdr().data_len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total packet length over all segments.
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.hdr().pkt_len as usize
    }

    /// True when the whole packet sits in this one buffer.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.hdr().nb_segs == 1
    }

    /// The port the packet was received on.
    #[inline]
    pub fn port(&self) -> u16 {
        self.hdr().port
    }

    #[inline]
    pub fn tailroom(&self) -> usize {
        let h = self.hdr();
        (h.buf_len as usize).saturating_sub(h.data_off as usize + h.data_len as usize)
    }

    /// Appends `len` bytes at the end (for building packets); `None` without room.
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.tailroom() || !self.is_contiguous() {
            return None;
        }
        let old = self.len();
        let h = self.hdr_mut();
        h.data_len += len as u16;
        h.pkt_len += len as u32;
        Some(&mut self.data_mut()[old..])
    }
}

impl PacketBuf for Mbuf {
    #[inline(always)]
    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        Mbuf::append(self, len)
    }

    #[inline(always)]
    fn data(&self) -> &[u8] {
        let h = self.hdr();
        // SAFETY: buf_addr + data_off points at data_len initialised bytes inside the mbuf's buffer, which we own.
        unsafe { std::slice::from_raw_parts((h.buf_addr as *const u8).add(h.data_off as usize), h.data_len as usize) }
    }

    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        let h = self.hdr();
        let (addr, off, len) = (h.buf_addr as *mut u8, h.data_off as usize, h.data_len as usize);
        // SAFETY: as in `data`, and we hold the mbuf exclusively (&mut self).
        unsafe { std::slice::from_raw_parts_mut(addr.add(off), len) }
    }

    #[inline(always)]
    fn headroom(&self) -> usize {
        self.hdr().data_off as usize
    }

    #[inline(always)]
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.headroom() {
            return None;
        }
        let h = self.hdr_mut();
        h.data_off -= len as u16;
        h.data_len += len as u16;
        h.pkt_len += len as u32;
        Some(&mut self.data_mut()[..len])
    }

    #[inline(always)]
    fn adj(&mut self, len: usize) -> bool {
        if len > self.len() {
            return false;
        }
        let h = self.hdr_mut();
        h.data_off += len as u16;
        h.data_len -= len as u16;
        h.pkt_len -= len as u32;
        true
    }

    #[inline(always)]
    fn keep(&mut self, from: usize, len: usize) -> bool {
        if from.saturating_add(len) > self.len() || !self.is_contiguous() {
            return false;
        }
        let h = self.hdr_mut();
        h.data_off += from as u16;
        h.data_len = len as u16;
        h.pkt_len = len as u32;
        true
    }

    #[inline(always)]
    fn trim(&mut self, len: usize) -> bool {
        if len > self.len() || !self.is_contiguous() {
            return false;
        }
        let h = self.hdr_mut();
        h.data_len -= len as u16;
        h.pkt_len -= len as u32;
        true
    }

    #[inline(always)]
    fn rx_ipv4_checksum(&self) -> RxChecksum {
        match self.hdr().ol_flags & dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK {
            dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD => RxChecksum::Good,
            dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_BAD => RxChecksum::Bad,
            _ => RxChecksum::Unknown,
        }
    }

    #[inline(always)]
    fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            let h = self.hdr();
            // SAFETY: a prefetch is only a hint: it never faults, even on a bad address, and touches no state
            // Rust can observe. SSE is part of the x86-64 baseline.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>((h.buf_addr as *const i8).add(h.data_off as usize));
            }
        }
    }

    #[inline(always)]
    fn request_tx_ipv4_checksum(&mut self, l2_len: u8, l3_len: u8) {
        let h = self.hdr_mut();
        h.ol_flags |= dpdk_sys::RTE_MBUF_F_TX_IPV4 | dpdk_sys::RTE_MBUF_F_TX_IP_CKSUM;
        // tx_offload packs l2_len (7 bits) then l3_len (9 bits) at the bottom of a 64-bit word (rte_mbuf_core.h).
        // SAFETY: the union's tx_offload member is a plain u64 view of the same bytes.
        unsafe {
            let offload = &mut h.__bindgen_anon_3.tx_offload;
            *offload = (*offload & !0xFFFF) | (l2_len as u64 & 0x7F) | ((l3_len as u64 & 0x1FF) << 7);
        }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and nothing else references it; it returns to its pool.
        unsafe { dpdk_sys::shim_rte_pktmbuf_free(self.raw.as_ptr()) }
    }
}
