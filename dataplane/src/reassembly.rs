//! Reassembly of outer fragments: a tunnel peer (or a router between us) that fragments the outer IPv4 or IPv6
//! packet of a GRE tunnel sends pieces no binding can be found from; a worker rebuilds the packet here, then the
//! pipeline decapsulates it like any other.
//!
//! One table per worker, sized at start and never grown: `entries` datagrams in progress, each holding at most
//! [`MAX_PIECES`] fragments, found by hashing (source, destination, identification, protocol) — RFC 791 §3.2,
//! RFC 8200 §4.5 — with a short linear probe. Every way a datagram can fail is counted, per fragment, under its
//! own drop reason: the timeout ran out, no slot was free, fragments overlap (RFC 5722: the whole datagram goes),
//! or a fragment cannot belong to a valid datagram. Why not DPDK's `rte_ip_frag`: its reassembly frees failed
//! fragments without saying why (its statistics are compiled out of Debian's build), it needs EAL to test, and it
//! returns a chain of buffers the pipeline (which reads one contiguous buffer) would have to copy anyway; here
//! the rebuilt packet is written once into one buffer, and the table is tested and fuzzed without EAL.
//!
//! IPv6 fragments are taken when the Fragment header follows the fixed header directly (the form tunnel
//! endpoints send); the pipeline drops others as `fragment`.

use crate::counters::{DropReason, WorkerCounters};
use crate::packet::PacketBuf;
use crate::wire::{checksum, ethernet, ipv4, ipv6};
use std::hash::{BuildHasher, RandomState};

/// Fragments one datagram may have: a peer splitting one packet for a smaller MTU sends two or three.
pub const MAX_PIECES: usize = 16;
/// Slots a datagram's key may land in: its hash and the next ones.
const PROBE: usize = 8;

/// The reassembly table's size and patience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Datagrams in progress at once, per worker (rounded up to a power of two).
    pub entries: usize,
    /// Fragments held at once, per worker: each holds a packet buffer, and buffers held here are missing from
    /// the receive rings, so the gateway keeps this well below its pool (a flood of fragments that never
    /// complete must not starve the ports).
    pub max_held: usize,
    /// How long a datagram may take to complete, in nanoseconds of the pipeline's clock.
    pub timeout_ns: u64,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig { entries: 1024, max_held: 1024, timeout_ns: 2_000_000_000 }
    }
}

/// What identifies a datagram's fragments (RFC 791 §3.2; RFC 8200 §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    protocol: u8,
    ipv6: bool,
}

/// One fragment as it arrived, with where its parts are.
struct Piece<P> {
    packet: P,
    /// Byte offset of its data in the datagram, and the data's length.
    offset: usize,
    len: usize,
    /// Frame offsets: the end of the headers kept for the rebuilt packet (Ethernet and the IP header, without
    /// IPv6's Fragment header), and the start of the data.
    header_end: usize,
    data_at: usize,
}

struct Slot<P> {
    key: Option<Key>,
    deadline: u64,
    /// The datagram's data length, once its last fragment has arrived.
    total: Option<usize>,
    received: usize,
    /// The ECN codepoints its fragments carried, one bit each (RFC 3168 §5.3).
    ecn_seen: u8,
    pieces: Vec<Piece<P>>,
}

/// A parsed fragment: its key, where it goes, whether more follow, and its outer ECN field.
struct Fragment {
    key: Key,
    offset: usize,
    len: usize,
    more: bool,
    ecn: u8,
    header_end: usize,
    data_at: usize,
}

/// A worker's reassembly table. See the module documentation.
pub struct Reassembler<P> {
    slots: Vec<Slot<P>>,
    timeout_ns: u64,
    max_held: usize,
    /// Keys hash with a secret of this table's (SipHash): a sender cannot aim its fragments at one probe window.
    hasher: RandomState,
    /// Fragments held, and when the table is next searched for expired datagrams.
    held: usize,
    next_scan: u64,
}

impl<P: PacketBuf> Reassembler<P> {
    pub fn new(config: ReassemblyConfig) -> Self {
        let entries = config.entries.max(PROBE).next_power_of_two();
        let slots = (0..entries)
            .map(|_| Slot {
                key: None,
                deadline: 0,
                total: None,
                received: 0,
                ecn_seen: 0,
                pieces: Vec::with_capacity(MAX_PIECES),
            })
            .collect();
        Reassembler {
            slots,
            timeout_ns: config.timeout_ns,
            max_held: config.max_held,
            hasher: RandomState::new(),
            held: 0,
            next_scan: 0,
        }
    }

