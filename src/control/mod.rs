//! The control thread: punted frames in; signalling, neighbour answers and table updates out.
//!
//! It drives the sans-IO LMA or MAG procedures (`controlplane`) with what the workers punt, timer ticks and
//! management requests, and carries out what they ask for:
//! - a message to send is framed (`controlplane::transport`), put in an mbuf behind an Ethernet header and handed
//!   to a worker through the inject queue;
//! - a table update goes to every worker through `dataplane::tables`; the procedures hear it is live only once
//!   every worker has applied its epoch, so an LMA's PBA never leaves before its tunnel works (TS 29.275 §6.1);
//! - ARP requests and Neighbor Solicitations for the gateway's own addresses are answered, next hops are resolved
//!   and kept fresh, and bindings carry their peer's or UE's MAC ([`neighbors`], [`dataplane::neighbor::Neighbors`]);
//! - on a MAG's `access` port, UEs get Router Advertisements with their home network prefix ([`advertise`]);
//! - with durable state, each change the procedures emit goes to the journal, and no message leaves before the
//!   changes emitted ahead of it are durable ([`Control::warm_start`], `controlplane::durable`).

mod advertise;
mod latency;
mod neighbors;
mod tunnels;

use tunnels::{Tunnel, Tunnels};

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use controlplane::api::{ApiBridge, ApiCall};
use controlplane::api::{
    DataplaneStats, FastpathTotals, NeighbourView, PortStats, Request, Response, StateView, SteeringView,
    TrafficCounters, WorkerStats, WorkerView,
};
use controlplane::durable::journal::Outbox;
use controlplane::durable::journal::{JournalWriter, StateError};
use controlplane::durable::{Owner, RestoreCursor, RestoreReport, Restored, StateChange};
use controlplane::fastpath::{
    FastpathToken, Function as CpFunction, TunnelEndpoints as CpEndpoints, TunnelId, TunnelSpec, TunnelUpdate,
};
use controlplane::lma::Lma;
use controlplane::machine::{Event, Input, Output};
use controlplane::mag::Mag;
use controlplane::time::{Millis, Now, SystemClock};
use controlplane::transport::{self, FrameHeader};
use controlplane::wire::MhRepr;
use crossbeam_channel::{Sender, TrySendError};
use dataplane::binding::{Binding, Function, TunnelEndpoints};
use dataplane::counters::{CountersHandle, DropReason};
use dataplane::dpdk::{cycles_per_second, Mempool};
use dataplane::neighbor::{echo, ndp};
use dataplane::packet::PacketBuf;
use dataplane::steering::Steering;
use dataplane::tables::{Epoch, UpdateSender};
use dataplane::wire::ethernet::{self, MacAddr};
use dataplane::worker::{Injected, PuntReceiver, Punted};
use dataplane::PortIndex;

use crate::state::StateStart;
use dataplane::neighbor::Neighbors;

/// Longest the control thread sleeps waiting for a punted packet or the workers' table acknowledgements: bounds
/// the latency of timers and API calls.
const POLL: Duration = Duration::from_millis(5);

/// How often neighbour caches advance (retransmissions, ageing) and Router Advertisements are considered.
const NEIGHBOUR_TICK_MS: u64 = 200;

/// Frames the control thread keeps while the inject queue is full, before it counts them as not sent.
const INJECT_BACKLOG: usize = 16_384;
/// How soon the control thread looks again at frames waiting for room in the inject queue.
const BACKLOG_POLL: Duration = Duration::from_micros(100);

/// How long the final report waits for the journal to commit what its figures come after.
const FINAL_COMMIT_WAIT: Duration = Duration::from_secs(2);

/// Punted packets the control thread handles in one loop iteration at most (a worker's burst).
const PUNT_BURST: usize = 64;

/// Records a warm start restores before carrying out what they produced.
const RESTORE_STEP: usize = 4096;

/// What waits for the journal: a message to send, or a management reply.
enum Held {
    Send(FrameHeader, MhRepr),
    Reply(u64, Response),
}

/// The procedures this gateway runs.
pub enum Procedures {
    Lma(Box<Lma>),
    Mag(Box<Mag>),
}

impl Procedures {
    fn handle(&mut self, input: Input, now: controlplane::time::Now, out: &mut Vec<Output>) {
        match self {
            Procedures::Lma(lma) => lma.handle(input, now, out),
            Procedures::Mag(mag) => mag.handle(input, now, out),
        }
    }

    fn next_deadline(&self) -> Option<Millis> {
        match self {
            Procedures::Lma(lma) => lma.next_deadline(),
            Procedures::Mag(mag) => mag.next_deadline(),
        }
    }

    fn binding_count(&self) -> usize {
        match self {
            Procedures::Lma(lma) => lma.binding_count(),
            Procedures::Mag(mag) => mag.binding_count(),
        }
    }

