//! Control-plane counters: signalling messages by direction, type and status, and named event counters
//! (retransmissions, ignored messages, heartbeat misses, ...). Read by the API and the metrics endpoint.

use crate::api::MessageCount;
use crate::names::{ba_status_name, bra_status_name};
use crate::wire::{HeartbeatKind, MhRepr};
use std::collections::BTreeMap;

/// Whether a counted message was received or sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RxTx {
    Rx,
    Tx,
}

impl RxTx {
    fn name(self) -> &'static str {
        match self {
            RxTx::Rx => "rx",
            RxTx::Tx => "tx",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct MessageKey {
    direction: RxTx,
    message: &'static str,
    status: Option<&'static str>,
}

/// Counters of one state machine.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    messages: BTreeMap<MessageKey, u64>,
    events: BTreeMap<&'static str, u64>,
}

/// Short type name of a message, and its status name where it has one.
pub fn message_kind(msg: &MhRepr) -> (&'static str, Option<&'static str>) {
    match msg {
        MhRepr::Pbu(_) => ("pbu", None),
        MhRepr::Pba(p) => ("pba", Some(ba_status_name(p.status))),
        MhRepr::Bri(_) => ("bri", None),
        MhRepr::Bra(b) => ("bra", Some(bra_status_name(b.status))),
        MhRepr::Heartbeat(h) if h.kind == HeartbeatKind::Request => ("heartbeat-request", None),
        MhRepr::Heartbeat(_) => ("heartbeat-response", None),
        MhRepr::BindingError(_) => ("binding-error", None),
        MhRepr::Unknown { .. } => ("unknown", None),
    }
}

impl Counters {
    /// Counts every message among `outputs` as sent (what a state machine just produced).
    pub fn count_sent(&mut self, outputs: &[crate::machine::Output]) {
        for output in outputs {
            if let crate::machine::Output::Send { msg, .. } = output {
                self.message(RxTx::Tx, msg);
            }
        }
    }

    /// Counts a message received or sent.
    pub fn message(&mut self, direction: RxTx, msg: &MhRepr) {
        let (message, status) = message_kind(msg);
        *self.messages.entry(MessageKey { direction, message, status }).or_default() += 1;
    }

    /// Counts a named event.
    pub fn event(&mut self, name: &'static str) {
        *self.events.entry(name).or_default() += 1;
    }

    /// Value of a named event counter.
    pub fn get(&self, name: &str) -> u64 {
        self.events.get(name).copied().unwrap_or(0)
    }

    /// Messages counted for a direction, type and optional status name (`None` = any status).
    pub fn messages(&self, direction: RxTx, message: &str, status: Option<&str>) -> u64 {
        self.messages
            .iter()
            .filter(|(k, _)| {
                k.direction == direction && k.message == message && (status.is_none() || k.status == status)
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// Rows for the API.
    pub fn message_rows(&self) -> Vec<MessageCount> {
        self.messages
            .iter()
            .map(|(k, &count)| MessageCount {
                direction: k.direction.name().into(),
                message: k.message.into(),
                status: k.status.map(Into::into),
                count,
            })
            .collect()
    }

    /// Named counters for the API.
    pub fn event_rows(&self) -> BTreeMap<String, u64> {
        self.events.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BaFlags, BaStatus, MhOptions, PbaRepr};

    #[test]
    fn counts_by_type_and_status() {
        let mut c = Counters::default();
        let pba = |s| {
            MhRepr::Pba(PbaRepr {
                status: BaStatus(s),
                flags: BaFlags::P,
                seq: 1,
                lifetime_units: 0,
                options: MhOptions::default(),
            })
        };
        c.message(RxTx::Tx, &pba(0));
        c.message(RxTx::Tx, &pba(0));
        c.message(RxTx::Tx, &pba(160));
        c.event("pbu-retransmissions");
        assert_eq!(c.messages(RxTx::Tx, "pba", None), 3);
        assert_eq!(c.messages(RxTx::Tx, "pba", Some("MISSING_MN_IDENTIFIER_OPTION")), 1);
        assert_eq!(c.messages(RxTx::Rx, "pba", None), 0);
        assert_eq!(c.get("pbu-retransmissions"), 1);
        let rows = c.message_rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].status.as_deref(), Some("ACCEPTED"));
        assert_eq!(rows[0].count, 2);
    }
}