    /// Fragments waiting for the rest of their datagram.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Takes an outer fragment (one the pipeline answered with [`crate::pipeline::Next::REASSEMBLE`]) received
    /// at `now`. Returns the rebuilt packet when this fragment completed its datagram, in a buffer from `alloc`.
    pub fn add(
        &mut self,
        packet: P,
        now: u64,
        counters: &WorkerCounters,
        alloc: impl FnOnce() -> Option<P>,
    ) -> Option<P> {
        let outcome = self.insert(packet, now, counters, alloc);
        counters.path.reassembly_held.set(self.held as u64);
        outcome
    }

    fn insert(
        &mut self,
        packet: P,
        now: u64,
        counters: &WorkerCounters,
        alloc: impl FnOnce() -> Option<P>,
    ) -> Option<P> {
        let Some(fragment) = parse(packet.data()) else {
            counters.count_drop(DropReason::ReassemblyInvalid);
            return None;
        };
        let piece = Piece {
            packet,
            offset: fragment.offset,
            len: fragment.len,
            header_end: fragment.header_end,
            data_at: fragment.data_at,
        };
        // An IPv6 atomic fragment (offset 0, no more to come) is a whole packet: rebuilt alone, never mixed
        // with fragments that share its identification (RFC 6946 §4).
        if fragment.offset == 0 && !fragment.more {
            let rebuilt =
                rebuild(std::slice::from_ref(&piece), &fragment.key, fragment.len, ecn_mask(fragment.ecn), alloc);
            return self.finish(rebuilt, 1, counters);
        }
        if self.held >= self.max_held {
            counters.count_drop(DropReason::ReassemblyTableFull);
            return None;
        }
        let Some(at) = self.slot_for(&fragment.key, now, counters) else {
            counters.count_drop(DropReason::ReassemblyTableFull);
            return None;
        };
        let timeout = self.timeout_ns;
        let slot = &mut self.slots[at];
        if slot.key.is_none() {
            slot.key = Some(fragment.key);
            slot.deadline = now.saturating_add(timeout);
        }
        let end = fragment.offset + fragment.len;
        // RFC 8200 §4.5 lets an exact duplicate go alone instead of taking its datagram with it.
        if slot.pieces.iter().any(|p| p.offset == fragment.offset && p.len == fragment.len) {
            counters.count_drop(DropReason::ReassemblyDuplicate);
            return None;
        }
        let overlaps = slot.pieces.iter().any(|p| fragment.offset < p.offset + p.len && p.offset < end);
        let beyond_total = slot.total.is_some_and(|total| end > total || (!fragment.more && end != total));
        let last_too_short = !fragment.more && slot.pieces.iter().any(|p| p.offset + p.len > end);
        let failure = if overlaps {
            Some(DropReason::ReassemblyOverlap)
        } else if beyond_total || last_too_short || slot.pieces.len() == MAX_PIECES {
            Some(DropReason::ReassemblyInvalid)
        } else {
            None
        };
        if let Some(reason) = failure {
            counters.count_drop(reason);
            self.release(at, reason, counters);
            return None;
        }
        let slot = &mut self.slots[at];
        if !fragment.more {
            slot.total = Some(end);
        }
        slot.received += fragment.len;
        slot.ecn_seen |= ecn_mask(fragment.ecn);
        slot.pieces.push(piece);
        self.held += 1;
        if slot.total != Some(slot.received) {
            return None;
        }
        let count = slot.pieces.len();
        let rebuilt = rebuild(&slot.pieces, &fragment.key, slot.received, slot.ecn_seen, alloc);
        self.clear(at);
        self.finish(rebuilt, count, counters)
    }

    /// Counts a datagram rebuilt from `count` fragments, or dropped with them.
    fn finish(&mut self, rebuilt: Result<P, DropReason>, count: usize, counters: &WorkerCounters) -> Option<P> {
        match rebuilt {
            Ok(packet) => {
                counters.path.reassembled.add(1);
                counters.path.fragments_reassembled.add(count as u64);
                Some(packet)
            }
            Err(reason) => {
                counters.count_drops(reason, count as u64);
                None
            }
        }
    }