    /// Whose journal this is.
    fn owner(&self) -> Owner {
        match self {
            Procedures::Lma(_) => Owner::Lma,
            Procedures::Mag(_) => Owner::Mag,
        }
    }

    fn enable_durability(&mut self) {
        match self {
            Procedures::Lma(lma) => lma.enable_durability(),
            Procedures::Mag(mag) => mag.enable_durability(),
        }
    }

    fn restore_start(&mut self, state: Restored) -> RestoreCursor {
        match self {
            Procedures::Lma(lma) => lma.restore_start(state),
            Procedures::Mag(mag) => mag.restore_start(state),
        }
    }

    fn restore_step(&mut self, cursor: &mut RestoreCursor, max: usize, now: Now, out: &mut Vec<Output>) -> bool {
        match self {
            Procedures::Lma(lma) => lma.restore_step(cursor, max, now, out),
            Procedures::Mag(mag) => mag.restore_step(cursor, max, now, out),
        }
    }

    fn restore_finish(&mut self, cursor: RestoreCursor, now: Now) -> RestoreReport {
        match self {
            Procedures::Lma(lma) => lma.restore_finish(cursor, now),
            Procedures::Mag(mag) => mag.restore_finish(cursor, now),
        }
    }

    fn outbox(&mut self) -> &mut Outbox {
        match self {
            Procedures::Lma(lma) => lma.outbox(),
            Procedures::Mag(mag) => mag.outbox(),
        }
    }

    fn announce_restart(&mut self, former: &Restored, out: &mut Vec<Output>) {
        match self {
            Procedures::Lma(lma) => lma.announce_restart(former, out),
            Procedures::Mag(mag) => mag.announce_restart(former, out),
        }
    }

    fn snapshot(&self, now: Now) -> Vec<StateChange> {
        match self {
            Procedures::Lma(lma) => lma.snapshot(now),
            Procedures::Mag(mag) => mag.snapshot(now),
        }
    }
}

/// What the control thread knows of a port.
pub struct ControlPort {
    pub name: String,
    pub mac: MacAddr,
    /// Carries signalling and tunnels (role `core`).
    pub core: bool,
    /// Faces the UEs (role `access`): Router Advertisements are sent here.
    pub access: bool,
    /// L3 MTU of the port.
    pub mtu: u16,
    /// The gateway's own addresses answered for by ARP / NDP on this port.
    pub addresses: Vec<IpAddr>,
}

/// Control-thread counters, reported at exit and through the API.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ControlStats {
    pub punted: u64,
    pub signalling_received: u64,
    pub signalling_sent: u64,
    /// Punted frames that were not valid signalling (bad checksum, truncated, ...).
    pub signalling_malformed: u64,
    pub arp_answered: u64,
    pub nd_answered: u64,
    pub router_advertisements: u64,
    pub echo_answered: u64,
    /// Punted frames nothing here handles (e.g. a Router Solicitation from a UE we do not serve).
    pub unhandled: u64,
    /// Messages not sent: no next-hop MAC known, no mbuf, or the inject queue full.
    pub send_failed: u64,
    pub updates_installed: u64,
    pub updates_refused: u64,
}

/// The control thread's state.
pub struct Control {
    procedures: Procedures,
    clock: SystemClock,
    tables: UpdateSender,
    counters: CountersHandle,
    tunnels: Tunnels,
    awaiting: VecDeque<(Epoch, FastpathToken)>,
    ports: Vec<ControlPort>,
    neighbors: Neighbors<TunnelId>,
    /// MAG: UEs with an IPv6 home network prefix, by the MAC they attached with: (access port, prefix).
    advertised: HashMap<MacAddr, (PortIndex, Ipv6Addr)>,
    last_neighbour_tick: u64,
    last_advertisement: u64,
    /// Frames produced by neighbour handling, waiting to be injected.
    frames: Vec<(PortIndex, Vec<u8>)>,
    inject: Sender<Injected>,
    /// Frames that found the inject queue full (a commit releasing hundreds of PBAs at once), sent in order as
    /// worker 0 makes room.
    inject_backlog: VecDeque<Injected>,
    pool: Arc<Mempool>,
    bridge: ApiBridge,
    api_calls: Vec<Receiver<ApiCall>>,
    out: Vec<Output>,
    latency: latency::SignallingLatency,
    /// Durable state: the journal, and the messages and replies waiting for the changes emitted ahead of them
    /// (with the journal sequence number they wait for), in order.
    journal: Option<JournalWriter>,
    held: VecDeque<(u64, Held)>,
    /// Rung by the journal's thread after each commit.
    journal_wake: (Sender<()>, crossbeam_channel::Receiver<()>),
    restore_report: RestoreReport,
    /// A warm start is restoring: the workers' acknowledgements are heard once, at its end.
    warming: bool,
    started: Instant,
    /// How each port steers tunnels to the workers (`pmipctl workers`).
    steering: Vec<SteeringView>,
    /// When `pmipctl workers` last looked, and each worker's busy cycles then.
    busy_sample: (Instant, Vec<u64>),
    pub stats: ControlStats,
}

