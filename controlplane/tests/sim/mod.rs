//! Deterministic simulation: one LMA and several MAGs joined by a network that drops, duplicates, delays and
//! reorders, under a virtual clock. Messages travel as real packets (`transport::emit` → bytes →
//! `transport::parse`), so framing and checksums are exercised too. Each node has a fake fast path that applies
//! table updates, checks them, and acknowledges them after a configurable delay.
#![allow(dead_code)]

use controlplane::api::{PdnCreate, PdnType, Request, Response};
use controlplane::config::{ApnConfig, LmaConfig, MagConfig};
use controlplane::durable::{Record, RecordKey, RestoreReport, Restored, StateChange};
use controlplane::fastpath::{FastpathToken, Function, TunnelId, TunnelSpec, TunnelUpdate};
use controlplane::lma::Lma;
use controlplane::machine::{Event, Input, Output};
use controlplane::mag::Mag;
use controlplane::time::{Millis, Now};
use controlplane::transport::{self, FrameHeader};
use controlplane::wire::MhRepr;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub const LMA6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const LMA4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const WALL_ORIGIN: Duration = Duration::from_secs(1_704_067_200);

pub fn mag6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i as u16 + 1)
}

pub fn mag4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, i as u8 + 1)
}

pub fn nai(i: u32) -> String {
    format!("00101{i:010}@nai.epc.mnc001.mcc001.3gppnetwork.org")
}

/// Small deterministic PRNG (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

/// Which node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeId {
    Lma,
    Mag(usize),
}

/// What the network does to packets.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    pub drop: f64,
    pub duplicate: f64,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Faults {
    pub const NONE: Faults = Faults { drop: 0.0, duplicate: 0.0, min_delay_ms: 1, max_delay_ms: 1 };
}

/// A state machine the simulation can drive.
pub trait Machine {
    fn handle(&mut self, input: Input, now: Now, out: &mut Vec<Output>);
    fn next_deadline(&self) -> Option<Millis>;
}

impl Machine for Lma {
    fn handle(&mut self, input: Input, now: Now, out: &mut Vec<Output>) {
        Lma::handle(self, input, now, out)
    }
    fn next_deadline(&self) -> Option<Millis> {
        Lma::next_deadline(self)
    }
}

impl Machine for Mag {
    fn handle(&mut self, input: Input, now: Now, out: &mut Vec<Output>) {
        Mag::handle(self, input, now, out)
    }
    fn next_deadline(&self) -> Option<Millis> {
        Mag::next_deadline(self)
    }
}

/// A fake fast path: applies updates to a table at once, checks them, acknowledges after `ack_delay_ms`.
#[derive(Debug, Default)]
pub struct FakeFastpath {
    pub table: BTreeMap<TunnelId, TunnelSpec>,
    pub ack_delay_ms: u64,
    /// Refuse the next N installs.
    pub refuse_installs: u32,
    acks: VecDeque<(Millis, FastpathToken, Option<String>)>,
    pub errors: Vec<String>,
    /// (time, token) of every acknowledgement delivered.
    pub acked: Vec<(Millis, FastpathToken)>,
    pub updates: Vec<(Millis, TunnelUpdate)>,
}

impl FakeFastpath {
    fn apply(&mut self, now: Millis, token: FastpathToken, update: TunnelUpdate) {
        self.updates.push((now, update));
        let refusal = match update {
            TunnelUpdate::Install { id, spec } => {
                if self.refuse_installs > 0 {
                    self.refuse_installs -= 1;
                    Some("table full (simulated)".to_string())
                } else {
                    if self.table.insert(id, spec).is_some() {
                        self.errors.push(format!("install over an existing entry {id:?}"));
                    }
                    None
                }
            }
            TunnelUpdate::Modify { id, spec } => {
                if self.table.insert(id, spec).is_none() {
                    self.errors.push(format!("modify of a missing entry {id:?}"));
                }
                None
            }
            TunnelUpdate::Remove { id } => {
                if self.table.remove(&id).is_none() {
                    self.errors.push(format!("remove of a missing entry {id:?}"));
                }
                None
            }
        };
        self.acks.push_back((now + self.ack_delay_ms, token, refusal));
    }

    fn next_ack(&self) -> Option<Millis> {
        self.acks.front().map(|(t, _, _)| *t)
    }

