//! The fast path proper: classify → look up → encapsulate / decapsulate → a [`Next`] per packet.
//!
//! A burst goes through three stages, each starting the memory loads the next one needs, so that the cache misses
//! of a whole burst overlap instead of being paid one after another:
//!
//! 1. **Classify**: parse every header the decision needs, refuse malformed packets, pick out what goes to the
//!    control thread, and compute where the binding is — a GRE key's home slot (prefetch the record) or a UE
//!    address's direct position (prefetch it; `tables/direct.rs`). The frame shapes nearly all traffic has are
//!    read at fixed offsets (`shape.rs`); everything else, and every refusal and punt, goes through the full
//!    parser (`ingress.rs`).
//! 2. **Resolve**: read the candidate slot at a UE's position and prefetch its record — interleaved with stage 1,
//!    a few packets behind it, so the record has the rest of the burst to arrive.
//! 3. **Act** (`decap.rs`, `encap.rs`): confirm the record really is the packet's binding (full key, LMAA, UE
//!    address), decide, and rewrite in place: decapsulation moves the data offset, encapsulation copies the
//!    record's precomputed outer headers into the headroom and patches lengths, ECN and checksum.
//!
//! In production every packet tries the express lane first (`express.rs`): the ordinary packet of each
//! direction from its first byte to its rewritten frame in one straight function, which leaves anything else
//! untouched for the stages. A table small enough for the cache runs one packet at a time (nothing to overlap);
//! a larger one first takes a look at fixed offsets of the whole burst to start loading each packet's binding
//! (stages 1 and 2 as guesses, deciding nothing), then runs the lane ([`Schedule`]). All ways give the same
//! results (the fuzz fixture and the lane's tests compare them with the stages alone).
//!
//! A refused packet leaves exactly as it came, counted under its [`DropReason`]. Values that are constant for a
//! burst (the rx port's roles, each egress port's MTU and Ethernet header per family) are read once per burst;
//! counters are added once per burst, per-binding ones straight into the record stage 3 has just read. Per
//! packet there is no allocation, lock, syscall, log or panic path.

mod config;
mod decap;
mod encap;
mod express;
mod fragment;
mod icmp;
mod ingress;
mod shape;

pub use config::{
    check_roles, OuterDscp, PipelineConfig, PipelineConfigError, PortConfig, Roles, DEFAULT_ICMP_ERRORS_PER_SECOND,
    MIN_MTU,
};
pub use fragment::MAX_FRAGMENTS;
pub use icmp::Clock;

use crate::binding::{Function, Way};
use crate::counters::{DropReason, WorkerCounters};
use crate::dpdk::MAX_BURST;
use crate::nexthop::{IpFamily, PortNextHops};
use crate::packet::PacketBuf;
use crate::tables::{Record, TemplateContext, UeFlags, WorkerTable};
use crate::wire::ethernet::{self, MacAddr};
use crate::PortIndex;
use config::Egress;
use ingress::{Op, Pending};
use std::net::IpAddr;
use std::sync::Arc;

/// What to do with a packet, in one `u16` the worker dispatches on: the port to send it on (whole, or cut into
/// IPv4 fragments), the control thread, the reassembly table, or the reason it was dropped (already counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Next(u16);

const NEXT_PUNT: u16 = 0x8000;
const NEXT_DROP: u16 = 0x4000;
/// Forward as fragments: the port in the low byte, where the inner IPv4 header starts in bits 8–9 (a [`Layout`]).
const NEXT_FRAGMENT: u16 = 0x2000;
const NEXT_REASSEMBLE: u16 = 0x1000;
const NEXT_KINDS: u16 = NEXT_PUNT | NEXT_DROP | NEXT_FRAGMENT | NEXT_REASSEMBLE;

/// Where the IPv4 packet to fragment starts in a frame the pipeline made: behind the Ethernet header alone
/// (decapsulated), or behind the outer IPv4 / IPv6 and GRE headers too (encapsulated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Layout {
    Plain = 0,
    OuterIpv4 = 1,
    OuterIpv6 = 2,
}