impl Control {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        procedures: Procedures,
        tables: UpdateSender,
        counters: CountersHandle,
        ports: Vec<ControlPort>,
        neighbors: Neighbors<TunnelId>,
        inject: Sender<Injected>,
        pool: Arc<Mempool>,
        api_calls: Vec<Receiver<ApiCall>>,
    ) -> Control {
        // Room for a tunnel per table slot now, untouched until used: growing by doubling under an attach storm
        // copied all of them at once.
        let mut tunnels = Tunnels::default();
        tunnels.reserve(tables.config().capacity);
        Control {
            procedures,
            clock: SystemClock::new(),
            tables,
            counters,
            tunnels,
            awaiting: VecDeque::new(),
            ports,
            neighbors,
            advertised: HashMap::new(),
            last_neighbour_tick: 0,
            last_advertisement: 0,
            frames: Vec::new(),
            inject,
            inject_backlog: VecDeque::new(),
            pool,
            bridge: ApiBridge::default(),
            api_calls,
            out: Vec::new(),
            latency: Default::default(),
            journal: None,
            held: VecDeque::new(),
            journal_wake: crossbeam_channel::bounded(1),
            restore_report: RestoreReport::default(),
            warming: false,
            started: Instant::now(),
            steering: Vec::new(),
            busy_sample: (Instant::now(), Vec::new()),
            stats: ControlStats::default(),
        }
    }

    /// Before any worker forwards: restores the durable state (the tables get every restored binding, so the
    /// workers start with them) and goes on with the journal it was read from — or, after a start that lost the
    /// state, starts the journal afresh and tells the former peers of the new restart counter.
    pub fn warm_start(&mut self, start: StateStart) -> Result<(), String> {
        let Some(path) = start.journal else { return Ok(()) };
        let now = self.clock.now();
        let started = Instant::now();
        self.procedures.enable_durability();
        let owner = self.procedures.owner();
        let wake = self.journal_wake.0.clone();
        let wake = Box::new(move || {
            let _ = wake.try_send(());
        });
        let mut out = Vec::new();
        let mut restore_time = Duration::ZERO;
        match start.restored {
            // State read back: the journal goes on from the file as read, with what the restore changes appended
            // (a million bindings are not written again).
            Some(loaded) => {
                self.use_journal(JournalWriter::adopt(&path, owner, loaded.kept, wake), start.min_commit_interval)?;
                // An acknowledgement to wait for per restored binding: sized once (the tunnels are, at start).
                self.awaiting.reserve(loaded.restored.records.len());
                // In steps, each step's outputs carried out before the next (a million outputs never wait at
                // once), and the workers' acknowledgement heard once at the end rather than once per binding.
                self.warming = true;
                let mut cursor = self.procedures.restore_start(loaded.restored);
                loop {
                    let t = Instant::now();
                    let more = self.procedures.restore_step(&mut cursor, RESTORE_STEP, now, &mut out);
                    restore_time += t.elapsed();
                    self.write_down();
                    for output in out.drain(..) {
                        self.carry_out(output);
                    }
                    if !more {
                        break;
                    }
                }
                self.restore_report = self.procedures.restore_finish(cursor, now);
                self.write_down();
                self.warming = false;
            }
            // Otherwise the journal starts afresh with the state there is.
            None => {
                if let Some(discarded) = &start.discarded {
                    self.procedures.announce_restart(discarded, &mut out);
                }
                let journal = JournalWriter::create(&path, owner, &self.procedures.snapshot(now), wake);
                self.use_journal(journal, start.min_commit_interval)?;
            }
        }
        for output in out {
            self.carry_out(output);
        }
        self.poll_acknowledgements();
        let r = &self.restore_report;
        tracing::info!(
            path = %path.display(),
            restored = r.restored,
            expired = r.expired,
            refused = r.refused,
            restore_ms = restore_time.as_millis() as u64,
            ms = started.elapsed().as_millis() as u64,
            "durable state: journal started"
        );
        Ok(())
    }

    /// Writes the durable state to `journal` from now on (`state.min_commit_interval_us`: `interval`).
    fn use_journal(&mut self, journal: Result<JournalWriter, StateError>, interval: Duration) -> Result<(), String> {
        let journal = journal.map_err(|e| format!("key 'state.dir': {e}"))?;
        journal.set_min_commit_interval(interval);
        self.journal = Some(journal);
        Ok(())
    }

    /// Mutable access to the tables (workers are added through it).
    pub fn tables_mut(&mut self) -> &mut UpdateSender {
        &mut self.tables
    }

    /// The workers' counters, once they exist.
    pub fn attach_counters(&mut self, counters: CountersHandle) {
        self.counters = counters;
    }

    /// How each port steers tunnels to the workers, by port name.
    pub fn set_steering(&mut self, steering: &[(String, Steering)]) {
        self.steering =
            steering.iter().map(|(port, how)| SteeringView { port: port.clone(), steering: how.to_string() }).collect();
    }

    /// The tables' control handle (the replica of every binding).
    pub fn tables(&self) -> &UpdateSender {
        &self.tables
    }

    /// Runs until every worker has ended (the punt queue closes).
    pub fn run(&mut self, punts: &PuntReceiver) {
        let now = self.clock.now().mono.0;
        self.neighbors.start(now, &mut self.frames);
        self.send_frames();
        loop {
            let mut wait = self.procedures.next_deadline().map_or(POLL, |d| self.clock.until(d).min(POLL));
            if !self.inject_backlog.is_empty() {
                // Frames wait for worker 0 to take the ones before them: look again soon.
                wait = wait.min(BACKLOG_POLL);
            }
            // Woken early when the workers have applied table updates, so a PBA waiting for its tunnel leaves
            // as soon as every worker has it.
            match punts.recv_timeout(wait, &[self.tables.wakeups(), &self.journal_wake.1]) {
                Ok(Some(punted)) => {
                    // What else is waiting already is handled in the same iteration (up to a burst): under load
                    // the journal gets one batch for them all, and the loop's upkeep below runs once per burst
                    // rather than once per PBU.
                    self.on_punted(punted);
                    for punted in std::iter::from_fn(|| punts.try_recv()).take(PUNT_BURST - 1) {
                        self.on_punted(punted);
                    }
                }
                Ok(None) => {}
                Err(_closed) => return,
            }
            self.poll_api();
            self.poll_acknowledgements();
            self.release_durable();
            self.send_backlog();
            self.tick_neighbors();
            self.latency.sweep(Instant::now());
            if let Some(deadline) = self.procedures.next_deadline() {
                let now = self.clock.now();
                if now.mono >= deadline {
                    self.drive(Input::Tick);
                }
            }
        }
    }

    fn drive(&mut self, input: Input) {
        let now = self.clock.now();
        let mut out = std::mem::take(&mut self.out);
        self.procedures.handle(input, now, &mut out);
        self.write_down();
        for output in out.drain(..) {
            self.carry_out(output);
        }
        self.out = out;
    }

    /// Appends what the last input changed to the journal, ahead of that input's messages: they wait for it
    /// (`when_durable`).
    fn write_down(&mut self) {
        let outbox = self.procedures.outbox();
        match &mut self.journal {
            Some(journal) => {
                journal.append_outbox(outbox);
            }
            None => outbox.clear(),
        }
    }

    fn carry_out(&mut self, output: Output) {
        match output {
            Output::Send { header, msg } => self.when_durable(Held::Send(header, msg)),
            Output::Fastpath { token, update } => self.update_tables(token, update),
            Output::Event(event) => log_event(&event),
            // A MAG's "PDN connection up" promises the connection as much as a PBA does.
            Output::ApiReply { id, response } => self.when_durable(Held::Reply(id, response)),
        }
    }

    fn on_punted(&mut self, Punted { port, mbuf }: Punted) {
        self.stats.punted += 1;
        let frame = mbuf.data();
        let Some(eth) = ethernet::EthernetHeader::parse(frame) else {
            self.stats.unhandled += 1;
            return;
        };
        match eth.ethertype() {
            ethernet::ETHERTYPE_ARP => self.on_arp(port, frame),
            ethernet::ETHERTYPE_IPV6 if ndp::parse(frame).is_ok() => self.on_ndp(port, frame),
            ethernet::ETHERTYPE_IPV4 | ethernet::ETHERTYPE_IPV6 => {
                let Some(ip) = frame.get(ethernet::HEADER_LEN..) else { return };
                match transport::parse(ip).and_then(|f| f.repr().map(|repr| (f.header, repr))) {
                    Ok((header, msg)) => {
                        self.stats.signalling_received += 1;
                        self.learn_from_signalling(port, header.src, eth.source());
                        self.latency.saw(header.src, &msg, Instant::now());
                        self.drive(Input::Received { header, msg });
                    }
                    Err(controlplane::wire::WireError::NotSignalling { .. }) => self.on_echo(port, frame),
                    Err(err) => {
                        self.stats.signalling_malformed += 1;
                        tracing::debug!(port = port.get(), "malformed signalling: {err}");
                    }
                }
            }
            _ => self.stats.unhandled += 1,
        }
    }

    /// Sends a message or a reply once every change emitted before it is durable (at once without durable
    /// state), keeping their order.
    fn when_durable(&mut self, held: Held) {
        if let Some(journal) = &self.journal {
            let needed = journal.last_seq();
            if needed > journal.durable() || !self.held.is_empty() {
                self.held.push_back((needed, held));
                return;
            }
        }
        self.release(held);
    }

    fn release(&mut self, held: Held) {
        match held {
            Held::Send(header, msg) => self.send(&header, &msg),
            Held::Reply(id, response) => {
                let response = self.complete_response(response);
                self.bridge.reply(id, response);
            }
        }
    }

    /// Hands this iteration's changes to the journal and sends what waited for changes now durable.
    fn release_durable(&mut self) {
        let Some(journal) = &mut self.journal else { return };
        // One record a binding: what the journal's compaction measures its garbage against.
        journal.set_live_records(self.procedures.binding_count() as u64);
        journal.flush();
        let durable = journal.durable();
        while let Some(&(needed, ..)) = self.held.front() {
            if needed > durable {
                break;
            }
            if let Some((_, held)) = self.held.pop_front() {
                self.release(held);
            }
        }
    }

    /// Answers pings to the gateway's own addresses on the port they arrived on.
    fn on_echo(&mut self, port: PortIndex, frame: &[u8]) {
        let answer = self.ports.get(port.get()).and_then(|p| echo::reply(frame, p.mac, &p.addresses));
        match answer {
            Some(reply) => {
                self.stats.echo_answered += 1;
                self.inject_frame(port, &reply);
            }
            None => self.stats.unhandled += 1,
        }
    }

    /// Frames `msg` and queues it on the core port that owns its source address.
    fn send(&mut self, header: &FrameHeader, msg: &MhRepr) {
        self.latency.saw(header.dst, msg, Instant::now());
        let port = self
            .ports
            .iter()
            .position(|p| p.core && p.addresses.contains(&header.src))
            .or_else(|| self.ports.iter().position(|p| p.core))
            .map(PortIndex);
        let Some(port) = port else {
            self.stats.send_failed += 1;
            return;
        };
        let mut frame = vec![0u8; ethernet::HEADER_LEN + header.buffer_len(msg)];
        let ethertype = match header.framing {
            transport::Framing::Ipv6 => ethernet::ETHERTYPE_IPV6,
            _ => ethernet::ETHERTYPE_IPV4,
        };
        let (eth, ip) = frame.split_at_mut(ethernet::HEADER_LEN);
        if let Err(err) = transport::emit(header, msg, ip) {
            tracing::error!("cannot frame an outgoing {:?}: {err}", msg.mh_type());
            self.stats.send_failed += 1;
            return;
        }
        let src_mac = self.ports[port.get()].mac;
        if let Ok(eth) = <&mut [u8; ethernet::HEADER_LEN]>::try_from(eth) {
            ethernet::write_header(eth, MacAddr::default(), src_mac, ethertype);
        }
        // The destination is the peer's (or the core router's) MAC; until it is resolved the message waits, and
        // the procedures' own retransmissions cover a next hop that never answers.
        let now = self.clock.now().mono.0;
        let dst_mac = match self.neighbors.next_hop_for(port, header.dst) {
            Some(Ok(fixed)) => Some(fixed),
            Some(Err(neighbour)) => match self.neighbors.resolve(port, neighbour, now, &mut self.frames) {
                Some(mac) => Some(mac),
                None => {
                    tracing::debug!(%neighbour, "signalling waits for neighbour resolution");
                    self.neighbors.hold(port, neighbour, frame);
                    self.stats.signalling_sent += 1;
                    self.send_frames();
                    return;
                }
            },
            None => None,
        };
        self.send_frames();
        let Some(dst_mac) = dst_mac else {
            self.stats.send_failed += 1;
            return;
        };
        frame[..6].copy_from_slice(&dst_mac.0);
        self.stats.signalling_sent += 1;
        self.inject_frame(port, &frame);
    }

    /// Injects the frames neighbour handling produced.
    fn send_frames(&mut self) {
        for (port, frame) in std::mem::take(&mut self.frames) {
            self.inject_frame(port, &frame);
        }
    }

    /// Queues a frame for worker 0 behind those already waiting, and hands over what the inject queue takes.
    fn inject_frame(&mut self, port: PortIndex, frame: &[u8]) {
        let mbuf = self.pool.alloc().and_then(|mut mbuf| {
            mbuf.append(frame.len())?.copy_from_slice(frame);
            Some(mbuf)
        });
        match mbuf {
            Some(mbuf) if self.inject_backlog.len() < INJECT_BACKLOG => {
                self.inject_backlog.push_back(Injected { port, mbuf });
                self.send_backlog();
            }
            _ => self.stats.send_failed += 1,
        }
    }

    /// Hands worker 0 what waited for room in the inject queue, in order.
    fn send_backlog(&mut self) {
        while let Some(injected) = self.inject_backlog.pop_front() {
            match self.inject.try_send(injected) {
                Ok(()) => {}
                Err(TrySendError::Full(injected)) => {
                    self.inject_backlog.push_front(injected);
                    return;
                }
                // The workers have ended: nothing is sent any more.
                Err(TrySendError::Disconnected(_)) => {
                    self.inject_backlog.clear();
                    return;
                }
            }
        }
    }

    /// Applies a table update on every worker; the procedures hear back once it is live everywhere.
    fn update_tables(&mut self, token: FastpathToken, update: TunnelUpdate) {
        let result = match update {
            TunnelUpdate::Install { id, spec } => to_binding(&spec).and_then(|binding| {
                let (binding, uses) = self.with_next_hops(id, &spec, binding);
                let installed = self.tables.install(binding).map_err(|e| e.to_string())?;
                self.tunnels.insert(id, Tunnel { slot: installed.id, spec, uses });
                self.advertise_on_install(&spec);
                Ok(installed.epoch)
            }),
            TunnelUpdate::Modify { id, spec } => match self.tunnels.get(id).map(|t| t.slot) {
                Some(slot) => to_binding(&spec).and_then(|binding| {
                    self.forget_next_hops(id);
                    let (binding, uses) = self.with_next_hops(id, &spec, binding);
                    let epoch = self.tables.modify(slot, binding).map_err(|e| e.to_string())?;
                    self.tunnels.insert(id, Tunnel { slot, spec, uses });
                    if spec.ue_ipv6_prefix.is_some() {
                        self.advertise_on_install(&spec);
                    } else {
                        // The prefix was released (selective de-registration): no longer advertised.
                        self.withdraw_advertisement(&spec);
                    }
                    Ok(epoch)
                }),
                None => Err(format!("tunnel {} is not installed", id.0)),
            },
            TunnelUpdate::Remove { id } => match self.tunnels.get(id).map(|t| t.slot) {
                Some(slot) => {
                    self.forget_next_hops(id);
                    if let Some(tunnel) = self.tunnels.remove(id) {
                        self.withdraw_advertisement(&tunnel.spec);
                    }
                    self.tables.remove(slot).map_err(|e| e.to_string())
                }
                None => Err(format!("tunnel {} is not installed", id.0)),
            },
        };
        self.send_frames();
        match result {
            Ok(epoch) => {
                self.stats.updates_installed += 1;
                self.awaiting.push_back((epoch, token));
                if !self.warming {
                    self.poll_acknowledgements();
                }
            }
            Err(reason) => {
                self.stats.updates_refused += 1;
                tracing::warn!(token = token.0, "fast path refused an update: {reason}");
                self.drive(Input::FastpathRefused { token, reason });
            }
        }
    }

    /// Tells the procedures about every update all workers have applied.
    fn poll_acknowledgements(&mut self) {
        let applied = self.tables.applied_epoch();
        // `FastpathApplied` covers every token up to its own: the newest one the workers have is all the
        // procedures need to hear (one call, not one per update: a warm start makes a million).
        let mut newest = None;
        while let Some(&(epoch, token)) = self.awaiting.front() {
            if epoch > applied {
                break;
            }
            self.awaiting.pop_front();
            newest = Some(token);
        }
        if let Some(token) = newest {
            self.drive(Input::FastpathApplied(token));
        }
    }

    fn poll_api(&mut self) {
        let mut calls = Vec::new();
        for receiver in &self.api_calls {
            calls.extend(receiver.try_iter());
        }
        for call in calls {
            // The neighbour caches are the gateway's own; everything else is the procedures'.
            if call.request == Request::Neighbours {
                let _ = call.reply.send(self.neighbors_view());
                continue;
            }
            if call.request == Request::State {
                let _ = call.reply.send(self.state_view());
                continue;
            }
            if call.request == Request::Workers {
                let _ = call.reply.send(self.workers_view());
                continue;
            }
            let input = self.bridge.submit(call);
            self.drive(input);
        }
    }

    fn state_view(&self) -> Response {
        let restart_counter = match &self.procedures {
            Procedures::Lma(lma) => lma.restart_counter(),
            Procedures::Mag(mag) => mag.restart_counter(),
        };
        let Some(journal) = &self.journal else {
            return Response::State(StateView { restart_counter, ..Default::default() });
        };
        let stats = journal.stats();
        Response::State(StateView {
            durable: true,
            uptime_ms: self.started.elapsed().as_millis() as u64,
            journal: stats,
            restored: self.restore_report.clone(),
            messages_held: self.held.len() as u64,
            restart_counter,
        })
    }

    fn workers_view(&mut self) -> Response {
        let per_worker = self.counters.per_worker();
        let keys = match &self.procedures {
            Procedures::Lma(lma) => lma.keys_per_worker(),
            Procedures::Mag(mag) => mag.keys_per_worker(),
        };
        let now = Instant::now();
        let (since, before) = &self.busy_sample;
        let interval_cycles = now.duration_since(*since).as_secs_f64() * cycles_per_second() as f64;
        let workers = per_worker
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let busy = w.busy_cycles.saturating_sub(before.get(i).copied().unwrap_or(0));
                WorkerView {
                    worker: i as u32,
                    rx_packets: w.ports.iter().map(|p| p.rx_packets).sum(),
                    tx_packets: w.ports.iter().map(|p| p.tx_packets).sum(),
                    encapsulated: w.encapsulated,
                    decapsulated: w.decapsulated,
                    punted: w.punted,
                    dropped: w.total_drops(),
                    keys_owned: keys.get(i).copied().unwrap_or(0) as u64,
                    busy_percent: if interval_cycles > 0.0 {
                        (busy as f64 * 100.0 / interval_cycles).round().min(100.0) as u32
                    } else {
                        0
                    },
                }
            })
            .collect();
        self.busy_sample = (now, per_worker.iter().map(|w| w.busy_cycles).collect());
        Response::Workers { workers, steering: self.steering.clone() }
    }

    fn neighbors_view(&self) -> Response {
        let neighbours = self
            .neighbors
            .entries()
            .into_iter()
            .map(|(port, address, mac, state, bindings)| NeighbourView {
                port: self.ports.get(port.get()).map_or_else(|| port.to_string(), |p| p.name.clone()),
                address,
                mac: mac.map(|m| m.to_string()),
                state: state.into(),
                bindings: bindings as u64,
            })
            .collect();
        Response::Neighbours { neighbours }
    }

    /// Adds what only the gateway knows (fast-path counters) to a management reply.
    fn complete_response(&self, response: Response) -> Response {
        match response {
            Response::Peers { mut peers, restart_counter } => {
                let admission = self.counters.peer_admission();
                for peer in &mut peers {
                    if let Some(&(admitted, limited)) = admission.get(&Some(peer.address)) {
                        peer.signalling_admitted = admitted;
                        peer.signalling_rate_limited = limited;
                    }
                }
                Response::Peers { peers, restart_counter }
            }
            Response::Bindings { bindings: mut views } => {
                for view in &mut views {
                    if let Some(tunnel) = self.tunnels.get(TunnelId(view.id)) {
                        let c = self.counters.binding(tunnel.slot);
                        view.counters = Some(TrafficCounters {
                            uplink_packets: c.uplink_packets,
                            uplink_bytes: c.uplink_bytes,
                            downlink_packets: c.downlink_packets,
                            downlink_bytes: c.downlink_bytes,
                        });
                    }
                }
                Response::Bindings { bindings: views }
            }
            Response::Stats(mut stats) => {
                stats.dataplane = Some(self.dataplane_stats());
                stats.events.insert("control.punted".into(), self.stats.punted);
                stats.events.insert("control.signalling_malformed".into(), self.stats.signalling_malformed);
                stats.events.insert("control.send_failed".into(), self.stats.send_failed);
                stats.events.insert("control.arp_answered".into(), self.stats.arp_answered);
                stats.events.insert("control.nd_answered".into(), self.stats.nd_answered);
                stats.events.insert("control.router_advertisements".into(), self.stats.router_advertisements);
                stats.events.insert("control.echo_answered".into(), self.stats.echo_answered);
                let dataplane = self.counters.total();
                stats.events.insert("fastpath.icmp_errors_sent".into(), dataplane.icmp_errors_sent);
                stats.events.insert("fastpath.icmp_rate_limited".into(), dataplane.icmp_rate_limited);
                stats.state.extend(self.state());
                stats.signalling_latency = Some(self.latency.histogram.clone());
                let n = &self.neighbors.stats;
                stats.events.insert("neighbour.solicitations_sent".into(), n.solicitations_sent);
                stats.events.insert("neighbour.resolved".into(), n.resolved);
                stats.events.insert("neighbour.lost".into(), n.lost);
                stats.events.insert("neighbour.held_dropped".into(), n.held_dropped);
                Response::Stats(stats)
            }
            other => other,
        }
    }

    /// What the gateway around the procedures holds: its tunnels, the tables' control replica and each worker's
    /// table, neighbour state, mbufs.
    fn state(&self) -> Vec<(String, u64)> {
        let (bindings, slots) = self.tables.occupancy();
        let mut state = vec![
            ("gateway.tunnels".to_owned(), self.tunnels.len() as u64),
            ("gateway.awaiting_install".to_owned(), self.awaiting.len() as u64),
            ("gateway.signalling_exchanges_open".to_owned(), self.latency.open() as u64),
            ("gateway.advertised_prefixes".to_owned(), self.advertised.len() as u64),
            ("tables.bindings".to_owned(), bindings as u64),
            ("tables.slots_taken".to_owned(), slots as u64),
            ("mempool.in_use".to_owned(), u64::from(self.pool.in_use())),
        ];
        state.extend(self.neighbors.occupancy().map(|(name, n)| (name.to_owned(), n as u64)));
        for (i, worker) in self.counters.per_worker().iter().enumerate() {
            state.push((format!("worker{i}.table_bindings"), worker.table_bindings));
            state.push((format!("worker{i}.index_entries"), worker.table_index_entries));
            state.push((format!("worker{i}.reassembly_held"), worker.reassembly_held));
        }
        state
    }

    fn dataplane_stats(&self) -> DataplaneStats {
        let total = self.counters.total();
        let ports = self
            .ports
            .iter()
            .zip(total.ports.iter())
            .map(|(p, s)| PortStats {
                name: p.name.clone(),
                rx_packets: s.rx_packets,
                tx_packets: s.tx_packets,
                rx_bytes: s.rx_bytes,
                tx_bytes: s.tx_bytes,
                drops: 0,
            })
            .collect();
        let workers = self
            .counters
            .per_worker()
            .iter()
            .enumerate()
            .map(|(i, w)| WorkerStats {
                id: i as u32,
                lcore: None,
                packets: w.ports.iter().map(|p| p.rx_packets).sum(),
                drops: w.total_drops(),
                busy_ns: (u128::from(w.busy_cycles) * 1_000_000_000 / u128::from(cycles_per_second().max(1))) as u64,
            })
            .collect();
        let drops =
            DropReason::ALL.iter().map(|r| (r.name().to_owned(), total.drops(*r))).filter(|(_, n)| *n != 0).collect();
        let retired = total.retired;
        let totals = FastpathTotals {
            rx_packets: total.ports.iter().map(|p| p.rx_packets).sum(),
            encapsulated: total.encapsulated,
            decapsulated: total.decapsulated,
            punted: total.punted,
            dropped: total.total_drops(),
            icmp_errors_sent: total.icmp_errors_sent,
            fragmented: total.fragmented,
            fragments: total.fragments,
            reassembled: total.reassembled,
            fragments_reassembled: total.fragments_reassembled,
            reassembly_held: total.reassembly_held,
            retired: TrafficCounters {
                uplink_packets: retired.uplink_packets,
                uplink_bytes: retired.uplink_bytes,
                downlink_packets: retired.downlink_packets,
                downlink_bytes: retired.downlink_bytes,
            },
        };
        DataplaneStats { ports, workers, drops, totals }
    }

    /// Asks the procedures for their statistics (used at exit).
    pub fn final_stats(&mut self) -> Option<controlplane::api::Stats> {
        let (reply, answer) = std::sync::mpsc::channel();
        let input = self.bridge.submit(ApiCall { request: Request::Stats, reply });
        self.drive(input);
        // With durable state the reply waits behind the last changes' commit, as every reply does: give the
        // journal its moment (a commit is milliseconds) rather than report no figures.
        let deadline = Instant::now() + FINAL_COMMIT_WAIT;
        loop {
            self.release_durable();
            match answer.try_recv() {
                Ok(Response::Stats(stats)) => return Some(stats),
                Ok(_) | Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
                Err(std::sync::mpsc::TryRecvError::Empty) if Instant::now() >= deadline => return None,
                Err(std::sync::mpsc::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

/// The fast path's form of a tunnel the procedures want.
fn to_binding(spec: &TunnelSpec) -> Result<Binding, String> {
    let tunnel = match spec.endpoints {
        CpEndpoints::Ipv6 { local, remote } => TunnelEndpoints::Ipv6 { local, remote },
        CpEndpoints::Ipv4 { local, remote } => TunnelEndpoints::Ipv4 { local, remote },
    };
    let function = match spec.function {
        CpFunction::Lma => Function::Lma,
        CpFunction::Mag => Function::Mag,
    };
    let binding = Binding {
        function,
        tunnel,
        uplink_key: spec.uplink_key,
        downlink_key: spec.downlink_key,
        ue_ipv4: spec.ue_ipv4,
        ue_ipv6_prefix: spec.ue_ipv6_prefix,
        // Filled from neighbour resolution by the caller.
        next_hop: Default::default(),
    };
    binding.validate().map_err(|e| e.to_string())?;
    Ok(binding)
}

fn log_event(event: &Event) {
    match event {
        Event::BindingUp { id, pdn, peer } => tracing::info!(id = id.0, ?pdn, %peer, "binding up"),
        Event::Handover { id, from, to } => tracing::info!(id = id.0, %from, %to, "handover"),
        Event::BindingDown { id, pdn, reason } => tracing::info!(id = id.0, ?pdn, ?reason, "binding down"),
        Event::PbuRejected { peer, status } => tracing::info!(%peer, ?status, "PBU rejected"),
        Event::Ignored { peer, why } => tracing::debug!(%peer, why, "message ignored"),
        Event::PeerRestarted { peer, old, new } => tracing::warn!(%peer, old, new, "peer restarted"),
        Event::PeerUnreachable { peer } => tracing::warn!(%peer, "peer unreachable"),
        Event::HeartbeatUnsupported { peer } => tracing::info!(%peer, "peer does not support heartbeats"),
        Event::Note(note) => tracing::info!("{note}"),
    }
}
