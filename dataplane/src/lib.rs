//! pmipgw's fast path: everything a packet touches.
//!
//! - [`dpdk`]: the only safe wrapper over `dpdk-sys` (EAL, mempools, ports, mbufs, bursts). All `unsafe` of this
//!   crate lives there.
//! - [`packet`]: the packet-buffer interface the pipeline is generic over (mbufs in production, byte buffers in tests).
//! - [`idle`]: idle policy (spin or sleep) and the exit-when-idle limit of poll loops.
//! - [`l2fwd`]: plain L2 forwarding between port pairs with a MAC rewrite; proves the plumbing until the GRE
//!   pipeline replaces it.
//! - [`neighbor`]: ARP and NDP for the gateway's own ports (answers, Router Advertisements, a resolution cache),
//!   run by the control thread on punted frames.
//! - [`wire`]: zero-copy checked views of Ethernet, IPv4, IPv6 and GRE, internet checksum, ECN rules.
//! - [`binding`]: what the fast path knows of a PDN connection's tunnel (plain data from config or control plane).
//! - [`tables`]: per-worker binding tables and the update protocol (bounded queues, epochs, acknowledgement).
//! - [`pipeline`]: classify → look up → encap/decap → verdict, generic over [`packet::PacketBuf`].
//! - [`nexthop`]: each port's default next-hop MAC per family, resolved by the control thread, read per packet.
//! - [`counters`]: per-worker, per-port, per-drop-reason and per-binding counters, readable while running.
//! - [`port_index`]: [`PortIndex`], how the fast path names a port.
//! - [`worker`]: the poll loop of one core: rx burst → pipeline → tx per port / punt / free, updates between bursts.
//! - [`runtime`]: starting workers: their queues, and their loops on EAL lcores or plain threads.
#![deny(unsafe_code)]

pub mod admission;
pub mod binding;
pub mod counters;
#[allow(unsafe_code)]
pub mod dpdk;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod idle;
pub mod l2fwd;
pub mod neighbor;
pub mod nexthop;
pub mod packet;
pub mod pipeline;
pub mod port_index;
pub mod reassembly;
pub mod runtime;
pub mod steering;
pub mod tables;
pub mod wire;
pub mod worker;

pub use port_index::PortIndex;
