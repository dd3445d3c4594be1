//! The table update protocol: one bounded queue per worker, epochs, and acknowledgement.
//!
//! The control thread's [`UpdateSender`] owns a replica of the tables. Every change is first applied to the
//! replica — which is where capacity and key conflicts are refused, synchronously, with an error the control
//! plane can report — and only then sent, tagged with the next [`Epoch`], to every worker. A worker applies what
//! is queued between two bursts and then publishes the epoch of the last update it applied. Because every worker
//! applies the same sequence to the same state, its copy cannot refuse what the replica accepted.
//!
//! "Installed before acknowledged": `let Installed { epoch, .. } = sender.install(binding)?;
//! sender.wait_applied(epoch, timeout)?;` returns once no worker will process another packet without the
//! binding — only then does an LMA send its PBA.

use super::worker::{home_slot, slot_count, WorkerTable};
use super::{BindingTable, TableError};
use crate::binding::{Binding, BindingId, Function};
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sizes and patience of the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// Bindings each table holds; memory is reserved up front and the tables never grow.
    pub capacity: usize,
    /// Updates that can wait in one worker's queue.
    pub queue_depth: usize,
    /// How long an update waits for room in a full queue before it is refused.
    pub queue_wait: Duration,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig { capacity: 1 << 20, queue_depth: 4096, queue_wait: Duration::from_secs(1) }
    }
}

/// Sequence number of an update; a worker that applied epoch `e` has applied every update up to `e`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

/// A change to the tables, as a worker receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableUpdate {
    /// A new binding in a free slot; the slot's counters start from zero.
    Install { id: BindingId, binding: Binding },
    /// New contents for an occupied slot (handover, a key learnt later); counters carry on.
    Modify { id: BindingId, binding: Binding },
    /// The slot is freed.
    Remove { id: BindingId },
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Message {
    pub epoch: Epoch,
    pub update: TableUpdate,
}

/// The epoch a worker has applied, alone in its cache line: the worker stores, the control thread loads.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(super) struct AppliedEpoch(pub AtomicU64);

#[derive(Debug)]
struct WorkerLink {
    queue: Sender<Message>,
    applied: Arc<AppliedEpoch>,
}

impl WorkerLink {
    /// The worker's [`WorkerTable`] was dropped (its thread ended): it forwards nothing any more.
    fn is_gone(&self) -> bool {
        Arc::strong_count(&self.applied) == 1
    }
}

/// The result of [`UpdateSender::install`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Installed {
    pub id: BindingId,
    /// Wait for this epoch before acknowledging the binding to the peer.
    pub epoch: Epoch,
}

/// The control thread's handle on every worker's tables.
///
/// Every change is applied to a replica first — capacity and key conflicts are refused here, synchronously —
/// and then sent with the next [`Epoch`] to each worker, which applies it between two bursts. To install state
/// before acknowledging it to a peer (an LMA's PBA):
///
/// ```
/// use dataplane::binding::{Binding, BindingId, Function, TunnelEndpoints};
/// use dataplane::counters::WorkerCounters;
/// use dataplane::tables::{Installed, TableConfig, UpdateSender};
/// use std::time::Duration;
///
/// let mut sender = UpdateSender::new(TableConfig { capacity: 16, ..TableConfig::default() });
/// let mut worker = sender.add_worker()?; // in the gateway: moved to the worker's core
/// let binding = Binding {
///     function: Function::Lma,
///     tunnel: TunnelEndpoints::Ipv6 { local: "2001:db8:2::1".parse()?, remote: "2001:db8:1::1".parse()? },
///     uplink_key: Some(0x0a0b0c0d),
///     downlink_key: Some(0x00010001),
///     ue_ipv4: None,
///     ue_ipv6_prefix: Some("2001:db8:aaaa:1::".parse()?),
///     next_hop: Default::default(),
/// };
/// let Installed { id, epoch } = sender.install(binding)?;
/// let counters = WorkerCounters::new(worker.records().clone());
/// worker.apply_pending(&counters, usize::MAX); // the worker, between two bursts
/// sender.wait_applied(epoch, Duration::from_secs(1))?; // no worker processes a packet without it now
/// assert_eq!(worker.find_rx(Function::Lma, 0x0a0b0c0d, &[]), Some(id));
/// assert_eq!(id, BindingId(0x0a0b0c0d & 15), "the uplink key's home slot");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UpdateSender {
    config: TableConfig,
    replica: BindingTable,
    free: FreeSlots,
    epoch: Epoch,
    workers: Vec<WorkerLink>,
    /// A worker that has applied updates rings this (one pending ring is enough: the control thread then reads
    /// every worker's epoch), so the control thread learns of it at once, not at its next timed poll.
    ring: Sender<()>,
    wakeups: Receiver<()>,
}

