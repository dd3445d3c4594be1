//! A worker's own table: one [`Record`] per slot, found by a receive key directly and by anything else through
//! the hash [`Index`].
//!
//! **Direct lookups.** A receive key's *home slot* is its low bits (`key & (slots - 1)`). The gateway allocates
//! its receive keys itself — the LMA its uplink keys (TS 29.275 §6.3), the MAG its downlink keys (§6.2) — from a
//! range, reusing released keys before new ones, so the keys in use at any time lie within a window no wider than
//! the table and their home slots are all different. The control side puts such a binding in its home slot, and a
//! GRE packet finds it with a mask and one compare of the full key in the record (plus the LMAA on a MAG): no
//! hash, no probe. A key whose home slot is taken (a key reserved to equal a GTP TEID, §6.3; static bindings with
//! arbitrary keys) is *displaced*: it lives in another slot and the index finds it.
//!
//! **UE lookups** (LMA downlink by destination, MAG uplink by source) try the UE's direct position first
//! (`direct.rs`), then the index.
//!
//! **Indexed lookups**: UE addresses whose direct position another UE holds, and displaced keys.

use super::direct::{self, UeDirect};
use super::index::{Index, Kind, Probe};
use super::record::{flag, fold_address, Record, Records, TemplateContext};
use super::update::{AppliedEpoch, Message, TableUpdate};
use crate::binding::{Binding, BindingId, Function};
use crate::counters::WorkerCounters;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Updates a worker takes from its queue at a time, to prefetch what they touch together.
const UPDATE_BATCH: usize = 32;

/// Slots of a table of `capacity` bindings: a power of two, so a home slot is a mask away.
pub fn slot_count(capacity: usize) -> usize {
    capacity.max(1).next_power_of_two()
}

/// The slot where a receive key is found without a probe.
#[inline(always)]
pub fn home_slot(key: u32, slots: usize) -> u32 {
    key & (slots as u32).wrapping_sub(1)
}

/// What a receive key is indexed as when displaced: the LMA's uplink key alone (§6.3: unique within the LMA), a
/// MAG's downlink key with its LMAA folded in (§6.2: unique per LMAA).
#[inline(always)]
fn rx_value(function: Function, key: u32, remote_fold: u32) -> u64 {
    match function {
        Function::Lma => u64::from(key),
        Function::Mag => u64::from(key) | u64::from(remote_fold) << 32,
    }
}

/// A worker's records, its index, and the queue of updates that changes them.
#[derive(Debug)]
pub struct WorkerTable {
    records: Arc<Records>,
    ue_direct: UeDirect,
    index: Index,
    /// Receive keys in the index; while zero, a key that misses its home slot is unknown without a probe.
    displaced: usize,
    len: usize,
    context: TemplateContext,
    /// Bindings installed before this table was started with its context ([`WorkerTable::start`]).
    initial: Vec<(BindingId, Binding)>,
    updates: Receiver<Message>,
    applied: Arc<AppliedEpoch>,
    /// Rung after publishing a new epoch ([`super::UpdateSender::wakeups`]).
    ring: Sender<()>,
}

impl WorkerTable {
    pub(super) fn new(
        capacity: usize,
        initial: Vec<(BindingId, Binding)>,
        updates: Receiver<Message>,
        applied: Arc<AppliedEpoch>,
        ring: Sender<()>,
    ) -> Self {
        WorkerTable {
            records: Arc::new(Records::new(slot_count(capacity))),
            ue_direct: UeDirect::new(slot_count(capacity)),
            // Up to two UE entries per binding, and displaced keys (a power of two stays one).
            index: Index::new(capacity.saturating_mul(2).max(64)),
            displaced: 0,
            len: 0,
            context: TemplateContext::default(),
            initial,
            updates,
            applied,
            ring,
        }
    }

    /// Sets how templates are built (the `core` port's MAC, hop limit, checksum offload) and installs the
    /// bindings that existed when the worker was added. The pipeline calls it once, before the first burst.
    pub fn start(&mut self, context: TemplateContext) {
        self.context = context;
        for (id, binding) in std::mem::take(&mut self.initial) {
            let _ = self.install(id, &binding);
        }
    }

    /// The records, shared with readers of the per-binding counters.
    pub fn records(&self) -> &Arc<Records> {
        &self.records
    }

