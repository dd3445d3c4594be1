//! A worker: one poll loop on one core. Between bursts it applies table updates; each rx burst goes through the
//! pipeline, and the verdicts become one tx burst per egress port, punts to the control thread, or frees.

use crate::admission::Admission;
use crate::counters::DropReason;
use crate::dpdk::{cpu_cycles, Burst, Mbuf, Mempool, RxQueue, TxQueue, MAX_BURST};
use crate::idle::Idler;
use crate::packet::PacketBuf;
use crate::pipeline::{FastPath, Next};
use crate::reassembly::Reassembler;
use crate::PortIndex;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Table updates applied between two rounds of polling, at most: bounds the pause an update storm causes.
const UPDATES_PER_ROUND: usize = 1024;

/// A packet for the control thread, with the port index it arrived on.
pub struct Punted {
    pub port: PortIndex,
    pub mbuf: Mbuf,
}

/// The queues from the workers to the control thread, each `depth` packets deep: signalling in one, everything
/// else (ARP, NDP, echo) in the other, so that a flood of either never drops the other.
pub fn punt_queue(depth: usize) -> (PuntSender, PuntReceiver) {
    let (signalling_tx, signalling) = crossbeam_channel::bounded(depth);
    let (other_tx, other) = crossbeam_channel::bounded(depth);
    (PuntSender { signalling: signalling_tx, other: other_tx }, PuntReceiver { signalling, other })
}

/// The workers' end of the punt queues.
#[derive(Clone)]
pub struct PuntSender {
    signalling: Sender<Punted>,
    other: Sender<Punted>,
}

/// The control thread's end of the punt queues.
pub struct PuntReceiver {
    signalling: Receiver<Punted>,
    other: Receiver<Punted>,
}

/// Every worker has ended (dropped its sender) and the queues are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PuntQueueClosed;

impl PuntReceiver {
    /// The next punted packet from either queue, or `None` after `timeout` without one, or as soon as one of
    /// `wakes` rings (e.g. the workers applied table updates: [`crate::tables::UpdateSender::wakeups`]).
    pub fn recv_timeout(&self, timeout: Duration, wakes: &[&Receiver<()>]) -> Result<Option<Punted>, PuntQueueClosed> {
        let mut select = crossbeam_channel::Select::new();
        let signalling = select.recv(&self.signalling);
        select.recv(&self.other);
        for wake in wakes {
            select.recv(wake);
        }
        let Ok(ready) = select.select_timeout(timeout) else { return Ok(None) };
        if let Some(wake) = ready.index().checked_sub(2).and_then(|i| wakes.get(i)) {
            let _ = ready.recv(wake);
            return Ok(None);
        }
        let queue = if ready.index() == signalling { &self.signalling } else { &self.other };
        match ready.recv(queue) {
            Ok(punted) => Ok(Some(punted)),
            // That queue is closed and empty: what is left is in the other one, or nowhere.
            Err(_) => match self.other.try_recv().or_else(|_| self.signalling.try_recv()) {
                Ok(punted) => Ok(Some(punted)),
                Err(_) if self.signalling.is_empty() && self.other.is_empty() => Err(PuntQueueClosed),
                Err(_) => Ok(None),
            },
        }
    }

    /// A punted packet already waiting, if any: ARP / NDP / echo first (few, and a neighbour waits on them),
    /// then signalling.
    pub fn try_recv(&self) -> Option<Punted> {
        self.other.try_recv().or_else(|_| self.signalling.try_recv()).ok()
    }
}

/// A frame the control thread wants sent (signalling, ARP/NDP answers), with the index of the port to send it on.
pub struct Injected {
    pub port: PortIndex,
    pub mbuf: Mbuf,
}

/// A bounded queue from the control thread to a worker, which transmits the frames on its own tx queues between
/// bursts: a device needs no spare tx queue for the control thread, and the fast path never waits on it.
pub fn inject_queue(depth: usize) -> (Sender<Injected>, Receiver<Injected>) {
    crossbeam_channel::bounded(depth)
}