impl Layout {
    /// Frame offset of the inner IPv4 header.
    pub fn inner_at(self) -> usize {
        match self {
            Layout::Plain => ethernet::HEADER_LEN,
            Layout::OuterIpv4 => crate::tables::TEMPLATE_LEN_V4,
            Layout::OuterIpv6 => crate::tables::TEMPLATE_LEN_V6,
        }
    }
}

/// A punt that is signalling (Mobility Header, UDP 5436, IPv6-in-IPv4 with a Mobility Header).
const NEXT_SIGNALLING: u16 = NEXT_PUNT | 1;

impl Next {
    pub const PUNT: Next = Next(NEXT_PUNT);
    /// Signalling for the control thread, unchanged; the worker admits it per peer first.
    pub const SIGNALLING: Next = Next(NEXT_SIGNALLING);
    /// An outer fragment of a tunnelled packet, for the worker's reassembly table (`reassembly.rs`), unchanged.
    pub const REASSEMBLE: Next = Next(NEXT_REASSEMBLE);

    #[inline(always)]
    pub fn forward(port: PortIndex) -> Next {
        Next(port.get() as u16)
    }
    #[inline(always)]
    pub fn drop(reason: DropReason) -> Next {
        Next(NEXT_DROP | reason as u16)
    }
    /// Forward on `port` after cutting into fragments ([`FastPath::fragment`]).
    pub fn fragment(port: PortIndex, layout: Layout) -> Next {
        Next(NEXT_FRAGMENT | (layout as u16) << 8 | (port.get() as u16 & 0xff))
    }
    /// The port index to send on, if the packet is forwarded whole.
    #[inline(always)]
    pub fn port(self) -> Option<PortIndex> {
        (self.0 & NEXT_KINDS == 0).then_some(PortIndex(usize::from(self.0)))
    }
    /// For the control thread: signalling or not.
    #[inline(always)]
    pub fn is_punt(self) -> bool {
        self.0 & (NEXT_PUNT | NEXT_DROP) == NEXT_PUNT
    }
    #[inline(always)]
    pub fn is_signalling(self) -> bool {
        self.0 == NEXT_SIGNALLING
    }
    #[inline(always)]
    pub fn is_reassemble(self) -> bool {
        self.0 == NEXT_REASSEMBLE
    }
    /// The port and layout of a packet to forward as fragments.
    #[inline(always)]
    pub fn fragments(self) -> Option<(PortIndex, Layout)> {
        if self.0 & NEXT_KINDS != NEXT_FRAGMENT {
            return None;
        }
        let layout = match (self.0 >> 8) & 3 {
            0 => Layout::Plain,
            1 => Layout::OuterIpv4,
            _ => Layout::OuterIpv6,
        };
        Some((PortIndex(usize::from(self.0 & 0xff)), layout))
    }
    /// Why the packet is dropped, if it is.
    #[inline(always)]
    pub fn reason(self) -> Option<DropReason> {
        if self.0 & NEXT_DROP != 0 && self.0 != NEXT_PUNT {
            DropReason::ALL.get(usize::from(self.0 & !NEXT_DROP)).copied()
        } else {
            None
        }
    }

    /// The same decision as an enum, for code that is not per packet.
    pub fn verdict(self) -> Verdict {
        if let Some((port, _)) = self.fragments() {
            return Verdict::Fragment(port);
        }
        match self.0 {
            NEXT_PUNT | NEXT_SIGNALLING => Verdict::Punt,
            NEXT_REASSEMBLE => Verdict::Reassemble,
            n if n & NEXT_DROP != 0 => {
                Verdict::Drop(DropReason::ALL.get(usize::from(n & !NEXT_DROP)).copied().unwrap_or(DropReason::TxFailed))
            }
            n => Verdict::Forward(PortIndex(usize::from(n))),
        }
    }
}

