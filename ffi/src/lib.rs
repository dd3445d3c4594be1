//! Raw, unsafe bindings to the system DPDK (22.11 or newer).
//!
//! Generated at build time by bindgen over `shim/shim.h` (an allowlist of what a GRE gateway needs) plus the
//! `shim_*` C wrappers for DPDK's static-inline functions and the thread-local `rte_errno`. Nothing else lives
//! here: the only safe layer is `dataplane::dpdk`.
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, dead_code)]
#![allow(clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

// Constants DPDK builds with `RTE_BIT64()` (a function-like macro bindgen does not evaluate). `shim/shim.c`
// static-asserts each value against the headers, so a DPDK release that moves one breaks the build, not the wire.
pub const RTE_ETH_RX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
pub const RTE_ETH_TX_OFFLOAD_IPV4_CKSUM: u64 = 1 << 1;
pub const RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE: u64 = 1 << 16;
/// IPv4 and IPv6 header fields (with and without fragments, extension headers): the RSS flows a GRE gateway
/// spreads over its workers.
pub const RTE_ETH_RSS_IP: u64 = (1 << 2) | (1 << 3) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 13) | (1 << 15);
pub const RTE_MBUF_F_RX_IP_CKSUM_MASK: u64 = (1 << 4) | (1 << 7);
pub const RTE_MBUF_F_RX_IP_CKSUM_BAD: u64 = 1 << 4;
pub const RTE_MBUF_F_RX_IP_CKSUM_GOOD: u64 = 1 << 7;
pub const RTE_MBUF_F_TX_IP_CKSUM: u64 = 1 << 54;
pub const RTE_MBUF_F_TX_IPV4: u64 = 1 << 55;
pub const RTE_MBUF_F_TX_IPV6: u64 = 1 << 56;
