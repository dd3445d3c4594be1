//! Durable binding state: what the procedures write down so that a restart loses no binding.
//!
//! The procedures stay sans-IO: while handling an input they write the records it changed into their outbox
//! ([`journal::Outbox`], `Lma::outbox`, `Mag::outbox`), encoded once as the journal's frames. After each input
//! the I/O loop appends the outbox to its journal *before* it carries out the input's outputs, and releases a
//! message only once every record appended before it is durable (group commit). A start reads the records back
//! ([`journal::load`]) and hands them to the procedures' `restore`.
//!
//! A record is keyed ([`RecordKey`]); the newest [`StateChange::Put`] of a key is its value until a
//! [`StateChange::Delete`]. Records hold plain values (addresses, keys, names, absolute wall-clock
//! deadlines), never process-local numbers a restart would make meaningless, so the file is read the same by the
//! next version of the gateway. Where they live is the [`journal`]'s business; a replicated store can stand
//! behind the same records later.

pub mod codec;
pub mod journal;

use crate::lma::pba::Granted;
use crate::session::PdnIdent;
use crate::time::{Millis, Now};
use crate::transport::{FrameHeader, Framing, UdpPorts};
use crate::wire::{Apn, MnId};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whose state a store holds: an LMA's journal is never loaded by a MAG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Owner {
    Lma,
    Mag,
}

/// What names a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecordKey {
    /// An LMA binding, by its uplink GRE key (unique within the LMA, TS 29.275 §6.3, and stable for the life of
    /// the binding).
    Bce(u32),
    /// The LMA's set of uplink key reservations (TS 29.275 §6.3), as one record: there are few.
    Reservations,
    /// A peer's last RFC 5847 restart counter.
    Peer(IpAddr),
    /// A MAG's PDN connection, by its downlink GRE key (the MAG makes them unique across all its LMAs, stronger
    /// than TS 29.275 §6.2 asks, and stable for the life of the connection).
    Bule(u32),
}

/// One change to the durable state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateChange {
    Put(Record),
    Delete(RecordKey),
}

impl RecordKey {
    /// Where the record comes in a restore: the LMA's key reservations before the bindings (one may hold a
    /// reserved key), the bindings in key order, the peers' restart counters after them.
    pub fn restore_order(&self) -> (u8, RecordKey) {
        let rank = match self {
            RecordKey::Reservations => 0,
            RecordKey::Bce(_) | RecordKey::Bule(_) => 1,
            RecordKey::Peer(_) => 2,
        };
        (rank, *self)
    }
}

impl StateChange {
    pub fn key(&self) -> RecordKey {
        match self {
            StateChange::Put(record) => record.key(),
            StateChange::Delete(key) => *key,
        }
    }
}

/// A record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    Bce(Box<BceRecord>),
    Reservations(Vec<ReservationRecord>),
    Peer { peer: IpAddr, restart_counter: u32 },
    Bule(Box<BuleRecord>),
}

impl Record {
    pub fn key(&self) -> RecordKey {
        match self {
            Record::Bce(b) => RecordKey::Bce(b.uplink_key),
            Record::Reservations(_) => RecordKey::Reservations,
            Record::Peer { peer, .. } => RecordKey::Peer(*peer),
            Record::Bule(b) => RecordKey::Bule(b.downlink_key),
        }
    }
}

/// A PDN connection's identity (TS 29.275 §5.1.1): MN-ID as RFC 4283 subtype and octets, APN as dotted text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdnRecord {
    pub mn_id_subtype: u8,
    pub mn_id: Vec<u8>,
    /// Shared with the binding (no copy to write it down); the first records kept it as dotted text.
    #[serde(with = "dotted_apn")]
    pub apn: Apn,
    pub pdn_connection_id: Option<u8>,
}

/// An APN as the records postcard wrote hold it: dotted text.
mod dotted_apn {
    use crate::wire::Apn;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(apn: &Apn, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&apn.to_dotted())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Apn, D::Error> {
        let text = String::deserialize(d)?;
        Apn::from_dotted(&text).map_err(|e| D::Error::custom(format!("APN {text:?}: {e}")))
    }
}

/// How a binding reaches its MAG: the framing of its last accepted PBU's reply (TS 29.275 §6.1 transports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRecord {
    /// 0 IPv6, 1 IPv6-in-IPv4, 2 IPv6-in-IPv4-UDP, 3 IPv4-UDP (RFC 5844 §4).
    pub framing: u8,
    /// UDP source and destination ports (framings 2 and 3).
    pub ports: (u16, u16),
    pub src: IpAddr,
    pub dst: IpAddr,
    pub hop_limit: u8,
}

/// Where an LMA binding is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BceStateRecord {
    Active,
    /// De-registered, waiting out MinDelayBeforeBCEDelete (RFC 5213 §5.3.5).
    Deregistered,
    /// An RFC 5846 revocation was under way.
    Revoking,
}

/// One LMA Binding Cache Entry as it is kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BceRecord {
    pub pdn: PdnRecord,
    pub state: BceStateRecord,
    pub path: PathRecord,
    pub uplink_key: u32,
    pub downlink_key: u32,
    pub hnp: Option<Ipv6Addr>,
    pub ipv4: Option<Ipv4Addr>,
    pub att: u8,
    pub ll_id: Option<Vec<u8>>,
    pub link_local: Option<Ipv6Addr>,
    pub last_timestamp: Option<u64>,
    pub last_seq: u16,
    pub lifetime_units: u16,
    /// When the binding expires (active) or is deleted (de-registered): wall clock, ms since the Unix epoch.
    pub deadline_unix_ms: u64,
    /// What the last accepting PBA granted: a duplicate PBU after a restart gets the same answer.
    pub last_grant: Option<Granted>,
}

