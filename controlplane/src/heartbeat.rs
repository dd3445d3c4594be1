//! Heartbeat (RFC 5847) between this node and each peer it has bindings with — the same for both roles.
//!
//! Every `interval_s` a request goes to each peer that has at least one binding (RFC 5847 §5: only while a
//! binding exists; requests are always answered). Before each new request an unanswered previous one counts as
//! missing; more than `missing_allowed` in a row declares the peer unreachable. A response with a Restart Counter
//! other than the one stored means the peer restarted and lost its state. Both are reported to the owning state
//! machine, which cleans the peer's bindings up if configured to. A peer that answers a heartbeat with a Binding
//! Error gets no more heartbeats.
//!
//! RFC 5847 §5.3: a node that restarted without its state sends its former peers (from the discarded journal,
//! `crate::durable`) an unsolicited response with the new counter ([`Heartbeats::announce_restart`]); one that
//! kept its state keeps its counter.

use crate::api::PeerView;
use crate::config::HeartbeatConfig;
use crate::machine::{EndReason, Event, Output};
use crate::stats::Counters;
use crate::time::{Millis, Now};
use crate::timers::Timers;
use crate::transport::FrameHeader;
use crate::wire::{HeartbeatKind, HeartbeatRepr, MhOptions, MhRepr};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What the owner should do about a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerFailure {
    /// The peer's Restart Counter changed: its side of every binding is gone.
    Restarted { old: u32, new: u32 },
    /// The peer missed more heartbeats than allowed.
    Unreachable,
}

impl From<PeerFailure> for EndReason {
    fn from(f: PeerFailure) -> Self {
        match f {
            PeerFailure::Restarted { .. } => EndReason::PeerRestarted,
            PeerFailure::Unreachable => EndReason::PeerUnreachable,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Liveness {
    Up,
    Unreachable,
    Unsupported,
}

#[derive(Debug, Clone)]
struct Peer {
    /// How we send to it (src = us, dst = the peer).
    header: FrameHeader,
    bindings: u64,
    next_seq: u32,
    outstanding: Option<u32>,
    missing: u32,
    restart_counter: Option<u32>,
    liveness: Liveness,
    requests_sent: u64,
    responses_received: u64,
}

/// Heartbeat state of every peer.
#[derive(Debug)]
pub struct Heartbeats {
    config: HeartbeatConfig,
    restart_counter: u32,
    peers: BTreeMap<IpAddr, Peer>,
    timers: Timers<IpAddr>,
    /// Peers whose restart counter was learnt or changed since the last `take_changed_counters` (durable state).
    changed_counters: Vec<(IpAddr, u32)>,
}

impl Heartbeats {
    /// `restart_counter` is this node's own (see [`crate::restart_counter`]).
    pub fn new(config: HeartbeatConfig, restart_counter: u32) -> Self {
        Heartbeats {
            config,
            restart_counter,
            peers: BTreeMap::new(),
            timers: Timers::new(),
            changed_counters: Vec::new(),
        }
    }

    pub fn restart_counter(&self) -> u32 {
        self.restart_counter
    }

    fn interval_ms(&self) -> u64 {
        u64::from(self.config.interval_s) * 1000
    }

    /// A binding with the peer `to.dst` now exists; `to` is how to reach it (its latest framing).
    pub fn binding_added(&mut self, to: FrameHeader, now: Now) {
        let interval = self.interval_ms();
        let enabled = self.config.enabled;
        let peer = self.peers.entry(to.dst).or_insert_with(|| Peer {
            header: to,
            bindings: 0,
            next_seq: 1,
            outstanding: None,
            missing: 0,
            restart_counter: None,
            liveness: Liveness::Up,
            requests_sent: 0,
            responses_received: 0,
        });
        peer.header = to;
        peer.bindings += 1;
        if peer.bindings == 1 && enabled && peer.liveness != Liveness::Unsupported {
            self.timers.set(to.dst, now.mono + interval);
        }
    }

    /// A binding with `peer` ended.
    pub fn binding_removed(&mut self, peer: IpAddr) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.bindings = p.bindings.saturating_sub(1);
            if p.bindings == 0 {
                self.timers.cancel(&peer);
                p.outstanding = None;
                p.missing = 0;
            }
        }
    }

    /// Peers' restart counters learnt or changed since the last call.
    pub fn take_changed_counters(&mut self) -> Vec<(IpAddr, u32)> {
        std::mem::take(&mut self.changed_counters)
    }

    /// Every peer's restart counter known.
    pub fn known_restart_counters(&self) -> impl Iterator<Item = (IpAddr, u32)> + '_ {
        self.peers.iter().filter_map(|(a, p)| p.restart_counter.map(|c| (*a, c)))
    }

