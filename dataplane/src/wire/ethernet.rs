//! Ethernet II header (no VLAN tags: a tagged frame is an unsupported EtherType to the fast path).

use super::array_at;
use std::fmt;
use std::str::FromStr;

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// A 48-bit MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The text was not six colon-separated two-digit hex octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected a MAC address as six two-digit hex octets separated by ':', e.g. 02:00:00:00:00:01")]
pub struct MacAddrParseError;

impl FromStr for MacAddr {
    type Err = MacAddrParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut octets = [0u8; 6];
        let mut parts = text.split(':');
        for octet in &mut octets {
            let part = parts.next().ok_or(MacAddrParseError)?;
            if part.len() != 2 {
                return Err(MacAddrParseError);
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| MacAddrParseError)?;
        }
        if parts.next().is_some() {
            return Err(MacAddrParseError);
        }
        Ok(MacAddr(octets))
    }
}

/// Checked view of an Ethernet II header.
#[derive(Clone, Copy, Debug)]
pub struct EthernetHeader<'a>(&'a [u8; HEADER_LEN]);

impl<'a> EthernetHeader<'a> {
    /// `None` when the frame is shorter than a header.
    pub fn parse(frame: &'a [u8]) -> Option<Self> {
        array_at(frame, 0).map(EthernetHeader)
    }
    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes([self.0[12], self.0[13]])
    }
    pub fn destination(&self) -> MacAddr {
        MacAddr([self.0[0], self.0[1], self.0[2], self.0[3], self.0[4], self.0[5]])
    }
    pub fn source(&self) -> MacAddr {
        MacAddr([self.0[6], self.0[7], self.0[8], self.0[9], self.0[10], self.0[11]])
    }
}

/// Writes a complete Ethernet II header.
pub fn write_header(out: &mut [u8; HEADER_LEN], destination: MacAddr, source: MacAddr, ethertype: u16) {
    out[..6].copy_from_slice(&destination.0);
    out[6..12].copy_from_slice(&source.0);
    out[12..].copy_from_slice(&ethertype.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_and_prints_round_trip() {
        let mac: MacAddr = "02:0a:FF:00:00:01".parse().unwrap();
        assert_eq!(mac, MacAddr([0x02, 0x0a, 0xff, 0, 0, 1]));
        assert_eq!(mac.to_string(), "02:0a:ff:00:00:01");
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "02:00:00:00:00:1g",
            "002:00:00:00:00:01",
            "2:00:00:00:00:01",
            "::::::",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(MacAddrParseError), "{bad:?}");
        }
    }

    #[test]
    fn header_fields_and_write_agree_with_etherparse() {
        let mut out = [0u8; HEADER_LEN];
        write_header(&mut out, MacAddr([1, 2, 3, 4, 5, 6]), MacAddr([7, 8, 9, 10, 11, 12]), ETHERTYPE_IPV6);
        let theirs = etherparse::Ethernet2Header::from_slice(&out).unwrap().0;
        assert_eq!(theirs.destination, [1, 2, 3, 4, 5, 6]);
        assert_eq!(theirs.source, [7, 8, 9, 10, 11, 12]);
        assert_eq!(theirs.ether_type, etherparse::EtherType::IPV6);
        let ours = EthernetHeader::parse(&out).unwrap();
        assert_eq!(ours.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(ours.destination(), MacAddr([1, 2, 3, 4, 5, 6]));
        assert_eq!(ours.source(), MacAddr([7, 8, 9, 10, 11, 12]));
        assert!(EthernetHeader::parse(&out[..13]).is_none());
    }
}
