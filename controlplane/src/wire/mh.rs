//! Mobility Header common part (RFC 6275 §6.1.1): the checked `MhPacket` view, the checksum, and `MhRepr`,
//! the typed message enum the procedures consume and produce.

use super::binding::{PbaRepr, PbuRepr};
use super::binding_error::BindingErrorRepr;
use super::checksum;
use super::error::{Result, WireError};
use super::field;
use super::heartbeat::HeartbeatRepr;
use super::option::OptionIter;
use super::options::MhOptions;
use super::revocation::{BraRepr, BriRepr, BR_TYPE_BRA, BR_TYPE_BRI};
use std::net::Ipv6Addr;

/// MH Type numbers (RFC 6275 §6.1 and the IANA registry) the codec interprets.
pub mod mh_type {
    /// 5: binding update.
    pub const BINDING_UPDATE: u8 = 5;
    /// 6: binding ack.
    pub const BINDING_ACK: u8 = 6;
    /// 7: binding error.
    pub const BINDING_ERROR: u8 = 7;
    /// 13: heartbeat.
    pub const HEARTBEAT: u8 = 13;
    /// 16: binding revocation.
    pub const BINDING_REVOCATION: u8 = 16;
}

/// IPPROTO_NONE, the only valid Payload Proto (RFC 6275 §6.1.1).
pub const PAYLOAD_PROTO_NONE: u8 = 59;
/// Octets of the common header before the message data (Payload Proto .. Checksum).
pub const COMMON_HEADER_LEN: usize = 6;
/// Largest Mobility Header: Header Len 255 → 256 × 8 octets.
pub const MAX_MH_LEN: usize = 2048;

mod field_off {
    /// 0: payload proto.
    pub const PAYLOAD_PROTO: usize = 0;
    /// 1: header len.
    pub const HEADER_LEN: usize = 1;
    /// 2: mh type.
    pub const MH_TYPE: usize = 2;
    /// 4: checksum.
    pub const CHECKSUM: usize = 4;
}

/// A read/write view of a Mobility Header over a byte buffer. Construct with [`MhPacket::new_checked`] for
/// untrusted input: afterwards every accessor is in bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MhPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MhPacket<T> {
    /// Wraps a buffer without checks; accessors then report truncation as errors or zeros, never panic.
    pub fn new_unchecked(buffer: T) -> Self {
        MhPacket { buffer }
    }

    /// Wraps a buffer after checking that it holds the common header and the whole length Header Len declares.
    /// Trailing octets beyond that length are allowed (the carrying layer decides whether they are an error).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = MhPacket { buffer };
        let b = p.buffer.as_ref();
        if b.len() < COMMON_HEADER_LEN {
            return Err(WireError::Truncated { what: "mobility header", offset: b.len() });
        }
        if p.total_len() > b.len() {
            return Err(WireError::BadHeaderLength { mh_type: p.mh_type(), octets: p.total_len(), available: b.len() });
        }
        Ok(p)
    }

    /// Releases the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn octet(&self, off: usize) -> u8 {
        self.buffer.as_ref().get(off).copied().unwrap_or(0)
    }

    /// Payload Proto octet (must be 59).
    pub fn payload_proto(&self) -> u8 {
        self.octet(field_off::PAYLOAD_PROTO)
    }

    /// Header Len field: length in 8-octet units, not counting the first 8 octets.
    pub fn header_len(&self) -> u8 {
        self.octet(field_off::HEADER_LEN)
    }

    /// Length of the whole Mobility Header in octets, `(Header Len + 1) × 8`.
    pub fn total_len(&self) -> usize {
        (usize::from(self.header_len()) + 1) * 8
    }

    /// MH Type octet.
    pub fn mh_type(&self) -> u8 {
        self.octet(field_off::MH_TYPE)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.octet(field_off::CHECKSUM), self.octet(field_off::CHECKSUM + 1)])
    }

    /// The whole Mobility Header (the first `total_len()` octets, or fewer if the buffer is short).
    pub fn as_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..self.total_len()).unwrap_or(b)
    }

    /// Message data after the 6-octet common header: fixed fields, options, padding.
    pub fn message_data(&self) -> &[u8] {
        self.as_bytes().get(COMMON_HEADER_LEN..).unwrap_or(&[])
    }

    /// Zero-allocation iterator over the options of a message whose fixed part ends at `fixed_len`
    /// (see [`fixed_len`]); an unknown MH type or a short header yields an empty iterator.
    pub fn options(&self) -> OptionIter<'_> {
        let start = fixed_len(self.mh_type()).unwrap_or(usize::MAX);
        OptionIter::new(self.as_bytes().get(start..).unwrap_or(&[]), start)
    }

    /// Checksum over the IPv6 pseudo-header (RFC 6275 §6.1.1, RFC 8200 §8.1, next header 135) and the whole
    /// header, treating the checksum field as zero: the value a sender puts in the field.
    pub fn compute_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let mh = self.as_bytes();
        let acc = checksum::pseudo_header_v6(src, dst, checksum::IPPROTO_MH, mh.len() as u32);
        let acc = checksum::sum(acc, mh.get(..field_off::CHECKSUM).unwrap_or(mh));
        let acc = checksum::sum(acc, mh.get(field_off::CHECKSUM + 2..).unwrap_or(&[]));
        checksum::finish(acc)
    }

    /// Verifies the checksum for the given carrying addresses (the inner IPv6 header's in the 3GPP IPv4
    /// profile, TS 29.275 §6.1). Failure is `BadChecksum`; RFC 6275 §9.2 says drop silently.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<()> {
        let expected = self.compute_checksum(src, dst);
        let found = self.checksum();
        if expected != found {
            return Err(WireError::BadChecksum { what: "mobility header", expected, found });
        }
        Ok(())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MhPacket<T> {
    /// Sets the checksum field (no-op if the buffer is shorter than the common header).
    pub fn set_checksum(&mut self, value: u16) {
        if let Some(f) = self.buffer.as_mut().get_mut(field_off::CHECKSUM..field_off::CHECKSUM + 2) {
            f.copy_from_slice(&value.to_be_bytes());
        }
    }

    /// Computes and stores the checksum for the given carrying IPv6 addresses.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let c = self.compute_checksum(src, dst);
        self.set_checksum(c);
    }
}

