//! IPv4 header (RFC 791): checked view, in-place TTL/ECN rewrites with incremental checksum, and emission.

use super::{array_at, checksum};
use std::net::Ipv4Addr;

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
pub const PROTOCOL_ICMP: u8 = 1;
pub const PROTOCOL_UDP: u8 = 17;
/// IPv6 in IPv4 (RFC 4213); the 3GPP profile carries Mobility Headers this way (TS 29.275 §6.1).
pub const PROTOCOL_IPV6: u8 = 41;
pub const PROTOCOL_GRE: u8 = 47;

/// Why bytes are not a usable IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv4Error {
    /// Shorter than the header or than its total length says.
    Truncated,
    /// Version ≠ 4, IHL < 5 or total length < header length.
    Invalid,
}

/// Checked view of an IPv4 packet: the header is complete and the total length fits in the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<'a> {
    fixed: &'a [u8; MIN_HEADER_LEN],
    /// Exactly `total_len` bytes: link-layer padding after the packet is excluded.
    packet: &'a [u8],
    header_len: usize,
}

impl<'a> Ipv4Packet<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, Ipv4Error> {
        let fixed: &[u8; MIN_HEADER_LEN] = array_at(buf, 0).ok_or(Ipv4Error::Truncated)?;
        if fixed[0] >> 4 != 4 {
            return Err(Ipv4Error::Invalid);
        }
        let header_len = usize::from(fixed[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if header_len < MIN_HEADER_LEN || total_len < header_len {
            return Err(Ipv4Error::Invalid);
        }
        let packet = buf.get(..total_len).ok_or(Ipv4Error::Truncated)?;
        Ok(Ipv4Packet { fixed, packet, header_len })
    }

    /// Header length including options.
    pub fn header_len(&self) -> usize {
        self.header_len
    }
    pub fn total_len(&self) -> usize {
        self.packet.len()
    }
    pub fn ecn(&self) -> u8 {
        self.fixed[1] & 0x03
    }
    /// The TOS byte: DSCP (upper six bits) and ECN (RFC 2474, RFC 3168).
    pub fn tos(&self) -> u8 {
        self.fixed[1]
    }
    pub fn ttl(&self) -> u8 {
        self.fixed[8]
    }
    pub fn protocol(&self) -> u8 {
        self.fixed[9]
    }
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.fixed[12], self.fixed[13], self.fixed[14], self.fixed[15])
    }
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.fixed[16], self.fixed[17], self.fixed[18], self.fixed[19])
    }
    /// More-fragments set or a non-zero fragment offset: this is a piece of a larger datagram.
    pub fn is_fragment(&self) -> bool {
        u16::from_be_bytes([self.fixed[6], self.fixed[7]]) & 0x3fff != 0
    }
    /// The header checksum, options included, verifies.
    pub fn header_checksum_ok(&self) -> bool {
        self.packet.get(..self.header_len).is_some_and(checksum::verifies)
    }
    /// The bytes after the header (options skipped), up to the total length.
    pub fn payload(&self) -> &'a [u8] {
        self.packet.get(self.header_len..).unwrap_or_default()
    }
}

/// Decrements the TTL of the header starting `fixed`, keeping its checksum valid. The caller has checked TTL > 1.
#[inline(always)]
pub fn decrement_ttl(fixed: &mut [u8; MIN_HEADER_LEN]) {
    fixed[8] = fixed[8].wrapping_sub(1);
    // RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), not RFC 1141's HC + 0x0100, which can yield 0xffff where a full
    // recomputation gives 0. The word m = TTL·256 + protocol becomes m' = m − 0x0100, so ~m + m' is the constant
    // 0xfeff (TTL > 0), and one fold suffices: 0xffff + 0xfeff carries once and the fold cannot carry again.
    // Summed in the machine's byte order, which the one's complement sum is independent of (RFC 1071 §2 B): no
    // byte swaps.
    let sum = u32::from(!u16::from_ne_bytes([fixed[10], fixed[11]])) + u32::from(0xfeff_u16.to_be());
    let sum = (sum & 0xffff) + (sum >> 16);
    fixed[10..12].copy_from_slice(&(!(sum as u16)).to_ne_bytes());
}

