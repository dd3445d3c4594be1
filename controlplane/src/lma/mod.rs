//! The LMA: PBU processing (RFC 5213 §5.3 with TS 29.275 §6 first), the binding cache, lifetime, de-registration,
//! handover, LMA-initiated revocation (RFC 5846), key reservation (TS 29.275 §6.3) and heartbeats — as a sans-IO
//! state machine.
//!
//! ```text
//! let mut lma = Lma::new(config, restart_counter)?;
//! lma.handle(Input::Received { header, msg }, now, &mut out);   // punted PBU → outputs
//! // out: Fastpath { token, Install{..} }; the PBA is held until Input::FastpathApplied(token)
//! ```
//!
//! Modules: [`checks`] (binding-independent PBU checks), [`store`] (BCEs and indexes), [`pba`] (PBA contents),
//! `procedures` (create / update / handover / de-registration / expiry), `revoke` (BRI initiator).

pub mod checks;
mod durable;
pub mod pba;
mod procedures;
mod revoke;
pub mod store;

use crate::api::{BindingView, Matcher, Request, ReservationView, Response, Selector, Stats};
use crate::config::{ApnPools, ConfigError, LmaConfig};
use crate::fastpath::{FastpathGate, FastpathToken, Function, TunnelId};
use crate::heartbeat::{Heartbeats, PeerFailure};
use crate::keys::UplinkKeys;
use crate::machine::{unrecognized_type_reply, EndReason, Event, Input, Output};
use crate::peer::framing_name;
use crate::session::{mn_id_text, PdnIdent};
use crate::stats::{Counters, RxTx};
use crate::time::{Millis, Now};
use crate::timers::Timers;
use crate::transport::FrameHeader;
use crate::wire::{Apn, MhRepr, MnId, PbuRepr, RevocationTrigger};
use revoke::Revocation;
use std::collections::BTreeMap;
use std::net::IpAddr;
use store::{BceState, BindingCache};

/// Deadlines the LMA keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum LmaTimer {
    /// Lifetime expiry (active BCE) or MinDelayBeforeBCEDelete (de-registered BCE).
    Lifetime(TunnelId),
    /// MaxDelayBeforeNewBCEAssign for a held HI 4 handover PBU.
    HandoverWait(TunnelId),
    /// BRI retransmission / give-up.
    Bri(u16),
}

/// An update whose refusal undoes a binding, with the PBU to answer then (None: a binding a warm start restored).
#[derive(Debug, Clone)]
struct Awaiting {
    id: TunnelId,
    /// The update was the binding's first install (refused: no entry exists).
    fresh: bool,
    answer: Option<Box<(FrameHeader, PbuRepr)>>,
}

/// The LMA state machine. See the module documentation.
#[derive(Debug)]
pub struct Lma {
    config: LmaConfig,
    apns: Vec<ApnPools>,
    keys: UplinkKeys,
    cache: BindingCache,
    timers: Timers<LmaTimer>,
    gate: FastpathGate,
    awaiting: BTreeMap<FastpathToken, Awaiting>,
    revocations: BTreeMap<u16, Revocation>,
    next_bri_seq: u16,
    heartbeats: Heartbeats,
    counters: Counters,
    /// Durable state is on: every input's changes are written down in `outbox` (`durable.rs`).
    durable: bool,
    outbox: crate::durable::journal::Outbox,
    /// The key reservations' generation last written down.
    persisted_reservations: u64,
    /// The changed BCEs' keys `persist_changes` is working through (kept for its room).
    changed_keys: Vec<u32>,
}