/// Octets from the start of the Mobility Header to the first option, for the types the codec interprets.
pub fn fixed_len(mh_type: u8) -> Option<usize> {
    match mh_type {
        mh_type::BINDING_UPDATE | mh_type::BINDING_ACK | mh_type::HEARTBEAT | mh_type::BINDING_REVOCATION => Some(12),
        mh_type::BINDING_ERROR => Some(24),
        _ => None,
    }
}

/// Checks Payload Proto and the per-type minimum length, then returns the fixed fields (from offset 6 to
/// `fixed`) and the parsed options.
pub(crate) fn parse_parts<T: AsRef<[u8]>>(packet: &MhPacket<T>, fixed: usize) -> Result<(&[u8], MhOptions)> {
    if packet.payload_proto() != PAYLOAD_PROTO_NONE {
        return Err(WireError::PayloadProtoNot59 { found: packet.payload_proto() });
    }
    let mh = packet.as_bytes();
    if mh.len() < fixed || mh.len() < packet.total_len() {
        return Err(WireError::BadHeaderLength {
            mh_type: packet.mh_type(),
            octets: packet.total_len(),
            available: mh.len(),
        });
    }
    let fixed_part = mh.get(COMMON_HEADER_LEN..fixed).unwrap_or(&[]);
    let options = MhOptions::parse(mh.get(fixed..).unwrap_or(&[]), fixed)?;
    Ok((fixed_part, options))
}

/// Writes a complete Mobility Header: common header (checksum 0), the fixed fields via `write_fixed` (given
/// octets 6..`fixed`), then the aligned options and padding. Returns the total length.
pub(crate) fn emit_parts(
    buf: &mut [u8],
    mh_type: u8,
    fixed: usize,
    options: &MhOptions,
    write_fixed: impl FnOnce(&mut [u8]),
) -> Result<usize> {
    let total = options.end_offset(fixed);
    if total > MAX_MH_LEN {
        return Err(WireError::ValueTooLong { what: "mobility header", len: total });
    }
    let mh = field::slice_mut(buf, 0, total)?;
    mh.fill(0);
    mh[0] = PAYLOAD_PROTO_NONE;
    mh[1] = (total / 8 - 1) as u8;
    mh[2] = mh_type;
    write_fixed(&mut mh[COMMON_HEADER_LEN..fixed]);
    let end = options.emit(mh, fixed)?;
    debug_assert_eq!(end, total);
    Ok(total)
}

/// A parsed or to-be-emitted Mobility Header message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MhRepr {
    /// Binding Update (type 5); a Proxy Binding Update when the P flag is set.
    Pbu(PbuRepr),
    /// Binding Acknowledgement (type 6); a Proxy Binding Acknowledgement when P is set.
    Pba(PbaRepr),
    /// Binding Revocation Indication (type 16, B.R. Type 1).
    Bri(BriRepr),
    /// Binding Revocation Acknowledgement (type 16, B.R. Type 2).
    Bra(BraRepr),
    /// Heartbeat (type 13): request, response or unsolicited response.
    Heartbeat(HeartbeatRepr),
    /// Binding Error (type 7).
    BindingError(BindingErrorRepr),
    /// Any MH type the codec does not interpret. Not an error: RFC 6275 §9.2 has the receiver answer with a
    /// Binding Error, status 2 (unrecognized MH Type). `data` is everything after the common header.
    Unknown {
        /// The unrecognised MH Type, for the Binding Error and the logs.
        mh_type: u8,
        /// Message data after the 6-octet common header, as received.
        data: Vec<u8>,
    },
}

