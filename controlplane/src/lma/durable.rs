//! The LMA's durable state (see [`crate::durable`]): each input's changed BCEs and reservations written down
//! ahead of the messages that promise them, and a warm start that takes them back.

use super::store::{Bce, BceState};
use super::{Awaiting, Lma, LmaTimer};
use crate::durable::codec::BceFields;
use crate::durable::journal::Outbox;
use crate::durable::{
    mono_deadline, path_header, path_record, pdn_ident, pdn_record, BceRecord, BceStateRecord, Record, RecordKey,
    ReservationRecord, RestoreCursor, RestoreReport, Restored, StateChange,
};
use crate::fastpath::TunnelUpdate;
use crate::machine::{Event, Output};
use crate::time::{Millis, Now};
use crate::wire::{AccessTechType, RevocationTrigger, Timestamp};

impl Lma {
    /// Turns durable state on: from now on every input's changes are written down in the [`Lma::outbox`].
    pub fn enable_durability(&mut self) {
        self.cache.track_changes();
        self.durable = true;
    }

    /// The changes written down and not yet taken: after every input, the I/O loop appends them to its journal
    /// before it carries out the input's outputs, and sends no message before they are durable
    /// (see [`crate::durable`]).
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// After a start that lost the state: tells the former peers (the paths of the bindings of the discarded
    /// state) the new restart counter (RFC 5847 §5.3).
    pub fn announce_restart(&mut self, former: &Restored, out: &mut Vec<Output>) {
        self.heartbeats.announce_restart(&former.paths(), out);
    }

    /// The whole durable state as it is now (what a fresh journal starts with).
    pub fn snapshot(&self, now: Now) -> Vec<StateChange> {
        let mut all: Vec<StateChange> = self
            .cache
            .iter()
            .map(|b| StateChange::Put(Record::Bce(Box::new(bce_fields(b, now).to_record()))))
            .collect();
        all.push(StateChange::Put(Record::Reservations(self.reservation_records())));
        all.extend(self.heartbeats.counter_records());
        all
    }

    /// Writes down in the outbox the records the input just handled changed.
    pub(super) fn persist_changes(&mut self, now: Now) {
        let counters = self.heartbeats.take_changed_counters();
        if !self.durable {
            return;
        }
        let mut keys = std::mem::take(&mut self.changed_keys);
        self.cache.take_changed(&mut keys);
        for &key in &keys {
            match self.cache.by_uplink_key(key).and_then(|id| self.cache.get(id)) {
                Some(b) => self.outbox.put_bce(&bce_fields(b, now)),
                None => self.outbox.put(&StateChange::Delete(RecordKey::Bce(key))),
            }
        }
        self.changed_keys = keys;
        if self.keys.generation() != self.persisted_reservations {
            self.persisted_reservations = self.keys.generation();
            self.outbox.put(&StateChange::Put(Record::Reservations(self.reservation_records())));
        }
        for (peer, restart_counter) in counters {
            self.outbox.put(&StateChange::Put(Record::Peer { peer, restart_counter }));
        }
    }

    fn reservation_records(&self) -> Vec<ReservationRecord> {
        self.keys
            .reservations()
            .into_iter()
            .map(|r| ReservationRecord { key: r.key, pdn: pdn_record(&r.pdn) })
            .collect()
    }

    /// Warm start: takes back the bindings, reservations and peers' restart counters of `state`, before the
    /// gateway forwards, and writes down in the outbox what it changed of them (the journal goes on from the
    /// file it read, [`crate::durable::journal::JournalWriter::adopt`]). Active bindings are installed in the fast
    /// path; lifetimes run on from their absolute deadlines, and one that ran out while the gateway was down ends
    /// as an expiry. A binding the configuration no longer allows (its APN gone, an address outside its pool, its
    /// key outside the range) is revoked (RFC 5846), with the reason logged: never kept silently, never dropped
    /// silently. All at once; [`Lma::restore_start`] does it in steps.
    pub fn restore(&mut self, state: Restored, now: Now, out: &mut Vec<Output>) -> RestoreReport {
        let mut cursor = self.restore_start(state);
        while self.restore_step(&mut cursor, usize::MAX, now, out) {}
        self.restore_finish(cursor, now)
    }

