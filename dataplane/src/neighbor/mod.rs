//! Neighbour discovery on the gateway's own ports: ARP (RFC 826) for IPv4, NDP (RFC 4861) for IPv6.
//!
//! This runs on the control thread, fed with the ARP and ICMPv6 frames the fast path punts. It answers requests
//! for the gateway's own addresses, answers a UE's Router Solicitation with its home network prefix (MAG access
//! side, RFC 5213 §6.7), and resolves next hops through a cache with ageing and bounded retries. Everything is
//! pure and driven by the caller's clock, so tests run it without EAL and without waiting.
//!
//! - [`arp`]: ARP request/reply parsing and building.
//! - [`ndp`]: NS, NA, RS and RA parsing and building, with the ICMPv6 checksum.
//! - [`cache`]: the resolution cache: static entries, solicitation retries, reachability ageing.
//! - [`echo`]: echo replies for the gateway's own addresses.
//! - [`resolver`]: every port's cache together, the solicitations to send, which tunnels carry which neighbour's
//!   MAC, and frames held until their next hop answers: what the control thread calls.

pub mod arp;
pub mod cache;
pub mod echo;
pub mod ndp;
pub mod resolver;

pub use cache::{CacheTimers, Lookup, NeighborCache, Solicit};
pub use resolver::{NeighborStats, Neighbors, PortNeighbors};