impl UpdateSender {
    pub fn new(config: TableConfig) -> Self {
        let (ring, wakeups) = crossbeam_channel::bounded(1);
        UpdateSender {
            replica: BindingTable::new(config.capacity),
            free: FreeSlots::new(slot_count(config.capacity)),
            epoch: Epoch(0),
            workers: Vec::new(),
            ring,
            wakeups,
            config,
        }
    }

    /// Rings when a worker has applied updates: wait on it (beside the punt queues) to hear of new epochs.
    pub fn wakeups(&self) -> &Receiver<()> {
        &self.wakeups
    }

    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// Bindings in the replica, and slots taken from the free map: equal unless a slot leaked.
    pub fn occupancy(&self) -> (usize, usize) {
        (self.replica.len(), self.free.taken())
    }

    /// Creates the next worker's table, holding every binding installed so far, and its update queue.
    pub fn add_worker(&mut self) -> Result<WorkerTable, TableError> {
        let initial = self.replica.iter().map(|(id, binding)| (id, *binding)).collect();
        let (queue, updates) = crossbeam_channel::bounded(self.config.queue_depth);
        let applied = Arc::new(AppliedEpoch(AtomicU64::new(self.epoch.0)));
        self.workers.push(WorkerLink { queue, applied: Arc::clone(&applied) });
        Ok(WorkerTable::new(self.config.capacity, initial, updates, applied, self.ring.clone()))
    }

    /// Installs a new binding: in its receive key's home slot when that is free (found without a hash), else
    /// in the highest free slot, away from the low slots that keys allocated from a range take.
    pub fn install(&mut self, binding: Binding) -> Result<Installed, TableError> {
        if self.replica.len() >= self.config.capacity {
            return Err(TableError::Full { capacity: self.config.capacity });
        }
        let rx_key = match binding.function {
            Function::Lma => binding.uplink_key,
            Function::Mag => binding.downlink_key,
        };
        let home = rx_key.map(|key| home_slot(key, self.free.slots())).filter(|&slot| self.free.is_free(slot));
        let Some(slot) = home.or_else(|| self.free.highest()) else {
            return Err(TableError::Full { capacity: self.config.capacity });
        };
        let id = BindingId(slot);
        self.wait_for_room()?;
        self.replica.insert(id, binding)?;
        self.free.take(slot);
        let epoch = self.broadcast(TableUpdate::Install { id, binding });
        Ok(Installed { id, epoch })
    }

    /// Replaces an installed binding.
    pub fn modify(&mut self, id: BindingId, binding: Binding) -> Result<Epoch, TableError> {
        self.wait_for_room()?;
        self.replica.replace(id, binding)?;
        Ok(self.broadcast(TableUpdate::Modify { id, binding }))
    }

    /// Removes an installed binding; its slot is reused by a later install.
    pub fn remove(&mut self, id: BindingId) -> Result<Epoch, TableError> {
        self.wait_for_room()?;
        self.replica.remove(id)?;
        self.free.give_back(id.0);
        Ok(self.broadcast(TableUpdate::Remove { id }))
    }

    /// The bindings as every worker will have them once the latest epoch is applied.
    pub fn table(&self) -> &BindingTable {
        &self.replica
    }

    /// Epoch of the latest update sent.
    pub fn latest_epoch(&self) -> Epoch {
        self.epoch
    }

    /// The epoch every live worker has applied.
    pub fn applied_epoch(&self) -> Epoch {
        self.workers
            .iter()
            .filter(|w| !w.is_gone())
            .map(|w| Epoch(w.applied.0.load(Ordering::Acquire)))
            .min()
            .unwrap_or(self.epoch)
    }