    /// Keys must be unique in the table: uplink keys on an LMA, (LMAA, downlink key) on a MAG.
    pub fn check_unique_keys(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for (id, s) in &self.table {
            let key = match s.function {
                Function::Lma => (None, s.uplink_key),
                Function::Mag => (Some(s.endpoints.remote()), s.downlink_key),
            };
            if !seen.insert(key) {
                return Err(format!("rx key {key:?} of {id:?} used twice"));
            }
        }
        Ok(())
    }
}

pub struct Node<M> {
    pub machine: M,
    pub addr6: Ipv6Addr,
    pub addr4: Ipv4Addr,
    /// Offset of this node's wall clock, ms (timestamps).
    pub skew_ms: i64,
    pub fastpath: FakeFastpath,
}

impl<M: Machine> Node<M> {
    fn now(&self, t: Millis) -> Now {
        let wall = WALL_ORIGIN + Duration::from_millis(t.0);
        let wall = if self.skew_ms >= 0 {
            wall + Duration::from_millis(self.skew_ms as u64)
        } else {
            wall - Duration::from_millis(self.skew_ms.unsigned_abs())
        };
        Now { mono: t, wall }
    }

    fn owns(&self, a: IpAddr) -> bool {
        a == IpAddr::V6(self.addr6) || a == IpAddr::V4(self.addr4)
    }
}

enum Packet {
    Bytes(Vec<u8>),
    Typed(Box<(FrameHeader, MhRepr)>),
}

/// One transmission seen on the wire.
#[derive(Debug, Clone)]
pub struct Wire {
    pub at: Millis,
    pub from: NodeId,
    pub header: FrameHeader,
    pub msg: MhRepr,
    pub dropped: bool,
}

type DropRule = Box<dyn FnMut(NodeId, &MhRepr) -> bool>;

pub struct Sim {
    pub now: Millis,
    pub lma: Node<Lma>,
    pub mags: Vec<Node<Mag>>,
    pub faults: Faults,
    rng: Rng,
    in_flight: BinaryHeap<Reverse<(Millis, u64, usize)>>,
    packets: HashMap<usize, Packet>,
    /// Carry messages as bytes through `transport` (default) or as typed values (faster; for long runs).
    pub as_bytes: bool,
    /// Keep the `wire` log.
    pub record_wire: bool,
    next_packet: usize,
    seq: u64,
    /// Every message sent (with whether the network dropped it).
    pub wire: Vec<Wire>,
    pub events: Vec<(Millis, NodeId, Event)>,
    pub replies: HashMap<u64, Response>,
    next_api: u64,
    drop_rule: Option<DropRule>,
    /// Packets no node owns or that did not parse.
    pub undeliverable: Vec<String>,
    /// The LMA's durable state, when it has it on ([`Sim::lma_durable`]): every record it emitted, applied in
    /// order before anything it emitted after them (the sim's disk is synchronous).
    pub lma_disk: Option<BTreeMap<RecordKey, Record>>,
    /// Bindings brought back by every warm start so far.
    pub lma_restored: u64,
    /// Each MAG's durable state, when it has it on ([`Sim::mag_durable`]).
    pub mag_disks: Vec<Option<BTreeMap<RecordKey, Record>>>,
    /// PDN connections brought back by every MAG warm start so far.
    pub mag_restored: u64,
}

pub fn lma_config() -> LmaConfig {
    LmaConfig {
        allowed_mags: vec!["2001:db8:1::/48".parse().unwrap(), "192.0.2.0/24".parse().unwrap()],
        apns: vec![
            ApnConfig {
                name: "internet".into(),
                ipv6_pool: Some("2001:db8:100::/48".parse().unwrap()),
                ipv4_pool: Some("10.45.0.0/16".parse().unwrap()),
            },
            ApnConfig { name: "ims".into(), ipv6_pool: Some("2001:db8:200::/48".parse().unwrap()), ipv4_pool: None },
            ApnConfig { name: "v4only".into(), ipv6_pool: None, ipv4_pool: Some("10.46.0.0/16".parse().unwrap()) },
        ],
        default_apn: Some("internet".into()),
        ..LmaConfig::default()
    }
}