impl Lma {
    /// Builds the LMA; `restart_counter` is this node's RFC 5847 counter (see [`crate::restart_counter`]).
    pub fn new(config: LmaConfig, restart_counter: u32) -> Result<Self, ConfigError> {
        let apns = config.build_pools()?;
        // The indexes and timers are sized for max_bindings now: grown as bindings come, each doubling rehashed
        // them all at once (several tables growing in step), a pause of tens of milliseconds in an attach storm
        // that overflowed the punt queue at half the control thread's capacity. Their slots are not touched
        // until used.
        let mut cache = BindingCache::new(config.max_bindings);
        cache.reserve(config.max_bindings);
        let mut timers = Timers::new();
        timers.reserve(config.max_bindings);
        Ok(Lma {
            keys: UplinkKeys::placed(config.uplink_keys, config.placement),
            cache,
            heartbeats: Heartbeats::new(config.heartbeat.clone(), restart_counter),
            apns,
            timers,
            gate: FastpathGate::default(),
            awaiting: BTreeMap::new(),
            revocations: BTreeMap::new(),
            next_bri_seq: 1,
            counters: Counters::default(),
            durable: false,
            persisted_reservations: 0,
            changed_keys: Vec::new(),
            outbox: Default::default(),
            config,
        })
    }

    /// Uplink keys in use per worker field (`crate::placement`).
    pub fn keys_per_worker(&self) -> Vec<usize> {
        self.keys.in_use_per_worker()
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
            Input::FastpathApplied(token) => {
                self.awaiting = self.awaiting.split_off(&FastpathToken(token.0 + 1));
                self.gate.applied(token, out);
            }
            Input::FastpathRefused { token, reason } => self.on_refused(token, reason, now, out),
            Input::Api { id, request } => {
                let response = self.on_api(request, now, out);
                out.push(Output::ApiReply { id, response });
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
            MhRepr::Pbu(pbu) => self.on_pbu(header, pbu, now, out),
            MhRepr::Bra(bra) => self.on_bra(&header, &bra, now, out),
            MhRepr::Heartbeat(hb) => {
                if let Some(failure) = self.heartbeats.on_message(&header, &hb, &mut self.counters, out) {
                    self.on_peer_failure(header.src, failure, out);
                }
            }
            MhRepr::BindingError(_) => self.heartbeats.on_binding_error(header.src, out),
            MhRepr::Unknown { .. } => out.push(unrecognized_type_reply(&header)),
            MhRepr::Pba(_) | MhRepr::Bri(_) => self.ignore(header.src, "MAG message sent to an LMA", out),
        }
    }

