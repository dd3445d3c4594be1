//! Heartbeat (MH type 13, RFC 5847 §5.1): peer liveness and restart detection between MAG and LMA.

use super::binding::fixed6;
use super::error::{Result, WireError};
use super::mh::{emit_parts, mh_type, parse_parts, MhPacket};
use super::options::MhOptions;

const FIXED_LEN: usize = 12;
const FLAG_U: u8 = 0x02;
const FLAG_R: u8 = 0x01;

/// Which of the three heartbeat messages this is (R and U flags, the two low bits of MH octet 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeartbeatKind {
    /// R = 0, U = 0.
    Request,
    /// R = 1, U = 0: answer to a request, copies its sequence number.
    Response,
    /// R = 1, U = 1: sent by a restarted node with its new Restart Counter; its sequence is ignored.
    UnsolicitedResponse,
}

/// A Heartbeat message. The Restart Counter, if any, is `options.restart_counter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRepr {
    /// Request, response or unsolicited response.
    pub kind: HeartbeatKind,
    /// 32-bit sequence number (unlike the 16-bit BU/BRI sequence).
    pub seq: u32,
    /// Options; a response carries the Restart Counter.
    pub options: MhOptions,
}

impl HeartbeatRepr {
    /// Parses a Heartbeat. U without R is rejected: RFC 5847 §5.1 defines U only for responses.
    pub fn parse<T: AsRef<[u8]>>(packet: &MhPacket<T>) -> Result<Self> {
        let (f, options) = parse_parts(packet, FIXED_LEN)?;
        let [_, flags, s0, s1, s2, s3] = fixed6(f);
        let kind = match (flags & FLAG_R != 0, flags & FLAG_U != 0) {
            (false, false) => HeartbeatKind::Request,
            (true, false) => HeartbeatKind::Response,
            (true, true) => HeartbeatKind::UnsolicitedResponse,
            (false, true) => return Err(WireError::InvalidValue { what: "heartbeat U flag without R", offset: 7 }),
        };
        Ok(HeartbeatRepr { kind, seq: u32::from_be_bytes([s0, s1, s2, s3]), options })
    }

    /// Octets `emit` writes.
    pub fn buffer_len(&self) -> usize {
        self.options.end_offset(FIXED_LEN)
    }

    /// Writes the message (checksum 0); returns the octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let flags = match self.kind {
            HeartbeatKind::Request => 0,
            HeartbeatKind::Response => FLAG_R,
            HeartbeatKind::UnsolicitedResponse => FLAG_R | FLAG_U,
        };
        emit_parts(buf, mh_type::HEARTBEAT, FIXED_LEN, &self.options, |f| {
            f[0] = 0;
            f[1] = flags;
            f[2..6].copy_from_slice(&self.seq.to_be_bytes());
        })
    }
}