pub fn mag_config(i: usize) -> MagConfig {
    MagConfig { local_ipv6: Some(mag6(i)), local_ipv4: Some(mag4(i)), ..MagConfig::default() }
}

pub fn pdn(i: u32, pdn_type: PdnType, lma: IpAddr) -> PdnCreate {
    PdnCreate::new(nai(i), "internet", pdn_type, lma)
}

impl Sim {
    pub fn new(seed: u64, mags: usize) -> Self {
        Self::with_configs(seed, lma_config(), (0..mags).map(mag_config).collect())
    }

    pub fn with_configs(seed: u64, lma: LmaConfig, mags: Vec<MagConfig>) -> Self {
        let mag_count = mags.len();
        let lma = Node {
            machine: Lma::new(lma, 1).expect("LMA config"),
            addr6: LMA6,
            addr4: LMA4,
            skew_ms: 0,
            fastpath: FakeFastpath::default(),
        };
        let mags = mags
            .into_iter()
            .enumerate()
            .map(|(i, c)| Node {
                machine: Mag::new(c, 1).expect("MAG config"),
                addr6: mag6(i),
                addr4: mag4(i),
                skew_ms: 0,
                fastpath: FakeFastpath::default(),
            })
            .collect();
        Sim {
            now: Millis(0),
            lma,
            mags,
            faults: Faults::NONE,
            rng: Rng::new(seed),
            in_flight: BinaryHeap::new(),
            packets: HashMap::new(),
            as_bytes: true,
            record_wire: true,
            next_packet: 0,
            seq: 0,
            wire: Vec::new(),
            events: Vec::new(),
            replies: HashMap::new(),
            next_api: 1,
            drop_rule: None,
            undeliverable: Vec::new(),
            lma_disk: None,
            lma_restored: 0,
            mag_disks: vec![None; mag_count],
            mag_restored: 0,
        }
    }

    /// Turns MAG `i`'s durable state on (an empty disk).
    pub fn mag_durable(&mut self, i: usize) {
        self.mags[i].machine.enable_durability();
        self.mag_disks[i] = Some(BTreeMap::new());
    }

    /// `kill -9` of MAG `i` and a warm start from its disk (see [`Sim::crash_and_warm_start_lma`]).
    pub fn crash_and_warm_start_mag(&mut self, i: usize, config: MagConfig, restart_counter: u32) -> RestoreReport {
        let disk = self.mag_disks[i].clone().expect("durable MAG");
        let mut mag = Mag::new(config, restart_counter).expect("MAG config");
        mag.enable_durability();
        self.mags[i].machine = mag;
        self.mags[i].fastpath = FakeFastpath::default();
        let now = self.mags[i].now(self.now);
        let mut out = Vec::new();
        let report = self.mags[i].machine.restore(Restored { records: disk.into_values().collect() }, now, &mut out);
        self.write_down(NodeId::Mag(i));
        for o in out {
            self.carry_out(NodeId::Mag(i), o);
        }
        let snapshot: BTreeMap<RecordKey, Record> =
            self.mags[i].machine.snapshot(now).into_iter().filter_map(put).map(|r| (r.key(), r)).collect();
        assert_eq!(self.mag_disks[i].as_ref(), Some(&snapshot), "the disk after a warm start is the state restored");
        self.mag_restored += report.restored;
        report
    }

    /// Turns the LMA's durable state on (an empty disk).
    pub fn lma_durable(&mut self) {
        self.lma.machine.enable_durability();
        self.lma_disk = Some(BTreeMap::new());
    }

    /// `kill -9` of the LMA and a warm start from its disk: a new LMA with the same restart counter and an empty
    /// fast path restores what was written down. Packets in flight reach the new LMA.
    pub fn crash_and_warm_start_lma(&mut self, config: LmaConfig, restart_counter: u32) -> RestoreReport {
        let disk = self.lma_disk.clone().expect("durable LMA");
        let mut lma = Lma::new(config, restart_counter).expect("LMA config");
        lma.enable_durability();
        self.lma.machine = lma;
        self.lma.fastpath = FakeFastpath::default();
        let now = self.lma.now(self.now);
        let mut out = Vec::new();
        let report = self.lma.machine.restore(Restored { records: disk.into_values().collect() }, now, &mut out);
        // The journal goes on from the disk as it was, with what the restore changed written down: the disk is
        // then exactly the state as restored.
        self.write_down(NodeId::Lma);
        for o in out {
            self.carry_out(NodeId::Lma, o);
        }
        let snapshot: BTreeMap<RecordKey, Record> =
            self.lma.machine.snapshot(now).into_iter().filter_map(put).map(|r| (r.key(), r)).collect();
        assert_eq!(
            self.lma_disk.as_ref().map(same_state),
            Some(same_state(&snapshot)),
            "the disk after a warm start is the state restored"
        );
        self.lma_restored += report.restored;
        report
    }

