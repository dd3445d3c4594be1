//! Per-worker counters: written by their worker only, readable from any thread at any time.
//!
//! Each counter is an `AtomicU64` updated with a relaxed load and store — a plain `mov`/`add`/`mov` on x86, no
//! read-modify-write — which is correct because exactly one thread (the owning worker) writes it. Readers get a
//! value that is at most a few packets old. Groups written together sit in their own cache lines.

use crate::admission::Admission;
use crate::binding::BindingId;
use crate::tables::Records;
use crate::PortIndex;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Ports a pipeline can address; counters are fixed-size arrays of this many.
pub const MAX_PORTS: usize = 8;

/// Why a packet was dropped. Every drop is counted under exactly one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    EthernetTruncated,
    /// Not IPv4, IPv6 or ARP (VLAN tags included).
    UnsupportedEthertype,
    /// Spread over several buffers (a jumbo frame in a small-buffer pool): the pipeline reads one.
    MultiSegment,
    /// IPv4 header truncated or invalid (version, IHL, total length).
    Ipv4Malformed,
    /// IPv4 header checksum wrong (in software or per the NIC).
    Ipv4Checksum,
    /// IPv6 header truncated or invalid.
    Ipv6Malformed,
    /// An IPv6 extension header in front of GRE or a punted protocol that is not skipped.
    Ipv6ExtensionHeader,
    /// An IPv4 or IPv6 fragment addressed to the gateway that is not tunnelled traffic (signalling, echo): only
    /// outer fragments of GRE are reassembled.
    Fragment,
    /// GRE header shorter than its flags announce.
    GreMalformed,
    /// GRE version ≠ 0.
    GreVersion,
    /// One of the GRE bits 0x4C00 set.
    GreReservedBits,
    /// GRE without a key: no PMIPv6 session can match (TS 29.275 §6.1: always keyed).
    GreNoKey,
    /// GRE checksum present and wrong.
    GreChecksum,
    /// GRE protocol type neither IPv4 nor IPv6.
    GreProtocol,
    /// GRE key (with the LMAA on a MAG) matches no binding.
    UnknownKey,
    /// Arrived on a `core`-only port for an address that is not ours.
    NotOurAddress,
    /// Addressed to us, but neither tunnelled user traffic nor something the control thread takes.
    LocalUnsupported,
    /// IPv6 to a link-local or link-scope multicast address that nothing here handles (MLD reports, mDNS, ...):
    /// hosts on the link send these routinely; a router never forwards them.
    LinkScope,
    /// The packet inside the tunnel is truncated, invalid, or not of the GRE protocol type's family.
    InnerMalformed,
    /// LMA uplink whose inner source is not the binding's UE address or inside its prefix.
    InnerSourceMismatch,
    /// Outer header marked CE (congestion experienced) around a Not-ECT inner packet, which cannot carry the mark
    /// (RFC 6040 §4.2).
    CeOnNotEct,
    /// No binding for the UE address (`sgi` destination, `access` source).
    NoBinding,
    /// MAG binding without an uplink key yet.
    NoUplinkKey,
    /// Inner TTL / hop limit would reach zero.
    TtlExpired,
    /// Would exceed the egress port's MTU.
    OverMtu,
    /// Not enough headroom in front of the packet for the outer headers.
    NoHeadroom,
    /// The direction's egress role (`core`, `access`, `sgi`) is on no port.
    NoEgressPort,
    /// The control thread's punt queue was full.
    PuntQueueFull,
    /// Signalling beyond its sender's share (`gateway.signalling_rate_per_peer`): a storm from one peer is cut
    /// in the worker, before it can crowd the others out of the punt queue.
    SignallingRateLimited,
    /// The egress port's transmit queue did not take the packet.
    TxFailed,
    /// The next hop's MAC is not known (yet): neighbour resolution is in progress or failed.
    NextHopUnresolved,
    /// No packet buffer for a packet rebuilt from fragments: the pool is empty, or its buffers too small.
    NoBuffer,
    /// A packet too big for its egress that could not be cut into fragments (no buffer for a piece, more than
    /// 128 pieces, an offset beyond 65,535): counted after its encapsulated / decapsulated outcome.
    FragmentFailed,
    /// An outer fragment whose datagram did not complete within the reassembly timeout (or before the worker
    /// stopped).
    ReassemblyTimeout,
    /// An outer fragment of a new datagram while every reassembly slot it may use is taken, or while the worker
    /// already holds as many fragments as it may.
    ReassemblyTableFull,
    /// An outer fragment overlapping another of its datagram (RFC 5722): the whole datagram is dropped.
    ReassemblyOverlap,
    /// An outer fragment equal to one already held (the network duplicated it): only the copy is dropped.
    ReassemblyDuplicate,
    /// An outer fragment that cannot be part of a valid datagram: a length that is not a multiple of 8 before the
    /// last, beyond 65,535 bytes, beyond another fragment's end, more fragments than a datagram may have, or
    /// Not-ECT and ECT fragments mixed (RFC 3168 §5.3).
    ReassemblyInvalid,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 38] = [
        DropReason::EthernetTruncated,
        DropReason::UnsupportedEthertype,
        DropReason::MultiSegment,
        DropReason::Ipv4Malformed,
        DropReason::Ipv4Checksum,
        DropReason::Ipv6Malformed,
        DropReason::Ipv6ExtensionHeader,
        DropReason::Fragment,
        DropReason::GreMalformed,
        DropReason::GreVersion,
        DropReason::GreReservedBits,
        DropReason::GreNoKey,
        DropReason::GreChecksum,
        DropReason::GreProtocol,
        DropReason::UnknownKey,
        DropReason::NotOurAddress,
        DropReason::LocalUnsupported,
        DropReason::LinkScope,
        DropReason::InnerMalformed,
        DropReason::InnerSourceMismatch,
        DropReason::CeOnNotEct,
        DropReason::NoBinding,
        DropReason::NoUplinkKey,
        DropReason::TtlExpired,
        DropReason::OverMtu,
        DropReason::NoHeadroom,
        DropReason::NoEgressPort,
        DropReason::PuntQueueFull,
        DropReason::SignallingRateLimited,
        DropReason::TxFailed,
        DropReason::NextHopUnresolved,
        DropReason::NoBuffer,
        DropReason::FragmentFailed,
        DropReason::ReassemblyTimeout,
        DropReason::ReassemblyTableFull,
        DropReason::ReassemblyOverlap,
        DropReason::ReassemblyDuplicate,
        DropReason::ReassemblyInvalid,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// Stable kebab-case name, used in printed counters and by the management API.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::EthernetTruncated => "ethernet-truncated",
            DropReason::UnsupportedEthertype => "unsupported-ethertype",
            DropReason::MultiSegment => "multi-segment",
            DropReason::Ipv4Malformed => "ipv4-malformed",
            DropReason::Ipv4Checksum => "ipv4-checksum",
            DropReason::Ipv6Malformed => "ipv6-malformed",
            DropReason::Ipv6ExtensionHeader => "ipv6-extension-header",
            DropReason::Fragment => "fragment",
            DropReason::GreMalformed => "gre-malformed",
            DropReason::GreVersion => "gre-version",
            DropReason::GreReservedBits => "gre-reserved-bits",
            DropReason::GreNoKey => "gre-no-key",
            DropReason::GreChecksum => "gre-checksum",
            DropReason::GreProtocol => "gre-protocol",
            DropReason::UnknownKey => "unknown-key",
            DropReason::NotOurAddress => "not-our-address",
            DropReason::LocalUnsupported => "local-unsupported",
            DropReason::LinkScope => "link-scope",
            DropReason::InnerMalformed => "inner-malformed",
            DropReason::InnerSourceMismatch => "inner-source-mismatch",
            DropReason::CeOnNotEct => "ce-on-not-ect",
            DropReason::NoBinding => "no-binding",
            DropReason::NoUplinkKey => "no-uplink-key",
            DropReason::TtlExpired => "ttl-expired",
            DropReason::OverMtu => "over-mtu",
            DropReason::NoHeadroom => "no-headroom",
            DropReason::NoEgressPort => "no-egress-port",
            DropReason::PuntQueueFull => "punt-queue-full",
            DropReason::SignallingRateLimited => "signalling-rate-limited",
            DropReason::TxFailed => "tx-failed",
            DropReason::NextHopUnresolved => "next-hop-unresolved",
            DropReason::NoBuffer => "no-buffer",
            DropReason::FragmentFailed => "fragment-failed",
            DropReason::ReassemblyTimeout => "reassembly-timeout",
            DropReason::ReassemblyTableFull => "reassembly-table-full",
            DropReason::ReassemblyOverlap => "reassembly-overlap",
            DropReason::ReassemblyDuplicate => "reassembly-duplicate",
            DropReason::ReassemblyInvalid => "reassembly-invalid",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A counter with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this (a second writer would lose updates, never corrupt memory).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
    pub(crate) fn reset(&self) {
        self.0.store(0, Relaxed);
    }
    /// Sets a gauge (a value the owning worker recomputes, not a running sum).
    #[inline]
    pub(crate) fn set(&self, value: u64) {
        self.0.store(value, Relaxed);
    }
}