/// Sets the ECN field, keeping the checksum valid.
pub fn set_ecn(fixed: &mut [u8; MIN_HEADER_LEN], ecn: u8) {
    let old = u16::from_be_bytes([fixed[0], fixed[1]]);
    fixed[1] = (fixed[1] & !0x03) | (ecn & 0x03);
    rewrite_word_checksum(fixed, old, u16::from_be_bytes([fixed[0], fixed[1]]));
}

#[inline]
fn rewrite_word_checksum(fixed: &mut [u8; MIN_HEADER_LEN], old: u16, new: u16) {
    let sum = checksum::update(u16::from_be_bytes([fixed[10], fixed[11]]), old, new);
    fixed[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// The fields of an outer IPv4 header the encapsulator chooses.
#[derive(Clone, Copy, Debug)]
pub struct OuterIpv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub ecn: u8,
    /// Length of the payload after this 20-byte header.
    pub payload_len: u16,
    /// Leave the checksum zero for the NIC to fill (DPDK's IPv4 checksum offload wants it zero).
    pub checksum_offloaded: bool,
}

/// Writes a 20-byte header. DF is set and the identification is 0: the gateway never fragments what it
/// encapsulates (over-MTU packets are dropped), so every datagram is atomic and RFC 6864 §4 lets its ID be any value.
pub fn write_header(out: &mut [u8; MIN_HEADER_LEN], fields: &OuterIpv4) {
    let total_len = fields.payload_len.saturating_add(MIN_HEADER_LEN as u16);
    out[0] = 0x45;
    out[1] = fields.ecn & 0x03;
    out[2..4].copy_from_slice(&total_len.to_be_bytes());
    out[4..6].copy_from_slice(&[0, 0]);
    out[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    out[8] = fields.ttl;
    out[9] = fields.protocol;
    out[10..12].copy_from_slice(&[0, 0]);
    out[12..16].copy_from_slice(&fields.src.octets());
    out[16..20].copy_from_slice(&fields.dst.octets());
    if !fields.checksum_offloaded {
        let sum = checksum::checksum(out);
        out[10..12].copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V9: &str = "4500004200024000402f4e55c0000201c6336401200008000a0b0c0d45000026000140004011f4610a2d0002cb0071359c40823500127d1268656c6c6f2d706d6970";

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn parses_shared_vector_v9() {
        let bytes = hex(V9);
        let packet = Ipv4Packet::parse(&bytes).unwrap();
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 66);
        assert_eq!(packet.protocol(), PROTOCOL_GRE);
        assert_eq!(packet.src(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(packet.dst(), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(packet.ttl(), 64);
        assert!(packet.header_checksum_ok());
        assert!(!packet.is_fragment(), "DF alone is not a fragment");
        assert_eq!(packet.payload().len(), 46);
    }

    #[test]
    fn padding_after_total_length_is_excluded() {
        let mut bytes = hex(V9);
        bytes.extend_from_slice(&[0; 6]);
        let packet = Ipv4Packet::parse(&bytes).unwrap();
        assert_eq!(packet.total_len(), 66);
        assert_eq!(packet.payload().len(), 46);
    }

    #[test]
    fn rejects_truncation_and_invalid_headers() {
        let bytes = hex(V9);
        for len in 0..bytes.len() {
            assert_eq!(Ipv4Packet::parse(&bytes[..len]).unwrap_err(), Ipv4Error::Truncated, "length {len}");
        }
        let mut v6 = bytes.clone();
        v6[0] = 0x65;
        assert_eq!(Ipv4Packet::parse(&v6).unwrap_err(), Ipv4Error::Invalid);
        let mut short_ihl = bytes.clone();
        short_ihl[0] = 0x44;
        assert_eq!(Ipv4Packet::parse(&short_ihl).unwrap_err(), Ipv4Error::Invalid);
        let mut short_total = bytes;
        short_total[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Ipv4Packet::parse(&short_total).unwrap_err(), Ipv4Error::Invalid);
    }

    #[test]
    fn options_are_skipped_and_covered_by_the_checksum() {
        // IHL 6: one option word (NOP NOP NOP EOL), checksum computed by etherparse.
        let options = etherparse::Ipv4Options::try_from(&[1u8, 1, 1, 0][..]).unwrap();
        let mut header =
            etherparse::Ipv4Header::new(4, 9, etherparse::IpNumber::UDP, [10, 0, 0, 1], [10, 0, 0, 2]).unwrap();
        header.options = options;
        header.set_payload_len(4).unwrap();
        header.header_checksum = header.calc_header_checksum();
        let mut bytes = header.to_bytes().to_vec();
        bytes.extend_from_slice(&[0xaa; 4]);
        let packet = Ipv4Packet::parse(&bytes).unwrap();
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.payload(), &[0xaa; 4]);
        assert!(packet.header_checksum_ok());
        bytes[21] ^= 0x40;
        assert!(!Ipv4Packet::parse(&bytes).unwrap().header_checksum_ok(), "an option byte is covered");
    }

    #[test]
    fn fragments_are_recognised() {
        let mut bytes = hex(V9);
        bytes[6] = 0x20; // MF
        assert!(Ipv4Packet::parse(&bytes).unwrap().is_fragment());
        bytes[6] = 0x00;
        bytes[7] = 0x01; // offset 8
        assert!(Ipv4Packet::parse(&bytes).unwrap().is_fragment());
    }

    #[test]
    fn ttl_decrement_equals_a_full_recomputation_for_every_checksum() {
        // Every starting checksum, whether or not the header was consistent: the update must be exactly the
        // RFC 1624 general form, which a valid header turns into the recomputed value.
        for ttl in [2u8, 64, 255] {
            for start in 0..=u16::MAX {
                let mut fixed = [0x45, 0, 0, 40, 0, 0, 0x40, 0, ttl, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
                fixed[10..12].copy_from_slice(&start.to_be_bytes());
                let expected =
                    checksum::update(start, u16::from_be_bytes([ttl, 17]), u16::from_be_bytes([ttl - 1, 17]));
                decrement_ttl(&mut fixed);
                assert_eq!(u16::from_be_bytes([fixed[10], fixed[11]]), expected, "ttl {ttl}, checksum {start:#06x}");
            }
        }
        let mut bytes = hex(V9);
        let fixed: &mut [u8; 20] = (&mut bytes[..20]).try_into().unwrap();
        decrement_ttl(fixed);
        let theirs = etherparse::Ipv4HeaderSlice::from_slice(&bytes).unwrap().to_header();
        assert_eq!(theirs.header_checksum, theirs.calc_header_checksum());
    }

    #[test]
    fn ttl_and_ecn_rewrites_keep_the_checksum_valid() {
        let mut bytes = hex(V9);
        let fixed: &mut [u8; 20] = (&mut bytes[..20]).try_into().unwrap();
        decrement_ttl(fixed);
        set_ecn(fixed, 0b11);
        let theirs = etherparse::Ipv4HeaderSlice::from_slice(&bytes).unwrap().to_header();
        assert_eq!(theirs.time_to_live, 63);
        assert_eq!(theirs.ecn.value(), 3);
        assert_eq!(theirs.header_checksum, theirs.calc_header_checksum());
    }

    #[test]
    fn written_header_is_what_etherparse_reads() {
        let mut out = [0u8; 20];
        let fields = OuterIpv4 {
            src: Ipv4Addr::new(198, 51, 100, 1),
            dst: Ipv4Addr::new(192, 0, 2, 1),
            protocol: PROTOCOL_GRE,
            ttl: 17,
            ecn: 0b10,
            payload_len: 100,
            checksum_offloaded: false,
        };
        write_header(&mut out, &fields);
        let theirs = etherparse::Ipv4HeaderSlice::from_slice(&out).unwrap().to_header();
        assert_eq!(theirs.source, [198, 51, 100, 1]);
        assert_eq!(theirs.destination, [192, 0, 2, 1]);
        assert_eq!(theirs.protocol, etherparse::IpNumber::GRE);
        assert_eq!(theirs.time_to_live, 17);
        assert_eq!(theirs.ecn.value(), 2);
        assert_eq!(theirs.total_len, 120);
        assert!(theirs.dont_fragment && !theirs.more_fragments);
        assert_eq!(theirs.header_checksum, theirs.calc_header_checksum());

        write_header(&mut out, &OuterIpv4 { checksum_offloaded: true, ..fields });
        assert_eq!(&out[10..12], &[0, 0], "left for the NIC");
    }
}
