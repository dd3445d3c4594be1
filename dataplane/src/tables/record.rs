//! One binding as a worker's packets see it: a 128-byte [`Record`], two adjacent cache lines fetched together.
//!
//! - Line 0 holds everything the per-packet path reads to verify a lookup and decide (the receive key, the UE
//!   addresses, flags, the UE's MAC) and the binding's packet and byte counters, which it writes.
//! - Line 1 holds the outer headers of every packet sent on the binding (Ethernet, outer IPv4 or IPv6, keyed
//!   GRE), built once when the binding is installed. Encapsulation copies them and patches the lengths, the ECN
//!   field, the GRE protocol type and the IPv4 checksum (incrementally, or left to the NIC).
//!
//! Every field is a relaxed atomic: the owning worker is the only writer (between bursts for the binding data,
//! per burst for the counters) and other threads read the counters at any time. On x86 a relaxed load or store
//! is a plain `mov`.

use crate::binding::{Binding, Function, TunnelEndpoints, Way};
use crate::counters::{BindingSnapshot, Counter};
use crate::dpdk::HugePages;
use crate::nexthop::{pack_mac, unpack_mac};
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::ipv4::{self, OuterIpv4};
use crate::wire::ipv6::{self, OuterIpv6};
use crate::wire::{array_at_mut, gre};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Bits of [`Record`]'s flags word.
pub(crate) mod flag {
    /// The slot holds a binding.
    pub const VALID: u32 = 1;
    /// A MAG binding (else an LMA one).
    pub const MAG: u32 = 1 << 1;
    /// The binding receives with `rx_key` (the LMA's uplink key, the MAG's downlink key).
    pub const RX_KEY: u32 = 1 << 2;
    /// The binding has its sending key: the template is complete and packets can be encapsulated.
    pub const TX: u32 = 1 << 3;
    pub const UE_IPV4: u32 = 1 << 4;
    pub const UE_IPV6: u32 = 1 << 5;
    /// The tunnel runs over IPv6 (else IPv4).
    pub const OUTER_IPV6: u32 = 1 << 6;
    /// The template's destination MAC is a placeholder: the `core` port's resolved next hop goes there.
    pub const CORE_MAC_FROM_PORT: u32 = 1 << 7;
    /// The NIC computes the outer IPv4 checksum: the template's is zero and stays so.
    pub const CHECKSUM_OFFLOAD: u32 = 1 << 8;
}

/// Where the template starts in line 1: two bytes in, so the outer IP header is 8-byte aligned and the remote
/// address ends exactly at a word boundary.
const TEMPLATE_AT: usize = 2;
/// Ethernet + IPv4 + keyed GRE.
pub(crate) const TEMPLATE_LEN_V4: usize = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN + gre::KEYED_HEADER_LEN;
/// Ethernet + IPv6 + keyed GRE: 62 bytes, so line 1 is exactly full.
pub(crate) const TEMPLATE_LEN_V6: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + gre::KEYED_HEADER_LEN;

/// Ethernet + outer IP + GRE of a record with `flags`: what its template writes in front of the inner packet.
#[inline(always)]
pub(crate) fn template_len(flags: u32) -> usize {
    if flags & flag::OUTER_IPV6 != 0 {
        TEMPLATE_LEN_V6
    } else {
        TEMPLATE_LEN_V4
    }
}

/// Frame offsets of the fields patched per packet.
const V4_TOTAL_LEN: usize = ethernet::HEADER_LEN + 2;
const V4_CHECKSUM: usize = ethernet::HEADER_LEN + 10;
const V4_GRE_PROTOCOL: usize = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN + 2;
const V6_PAYLOAD_LEN: usize = ethernet::HEADER_LEN + 4;
const V6_GRE_PROTOCOL: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + 2;
/// Line-1 offsets of the remote (peer) address in the template: the outer destination.
const V4_REMOTE_AT: usize = TEMPLATE_AT + ethernet::HEADER_LEN + 16;
const V6_REMOTE_AT: usize = TEMPLATE_AT + ethernet::HEADER_LEN + 24;