/// Traffic through one port, as seen by one worker.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct PortCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
}

/// What the worker did with packets, other than dropping them.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct PathCounters {
    pub encapsulated: Counter,
    pub decapsulated: Counter,
    pub punted: Counter,
    /// Table updates applied, and those the worker's table refused (a bug: the control side validates first).
    pub updates_applied: Counter,
    pub updates_refused: Counter,
    /// Time-stamp-counter cycles the worker spent applying table updates: what churn costs the fast path.
    pub update_cycles: Counter,
    /// Time-stamp-counter cycles of the worker's poll rounds that moved packets: its load, which a polling
    /// core's 100 % CPU hides. Read once before and once after a round, so it costs two TSC reads per burst.
    pub busy_cycles: Counter,
    /// ICMP errors sent back instead of a silent drop (the refused packet is still counted under its reason),
    /// and those the rate limit held back.
    pub icmp_errors_sent: Counter,
    pub icmp_rate_limited: Counter,
    /// Packets too big for their egress cut into IPv4 fragments, and the fragments that made (each also counted
    /// as encapsulated or decapsulated; `fragment-failed` counts a packet whose pieces found no buffer).
    pub fragmented: Counter,
    pub fragments: Counter,
    /// Outer fragments taken into reassembly, the datagrams rebuilt from them (each then goes through the
    /// pipeline as one packet), and the fragments those used. A held fragment ends either in a datagram or
    /// under a `reassembly-*` drop reason; `reassembly_held` is a gauge of those still waiting.
    pub reassembly_fragments: Counter,
    pub reassembled: Counter,
    pub fragments_reassembled: Counter,
    pub reassembly_held: Counter,
}

