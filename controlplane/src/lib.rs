//! PMIPv6 control plane: everything about signalling and binding state.
//!
//! This crate does not know DPDK exists: it consumes punted packets as byte slices and talks to the data plane
//! through a narrow table-update interface ([`fastpath`]): the `pmipgw` control thread applies each update to
//! every worker's tables and reports back once it is live (crate layout: README.md, "Repository layout").
//!
//! * [`wire`] — the Mobility Header codec (messages, options, checksum).
//! * [`transport`] — signalling framing: native IPv6 and the IPv4 transports of TS 29.275 §6.1 / RFC 5844.
//! * Procedures (sans-IO, driven by [`machine::Input`] and `now`): [`lma`], [`mag`], [`heartbeat`]; their
//!   output to the fast path is [`fastpath`]; state they allocate from: [`keys`], [`pools`].
//! * Operations: [`api`] (management socket, `pmipctl`), [`metrics`] (Prometheus), [`config`].
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod durable;
pub mod fastpath;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod heartbeat;
pub mod keys;
pub mod lma;
pub mod loopback;
pub mod machine;
pub mod mag;
pub mod metrics;
pub mod names;
pub mod net;
pub mod peer;
pub mod placement;
pub mod pools;
pub mod restart_counter;
pub mod session;
pub mod slots;
pub mod stats;
pub mod time;
pub mod timers;
pub mod transport;
pub mod wire;