/// What the worker knows when it builds a template: the `core` port's address and how it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateContext {
    /// Source MAC of encapsulated frames.
    pub core_mac: MacAddr,
    /// TTL / hop limit of outer headers.
    pub hop_limit: u8,
    /// The `core` port fills outer IPv4 checksums.
    pub checksum_offload: bool,
    /// The DSCP every outer header carries, or 0 when each copies its inner packet's (added per packet).
    pub fixed_dscp: u8,
}

impl Default for TemplateContext {
    fn default() -> Self {
        TemplateContext { core_mac: MacAddr::default(), hop_limit: 64, checksum_offload: false, fixed_dscp: 0 }
    }
}

#[derive(Debug, Default)]
#[repr(C, align(64))]
struct Hot {
    rx_key: AtomicU32,
    ue_ipv4: AtomicU32,
    flags: AtomicU32,
    /// IPv4 transport: the remote end's address (as it is on the wire), so that a MAG's check of the LMAA reads
    /// line 0 alone. An IPv6 remote is only in line 1.
    remote_ipv4: AtomicU32,
    ue_prefix64: AtomicU64,
    /// MAG: the UE's MAC (out of `access`), packed by [`pack_mac`].
    access_mac: AtomicU64,
    /// Packets and bytes per [`Way`]: uplink packets, uplink bytes, downlink packets, downlink bytes.
    counters: [Counter; 4],
}

/// One binding's slot in a worker's table. See the module documentation.
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct Record {
    hot: Hot,
    template: [AtomicU64; 8],
}

const _: () = assert!(std::mem::size_of::<Hot>() == 64 && std::mem::size_of::<Record>() == 128);

/// A record's data, read out once for a packet (the counters aside).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct View {
    pub flags: u32,
    pub rx_key: u32,
    pub ue_ipv4: u32,
    pub ue_prefix64: u64,
}

impl View {
    #[inline(always)]
    pub fn has(&self, bits: u32) -> bool {
        self.flags & bits == bits
    }
    #[inline(always)]
    pub fn function(&self) -> Function {
        if self.flags & flag::MAG != 0 {
            Function::Mag
        } else {
            Function::Lma
        }
    }
}

/// The flags a record must have to serve a UE lookup: `mask` selects them, `want` is what they must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UeFlags {
    mask: u32,
    want: u32,
}

impl UeFlags {
    /// A live binding of `function` with a UE address of the family.
    #[inline(always)]
    pub const fn new(function: Function, ipv6: bool) -> Self {
        let has = if ipv6 { flag::UE_IPV6 } else { flag::UE_IPV4 };
        let mag = if matches!(function, Function::Mag) { flag::MAG } else { 0 };
        UeFlags { mask: flag::VALID | has | flag::MAG, want: flag::VALID | has | mag }
    }

    /// For IPv4 and IPv6 UEs, indexed by [`usize::from`] of "is IPv6".
    #[inline(always)]
    pub const fn per_family(function: Function) -> [Self; 2] {
        [Self::new(function, false), Self::new(function, true)]
    }
}