#[derive(Debug)]
#[repr(align(64))]
struct DropCounters([Counter; DropReason::COUNT]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters(std::array::from_fn(|_| Counter::default()))
    }
}

/// Drops per [`DropReason`], in [`DropReason::ALL`] order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropCounts(pub [u64; DropReason::COUNT]);

impl Default for DropCounts {
    fn default() -> Self {
        DropCounts([0; DropReason::COUNT])
    }
}

impl std::ops::Deref for DropCounts {
    type Target = [u64; DropReason::COUNT];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for DropCounts {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// The worker's table as it stands, written by the worker after each batch of updates, and the traffic of the
/// bindings it has removed. A removed binding's counters go with its slot; they are added here first, so the
/// live bindings' counters plus these add up to the encapsulated and decapsulated totals however many bindings
/// came and went (what a soak checks).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct TableCounters {
    /// Bindings in the table.
    pub bindings: Counter,
    /// Entries in its index (UE addresses, displaced receive keys).
    pub index_entries: Counter,
    /// Packets and bytes of removed bindings, in the order of a record's counters (uplink packets, uplink bytes,
    /// downlink packets, downlink bytes).
    pub retired: [Counter; 4],
}

impl TableCounters {
    /// Adds a removed binding's traffic.
    pub(crate) fn retire(&self, traffic: &BindingSnapshot) {
        let values = [traffic.uplink_packets, traffic.uplink_bytes, traffic.downlink_packets, traffic.downlink_bytes];
        for (counter, value) in self.retired.iter().zip(values) {
            counter.add(value);
        }
    }

