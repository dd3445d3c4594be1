//! IPv4 fragmentation of packets too big for where they go (RFC 791 §3.2, RFC 1812 §5.2.6).
//!
//! The gateway fragments the *inner* packet and tunnels each fragment on its own (RFC 4459 §3.2), rather than
//! fragmenting the outer one: the tunnel's far end then decapsulates each fragment like any packet, and only the
//! packet's destination reassembles — the gateways at both ends keep no per-datagram state for it, and a lost
//! fragment costs the destination, not a tunnel endpoint's reassembly table. Only IPv4 without DF may be cut
//! (an IPv6 packet, or IPv4 with DF, is answered with Packet Too Big / Fragmentation Needed instead, `icmp.rs`).
//!
//! The pipeline has already rewritten the packet as if it fitted (Ethernet header, and for encapsulation the
//! outer headers in front of the inner packet) and said where the inner IPv4 header starts ([`Layout`]). Here
//! the first piece stays in the packet's own buffer; the others are copied into new buffers, each with the same
//! headers in front, an IPv4 header carrying the options marked for copying (RFC 791 §3.1), its offset and
//! More Fragments flag, and its checksums. Off the forwarding path: only an oversized packet comes here.

use super::{FastPath, Layout, Next};
use crate::counters::DropReason;
use crate::packet::PacketBuf;
use crate::wire::checksum;
use crate::wire::{ethernet, ipv4};
use crate::PortIndex;

/// Pieces one packet may be cut into: a 65,535-byte packet into the smallest MTU the gateway accepts.
pub const MAX_FRAGMENTS: usize = 128;

/// Why a packet could not be cut: no buffer for a piece (the pipeline checked the rest with [`Plan`]).
struct CutFailed;

/// Bits of the IPv4 flags / fragment offset word.
const DONT_FRAGMENT: u16 = 0x4000;
const MORE_FRAGMENTS: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

impl FastPath {
    /// Cuts a packet the pipeline marked [`Next::fragment`] into pieces that fit its egress port's MTU and hands
    /// them to `emit` in order, the first in `packet`'s own buffer, the others in buffers from `alloc`. Returns
    /// the number of pieces; on an error nothing is emitted, the packet is freed and the drop counted as
    /// `fragment-failed` (after the packet's encapsulated / decapsulated outcome, like `tx-failed`).
    pub fn fragment<P: PacketBuf>(
        &self,
        mut packet: P,
        next: Next,
        mut alloc: impl FnMut() -> Option<P>,
        mut emit: impl FnMut(P),
    ) -> Result<usize, DropReason> {
        let outcome = match next.fragments() {
            Some((port, layout)) => self.cut(&mut packet, port, layout, &mut alloc),
            None => Err(CutFailed),
        };
        match outcome {
            Ok(pieces) => {
                let count = pieces.iter().flatten().count() + 1;
                emit(packet);
                pieces.into_iter().flatten().for_each(emit);
                Ok(count)
            }
            Err(CutFailed) => {
                self.counters.count_drop(DropReason::FragmentFailed);
                Err(DropReason::FragmentFailed)
            }
        }
    }

    /// Builds the second and later pieces in new buffers, then trims `packet` to the first.
    fn cut<P: PacketBuf>(
        &self,
        packet: &mut P,
        port: PortIndex,
        layout: Layout,
        alloc: &mut impl FnMut() -> Option<P>,
    ) -> Result<[Option<P>; MAX_FRAGMENTS], CutFailed> {
        let mtu = usize::from(self.port(port).ok_or(CutFailed)?.mtu);
        let at = layout.inner_at();
        let frame = packet.data();
        // What the egress takes of the inner packet: its MTU less the headers in front (outer IP and GRE).
        let room = mtu.checked_sub(at - ethernet::HEADER_LEN).ok_or(CutFailed)?;
        let plan = Plan::new(frame.get(at..).unwrap_or_default(), room).ok_or(CutFailed)?;
        let Plan { header_len, first_data, later_data, later_len, later_header, data_len, .. } = plan;
        let mut out: [Option<P>; MAX_FRAGMENTS] = std::array::from_fn(|_| None);
        let mut offset = first_data;
        for slot in out.iter_mut().take(plan.pieces - 1) {
            let len = later_data.min(data_len - offset);
            let last = offset + len == data_len;
            let mut piece = alloc().ok_or(CutFailed)?;
            let bytes = piece.append(at + later_len + len).ok_or(CutFailed)?;
            bytes[..at].copy_from_slice(&frame[..at]);
            bytes[at..at + later_len].copy_from_slice(&later_header[..later_len]);
            let from = at + header_len + offset;
            bytes[at + later_len..].copy_from_slice(&frame[from..from + len]);
            let more = if last { plan.last_more } else { MORE_FRAGMENTS };
            finish(bytes, layout, later_len + len, more | ((plan.base_offset + offset) / 8) as u16);
            *slot = Some(piece);
            offset += len;
        }
        let first_len = at + header_len + first_data;
        let padding = packet.data().len() - first_len;
        if !packet.trim(padding) {
            return Err(CutFailed);
        }
        finish(packet.data_mut(), layout, header_len + first_data, MORE_FRAGMENTS | (plan.base_offset / 8) as u16);
        Ok(out)
    }
}

