//! PMIPv6 control plane: everything about signalling and binding state.
//!
//! This crate does not know DPDK exists: it consumes punted packets as byte slices and talks to the data plane
//! through a narrow table-update interface (see `ARCHITECTURE.md`).
