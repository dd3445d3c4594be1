//! Internet checksum (RFC 1071) and the pseudo-headers of RFC 8200 §8.1 (IPv6) and RFC 768 (IPv4/UDP).
//!
//! Sums are accumulated in a `u32` of 16-bit big-endian words and folded at the end; callers chain
//! `pseudo_header_*` and `sum` and finish with `finish`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// IPv6 Next Header / IPv4 protocol number of the Mobility Header.
pub const IPPROTO_MH: u8 = 135;
/// IPv4 protocol / IPv6 next header number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// Adds the 16-bit big-endian words of `data` to `acc` (an odd trailing octet is padded with zero).
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([w[0], w[1]])));
        // Fold early so very long inputs cannot overflow the accumulator.
        if acc & 0x8000_0000 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

/// Folds the carries and returns the 16-bit one's complement sum (not yet complemented).
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum to put in the packet: the complement of the folded sum.
pub fn finish(acc: u32) -> u16 {
    !fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): addresses, 32-bit upper-layer length, next header.
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, len: u32) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc = sum(acc, &len.to_be_bytes());
    acc.wrapping_add(u32::from(next_header))
}

/// Sum of the IPv4 pseudo-header used by UDP (RFC 768): addresses, zero, protocol, 16-bit length.
pub fn pseudo_header_v4(src: &Ipv4Addr, dst: &Ipv4Addr, protocol: u8, len: u16) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc.wrapping_add(u32::from(protocol)).wrapping_add(u32::from(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 worked example: words 0001 f203 f4f5 f6f7 sum to 0x2ddf0, folded 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &data)), 0xddf2);
        assert_eq!(finish(sum(0, &data)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }
}