/// What to do with a packet after the pipeline has seen it ([`Next`] spelled out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten and ready to send on this port index.
    Forward(PortIndex),
    /// Rewritten, but larger than the port's MTU: an IPv4 packet that may be fragmented, to send on this port
    /// index as the pieces [`FastPath::fragment`] cuts.
    Fragment(PortIndex),
    /// For the control thread, unchanged.
    Punt,
    /// An outer fragment for the reassembly table, unchanged.
    Reassemble,
    /// To be freed; already counted under this reason.
    Drop(DropReason),
}

/// One worker's pipeline: configuration, its own tables and its own counters.
pub struct FastPath {
    ports: Vec<PortConfig>,
    egress: Egress,
    local: LocalAddresses,
    inner_source_check: bool,
    next_hops: Arc<PortNextHops>,
    tables: WorkerTable,
    counters: Arc<WorkerCounters>,
    error_budget: Box<icmp::ErrorBudget>,
    /// How bursts run ([`FastPath::set_schedule`]).
    schedule: Schedule,
}

/// How a burst runs. All ways give the same frames, verdicts and counters; they differ in speed only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// By what the table holds, per burst: [`Schedule::OnePass`] for a table in the cache, else
    /// [`Schedule::PrefetchingLane`].
    #[default]
    BySize,
    /// One packet at a time, the express lane first, then the stages (`express.rs`): nothing to wait for.
    OnePass,
    /// A look at every packet starts loading its binding, then each packet takes the express lane, the rest the
    /// stages: the lane's short way with the cache misses of the burst overlapped.
    PrefetchingLane,
    /// The three stages alone: the general way every decision is made in, which the lane is held to.
    Stages,
}

/// An egress port as one burst sees it.
#[derive(Clone, Copy, Debug)]
struct Out {
    port: PortIndex,
    mtu: usize,
    /// Per [`IpFamily`], the Ethernet header of a frame to the port's resolved default next hop (the
    /// destination MAC, the port's MAC, the family's EtherType), ready to copy; `resolved` says which are real.
    header: [[u8; ethernet::HEADER_LEN]; 2],
    resolved: [bool; 2],
    /// The inner TOS bits an outer header written here takes: the DSCP under [`OuterDscp::Copy`], else none.
    dscp_mask: u8,
}

impl Out {
    fn new(port: PortIndex, config: &PortConfig, next_hops: &PortNextHops) -> Self {
        let dscp_mask = if config.outer_dscp == OuterDscp::Copy { 0xfc } else { 0 };
        let header = [[0; ethernet::HEADER_LEN]; 2];
        let mut out = Out { port, mtu: usize::from(config.mtu), header, resolved: [false; 2], dscp_mask };
        for family in [IpFamily::V4, IpFamily::V6] {
            let next_hop = next_hops.get(port, family);
            out.resolved[family as usize] = next_hop.is_some();
            let header = &mut out.header[family as usize];
            ethernet::write_header(header, next_hop.unwrap_or_default(), config.mac, family.ethertype());
        }
        out
    }

    /// The header towards the resolved next hop for `family`.
    #[inline(always)]
    fn header(&self, family: IpFamily) -> Option<&[u8; ethernet::HEADER_LEN]> {
        let at = family as usize & 1;
        self.resolved[at].then_some(&self.header[at])
    }

    /// A `family` frame can leave: to `to` (a binding's own next hop) or else to the resolved default one.
    #[inline(always)]
    fn reaches(&self, family: IpFamily, to: Option<MacAddr>) -> bool {
        to.is_some() || self.resolved[family as usize & 1]
    }

    /// Writes the header of a `family` frame to `to`, or else to the default next hop ([`Out::reaches`] first).
    #[inline(always)]
    fn write_header(&self, family: IpFamily, to: Option<MacAddr>, header: &mut [u8; ethernet::HEADER_LEN]) {
        *header = self.header[family as usize & 1];
        if let Some(mac) = to {
            header[..6].copy_from_slice(&mac.0);
        }
    }
}