    /// Waits until every live worker has applied `epoch`.
    pub fn wait_applied(&self, epoch: Epoch, timeout: Duration) -> Result<(), TableError> {
        let deadline = Instant::now() + timeout;
        let mut backoff = Backoff::default();
        while self.applied_epoch() < epoch {
            if Instant::now() >= deadline {
                return Err(TableError::Timeout(epoch));
            }
            backoff.pause();
        }
        Ok(())
    }

    /// Waits until every live worker has applied every update sent so far.
    pub fn sync(&self, timeout: Duration) -> Result<Epoch, TableError> {
        self.wait_applied(self.epoch, timeout).map(|()| self.epoch)
    }

    /// Waits for a free place in every live worker's queue, so the broadcast that follows reaches all of them or,
    /// on timeout, none. Only this thread sends, so room once seen stays.
    fn wait_for_room(&self) -> Result<(), TableError> {
        let deadline = Instant::now() + self.config.queue_wait;
        let mut backoff = Backoff::default();
        for (worker, link) in self.workers.iter().enumerate() {
            while link.queue.is_full() && !link.is_gone() {
                if Instant::now() >= deadline {
                    return Err(TableError::QueueFull { worker });
                }
                backoff.pause();
            }
        }
        Ok(())
    }

    fn broadcast(&mut self, update: TableUpdate) -> Epoch {
        self.epoch = Epoch(self.epoch.0 + 1);
        for link in &self.workers {
            // Room was checked; an error means the worker is gone, which needs no update.
            let _ = link.queue.try_send(Message { epoch: self.epoch, update });
        }
        self.epoch
    }
}

/// Spins briefly, then yields, then sleeps: acknowledgements usually arrive within a burst, but on a small
/// machine the worker may share this core.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn pause(&mut self) {
        self.0 += 1;
        if self.0 < 64 {
            std::hint::spin_loop();
        } else if self.0 < 128 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

/// The free slots of a table: one bit each, takeable by number (a key's home slot) or as the highest free one, so
/// that bindings without a home slot stay away from the low slots that keys allocated from a range take.
#[derive(Debug)]
struct FreeSlots {
    words: Vec<u64>,
    slots: usize,
}

impl FreeSlots {
    fn new(slots: usize) -> Self {
        let mut words = vec![u64::MAX; slots.div_ceil(64)];
        // The last word's bits beyond the table are not slots.
        match (slots % 64, words.last_mut()) {
            (0, _) | (_, None) => {}
            (tail, Some(last)) => *last = (1u64 << tail) - 1,
        }
        FreeSlots { words, slots }
    }

    fn taken(&self) -> usize {
        self.slots - self.words.iter().map(|w| w.count_ones() as usize).sum::<usize>()
    }

    fn slots(&self) -> usize {
        self.slots
    }

    fn is_free(&self, slot: u32) -> bool {
        self.words.get(slot as usize / 64).is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// The highest free slot: a scan from the top, one word per 64 slots (the control thread's work, and short
    /// unless the table's upper end is full).
    fn highest(&self) -> Option<u32> {
        let (at, word) = self.words.iter().enumerate().rev().find(|(_, w)| **w != 0)?;
        Some((at * 64 + 63 - word.leading_zeros() as usize) as u32)
    }

    fn take(&mut self, slot: u32) {
        if let Some(word) = self.words.get_mut(slot as usize / 64) {
            *word &= !(1 << (slot % 64));
        }
    }

    fn give_back(&mut self, slot: u32) {
        if let Some(word) = self.words.get_mut(slot as usize / 64) {
            *word |= 1 << (slot % 64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FreeSlots;

    #[test]
    fn the_highest_free_slot_stays_the_highest_whatever_was_taken_by_number() {
        let mut free = FreeSlots::new(130);
        assert_eq!(free.highest(), Some(129));
        free.take(2);
        free.take(129);
        assert_eq!(free.highest(), Some(128), "a home slot taken by number does not move the top");
        free.take(128);
        free.give_back(2);
        assert_eq!(free.highest(), Some(127), "a freed low slot is not handed out before the high ones");
        assert!(free.is_free(2) && !free.is_free(128) && !free.is_free(130));
        for slot in 0..130 {
            free.take(slot);
        }
        assert_eq!(free.highest(), None);
    }
}