    /// Drops every message for which `rule(sender, msg)` is true (on top of the random faults).
    pub fn drop_when(&mut self, rule: impl FnMut(NodeId, &MhRepr) -> bool + 'static) {
        self.drop_rule = Some(Box::new(rule));
    }

    pub fn clear_drop_rule(&mut self) {
        self.drop_rule = None;
    }

    /// Replaces the LMA by a fresh one (a restart that lost state) with the given restart counter.
    pub fn restart_lma(&mut self, config: LmaConfig, restart_counter: u32) {
        self.lma.machine = Lma::new(config, restart_counter).expect("LMA config");
        self.lma.fastpath = FakeFastpath::default();
    }

    /// Replaces MAG `i` by a fresh one (a restart that lost state).
    pub fn restart_mag(&mut self, i: usize, config: MagConfig, restart_counter: u32) {
        self.mags[i].machine = Mag::new(config, restart_counter).expect("MAG config");
        self.mags[i].fastpath = FakeFastpath::default();
    }

    fn feed(&mut self, node: NodeId, input: Input) {
        let mut out = Vec::new();
        match node {
            NodeId::Lma => {
                let now = self.lma.now(self.now);
                self.lma.machine.handle(input, now, &mut out)
            }
            NodeId::Mag(i) => {
                let now = self.mags[i].now(self.now);
                self.mags[i].machine.handle(input, now, &mut out)
            }
        }
        self.write_down(node);
        for o in out {
            self.carry_out(node, o);
        }
    }

    fn fastpath(&mut self, node: NodeId) -> &mut FakeFastpath {
        match node {
            NodeId::Lma => &mut self.lma.fastpath,
            NodeId::Mag(i) => &mut self.mags[i].fastpath,
        }
    }

    fn carry_out(&mut self, node: NodeId, o: Output) {
        match o {
            Output::Send { header, msg } => self.send(node, header, msg),
            Output::Fastpath { token, update } => {
                let now = self.now;
                self.fastpath(node).apply(now, token, update);
            }
            Output::Event(e) => self.events.push((self.now, node, e)),
            Output::ApiReply { id, response } => {
                self.replies.insert(id, response);
            }
        }
    }

    /// Writes what `node`'s last input changed to its disk (as the gateway appends the outbox to its journal
    /// before it carries out the input's outputs).
    fn write_down(&mut self, node: NodeId) {
        let changes = match node {
            NodeId::Lma => self.lma.machine.outbox().take_changes(),
            NodeId::Mag(i) => self.mags[i].machine.outbox().take_changes(),
        };
        if changes.is_empty() {
            return;
        }
        let disk = match node {
            NodeId::Lma => self.lma_disk.as_mut(),
            NodeId::Mag(i) => self.mag_disks.get_mut(i).and_then(Option::as_mut),
        }
        .expect("only a durable node persists");
        for change in changes {
            match change {
                StateChange::Put(record) => {
                    disk.insert(record.key(), record);
                }
                StateChange::Delete(key) => {
                    disk.remove(&key);
                }
            }
        }
    }

