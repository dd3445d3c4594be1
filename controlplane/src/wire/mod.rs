//! PMIPv6 signalling codec: the Mobility Header (RFC 6275 §6.1) and its messages and options as used by
//! PMIPv6 (RFC 5213, 5844, 5845, 5846, 5847) and TS 29.275.
//!
//! Two levels, in the style of smoltcp's `wire`:
//! * [`MhPacket`] — a checked view over bytes, with the checksum and a zero-allocation [`OptionIter`] yielding
//!   borrowed [`MobilityOption`]s with their offsets;
//! * [`MhRepr`] — the owned, typed message (`PbuRepr`, `PbaRepr`, …) with `parse`, `emit` and `buffer_len`.
//!   Its options live in [`MhOptions`]; emission order and padding are canonical (see [`options`]).
//!
//! Parsing never panics and reports every failure as a [`WireError`] with the offending offset. The checksum is
//! verified by the caller that knows the carrying addresses ([`MhPacket::verify_checksum`], or the framing layer
//! in [`crate::transport`]).

#![warn(missing_docs)]

pub mod apn;
pub mod binding;
pub mod binding_error;
pub mod checksum;
pub mod error;
pub(crate) mod field;
pub mod heartbeat;
pub mod mh;
pub mod option;
pub mod options;
pub mod revocation;
pub mod timestamp;
pub mod values;
pub mod vendor;

pub use apn::Apn;
pub use binding::{lifetime_from_units, lifetime_to_units, BaFlags, BaStatus, BuFlags, PbaRepr, PbuRepr};
pub use binding_error::BindingErrorRepr;
pub use error::{Result, WireError};
pub use heartbeat::{HeartbeatKind, HeartbeatRepr};
pub use mh::{mh_type, MhPacket, MhRepr};
pub use option::{MobilityOption, OptionIter};
pub use options::MhOptions;
pub use revocation::{BrFlags, BraRepr, BraStatus, BriRepr, RevocationTrigger};
pub use timestamp::Timestamp;
pub use values::{
    AccessTechType, DhcpSupportMode, GreKeyOpt, HandoffIndicator, Ipv4HoaReply, Ipv4HoaRequest, Ipv6Prefix, MnId,
    NatDetection, RawOpt,
};
pub use vendor::{ThreeGppIe, VendorOpt, VENDOR_3GPP};
