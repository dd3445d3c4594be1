//! Zero-copy, checked views of the headers the fast path reads and writes.
//!
//! Every parser takes untrusted bytes and returns a typed error instead of panicking; accessors of a parsed view
//! read from fixed-size arrays borrowed from the packet, so they cannot index out of bounds. Writers fill
//! fixed-size arrays the caller carved out of the packet's headroom.

pub mod checksum;
pub mod ecn;
pub mod ethernet;
pub mod gre;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;

/// The `N` bytes of `buf` at `offset`, if they are all there.
pub fn array_at<const N: usize>(buf: &[u8], offset: usize) -> Option<&[u8; N]> {
    buf.get(offset..offset.checked_add(N)?)?.try_into().ok()
}

/// Mutable form of [`array_at`].
pub fn array_at_mut<const N: usize>(buf: &mut [u8], offset: usize) -> Option<&mut [u8; N]> {
    buf.get_mut(offset..offset.checked_add(N)?)?.try_into().ok()
}