impl MhRepr {
    /// Parses a checked packet. The checksum is *not* verified here (it needs the carrying addresses and is
    /// skipped for the RFC 5844 UDP form); see [`MhPacket::verify_checksum`] and [`crate::transport`].
    pub fn parse<T: AsRef<[u8]>>(packet: &MhPacket<T>) -> Result<MhRepr> {
        let ty = packet.mh_type();
        Ok(match ty {
            mh_type::BINDING_UPDATE => MhRepr::Pbu(PbuRepr::parse(packet)?),
            mh_type::BINDING_ACK => MhRepr::Pba(PbaRepr::parse(packet)?),
            mh_type::HEARTBEAT => MhRepr::Heartbeat(HeartbeatRepr::parse(packet)?),
            mh_type::BINDING_ERROR => MhRepr::BindingError(BindingErrorRepr::parse(packet)?),
            mh_type::BINDING_REVOCATION => {
                let br_type = field::u8_at(packet.as_bytes(), 6, 0, "B.R. type")?;
                match br_type {
                    BR_TYPE_BRI => MhRepr::Bri(BriRepr::parse(packet)?),
                    BR_TYPE_BRA => MhRepr::Bra(BraRepr::parse(packet)?),
                    _ => return Err(WireError::InvalidValue { what: "B.R. type", offset: 6 }),
                }
            }
            _ => MhRepr::Unknown { mh_type: ty, data: packet.message_data().to_vec() },
        })
    }

    /// Convenience: check and parse a Mobility Header held in `bytes` (checksum not verified).
    pub fn parse_bytes(bytes: &[u8]) -> Result<MhRepr> {
        MhRepr::parse(&MhPacket::new_checked(bytes)?)
    }

    /// The MH Type this message is sent as.
    pub fn mh_type(&self) -> u8 {
        match self {
            MhRepr::Pbu(_) => mh_type::BINDING_UPDATE,
            MhRepr::Pba(_) => mh_type::BINDING_ACK,
            MhRepr::Bri(_) | MhRepr::Bra(_) => mh_type::BINDING_REVOCATION,
            MhRepr::Heartbeat(_) => mh_type::HEARTBEAT,
            MhRepr::BindingError(_) => mh_type::BINDING_ERROR,
            MhRepr::Unknown { mh_type, .. } => *mh_type,
        }
    }

    /// Octets `emit` will write (a multiple of 8).
    pub fn buffer_len(&self) -> usize {
        match self {
            MhRepr::Pbu(r) => r.buffer_len(),
            MhRepr::Pba(r) => r.buffer_len(),
            MhRepr::Bri(r) => r.buffer_len(),
            MhRepr::Bra(r) => r.buffer_len(),
            MhRepr::Heartbeat(r) => r.buffer_len(),
            MhRepr::BindingError(r) => r.buffer_len(),
            MhRepr::Unknown { data, .. } => COMMON_HEADER_LEN + data.len(),
        }
    }

    /// Writes the message into `buf` with a zero checksum; returns the octets written. Fill the checksum with
    /// [`MhPacket::fill_checksum`], or use [`MhRepr::emit_with_checksum`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            MhRepr::Pbu(r) => r.emit(buf),
            MhRepr::Pba(r) => r.emit(buf),
            MhRepr::Bri(r) => r.emit(buf),
            MhRepr::Bra(r) => r.emit(buf),
            MhRepr::Heartbeat(r) => r.emit(buf),
            MhRepr::BindingError(r) => r.emit(buf),
            MhRepr::Unknown { mh_type, data } => {
                let total = COMMON_HEADER_LEN + data.len();
                if total & 7 != 0 || total > MAX_MH_LEN {
                    return Err(WireError::InvalidValue { what: "unknown message length", offset: 1 });
                }
                let mh = field::slice_mut(buf, 0, total)?;
                mh[..COMMON_HEADER_LEN].copy_from_slice(&[
                    PAYLOAD_PROTO_NONE,
                    (total / 8 - 1) as u8,
                    *mh_type,
                    0,
                    0,
                    0,
                ]);
                mh[COMMON_HEADER_LEN..].copy_from_slice(data);
                Ok(total)
            }
        }
    }

    /// Writes the message and its checksum for the carrying IPv6 addresses.
    pub fn emit_with_checksum(&self, buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<usize> {
        let n = self.emit(buf)?;
        let mh = buf.get_mut(..n).ok_or(WireError::BufferTooSmall { needed: n, available: 0 })?;
        MhPacket::new_unchecked(mh).fill_checksum(src, dst);
        Ok(n)
    }
}