    fn retired(&self) -> BindingSnapshot {
        let [uplink_packets, uplink_bytes, downlink_packets, downlink_bytes] =
            self.retired.each_ref().map(Counter::get);
        BindingSnapshot { uplink_packets, uplink_bytes, downlink_packets, downlink_bytes }
    }
}

/// All counters of one worker. Share it with readers through an `Arc`; only the worker writes.
#[derive(Debug)]
pub struct WorkerCounters {
    pub ports: [PortCounters; MAX_PORTS],
    pub path: PathCounters,
    pub table: TableCounters,
    drops: DropCounters,
    /// The worker's binding records, which hold each binding's counters (packets and bytes of the inner IP
    /// packet, each way) in the cache line the packet path reads anyway.
    bindings: Arc<Records>,
}

impl WorkerCounters {
    /// Counters for a worker whose table has `bindings` ([`crate::tables::WorkerTable::records`]).
    pub fn new(bindings: Arc<Records>) -> Self {
        WorkerCounters {
            ports: Default::default(),
            path: PathCounters::default(),
            table: TableCounters::default(),
            drops: DropCounters::default(),
            bindings,
        }
    }

    #[inline]
    pub fn count_drop(&self, reason: DropReason) {
        if let Some(counter) = self.drops.0.get(reason.index()) {
            counter.add(1);
        }
    }

    /// Counts `n` drops for one reason at once (e.g. a tx burst's refused packets).
    #[inline]
    pub fn count_drops(&self, reason: DropReason, n: u64) {
        if let Some(counter) = self.drops.0.get(reason.index()) {
            counter.add(n);
        }
    }

    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.0.get(reason.index()).map_or(0, Counter::get)
    }

    /// The port's counters; `None` for an index beyond [`MAX_PORTS`].
    #[inline]
    pub fn port(&self, port: PortIndex) -> Option<&PortCounters> {
        self.ports.get(port.get())
    }

    /// A consistent-enough copy of everything but the per-binding counters.
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            ports: std::array::from_fn(|i| {
                let port = &self.ports[i];
                PortSnapshot {
                    rx_packets: port.rx_packets.get(),
                    rx_bytes: port.rx_bytes.get(),
                    tx_packets: port.tx_packets.get(),
                    tx_bytes: port.tx_bytes.get(),
                }
            }),
            encapsulated: self.path.encapsulated.get(),
            decapsulated: self.path.decapsulated.get(),
            punted: self.path.punted.get(),
            updates_applied: self.path.updates_applied.get(),
            updates_refused: self.path.updates_refused.get(),
            update_cycles: self.path.update_cycles.get(),
            busy_cycles: self.path.busy_cycles.get(),
            icmp_errors_sent: self.path.icmp_errors_sent.get(),
            icmp_rate_limited: self.path.icmp_rate_limited.get(),
            fragmented: self.path.fragmented.get(),
            fragments: self.path.fragments.get(),
            reassembly_fragments: self.path.reassembly_fragments.get(),
            reassembled: self.path.reassembled.get(),
            fragments_reassembled: self.path.fragments_reassembled.get(),
            reassembly_held: self.path.reassembly_held.get(),
            table_bindings: self.table.bindings.get(),
            table_index_entries: self.table.index_entries.get(),
            retired: self.table.retired(),
            drops: DropCounts(std::array::from_fn(|i| self.drops.0[i].get())),
        }
    }

    /// A copy of one binding's counters.
    pub fn binding_snapshot(&self, id: BindingId) -> Option<BindingSnapshot> {
        self.bindings.counters(id.0)
    }
}

/// Every worker's counters, for readers on other threads (the management API, the final report).
#[derive(Clone, Debug, Default)]
pub struct CountersHandle {
    workers: Vec<Arc<WorkerCounters>>,
    admissions: Vec<Arc<Admission>>,
}

impl CountersHandle {
    pub fn new(workers: Vec<Arc<WorkerCounters>>) -> Self {
        CountersHandle { workers, admissions: Vec::new() }
    }

    /// With the workers' signalling admission tables, for [`CountersHandle::peer_admission`].
    pub fn with_admissions(mut self, admissions: Vec<Arc<Admission>>) -> Self {
        self.admissions = admissions;
        self
    }