    fn send(&mut self, from: NodeId, header: FrameHeader, msg: MhRepr) {
        let packet = if self.as_bytes {
            let mut buf = vec![0u8; header.buffer_len(&msg)];
            let n = transport::emit(&header, &msg, &mut buf).expect("emit");
            buf.truncate(n);
            Packet::Bytes(buf)
        } else {
            Packet::Typed(Box::new((header, msg.clone())))
        };
        let ruled_out = self.drop_rule.as_mut().is_some_and(|r| r(from, &msg));
        let dropped = ruled_out || self.rng.chance(self.faults.drop);
        if self.record_wire {
            self.wire.push(Wire { at: self.now, from, header, msg, dropped });
        }
        if dropped {
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let span = self.faults.max_delay_ms.saturating_sub(self.faults.min_delay_ms);
            let delay = self.faults.min_delay_ms + self.rng.below(span + 1);
            let id = self.next_packet;
            self.next_packet += 1;
            let p = match &packet {
                Packet::Bytes(b) => Packet::Bytes(b.clone()),
                Packet::Typed(t) => Packet::Typed(t.clone()),
            };
            self.packets.insert(id, p);
            self.seq += 1;
            self.in_flight.push(Reverse((self.now + delay, self.seq, id)));
        }
    }

    /// Hands a message to a node as if it came from `header.src` (for crafted messages).
    pub fn inject(&mut self, to: NodeId, header: FrameHeader, msg: MhRepr) {
        self.feed(to, Input::Received { header, msg });
    }

    fn deliver(&mut self, packet: Packet) {
        let (header, msg) = match packet {
            Packet::Typed(t) => *t,
            Packet::Bytes(bytes) => {
                let frame = match transport::parse(&bytes) {
                    Ok(f) => f,
                    Err(e) => return self.undeliverable.push(format!("unparsable: {e}")),
                };
                match frame.repr() {
                    Ok(m) => (frame.header, m),
                    Err(e) => return self.undeliverable.push(format!("bad MH: {e}")),
                }
            }
        };
        let to = if self.lma.owns(header.dst) {
            NodeId::Lma
        } else if let Some(i) = self.mags.iter().position(|m| m.owns(header.dst)) {
            NodeId::Mag(i)
        } else {
            return self.undeliverable.push(format!("no node at {}", header.dst));
        };
        self.feed(to, Input::Received { header, msg });
    }

    fn nodes(&self) -> Vec<NodeId> {
        std::iter::once(NodeId::Lma).chain((0..self.mags.len()).map(NodeId::Mag)).collect()
    }