impl Record {
    /// Starts loading both lines.
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        crate::dpdk::prefetch(&self.hot);
        crate::dpdk::prefetch(&self.template);
    }

    /// Starts loading line 0 only: all that an LMA's decapsulation reads. Each line loaded ahead holds one of the
    /// few loads a core keeps in flight, and at 1M bindings those are what the lane waits for.
    #[inline(always)]
    pub(crate) fn prefetch_line0(&self) {
        crate::dpdk::prefetch(&self.hot);
    }

    /// Is this a live binding of `function` whose UE has the IPv4 address (`ipv6` false) or the /64 upper bits
    /// (`ipv6` true) `value`? Reads only what the answer needs.
    #[inline(always)]
    pub(crate) fn serves(&self, function: Function, ipv6: bool, value: u64) -> bool {
        self.serves_as(UeFlags::new(function, ipv6), ipv6, value)
    }

    /// [`Record::serves`] with the flags to check worked out before (once per burst in the fast path).
    #[inline(always)]
    pub(crate) fn serves_as(&self, flags: UeFlags, ipv6: bool, value: u64) -> bool {
        if self.hot.flags.load(Relaxed) & flags.mask != flags.want {
            return false;
        }
        if ipv6 {
            self.hot.ue_prefix64.load(Relaxed) == value
        } else {
            u64::from(self.hot.ue_ipv4.load(Relaxed)) == value
        }
    }

    /// The flags word ([`flag`]).
    #[inline(always)]
    pub(crate) fn flags(&self) -> u32 {
        self.hot.flags.load(Relaxed)
    }

    /// Is this a live binding of `function` that receives with `key` from `remote` (the outer source, 4 or 16
    /// bytes; a MAG binding's LMAA — the LMA does not check it, TS 29.275 §6.3)?
    #[inline(always)]
    pub(crate) fn receives(&self, function: Function, key: u32, remote: &[u8]) -> bool {
        let flags = self.flags();
        let want = flag::VALID | flag::RX_KEY | if function == Function::Mag { flag::MAG } else { 0 };
        flags & (flag::VALID | flag::RX_KEY | flag::MAG) == want
            && self.hot.rx_key.load(Relaxed) == key
            && (function == Function::Lma || self.remote_is(flags, remote))
    }

    /// The slot holds a binding.
    #[inline(always)]
    pub(crate) fn is_live(&self) -> bool {
        self.flags() & flag::VALID != 0
    }

    /// Reads line 0's binding data.
    #[inline(always)]
    pub(crate) fn view(&self) -> View {
        View {
            flags: self.hot.flags.load(Relaxed),
            rx_key: self.hot.rx_key.load(Relaxed),
            ue_ipv4: self.hot.ue_ipv4.load(Relaxed),
            ue_prefix64: self.hot.ue_prefix64.load(Relaxed),
        }
    }

    /// The UE's MAC for MAG downlink, if the binding has one.
    #[inline(always)]
    pub(crate) fn access_mac(&self) -> Option<MacAddr> {
        unpack_mac(self.hot.access_mac.load(Relaxed))
    }

    /// Is `src` (the outer source of a received packet, 4 or 16 bytes) this tunnel's remote end?
    #[inline(always)]
    pub(crate) fn remote_is(&self, flags: u32, src: &[u8]) -> bool {
        if flags & flag::OUTER_IPV6 != 0 {
            // The remote address is word-aligned in line 1 (see TEMPLATE_AT): compare whole words.
            let word = |at: usize| self.template.get(at / 8).map_or(0, |w| w.load(Relaxed)).to_ne_bytes();
            src.len() == 16 && src[..8] == word(V6_REMOTE_AT) && src[8..] == word(V6_REMOTE_AT + 8)
        } else {
            src.len() == 4 && src[..] == self.hot.remote_ipv4.load(Relaxed).to_ne_bytes()
        }
    }

    /// Adds packets and bytes to the binding's counters for `way`.
    #[inline(always)]
    pub(crate) fn count(&self, way: Way, packets: u64, bytes: u64) {
        let at = way as usize * 2;
        self.hot.counters[at].add(packets);
        self.hot.counters[at + 1].add(bytes);
    }

    /// The GRE key packets are sent with (0 without one).
    pub fn tx_key(&self) -> u32 {
        let line = self.template_bytes();
        let end = TEMPLATE_AT + template_len(self.hot.flags.load(Relaxed));
        line.get(end - 4..end).map_or(0, |key| u32::from_be_bytes([key[0], key[1], key[2], key[3]]))
    }

    pub fn counters(&self) -> BindingSnapshot {
        BindingSnapshot {
            uplink_packets: self.hot.counters[0].get(),
            uplink_bytes: self.hot.counters[1].get(),
            downlink_packets: self.hot.counters[2].get(),
            downlink_bytes: self.hot.counters[3].get(),
        }
    }

    #[inline(always)]
    fn template_bytes(&self) -> [u8; 64] {
        let mut line = [0u8; 64];
        for (chunk, word) in line.chunks_exact_mut(8).zip(&self.template) {
            chunk.copy_from_slice(&word.load(Relaxed).to_ne_bytes());
        }
        line
    }

    /// Copies the template's first `N` bytes (42 or 62) word by word: the first word's last six bytes, then whole
    /// words, then what is left of the last one.
    #[inline(always)]
    fn copy_template<const N: usize>(&self, out: &mut [u8; N]) {
        let word = |i: usize| self.template.get(i).map_or(0, |w| w.load(Relaxed)).to_ne_bytes();
        let first = 8 - TEMPLATE_AT;
        if let (Some(to), Some(from)) = (out.get_mut(..first), word(0).get(TEMPLATE_AT..)) {
            to.copy_from_slice(from);
        }
        let mut at = first;
        let mut i = 1;
        while at + 8 <= N {
            if let Some(to) = out.get_mut(at..at + 8) {
                to.copy_from_slice(&word(i));
            }
            at += 8;
            i += 1;
        }
        let rest = N - at;
        if let (Some(to), Some(from)) = (out.get_mut(at..), word(i).get(..rest)) {
            to.copy_from_slice(from);
        }
    }

    /// Writes the outer headers in front of an inner packet of `inner_len` bytes: `frame` starts where the
    /// template goes and is at least the template's length. `core_mac` (the first six bytes of an Ethernet header
    /// towards the `core` port's next hop) replaces the template's destination when the binding has no MAC of its
    /// own. Returns the template's length.
    #[inline(always)]
    pub(crate) fn write_outer(
        &self,
        flags: u32,
        frame: &mut [u8],
        core_mac: Option<&[u8; ethernet::HEADER_LEN]>,
        inner_ethertype: u16,
        inner_len: usize,
        outer_tos: u8,
    ) -> Option<usize> {
        let len = if flags & flag::OUTER_IPV6 != 0 {
            let out = array_at_mut::<TEMPLATE_LEN_V6>(frame, 0)?;
            self.copy_template(out);
            let payload_len = (gre::KEYED_HEADER_LEN + inner_len) as u16;
            out[V6_PAYLOAD_LEN..V6_PAYLOAD_LEN + 2].copy_from_slice(&payload_len.to_be_bytes());
            // The traffic class sits across the first two bytes, after the version (RFC 8200 §3).
            out[ethernet::HEADER_LEN] |= outer_tos >> 4;
            out[ethernet::HEADER_LEN + 1] |= outer_tos << 4;
            out[V6_GRE_PROTOCOL..V6_GRE_PROTOCOL + 2].copy_from_slice(&inner_ethertype.to_be_bytes());
            TEMPLATE_LEN_V6
        } else {
            let out = array_at_mut::<TEMPLATE_LEN_V4>(frame, 0)?;
            self.copy_template(out);
            // The length and TOS as they go on the wire, read back in the machine's byte order.
            let total_len = ((ipv4::MIN_HEADER_LEN + gre::KEYED_HEADER_LEN + inner_len) as u16).to_be();
            out[V4_TOTAL_LEN..V4_TOTAL_LEN + 2].copy_from_slice(&total_len.to_ne_bytes());
            out[ethernet::HEADER_LEN + 1] |= outer_tos;
            if flags & flag::CHECKSUM_OFFLOAD == 0 {
                // RFC 1624: the template's checksum covers a zero length and the TOS bits it has; add what the
                // packet adds to both words. Summed in the machine's byte order, which the one's complement sum
                // is independent of (RFC 1071 §2 B): no byte swaps.
                let old = u16::from_ne_bytes([out[V4_CHECKSUM], out[V4_CHECKSUM + 1]]);
                let sum = u32::from(!old) + u32::from(total_len) + u32::from(u16::from(outer_tos).to_be());
                let sum = (sum & 0xffff) + (sum >> 16);
                let sum = (sum & 0xffff) + (sum >> 16);
                out[V4_CHECKSUM..V4_CHECKSUM + 2].copy_from_slice(&(!(sum as u16)).to_ne_bytes());
            }
            out[V4_GRE_PROTOCOL..V4_GRE_PROTOCOL + 2].copy_from_slice(&inner_ethertype.to_be_bytes());
            TEMPLATE_LEN_V4
        };
        if let (Some(mac), Some(to)) = (core_mac, frame.get_mut(..6)) {
            to.copy_from_slice(&mac[..6]);
        }
        Some(len)
    }

    /// Fills the slot from `binding`; with `fresh`, a new occupant, the counters restart from zero.
    pub(crate) fn store(&self, binding: &Binding, context: &TemplateContext, fresh: bool) {
        let mut flags = flag::VALID;
        if binding.function == Function::Mag {
            flags |= flag::MAG;
        }
        let rx_key = match binding.function {
            Function::Lma => binding.uplink_key,
            Function::Mag => binding.downlink_key,
        };
        if rx_key.is_some() {
            flags |= flag::RX_KEY;
        }
        let tx_key = binding.tx_key();
        if tx_key.is_some() {
            flags |= flag::TX;
        }
        if binding.ue_ipv4.is_some() {
            flags |= flag::UE_IPV4;
        }
        if binding.ue_ipv6_prefix.is_some() {
            flags |= flag::UE_IPV6;
        }
        if matches!(binding.tunnel, TunnelEndpoints::Ipv6 { .. }) {
            flags |= flag::OUTER_IPV6;
        }
        if binding.next_hop.core.is_none() {
            flags |= flag::CORE_MAC_FROM_PORT;
        }
        if context.checksum_offload && matches!(binding.tunnel, TunnelEndpoints::Ipv4 { .. }) {
            flags |= flag::CHECKSUM_OFFLOAD;
        }
        let mut line = [0u8; 64];
        write_template(&mut line[TEMPLATE_AT..], binding, tx_key.unwrap_or(0), context);
        for (word, chunk) in self.template.iter().zip(line.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            word.store(u64::from_ne_bytes(bytes), Relaxed);
        }
        let hot = &self.hot;
        hot.rx_key.store(rx_key.unwrap_or(0), Relaxed);
        hot.ue_ipv4.store(binding.ue_ipv4.map_or(0, u32::from), Relaxed);
        hot.ue_prefix64.store(binding.ue_prefix64().unwrap_or(0), Relaxed);
        hot.access_mac.store(pack_mac(binding.next_hop.access), Relaxed);
        let remote_ipv4 = match binding.tunnel {
            TunnelEndpoints::Ipv4 { remote, .. } => u32::from_ne_bytes(remote.octets()),
            TunnelEndpoints::Ipv6 { .. } => 0,
        };
        hot.remote_ipv4.store(remote_ipv4, Relaxed);
        if fresh {
            for counter in &hot.counters {
                counter.reset();
            }
        }
        hot.flags.store(flags, Relaxed);
    }

    /// Empties the slot: no lookup matches it any more.
    pub(crate) fn clear(&self) {
        self.hot.flags.store(0, Relaxed);
    }

    /// The 32-bit fold of the remote (LMAA) address that a displaced MAG key is indexed with (applying updates).
    pub(crate) fn remote_fold(&self, flags: u32) -> u32 {
        let line = self.template_bytes();
        let range = if flags & flag::OUTER_IPV6 != 0 {
            V6_REMOTE_AT..V6_REMOTE_AT + 16
        } else {
            V4_REMOTE_AT..V4_REMOTE_AT + 4
        };
        fold_address(line.get(range).unwrap_or_default())
    }
}

