//! Binding Revocation Indication / Acknowledgement (MH type 16, RFC 5846 §6.1).
//!
//! Layout after the common header: `B.R. Type (1) | R. Trigger or Status (1) | Sequence # (2) | P V G + reserved
//! (1) | reserved (1)`.

use super::binding::fixed6;
use super::error::Result;
use super::mh::{emit_parts, mh_type, parse_parts, MhPacket};
use super::options::MhOptions;
use std::ops::BitOr;

const FIXED_LEN: usize = 12;
/// B.R. Type of an indication.
pub const BR_TYPE_BRI: u8 = 1;
/// B.R. Type of an acknowledgement.
pub const BR_TYPE_BRA: u8 = 2;

/// BRI/BRA flags octet (MH offset 10); the BRA copies P, V and G from the BRI (RFC 5846 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BrFlags(pub u8);

impl BrFlags {
    /// P: proxy binding.
    pub const P: BrFlags = BrFlags(0x80);
    /// V: IPv4 HoA binding only.
    pub const V: BrFlags = BrFlags(0x40);
    /// G: global revocation.
    pub const G: BrFlags = BrFlags(0x20);

    /// True if every bit of `other` is set.
    pub const fn contains(self, other: BrFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for BrFlags {
    type Output = BrFlags;
    fn bitor(self, rhs: BrFlags) -> BrFlags {
        BrFlags(self.0 | rhs.0)
    }
}

/// Revocation Trigger of a BRI (RFC 5846 §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevocationTrigger(pub u8);

impl RevocationTrigger {
    /// 0: unspecified.
    pub const UNSPECIFIED: Self = Self(0);
    /// 1: administrative reason.
    pub const ADMINISTRATIVE_REASON: Self = Self(1);
    /// 2: inter MAG handover same access type.
    pub const INTER_MAG_HANDOVER_SAME_ACCESS_TYPE: Self = Self(2);
    /// 3: inter MAG handover different access type.
    pub const INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE: Self = Self(3);
    /// 4: inter MAG handover unknown.
    pub const INTER_MAG_HANDOVER_UNKNOWN: Self = Self(4);
    /// 5: user initiated session termination.
    pub const USER_INITIATED_SESSION_TERMINATION: Self = Self(5);
    /// 6: access network session termination.
    pub const ACCESS_NETWORK_SESSION_TERMINATION: Self = Self(6);
    /// 7: possible out of sync BCE state.
    pub const POSSIBLE_OUT_OF_SYNC_BCE_STATE: Self = Self(7);
    /// 128: per peer policy.
    pub const PER_PEER_POLICY: Self = Self(128);
    /// 129: revoking mobility node local policy.
    pub const REVOKING_MOBILITY_NODE_LOCAL_POLICY: Self = Self(129);
}

/// BRA status (RFC 5846 §6.1.2; Wireshark 4.0 shows other numbers, these are the RFC's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BraStatus(pub u8);

impl BraStatus {
    /// 0: success.
    pub const SUCCESS: Self = Self(0);
    /// 1: partial success.
    pub const PARTIAL_SUCCESS: Self = Self(1);
    /// 128: binding does not exist.
    pub const BINDING_DOES_NOT_EXIST: Self = Self(128);
    /// 129: IPv4 HoA option required.
    pub const IPV4_HOA_OPTION_REQUIRED: Self = Self(129);
    /// 130: global revocation not authorized.
    pub const GLOBAL_REVOCATION_NOT_AUTHORIZED: Self = Self(130);
    /// 131: MN identity required.
    pub const MN_IDENTITY_REQUIRED: Self = Self(131);
    /// 132: revocation failed MN attached.
    pub const REVOCATION_FAILED_MN_ATTACHED: Self = Self(132);
    /// 133: trigger not supported.
    pub const TRIGGER_NOT_SUPPORTED: Self = Self(133);
    /// 134: revocation function not supported.
    pub const REVOCATION_FUNCTION_NOT_SUPPORTED: Self = Self(134);
    /// 135: proxy binding revocation not supported.
    pub const PROXY_BINDING_REVOCATION_NOT_SUPPORTED: Self = Self(135);
}

/// A Binding Revocation Indication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BriRepr {
    /// Why the binding is revoked.
    pub trigger: RevocationTrigger,
    /// Chosen by the initiator, unique among its outstanding BRIs; the BRA copies it.
    pub seq: u16,
    /// P, V, G.
    pub flags: BrFlags,
    /// MN-ID, HNPs, IPv4 HoA Request, Alternate CoA as the revocation needs (RFC 5846 §8.1).
    pub options: MhOptions,
}

/// A Binding Revocation Acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BraRepr {
    /// Outcome of the revocation.
    pub status: BraStatus,
    /// Copied from the BRI.
    pub seq: u16,
    /// P, V, G copied from the BRI.
    pub flags: BrFlags,
    /// Normally empty; MN-ID/HNP report bindings that failed.
    pub options: MhOptions,
}

fn parse_br<T: AsRef<[u8]>>(packet: &MhPacket<T>) -> Result<(u8, u16, BrFlags, MhOptions)> {
    let (f, options) = parse_parts(packet, FIXED_LEN)?;
    let [_, code, s0, s1, flags, _] = fixed6(f);
    Ok((code, u16::from_be_bytes([s0, s1]), BrFlags(flags), options))
}

fn emit_br(buf: &mut [u8], br_type: u8, code: u8, seq: u16, flags: BrFlags, options: &MhOptions) -> Result<usize> {
    emit_parts(buf, mh_type::BINDING_REVOCATION, FIXED_LEN, options, |f| {
        f[0] = br_type;
        f[1] = code;
        f[2..4].copy_from_slice(&seq.to_be_bytes());
        f[4] = flags.0;
        f[5] = 0;
    })
}

impl BriRepr {
    /// Parses a BRI (B.R. Type already checked by [`super::MhRepr::parse`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &MhPacket<T>) -> Result<Self> {
        let (code, seq, flags, options) = parse_br(packet)?;
        Ok(BriRepr { trigger: RevocationTrigger(code), seq, flags, options })
    }

    /// Octets `emit` writes.
    pub fn buffer_len(&self) -> usize {
        self.options.end_offset(FIXED_LEN)
    }

    /// Writes the message (checksum 0); returns the octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_br(buf, BR_TYPE_BRI, self.trigger.0, self.seq, self.flags, &self.options)
    }
}

impl BraRepr {
    /// Parses a BRA (B.R. Type already checked by [`super::MhRepr::parse`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &MhPacket<T>) -> Result<Self> {
        let (code, seq, flags, options) = parse_br(packet)?;
        Ok(BraRepr { status: BraStatus(code), seq, flags, options })
    }

    /// Octets `emit` writes.
    pub fn buffer_len(&self) -> usize {
        self.options.end_offset(FIXED_LEN)
    }

    /// Writes the message (checksum 0); returns the octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_br(buf, BR_TYPE_BRA, self.status.0, self.seq, self.flags, &self.options)
    }
}