    /// Signalling admitted and rate-limited per source address over all workers (`None`: sources that shared
    /// the overflow bucket).
    pub fn peer_admission(&self) -> std::collections::BTreeMap<Option<std::net::IpAddr>, (u64, u64)> {
        let mut peers = std::collections::BTreeMap::new();
        for peer in self.admissions.iter().flat_map(|a| a.peers()) {
            let entry: &mut (u64, u64) = peers.entry(peer.address).or_default();
            entry.0 += peer.admitted;
            entry.1 += peer.limited;
        }
        peers
    }

    /// One snapshot per worker, in worker order.
    pub fn per_worker(&self) -> Vec<CountersSnapshot> {
        self.workers.iter().map(|w| w.snapshot()).collect()
    }

    /// The gateway's totals.
    pub fn total(&self) -> CountersSnapshot {
        let mut total = CountersSnapshot::default();
        for worker in &self.workers {
            total += &worker.snapshot();
        }
        total
    }

    /// One binding's traffic over all workers.
    pub fn binding(&self, id: BindingId) -> BindingSnapshot {
        let mut total = BindingSnapshot::default();
        for snapshot in self.workers.iter().filter_map(|w| w.binding_snapshot(id)) {
            total += snapshot;
        }
        total
    }
}

/// Read-out of [`PortCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortSnapshot {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

/// One binding's traffic: packets and bytes of the inner IP packet, each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindingSnapshot {
    pub uplink_packets: u64,
    pub uplink_bytes: u64,
    pub downlink_packets: u64,
    pub downlink_bytes: u64,
}

impl std::ops::AddAssign for BindingSnapshot {
    fn add_assign(&mut self, other: Self) {
        self.uplink_packets += other.uplink_packets;
        self.uplink_bytes += other.uplink_bytes;
        self.downlink_packets += other.downlink_packets;
        self.downlink_bytes += other.downlink_bytes;
    }
}

/// Read-out of a worker's counters; add snapshots of all workers for the gateway's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    pub ports: [PortSnapshot; MAX_PORTS],
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub punted: u64,
    pub updates_applied: u64,
    pub updates_refused: u64,
    pub update_cycles: u64,
    pub busy_cycles: u64,
    pub icmp_errors_sent: u64,
    pub icmp_rate_limited: u64,
    /// [`PathCounters`]' fragmentation and reassembly counts.
    pub fragmented: u64,
    pub fragments: u64,
    pub reassembly_fragments: u64,
    pub reassembled: u64,
    pub fragments_reassembled: u64,
    pub reassembly_held: u64,
    /// Gauges of the worker's table (summed over workers: each worker has its own copy of every binding).
    pub table_bindings: u64,
    pub table_index_entries: u64,
    /// Traffic of removed bindings ([`TableCounters`]).
    pub retired: BindingSnapshot,
    pub drops: DropCounts,
}

impl CountersSnapshot {
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}

impl std::ops::AddAssign<&CountersSnapshot> for CountersSnapshot {
    fn add_assign(&mut self, other: &CountersSnapshot) {
        for (mine, theirs) in self.ports.iter_mut().zip(&other.ports) {
            mine.rx_packets += theirs.rx_packets;
            mine.rx_bytes += theirs.rx_bytes;
            mine.tx_packets += theirs.tx_packets;
            mine.tx_bytes += theirs.tx_bytes;
        }
        self.encapsulated += other.encapsulated;
        self.decapsulated += other.decapsulated;
        self.punted += other.punted;
        self.updates_applied += other.updates_applied;
        self.updates_refused += other.updates_refused;
        self.update_cycles += other.update_cycles;
        self.busy_cycles += other.busy_cycles;
        self.icmp_errors_sent += other.icmp_errors_sent;
        self.icmp_rate_limited += other.icmp_rate_limited;
        self.fragmented += other.fragmented;
        self.fragments += other.fragments;
        self.reassembly_fragments += other.reassembly_fragments;
        self.reassembled += other.reassembled;
        self.fragments_reassembled += other.fragments_reassembled;
        self.reassembly_held += other.reassembly_held;
        self.table_bindings += other.table_bindings;
        self.table_index_entries += other.table_index_entries;
        self.retired += other.retired;
        for (mine, theirs) in self.drops.iter_mut().zip(other.drops.iter()) {
            *mine += theirs;
        }
    }
}

