//! Home address pools of one APN: IPv6 home network prefixes (a /64 per PDN connection, the RFC 5213 per-MN
//! prefix model) carved out of a shorter configured prefix, and IPv4 home addresses from a configured subnet.
//! Both map pool indexes onto addresses and use the O(1) [`IdAllocator`].

use crate::keys::IdAllocator;
use crate::net::IpPrefix;
use crate::placement::Placement;
use std::net::{Ipv4Addr, Ipv6Addr};
use thiserror::Error;

/// Length of every home network prefix handed out.
pub const HNP_LEN: u8 = 64;
/// Pools larger than this are capped (indexes are 32-bit).
const MAX_POOL: u64 = 1 << 32;

/// Why a pool cannot be built from its configured prefix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PoolError {
    #[error("IPv6 pool {0} must be an IPv6 prefix of length 64 or shorter")]
    BadIpv6Pool(IpPrefix),
    #[error(
        "IPv4 pool {0} must be an IPv4 prefix of length 30 or shorter (network, router and broadcast are kept out)"
    )]
    BadIpv4Pool(IpPrefix),
    #[error("pool {0} has fewer addresses than the cluster has instances: this instance would get none")]
    NoShare(IpPrefix),
}

/// /64 home network prefixes from a configured IPv6 prefix.
#[derive(Debug, Clone)]
pub struct Ipv6PrefixPool {
    base: u128,
    base_len: u8,
    /// /64s in the whole configured prefix (capped); `ids` hands out this instance's share of them.
    count: u64,
    ids: IdAllocator,
}

impl Ipv6PrefixPool {
    pub fn new(prefix: IpPrefix) -> Result<Self, PoolError> {
        Ipv6PrefixPool::placed(prefix, &Placement::default())
    }

    /// The pool's share of this instance of a cluster ([`Placement::share`]).
    pub fn placed(prefix: IpPrefix, placement: &Placement) -> Result<Self, PoolError> {
        let (addr, len) = prefix.v6().filter(|&(_, l)| l <= HNP_LEN).ok_or(PoolError::BadIpv6Pool(prefix))?;
        let count = (1u64 << (HNP_LEN - len).min(63)).min(MAX_POOL);
        let (first, last) = placement.share(0, (count - 1) as u32).ok_or(PoolError::NoShare(prefix))?;
        Ok(Ipv6PrefixPool { base: u128::from(addr), base_len: len, count, ids: IdAllocator::new(first, last) })
    }

    fn prefix_of(&self, index: u32) -> Ipv6Addr {
        Ipv6Addr::from(self.base | (u128::from(index) << 64))
    }

    fn index_of(&self, prefix: Ipv6Addr) -> Option<u32> {
        let v = u128::from(prefix);
        let index = (v ^ self.base) >> 64;
        let base_mask = if self.base_len == 0 { 0 } else { u128::MAX << (128 - u32::from(self.base_len)) };
        let in_base = v & base_mask == self.base;
        let is_slash64 = v as u64 == 0;
        (in_base && is_slash64 && index < u128::from(self.count)).then_some(index as u32)
    }

    /// The first and last /64 of this instance's share.
    pub fn share(&self) -> (Ipv6Addr, Ipv6Addr) {
        let (first, last) = self.ids.bounds();
        (self.prefix_of(first), self.prefix_of(last))
    }

    /// A free /64 (its network address).
    pub fn allocate(&mut self) -> Option<Ipv6Addr> {
        self.ids.allocate().map(|i| self.prefix_of(i))
    }

    /// Takes a specific /64 of this pool (this instance's share of it); false if it is not in it or taken.
    pub fn reserve(&mut self, prefix: Ipv6Addr) -> bool {
        self.contains(prefix) && self.index_of(prefix).is_some_and(|i| self.ids.reserve(i))
    }

    /// True if `prefix` is a /64 of this pool's share.
    pub fn contains(&self, prefix: Ipv6Addr) -> bool {
        self.index_of(prefix).is_some_and(|i| self.ids.contains(i))
    }

    pub fn release(&mut self, prefix: Ipv6Addr) -> bool {
        self.index_of(prefix).is_some_and(|i| self.ids.release(i))
    }

    pub fn in_use(&self) -> usize {
        self.ids.in_use()
    }

    pub fn capacity(&self) -> u64 {
        self.ids.capacity()
    }
}

/// IPv4 home addresses from a configured subnet. The network address, the first host (the UE's default router,
/// RFC 5844 §3.3.3 IPv4 Default-Router option) and the broadcast address are never handed out.
#[derive(Debug, Clone)]
pub struct Ipv4Pool {
    network: u32,
    len: u8,
    ids: IdAllocator,
}

impl Ipv4Pool {
    pub fn new(prefix: IpPrefix) -> Result<Self, PoolError> {
        Ipv4Pool::placed(prefix, &Placement::default())
    }

    /// The pool's share of this instance of a cluster ([`Placement::share`]).
    pub fn placed(prefix: IpPrefix, placement: &Placement) -> Result<Self, PoolError> {
        let (addr, len) = prefix.v4().filter(|&(_, l)| l <= 30).ok_or(PoolError::BadIpv4Pool(prefix))?;
        let size = 1u64 << (32 - len);
        let network = u32::from(addr);
        // Hosts 2 ..= size-2: skip network (0), router (1), broadcast (size-1).
        let (first, last) = placement.share(2, (size - 2) as u32).ok_or(PoolError::NoShare(prefix))?;
        Ok(Ipv4Pool { network, len, ids: IdAllocator::new(first, last) })
    }

