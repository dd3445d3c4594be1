//! Peers as the procedures see them: an address (IPv6, or IPv4 on an IPv4 transport network — spec digest §5.1:
//! "key its peer and binding state by the IPv4 address") plus the framing it used, kept so every answer and every
//! later message we initiate (BRI, heartbeat) goes back in the form the peer speaks (RFC 5846 §4 for BRI/BRA).

use crate::transport::{FrameHeader, Framing};

/// Short name of a framing for the API and logs.
pub fn framing_name(framing: Framing) -> &'static str {
    match framing {
        Framing::Ipv6 => "ipv6",
        Framing::Ipv6InIpv4 => "ipv4",
        Framing::Ipv6InIpv4Udp(_) => "ipv4-udp",
        Framing::Ipv4Udp(_) => "rfc5844-udp",
    }
}

/// The header to reach the sender of `received` later, from the address it reached: the reply form (addresses
/// and UDP ports swapped) with the default hop limit.
pub fn path_back(received: &FrameHeader) -> FrameHeader {
    received.reply()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::UdpPorts;

    #[test]
    fn path_back_mirrors_addresses_and_ports() {
        let rx = FrameHeader::new(
            Framing::Ipv4Udp(UdpPorts { src: 40000, dst: 5436 }),
            "192.0.2.1".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
        );
        let back = path_back(&rx);
        assert_eq!(back.dst, rx.src);
        assert_eq!(back.framing, Framing::Ipv4Udp(UdpPorts { src: 5436, dst: 40000 }));
        assert_eq!(framing_name(back.framing), "rfc5844-udp");
    }
}