/// Why a worker's loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The stop flag was set (signal, or the process is shutting down).
    Stopped,
    /// No packet arrived for the configured idle-exit time.
    Idle,
}

/// Everything one worker owns: its pipeline (with its tables and counters), one rx queue per port it polls, one
/// tx queue per port (indexed by port index), the punt queue, its idle policy, and the buffers and table it cuts
/// and rebuilds fragments with.
pub struct Worker {
    pub fast_path: FastPath,
    /// (port index, queue) pairs polled in turn.
    pub rx: Vec<(PortIndex, RxQueue)>,
    /// Indexed by port index.
    pub tx: Vec<TxQueue>,
    pub punt: PuntSender,
    /// How much signalling each peer may send to the control thread.
    pub admission: Arc<Admission>,
    /// Frames from the control thread to transmit (one worker takes them, which keeps their order).
    pub inject: Option<Receiver<Injected>>,
    pub idler: Idler,
    /// Where fragments and reassembled packets get their buffers; without one, packets that need them are
    /// dropped as `no-buffer`.
    pub pool: Option<Arc<Mempool>>,
    pub reassembly: Reassembler<Mbuf>,
}

/// What one rx burst's verdicts are turned into, beside the tx bursts.
struct Outputs {
    tx_bursts: Vec<Burst>,
    /// Dropped packets, freed in one bulk call per rx burst.
    dropped: Burst,
    /// Packets rebuilt from fragments in this rx burst, for a second pass through the pipeline.
    reassembled: Burst,
}

impl Worker {
    /// Polls until `stop` is set or the idler reports the input idle.
    pub fn run(&mut self, stop: &AtomicBool) -> Exit {
        let mut rx_burst = Burst::new();
        let mut out = Outputs {
            tx_bursts: self.tx.iter().map(|_| Burst::new()).collect(),
            dropped: Burst::new(),
            reassembled: Burst::new(),
        };
        let mut nexts = [Next::PUNT; MAX_BURST];
        loop {
            let round_start = cpu_cycles();
            self.fast_path.apply_updates(UPDATES_PER_ROUND);
            let mut moved = 0;
            if let Some(inject) = &self.inject {
                // Counted as activity, so the idle exit waits for the control thread's last replies.
                moved += take_injected(inject, &mut out.tx_bursts, &self.fast_path);
                flush(&mut self.tx, &mut out.tx_bursts, &self.fast_path);
            }
            for (port, queue) in &mut self.rx {
                let received = queue.receive(&mut rx_burst);
                if received == 0 {
                    continue;
                }
                moved += received;
                drop_multi_segment(&self.fast_path, *port, &mut rx_burst);
                self.fast_path.process_burst(*port, rx_burst.as_mut_slice(), &mut nexts);
                // The common case: the whole burst forwarded on one port with nothing queued there yet. It goes
                // out as it came in, without being sorted packet by packet.
                if let Some(egress) = one_port(nexts.get(..rx_burst.len()).unwrap_or_default()) {
                    if let (Some(queue), Some(queued)) =
                        (self.tx.get_mut(egress.get()), out.tx_bursts.get(egress.get()))
                    {
                        if queued.is_empty() {
                            send(queue, &mut rx_burst, egress, &self.fast_path);
                            continue;
                        }
                    }
                }
                let mut dispatcher = Dispatcher {
                    fast_path: &self.fast_path,
                    tx: &mut self.tx,
                    punt: &self.punt,
                    admission: &self.admission,
                    pool: self.pool.as_deref(),
                    reassembly: Some(&mut self.reassembly),
                    port: *port,
                };
                dispatcher.dispatch(&mut rx_burst, &nexts, &mut out);
                if !out.reassembled.is_empty() {
                    let mut rebuilt = std::mem::take(&mut out.reassembled);
                    self.fast_path.process_reassembled(*port, rebuilt.as_mut_slice(), &mut nexts);
                    // A rebuilt packet is never a fragment again: no reassembly the second time.
                    dispatcher.reassembly = None;
                    dispatcher.dispatch(&mut rebuilt, &nexts, &mut out);
                }
                out.dropped.clear();
                flush(&mut self.tx, &mut out.tx_bursts, &self.fast_path);
            }
            if self.reassembly.held() != 0 {
                self.reassembly.expire(self.fast_path.now(), self.fast_path.counters());
            }
            if moved != 0 {
                self.fast_path.counters().path.busy_cycles.add(cpu_cycles().wrapping_sub(round_start));
            }
            let exit = if stop.load(Ordering::Relaxed) {
                Exit::Stopped
            } else if self.idler.after_poll(moved, cpu_cycles) {
                Exit::Idle
            } else {
                continue;
            };
            // Fragments still waiting will not complete now: dropped and counted as such.
            self.reassembly.release_all(self.fast_path.counters());
            return exit;
        }
    }
}

