//! The internet checksum (RFC 1071) and its incremental update (RFC 1624).

/// One's-complement sum of `data` as big-endian 16-bit words (an odd last byte is padded with zero), folded to
/// 16 bits. Partial sums of pieces that start at even offsets can be combined with [`combine`].
pub fn sum(data: &[u8]) -> u16 {
    // 32-bit big-endian words summed into 64 bits fold to the same one's-complement sum as 16-bit words, in a
    // quarter of the additions; 2^32 words would be needed to overflow the accumulator.
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        acc += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let mut rest = [0u8; 4];
    let tail = words.remainder();
    rest[..tail.len()].copy_from_slice(tail);
    acc += u64::from(u32::from_be_bytes(rest));
    fold(acc)
}

/// One's-complement addition of two folded sums.
pub fn combine(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The checksum field value for `data` whose own checksum field is zero.
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// True when `data`, including its checksum field, sums to all-ones (the receiver's check).
#[inline]
pub fn verifies(data: &[u8]) -> bool {
    match <&[u8; 20]>::try_from(data) {
        Ok(header) => verifies_20(header),
        Err(_) => sum(data) == 0xffff,
    }
}

/// [`verifies`] for the common 20-byte IPv4 header, without folding. Since 2^16 ≡ 1 (mod 2^16 − 1), the
/// one's-complement sum of any words is their plain sum modulo 2^16 − 1, except that a non-zero sum folds to
/// all-ones, never to zero: the header verifies exactly when the plain sum is a non-zero multiple of 2^16 − 1.
/// Reading the words native-endian swaps bytes, which multiplies by 2^8 modulo 2^16 − 1 (RFC 1071 §2(B)) and
/// keeps a multiple a multiple. Divisibility by the odd 2^16 − 1 is one multiply by its inverse modulo 2^64 and
/// one compare: the multiples are exactly the values the product maps to at most (2^64 − 1) / (2^16 − 1).
#[inline]
pub(crate) fn verifies_20(header: &[u8; 20]) -> bool {
    const INVERSE: u64 = 0xfffe_fffe_fffe_ffff; // 0xffff × INVERSE ≡ 1 (mod 2^64)
    const LIMIT: u64 = u64::MAX / 0xffff;
    let word = |i: usize| u64::from(u32::from_ne_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]));
    let sum = word(0) + word(4) + word(8) + word(12) + word(16);
    sum.wrapping_mul(INVERSE) <= LIMIT && sum != 0
}

/// The checksum after one 16-bit word of the covered data changes from `old` to `new` (RFC 1624 eqn. 3:
/// HC' = ~(~HC + ~m + m')), so a TTL or ECN rewrite does not re-read the header.
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!checksum) + u64::from(!old) + u64::from(new))
}

/// Folds a 64-bit one's-complement accumulator to 16 bits, branch-free: 64 → 33 → 18 → 17 → 16 bits.
#[inline]
fn fold(acc: u64) -> u16 {
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward 16-bit-word definition, to check the 32-bit fast sum against.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            acc += u32::from(word);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn the_divisibility_constants_are_an_inverse_and_its_limit() {
        assert_eq!(0xffffu64.wrapping_mul(0xfffe_fffe_fffe_ffff), 1);
        for k in [0u64, 1, 2, 0x1_0001, 5 * 0x1_0001] {
            assert!((k * 0xffff).wrapping_mul(0xfffe_fffe_fffe_ffff) <= u64::MAX / 0xffff);
            assert!((k * 0xffff + 1).wrapping_mul(0xfffe_fffe_fffe_ffff) > u64::MAX / 0xffff);
        }
    }

    #[test]
    fn the_20_byte_check_agrees_with_the_folded_sum() {
        // Pseudo-random headers, each also with its checksum set right and off by one, and the edge cases.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut headers = vec![[0u8; 20], [0xff; 20]];
        // Sums of exactly one and two times 2^16 - 1 (both fold to all-ones), and one short of it.
        for ones in [&[10usize][..], &[10, 12], &[11]] {
            let mut header = [0u8; 20];
            for &at in ones {
                header[at..at + 2].copy_from_slice(&[0xff, 0xff]);
            }
            header[11] = header[11].wrapping_sub(u8::from(ones == [11]));
            headers.push(header);
        }
        for _ in 0..200_000 {
            let mut header = [0u8; 20];
            for chunk in header.chunks_mut(8) {
                let bytes = next().to_ne_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
            headers.push(header);
            header[10..12].copy_from_slice(&[0, 0]);
            let good = checksum(&header);
            header[10..12].copy_from_slice(&good.to_be_bytes());
            headers.push(header);
            header[10..12].copy_from_slice(&good.wrapping_add(1).to_be_bytes());
            headers.push(header);
        }
        let mut valid = 0;
        for header in &headers {
            let expected = sum(header) == 0xffff;
            valid += usize::from(expected);
            assert_eq!(verifies_20(header), expected, "{header:02x?}");
        }
        assert!(valid >= 200_000, "the valid headers are among them: {valid}");
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
    }

    #[test]
    fn shared_vector_v9_outer_ipv4_header_verifies() {
        // V9's outer IPv4 header, checksum 0x4e55 (testdata/vectors/vectors.json).
        let header = [
            0x45, 0x00, 0x00, 0x42, 0x00, 0x02, 0x40, 0x00, 0x40, 0x2f, 0x4e, 0x55, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33,
            0x64, 0x01,
        ];
        assert!(verifies(&header));
        let mut zeroed = header;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(checksum(&zeroed), 0x4e55);
    }

    #[test]
    fn fast_sum_matches_reference_for_all_lengths() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(151) ^ (i >> 3)) as u8 | 0x80).collect();
        for len in 0..data.len() {
            assert_eq!(sum(&data[..len]), reference_sum(&data[..len]), "length {len}");
        }
    }

    #[test]
    fn combine_of_even_split_equals_whole() {
        let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37).wrapping_add(200)).collect();
        for split in (0..data.len()).step_by(2) {
            assert_eq!(combine(sum(&data[..split]), sum(&data[split..])), sum(&data));
        }
    }

    #[test]
    fn incremental_update_matches_recomputation() {
        let mut header = [
            0x45, 0x00, 0x00, 0x42, 0x00, 0x02, 0x40, 0x00, 0x40, 0x2f, 0x4e, 0x55, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33,
            0x64, 0x01,
        ];
        for ttl in (0..=0x40u8).rev() {
            let old = u16::from_be_bytes([header[8], header[9]]);
            header[8] = ttl;
            let new = u16::from_be_bytes([header[8], header[9]]);
            let updated = update(u16::from_be_bytes([header[10], header[11]]), old, new);
            header[10..12].copy_from_slice(&updated.to_be_bytes());
            assert!(verifies(&header), "ttl {ttl}");
        }
    }
}