/// One MAG PDN connection (its Binding Update List entry, RFC 5213 §6.1) as it is kept across restarts: only
/// once the LMA has accepted it, so that what is restored is a binding both ends hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuleRecord {
    pub pdn: PdnRecord,
    pub att: u8,
    /// 1 IPv4, 2 IPv6, 3 IPv4v6: the home addresses refreshes ask for.
    pub pdn_type: u8,
    /// Proxy-CoA → LMAA, and the framing of the signalling.
    pub path: PathRecord,
    pub ue_mac: Option<[u8; 6]>,
    pub downlink_key: u32,
    pub uplink_key: u32,
    pub hnp: Option<Ipv6Addr>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv4_prefix_len: u8,
    pub link_local: Option<Ipv6Addr>,
    pub handoff: u8,
    /// The lifetime the last accepting PBA granted, in 4-second units (RFC 6275 §6.1.7).
    pub lifetime_units: u16,
    /// When the granted lifetime runs out: wall clock, ms since the Unix epoch.
    pub expires_unix_ms: u64,
    /// The sequence number of the PBU the LMA last accepted: a warm start numbers its PBUs past it.
    pub last_seq: u16,
}

/// An uplink key set aside for a PDN connection (TS 29.275 §6.3); bound or not is seen from the bindings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationRecord {
    pub key: u32,
    pub pdn: PdnRecord,
}

/// Everything a store held at start, the newest value of every key, in [`RecordKey::restore_order`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restored {
    pub records: Vec<Record>,
}

impl Restored {
    /// The signalling paths of the bindings held, each once: who to tell when this state is discarded
    /// (RFC 5847 §5.3).
    pub fn paths(&self) -> Vec<FrameHeader> {
        let mut to: Vec<_> = self
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Bce(b) => Some(path_header(&b.path)),
                Record::Bule(b) => Some(path_header(&b.path)),
                _ => None,
            })
            .collect();
        to.sort_by_key(|h| (h.dst, h.src));
        to.dedup_by_key(|h| (h.dst, h.src));
        to
    }
}

/// What a warm start did, for the log and `pmipctl state`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Bindings back as they were.
    pub restored: u64,
    /// Bindings whose lifetime ran out while the gateway was down: removed as expiries.
    pub expired: u64,
    /// Bindings the configuration no longer allows (APN gone, address outside its pool, key outside the range):
    /// revoked or de-registered, each with its reason logged.
    pub refused: u64,
}

/// A warm start in progress: the records not restored yet, and what the restored ones came to. A restore runs in
/// steps (`Lma::restore_step`, `Mag::restore_step`) so that the caller carries out each step's outputs before the
/// next: a million bindings never wait as a million outputs at once.
#[derive(Debug)]
pub struct RestoreCursor {
    records: std::vec::IntoIter<Record>,
    pub(crate) report: RestoreReport,
    /// Peers' restart counters, kept for the end (a MAG keeps only those of LMAs with connections left).
    pub(crate) peers: Vec<(IpAddr, u32)>,
}

impl RestoreCursor {
    pub(crate) fn new(records: Vec<Record>) -> Self {
        RestoreCursor { records: records.into_iter(), report: RestoreReport::default(), peers: Vec::new() }
    }

    /// The next record to restore.
    pub(crate) fn next_record(&mut self) -> Option<Record> {
        self.records.next()
    }

    /// Records left.
    pub fn remaining(&self) -> usize {
        self.records.len()
    }
}

/// A deadline on the monotonic clock from a wall-clock one.
pub(crate) fn mono_deadline(unix_ms: u64, now: Now) -> Millis {
    let now_ms = now.wall.as_millis() as u64;
    now.mono + unix_ms.saturating_sub(now_ms)
}

/// A PDN identity as its record keeps it.
pub(crate) fn pdn_record(pdn: &PdnIdent) -> PdnRecord {
    PdnRecord {
        mn_id_subtype: pdn.mn_id.subtype(),
        mn_id: pdn.mn_id.id_bytes().to_vec(),
        apn: pdn.apn.clone(),
        pdn_connection_id: pdn.pdn_connection_id,
    }
}

/// The PDN identity of a record; None if it no longer parses.
pub(crate) fn pdn_ident(r: &PdnRecord) -> Option<PdnIdent> {
    let mn_id = if r.mn_id_subtype == MnId::SUBTYPE_NAI {
        MnId::Nai(String::from_utf8(r.mn_id.clone()).ok()?)
    } else {
        MnId::Other { subtype: r.mn_id_subtype, id: r.mn_id.clone() }
    };
    Some(PdnIdent::new(mn_id, r.apn.clone(), r.pdn_connection_id))
}

/// A signalling path as its record keeps it.
pub(crate) fn path_record(h: &FrameHeader) -> PathRecord {
    let (framing, ports) = match h.framing {
        Framing::Ipv6 => (0, (0, 0)),
        Framing::Ipv6InIpv4 => (1, (0, 0)),
        Framing::Ipv6InIpv4Udp(p) => (2, (p.src, p.dst)),
        Framing::Ipv4Udp(p) => (3, (p.src, p.dst)),
    };
    PathRecord { framing, ports, src: h.src, dst: h.dst, hop_limit: h.hop_limit }
}

/// The signalling path of a record.
pub(crate) fn path_header(r: &PathRecord) -> FrameHeader {
    let ports = UdpPorts { src: r.ports.0, dst: r.ports.1 };
    let framing = match r.framing {
        0 => Framing::Ipv6,
        1 => Framing::Ipv6InIpv4,
        2 => Framing::Ipv6InIpv4Udp(ports),
        _ => Framing::Ipv4Udp(ports),
    };
    FrameHeader { framing, src: r.src, dst: r.dst, hop_limit: r.hop_limit, ipv4_ident: 0 }
}
