//! The MAG: PDN connection creation (TS 29.275 §5.1.1 / §6.2), PBU retransmission (RFC 5213 §6.9.4), PBA
//! acceptance (§6.9.1.2), refresh, de-registration, BRI responder (RFC 5846 §9.1) and heartbeats — as a sans-IO
//! state machine. Downlink GRE keys come from one allocator for all LMAAs: unique per MAG, stronger than the
//! per-LMAA uniqueness TS 29.275 §6.2 asks for.
//!
//! Modules: `procedures` (PBU / PBA / BRI handling), [`bule`] (the Binding Update List entry).

pub mod bule;
mod durable;
mod procedures;

use crate::api::{BindingView, Matcher, Request, Response, Selector, Stats};
use crate::config::{ConfigError, MagConfig};
use crate::fastpath::{FastpathGate, Function, TunnelId};
use crate::heartbeat::{Heartbeats, PeerFailure};
use crate::keys::KeyAllocator;
use crate::machine::{unrecognized_type_reply, EndReason, Input, Output};
use crate::peer::framing_name;
use crate::session::{mn_id_text, PdnIdent};
use crate::slots::Slots;
use crate::stats::{Counters, RxTx};
use crate::time::{Millis, Now};
use crate::timers::Timers;
use crate::transport::FrameHeader;
use crate::wire::MhRepr;
use bule::{Bule, BuleState};
use hashbrown::HashMap;
use std::net::IpAddr;

/// Deadlines the MAG keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum MagTimer {
    /// PBU retransmission, or the end of the wait for a de-registration PBA.
    Retransmit(TunnelId),
    /// Time to refresh the binding.
    Refresh(TunnelId),
    /// The granted lifetime ran out.
    Expiry(TunnelId),
}

/// The MAG state machine. See the module documentation.
#[derive(Debug)]
pub struct Mag {
    config: MagConfig,
    /// Downlink keys, unique across every LMA address: stronger than TS 29.275 §6.2 asks (unique per LMAA), so
    /// that the keys in use lie within one window no wider than the data plane's table and each finds its binding
    /// in its own home slot without a hash (dataplane `tables/worker.rs`).
    downlink_keys: KeyAllocator,
    bules: Slots<Bule>,
    by_pdn: HashMap<PdnIdent, TunnelId>,
    /// Sequence numbers of outstanding PBUs.
    by_seq: HashMap<u16, TunnelId>,
    next_seq: u16,
    timers: Timers<MagTimer>,
    gate: FastpathGate,
    heartbeats: Heartbeats,
    counters: Counters,
    /// Durable state is on: every input's changes are written down in `outbox` (`durable.rs`).
    durable: bool,
    outbox: crate::durable::journal::Outbox,
    /// Connections whose durable record this input may have changed: (downlink key, id).
    changed: Vec<(u32, TunnelId)>,
}

