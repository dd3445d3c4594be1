//! The MAG's durable state (see [`crate::durable`]): each PDN connection the LMA has accepted is written down
//! ahead of the messages and replies that follow from it, and a warm start takes them back.
//!
//! A PDN connection is kept from the PBA that accepts it until it goes (de-registration, expiry, revocation,
//! failure). One that is still registering is not: its PBA never reached the caller, who asks again. A
//! de-registration under way at a crash is not resent after the restart: the LMA's binding ends with its
//! lifetime, as it would had the PBU been lost.

use super::bule::{Bule, BuleState};
use super::{Mag, MagTimer};
use crate::api::PdnType;
use crate::durable::journal::Outbox;
use crate::durable::{
    mono_deadline, path_header, path_record, pdn_ident, pdn_record, BuleRecord, Record, RecordKey, RestoreCursor,
    RestoreReport, Restored, StateChange,
};
use crate::fastpath::TunnelId;
use crate::machine::{EndReason, Event, Output};
use crate::time::{Millis, Now};
use crate::wire::{AccessTechType, HandoffIndicator};
use std::net::IpAddr;

impl Mag {
    /// Turns durable state on: from now on every input's changes are written down in the [`Mag::outbox`].
    pub fn enable_durability(&mut self) {
        self.durable = true;
    }

    /// The changes written down and not yet taken: after every input, the I/O loop appends them to its journal
    /// before it carries out the input's outputs, and sends no message or reply before they are durable
    /// (see [`crate::durable`]).
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// Notes that `id`'s durable record may have changed (it is written, or deleted, at the end of the input).
    pub(super) fn touched(&mut self, id: TunnelId) {
        if let Some(b) = self.bules.get(id) {
            if self.durable && (b.stored || persistable(b)) {
                self.changed.push((b.downlink_key, id));
            }
        }
    }

    /// After a start that lost the state: tells the former LMAs the new restart counter (RFC 5847 §5.3).
    pub fn announce_restart(&mut self, former: &Restored, out: &mut Vec<Output>) {
        self.heartbeats.announce_restart(&former.paths(), out);
    }

    /// The whole durable state as it is now (what a fresh journal starts with).
    pub fn snapshot(&self, now: Now) -> Vec<StateChange> {
        let mut all: Vec<StateChange> = self
            .bules
            .iter()
            .filter(|(_, b)| persistable(b))
            .map(|(_, b)| StateChange::Put(Record::Bule(Box::new(self.bule_record(b, now)))))
            .collect();
        all.extend(self.heartbeats.counter_records());
        all
    }

    /// Writes down in the outbox the records the input just handled changed.
    pub(super) fn persist_changes(&mut self, now: Now) {
        let counters = self.heartbeats.take_changed_counters();
        if !self.durable {
            return;
        }
        let mut touched = std::mem::take(&mut self.changed);
        // The last word on each key: an input may touch a connection more than once.
        touched.reverse();
        let mut seen = Vec::with_capacity(touched.len());
        for (key, id) in touched {
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let current = self.bules.get(id).filter(|b| b.downlink_key == key);
            let change = match current {
                Some(b) if persistable(b) => StateChange::Put(Record::Bule(Box::new(self.bule_record(b, now)))),
                _ => StateChange::Delete(RecordKey::Bule(key)),
            };
            if let Some(b) = self.bules.get_mut(id).filter(|b| b.downlink_key == key) {
                b.stored = matches!(change, StateChange::Put(_));
            }
            self.outbox.put(&change);
        }
        for (peer, restart_counter) in counters {
            self.outbox.put(&StateChange::Put(Record::Peer { peer, restart_counter }));
        }
    }