/// Turns a burst's verdicts into transmissions, punts, fragments, reassembly and frees.
struct Dispatcher<'a> {
    fast_path: &'a FastPath,
    tx: &'a mut [TxQueue],
    punt: &'a PuntSender,
    admission: &'a Admission,
    pool: Option<&'a Mempool>,
    reassembly: Option<&'a mut Reassembler<Mbuf>>,
    /// The rx port.
    port: PortIndex,
}

impl Dispatcher<'_> {
    fn dispatch(&mut self, burst: &mut Burst, nexts: &[Next], out: &mut Outputs) {
        let counters = self.fast_path.counters();
        for (mbuf, &next) in burst.drain().zip(nexts) {
            if let Some(egress) = next.port() {
                match out.tx_bursts.get_mut(egress.get()) {
                    Some(burst) => {
                        // Full only after fragments took room (an rx burst alone fills a tx burst at most once):
                        // then send what is there and try again.
                        let refused = burst.push(mbuf).err().and_then(|mbuf| match self.tx.get_mut(egress.get()) {
                            Some(queue) => {
                                send(queue, burst, egress, self.fast_path);
                                burst.push(mbuf).err()
                            }
                            None => Some(mbuf),
                        });
                        if let Some(mbuf) = refused {
                            let _ = out.dropped.push(mbuf);
                            counters.count_drop(DropReason::TxFailed);
                        }
                    }
                    None => {
                        let _ = out.dropped.push(mbuf);
                        counters.count_drop(DropReason::NoEgressPort);
                    }
                }
            } else if next.is_signalling() {
                if self.admission.admit(mbuf.data(), self.fast_path.now()) {
                    punt(&self.punt.signalling, self.fast_path, self.port, mbuf);
                } else {
                    let _ = out.dropped.push(mbuf);
                    counters.count_drop(DropReason::SignallingRateLimited);
                }
            } else if next.is_punt() {
                punt(&self.punt.other, self.fast_path, self.port, mbuf);
            } else if let Some((egress, _)) = next.fragments() {
                self.fragment(mbuf, next, egress, out);
            } else if next.is_reassemble() {
                self.reassemble(mbuf, out);
            } else {
                // `dropped` holds one rx burst at most: it is cleared for every rx burst (a push beyond frees
                // the packet on its own).
                let _ = out.dropped.push(mbuf);
            }
        }
    }

    /// Cuts an oversized packet into fragments and queues them on `egress`, sending the port's burst whenever
    /// it fills.
    #[cold]
    fn fragment(&mut self, mbuf: Mbuf, next: Next, egress: PortIndex, out: &mut Outputs) {
        let (Some(burst), Some(queue)) = (out.tx_bursts.get_mut(egress.get()), self.tx.get_mut(egress.get())) else {
            drop(mbuf);
            self.fast_path.counters().count_drop(DropReason::NoEgressPort);
            return;
        };
        let pool = self.pool;
        let fast_path = self.fast_path;
        let _ = fast_path.fragment(
            mbuf,
            next,
            || pool.and_then(Mempool::alloc),
            |piece| {
                if burst.is_full() {
                    send(queue, burst, egress, fast_path);
                }
                if burst.push(piece).is_err() {
                    fast_path.counters().count_drop(DropReason::TxFailed);
                }
            },
        );
    }

    /// Hands an outer fragment to the reassembly table; a datagram it completes goes through the pipeline after
    /// this burst.
    #[cold]
    fn reassemble(&mut self, mbuf: Mbuf, out: &mut Outputs) {
        let counters = self.fast_path.counters();
        let Some(reassembly) = self.reassembly.as_deref_mut() else {
            drop(mbuf);
            counters.count_drop(DropReason::ReassemblyInvalid);
            return;
        };
        let pool = self.pool;
        let now = self.fast_path.now();
        if let Some(packet) = reassembly.add(mbuf, now, counters, || pool.and_then(Mempool::alloc)) {
            if out.reassembled.push(packet).is_err() {
                counters.count_drop(DropReason::NoBuffer);
            }
        }
    }
}