/// How many packets after classifying a plain packet stage 1 reads its direct position (see `stages`).
const RESOLVE_AFTER: usize = 12;

/// Everything constant for one burst, read once.
struct BurstContext {
    rx_port: PortIndex,
    roles: Roles,
    plain: PlainLookup,
    core: Option<Out>,
    sgi: Option<Out>,
    access: Option<Out>,
    /// The express lane (`express.rs`) takes plain packets too: the rx port makes exactly one kind of UE lookup
    /// and encapsulated packets have somewhere to go.
    plain_lane: bool,
}

/// How a plain packet received on a port is looked up first: as an LMA's UE by destination on `sgi`, else as a
/// MAG's UE by source (on `access`).
#[derive(Clone, Copy, Debug)]
struct PlainLookup {
    by_destination: bool,
    direction: Direction,
    /// The record flags that confirm it, per [`IpFamily`].
    flags: [UeFlags; 2],
}

impl PlainLookup {
    fn new(roles: Roles) -> Self {
        let (function, direction) =
            if roles.sgi { (Function::Lma, Direction::LmaDownlink) } else { (Function::Mag, Direction::MagUplink) };
        PlainLookup { by_destination: roles.sgi, direction, flags: UeFlags::per_family(function) }
    }

    /// The UE address an IPv4 frame (its Ethernet and IPv4 headers) is looked up by: destination or source.
    #[inline(always)]
    fn ue_ipv4(&self, h: &[u8; ethernet::HEADER_LEN + 20]) -> u32 {
        shape::be32(h, ethernet::HEADER_LEN + if self.by_destination { 16 } else { 12 })
    }

    /// The /64 an IPv6 frame (its Ethernet and IPv6 headers) is looked up by: destination's or source's.
    #[inline(always)]
    fn ue_ipv6(&self, h: &[u8; ethernet::HEADER_LEN + 40]) -> u64 {
        shape::be64(h, ethernet::HEADER_LEN + if self.by_destination { 24 } else { 8 })
    }
}

/// Counts accumulated over a burst and added once.
struct Tally {
    rx_bytes: u64,
    encapsulated: u64,
    decapsulated: u64,
    punted: u64,
}

impl FastPath {
    /// A pipeline over `tables` (from [`crate::tables::UpdateSender::add_worker`]), with counters of its own
    /// ([`FastPath::counters`]).
    pub fn new(config: &PipelineConfig, mut tables: WorkerTable) -> Result<Self, PipelineConfigError> {
        config.validate()?;
        config.seed_static_next_hops();
        let egress = config.egress()?;
        let core = egress.core.and_then(|i| config.ports.get(i.get()));
        tables.start(TemplateContext {
            core_mac: core.map(|p| p.mac).unwrap_or_default(),
            hop_limit: config.outer_hop_limit,
            checksum_offload: core.is_some_and(|p| p.tx_ipv4_checksum_offload),
            fixed_dscp: match core.map(|p| p.outer_dscp) {
                Some(OuterDscp::Fixed(dscp)) => dscp & 0x3f,
                _ => 0,
            },
        });
        let counters = Arc::new(WorkerCounters::new(Arc::clone(tables.records())));
        Ok(FastPath {
            ports: config.ports.clone(),
            egress,
            local: LocalAddresses::new(&config.lmaa, &config.proxy_coa, &config.host_addresses),
            inner_source_check: config.inner_source_check,
            next_hops: Arc::clone(&config.next_hops),
            counters,
            error_budget: Box::new(icmp::ErrorBudget::new(config.icmp_errors_per_second, config.clock)),
            schedule: Schedule::BySize,
            tables,
        })
    }

