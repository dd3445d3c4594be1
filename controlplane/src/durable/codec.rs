//! How a [`StateChange`] is laid out as a journal record's payload: fixed-width little-endian fields in a fixed
//! order, written and read by hand.
//!
//! ```text
//! kind u8 | fields of that kind, in declaration order
//!   u8 u16 u32 u64   as such (little-endian)
//!   Ipv4Addr         4 octets       Ipv6Addr  16 octets
//!   IpAddr           4 | 4 octets, or 6 | 16 octets
//!   Option<T>        0, or 1 | T
//!   bytes            length u16 | octets (an APN: its label encoding, TS 23.003 §9.1)
//!   list             count u32 | items
//! ```
//!
//! Why not serde: a binding's record is written on every PBU the LMA accepts, so its encoding is on the
//! signalling path. postcard (the encoding of the journal's first records) spends some 1,700 instructions on a
//! binding, serialising addresses octet by octet; this layout takes a third of that, and the LMA encodes its
//! bindings straight from the BCE ([`BceFields`]) rather than from a record built for the purpose. Records postcard wrote
//! stay readable: their first octet (the variant of [`StateChange`], 0 or 1) is never one of the kinds below,
//! so [`decode`] tells them apart record by record, and a journal may hold both.
//!
//! A kind's layout never changes: a record that needs other fields gets a new kind, and the decoder keeps
//! reading the old one.

use super::{
    BceRecord, BceStateRecord, BuleRecord, PathRecord, PdnRecord, Record, RecordKey, ReservationRecord, StateChange,
};
use crate::lma::pba::Granted;
use crate::wire::Apn;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const PUT_BCE: u8 = 0x10;
const PUT_RESERVATIONS: u8 = 0x11;
const PUT_PEER: u8 = 0x12;
const PUT_BULE: u8 = 0x13;
const DELETE_BCE: u8 = 0x20;
const DELETE_RESERVATIONS: u8 = 0x21;
const DELETE_PEER: u8 = 0x22;
const DELETE_BULE: u8 = 0x23;

/// Why a payload does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown record kind {0:#04x}")]
    UnknownKind(u8),
    #[error("the record ends inside a field")]
    Truncated,
    #[error("{0} octets follow the record")]
    Trailing(usize),
    #[error("field {0} holds an impossible value")]
    BadValue(&'static str),
    #[error("an early record does not decode: {0}")]
    Legacy(String),
}

/// An LMA binding's record by reference: what [`encode_bce`] writes, from a [`BceRecord`] or straight from the
/// binding (`Lma` writes its bindings down without building a record first: no copies, no allocation).
#[derive(Debug, Clone, Copy)]
pub struct BceFields<'a> {
    pub mn_id_subtype: u8,
    pub mn_id: &'a [u8],
    pub apn: &'a Apn,
    pub pdn_connection_id: Option<u8>,
    pub state: BceStateRecord,
    pub path: PathRecord,
    pub uplink_key: u32,
    pub downlink_key: u32,
    pub hnp: Option<Ipv6Addr>,
    pub ipv4: Option<Ipv4Addr>,
    pub att: u8,
    pub ll_id: Option<&'a [u8]>,
    pub link_local: Option<Ipv6Addr>,
    pub last_timestamp: Option<u64>,
    pub last_seq: u16,
    pub lifetime_units: u16,
    pub deadline_unix_ms: u64,
    pub last_grant: Option<Granted>,
}

impl<'a> From<&'a BceRecord> for BceFields<'a> {
    fn from(b: &'a BceRecord) -> Self {
        BceFields {
            mn_id_subtype: b.pdn.mn_id_subtype,
            mn_id: &b.pdn.mn_id,
            apn: &b.pdn.apn,
            pdn_connection_id: b.pdn.pdn_connection_id,
            state: b.state,
            path: b.path,
            uplink_key: b.uplink_key,
            downlink_key: b.downlink_key,
            hnp: b.hnp,
            ipv4: b.ipv4,
            att: b.att,
            ll_id: b.ll_id.as_deref(),
            link_local: b.link_local,
            last_timestamp: b.last_timestamp,
            last_seq: b.last_seq,
            lifetime_units: b.lifetime_units,
            deadline_unix_ms: b.deadline_unix_ms,
            last_grant: b.last_grant,
        }
    }
}