/// A 32-bit summary of an address, for hashing only (the record compares the whole address).
#[inline(always)]
pub(crate) fn fold_address(address: &[u8]) -> u32 {
    address.chunks(4).fold(0u32, |acc, chunk| {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        acc.rotate_left(5) ^ u32::from_ne_bytes(word)
    })
}

/// The outer headers with zero length and ECN and the fixed DSCP (if any), and the IPv4 checksum over exactly that.
fn write_template(out: &mut [u8], binding: &Binding, tx_key: u32, context: &TemplateContext) {
    let destination = binding.next_hop.core.unwrap_or_default();
    let (ethertype, ip_len) = match binding.tunnel {
        TunnelEndpoints::Ipv4 { local, remote } => {
            if let Some(header) = array_at_mut(out, ethernet::HEADER_LEN) {
                ipv4::write_header(
                    header,
                    &OuterIpv4 {
                        src: local,
                        dst: remote,
                        protocol: ipv4::PROTOCOL_GRE,
                        ttl: context.hop_limit,
                        ecn: 0,
                        payload_len: 0,
                        checksum_offloaded: context.checksum_offload,
                    },
                );
                header[1] = context.fixed_dscp << 2;
                // write_header adds the 20-byte header to the length: take it out again, so that the checksum
                // covers a zero total length.
                header[2..4].copy_from_slice(&[0, 0]);
                if !context.checksum_offload {
                    header[10..12].copy_from_slice(&[0, 0]);
                    let sum = crate::wire::checksum::checksum(header);
                    header[10..12].copy_from_slice(&sum.to_be_bytes());
                }
            }
            (ethernet::ETHERTYPE_IPV4, ipv4::MIN_HEADER_LEN)
        }
        TunnelEndpoints::Ipv6 { local, remote } => {
            if let Some(header) = array_at_mut(out, ethernet::HEADER_LEN) {
                ipv6::write_header(
                    header,
                    &OuterIpv6 {
                        src: local,
                        dst: remote,
                        next_header: ipv6::NEXT_HEADER_GRE,
                        hop_limit: context.hop_limit,
                        ecn: 0,
                        payload_len: 0,
                    },
                );
                let class = context.fixed_dscp << 2;
                header[0] |= class >> 4;
                header[1] |= class << 4;
            }
            (ethernet::ETHERTYPE_IPV6, ipv6::HEADER_LEN)
        }
    };
    if let Some(header) = array_at_mut(out, 0) {
        ethernet::write_header(header, destination, context.core_mac, ethertype);
    }
    if let Some(header) = array_at_mut(out, ethernet::HEADER_LEN + ip_len) {
        gre::write_keyed(header, 0, tx_key);
    }
}

/// A worker's records, one per slot, shared with the threads that read their counters.
#[derive(Debug)]
pub struct Records(HugePages<Record>);

impl Records {
    /// `len` empty slots; a power of two, so a key's home slot is a mask away.
    pub(crate) fn new(len: usize) -> Self {
        Records(HugePages::new(len, Record::default))
    }

    #[inline(always)]
    pub(crate) fn get(&self, slot: u32) -> Option<&Record> {
        self.0.get(slot as usize)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Starts loading a slot's record (for measuring other tables against the index).
    pub fn prefetch(&self, slot: u32) {
        if let Some(record) = self.get(slot) {
            record.prefetch();
        }
    }

    /// The slot holds a binding.
    pub fn is_live(&self, slot: u32) -> bool {
        self.get(slot).is_some_and(Record::is_live)
    }

    /// One slot's counters; `None` beyond the table.
    pub fn counters(&self, slot: u32) -> Option<BindingSnapshot> {
        self.get(slot).map(Record::counters)
    }
}