    fn bule_record(&self, b: &Bule, now: Now) -> BuleRecord {
        BuleRecord {
            pdn: pdn_record(&b.pdn),
            att: b.att.0,
            pdn_type: match b.pdn_type {
                PdnType::Ipv4 => 1,
                PdnType::Ipv6 => 2,
                PdnType::Ipv4v6 => 3,
            },
            path: path_record(&b.path),
            ue_mac: b.ue_mac,
            downlink_key: b.downlink_key,
            uplink_key: b.uplink_key.unwrap_or_default(),
            hnp: b.hnp,
            ipv4: b.ipv4,
            ipv4_prefix_len: b.ipv4_prefix_len,
            link_local: b.link_local,
            handoff: b.handoff.0,
            lifetime_units: b.lifetime_units,
            expires_unix_ms: now.wall.as_millis() as u64 + b.expires_at.since(now.mono),
            last_seq: b.last_seq,
        }
    }

    /// Warm start: takes back the PDN connections and the LMAs' restart counters of `state`, before the gateway
    /// forwards. Each connection is installed in the fast path with its keys and addresses and no signalling;
    /// its lifetime and refresh run on from the absolute deadline, and one whose lifetime ran out while the
    /// gateway was down ends as an expiry. A connection the configuration no longer allows (its Proxy-CoA gone,
    /// its downlink key outside the range) is de-registered with the reason logged.
    pub fn restore(&mut self, state: Restored, now: Now, out: &mut Vec<Output>) -> RestoreReport {
        let mut cursor = self.restore_start(state);
        while self.restore_step(&mut cursor, usize::MAX, now, out) {}
        self.restore_finish(cursor, now)
    }

    /// [`Mag::restore`] in steps: this, then [`Mag::restore_step`] until it returns false, then
    /// [`Mag::restore_finish`]; the caller carries out each step's outputs before the next.
    pub fn restore_start(&mut self, state: Restored) -> RestoreCursor {
        // RFC 5213 §6.9.1.5: the MAG's sequence numbers increase; every PBU from here on (a de-registration of
        // a refused connection among them) goes past every accepted one.
        let last_seq = state.records.iter().fold(None, |last, r| match r {
            Record::Bule(b) => Some(last.map_or(b.last_seq, |s| later_seq(s, b.last_seq))),
            _ => last,
        });
        if let Some(seq) = last_seq {
            self.next_seq = seq.wrapping_add(1);
        }
        // Everything that grows by one per connection is sized once: a million rehashes cost seconds.
        let connections = state.records.iter().filter(|r| matches!(r, Record::Bule(_))).count();
        self.by_pdn.reserve(connections);
        self.timers.reserve(connections);
        RestoreCursor::new(state.records)
    }

    /// Restores up to `max` more records; false once none is left.
    pub fn restore_step(&mut self, cursor: &mut RestoreCursor, max: usize, now: Now, out: &mut Vec<Output>) -> bool {
        for _ in 0..max {
            let Some(record) = cursor.next_record() else { return false };
            match record {
                Record::Bule(r) => self.restore_bule(*r, now, &mut cursor.report, out),
                Record::Peer { peer, restart_counter } => cursor.peers.push((peer, restart_counter)),
                Record::Bce(_) | Record::Reservations(_) => {
                    out.push(Output::Event(Event::Note("restore: an LMA record in a MAG's state, skipped".into())));
                }
            }
        }
        cursor.remaining() > 0
    }

    /// Ends a restore: the LMAs' counters are kept for those with connections left, and what the restore changed
    /// is written down.
    pub fn restore_finish(&mut self, mut cursor: RestoreCursor, now: Now) -> RestoreReport {
        // Counters are kept for the LMAs that still have connections, as the heartbeat knows them.
        for (peer, restart_counter) in std::mem::take(&mut cursor.peers) {
            if !self.heartbeats.restore_counter(peer, restart_counter) {
                // No connection with it is left: its counter is not kept (as it would not be while running).
                self.outbox.put(&StateChange::Delete(RecordKey::Peer(peer)));
            }
        }
        // The journal goes on from what was read: what the restore changed (expiries, de-registrations) is
        // written down now; the restart counters are on disk as read.
        let _ = self.heartbeats.take_changed_counters();
        self.persist_changes(now);
        cursor.report
    }