/// How an IPv4 packet is cut to fit `room` bytes: the data each piece carries (a multiple of 8 but the last)
/// and the header of the second and later pieces.
pub(super) struct Plan {
    pub pieces: usize,
    header_len: usize,
    data_len: usize,
    first_data: usize,
    later_data: usize,
    later_len: usize,
    later_header: [u8; 60],
    /// The packet's own offset, and its More Fragments bit, which its last piece keeps (it may be a fragment).
    base_offset: usize,
    last_more: u16,
}

impl Plan {
    /// The plan for the IPv4 packet at the start of `ip`; `None` when it may not or cannot be cut: DF set, an
    /// invalid header, an offset that would leave the 13-bit field, more than [`MAX_FRAGMENTS`] pieces, or it
    /// fits as it is.
    pub(super) fn new(ip: &[u8], room: usize) -> Option<Plan> {
        let header = ip.get(..ipv4::MIN_HEADER_LEN)?;
        let header_len = usize::from(header[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let flags = u16::from_be_bytes([header[6], header[7]]);
        let base_offset = usize::from(flags & OFFSET_MASK) * 8;
        // RFC 791 §3.2: the pieces' offsets must stay within the 13-bit field.
        if header_len < ipv4::MIN_HEADER_LEN || total < header_len || ip.len() < total || base_offset + total > 0xffff {
            return None;
        }
        if flags & DONT_FRAGMENT != 0 {
            return None;
        }
        let options = ip.get(ipv4::MIN_HEADER_LEN..header_len).unwrap_or_default();
        let mut later_header = [0u8; 60];
        let later_len = later_header_of(header, options, &mut later_header);
        let first_data = room.saturating_sub(header_len) & !7;
        let later_data = room.saturating_sub(later_len) & !7;
        let data_len = total - header_len;
        if first_data == 0 || later_data == 0 || first_data >= data_len {
            return None;
        }
        let pieces = 1 + (data_len - first_data).div_ceil(later_data);
        (pieces <= MAX_FRAGMENTS).then_some(Plan {
            pieces,
            header_len,
            data_len,
            first_data,
            later_data,
            later_len,
            later_header,
            base_offset,
            last_more: flags & MORE_FRAGMENTS,
        })
    }

    /// The bytes of IP packet the pieces carry in all: the packet, and a header more for each later piece.
    pub(super) fn bytes(&self) -> usize {
        self.header_len + self.data_len + (self.pieces - 1) * self.later_len
    }
}

/// The header of the second and later fragments: the fixed header and the options whose copied flag is set
/// (RFC 791 §3.1), padded with End of Option List to a multiple of four bytes. Returns its length.
fn later_header_of(fixed: &[u8], options: &[u8], out: &mut [u8; 60]) -> usize {
    let len = fixed.len().min(ipv4::MIN_HEADER_LEN);
    out[..len].copy_from_slice(&fixed[..len]);
    let mut len = ipv4::MIN_HEADER_LEN;
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            0 => break,
            1 => at += 1,
            _ => {
                let Some(&option_len) = options.get(at + 1) else { break };
                let option_len = usize::from(option_len);
                let Some(option) = options.get(at..at + option_len).filter(|_| option_len >= 2) else { break };
                if kind & 0x80 != 0 {
                    out[len..len + option_len].copy_from_slice(option);
                    len += option_len;
                }
                at += option_len;
            }
        }
    }
    let padded = len.next_multiple_of(4);
    out[len..padded].fill(0);
    out[0] = 0x40 | (padded / 4) as u8;
    padded
}

/// Sets one piece's lengths, fragment field and checksums: the inner IPv4 header (`inner_len` bytes with its
/// data) and the outer header in front of it, if any.
fn finish(frame: &mut [u8], layout: Layout, inner_len: usize, fragment: u16) {
    let at = layout.inner_at();
    let header_len = usize::from(frame[at] & 0x0f) * 4;
    let inner = &mut frame[at..at + header_len];
    inner[2..4].copy_from_slice(&(inner_len as u16).to_be_bytes());
    let keep = u16::from_be_bytes([inner[6], inner[7]]) & !(MORE_FRAGMENTS | OFFSET_MASK) & !DONT_FRAGMENT;
    inner[6..8].copy_from_slice(&(keep | fragment).to_be_bytes());
    inner[10..12].fill(0);
    let sum = checksum::checksum(inner);
    inner[10..12].copy_from_slice(&sum.to_be_bytes());
    let outer = ethernet::HEADER_LEN;
    let tunnel = at - outer;
    match layout {
        Layout::Plain => {}
        Layout::OuterIpv4 => {
            let header = &mut frame[outer..outer + ipv4::MIN_HEADER_LEN];
            header[2..4].copy_from_slice(&((tunnel + inner_len) as u16).to_be_bytes());
            header[10..12].fill(0);
            let sum = checksum::checksum(header);
            header[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        Layout::OuterIpv6 => {
            let payload = (tunnel - crate::wire::ipv6::HEADER_LEN + inner_len) as u16;
            frame[outer + 4..outer + 6].copy_from_slice(&payload.to_be_bytes());
        }
    }
}