impl BceFields<'_> {
    /// The record these fields make.
    pub fn to_record(&self) -> BceRecord {
        BceRecord {
            pdn: PdnRecord {
                mn_id_subtype: self.mn_id_subtype,
                mn_id: self.mn_id.to_vec(),
                apn: self.apn.clone(),
                pdn_connection_id: self.pdn_connection_id,
            },
            state: self.state,
            path: self.path,
            uplink_key: self.uplink_key,
            downlink_key: self.downlink_key,
            hnp: self.hnp,
            ipv4: self.ipv4,
            att: self.att,
            ll_id: self.ll_id.map(<[u8]>::to_vec),
            link_local: self.link_local,
            last_timestamp: self.last_timestamp,
            last_seq: self.last_seq,
            lifetime_units: self.lifetime_units,
            deadline_unix_ms: self.deadline_unix_ms,
            last_grant: self.last_grant,
        }
    }
}

/// Appends the payload of a Put of the binding `b` to `out` (what [`encode`] writes for its record).
pub fn encode_bce(b: &BceFields<'_>, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.u8(PUT_BCE);
    w.bce(b);
}

/// Appends the payload of `change` to `out`.
pub fn encode(change: &StateChange, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    match change {
        StateChange::Put(Record::Bce(b)) => encode_bce(&BceFields::from(&**b), w.0),
        StateChange::Put(Record::Reservations(list)) => {
            w.u8(PUT_RESERVATIONS);
            w.u32(u32::try_from(list.len()).unwrap_or(u32::MAX));
            for r in list.iter().take(u32::MAX as usize) {
                w.u32(r.key);
                w.pdn(&r.pdn);
            }
        }
        StateChange::Put(Record::Peer { peer, restart_counter }) => {
            w.u8(PUT_PEER);
            w.ip(*peer);
            w.u32(*restart_counter);
        }
        StateChange::Put(Record::Bule(b)) => {
            w.u8(PUT_BULE);
            w.bule(b);
        }
        StateChange::Delete(RecordKey::Bce(key)) => {
            w.u8(DELETE_BCE);
            w.u32(*key);
        }
        StateChange::Delete(RecordKey::Reservations) => w.u8(DELETE_RESERVATIONS),
        StateChange::Delete(RecordKey::Peer(peer)) => {
            w.u8(DELETE_PEER);
            w.ip(*peer);
        }
        StateChange::Delete(RecordKey::Bule(key)) => {
            w.u8(DELETE_BULE);
            w.u32(*key);
        }
    }
}

