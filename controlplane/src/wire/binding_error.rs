//! Binding Error (MH type 7, RFC 6275 §6.1.9): the answer to an unrecognised MH type (status 2).

use super::error::Result;
use super::mh::{emit_parts, mh_type, parse_parts, MhPacket};
use super::options::MhOptions;
use std::net::Ipv6Addr;

const FIXED_LEN: usize = 24;

/// A Binding Error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingErrorRepr {
    /// See `BindingErrorRepr::STATUS_*`.
    pub status: u8,
    /// Home Address of the offending message; PMIPv6 never uses the Home Address option, so senders put the
    /// unspecified address or the offending packet's source here (RFC 6275 §9.3.3).
    pub home_addr: Ipv6Addr,
    /// Options (none defined for PMIPv6).
    pub options: MhOptions,
}

impl BindingErrorRepr {
    /// Unknown binding for Home Address destination option.
    pub const STATUS_UNKNOWN_BINDING: u8 = 1;
    /// Unrecognized MH Type value.
    pub const STATUS_UNRECOGNIZED_MH_TYPE: u8 = 2;

    /// Parses a Binding Error.
    pub fn parse<T: AsRef<[u8]>>(packet: &MhPacket<T>) -> Result<Self> {
        let (f, options) = parse_parts(packet, FIXED_LEN)?;
        let status = f.first().copied().unwrap_or(0);
        let addr: [u8; 16] = f.get(2..18).and_then(|a| a.try_into().ok()).unwrap_or_default();
        Ok(BindingErrorRepr { status, home_addr: Ipv6Addr::from(addr), options })
    }

    /// Octets `emit` writes.
    pub fn buffer_len(&self) -> usize {
        self.options.end_offset(FIXED_LEN)
    }

    /// Writes the message (checksum 0); returns the octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_parts(buf, mh_type::BINDING_ERROR, FIXED_LEN, &self.options, |f| {
            f[0] = self.status;
            f[1] = 0;
            f[2..18].copy_from_slice(&self.home_addr.octets());
        })
    }
}
