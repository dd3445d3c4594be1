//! Address prefixes as written in the configuration (`2001:db8::/48`, `10.45.0.0/16`, or a bare address).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use thiserror::Error;

/// An IPv4 or IPv6 prefix; host bits must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

/// Why a prefix string is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PrefixError {
    #[error("{0:?} is not an IP address")]
    BadAddress(String),
    #[error("{0:?} is not a prefix length")]
    BadLength(String),
    #[error("prefix length {len} is longer than {max}")]
    TooLong { len: u8, max: u8 },
    #[error("{0} has bits set after the prefix length (did you mean the network address?)")]
    HostBits(String),
}

impl IpPrefix {
    /// `addr/len`, checking the length and that no host bits are set.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(PrefixError::TooLong { len, max });
        }
        let p = IpPrefix { addr, len };
        if p.network_bits() != bits(addr) {
            return Err(PrefixError::HostBits(format!("{addr}/{len}")));
        }
        Ok(p)
    }

    fn max_len(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The address as a 128-bit number, IPv4 in the low 32 bits.
    fn network_bits(&self) -> u128 {
        mask(bits(self.addr), self.max_len(), self.len)
    }

    /// True if `addr` (same family) lies inside the prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.addr.is_ipv4() && mask(bits(addr), self.max_len(), self.len) == self.network_bits()
    }

    /// IPv6 prefix, if this is one.
    pub fn v6(&self) -> Option<(Ipv6Addr, u8)> {
        match self.addr {
            IpAddr::V6(a) => Some((a, self.len)),
            IpAddr::V4(_) => None,
        }
    }

    /// IPv4 prefix, if this is one.
    pub fn v4(&self) -> Option<(Ipv4Addr, u8)> {
        match self.addr {
            IpAddr::V4(a) => Some((a, self.len)),
            IpAddr::V6(_) => None,
        }
    }
}

fn bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn mask(value: u128, width: u8, len: u8) -> u128 {
    let host = u32::from(width - len.min(width));
    if host >= 128 {
        0
    } else {
        value & !((1u128 << host) - 1)
    }
}

impl FromStr for IpPrefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.trim().parse().map_err(|_| PrefixError::BadAddress(addr_text.into()))?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            None => full,
            Some(l) => l.trim().parse().map_err(|_| PrefixError::BadLength(l.into()))?,
        };
        IpPrefix::new(addr, len)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Serialize for IpPrefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let p: IpPrefix = "2001:db8:100::/48".parse().unwrap();
        assert!(p.contains("2001:db8:100:ffff::1".parse().unwrap()));
        assert!(!p.contains("2001:db8:101::1".parse().unwrap()));
        assert!(!p.contains("10.0.0.1".parse().unwrap()));
        let host: IpPrefix = "192.0.2.7".parse().unwrap();
        assert_eq!(host.len, 32);
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<IpPrefix>().unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(matches!("10.0.0.1/8".parse::<IpPrefix>(), Err(PrefixError::HostBits(_))));
        assert!(matches!("10.0.0.0/33".parse::<IpPrefix>(), Err(PrefixError::TooLong { .. })));
        assert!(matches!("ten/8".parse::<IpPrefix>(), Err(PrefixError::BadAddress(_))));
        assert!(matches!("10.0.0.0/x".parse::<IpPrefix>(), Err(PrefixError::BadLength(_))));
    }
}