    /// Sets how bursts run (default [`Schedule::BySize`]). The ways give the same results; tests and the fuzzer
    /// hold them to it.
    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.schedule = schedule;
    }

    /// This burst's way. By size: what a table in the cache is read for arrives at once, so a burst runs one
    /// packet at a time ([`FastPath::one_pass`]); from a larger one it is loaded ahead. Decided per burst, as the
    /// table fills and empties.
    #[inline(always)]
    fn schedule(&self) -> Schedule {
        match self.schedule {
            Schedule::BySize if self.tables.in_cache() => Schedule::OnePass,
            Schedule::BySize => Schedule::PrefetchingLane,
            chosen => chosen,
        }
    }

    /// The configuration of port `index`.
    #[inline(always)]
    fn port(&self, index: PortIndex) -> Option<&PortConfig> {
        self.ports.get(index.get())
    }

    pub fn counters(&self) -> &Arc<WorkerCounters> {
        &self.counters
    }

    /// The worker's table, for inspection.
    pub fn tables(&self) -> &WorkerTable {
        &self.tables
    }

    /// Applies up to `max` queued table updates; call between bursts. The time it takes is counted in
    /// time-stamp-counter cycles (`update_cycles`).
    pub fn apply_updates(&mut self, max: usize) -> usize {
        if !self.tables.has_pending() {
            return 0;
        }
        let start = crate::dpdk::cpu_cycles();
        let applied = self.tables.apply_pending(&self.counters, max);
        self.counters.path.update_cycles.add(crate::dpdk::cpu_cycles().wrapping_sub(start));
        applied
    }

    /// The pipeline's clock (nanoseconds since a fixed start): what reassembly timeouts are measured in.
    pub fn now(&self) -> u64 {
        self.error_budget.now()
    }

    /// Processes one packet received on `rx_port` (a burst of one).
    pub fn process<P: PacketBuf>(&self, rx_port: PortIndex, packet: &mut P) -> Verdict {
        let mut next = [Next::PUNT];
        self.process_burst(rx_port, std::slice::from_mut(packet), &mut next);
        next[0].verdict()
    }

    /// Processes a burst received on `rx_port`, writing one [`Next`] per packet (`nexts` must be at least as long
    /// as `packets`; extra packets are left alone and get none).
    pub fn process_burst<P: PacketBuf>(&self, rx_port: PortIndex, packets: &mut [P], nexts: &mut [Next]) {
        self.run_burst(rx_port, packets, nexts, true);
    }

    /// [`FastPath::process_burst`] for packets the worker rebuilt from fragments received on `rx_port`, whose
    /// fragments the port has already counted.
    pub fn process_reassembled<P: PacketBuf>(&self, rx_port: PortIndex, packets: &mut [P], nexts: &mut [Next]) {
        self.run_burst(rx_port, packets, nexts, false);
    }

    #[inline(always)]
    fn run_burst<P: PacketBuf>(&self, rx_port: PortIndex, packets: &mut [P], nexts: &mut [Next], received: bool) {
        let count = packets.len().min(nexts.len());
        let (Some(packets), Some(nexts)) = (packets.get_mut(..count), nexts.get_mut(..count)) else { return };
        let context = self.burst_context(rx_port);
        let mut tally = Tally { rx_bytes: 0, encapsulated: 0, decapsulated: 0, punted: 0 };
        for (packets, nexts) in packets.chunks_mut(MAX_BURST).zip(nexts.chunks_mut(MAX_BURST)) {
            self.stages(&context, packets, nexts, &mut tally);
        }
        let counters = &self.counters;
        if let Some(port) = counters.port(rx_port).filter(|_| received) {
            port.rx_packets.add(count as u64);
            port.rx_bytes.add(tally.rx_bytes);
        }
        counters.path.encapsulated.add(tally.encapsulated);
        counters.path.decapsulated.add(tally.decapsulated);
        counters.path.punted.add(tally.punted);
    }

    #[inline(always)]
    fn stages<P: PacketBuf>(&self, context: &BurstContext, packets: &mut [P], nexts: &mut [Next], tally: &mut Tally) {
        match self.schedule() {
            Schedule::OnePass => return self.one_pass(context, packets, nexts, tally),
            Schedule::PrefetchingLane => return self.prefetching_lane(context, packets, nexts, tally),
            _ => {}
        }
        let mut pending = [Pending::default(); MAX_BURST];
        // 1. Classify; prefetch the record (a key's home slot) or the direct position (a UE address).
        // 2. Read a UE lookup's candidate slot at its position and prefetch the record, `RESOLVE_AFTER` packets
        //    later: the position has arrived by then, and the record gets the rest of the burst's classifying to
        //    arrive in (stage 2 as a pass of its own gave it only that pass, a few hundred cycles: too short for
        //    a record from memory at 1M bindings).
        let count = packets.len().min(MAX_BURST);
        for (at, packet) in packets.iter().enumerate().take(count) {
            tally.rx_bytes += packet.data().len() as u64;
            if let Some(work) = pending.get_mut(at) {
                self.classify(context, packet, work);
            }
            if let Some(earlier) = at.checked_sub(RESOLVE_AFTER).and_then(|e| pending.get_mut(e)) {
                if earlier.op == Op::Plain {
                    self.resolve(earlier);
                }
            }
        }
        for work in pending.iter_mut().take(count).skip(count.saturating_sub(RESOLVE_AFTER)) {
            if work.op == Op::Plain {
                self.resolve(work);
            }
        }
        // 3. Confirm, decide, rewrite.
        for ((packet, work), next) in packets.iter_mut().zip(pending.iter()).zip(nexts.iter_mut()) {
            *next = self.act(context, work, packet, tally);
        }
    }

    /// The stages one packet at a time, for a table that fits in the cache: nothing to wait for, so nothing to
    /// overlap, and what stage 1 finds stays in registers instead of travelling through memory to stage 3. Each
    /// packet tries the express lane first.
    #[inline(always)]
    fn one_pass<P: PacketBuf>(&self, context: &BurstContext, packets: &mut [P], nexts: &mut [Next], tally: &mut Tally) {
        for (packet, next) in packets.iter_mut().zip(nexts.iter_mut()) {
            tally.rx_bytes += packet.data().len() as u64;
            *next = match self.express(context, packet, tally) {
                Some(next) => next,
                None => self.one_packet(context, packet, tally),
            };
        }
    }

    /// All three stages for one packet.
    #[inline(always)]
    fn one_packet<P: PacketBuf>(&self, context: &BurstContext, packet: &mut P, tally: &mut Tally) -> Next {
        let mut work = Pending::default();
        self.classify(context, packet, &mut work);
        if work.op == Op::Plain {
            self.resolve(&mut work);
        }
        self.act(context, &work, packet, tally)
    }

    /// Stage 3 for one packet: confirm, decide, rewrite; a refusal goes on to [`FastPath::refused`].
    #[inline(always)]
    fn act<P: PacketBuf>(&self, context: &BurstContext, work: &Pending, packet: &mut P, tally: &mut Tally) -> Next {
        let outcome = match work.op {
            Op::Gre => self.decapsulate::<P, true>(context, work, packet, tally),
            Op::Plain => self.encapsulate::<P, true>(context, work, packet, tally),
            Op::Done(next) => {
                tally.punted += u64::from(next.is_punt());
                next.reason().map_or(Ok(next), Err)
            }
        };
        match outcome {
            Ok(next) => next,
            Err(reason) => self.refused(context, work, packet, reason),
        }
    }

    /// Counts a refused packet under its reason. A plain packet at the end of its TTL, or too big for its tunnel,
    /// is answered with an ICMP error (`icmp.rs`) where one may be sent, instead of vanishing; an IPv4 packet
    /// without DF that is too big goes on as fragments.
    #[inline(always)]
    fn refused<P: PacketBuf>(
        &self,
        context: &BurstContext,
        work: &Pending,
        packet: &mut P,
        reason: DropReason,
    ) -> Next {
        if !matches!(work.op, Op::Done(_)) && matches!(reason, DropReason::TtlExpired | DropReason::OverMtu) {
            return self.fragment_or_answer(context, work, packet, reason);
        }
        self.counters.count_drop(reason);
        Next::drop(reason)
    }

    /// The way on for a packet too big or at the end of its TTL: fragments or an ICMP error, else a drop. Out of
    /// line, so the forwarding loop carries none of it.
    #[cold]
    #[inline(never)]
    fn fragment_or_answer<P: PacketBuf>(
        &self,
        context: &BurstContext,
        work: &Pending,
        packet: &mut P,
        reason: DropReason,
    ) -> Next {
        let next = if reason == DropReason::OverMtu && may_fragment(work, packet.data()) {
            self.oversize(context, work, packet)
        } else {
            self.answer_with_error(context, work, packet, reason).ok_or(reason)
        };
        next.unwrap_or_else(|reason| {
            self.counters.count_drop(reason);
            Next::drop(reason)
        })
    }

    /// An IPv4 packet without DF that is too big for its egress (RFC 791 §2.3, RFC 1812 §5.2.6; the tunnel
    /// fragments the inner packet, RFC 4459 §3.2): rewritten as if it fitted, for [`FastPath::fragment`] to cut.
    fn oversize<P: PacketBuf>(
        &self,
        context: &BurstContext,
        work: &Pending,
        packet: &mut P,
    ) -> Result<Next, DropReason> {
        let mut tally = Tally { rx_bytes: 0, encapsulated: 0, decapsulated: 0, punted: 0 };
        let next = match work.op {
            Op::Gre => self.decapsulate::<P, false>(context, work, packet, &mut tally)?,
            Op::Plain => self.encapsulate::<P, false>(context, work, packet, &mut tally)?,
            Op::Done(next) => return Ok(next),
        };
        // The pipeline counted the pieces it planned (each a packet into or out of the tunnel).
        let pieces = tally.encapsulated + tally.decapsulated;
        self.counters.path.encapsulated.add(tally.encapsulated);
        self.counters.path.decapsulated.add(tally.decapsulated);
        self.counters.path.fragmented.add(1);
        self.counters.path.fragments.add(pieces);
        let port = next.port().ok_or(DropReason::NoEgressPort)?;
        let layout = match (work.op, packet.data().get(12..14)) {
            (Op::Gre, _) => Layout::Plain,
            (_, Some([0x86, 0xdd])) => Layout::OuterIpv6,
            _ => Layout::OuterIpv4,
        };
        Ok(Next::fragment(port, layout))
    }

    fn burst_context(&self, rx_port: PortIndex) -> BurstContext {
        let out = |index: Option<PortIndex>| {
            let port = index?;
            Some(Out::new(port, self.port(port)?, &self.next_hops))
        };
        let roles = self.port(rx_port).map_or(Roles::default(), |port| port.roles);
        let core = out(self.egress.core);
        BurstContext {
            rx_port,
            roles,
            plain: PlainLookup::new(roles),
            core,
            sgi: out(self.egress.sgi),
            access: out(self.egress.access),
            // One kind of UE lookup on the port, and somewhere to send: the lane's ordinary case.
            plain_lane: core.is_some() && roles.sgi != roles.access,
        }
    }

    /// Adds a packet to its binding's counters. Straight into the record, whose line stage 3 has just read:
    /// two adds cost fewer instructions than keeping runs of packets of one binding did (callgrind: 10–26 fewer
    /// per packet with every packet on another binding, 13–18 fewer with all of them on one).
    #[inline(always)]
    fn count_binding(&self, record: &Record, direction: Direction, packets: usize, bytes: usize) {
        record.count(direction.way(), packets as u64, bytes as u64);
    }
}

