//! Peers as the procedures see them: an address (IPv6, or IPv4 on an IPv4 transport network — TS 29.275 §6.1
//! knows such a peer by its IPv4 address, the IPv4-mapped IPv6 form being a wire detail) plus the framing it
//! used. Each binding keeps the reply form of its last accepted PBU (`FrameHeader::reply`), so every answer and
//! every later message we initiate (BRI, heartbeat) goes back in the form the peer speaks (RFC 5846 §4 for
//! BRI/BRA).

use crate::transport::Framing;

/// Short name of a framing for the API and logs.
pub fn framing_name(framing: Framing) -> &'static str {
    match framing {
        Framing::Ipv6 => "ipv6",
        Framing::Ipv6InIpv4 => "ipv4",
        Framing::Ipv6InIpv4Udp(_) => "ipv4-udp",
        Framing::Ipv4Udp(_) => "rfc5844-udp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::UdpPorts;

    #[test]
    fn names_match_the_configuration_words() {
        assert_eq!(framing_name(Framing::Ipv6), "ipv6");
        assert_eq!(framing_name(Framing::Ipv6InIpv4), "ipv4");
        assert_eq!(framing_name(Framing::Ipv6InIpv4Udp(UdpPorts::CNTL)), "ipv4-udp");
        assert_eq!(framing_name(Framing::Ipv4Udp(UdpPorts::CNTL)), "rfc5844-udp");
    }
}
