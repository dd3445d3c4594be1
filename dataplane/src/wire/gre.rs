//! GRE header (RFC 2784 with the RFC 2890 key and sequence extensions), receive parsing and keyed emission.

use super::array_at;

/// Checksum present.
pub const FLAG_C: u16 = 0x8000;
/// Key present.
pub const FLAG_K: u16 = 0x2000;
/// Sequence number present.
pub const FLAG_S: u16 = 0x1000;
/// Bits an RFC 2890 receiver must find zero (routing present, strict source route, recursion MSB: RFC 2784
/// §2.3, less K and S, which RFC 2890 §2 defines). Bits 6–12 are ignored on receipt.
pub const MUST_BE_ZERO: u16 = 0x4c00;
pub const VERSION_MASK: u16 = 0x0007;
/// The header the gateway sends: flags word, protocol type, key.
pub const KEYED_HEADER_LEN: usize = 8;

/// A received GRE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreHeader {
    pub checksum_present: bool,
    pub key: Option<u32>,
    /// Read but not acted on: the gateway does not reorder (see [`parse`]).
    pub sequence: Option<u32>,
    pub protocol: u16,
    /// Bytes up to the payload: 4 plus 4 for each of C, K and S.
    pub header_len: usize,
}

/// Why a GRE header is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GreError {
    /// Shorter than the fields its flags announce.
    Truncated,
    /// Version ≠ 0 (1 is PPTP).
    Version,
    /// A bit of [`MUST_BE_ZERO`] is set.
    ReservedBits,
}

/// Parses the header at the start of `packet`. Version and the must-be-zero bits are checked here; whether a key
/// is required and which protocol types are carried is the caller's policy. The optional fields come in the
/// fixed order checksum/reserved1, key, sequence (RFC 2890 §2). A sequence number is skipped: PMIPv6 does not use
/// it and RFC 2890 ordering would need per-flow state on the fast path.
pub fn parse(packet: &[u8]) -> Result<GreHeader, GreError> {
    let word0: &[u8; 4] = array_at(packet, 0).ok_or(GreError::Truncated)?;
    let flags = u16::from_be_bytes([word0[0], word0[1]]);
    if flags & VERSION_MASK != 0 {
        return Err(GreError::Version);
    }
    if flags & MUST_BE_ZERO != 0 {
        return Err(GreError::ReservedBits);
    }
    let checksum_present = flags & FLAG_C != 0;
    let mut offset = 4;
    if checksum_present {
        offset += 4;
    }
    let key = if flags & FLAG_K != 0 {
        let word = read_u32(packet, offset)?;
        offset += 4;
        Some(word)
    } else {
        None
    };
    let sequence = if flags & FLAG_S != 0 {
        let word = read_u32(packet, offset)?;
        offset += 4;
        Some(word)
    } else {
        None
    };
    // A checksum field announced by C must be there even without K or S.
    if packet.len() < offset {
        return Err(GreError::Truncated);
    }
    Ok(GreHeader {
        checksum_present,
        key,
        sequence,
        protocol: u16::from_be_bytes([word0[2], word0[3]]),
        header_len: offset,
    })
}

fn read_u32(packet: &[u8], offset: usize) -> Result<u32, GreError> {
    array_at::<4>(packet, offset).map(|word| u32::from_be_bytes(*word)).ok_or(GreError::Truncated)
}

/// Writes the 8-byte header the gateway sends: K set, no checksum, no sequence, version 0.
pub fn write_keyed(out: &mut [u8; KEYED_HEADER_LEN], protocol: u16, key: u32) {
    out[..2].copy_from_slice(&FLAG_K.to_be_bytes());
    out[2..4].copy_from_slice(&protocol.to_be_bytes());
    out[4..].copy_from_slice(&key.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    /// The classification table of testdata/vectors (shared vectors README, "GRE header classification vectors").
    #[test]
    fn shared_classification_table() {
        let keyed = |protocol, key| GreHeader {
            checksum_present: false,
            key: Some(key),
            sequence: None,
            protocol,
            header_len: 8,
        };
        assert_eq!(parse(&hex("20 00 08 00 0a 0b 0c 0d")), Ok(keyed(0x0800, 0x0a0b0c0d)));
        assert_eq!(parse(&hex("20 00 86 dd 00 01 00 01")), Ok(keyed(0x86dd, 0x00010001)));
        assert_eq!(
            parse(&hex("a0 00 08 00 cc cc 00 00 0a 0b 0c 0d")),
            Ok(GreHeader { checksum_present: true, header_len: 12, ..keyed(0x0800, 0x0a0b0c0d) })
        );
        assert_eq!(
            parse(&hex("30 00 08 00 0a 0b 0c 0d 00 00 00 00")),
            Ok(GreHeader { sequence: Some(0), header_len: 12, ..keyed(0x0800, 0x0a0b0c0d) })
        );
        assert_eq!(
            parse(&hex("b0 00 08 00 78 6f 00 00 0a 0b 0c 0d 00 00 00 00")),
            Ok(GreHeader { checksum_present: true, sequence: Some(0), header_len: 16, ..keyed(0x0800, 0x0a0b0c0d) })
        );
        assert_eq!(parse(&hex("00 00 08 00")).map(|h| h.key), Ok(None));
        assert_eq!(parse(&hex("20 01 08 00 0a 0b 0c 0d")), Err(GreError::Version));
        assert_eq!(parse(&hex("60 00 08 00 0a 0b 0c 0d")), Err(GreError::ReservedBits));
        assert_eq!(parse(&hex("28 00 08 00 0a 0b 0c 0d")), Err(GreError::ReservedBits));
        assert_eq!(parse(&hex("24 00 08 00 0a 0b 0c 0d")), Err(GreError::ReservedBits));
        assert_eq!(parse(&hex("23 f8 08 00 0a 0b 0c 0d")), Ok(keyed(0x0800, 0x0a0b0c0d)), "bits 6-12 ignored");
        assert_eq!(parse(&hex("20 00 88 47 0a 0b 0c 0d")).map(|h| h.protocol), Ok(0x8847));
    }

    #[test]
    fn truncation_at_every_optional_field() {
        let full = hex("b0 00 08 00 78 6f 00 00 0a 0b 0c 0d 00 00 00 00");
        for len in 0..full.len() {
            assert_eq!(parse(&full[..len]), Err(GreError::Truncated), "length {len}");
        }
        assert_eq!(parse(&hex("80 00 08 00 00 00")), Err(GreError::Truncated), "C without room for it");
    }

    #[test]
    fn written_header_parses_back() {
        let mut out = [0u8; KEYED_HEADER_LEN];
        write_keyed(&mut out, 0x86dd, 0xdead_beef);
        assert_eq!(out, [0x20, 0x00, 0x86, 0xdd, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(parse(&out).unwrap().key, Some(0xdead_beef));
    }
}