/// Which way through which function a packet is going; the low bit is the [`Way`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Direction {
    /// `core` → `sgi`, decapsulated.
    LmaUplink = 0,
    /// `sgi` → `core`, encapsulated.
    LmaDownlink = 1,
    /// `access` → `core`, encapsulated.
    MagUplink = 2,
    /// `core` → `access`, decapsulated.
    MagDownlink = 3,
}

impl Direction {
    #[inline(always)]
    fn way(self) -> Way {
        if self as u8 & 1 == 0 {
            Way::Uplink
        } else {
            Way::Downlink
        }
    }
}

/// An IPv4 packet (inside the tunnel or about to go in) without DF: a router may fragment it.
fn may_fragment(work: &Pending, frame: &[u8]) -> bool {
    work.family == IpFamily::V4 && frame.get(usize::from(work.inner_at) + 6).is_some_and(|flags| flags & 0x40 == 0)
}

/// Which of our own address sets an address is in, as bits (one test answers "any of ours?").
#[derive(Clone, Copy, Debug, Default)]
struct Local(u8);

impl Local {
    const LMAA: u8 = 1;
    const PROXY_COA: u8 = 2;
    /// One of the other addresses of the gateway's ports (e.g. the UEs' default gateway on `access`).
    const HOST: u8 = 4;