    fn on_tick(&mut self, now: Now, out: &mut Vec<Output>) {
        while let Some(timer) = self.timers.pop_expired(now.mono) {
            match timer {
                LmaTimer::Lifetime(id) => self.on_lifetime_end(id, out),
                LmaTimer::HandoverWait(id) => self.on_handover_wait_end(id, now, out),
                LmaTimer::Bri(seq) => self.on_bri_timer(seq, now, out),
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
        let ids: Vec<TunnelId> = self.cache.iter().filter(|b| b.proxy_coa() == peer).map(|b| b.id).collect();
        for id in ids {
            self.delete(id, reason.clone(), out);
        }
    }

    fn on_refused(&mut self, token: FastpathToken, reason: String, now: Now, out: &mut Vec<Output>) {
        self.counters.event("fastpath-refusals");
        // What waited for the update will not be sent; the binding it was for cannot stand.
        drop(self.gate.refused(token));
        if let Some(a) = self.awaiting.remove(&token) {
            if let Some(b) = self.cache.get_mut(a.id) {
                // A refused install left nothing; a refused modify left the old entry, which delete removes.
                b.installed = !a.fresh;
            }
            self.delete(a.id, EndReason::FastpathRefused(reason), out);
            if let Some(answer) = a.answer {
                let (header, pbu) = *answer;
                let status = crate::wire::BaStatus::INSUFFICIENT_RESOURCES;
                self.send_reject(&header, &pbu, status, pbu.seq, now, out);
            }
        }
    }

    fn ignore(&mut self, peer: IpAddr, why: &'static str, out: &mut Vec<Output>) {
        self.counters.event("messages-ignored");
        out.push(Output::Event(Event::Ignored { peer, why }));
    }

    // ---- management API ----

    fn on_api(&mut self, request: Request, now: Now, out: &mut Vec<Output>) -> Response {
        match request {
            Request::Bindings { selector } => match self.select(&selector) {
                Ok(ids) => Response::Bindings { bindings: ids.iter().filter_map(|&id| self.view(id, now)).collect() },
                Err(e) => Response::error(e),
            },
            Request::Stats => Response::Stats(self.stats()),
            Request::Peers => {
                Response::Peers { peers: self.heartbeats.views(), restart_counter: self.heartbeats.restart_counter() }
            }
            Request::BindingRevoke { selector, trigger } => {
                if selector.is_empty() {
                    return Response::error("binding revoke needs an MN-ID or a key to say which binding(s)");
                }
                let trigger = RevocationTrigger(trigger.unwrap_or(RevocationTrigger::ADMINISTRATIVE_REASON.0));
                match self.select(&selector) {
                    Ok(ids) => self.revoke(&ids, trigger, now, out),
                    Err(e) => Response::error(e),
                }
            }
            Request::KeysReserve { key, mn_id, apn, pdn_connection_id } => {
                match pdn_ident(&mn_id, &apn, pdn_connection_id)
                    .and_then(|pdn| self.keys.reserve(key, pdn.clone()).map_err(|e| e.to_string()).map(|()| pdn))
                {
                    Ok(pdn) => Response::done(format!("uplink GRE key {key:#010x} reserved for {pdn}")),
                    Err(e) => Response::error(e),
                }
            }
            Request::KeysRelease { key } => match self.keys.unreserve(key) {
                Ok(()) => Response::done(format!("reservation of uplink GRE key {key:#010x} released")),
                Err(e) => Response::error(e.to_string()),
            },
            Request::Keys => Response::Keys {
                reservations: self
                    .keys
                    .reservations()
                    .into_iter()
                    .map(|r| ReservationView {
                        key: r.key,
                        mn_id: mn_id_text(&r.pdn.mn_id),
                        apn: r.pdn.apn.to_dotted(),
                        pdn_connection_id: r.pdn.pdn_connection_id,
                        bound: r.bound,
                    })
                    .collect(),
            },
            Request::PdnCreate(_) | Request::PdnDelete { .. } => {
                Response::error("pdn create / pdn delete are MAG commands; this gateway is an LMA")
            }
            Request::Neighbours | Request::State | Request::Workers => {
                Response::error("neighbours and durable state are the gateway's; the LMA procedures answer neither")
            }
        }
    }

    /// Bindings a selector names (every binding for an empty one).
    fn select(&self, s: &Selector) -> Result<Vec<TunnelId>, String> {
        let m = Matcher::new(s)?;
        let candidates: Vec<TunnelId> = match m.mn_id() {
            Some(mn) => self.cache.by_mn(mn),
            None => self.cache.ids(),
        };
        let bces = candidates.into_iter().filter_map(|id| self.cache.get(id));
        m.select(bces.map(|b| (b.id, &b.pdn, [Some(b.uplink_key), Some(b.downlink_key)])))
    }

    /// One binding as the API shows it.
    pub fn view(&self, id: TunnelId, now: Now) -> Option<BindingView> {
        let b = self.cache.get(id)?;
        let state = match (b.state, &b.held) {
            (BceState::Active, Some(_)) => "handover-wait",
            (BceState::Active, None) => "active",
            (BceState::Deregistered, _) => "deregistered",
            (BceState::Revoking { .. }, _) => "revoking",
        };
        Some(BindingView {
            id: id.0,
            function: Function::Lma,
            state: state.into(),
            mn_id: mn_id_text(&b.pdn.mn_id),
            apn: b.pdn.apn.to_dotted(),
            pdn_connection_id: b.pdn.pdn_connection_id,
            peer: b.proxy_coa(),
            local: Some(b.path.src),
            framing: framing_name(b.path.framing).into(),
            uplink_key: Some(b.uplink_key),
            downlink_key: Some(b.downlink_key),
            home_prefix: b.hnp.map(|p| format!("{p}/64")),
            ipv4_home_address: b.ipv4,
            att: b.att.0,
            lifetime_s: u32::from(b.lifetime_units) * 4,
            expires_in_s: Some(Millis(b.deadline).since(now.mono).div_ceil(1000)),
            counters: None,
        })
    }

    /// Counters for the API and metrics.
    pub fn stats(&self) -> Stats {
        Stats {
            function: Function::Lma,
            bindings: self.cache.len() as u64,
            keys_in_use: self.keys.in_use() as u64,
            signalling: self.counters.message_rows(),
            events: self.counters.event_rows(),
            dataplane: None,
            state: self.state(),
            signalling_latency: None,
        }
    }

    /// What the LMA holds: each entry returns to zero when the last binding is gone (reservations aside).
    fn state(&self) -> BTreeMap<String, u64> {
        let ipv4: usize = self.apns.iter().filter_map(|a| a.ipv4.as_ref()).map(|p| p.in_use()).sum();
        let ipv6: usize = self.apns.iter().filter_map(|a| a.ipv6.as_ref()).map(|p| p.in_use()).sum();
        crate::api::state_gauges([
            ("lma.bces", self.cache.len()),
            ("lma.uplink_keys", self.keys.in_use()),
            ("lma.key_reservations", self.keys.reservation_count()),
            ("lma.ipv4_addresses", ipv4),
            ("lma.ipv6_prefixes", ipv6),
            ("lma.timers", self.timers.len()),
            ("lma.awaiting_fastpath", self.awaiting.len()),
            ("lma.revocations_outstanding", self.revocations.len()),
        ])
    }

    /// The signalling counters.
    /// This node's RFC 5847 restart counter.
    pub fn restart_counter(&self) -> u32 {
        self.heartbeats.restart_counter()
    }

    /// The signalling counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Number of BCEs.
    pub fn binding_count(&self) -> usize {
        self.cache.len()
    }

    /// Read access to the binding cache (tests, the gateway's per-binding counter lookup).
    pub fn cache(&self) -> &BindingCache {
        &self.cache
    }

    /// The uplink keys (tests).
    pub fn keys(&self) -> &UplinkKeys {
        &self.keys
    }

    /// Checks the bookkeeping: indexes, keys and pool usage agree with the BCEs. For tests; O(bindings).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.cache.check_indexes()?;
        let unbound = self.keys.reservations().iter().filter(|r| !r.bound).count();
        if self.keys.in_use() != self.cache.len() + unbound {
            return Err(format!(
                "{} uplink keys in use for {} BCEs and {} unbound reservations",
                self.keys.in_use(),
                self.cache.len(),
                unbound
            ));
        }
        for (i, apn) in self.apns.iter().enumerate() {
            let hnps = self.cache.iter().filter(|b| b.apn_index == i && b.hnp.is_some()).count();
            let v4s = self.cache.iter().filter(|b| b.apn_index == i && b.ipv4.is_some()).count();
            let (p6, p4) = (apn.ipv6.as_ref().map_or(0, |p| p.in_use()), apn.ipv4.as_ref().map_or(0, |p| p.in_use()));
            if (p6, p4) != (hnps, v4s) {
                return Err(format!("APN {}: pools hold {p6} prefixes / {p4} addresses, BCEs {hnps} / {v4s}", apn.apn));
            }
        }
        for b in self.cache.iter() {
            if self.heartbeats.bindings_with(b.proxy_coa()) == 0 {
                return Err(format!("heartbeat does not count the binding {:?} with {}", b.id, b.proxy_coa()));
            }
        }
        Ok(())
    }
}

fn pdn_ident(mn_id: &str, apn: &str, pdn_connection_id: Option<u8>) -> Result<PdnIdent, String> {
    if mn_id.is_empty() {
        return Err("mn_id must not be empty".into());
    }
    let apn = Apn::from_dotted(apn).map_err(|e| format!("apn {apn:?}: {e}"))?;
    Ok(PdnIdent::new(MnId::Nai(mn_id.to_owned()), apn, pdn_connection_id))
}
