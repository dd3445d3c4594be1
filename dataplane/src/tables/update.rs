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

use super::{BindingTable, TableError};
use crate::binding::{Binding, BindingId};
use crate::counters::WorkerCounters;
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

#[derive(Debug)]
struct Message {
    epoch: Epoch,
    update: TableUpdate,
}

/// The epoch a worker has applied, alone in its cache line: the worker stores, the control thread loads.
#[derive(Debug, Default)]
#[repr(align(64))]
struct AppliedEpoch(AtomicU64);

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
/// use dataplane::binding::{Binding, Function, TunnelEndpoints};
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
/// let Installed { epoch, .. } = sender.install(binding)?;
/// worker.apply_pending(&WorkerCounters::new(16), usize::MAX); // the worker, between two bursts
/// sender.wait_applied(epoch, Duration::from_secs(1))?; // no worker processes a packet without it now
/// assert!(worker.table().lma_by_uplink_key(0x0a0b0c0d).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UpdateSender {
    config: TableConfig,
    replica: BindingTable,
    /// Freed slots, reused last-freed first.
    free: Vec<BindingId>,
    /// Slots at and above this one have never been used.
    next_unused: u32,
    epoch: Epoch,
    workers: Vec<WorkerLink>,
}

impl UpdateSender {
    pub fn new(config: TableConfig) -> Self {
        UpdateSender {
            replica: BindingTable::new(config.capacity),
            free: Vec::with_capacity(config.capacity),
            next_unused: 0,
            epoch: Epoch(0),
            workers: Vec::new(),
            config,
        }
    }

    pub fn config(&self) -> &TableConfig {
        &self.config
    }

    /// Creates the next worker's table, holding every binding installed so far, and its update queue.
    pub fn add_worker(&mut self) -> Result<WorkerTable, TableError> {
        let mut table = BindingTable::new(self.config.capacity);
        for (id, binding) in self.replica.iter() {
            table.insert(id, *binding)?;
        }
        let (queue, updates) = crossbeam_channel::bounded(self.config.queue_depth);
        let applied = Arc::new(AppliedEpoch(AtomicU64::new(self.epoch.0)));
        self.workers.push(WorkerLink { queue, applied: Arc::clone(&applied) });
        Ok(WorkerTable { table, updates, applied })
    }

    /// Installs a new binding in a free slot.
    pub fn install(&mut self, binding: Binding) -> Result<Installed, TableError> {
        let id = match self.free.last() {
            Some(&id) => id,
            None if (self.next_unused as usize) < self.config.capacity => BindingId(self.next_unused),
            None => return Err(TableError::Full { capacity: self.config.capacity }),
        };
        self.wait_for_room()?;
        self.replica.insert(id, binding)?;
        if self.free.pop().is_none() {
            self.next_unused += 1;
        }
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
        self.free.push(id);
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

/// A worker's own table and the queue that feeds it.
#[derive(Debug)]
pub struct WorkerTable {
    table: BindingTable,
    updates: Receiver<Message>,
    applied: Arc<AppliedEpoch>,
}

impl WorkerTable {
    /// The table, for lookups.
    #[inline]
    pub fn table(&self) -> &BindingTable {
        &self.table
    }

    /// Applies up to `max` queued updates and publishes the last epoch applied; call it between bursts.
    /// Returns how many were applied.
    pub fn apply_pending(&mut self, counters: &WorkerCounters, max: usize) -> usize {
        let mut applied = 0;
        let mut last = None;
        while applied < max {
            let Ok(message) = self.updates.try_recv() else { break };
            let result = match message.update {
                TableUpdate::Install { id, binding } => {
                    counters.reset_binding(id);
                    self.table.insert(id, binding)
                }
                TableUpdate::Modify { id, binding } => self.table.replace(id, binding).map(drop),
                TableUpdate::Remove { id } => self.table.remove(id).map(drop),
            };
            match result {
                Ok(()) => counters.path.updates_applied.add(1),
                Err(_) => counters.path.updates_refused.add(1),
            }
            last = Some(message.epoch);
            applied += 1;
        }
        if let Some(epoch) = last {
            // Release: the table changes above happen-before the control thread's Acquire load sees this epoch.
            self.applied.0.store(epoch.0, Ordering::Release);
        }
        applied
    }
}