    fn lmaa(self) -> bool {
        self.0 & Self::LMAA != 0
    }

    fn proxy_coa(self) -> bool {
        self.0 & Self::PROXY_COA != 0
    }

    /// A tunnel end: GRE and signalling arrive here.
    fn tunnel(self) -> bool {
        self.0 & (Self::LMAA | Self::PROXY_COA) != 0
    }

    fn any(self) -> bool {
        self.0 != 0
    }
}

/// The gateway's own addresses with the sets each is in, as flat arrays for a short linear scan (there are a
/// handful); IPv6 addresses compared as one `u128`. Most IPv4 packets are for someone else: a 64-bit filter of
/// the addresses' low six bits turns nearly all of them away before the scan. (For IPv6, with its one or two
/// addresses, the filter cost more instructions than it saved.)
#[derive(Clone, Debug)]
struct LocalAddresses {
    v4: Vec<(u32, Local)>,
    v6: Vec<(u128, Local)>,
    /// Bit `a & 63` set for each IPv4 address `a`.
    filter_v4: u64,
    /// Some address is a proxy care-of address: the gateway is a MAG.
    proxy_coa: bool,
}

impl LocalAddresses {
    fn new(lmaa: &[IpAddr], proxy_coa: &[IpAddr], host: &[IpAddr]) -> Self {
        let mut local =
            LocalAddresses { v4: Vec::new(), v6: Vec::new(), filter_v4: 0, proxy_coa: !proxy_coa.is_empty() };
        for (list, set) in [(lmaa, Local::LMAA), (proxy_coa, Local::PROXY_COA), (host, Local::HOST)] {
            for address in list {
                let entry = match address {
                    IpAddr::V4(v4) => {
                        local.filter_v4 |= 1 << (u32::from(*v4) & 63);
                        Self::entry(&mut local.v4, u32::from(*v4))
                    }
                    IpAddr::V6(v6) => Self::entry(&mut local.v6, u128::from(*v6)),
                };
                entry.0 |= set;
            }
        }
        local
    }

    fn entry<A: PartialEq + Copy>(list: &mut Vec<(A, Local)>, address: A) -> &mut Local {
        let at = match list.iter().position(|(a, _)| *a == address) {
            Some(at) => at,
            None => {
                list.push((address, Local::default()));
                list.len() - 1
            }
        };
        &mut list[at].1
    }

    #[inline(always)]
    fn has_proxy_coa(&self) -> bool {
        self.proxy_coa
    }

    #[inline(always)]
    fn ipv4(&self, address: u32) -> Local {
        if self.filter_v4 >> (address & 63) & 1 == 0 {
            return Local::default();
        }
        self.v4.iter().find(|(a, _)| *a == address).map_or(Local::default(), |(_, local)| *local)
    }

    #[inline(always)]
    fn ipv6(&self, address: &[u8; 16]) -> Local {
        let address = u128::from_be_bytes(*address);
        self.v6.iter().find(|(a, _)| *a == address).map_or(Local::default(), |(_, local)| *local)
    }
}

#[cfg(test)]
mod tests;
