//! Stage 1's fast lane: the frame shapes nearly all traffic has, read at fixed offsets with one bounds check per
//! header and no intermediate views.
//!
//! The shapes: Ethernet, then IPv4 without options or IPv6 straight to the upper layer, then either plain IP (for
//! a UE or from one) or keyed GRE with only the K bit set around an IPv4 packet without options or an IPv6
//! packet. The lane takes a frame only when it is sure of the outcome the full parser (`ingress.rs`) would reach,
//! and fills the same [`Pending`]; anything else — other shapes, every punt, every refusal, a checksum to verify
//! that fails — goes to the full parser, which makes that decision. A test holds the two to the same answers.

use super::ingress::{is_link_scope, Pending};
use super::{FastPath, IpFamily, Roles};
use crate::packet::RxChecksum;
use crate::wire::checksum::verifies_20;
use crate::wire::ethernet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADER_LEN as ETH};
use crate::wire::ipv4::{MIN_HEADER_LEN as IPV4_LEN, PROTOCOL_GRE};
use crate::wire::ipv6::{traffic_class, HEADER_LEN as IPV6_LEN, NEXT_HEADER_GRE};
use crate::wire::{array_at, gre::KEYED_HEADER_LEN as GRE_LEN};

/// The first GRE word with only the key present, version 0 (RFC 2784 §2, RFC 2890 §2), carrying IPv4 / IPv6.
pub(super) const GRE_KEYED_IPV4: u32 = 0x2000_0000 | ETHERTYPE_IPV4 as u32;
pub(super) const GRE_KEYED_IPV6: u32 = 0x2000_0000 | ETHERTYPE_IPV6 as u32;
/// Version 4, five words of header: IPv4 without options.
const IPV4_NO_OPTIONS: u8 = 0x45;

/// Big-endian fields of a fixed-size header (the bounds are checked once, when the array is taken).
#[inline(always)]
pub(super) fn be16<const N: usize>(bytes: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

#[inline(always)]
pub(super) fn be32<const N: usize>(bytes: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[inline(always)]
pub(super) fn be64<const N: usize>(bytes: &[u8; N], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(word)
}

impl FastPath {
    /// Classifies a frame of a common shape; `false` leaves it, and `work`, to the full parser.
    #[inline(always)]
    pub(super) fn classify_common(&self, roles: Roles, frame: &[u8], nic: RxChecksum, work: &mut Pending) -> bool {
        let Some(head) = array_at::<{ ETH + 1 }>(frame, 0) else { return false };
        match be16(head, 12) {
            ETHERTYPE_IPV4 if head[ETH] == IPV4_NO_OPTIONS => self.common_ipv4(roles, frame, nic, work),
            ETHERTYPE_IPV6 if head[ETH] >> 4 == 6 => self.common_ipv6(roles, frame, work),
            _ => false,
        }
    }

    #[inline(always)]
    fn common_ipv4(&self, roles: Roles, frame: &[u8], nic: RxChecksum, work: &mut Pending) -> bool {
        const END: usize = ETH + IPV4_LEN;
        let Some(h) = array_at::<END>(frame, 0) else { return false };
        let total = usize::from(be16(h, ETH + 2));
        if total < IPV4_LEN || ETH + total > frame.len() {
            return false;
        }
        let checksum_ok = match nic {
            RxChecksum::Good => true,
            RxChecksum::Bad => false,
            RxChecksum::Unknown => array_at::<IPV4_LEN>(h, ETH).is_some_and(verifies_20),
        };
        if !checksum_ok {
            return false;
        }
        let dst = be32(h, ETH + 16);
        let local = self.local.ipv4(dst);
        let tos = h[ETH + 1];
        if !local.any() {
            let src = be32(h, ETH + 12);
            self.classify_plain(roles, IpFamily::V4, total, h[ETH + 8], tos, dst.into(), src.into(), work);
            return true;
        }
        let fragment = be16(h, ETH + 6) & 0x3fff != 0;
        if h[ETH + 9] != PROTOCOL_GRE || !local.tunnel() || !roles.core || fragment {
            return false;
        }
        self.common_gre(frame, local, tos & 0x03, (ETH + 12, 4), END, ETH + total, work)
    }

    #[inline(always)]
    fn common_ipv6(&self, roles: Roles, frame: &[u8], work: &mut Pending) -> bool {
        const END: usize = ETH + IPV6_LEN;
        let Some(h) = array_at::<END>(frame, 0) else { return false };
        let total = IPV6_LEN + usize::from(be16(h, ETH + 4));
        if ETH + total > frame.len() {
            return false;
        }
        let Some(dst) = array_at::<16>(h, ETH + 24) else { return false };
        let local = self.local.ipv6(dst);
        let Some(fixed) = array_at::<2>(h, ETH) else { return false };
        let class = traffic_class(fixed);
        if !local.any() && !is_link_scope(dst) {
            let (dst, src) = (be64(h, ETH + 24), be64(h, ETH + 8));
            self.classify_plain(roles, IpFamily::V6, total, h[ETH + 7], class, dst, src, work);
            return true;
        }
        if h[ETH + 6] != NEXT_HEADER_GRE || !local.tunnel() || !roles.core {
            return false;
        }
        self.common_gre(frame, local, class & 0x03, (ETH + 8, 16), END, ETH + total, work)
    }

    /// Keyed GRE at `at`, the outer packet ending at `end`, around an inner packet the lane can read.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn common_gre(
        &self,
        frame: &[u8],
        local: super::Local,
        outer_ecn: u8,
        src: (usize, u8),
        at: usize,
        end: usize,
        work: &mut Pending,
    ) -> bool {
        let Some(gre) = array_at::<GRE_LEN>(frame, at) else { return false };
        let inner_at = at + GRE_LEN;
        let room = end.saturating_sub(inner_at);
        let family = match be32(gre, 0) {
            GRE_KEYED_IPV4 => IpFamily::V4,
            GRE_KEYED_IPV6 => IpFamily::V6,
            _ => return false,
        };
        let inner = match family {
            IpFamily::V4 => {
                let Some(ip) = array_at::<IPV4_LEN>(frame, inner_at) else { return false };
                let len = usize::from(be16(ip, 2));
                if ip[0] != IPV4_NO_OPTIONS || len < IPV4_LEN || len > room || !verifies_20(ip) {
                    return false;
                }
                (len, ip[8], ip[1], u64::from(be32(ip, 12)))
            }
            IpFamily::V6 => {
                let Some(ip) = array_at::<IPV6_LEN>(frame, inner_at) else { return false };
                let len = IPV6_LEN + usize::from(be16(ip, 4));
                if ip[0] >> 4 != 6 || len > room {
                    return false;
                }
                (len, ip[7], traffic_class(ip), be64(ip, 8))
            }
        };
        self.tunnelled(local, outer_ecn, src, inner_at, be32(gre, 4), family, Some(inner), work);
        true
    }
}
