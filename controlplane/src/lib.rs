//! PMIPv6 control plane: everything about signalling and binding state.
//!
//! This crate does not know DPDK exists: it consumes punted packets as byte slices and talks to the data plane
//! through a narrow table-update interface (see `ARCHITECTURE.md`).
//!
//! * [`wire`] — the Mobility Header codec (messages, options, checksum).
//! * [`transport`] — signalling framing: native IPv6 and the IPv4 transports of TS 29.275 §6.1 / RFC 5844.
#![forbid(unsafe_code)]

pub mod transport;
pub mod wire;