    /// The default router the LMA announces to UEs of this pool.
    pub fn default_router(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1)
    }

    /// Prefix length announced with a home address (RFC 5844 IPv4 HoA Reply).
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    fn index_of(&self, addr: Ipv4Addr) -> Option<u32> {
        let offset = u32::from(addr).wrapping_sub(self.network);
        let size = 1u64 << (32 - self.len);
        (u64::from(offset) >= 2 && u64::from(offset) <= size - 2).then_some(offset)
    }

    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        self.ids.allocate().map(|i| Ipv4Addr::from(self.network + i))
    }

    /// The first and last address of this instance's share.
    pub fn share(&self) -> (Ipv4Addr, Ipv4Addr) {
        let (first, last) = self.ids.bounds();
        (Ipv4Addr::from(self.network + first), Ipv4Addr::from(self.network + last))
    }

    /// Takes a specific address of this pool (this instance's share of it); false if it is not in it or taken.
    pub fn reserve(&mut self, addr: Ipv4Addr) -> bool {
        self.contains(addr) && self.index_of(addr).is_some_and(|i| self.ids.reserve(i))
    }

    /// True if `addr` is an address of this pool's share.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.index_of(addr).is_some_and(|i| self.ids.contains(i))
    }

    pub fn release(&mut self, addr: Ipv4Addr) -> bool {
        self.index_of(addr).is_some_and(|i| self.ids.release(i))
    }

    pub fn in_use(&self) -> usize {
        self.ids.in_use()
    }

    pub fn capacity(&self) -> u64 {
        self.ids.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_pool_hands_out_distinct_slash64s() {
        let mut p = Ipv6PrefixPool::new("2001:db8:100::/62".parse().unwrap()).unwrap();
        assert_eq!(p.capacity(), 4);
        let got: Vec<_> = (0..4).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(got[0], "2001:db8:100::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(got[3], "2001:db8:100:3::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.allocate(), None);
        assert!(p.release(got[2]));
        assert!(!p.release(got[2]));
        assert!(!p.release("2001:db8:100:4::".parse().unwrap()), "outside the pool");
        assert!(!p.contains("2001:db8:100:1::1".parse().unwrap()), "not a /64 network address");
        assert!(p.reserve(got[2]));
        assert_eq!(p.in_use(), 4);
        assert!(Ipv6PrefixPool::new("2001:db8::/96".parse().unwrap()).is_err());
        assert!(Ipv6PrefixPool::new("10.0.0.0/8".parse().unwrap()).is_err());
    }

    #[test]
    fn ipv4_pool_keeps_network_router_and_broadcast_out() {
        let mut p = Ipv4Pool::new("10.45.0.0/29".parse().unwrap()).unwrap();
        assert_eq!(p.default_router(), Ipv4Addr::new(10, 45, 0, 1));
        assert_eq!(p.capacity(), 5);
        let got: Vec<_> = std::iter::from_fn(|| p.allocate()).collect();
        assert_eq!(got.first(), Some(&Ipv4Addr::new(10, 45, 0, 2)));
        assert_eq!(got.last(), Some(&Ipv4Addr::new(10, 45, 0, 6)));
        assert!(!p.contains(Ipv4Addr::new(10, 45, 0, 7)));
        assert!(!p.contains(Ipv4Addr::new(10, 45, 0, 1)));
        assert!(p.release(Ipv4Addr::new(10, 45, 0, 4)));
        assert!(p.reserve(Ipv4Addr::new(10, 45, 0, 4)));
        assert!(Ipv4Pool::new("10.0.0.0/31".parse().unwrap()).is_err());
    }

    #[test]
    fn instances_of_a_cluster_take_disjoint_shares_of_one_pool() {
        let v4: IpPrefix = "10.45.0.0/28".parse().unwrap();
        let v6: IpPrefix = "2001:db8:100::/62".parse().unwrap();
        let mut seen4 = std::collections::HashSet::new();
        let mut seen6 = std::collections::HashSet::new();
        for instance in 0..2 {
            let placement = Placement { instance, instances: 2, ..Placement::default() };
            let mut p4 = Ipv4Pool::placed(v4, &placement).unwrap();
            let mut p6 = Ipv6PrefixPool::placed(v6, &placement).unwrap();
            let got4: Vec<_> = std::iter::from_fn(|| p4.allocate()).collect();
            let got6: Vec<_> = std::iter::from_fn(|| p6.allocate()).collect();
            assert_eq!((got4.len(), got6.len()), (6 + instance as usize, 2), "13 hosts and 4 /64s split in two");
            assert!(got4.iter().all(|a| seen4.insert(*a)) && got6.iter().all(|a| seen6.insert(*a)), "disjoint");
            let other = if instance == 0 { Ipv4Addr::new(10, 45, 0, 14) } else { Ipv4Addr::new(10, 45, 0, 2) };
            assert!(!p4.contains(other) && !p4.reserve(other), "the other instance's address is not ours");
        }
        assert_eq!(seen4.len(), 13, "together they cover the pool");
        let tiny = Placement { instance: 0, instances: 4, ..Placement::default() };
        assert_eq!(
            Ipv6PrefixPool::placed("2001:db8::/63".parse().unwrap(), &tiny).unwrap_err().to_string(),
            "pool 2001:db8::/63 has fewer addresses than the cluster has instances: this instance would get none"
        );
    }
}