    /// The known restart counters as durable records (`crate::durable`).
    pub fn counter_records(&self) -> impl Iterator<Item = crate::durable::StateChange> + '_ {
        self.known_restart_counters().map(|(peer, restart_counter)| {
            crate::durable::StateChange::Put(crate::durable::Record::Peer { peer, restart_counter })
        })
    }

    /// A warm start: the counter `peer` had before the restart, so that a peer that restarted meanwhile is seen
    /// to have (RFC 5847 §5.3). Only for a peer with bindings (restore them first): false for any other, whose
    /// counter is not kept.
    pub fn restore_counter(&mut self, peer: IpAddr, counter: u32) -> bool {
        match self.peers.get_mut(&peer) {
            Some(p) => {
                p.restart_counter = Some(counter);
                true
            }
            None => false,
        }
    }

    /// Bindings counted for `peer`.
    pub fn bindings_with(&self, peer: IpAddr) -> u64 {
        self.peers.get(&peer).map_or(0, |p| p.bindings)
    }

    /// A Heartbeat arrived. Requests are answered; responses update the peer and may report a failure.
    pub fn on_message(
        &mut self,
        received: &FrameHeader,
        hb: &HeartbeatRepr,
        counters: &mut Counters,
        out: &mut Vec<Output>,
    ) -> Option<PeerFailure> {
        match hb.kind {
            HeartbeatKind::Request => {
                let options = MhOptions { restart_counter: Some(self.restart_counter), ..Default::default() };
                let reply = HeartbeatRepr { kind: HeartbeatKind::Response, seq: hb.seq, options };
                out.push(Output::Send { header: received.reply(), msg: MhRepr::Heartbeat(reply) });
                None
            }
            HeartbeatKind::Response | HeartbeatKind::UnsolicitedResponse => {
                let Some(peer) = self.peers.get_mut(&received.src) else {
                    counters.event("heartbeat-response-unknown-peer");
                    return None;
                };
                if hb.kind == HeartbeatKind::Response {
                    if peer.outstanding != Some(hb.seq) {
                        counters.event("heartbeat-response-unmatched");
                        return None;
                    }
                    peer.outstanding = None;
                }
                peer.responses_received += 1;
                peer.missing = 0;
                peer.liveness = Liveness::Up;
                let new = hb.options.restart_counter?;
                let old = peer.restart_counter.replace(new);
                if old != Some(new) {
                    self.changed_counters.push((received.src, new));
                }
                match old {
                    Some(old) if old != new => {
                        counters.event("peer-restarts");
                        out.push(Output::Event(Event::PeerRestarted { peer: received.src, old, new }));
                        Some(PeerFailure::Restarted { old, new })
                    }
                    _ => None,
                }
            }
        }
    }

    /// The peer answered something we sent with a Binding Error (status 2, unrecognised MH type): if we have a
    /// heartbeat outstanding with it, it does not do heartbeats (RFC 5847 §5.2).
    pub fn on_binding_error(&mut self, from: IpAddr, out: &mut Vec<Output>) {
        if let Some(p) = self.peers.get_mut(&from) {
            if p.outstanding.is_some() {
                p.outstanding = None;
                p.liveness = Liveness::Unsupported;
                self.timers.cancel(&from);
                out.push(Output::Event(Event::HeartbeatUnsupported { peer: from }));
            }
        }
    }

    /// RFC 5847 §5.3: this node lost its state. Each former peer (reached as `to` says) gets an unsolicited
    /// Heartbeat Response (U = 1) with the new restart counter, so it cleans up at once rather than at its next
    /// heartbeat.
    pub fn announce_restart(&self, to: &[FrameHeader], out: &mut Vec<Output>) {
        let options = MhOptions { restart_counter: Some(self.restart_counter), ..Default::default() };
        for header in to {
            let notice = HeartbeatRepr { kind: HeartbeatKind::UnsolicitedResponse, seq: 0, options: options.clone() };
            out.push(Output::Send { header: *header, msg: MhRepr::Heartbeat(notice) });
        }
    }

    /// Earliest heartbeat due.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.next_deadline()
    }

    /// Sends the heartbeats that are due; returns the peers declared unreachable.
    pub fn on_tick(&mut self, now: Now, counters: &mut Counters, out: &mut Vec<Output>) -> Vec<IpAddr> {
        let mut unreachable = Vec::new();
        let interval = self.interval_ms();
        while let Some(addr) = self.timers.pop_expired(now.mono) {
            let Some(peer) = self.peers.get_mut(&addr) else { continue };
            if peer.outstanding.take().is_some() {
                peer.missing += 1;
                counters.event("heartbeats-missed");
                if peer.missing > self.config.missing_allowed && peer.liveness == Liveness::Up {
                    peer.liveness = Liveness::Unreachable;
                    counters.event("peers-unreachable");
                    out.push(Output::Event(Event::PeerUnreachable { peer: addr }));
                    unreachable.push(addr);
                }
            }
            let seq = peer.next_seq;
            peer.next_seq = peer.next_seq.wrapping_add(1);
            peer.outstanding = Some(seq);
            peer.requests_sent += 1;
            let request = HeartbeatRepr { kind: HeartbeatKind::Request, seq, options: MhOptions::default() };
            out.push(Output::Send { header: peer.header, msg: MhRepr::Heartbeat(request) });
            self.timers.set(addr, now.mono + interval);
        }
        unreachable
    }

    /// State of every peer, for the API.
    pub fn views(&self) -> Vec<PeerView> {
        self.peers
            .iter()
            .map(|(addr, p)| PeerView {
                address: *addr,
                framing: crate::peer::framing_name(p.header.framing).into(),
                bindings: p.bindings,
                state: match (p.liveness, p.bindings) {
                    (Liveness::Unsupported, _) => "unsupported",
                    (Liveness::Unreachable, _) => "unreachable",
                    (Liveness::Up, 0) => "idle",
                    (Liveness::Up, _) => "up",
                }
                .into(),
                missing: p.missing,
                restart_counter: p.restart_counter,
                requests_sent: p.requests_sent,
                responses_received: p.responses_received,
                // The workers count these; the gateway fills them in.
                signalling_admitted: 0,
                signalling_rate_limited: 0,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Framing;
    use std::time::Duration;

    const US: &str = "2001:db8:2::1";
    const PEER: &str = "2001:db8:1::1";

    fn to_peer() -> FrameHeader {
        FrameHeader::new(Framing::Ipv6, US.parse().unwrap(), PEER.parse().unwrap())
    }

    fn at(ms: u64) -> Now {
        Now::virtual_at(Millis(ms), Duration::from_secs(1_700_000_000))
    }

    fn response(seq: u32, kind: HeartbeatKind, rc: u32) -> HeartbeatRepr {
        HeartbeatRepr { kind, seq, options: MhOptions { restart_counter: Some(rc), ..Default::default() } }
    }

    fn sent_seq(out: &[Output]) -> u32 {
        match out.last() {
            Some(Output::Send { msg: MhRepr::Heartbeat(h), header }) => {
                assert_eq!(header.dst, PEER.parse::<IpAddr>().unwrap());
                h.seq
            }
            o => panic!("expected a heartbeat request, got {o:?}"),
        }
    }

    #[test]
    fn requests_only_while_bindings_exist_and_answers_always() {
        let mut hb = Heartbeats::new(HeartbeatConfig::default(), 7);
        let (mut c, mut out) = (Counters::default(), Vec::new());
        assert_eq!(hb.next_deadline(), None);
        hb.binding_added(to_peer(), at(0));
        assert_eq!(hb.next_deadline(), Some(Millis(60_000)));
        hb.binding_removed(PEER.parse().unwrap());
        assert_eq!(hb.next_deadline(), None);
        let req = HeartbeatRepr { kind: HeartbeatKind::Request, seq: 42, options: MhOptions::default() };
        let from_peer = to_peer().reply();
        assert_eq!(hb.on_message(&from_peer, &req, &mut c, &mut out), None);
        let Some(Output::Send { header, msg: MhRepr::Heartbeat(r) }) = out.pop() else { panic!() };
        assert_eq!((r.kind, r.seq, r.options.restart_counter), (HeartbeatKind::Response, 42, Some(7)));
        assert_eq!(header, to_peer());
    }

    #[test]
    fn missing_responses_declare_the_peer_unreachable_after_the_allowance() {
        let mut hb = Heartbeats::new(HeartbeatConfig::default(), 1);
        let (mut c, mut out) = (Counters::default(), Vec::new());
        hb.binding_added(to_peer(), at(0));
        let mut t = 0;
        for round in 1..=4 {
            t += 60_000;
            assert!(hb.on_tick(at(t), &mut c, &mut out).is_empty(), "round {round}");
        }
        t += 60_000;
        assert_eq!(hb.on_tick(at(t), &mut c, &mut out), vec![PEER.parse::<IpAddr>().unwrap()]);
        assert_eq!(c.get("heartbeats-missed"), 4);
        // A response brings it back up and resets the count.
        let seq = sent_seq(&out);
        hb.on_message(&to_peer().reply(), &response(seq, HeartbeatKind::Response, 9), &mut c, &mut out);
        assert_eq!(hb.views()[0].state, "up");
        assert_eq!(hb.views()[0].missing, 0);
    }

    #[test]
    fn a_changed_restart_counter_is_a_restart() {
        let mut hb = Heartbeats::new(HeartbeatConfig::default(), 1);
        let (mut c, mut out) = (Counters::default(), Vec::new());
        hb.binding_added(to_peer(), at(0));
        hb.on_tick(at(60_000), &mut c, &mut out);
        let from = to_peer().reply();
        let seq = sent_seq(&out);
        assert_eq!(hb.on_message(&from, &response(seq + 5, HeartbeatKind::Response, 3), &mut c, &mut out), None);
        assert_eq!(hb.views()[0].restart_counter, None, "unmatched sequence ignored");
        assert_eq!(hb.on_message(&from, &response(seq, HeartbeatKind::Response, 3), &mut c, &mut out), None);
        let unsolicited = response(0, HeartbeatKind::UnsolicitedResponse, 4);
        assert_eq!(
            hb.on_message(&from, &unsolicited, &mut c, &mut out),
            Some(PeerFailure::Restarted { old: 3, new: 4 })
        );
        assert_eq!(hb.views()[0].restart_counter, Some(4));
    }

    #[test]
    fn binding_error_stops_heartbeats() {
        let mut hb = Heartbeats::new(HeartbeatConfig::default(), 1);
        let (mut c, mut out) = (Counters::default(), Vec::new());
        hb.binding_added(to_peer(), at(0));
        hb.on_tick(at(60_000), &mut c, &mut out);
        hb.on_binding_error(PEER.parse().unwrap(), &mut out);
        assert_eq!(hb.next_deadline(), None);
        assert_eq!(hb.views()[0].state, "unsupported");
    }
}