    fn restore_bule(&mut self, r: BuleRecord, now: Now, report: &mut RestoreReport, out: &mut Vec<Output>) {
        let key = r.downlink_key;
        let Some(pdn) = pdn_ident(&r.pdn).filter(|pdn| !self.by_pdn.contains_key(pdn)) else {
            report.refused += 1;
            let why = format!("restore: PDN connection with downlink key {key:#010x} is unreadable or held twice");
            out.push(Output::Event(Event::Note(why)));
            return;
        };
        // Whatever the connection holds, it holds until it goes, so that it gives back only what it took.
        let mut refusal = None;
        if !self.downlink_keys.restore(key) {
            if !self.downlink_keys.reserve(key) {
                report.refused += 1;
                let why = format!("restore: {pdn}: downlink key {key:#010x} is held twice in the state");
                out.push(Output::Event(Event::Note(why)));
                return;
            }
            refusal =
                Some(format!("downlink key {key:#010x} is outside mag.downlink_keys or this cluster instance's keys"));
        }
        let path = path_header(&r.path);
        let local: Option<IpAddr> = match path.dst {
            IpAddr::V6(_) => self.config.local_ipv6.map(IpAddr::from),
            IpAddr::V4(_) => self.config.local_ipv4.map(IpAddr::from),
        };
        if local != Some(path.src) {
            refusal.get_or_insert_with(|| format!("the Proxy-CoA {} is no longer this MAG's address", path.src));
        }
        let expires_at = mono_deadline(r.expires_unix_ms, now);
        let bule = Bule {
            pdn: pdn.clone(),
            att: AccessTechType(r.att),
            pdn_type: match r.pdn_type {
                1 => PdnType::Ipv4,
                2 => PdnType::Ipv6,
                _ => PdnType::Ipv4v6,
            },
            path,
            ue_mac: r.ue_mac,
            downlink_key: key,
            uplink_key: Some(r.uplink_key),
            hnp: r.hnp,
            ipv4: r.ipv4,
            ipv4_prefix_len: r.ipv4_prefix_len,
            link_local: r.link_local,
            handoff: HandoffIndicator(r.handoff),
            state: BuleState::Active,
            lifetime_units: r.lifetime_units,
            expires_at,
            installed: false,
            fresh_install: false,
            token: Default::default(),
            procedure: None,
            waiting_api: None,
            stored: true,
            last_seq: r.last_seq,
        };
        let Some(id) = self.bules.insert(bule) else {
            self.downlink_keys.release(key);
            report.refused += 1;
            let why = format!("restore: no room for {pdn} (max_bindings is smaller than the state)");
            out.push(Output::Event(Event::Note(why)));
            return;
        };
        self.by_pdn.insert(pdn.clone(), id);
        self.heartbeats.binding_added(path, now);
        if expires_at <= now.mono {
            report.expired += 1;
            self.counters.event("bindings-expired");
            return self.teardown(id, EndReason::Expired, out);
        }
        if let Some(why) = refusal {
            report.refused += 1;
            out.push(Output::Event(Event::Note(format!("restore: de-registering {pdn}: {why}"))));
            return self.deregister(id, None, now, out);
        }
        self.sync_fastpath(id, out);
        let lifetime_ms = u64::from(r.lifetime_units) * 4000;
        let refresh_ms = lifetime_ms * u64::from(self.config.refresh_at_percent) / 100;
        // The refresh falls where it would have; one due while the gateway was down goes at the next tick.
        let refresh_at = Millis((expires_at.0 + refresh_ms).saturating_sub(lifetime_ms)).max(now.mono);
        self.timers.set(MagTimer::Refresh(id), refresh_at);
        self.timers.set(MagTimer::Expiry(id), expires_at);
        // Counted, not announced one by one: a warm start of a million connections is one log line.
        report.restored += 1;
    }
}

/// A connection the journal keeps: accepted by its LMA, not on its way out.
fn persistable(b: &Bule) -> bool {
    matches!(b.state, BuleState::Active | BuleState::Refreshing) && b.uplink_key.is_some()
}

/// The later of two sequence numbers (RFC 6275 §9.5.1: compared modulo 2^16).
fn later_seq(a: u16, b: u16) -> u16 {
    if b.wrapping_sub(a) < 0x8000 {
        b
    } else {
        a
    }
}