impl Mag {
    /// Builds the MAG; `restart_counter` is this node's RFC 5847 counter (see [`crate::restart_counter`]).
    pub fn new(config: MagConfig, restart_counter: u32) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Mag {
            bules: Slots::new(config.max_bindings),
            heartbeats: Heartbeats::new(config.heartbeat.clone(), restart_counter),
            downlink_keys: KeyAllocator::placed(config.downlink_keys, config.placement),
            by_pdn: HashMap::new(),
            by_seq: HashMap::new(),
            next_seq: 1,
            timers: Timers::new(),
            gate: FastpathGate::default(),
            counters: Counters::default(),
            durable: false,
            outbox: Default::default(),
            changed: Vec::new(),
            config,
        })
    }

    /// Processes one input; appends what to do to `out`.
    pub fn handle(&mut self, input: Input, now: Now, out: &mut Vec<Output>) {
        let start = out.len();
        match input {
            Input::Received { header, msg } => {
                self.counters.message(RxTx::Rx, &msg);
                self.on_message(header, msg, now, out);
            }
            Input::Tick => self.on_tick(now, out),
            Input::FastpathApplied(token) => self.gate.applied(token, out),
            Input::FastpathRefused { token, reason } => self.on_refused(token, reason, out),
            Input::Api { id, request } => {
                if let Some(response) = self.on_api(id, request, now, out) {
                    out.push(Output::ApiReply { id, response });
                }
            }
        }
        self.persist_changes(now);
        self.counters.count_sent(&out[start..]);
    }

    /// When the next timer is due: call `handle(Input::Tick, ..)` then.
    pub fn next_deadline(&self) -> Option<Millis> {
        [self.timers.next_deadline(), self.heartbeats.next_deadline()].into_iter().flatten().min()
    }

    fn on_message(&mut self, header: FrameHeader, msg: MhRepr, now: Now, out: &mut Vec<Output>) {
        match msg {
            MhRepr::Pba(pba) => self.on_pba(&header, pba, now, out),
            MhRepr::Bri(bri) => self.on_bri(&header, &bri, now, out),
            MhRepr::Heartbeat(hb) => {
                if let Some(failure) = self.heartbeats.on_message(&header, &hb, &mut self.counters, out) {
                    self.on_peer_failure(header.src, failure, out);
                }
            }
            MhRepr::BindingError(_) => self.heartbeats.on_binding_error(header.src, out),
            MhRepr::Unknown { .. } => out.push(unrecognized_type_reply(&header)),
            MhRepr::Pbu(_) | MhRepr::Bra(_) => self.ignore(header.src, "LMA message sent to a MAG", out),
        }
    }

    fn on_tick(&mut self, now: Now, out: &mut Vec<Output>) {
        while let Some(timer) = self.timers.pop_expired(now.mono) {
            match timer {
                MagTimer::Retransmit(id) => self.on_retransmit_timer(id, now, out),
                MagTimer::Refresh(id) => self.start_refresh(id, now, out),
                MagTimer::Expiry(id) => {
                    self.counters.event("bindings-expired");
                    self.teardown(id, EndReason::Expired, out);
                }
            }
        }
        for peer in self.heartbeats.on_tick(now, &mut self.counters, out) {
            self.on_peer_failure(peer, PeerFailure::Unreachable, out);
        }
    }

    fn on_peer_failure(&mut self, peer: IpAddr, failure: PeerFailure, out: &mut Vec<Output>) {
        if !self.config.heartbeat.cleanup_bindings {
            return;
        }
        let reason = EndReason::from(failure);
        let ids: Vec<TunnelId> = self.bules.iter().filter(|(_, b)| b.lma() == peer).map(|(id, _)| id).collect();
        for id in ids {
            self.teardown(id, reason.clone(), out);
        }
    }

    fn on_refused(&mut self, token: crate::fastpath::FastpathToken, reason: String, out: &mut Vec<Output>) {
        self.counters.event("fastpath-refusals");
        drop(self.gate.refused(token));
        let id = self.bules.iter().find(|(_, b)| b.token == token).map(|(id, _)| id);
        if let Some(id) = id {
            if let Some(b) = self.bules.get_mut(id) {
                b.installed = b.installed && !b.fresh_install;
            }
            self.teardown(id, EndReason::FastpathRefused(reason), out);
        }
    }

    fn ignore(&mut self, peer: IpAddr, why: &'static str, out: &mut Vec<Output>) {
        self.counters.event("messages-ignored");
        out.push(Output::Event(crate::machine::Event::Ignored { peer, why }));
    }

    // ---- management API ----

    /// Answers at once (Some) or later, when the procedure ends (None).
    fn on_api(&mut self, id: u64, request: Request, now: Now, out: &mut Vec<Output>) -> Option<Response> {
        Some(match request {
            Request::Bindings { selector } => match self.select(&selector) {
                Ok(ids) => Response::Bindings { bindings: ids.iter().filter_map(|&b| self.view(b, now)).collect() },
                Err(e) => Response::error(e),
            },
            Request::Stats => Response::Stats(self.stats()),
            Request::Peers => {
                Response::Peers { peers: self.heartbeats.views(), restart_counter: self.heartbeats.restart_counter() }
            }
            Request::PdnCreate(p) => return self.create(id, p, now, out),
            Request::PdnDelete { mn_id, apn, pdn_connection_id, only } => {
                return self.delete_by_api(id, &mn_id, &apn, pdn_connection_id, only, now, out)
            }
            Request::BindingRevoke { .. }
            | Request::KeysReserve { .. }
            | Request::KeysRelease { .. }
            | Request::Keys => Response::error("binding revoke and keys are LMA commands; this gateway is a MAG"),
            Request::Neighbours | Request::State | Request::Workers => {
                Response::error("neighbours and durable state are the gateway's; the MAG procedures answer neither")
            }
        })
    }

    fn select(&self, s: &Selector) -> Result<Vec<TunnelId>, String> {
        let m = Matcher::new(s)?;
        m.select(self.bules.iter().map(|(id, b)| (id, &b.pdn, [b.uplink_key, Some(b.downlink_key)])))
    }

    /// One PDN connection as the API shows it.
    pub fn view(&self, id: TunnelId, now: Now) -> Option<BindingView> {
        let b = self.bules.get(id)?;
        Some(BindingView {
            id: id.0,
            function: Function::Mag,
            state: b.state.name().into(),
            mn_id: mn_id_text(&b.pdn.mn_id),
            apn: b.pdn.apn.to_dotted(),
            pdn_connection_id: b.pdn.pdn_connection_id,
            peer: b.lma(),
            local: Some(b.path.src),
            framing: framing_name(b.path.framing).into(),
            uplink_key: b.uplink_key,
            downlink_key: Some(b.downlink_key),
            home_prefix: b.hnp.map(|p| format!("{p}/64")),
            ipv4_home_address: b.ipv4,
            att: b.att.0,
            lifetime_s: u32::from(b.lifetime_units) * 4,
            expires_in_s: (b.state != BuleState::Registering).then(|| b.expires_at.since(now.mono).div_ceil(1000)),
            counters: None,
        })
    }

    /// Counters for the API and metrics.
    pub fn stats(&self) -> Stats {
        Stats {
            function: Function::Mag,
            bindings: self.bules.len() as u64,
            keys_in_use: self.downlink_keys.in_use() as u64,
            signalling: self.counters.message_rows(),
            events: self.counters.event_rows(),
            dataplane: None,
            state: self.state(),
            signalling_latency: None,
        }
    }

    /// What the MAG holds: each entry returns to zero when the last PDN connection is gone.
    fn state(&self) -> std::collections::BTreeMap<String, u64> {
        crate::api::state_gauges([
            ("mag.pdn_connections", self.bules.len()),
            ("mag.pdn_index", self.by_pdn.len()),
            ("mag.downlink_keys", self.downlink_keys.in_use()),
            ("mag.pbus_outstanding", self.by_seq.len()),
            ("mag.timers", self.timers.len()),
        ])
    }

    /// This node's RFC 5847 restart counter.
    /// Downlink keys in use per worker field (`crate::placement`).
    pub fn keys_per_worker(&self) -> Vec<usize> {
        self.downlink_keys.in_use_per_worker()
    }

    pub fn restart_counter(&self) -> u32 {
        self.heartbeats.restart_counter()
    }

    /// The signalling counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn binding_count(&self) -> usize {
        self.bules.len()
    }

    /// Every BULE (tests, the gateway's per-binding counter lookup).
    pub fn bules(&self) -> impl Iterator<Item = (TunnelId, &Bule)> {
        self.bules.iter()
    }

    /// The BULE of a PDN connection.
    pub fn find(&self, pdn: &PdnIdent) -> Option<(TunnelId, &Bule)> {
        let id = *self.by_pdn.get(pdn)?;
        self.bules.get(id).map(|b| (id, b))
    }

    /// Checks the bookkeeping: one downlink key per BULE in the allocator, indexes consistent. For tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (id, b) in self.bules.iter() {
            if self.by_pdn.get(&b.pdn) != Some(&id) {
                return Err(format!("PDN index wrong for {id:?}"));
            }
            if !self.downlink_keys.is_in_use(b.downlink_key) {
                return Err(format!("downlink key of {id:?} not held"));
            }
            if self.heartbeats.bindings_with(b.lma()) == 0 {
                return Err(format!("heartbeat does not count {id:?}"));
            }
        }
        if self.downlink_keys.in_use() != self.bules.len() {
            return Err(format!("{} downlink keys in use for {} BULEs", self.downlink_keys.in_use(), self.bules.len()));
        }
        if self.by_pdn.len() != self.bules.len() {
            return Err("PDN index holds entries for BULEs that are gone".into());
        }
        if self.by_seq.values().any(|id| self.bules.get(*id).is_none_or(|b| b.procedure.is_none())) {
            return Err("an outstanding sequence number points at no procedure".into());
        }
        Ok(())
    }
}