    pub fn len(&self) -> usize {
        self.len + self.initial.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub(crate) fn record(&self, slot: u32) -> Option<&Record> {
        self.records.get(slot)
    }

    /// What packets read of the table fits in a core's own caches, so a lookup does not wait for memory: a table
    /// of up to 4k slots (its records are 512 KiB), or up to 1k bindings in a larger one (their records, UE
    /// positions and index buckets, wherever they lie). By bindings in use, not only by slots: a gateway with the
    /// default capacity of a million and a few hundred bindings takes the express lane too.
    #[inline(always)]
    pub(crate) fn in_cache(&self) -> bool {
        self.records.len() <= 4096 || self.len <= 1024
    }

    #[inline(always)]
    pub(crate) fn home(&self, key: u32) -> u32 {
        home_slot(key, self.records.len())
    }

    /// Starts loading the record at a receive key's home slot (where [`WorkerTable::rx_record`] looks first);
    /// its line 1 (the template and the remote address) only `with_line1`.
    #[inline(always)]
    pub(crate) fn prefetch_home(&self, key: u32, with_line1: bool) {
        if let Some(record) = self.record(self.home(key)) {
            match with_line1 {
                true => record.prefetch(),
                false => record.prefetch_line0(),
            }
        }
    }

    #[inline(always)]
    pub(crate) fn has_displaced_keys(&self) -> bool {
        self.displaced != 0
    }

    /// The binding of `function` that receives with `key`; `remote` is the outer source (4 or 16 bytes), which
    /// must be a MAG binding's LMAA. The key's home slot first (the pipeline prefetched it), the index only while
    /// some key is displaced.
    pub fn find_rx(&self, function: Function, key: u32, remote: &[u8]) -> Option<BindingId> {
        self.rx_record(function, key, remote).map(|(slot, _)| BindingId(slot))
    }

    /// [`WorkerTable::find_rx`] with the record, for the fast path.
    #[inline(always)]
    pub(crate) fn rx_record(&self, function: Function, key: u32, remote: &[u8]) -> Option<(u32, &Record)> {
        let home = self.home(key);
        if let Some(record) = self.record(home).filter(|record| record.receives(function, key, remote)) {
            return Some((home, record));
        }
        if !self.has_displaced_keys() {
            return None;
        }
        self.find_displaced(function, key, remote)
    }

    /// The rare case, kept out of the packet loop: a key away from its home slot.
    #[inline(never)]
    fn find_displaced(&self, function: Function, key: u32, remote: &[u8]) -> Option<(u32, &Record)> {
        let probe = self.rx_probe(function, key, remote);
        let receives = |slot| self.record(slot).is_some_and(|record| record.receives(function, key, remote));
        let slot = self.index.find(probe, receives)?;
        Some((slot, self.record(slot)?))
    }

    #[inline(always)]
    fn rx_probe(&self, function: Function, key: u32, remote: &[u8]) -> Probe {
        let fold = if function == Function::Mag { fold_address(remote) } else { 0 };
        self.index.probe(Kind::RxKey(function), rx_value(function, key, fold))
    }

    /// Where the index keeps the binding of `function` whose UE has `value`: the /64's upper bits (`ipv6`) or the
    /// IPv4 home address.
    #[inline(always)]
    pub(crate) fn ue_probe(&self, function: Function, ipv6: bool, value: u64) -> Probe {
        self.index.probe(Kind::ue(function, ipv6), value)
    }

    /// The binding of `function` whose UE has `value`: the /64's upper bits (`ipv6`) or the IPv4 home address.
    pub fn find_ue(&self, function: Function, ipv6: bool, value: u64) -> Option<BindingId> {
        self.ue_record(function, ipv6, value).map(|(slot, _)| BindingId(slot))
    }

    /// [`WorkerTable::find_ue`] for many values, staged as the fast path does it: every direct position
    /// prefetched, then each read and its record prefetched, then each record confirmed (anything else falls back
    /// to the full lookup). `out` gets one answer per value. For measuring against other tables (`bench`'s
    /// `hashcmp`).
    pub fn find_ue_bulk(&self, function: Function, ipv6: bool, values: &[u64], out: &mut [Option<BindingId>]) {
        const STEP: usize = crate::dpdk::MAX_BURST;
        let mut positions = [0u32; STEP];
        let mut slots = [direct::EMPTY; STEP];
        for (values, out) in values.chunks(STEP).zip(out.chunks_mut(STEP)) {
            for (position, value) in positions.iter_mut().zip(values) {
                *position = self.ue_position(ipv6, *value);
            }
            for (slot, position) in slots.iter_mut().zip(&positions).take(values.len()) {
                *slot = self.ue_candidate(ipv6, *position);
            }
            for ((slot, value), out) in slots.iter().zip(values).zip(out) {
                *out = match self.record(*slot) {
                    Some(record) if record.serves(function, ipv6, *value) => Some(BindingId(*slot)),
                    _ => self.find_ue(function, ipv6, *value),
                };
            }
        }
    }

    /// The direct position of a UE value (see `direct.rs`), its load started.
    #[inline(always)]
    pub(crate) fn ue_position(&self, ipv6: bool, value: u64) -> u32 {
        let position = self.ue_direct.position(value);
        self.ue_direct.prefetch(ipv6, position);
        position
    }

    /// The slot at a UE's direct position ([`direct::EMPTY`]: none), with its record's load started: the candidate
    /// the record will confirm or refuse.
    #[inline(always)]
    pub(crate) fn ue_candidate(&self, ipv6: bool, position: u32) -> u32 {
        let slot = self.ue_direct.get(ipv6, position);
        if let Some(record) = self.record(slot) {
            record.prefetch();
        }
        slot
    }

    /// The record at a UE's direct position, unconfirmed and not prefetched: the express lane's candidate
    /// (`pipeline/express.rs`), for a table in the cache.
    #[inline(always)]
    pub(crate) fn direct_record(&self, ipv6: bool, value: u64) -> Option<&Record> {
        self.record(self.ue_direct.get(ipv6, self.ue_direct.position(value)))
    }

    /// [`WorkerTable::find_ue`] with the record, for the fast path.
    #[inline(always)]
    pub(crate) fn ue_record(&self, function: Function, ipv6: bool, value: u64) -> Option<(u32, &Record)> {
        let slot = self.ue_direct.get(ipv6, self.ue_direct.position(value));
        if let Some(record) = self.record(slot).filter(|record| record.serves(function, ipv6, value)) {
            return Some((slot, record));
        }
        self.ue_indexed(function, ipv6, value)
    }

    /// A UE's binding through the index (its direct position held by another).
    #[inline(never)]
    fn ue_indexed(&self, function: Function, ipv6: bool, value: u64) -> Option<(u32, &Record)> {
        let probe = self.ue_probe(function, ipv6, value);
        let serves = |slot| self.record(slot).is_some_and(|record| record.serves(function, ipv6, value));
        let slot = self.index.find(probe, serves)?;
        Some((slot, self.record(slot)?))
    }

    /// Updates are waiting (or the bindings of a table not started yet).
    #[inline]
    pub fn has_pending(&self) -> bool {
        !self.updates.is_empty() || !self.initial.is_empty()
    }

    /// Applies up to `max` queued updates and publishes the last epoch applied; call it between bursts.
    /// Returns how many were applied.
    pub fn apply_pending(&mut self, counters: &WorkerCounters, max: usize) -> usize {
        if !self.initial.is_empty() {
            self.start(self.context);
        }
        let mut applied = 0;
        let mut last = None;
        let mut batch = [None::<Message>; UPDATE_BATCH];
        while applied < max {
            // Take a batch and start loading what each update touches, then apply them in order: the cache
            // misses of a batch overlap, as those of a burst of packets do.
            let mut taken = 0;
            while taken < UPDATE_BATCH && applied + taken < max {
                let Ok(message) = self.updates.try_recv() else { break };
                self.prefetch_update(&message.update);
                batch[taken] = Some(message);
                taken += 1;
            }
            if taken == 0 {
                break;
            }
            for message in batch.iter_mut().take(taken).filter_map(Option::take) {
                let done = match message.update {
                    TableUpdate::Install { id, binding } => self.install(id, &binding),
                    TableUpdate::Modify { id, binding } => self.modify(id, &binding),
                    TableUpdate::Remove { id } => self.remove(id, counters),
                };
                if done {
                    counters.path.updates_applied.add(1);
                } else {
                    counters.path.updates_refused.add(1);
                }
                last = Some(message.epoch);
                applied += 1;
            }
        }
        counters.table.bindings.set(self.len as u64);
        counters.table.index_entries.set(self.index.len() as u64);
        if let Some(epoch) = last {
            // Release: the table changes above happen-before the control thread's Acquire load sees this epoch.
            self.applied.0.store(epoch.0, Ordering::Release);
            // Full: a ring is already pending, which covers this epoch too. Disconnected: nobody waits.
            let _ = self.ring.try_send(());
        }
        applied
    }

    /// Starts loading the record an update writes and the index buckets of the UE addresses it brings.
    fn prefetch_update(&self, update: &TableUpdate) {
        let (id, binding) = match update {
            TableUpdate::Install { id, binding } | TableUpdate::Modify { id, binding } => (id, Some(binding)),
            TableUpdate::Remove { id } => (id, None),
        };
        if let Some(record) = self.record(id.0) {
            record.prefetch();
        }
        if let Some(binding) = binding {
            if let Some(address) = binding.ue_ipv4 {
                self.index.prefetch(self.ue_probe(binding.function, false, u64::from(u32::from(address))));
            }
            if let Some(prefix) = binding.ue_prefix64() {
                self.index.prefetch(self.ue_probe(binding.function, true, prefix));
            }
        }
    }

    /// The index entries of the record in `slot`: its UE addresses and, if displaced, its receive key.
    fn entries(&self, slot: u32) -> [Option<(Kind, u64)>; 3] {
        let Some(record) = self.record(slot) else { return [None; 3] };
        let view = record.view();
        if !view.has(flag::VALID) {
            return [None; 3];
        }
        let function = view.function();
        let displaced = view.has(flag::RX_KEY) && self.home(view.rx_key) != slot;
        [
            displaced.then(|| (Kind::RxKey(function), rx_value(function, view.rx_key, record.remote_fold(view.flags)))),
            view.has(flag::UE_IPV4).then_some((Kind::ue(function, false), u64::from(view.ue_ipv4))),
            view.has(flag::UE_IPV6).then_some((Kind::ue(function, true), view.ue_prefix64)),
        ]
    }

    fn index_entries(&mut self, slot: u32, entries: [Option<(Kind, u64)>; 3], add: bool) {
        for (kind, value) in entries.into_iter().flatten() {
            if let Kind::UeIpv4(_) | Kind::UePrefix(_) = kind {
                // At its direct position or in the index, not both (direct.rs).
                let ipv6 = matches!(kind, Kind::UePrefix(_));
                let direct = if add {
                    self.ue_direct.claim(ipv6, value, slot)
                } else {
                    self.ue_direct.release(ipv6, value, slot)
                };
                if direct {
                    continue;
                }
            }
            let probe = self.index.probe(kind, value);
            let done = if add { self.index.insert(probe, slot) } else { self.index.remove(probe, slot) };
            if done && matches!(kind, Kind::RxKey(_)) {
                if add {
                    self.displaced += 1;
                } else {
                    self.displaced -= 1;
                }
            }
        }
    }

    fn occupied(&self, slot: u32) -> bool {
        self.record(slot).is_some_and(Record::is_live)
    }

    fn install(&mut self, id: BindingId, binding: &Binding) -> bool {
        let Some(record) = self.record(id.0) else { return false };
        if record.is_live() {
            return false;
        }
        record.store(binding, &self.context, true);
        let entries = self.entries(id.0);
        self.index_entries(id.0, entries, true);
        self.len += 1;
        true
    }

    fn modify(&mut self, id: BindingId, binding: &Binding) -> bool {
        if !self.occupied(id.0) {
            return false;
        }
        let old = self.entries(id.0);
        if let Some(record) = self.record(id.0) {
            record.store(binding, &self.context, false);
        }
        let new = self.entries(id.0);
        if old != new {
            self.index_entries(id.0, old, false);
            self.index_entries(id.0, new, true);
        }
        true
    }

    fn remove(&mut self, id: BindingId, counters: &WorkerCounters) -> bool {
        if !self.occupied(id.0) {
            return false;
        }
        let old = self.entries(id.0);
        self.index_entries(id.0, old, false);
        if let Some(record) = self.record(id.0) {
            counters.table.retire(&record.counters());
            record.clear();
        }
        self.len -= 1;
        true
    }
}