    /// [`Lma::restore`] in steps: this, then [`Lma::restore_step`] until it returns false, then
    /// [`Lma::restore_finish`]; the caller carries out each step's outputs before the next.
    pub fn restore_start(&mut self, state: Restored) -> RestoreCursor {
        // Reservations first (a binding may hold a reserved key), then bindings, then their peers' counters. A
        // journal is read in this order already, and sorting input that is in order is one pass over it; other
        // sources of a `Restored` need not be. (The indexes and timers were sized for max_bindings when the LMA
        // was built.)
        let mut records = state.records;
        records.sort_by_key(|r| r.key().restore_order());
        RestoreCursor::new(records)
    }

    /// Restores up to `max` more records; false once none is left.
    pub fn restore_step(&mut self, cursor: &mut RestoreCursor, max: usize, now: Now, out: &mut Vec<Output>) -> bool {
        for _ in 0..max {
            let Some(record) = cursor.next_record() else { return false };
            match record {
                Record::Reservations(list) => {
                    for r in list {
                        let reserved = pdn_ident(&r.pdn).and_then(|pdn| self.keys.reserve(r.key, pdn).ok());
                        if reserved.is_none() {
                            let why =
                                format!("restore: uplink key reservation {:#010x} could not be taken back", r.key);
                            out.push(Output::Event(Event::Note(why)));
                        }
                    }
                }
                Record::Bce(r) => self.restore_bce(*r, now, &mut cursor.report, out),
                Record::Peer { peer, restart_counter } => {
                    if !self.heartbeats.restore_counter(peer, restart_counter) {
                        // No binding with it is left: its counter is not kept (as it would not be while running).
                        self.outbox.put(&StateChange::Delete(RecordKey::Peer(peer)));
                    }
                }
                Record::Bule(_) => {
                    out.push(Output::Event(Event::Note("restore: a MAG record in an LMA's state, skipped".into())));
                }
            }
        }
        cursor.remaining() > 0
    }

    /// Ends a restore: what it changed is written down.
    pub fn restore_finish(&mut self, cursor: RestoreCursor, now: Now) -> RestoreReport {
        // The journal goes on from what was read: what the restore changed (expiries, revocations) is written
        // down now; the reservations and restart counters are on disk as read.
        self.persisted_reservations = self.keys.generation();
        let _ = self.heartbeats.take_changed_counters();
        self.persist_changes(now);
        cursor.report
    }

