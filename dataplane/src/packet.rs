//! The one interface the pipeline needs from a packet buffer.
//!
//! The fast path is generic over [`PacketBuf`], so the same code runs on DPDK mbufs in the gateway and on plain
//! byte buffers ([`VecPacket`]) in unit tests and micro-benchmarks, without EAL. Monomorphisation keeps it free.

/// The NIC's verdict on a received packet's outer IPv4 header checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxChecksum {
    /// The NIC did not check it (or the port has no such offload): verify in software.
    Unknown,
    Good,
    Bad,
}

/// A single-segment packet the pipeline may read, rewrite, grow at the front and shrink.
pub trait PacketBuf {
    /// The packet's bytes, from the first byte of the Ethernet header.
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Bytes free in front of the data (room for encapsulation headers).
    fn headroom(&self) -> usize;
    /// Grows the packet by `len` bytes at the front and returns them; `None` (packet unchanged) without room.
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]>;
    /// Grows the packet by `len` bytes at the end and returns them; `None` (packet unchanged) without room.
    fn append(&mut self, len: usize) -> Option<&mut [u8]>;
    /// Removes `len` bytes from the front; `false` (packet unchanged) if it is shorter than that.
    fn adj(&mut self, len: usize) -> bool;
    /// Removes `len` bytes from the end; `false` (packet unchanged) if it is shorter than that.
    fn trim(&mut self, len: usize) -> bool;
    /// Keeps only the `len` bytes at `from`: what is in front (outer headers) and behind (link padding) goes.
    /// `false` (packet unchanged) if the packet is shorter than `from + len`.
    fn keep(&mut self, from: usize, len: usize) -> bool;
    /// What the NIC said about the outer IPv4 header checksum.
    fn rx_ipv4_checksum(&self) -> RxChecksum {
        RxChecksum::Unknown
    }
    /// Asks the NIC to fill the IPv4 header checksum of an outer header at `l2_len` with length `l3_len` on
    /// transmit. Only called for ports that advertise the offload.
    fn request_tx_ipv4_checksum(&mut self, _l2_len: u8, _l3_len: u8) {}
    /// Hints the CPU to start loading the packet's first cache line (the pipeline calls it one packet ahead).
    #[inline]
    fn prefetch(&self) {}
}

/// A heap-backed packet with headroom, for tests and benchmarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecPacket {
    buf: Vec<u8>,
    start: usize,
    /// Set by `request_tx_ipv4_checksum`, so tests can see that the offload was asked for.
    pub tx_ipv4_checksum_requested: Option<(u8, u8)>,
    pub rx_checksum: RxChecksum,
}

impl VecPacket {
    /// DPDK's default mbuf headroom.
    pub const DEFAULT_HEADROOM: usize = 128;

    pub fn new(frame: &[u8]) -> Self {
        Self::with_headroom(frame, Self::DEFAULT_HEADROOM)
    }

    pub fn with_headroom(frame: &[u8], headroom: usize) -> Self {
        let mut buf = vec![0u8; headroom + frame.len()];
        buf[headroom..].copy_from_slice(frame);
        VecPacket { buf, start: headroom, tx_ipv4_checksum_requested: None, rx_checksum: RxChecksum::Unknown }
    }
}

// Inlined like the mbuf's methods, so that benchmarks and profiles of the pipeline over this buffer count what
// production code runs.
impl PacketBuf for VecPacket {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }
    #[inline(always)]
    fn headroom(&self) -> usize {
        self.start
    }
    #[inline(always)]
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.start {
            return None;
        }
        self.start -= len;
        Some(&mut self.buf[self.start..self.start + len])
    }
    #[inline(always)]
    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let end = self.buf.len();
        self.buf.resize(end + len, 0);
        self.buf.get_mut(end..)
    }
    #[inline(always)]
    fn adj(&mut self, len: usize) -> bool {
        if len > self.buf.len() - self.start {
            return false;
        }
        self.start += len;
        true
    }
    #[inline(always)]
    fn trim(&mut self, len: usize) -> bool {
        if len > self.buf.len() - self.start {
            return false;
        }
        self.buf.truncate(self.buf.len() - len);
        true
    }
    #[inline(always)]
    fn keep(&mut self, from: usize, len: usize) -> bool {
        let end = self.start.saturating_add(from).saturating_add(len);
        if end > self.buf.len() {
            return false;
        }
        self.buf.truncate(end);
        self.start += from;
        true
    }
    #[inline(always)]
    fn rx_ipv4_checksum(&self) -> RxChecksum {
        self.rx_checksum
    }
    #[inline(always)]
    fn request_tx_ipv4_checksum(&mut self, l2_len: u8, l3_len: u8) {
        self.tx_ipv4_checksum_requested = Some((l2_len, l3_len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_adj_trim_respect_bounds() {
        let mut p = VecPacket::with_headroom(&[1, 2, 3, 4], 2);
        assert!(p.prepend(3).is_none(), "more than the headroom");
        p.prepend(2).unwrap().copy_from_slice(&[9, 8]);
        assert_eq!(p.data(), &[9, 8, 1, 2, 3, 4]);
        assert_eq!(p.headroom(), 0);
        assert!(p.adj(3));
        assert_eq!(p.data(), &[2, 3, 4]);
        assert!(!p.trim(4));
        assert!(p.trim(1));
        assert_eq!(p.data(), &[2, 3]);
        assert!(!p.adj(3));
    }

    #[test]
    fn keep_cuts_both_ends_or_nothing() {
        let mut p = VecPacket::new(&[1, 2, 3, 4, 5, 6]);
        assert!(!p.keep(2, 5), "past the end");
        assert!(!p.keep(usize::MAX, 1), "no overflow");
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 6]);
        assert!(p.keep(1, 3));
        assert_eq!(p.data(), &[2, 3, 4]);
        assert_eq!(p.headroom(), VecPacket::DEFAULT_HEADROOM + 1);
        assert!(p.keep(0, 3));
        assert_eq!(p.data(), &[2, 3, 4]);
    }
}
