//! Building the PBA for a PBU (RFC 5213 §5.3.6, RFC 5844 §3.3, RFC 5845 §4).

use crate::session::{pdn_connection_id, pdn_connection_id_option};
use crate::time::Now;
use crate::wire::{
    AccessTechType, BaFlags, BaStatus, BuFlags, GreKeyOpt, HandoffIndicator, Ipv4HoaReply, Ipv6Prefix, MhOptions, MnId,
    PbaRepr, PbuRepr,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// What an accepting PBA reports (also kept across restarts, `crate::durable`, so a duplicate PBU after a warm
/// start gets the same answer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Granted {
    pub lifetime_units: u16,
    pub uplink_key: Option<u32>,
    pub hnp: Option<Ipv6Addr>,
    pub ipv4: Option<(Ipv4Addr, u8, Ipv4Addr)>,
    pub link_local: Option<Ipv6Addr>,
}

/// The options every PBA copies from its PBU, whatever the status.
fn echoed(pbu: &PbuRepr) -> MhOptions {
    let o = &pbu.options;
    MhOptions {
        // RFC 5213 §5.3.1: a PBA for a PBU without MN-ID carries a zero-length identifier.
        mn_id: Some(o.mn_id.clone().unwrap_or(MnId::Nai(String::new()))),
        service_selection: o.service_selection.clone(),
        hi: Some(o.hi.unwrap_or(HandoffIndicator::RESERVED)),
        att: Some(o.att.unwrap_or(AccessTechType::RESERVED)),
        mn_ll_id: o.mn_ll_id.clone(),
        vendor: pdn_connection_id(o).map(pdn_connection_id_option).into_iter().collect(),
        ..Default::default()
    }
}

fn flags_for(pbu: &PbuRepr) -> BaFlags {
    if pbu.flags.contains(BuFlags::P) {
        BaFlags::P
    } else {
        BaFlags(0)
    }
}

/// A rejecting PBA: lifetime 0, requested prefixes and address echoed (RFC 5213 §5.3.6, RFC 5844 §3.3.2),
/// Timestamp echoed — or the LMA's own time for 156/157 (RFC 5213 §5.5). `seq` is the PBU's, except for 135
/// where it is the last accepted one (RFC 6275 §9.5.1).
pub fn reject(pbu: &PbuRepr, status: BaStatus, seq: u16, now: Now) -> PbaRepr {
    let mut options = echoed(pbu);
    let o = &pbu.options;
    options.hnps = if !o.hnps.is_empty() {
        o.hnps.clone()
    } else if o.ipv4_hoa_reqs.is_empty() {
        vec![Ipv6Prefix::UNSPECIFIED]
    } else {
        Vec::new()
    };
    if let Some(req) = o.ipv4_hoa_reqs.first() {
        let reply_status = match status {
            BaStatus::NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS => Ipv4HoaReply::STATUS_ADMINISTRATIVELY_PROHIBITED,
            _ => Ipv4HoaReply::STATUS_FAILURE_UNSPECIFIED,
        };
        options.ipv4_hoa_reply =
            Some(Ipv4HoaReply { status: reply_status, prefix_len: req.prefix_len, addr: req.addr });
    }
    let clock_status = matches!(status, BaStatus::TIMESTAMP_MISMATCH | BaStatus::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED);
    options.timestamp = if clock_status { Some(now.timestamp()) } else { o.timestamp };
    options.link_local = o.link_local;
    PbaRepr { status, flags: flags_for(pbu), seq, lifetime_units: 0, options }
}

/// An accepting PBA (status 0). The uplink key is returned whenever the PBU carried a GRE Key option.
pub fn accept(pbu: &PbuRepr, granted: &Granted, timestamp_based: bool) -> PbaRepr {
    let mut options = echoed(pbu);
    let o = &pbu.options;
    options.hnps = granted.hnp.map(|addr| Ipv6Prefix { addr, len: 64 }).into_iter().collect();
    if !o.ipv4_hoa_reqs.is_empty() {
        options.ipv4_hoa_reply = granted.ipv4.map(|(addr, prefix_len, _)| Ipv4HoaReply {
            status: Ipv4HoaReply::STATUS_SUCCESS,
            prefix_len,
            addr,
        });
        options.ipv4_default_router = granted.ipv4.map(|(_, _, router)| router);
    }
    if timestamp_based {
        options.timestamp = o.timestamp;
    }
    if o.link_local.is_some() {
        options.link_local = granted.link_local.or(o.link_local);
    }
    if o.gre_key.is_some() {
        options.gre_key = granted.uplink_key.map(GreKeyOpt::Key);
    }
    PbaRepr {
        status: BaStatus::ACCEPTED,
        flags: flags_for(pbu),
        seq: pbu.seq,
        lifetime_units: granted.lifetime_units,
        options,
    }
}