    fn restore_bce(&mut self, r: BceRecord, now: Now, report: &mut RestoreReport, out: &mut Vec<Output>) {
        let Some(pdn) = pdn_ident(&r.pdn) else {
            report.refused += 1;
            let why = format!("restore: binding with uplink key {:#010x} has an unreadable identity", r.uplink_key);
            out.push(Output::Event(Event::Note(why)));
            return;
        };
        let Some(id) = self.cache.next_id() else {
            report.refused += 1;
            let why = format!("restore: no room for {pdn} (max_bindings is smaller than the state)");
            out.push(Output::Event(Event::Note(why)));
            return;
        };
        // What the configuration still allows; anything else revokes the binding. Whatever the binding holds, it
        // holds until it goes, so that it gives back only what it took.
        let mut refusal = None;
        if !self.keys.restore(r.uplink_key, &pdn) {
            if !self.keys.hold_outside_range(r.uplink_key) {
                report.refused += 1;
                let why = format!("restore: {pdn}: uplink key {:#010x} is held twice in the state", r.uplink_key);
                out.push(Output::Event(Event::Note(why)));
                return;
            }
            refusal = Some(format!(
                "uplink key {:#010x} is outside lma.uplink_keys or this cluster instance's keys",
                r.uplink_key
            ));
        }
        let apn_index = self.apns.iter().position(|a| a.apn == pdn.apn);
        let apn_index = apn_index.unwrap_or_else(|| {
            refusal.get_or_insert_with(|| format!("APN {} is no longer configured", pdn.apn));
            usize::MAX
        });
        let pools = self.apns.get_mut(apn_index);
        let (mut hnp, mut ipv4) = (r.hnp, r.ipv4);
        match pools {
            Some(pools) => {
                if let Some(p) = hnp {
                    if !pools.ipv6.as_mut().is_some_and(|pool| pool.reserve(p)) {
                        refusal.get_or_insert_with(|| {
                            format!("home network prefix {p}/64 is outside the APN's pool (this instance's share)")
                        });
                        hnp = None;
                    }
                }
                if let Some(a) = ipv4 {
                    if !pools.ipv4.as_mut().is_some_and(|pool| pool.reserve(a)) {
                        refusal.get_or_insert_with(|| {
                            format!("IPv4 home address {a} is outside the APN's pool (this instance's share)")
                        });
                        ipv4 = None;
                    }
                }
            }
            None => (hnp, ipv4) = (None, None),
        }
        let deadline = mono_deadline(r.deadline_unix_ms, now);
        let path = path_header(&r.path);
        let bce = Bce {
            id,
            pdn: pdn.clone(),
            apn_index,
            state: match r.state {
                BceStateRecord::Deregistered => BceState::Deregistered,
                BceStateRecord::Active | BceStateRecord::Revoking => BceState::Active,
            },
            path,
            uplink_key: r.uplink_key,
            downlink_key: r.downlink_key,
            hnp,
            ipv4,
            att: AccessTechType(r.att),
            ll_id: r.ll_id.map(Vec::into_boxed_slice),
            link_local: r.link_local,
            last_timestamp: r.last_timestamp.map(Timestamp),
            last_seq: r.last_seq,
            lifetime_units: r.lifetime_units,
            deadline: deadline.0,
            installed: false,
            token: Default::default(),
            last_answer: r.last_grant.map(|g| (Default::default(), g)),
            held: None,
        };
        let state = bce.state;
        let noted = self.cache.changes_noted();
        self.cache.insert(bce);
        self.heartbeats.binding_added(path, now);
        self.timers.set(LmaTimer::Lifetime(id), deadline);
        if deadline <= now.mono {
            report.expired += 1;
            return self.on_lifetime_end(id, out);
        }
        if let Some(why) = refusal {
            report.refused += 1;
            out.push(Output::Event(Event::Note(format!("restore: revoking {pdn}: {why}"))));
            self.revoke(&[id], RevocationTrigger::ADMINISTRATIVE_REASON, now, out);
            return;
        }
        if state == BceState::Active {
            if let Some(spec) = self.cache.get(id).and_then(super::procedures::spec_of) {
                let token = self.gate.issue(TunnelUpdate::Install { id, spec }, out);
                // A table that cannot take it (smaller than the state) ends the binding.
                self.awaiting.insert(token, Awaiting { id, fresh: true, answer: None });
                if let Some(b) = self.cache.get_mut(id) {
                    b.installed = true;
                    b.token = token;
                }
            }
        }
        if r.state == BceStateRecord::Revoking {
            // The BRI's retransmission state did not survive: the revocation starts again (RFC 5846 §8.1).
            self.revoke(&[id], RevocationTrigger::ADMINISTRATIVE_REASON, now, out);
        } else {
            // Back as it was: its record is on disk already.
            self.cache.forget_changes_since(noted);
        }
        // Counted, not announced one by one: a warm start of a million bindings is one log line, not a million.
        report.restored += 1;
    }
}

/// A binding's record, by reference to the binding.
fn bce_fields(b: &Bce, now: Now) -> BceFields<'_> {
    let now_ms = now.wall.as_millis() as u64;
    BceFields {
        mn_id_subtype: b.pdn.mn_id.subtype(),
        mn_id: b.pdn.mn_id.id_bytes(),
        apn: &b.pdn.apn,
        pdn_connection_id: b.pdn.pdn_connection_id,
        state: match b.state {
            BceState::Active => BceStateRecord::Active,
            BceState::Deregistered => BceStateRecord::Deregistered,
            BceState::Revoking { .. } => BceStateRecord::Revoking,
        },
        path: path_record(&b.path),
        uplink_key: b.uplink_key,
        downlink_key: b.downlink_key,
        hnp: b.hnp,
        ipv4: b.ipv4,
        att: b.att.0,
        ll_id: b.ll_id.as_deref(),
        link_local: b.link_local,
        last_timestamp: b.last_timestamp.map(|t| t.0),
        last_seq: b.last_seq,
        lifetime_units: b.lifetime_units,
        deadline_unix_ms: now_ms + Millis(b.deadline).since(now.mono),
        last_grant: b.last_answer.map(|(_, g)| g),
    }
}