/// One `name value` line per non-zero port counter, path counter and drop reason.
impl fmt::Display for CountersSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, port) in self.ports.iter().enumerate() {
            if *port != PortSnapshot::default() {
                writeln!(
                    f,
                    "port {i}: rx {} pkts {} bytes, tx {} pkts {} bytes",
                    port.rx_packets, port.rx_bytes, port.tx_packets, port.tx_bytes
                )?;
            }
        }
        writeln!(f, "encapsulated {}", self.encapsulated)?;
        writeln!(f, "decapsulated {}", self.decapsulated)?;
        writeln!(f, "punted {}", self.punted)?;
        writeln!(f, "icmp errors sent {}, rate-limited {}", self.icmp_errors_sent, self.icmp_rate_limited)?;
        if self.fragmented + self.reassembly_fragments != 0 {
            writeln!(f, "fragmented {} into {} fragments", self.fragmented, self.fragments)?;
            writeln!(
                f,
                "reassembly: {} fragments in, {} datagrams from {} fragments, {} held",
                self.reassembly_fragments, self.reassembled, self.fragments_reassembled, self.reassembly_held
            )?;
        }
        writeln!(f, "dropped {}", self.total_drops())?;
        for reason in DropReason::ALL {
            let count = self.drops(reason);
            if count != 0 {
                writeln!(f, "drop {reason} {count}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::record_for_tests::{count, records};

    fn counters(slots: usize) -> WorkerCounters {
        WorkerCounters::new(records(slots))
    }

    #[test]
    fn reasons_are_listed_once_in_declaration_order() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason}");
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn snapshot_is_readable_from_another_thread_while_the_owner_writes() {
        let counters = Arc::new(counters(4));
        let writer = {
            let counters = Arc::clone(&counters);
            std::thread::spawn(move || {
                for _ in 0..100_000 {
                    counters.path.encapsulated.add(1);
                    counters.count_drop(DropReason::OverMtu);
                }
            })
        };
        let mut last = 0;
        while !writer.is_finished() {
            let now = counters.snapshot().encapsulated;
            assert!(now >= last, "monotonic for a reader");
            last = now;
        }
        writer.join().unwrap();
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.encapsulated, 100_000);
        assert_eq!(snapshot.drops(DropReason::OverMtu), 100_000);
        assert_eq!(snapshot.total_drops(), 100_000);
    }

    #[test]
    fn snapshots_add_up_and_print_non_zero_lines() {
        let a = counters(1);
        let b = counters(1);
        a.count_drop(DropReason::GreVersion);
        b.count_drop(DropReason::GreVersion);
        b.ports[1].rx_packets.add(3);
        let mut total = a.snapshot();
        total += &b.snapshot();
        assert_eq!(total.drops(DropReason::GreVersion), 2);
        let text = total.to_string();
        assert!(text.contains("drop gre-version 2"), "{text}");
        assert!(text.contains("port 1: rx 3 pkts"), "{text}");
        assert!(!text.contains("port 0"), "{text}");
        assert!(!text.contains("unknown-key"), "{text}");
    }

    #[test]
    fn binding_counters_are_read_from_the_records() {
        let counters = counters(2);
        count(&counters.bindings, 1, 99);
        assert_eq!(counters.binding_snapshot(BindingId(1)).unwrap().downlink_bytes, 99);
        assert!(counters.binding_snapshot(BindingId(2)).is_none(), "beyond the table");
    }

    #[test]
    fn the_handle_sums_workers() {
        let workers: Vec<_> = (0..3).map(|_| Arc::new(counters(2))).collect();
        for (i, worker) in workers.iter().enumerate() {
            worker.path.decapsulated.add(i as u64 + 1);
            count(&worker.bindings, 1, 10);
        }
        let handle = CountersHandle::new(workers);
        assert_eq!(handle.total().decapsulated, 6);
        assert_eq!(handle.per_worker().iter().map(|s| s.decapsulated).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(handle.binding(BindingId(1)).downlink_bytes, 30);
        assert_eq!(handle.binding(BindingId(7)), BindingSnapshot::default(), "beyond capacity reads as zero");
    }
}