/// The change a payload holds, whichever encoding wrote it.
pub fn decode(payload: &[u8]) -> Result<StateChange, DecodeError> {
    let Some((&kind, rest)) = payload.split_first() else { return Err(DecodeError::Truncated) };
    if kind <= 1 {
        return postcard::from_bytes(payload).map_err(|e| DecodeError::Legacy(e.to_string()));
    }
    let mut r = Reader(rest);
    let change = match kind {
        PUT_BCE => StateChange::Put(Record::Bce(Box::new(r.bce()?))),
        PUT_RESERVATIONS => {
            let count = r.u32()? as usize;
            // Each takes at least 9 octets: a count larger than what follows is a lie, not a reason to allocate.
            let mut list = Vec::with_capacity(count.min(r.0.len() / 9));
            for _ in 0..count {
                list.push(ReservationRecord { key: r.u32()?, pdn: r.pdn()? });
            }
            StateChange::Put(Record::Reservations(list))
        }
        PUT_PEER => StateChange::Put(Record::Peer { peer: r.ip()?, restart_counter: r.u32()? }),
        PUT_BULE => StateChange::Put(Record::Bule(Box::new(r.bule()?))),
        DELETE_BCE => StateChange::Delete(RecordKey::Bce(r.u32()?)),
        DELETE_RESERVATIONS => StateChange::Delete(RecordKey::Reservations),
        DELETE_PEER => StateChange::Delete(RecordKey::Peer(r.ip()?)),
        DELETE_BULE => StateChange::Delete(RecordKey::Bule(r.u32()?)),
        other => return Err(DecodeError::UnknownKind(other)),
    };
    match r.0.len() {
        0 => Ok(change),
        n => Err(DecodeError::Trailing(n)),
    }
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn v4(&mut self, a: Ipv4Addr) {
        self.0.extend_from_slice(&a.octets());
    }
    fn v6(&mut self, a: Ipv6Addr) {
        self.0.extend_from_slice(&a.octets());
    }
    fn ip(&mut self, a: IpAddr) {
        match a {
            IpAddr::V4(a) => {
                self.u8(4);
                self.v4(a);
            }
            IpAddr::V6(a) => {
                self.u8(6);
                self.v6(a);
            }
        }
    }
    /// Octets with a u16 length: every identifier a record holds comes from a Mobility option (at most 255).
    fn bytes(&mut self, b: &[u8]) {
        let b = &b[..b.len().min(usize::from(u16::MAX))];
        self.u16(b.len() as u16);
        self.0.extend_from_slice(b);
    }
    fn opt<T: Copy>(&mut self, v: Option<T>, each: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                each(self, v);
            }
        }
    }
    fn pdn(&mut self, p: &PdnRecord) {
        self.pdn_fields(p.mn_id_subtype, &p.mn_id, &p.apn, p.pdn_connection_id);
    }
    fn pdn_fields(&mut self, mn_id_subtype: u8, mn_id: &[u8], apn: &Apn, pdn_connection_id: Option<u8>) {
        self.u8(mn_id_subtype);
        self.bytes(mn_id);
        self.bytes(apn.as_wire());
        self.opt(pdn_connection_id, Self::u8);
    }
    fn path(&mut self, p: &PathRecord) {
        self.u8(p.framing);
        self.u16(p.ports.0);
        self.u16(p.ports.1);
        self.ip(p.src);
        self.ip(p.dst);
        self.u8(p.hop_limit);
    }
    fn bce(&mut self, b: &BceFields<'_>) {
        // One growth for the whole record: its fixed part and the identifiers.
        self.0.reserve(160 + b.mn_id.len() + b.apn.as_wire().len() + b.ll_id.map_or(0, <[u8]>::len));
        self.pdn_fields(b.mn_id_subtype, b.mn_id, b.apn, b.pdn_connection_id);
        self.u8(match b.state {
            BceStateRecord::Active => 0,
            BceStateRecord::Deregistered => 1,
            BceStateRecord::Revoking => 2,
        });
        self.path(&b.path);
        self.u32(b.uplink_key);
        self.u32(b.downlink_key);
        self.opt(b.hnp, Self::v6);
        self.opt(b.ipv4, Self::v4);
        self.u8(b.att);
        match b.ll_id {
            None => self.u8(0),
            Some(id) => {
                self.u8(1);
                self.bytes(id);
            }
        }
        self.opt(b.link_local, Self::v6);
        self.opt(b.last_timestamp, Self::u64);
        self.u16(b.last_seq);
        self.u16(b.lifetime_units);
        self.u64(b.deadline_unix_ms);
        self.opt(b.last_grant, |w, g| {
            w.u16(g.lifetime_units);
            w.opt(g.uplink_key, Self::u32);
            w.opt(g.hnp, Self::v6);
            w.opt(g.ipv4, |w, (addr, len, gateway)| {
                w.v4(addr);
                w.u8(len);
                w.v4(gateway);
            });
            w.opt(g.link_local, Self::v6);
        });
    }
    fn bule(&mut self, b: &BuleRecord) {
        self.0.reserve(160 + b.pdn.mn_id.len() + b.pdn.apn.as_wire().len());
        self.pdn(&b.pdn);
        self.u8(b.att);
        self.u8(b.pdn_type);
        self.path(&b.path);
        self.opt(b.ue_mac, |w, mac| w.0.extend_from_slice(&mac));
        self.u32(b.downlink_key);
        self.u32(b.uplink_key);
        self.opt(b.hnp, Self::v6);
        self.opt(b.ipv4, Self::v4);
        self.u8(b.ipv4_prefix_len);
        self.opt(b.link_local, Self::v6);
        self.u8(b.handoff);
        self.u16(b.lifetime_units);
        self.u64(b.expires_unix_ms);
        self.u16(b.last_seq);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(DecodeError::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.take().map(u64::from_le_bytes)
    }
    fn v4(&mut self) -> Result<Ipv4Addr, DecodeError> {
        self.take::<4>().map(Ipv4Addr::from)
    }
    fn v6(&mut self) -> Result<Ipv6Addr, DecodeError> {
        self.take::<16>().map(Ipv6Addr::from)
    }
    fn ip(&mut self) -> Result<IpAddr, DecodeError> {
        match self.u8()? {
            4 => self.v4().map(IpAddr::V4),
            6 => self.v6().map(IpAddr::V6),
            _ => Err(DecodeError::BadValue("address family")),
        }
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = usize::from(self.u16()?);
        if self.0.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head.to_vec())
    }
    fn opt<T>(&mut self, each: impl FnOnce(&mut Self) -> Result<T, DecodeError>) -> Result<Option<T>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => each(self).map(Some),
            _ => Err(DecodeError::BadValue("option flag")),
        }
    }
    fn pdn(&mut self) -> Result<PdnRecord, DecodeError> {
        Ok(PdnRecord {
            mn_id_subtype: self.u8()?,
            mn_id: self.bytes()?,
            apn: Apn::from_wire(&self.bytes()?).map_err(|_| DecodeError::BadValue("apn"))?,
            pdn_connection_id: self.opt(Self::u8)?,
        })
    }
    fn path(&mut self) -> Result<PathRecord, DecodeError> {
        Ok(PathRecord {
            framing: self.u8()?,
            ports: (self.u16()?, self.u16()?),
            src: self.ip()?,
            dst: self.ip()?,
            hop_limit: self.u8()?,
        })
    }
    fn bce(&mut self) -> Result<BceRecord, DecodeError> {
        Ok(BceRecord {
            pdn: self.pdn()?,
            state: match self.u8()? {
                0 => BceStateRecord::Active,
                1 => BceStateRecord::Deregistered,
                2 => BceStateRecord::Revoking,
                _ => return Err(DecodeError::BadValue("binding state")),
            },
            path: self.path()?,
            uplink_key: self.u32()?,
            downlink_key: self.u32()?,
            hnp: self.opt(Self::v6)?,
            ipv4: self.opt(Self::v4)?,
            att: self.u8()?,
            ll_id: self.opt(Self::bytes)?,
            link_local: self.opt(Self::v6)?,
            last_timestamp: self.opt(Self::u64)?,
            last_seq: self.u16()?,
            lifetime_units: self.u16()?,
            deadline_unix_ms: self.u64()?,
            last_grant: self.opt(|r| {
                Ok(Granted {
                    lifetime_units: r.u16()?,
                    uplink_key: r.opt(Self::u32)?,
                    hnp: r.opt(Self::v6)?,
                    ipv4: r.opt(|r| Ok((r.v4()?, r.u8()?, r.v4()?)))?,
                    link_local: r.opt(Self::v6)?,
                })
            })?,
        })
    }
    fn bule(&mut self) -> Result<BuleRecord, DecodeError> {
        Ok(BuleRecord {
            pdn: self.pdn()?,
            att: self.u8()?,
            pdn_type: self.u8()?,
            path: self.path()?,
            ue_mac: self.opt(Self::take::<6>)?,
            downlink_key: self.u32()?,
            uplink_key: self.u32()?,
            hnp: self.opt(Self::v6)?,
            ipv4: self.opt(Self::v4)?,
            ipv4_prefix_len: self.u8()?,
            link_local: self.opt(Self::v6)?,
            handoff: self.u8()?,
            lifetime_units: self.u16()?,
            expires_unix_ms: self.u64()?,
            last_seq: self.u16()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdn(nai: &str) -> PdnRecord {
        PdnRecord {
            mn_id_subtype: 1,
            mn_id: nai.as_bytes().to_vec(),
            apn: Apn::from_dotted("ims.mnc001.mcc001.gprs").unwrap(),
            pdn_connection_id: Some(5),
        }
    }

    fn path(v4: bool) -> PathRecord {
        let (src, dst) = if v4 {
            (IpAddr::from([192, 0, 2, 1]), IpAddr::from([198, 51, 100, 7]))
        } else {
            ("2001:db8::1".parse().unwrap(), "2001:db8:ffff::7".parse().unwrap())
        };
        PathRecord {
            framing: if v4 { 3 } else { 0 },
            ports: if v4 { (5436, 5436) } else { (0, 0) },
            src,
            dst,
            hop_limit: 64,
        }
    }

    fn full_bce() -> BceRecord {
        BceRecord {
            pdn: pdn("001010000000001@ims"),
            state: BceStateRecord::Revoking,
            path: path(true),
            uplink_key: 0x8000_0001,
            downlink_key: 0xdead_beef,
            hnp: Some("2001:db8:1:2::".parse().unwrap()),
            ipv4: Some([10, 45, 0, 9].into()),
            att: 4,
            ll_id: Some(vec![2, 0, 0, 0, 0, 1]),
            link_local: Some("fe80::1".parse().unwrap()),
            last_timestamp: Some(0x0123_4567_89ab_cdef),
            last_seq: 65_535,
            lifetime_units: 1_000,
            deadline_unix_ms: 1_796_000_000_123,
            last_grant: Some(Granted {
                lifetime_units: 1_000,
                uplink_key: Some(0x8000_0001),
                hnp: Some("2001:db8:1:2::".parse().unwrap()),
                ipv4: Some(([10, 45, 0, 9].into(), 16, [10, 45, 0, 1].into())),
                link_local: Some("fe80::1".parse().unwrap()),
            }),
        }
    }

    fn bare_bce() -> BceRecord {
        BceRecord {
            pdn: PdnRecord {
                mn_id_subtype: 9,
                mn_id: Vec::new(),
                apn: Apn::from_dotted("x").unwrap(),
                pdn_connection_id: None,
            },
            state: BceStateRecord::Active,
            path: path(false),
            hnp: None,
            ipv4: None,
            ll_id: None,
            link_local: None,
            last_timestamp: None,
            last_grant: Some(Granted::default()),
            ..full_bce()
        }
    }

    fn bule(full: bool) -> BuleRecord {
        BuleRecord {
            pdn: pdn("ue@mag"),
            att: 4,
            pdn_type: 3,
            path: path(!full),
            ue_mac: full.then_some([2, 0, 0, 0, 0, 9]),
            downlink_key: 77,
            uplink_key: 78,
            hnp: full.then(|| "2001:db8:9::".parse().unwrap()),
            ipv4: full.then(|| [10, 0, 0, 2].into()),
            ipv4_prefix_len: 24,
            link_local: full.then(|| "fe80::2".parse().unwrap()),
            handoff: 1,
            lifetime_units: 75,
            expires_unix_ms: 42,
            last_seq: 3,
        }
    }

    /// One change of every kind, every optional field both present and absent.
    fn every_kind() -> Vec<StateChange> {
        vec![
            StateChange::Put(Record::Bce(Box::new(full_bce()))),
            StateChange::Put(Record::Bce(Box::new(bare_bce()))),
            StateChange::Put(Record::Reservations(Vec::new())),
            StateChange::Put(Record::Reservations(vec![
                ReservationRecord { key: 1, pdn: pdn("a@x") },
                ReservationRecord { key: 2, pdn: pdn("b@x") },
            ])),
            StateChange::Put(Record::Peer { peer: IpAddr::from([192, 0, 2, 9]), restart_counter: 7 }),
            StateChange::Put(Record::Peer { peer: "2001:db8::9".parse().unwrap(), restart_counter: u32::MAX }),
            StateChange::Put(Record::Bule(Box::new(bule(true)))),
            StateChange::Put(Record::Bule(Box::new(bule(false)))),
            StateChange::Delete(RecordKey::Bce(0x8000_0001)),
            StateChange::Delete(RecordKey::Reservations),
            StateChange::Delete(RecordKey::Peer("2001:db8::9".parse().unwrap())),
            StateChange::Delete(RecordKey::Bule(77)),
        ]
    }

    #[test]
    fn every_kind_of_change_reads_back_as_written() {
        for change in every_kind() {
            let mut buf = Vec::new();
            encode(&change, &mut buf);
            assert_eq!(decode(&buf), Ok(change.clone()), "{buf:02x?}");
        }
    }

    #[test]
    fn records_postcard_wrote_still_read() {
        for change in every_kind() {
            let old = postcard::to_allocvec(&change).unwrap();
            assert!(old[0] <= 1, "postcard starts with the variant: never a kind of ours");
            assert_eq!(decode(&old), Ok(change));
        }
    }

    #[test]
    fn every_cut_and_every_extra_octet_is_an_error_not_a_panic() {
        for change in every_kind() {
            let mut buf = Vec::new();
            encode(&change, &mut buf);
            for cut in 0..buf.len() {
                assert!(decode(&buf[..cut]).is_err(), "{change:?} cut at {cut}");
            }
            buf.push(0);
            assert_eq!(decode(&buf), Err(DecodeError::Trailing(1)));
        }
        assert_eq!(decode(&[0x7f]), Err(DecodeError::UnknownKind(0x7f)));
        assert_eq!(decode(&[PUT_PEER, 5, 1, 2, 3, 4, 0, 0, 0, 0]), Err(DecodeError::BadValue("address family")));
        let huge_count = [PUT_RESERVATIONS, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decode(&huge_count), Err(DecodeError::Truncated), "a count is not trusted to allocate");
    }
}