    /// The slot holding `key`'s datagram, or a free one for it (an expired datagram's, after dropping it).
    fn slot_for(&mut self, key: &Key, now: u64, counters: &WorkerCounters) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let start = self.hasher.hash_one(key) as usize;
        let mut free = None;
        for i in 0..PROBE {
            let at = start.wrapping_add(i) & mask;
            let slot = &self.slots[at];
            match &slot.key {
                Some(k) if k == key && slot.deadline > now => return Some(at),
                Some(k) if k == key || slot.deadline <= now => {
                    self.release(at, DropReason::ReassemblyTimeout, counters);
                    free = free.or(Some(at));
                }
                Some(_) => {}
                None => free = free.or(Some(at)),
            }
        }
        free
    }

    /// Drops every datagram whose time has run out; cheap to call often: it searches the table at most eight
    /// times per timeout, so a datagram goes at most an eighth of the timeout after its deadline (or at once,
    /// when a fragment needs its slot).
    pub fn expire(&mut self, now: u64, counters: &WorkerCounters) {
        if self.held == 0 || now < self.next_scan {
            return;
        }
        self.next_scan = now.saturating_add(self.timeout_ns / 8);
        for at in 0..self.slots.len() {
            if self.slots[at].key.is_some() && self.slots[at].deadline <= now {
                self.release(at, DropReason::ReassemblyTimeout, counters);
            }
        }
        counters.path.reassembly_held.set(self.held as u64);
    }

    /// Drops every datagram in progress, as timed out (the worker is stopping: none will complete).
    pub fn release_all(&mut self, counters: &WorkerCounters) {
        for at in 0..self.slots.len() {
            if self.slots[at].key.is_some() {
                self.release(at, DropReason::ReassemblyTimeout, counters);
            }
        }
        counters.path.reassembly_held.set(0);
    }

    /// Frees a datagram's fragments, each counted as dropped for `reason`.
    fn release(&mut self, at: usize, reason: DropReason, counters: &WorkerCounters) {
        let count = self.slots[at].pieces.len();
        counters.count_drops(reason, count as u64);
        self.clear(at);
    }

    fn clear(&mut self, at: usize) {
        let slot = &mut self.slots[at];
        self.held -= slot.pieces.len();
        slot.pieces.clear();
        slot.key = None;
        slot.total = None;
        slot.received = 0;
        slot.ecn_seen = 0;
    }
}

/// Reads an outer fragment: Ethernet, then IPv4 with MF or an offset, or IPv6 with a Fragment header first.
fn parse(frame: &[u8]) -> Option<Fragment> {
    const ETH: usize = ethernet::HEADER_LEN;
    let ethertype = u16::from_be_bytes(*crate::wire::array_at::<2>(frame, 12)?);
    let be16 = |at: usize| crate::wire::array_at::<2>(frame, at).map(|b| u16::from_be_bytes(*b));
    let (key, offset, more, ecn, header_end, data_at, end) = match ethertype {
        ethernet::ETHERTYPE_IPV4 => {
            let header = crate::wire::array_at::<{ ipv4::MIN_HEADER_LEN }>(frame, ETH)?;
            let header_len = usize::from(header[0] & 0x0f) * 4;
            let total = usize::from(be16(ETH + 2)?);
            let field = be16(ETH + 6)?;
            let (mut src, mut dst) = ([0; 16], [0; 16]);
            src[..4].copy_from_slice(&header[12..16]);
            dst[..4].copy_from_slice(&header[16..20]);
            let key = Key { src, dst, id: u32::from(be16(ETH + 4)?), protocol: header[9], ipv6: false };
            if header_len < ipv4::MIN_HEADER_LEN || total < header_len {
                return None;
            }
            let offset = usize::from(field & 0x1fff) * 8;
            let ecn = header[1] & 0x03;
            (key, offset, field & 0x2000 != 0, ecn, ETH + header_len, ETH + header_len, ETH + total)
        }
        ethernet::ETHERTYPE_IPV6 => {
            let header = crate::wire::array_at::<{ ipv6::HEADER_LEN + 8 }>(frame, ETH)?;
            if header[6] != ipv6::NEXT_HEADER_FRAGMENT {
                return None;
            }
            let fragment = &header[ipv6::HEADER_LEN..];
            let field = u16::from_be_bytes([fragment[2], fragment[3]]);
            let id = u32::from_be_bytes([fragment[4], fragment[5], fragment[6], fragment[7]]);
            let (mut src, mut dst) = ([0; 16], [0; 16]);
            src.copy_from_slice(&header[8..24]);
            dst.copy_from_slice(&header[24..40]);
            let key = Key { src, dst, id, protocol: fragment[0], ipv6: true };
            let end = ETH + ipv6::HEADER_LEN + usize::from(be16(ETH + 4)?);
            let header_end = ETH + ipv6::HEADER_LEN;
            let ecn = (header[1] >> 4) & 0x03;
            (key, usize::from(field & 0xfff8), field & 1 != 0, ecn, header_end, header_end + 8, end)
        }
        _ => return None,
    };
    let len = end.checked_sub(data_at)?;
    // Every fragment but the last carries a multiple of 8 bytes; the datagram fits its length field.
    let limit = if key.ipv6 { 65_535 } else { 65_535 - (header_end - ETH) };
    if end > frame.len() || len == 0 || (more && len % 8 != 0) || offset + len > limit {
        return None;
    }
    Some(Fragment { key, offset, len, more, ecn, header_end, data_at })
}