/// The port every packet of a burst is forwarded on whole, if it is one port.
#[inline]
fn one_port(nexts: &[Next]) -> Option<PortIndex> {
    let first = *nexts.first()?;
    (first.port().is_some() && nexts.iter().all(|&next| next == first)).then(|| first.port()).flatten()
}

/// Frees (and counts as received, then dropped) packets the pipeline cannot read whole. Rare — the pool's buffers
/// hold a full frame — so the common case costs one scan of the burst.
fn drop_multi_segment(fast_path: &FastPath, port: PortIndex, burst: &mut Burst) {
    if burst.as_slice().iter().all(Mbuf::is_contiguous) {
        return;
    }
    let mut kept = Burst::new();
    for mbuf in burst.drain() {
        if mbuf.is_contiguous() {
            // `kept` has the same capacity as `burst`.
            let _ = kept.push(mbuf);
        } else {
            let counters = fast_path.counters();
            if let Some(port) = counters.port(port) {
                port.rx_packets.add(1);
                port.rx_bytes.add(mbuf.pkt_len() as u64);
            }
            counters.count_drop(DropReason::MultiSegment);
        }
    }
    for mbuf in kept.drain() {
        let _ = burst.push(mbuf);
    }
}

/// Hands a packet to the control thread; when its queue is full the packet is dropped and counted, never waited on.
fn punt(queue: &Sender<Punted>, fast_path: &FastPath, port: PortIndex, mbuf: Mbuf) {
    match queue.try_send(Punted { port, mbuf }) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            fast_path.counters().count_drop(DropReason::PuntQueueFull);
        }
    }
}

/// Moves up to one burst of injected frames into the tx bursts of their ports.
fn take_injected(inject: &Receiver<Injected>, tx_bursts: &mut [Burst], fast_path: &FastPath) -> usize {
    let mut taken = 0;
    while taken < MAX_BURST {
        let Ok(Injected { port, mbuf }) = inject.try_recv() else { break };
        taken += 1;
        match tx_bursts.get_mut(port.get()) {
            // The bursts are empty here (flushed after every rx burst) and this loop adds at most MAX_BURST.
            Some(burst) => {
                if let Err(mbuf) = burst.push(mbuf) {
                    drop(mbuf);
                    fast_path.counters().count_drop(DropReason::TxFailed);
                }
            }
            None => fast_path.counters().count_drop(DropReason::NoEgressPort),
        }
    }
    taken
}

/// Sends every non-empty tx burst on its port's queue.
fn flush(queues: &mut [TxQueue], bursts: &mut [Burst], fast_path: &FastPath) {
    for (port, (queue, burst)) in (0..).map(PortIndex).zip(queues.iter_mut().zip(bursts.iter_mut())) {
        if !burst.is_empty() {
            send(queue, burst, port, fast_path);
        }
    }
}

/// Sends a tx burst on `port`'s queue and counts what left and what the driver refused.
fn send(queue: &mut TxQueue, burst: &mut Burst, port: PortIndex, fast_path: &FastPath) {
    let counters = fast_path.counters();
    let bytes: usize = burst.as_slice().iter().map(|m| m.data().len()).sum();
    let outcome = queue.send(burst);
    if let Some(port) = counters.port(port) {
        port.tx_packets.add(outcome.sent as u64);
        port.tx_bytes.add(bytes.saturating_sub(outcome.dropped_bytes) as u64);
    }
    counters.count_drops(DropReason::TxFailed, outcome.dropped as u64);
}