    fn next_event(&self) -> Option<Millis> {
        let mut next = self.in_flight.peek().map(|Reverse((t, _, _))| *t);
        let mut consider = |t: Option<Millis>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Millis| n.min(t)));
            }
        };
        consider(self.lma.machine.next_deadline());
        consider(self.lma.fastpath.next_ack());
        for m in &self.mags {
            consider(m.machine.next_deadline());
            consider(m.fastpath.next_ack());
        }
        next
    }

    /// Runs every event up to and including time `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Millis) {
        while let Some(t) = self.next_event().filter(|&t| t <= until) {
            self.now = self.now.max(t);
            self.step();
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    fn step(&mut self) {
        while let Some(Reverse((t, _, id))) = self.in_flight.peek().copied() {
            if t > self.now {
                break;
            }
            self.in_flight.pop();
            if let Some(p) = self.packets.remove(&id) {
                self.deliver(p);
            }
        }
        for node in self.nodes() {
            loop {
                let now = self.now;
                let fp = self.fastpath(node);
                let Some(&(t, token, ref refusal)) = fp.acks.front() else { break };
                if t > now {
                    break;
                }
                let refusal = refusal.clone();
                fp.acks.pop_front();
                fp.acked.push((now, token));
                let input = match refusal {
                    None => Input::FastpathApplied(token),
                    Some(reason) => Input::FastpathRefused { token, reason },
                };
                self.feed(node, input);
            }
            let due = match node {
                NodeId::Lma => self.lma.machine.next_deadline(),
                NodeId::Mag(i) => self.mags[i].machine.next_deadline(),
            };
            if due.is_some_and(|d| d <= self.now) {
                self.feed(node, Input::Tick);
            }
        }
    }

    /// Sends a management request to a node; the reply lands in `replies` under the returned id.
    pub fn api(&mut self, node: NodeId, request: Request) -> u64 {
        let id = self.next_api;
        self.next_api += 1;
        self.feed(node, Input::Api { id, request });
        id
    }

    /// Sends a request, runs until it is answered (at most `limit_ms`), returns the reply.
    pub fn api_wait(&mut self, node: NodeId, request: Request, limit_ms: u64) -> Response {
        let id = self.api(node, request);
        let end = self.now + limit_ms;
        while !self.replies.contains_key(&id) && self.now < end {
            let next = self.next_event().unwrap_or(end).min(end);
            self.run_until(next);
        }
        self.replies.remove(&id).unwrap_or_else(|| panic!("no reply within {limit_ms} ms"))
    }

    /// Creates a PDN connection on MAG `i` and waits for the outcome.
    pub fn create(&mut self, i: usize, p: PdnCreate) -> Response {
        self.api_wait(NodeId::Mag(i), Request::PdnCreate(p), 200_000)
    }

    /// Messages on the wire of a type, optionally from one node.
    pub fn sent(&self, from: Option<NodeId>, pred: impl Fn(&MhRepr) -> bool) -> Vec<&Wire> {
        self.wire.iter().filter(|w| from.is_none_or(|f| w.from == f) && pred(&w.msg)).collect()
    }

    /// Every consistency check the simulation can make: each machine's bookkeeping, each fake fast path's
    /// (no errors, unique keys), and the correspondence of bindings and fast-path entries.
    pub fn check(&self) -> Result<(), String> {
        self.lma.machine.check_invariants().map_err(|e| format!("LMA: {e}"))?;
        self.lma.fastpath.check_unique_keys().map_err(|e| format!("LMA fast path: {e}"))?;
        if let Some(e) = self.lma.fastpath.errors.first() {
            return Err(format!("LMA fast path: {e}"));
        }
        // Every BCE that forwards has its entry, with its keys and addresses; every entry has a BCE.
        for b in self.lma.machine.cache().iter() {
            let entry = self.lma.fastpath.table.get(&b.id);
            let forwarding = b.installed;
            match (forwarding, entry) {
                (true, None) => return Err(format!("BCE {:?} has no fast-path entry", b.id)),
                (false, Some(_)) => return Err(format!("BCE {:?} should have no entry", b.id)),
                (true, Some(s)) => {
                    if s.uplink_key != Some(b.uplink_key)
                        || s.downlink_key != Some(b.downlink_key)
                        || s.ue_ipv6_prefix != b.hnp
                        || s.ue_ipv4 != b.ipv4
                    {
                        return Err(format!("entry of BCE {:?} does not match it: {s:?}", b.id));
                    }
                }
                (false, None) => {}
            }
        }
        for id in self.lma.fastpath.table.keys() {
            if self.lma.machine.cache().get(*id).is_none() {
                return Err(format!("LMA fast-path entry {id:?} without a BCE"));
            }
        }
        for (i, m) in self.mags.iter().enumerate() {
            m.machine.check_invariants().map_err(|e| format!("MAG{i}: {e}"))?;
            m.fastpath.check_unique_keys().map_err(|e| format!("MAG{i} fast path: {e}"))?;
            if let Some(e) = m.fastpath.errors.first() {
                return Err(format!("MAG{i} fast path: {e}"));
            }
            for id in m.fastpath.table.keys() {
                if !m.machine.bules().any(|(b, _)| b == *id) {
                    return Err(format!("MAG{i} fast-path entry {id:?} without a BULE"));
                }
            }
            for (id, b) in m.machine.bules() {
                if b.installed != m.fastpath.table.contains_key(&id) {
                    return Err(format!("MAG{i} BULE {id:?} installed={} but table disagrees", b.installed));
                }
            }
        }
        if let Some(u) = self.undeliverable.first() {
            return Err(format!("undeliverable packet: {u}"));
        }
        Ok(())
    }
}

fn put(change: StateChange) -> Option<Record> {
    match change {
        StateChange::Put(record) => Some(record),
        StateChange::Delete(_) => None,
    }
}

/// A durable state as compared: no reservations and an empty reservation record are the same state.
fn same_state(disk: &BTreeMap<RecordKey, Record>) -> BTreeMap<RecordKey, Record> {
    disk.iter()
        .filter(|(_, r)| !matches!(r, Record::Reservations(list) if list.is_empty()))
        .map(|(k, r)| (*k, r.clone()))
        .collect()
}

/// The PDN connection a `pdn create` reply reports.
pub fn established(r: &Response) -> controlplane::api::BindingView {
    match r {
        Response::Pdn { binding } => binding.clone(),
        other => panic!("expected a PDN connection, got {other:?}"),
    }
}