/// One bit per ECN codepoint (Not-ECT, ECT(1), ECT(0), CE).
fn ecn_mask(ecn: u8) -> u8 {
    1 << (ecn & 0x03)
}

/// The ECN field of a datagram whose fragments carried the codepoints in `seen` (RFC 3168 §5.3): CE if any
/// fragment had it, else the first's; `None` when Not-ECT and ECT fragments are mixed, which the RFC says to
/// drop.
fn merged_ecn(seen: u8, first: u8) -> Option<u8> {
    const NOT_ECT: u8 = 1;
    if seen & NOT_ECT != 0 && seen & !NOT_ECT != 0 {
        return None;
    }
    Some(if seen & ecn_mask(3) != 0 { 3 } else { first & 0x03 })
}

/// Writes the datagram of `pieces` (covering `total` bytes with no gap or overlap) into a new buffer: the first
/// fragment's Ethernet and IP header, with the fragmentation fields gone and the merged ECN field, then every
/// fragment's data in place.
fn rebuild<P: PacketBuf>(
    pieces: &[Piece<P>],
    key: &Key,
    total: usize,
    ecn_seen: u8,
    alloc: impl FnOnce() -> Option<P>,
) -> Result<P, DropReason> {
    const ETH: usize = ethernet::HEADER_LEN;
    let first = pieces.iter().find(|p| p.offset == 0).ok_or(DropReason::ReassemblyInvalid)?;
    let head = first.packet.data().get(..first.header_end).ok_or(DropReason::ReassemblyInvalid)?;
    let ip_len = head.len() - ETH;
    // The first fragment's header may be longer than another's (IPv4 options): the whole must still fit.
    let length = if key.ipv6 { total } else { ip_len + total };
    let length = u16::try_from(length).map_err(|_| DropReason::ReassemblyInvalid)?;
    let first_ecn = if key.ipv6 { (head[ETH + 1] >> 4) & 0x03 } else { head[ETH + 1] & 0x03 };
    let ecn = merged_ecn(ecn_seen, first_ecn).ok_or(DropReason::ReassemblyInvalid)?;
    let mut packet = alloc().ok_or(DropReason::NoBuffer)?;
    let out = packet.append(head.len() + total).ok_or(DropReason::NoBuffer)?;
    out[..head.len()].copy_from_slice(head);
    for piece in pieces {
        let data = piece.packet.data().get(piece.data_at..piece.data_at + piece.len);
        let to = head.len() + piece.offset;
        match (data, out.get_mut(to..to + piece.len)) {
            (Some(data), Some(place)) => place.copy_from_slice(data),
            _ => return Err(DropReason::ReassemblyInvalid),
        }
    }
    let ip = &mut out[ETH..head.len()];
    if key.ipv6 {
        // The Fragment header's next header takes its place (RFC 8200 §4.5).
        ip[6] = key.protocol;
        ip[4..6].copy_from_slice(&length.to_be_bytes());
        ip[1] = (ip[1] & 0xcf) | ecn << 4;
    } else {
        ip[1] = (ip[1] & 0xfc) | ecn;
        ip[2..4].copy_from_slice(&length.to_be_bytes());
        let keep = u16::from_be_bytes([ip[6], ip[7]]) & 0xc000;
        ip[6..8].copy_from_slice(&keep.to_be_bytes());
        ip[10..12].fill(0);
        let sum = checksum::checksum(ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    Ok(packet)
}
