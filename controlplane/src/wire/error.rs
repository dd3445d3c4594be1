//! The single error type of the codec: every failure says what went wrong and where.

use thiserror::Error;

/// A parse or emit failure. Offsets count octets from the start of the Mobility Header for MH errors, and from
/// the start of the IP packet for framing errors, so a log line points at the offending octet.
///
/// Field meanings are uniform: `what` names the field or structure, `offset` is where it starts, `expected` is
/// what we computed or required and `found` what the packet carries.
#[allow(missing_docs)] // the fields are described above, once, rather than on every variant
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    /// The buffer ends before the field `what`, which starts at `offset`.
    #[error("truncated: {what} at offset {offset}")]
    Truncated { what: &'static str, offset: usize },
    /// Payload Proto octet is not 59; RFC 6275 §9.2 says drop (+ ICMPv6 Parameter Problem code 0, pointer 0).
    #[error("mobility header payload proto is {found}, not 59")]
    PayloadProtoNot59 { found: u8 },
    /// Header Len is below the minimum for the message type, or does not fit the carrying packet.
    /// RFC 6275 §9.2: drop (+ ICMPv6 Parameter Problem code 0, pointer at the Header Len, offset 1).
    #[error("bad mobility header length: {octets} octets for MH type {mh_type}, available {available}")]
    BadHeaderLength { mh_type: u8, octets: usize, available: usize },
    /// The checksum does not verify. `expected` is what we computed, `found` what the packet carries.
    #[error("bad checksum in {what}: expected {expected:#06x}, found {found:#06x}")]
    BadChecksum { what: &'static str, expected: u16, found: u16 },
    /// An option's Length octet is wrong for its type or overruns the message.
    #[error("bad length {length} for mobility option {option_type} at offset {offset}")]
    BadOptionLength { option_type: u8, length: u8, offset: usize },
    /// A second instance of an option that may appear only once (RFC 5213 §8: "cannot be more than one instance").
    #[error("duplicate mobility option {option_type} at offset {offset}")]
    DuplicateOption { option_type: u8, offset: usize },
    /// A field holds a value the specification forbids (e.g. prefix length > 128, a NAI that is not UTF-8,
    /// a malformed APN label, a reserved B.R. type).
    #[error("invalid {what} at offset {offset}")]
    InvalidValue { what: &'static str, offset: usize },
    /// Emission: the output buffer is shorter than `buffer_len()`.
    #[error("buffer too small: need {needed} octets, have {available}")]
    BufferTooSmall { needed: usize, available: usize },
    /// Emission: a value does not fit its wire field (e.g. a 300-octet NAI, an MH longer than 2048 octets).
    #[error("{what} too long: {len} octets")]
    ValueTooLong { what: &'static str, len: usize },
    /// Framing: the packet is not something that carries a Mobility Header (wrong IP version, protocol, port).
    #[error("not a mobility signalling packet: {what} = {value} at offset {offset}")]
    NotSignalling { what: &'static str, value: u32, offset: usize },
    /// Framing: a fragment (IPv4 MF/offset or a non-atomic IPv6 Fragment header); reassembly is not ours to do.
    #[error("fragmented packet at offset {offset}")]
    Fragmented { offset: usize },
    /// Framing: a length field disagrees with the octets that follow it.
    #[error("length mismatch in {what}: field says {field}, packet has {actual}")]
    LengthMismatch { what: &'static str, field: usize, actual: usize },
    /// Framing: an inner IPv6 address in the 3GPP IPv4 profile is not the IPv4-mapped form of the outer
    /// IPv4 address (TS 29.275 §6.1).
    #[error("inner IPv6 {which} address is not the IPv4-mapped form of the outer IPv4 address")]
    MappedAddressMismatch { which: &'static str },
}

/// Result alias used throughout the codec.
pub type Result<T> = core::result::Result<T, WireError>;
