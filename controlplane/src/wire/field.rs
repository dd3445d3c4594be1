//! Checked big-endian reads and writes over untrusted slices. Every accessor returns a typed error instead of
//! panicking, so parsers can use `?` and never index out of bounds.

use super::error::{Result, WireError};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Returns `buf[offset..offset + N]` as an array, or `Truncated { what, offset: base + offset }`.
pub(crate) fn array<const N: usize>(buf: &[u8], offset: usize, base: usize, what: &'static str) -> Result<[u8; N]> {
    offset
        .checked_add(N)
        .and_then(|end| buf.get(offset..end))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(WireError::Truncated { what, offset: base + offset })
}

pub(crate) fn u8_at(buf: &[u8], offset: usize, base: usize, what: &'static str) -> Result<u8> {
    buf.get(offset).copied().ok_or(WireError::Truncated { what, offset: base + offset })
}

pub(crate) fn u32_at(buf: &[u8], offset: usize, base: usize, what: &'static str) -> Result<u32> {
    array::<4>(buf, offset, base, what).map(u32::from_be_bytes)
}

pub(crate) fn ipv4_at(buf: &[u8], offset: usize, base: usize, what: &'static str) -> Result<Ipv4Addr> {
    array::<4>(buf, offset, base, what).map(Ipv4Addr::from)
}

pub(crate) fn ipv6_at(buf: &[u8], offset: usize, base: usize, what: &'static str) -> Result<Ipv6Addr> {
    array::<16>(buf, offset, base, what).map(Ipv6Addr::from)
}

/// Mutable sub-slice `buf[offset..offset + len]`, or `BufferTooSmall`.
pub(crate) fn slice_mut(buf: &mut [u8], offset: usize, len: usize) -> Result<&mut [u8]> {
    let available = buf.len();
    let end = offset.checked_add(len).ok_or(WireError::BufferTooSmall { needed: usize::MAX, available })?;
    buf.get_mut(offset..end).ok_or(WireError::BufferTooSmall { needed: end, available })
}

/// Copies `data` into `buf` at `offset`, or fails with `BufferTooSmall`.
pub(crate) fn put(buf: &mut [u8], offset: usize, data: &[u8]) -> Result<()> {
    slice_mut(buf, offset, data.len())?.copy_from_slice(data);
    Ok(())
}
