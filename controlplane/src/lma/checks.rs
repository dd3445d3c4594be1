//! The checks of a received PBU that need no binding, in the order of RFC 5213 §5.3.1, with
//! the RFC 5844 / 5845 / 5149 additions placed where they first can be decided.
//!
//! 131 (not a proxy registration) → 160 MN-ID → 154 MAG allowlist → 153 realm → 152 proxy registration
//! disabled → 156 timestamp window → 158 no HNP / IPv4 HoA Request → 161 HI → 162 ATT → 173 several IPv4 HoA
//! Requests → 151 APN → 172 / 170 address family not served on that APN.
//! The ordering checks against a binding (157, 135) and the per-binding ones (155, 159, 163, 171, 130) follow in
//! [`super::Lma`] once the binding lookup (§5.4.1) is done.

use crate::config::{ApnPools, LmaConfig};
use crate::session::{pdn_connection_id, PdnIdent};
use crate::time::{timestamp_diff_us, Now};
use crate::transport::FrameHeader;
use crate::wire::{AccessTechType, Apn, BaStatus, BuFlags, HandoffIndicator, Ipv6Prefix, MnId, PbuRepr};
use std::net::{IpAddr, Ipv4Addr};

/// RFC 6275 §9.5.1: a plain (non-proxy) Binding Update to a node that is not a MIPv6 home agent.
pub const HOME_REGISTRATION_NOT_SUPPORTED: BaStatus = BaStatus(131);

/// What a PBU asks for in one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want<T> {
    /// The family is not requested.
    No,
    /// Allocate one (`::/0`, `0.0.0.0`), or keep the one the binding has.
    Any,
    /// This value, which must be the binding's or a free one of the pool.
    Specific(T),
}

impl<T> Want<T> {
    pub fn is_requested(&self) -> bool {
        !matches!(self, Want::No)
    }
}

/// A PBU that passed the binding-independent checks.
#[derive(Debug, Clone)]
pub struct Checked {
    pub hi: HandoffIndicator,
    pub att: AccessTechType,
    pub pdn: PdnIdent,
    pub apn_index: usize,
    /// Non-zero HNPs of the PBU (more than one can only be refused).
    pub hnps: Vec<Ipv6Prefix>,
    pub hnp: Want<std::net::Ipv6Addr>,
    pub ipv4: Want<Ipv4Addr>,
    /// The downlink key (GRE Key option with a key).
    pub downlink_key: Option<u32>,
}

/// A received PBU that passed the checks: where it came from, the message, and what the checks found.
#[derive(Debug, Clone)]
pub struct ValidPbu {
    pub header: FrameHeader,
    pub pbu: PbuRepr,
    pub checked: Checked,
}

fn realm(mn_id: &MnId) -> Option<&str> {
    match mn_id {
        MnId::Nai(nai) => nai.rsplit_once('@').map(|(_, realm)| realm),
        MnId::Other { .. } => None,
    }
}

fn mn_listed(list: &[String], mn_id: &MnId) -> bool {
    match mn_id {
        MnId::Nai(nai) => list.iter().any(|l| l.eq_ignore_ascii_case(nai)),
        MnId::Other { .. } => false,
    }
}

/// Runs the checks; `Err` is the status of the rejecting PBA.
pub fn check(
    config: &LmaConfig,
    apns: &[ApnPools],
    peer: IpAddr,
    pbu: &PbuRepr,
    now: Now,
) -> Result<Checked, BaStatus> {
    let o = &pbu.options;
    if !pbu.flags.contains(BuFlags::P) {
        return Err(HOME_REGISTRATION_NOT_SUPPORTED);
    }
    let mn_id = o.mn_id.clone().filter(|m| !m.id_bytes().is_empty()).ok_or(BaStatus::MISSING_MN_IDENTIFIER_OPTION)?;
    if !config.allowed_mags.iter().any(|p| p.contains(peer)) {
        return Err(BaStatus::MAG_NOT_AUTHORIZED_FOR_PROXY_REG);
    }
    if !config.served_realms.is_empty() {
        let served = realm(&mn_id).is_some_and(|r| config.served_realms.iter().any(|s| s.eq_ignore_ascii_case(r)));
        if !served {
            return Err(BaStatus::NOT_LMA_FOR_THIS_MOBILE_NODE);
        }
    }
    if mn_listed(&config.proxy_registration_disabled, &mn_id) {
        return Err(BaStatus::PROXY_REG_NOT_ENABLED);
    }
    if config.timestamp_based {
        // Decision: with the timestamp approach in use, a PBU without a Timestamp cannot be ordered, so it is
        // refused as a mismatch (RFC 5213 §5.5 makes the option mandatory in that mode).
        let ts = o.timestamp.ok_or(BaStatus::TIMESTAMP_MISMATCH)?;
        let skew_us = timestamp_diff_us(ts, now.timestamp()).unsigned_abs();
        if skew_us > config.timestamp_validity_window_ms.saturating_mul(1000) {
            return Err(BaStatus::TIMESTAMP_MISMATCH);
        }
    }
    if o.hnps.is_empty() && o.ipv4_hoa_reqs.is_empty() {
        return Err(BaStatus::MISSING_HOME_NETWORK_PREFIX_OPTION);
    }
    let hi = o.hi.ok_or(BaStatus::MISSING_HANDOFF_INDICATOR_OPTION)?;
    let att = o.att.ok_or(BaStatus::MISSING_ACCESS_TECH_TYPE_OPTION)?;
    if o.ipv4_hoa_reqs.len() > 1 {
        return Err(BaStatus::MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED);
    }
    let apn = match (&o.service_selection, &config.default_apn) {
        (Some(apn), _) => apn.clone(),
        (None, Some(name)) => Apn::from_dotted(name).map_err(|_| BaStatus::SERVICE_AUTHORIZATION_FAILED)?,
        (None, None) => return Err(BaStatus::SERVICE_AUTHORIZATION_FAILED),
    };
    let apn_index = apns.iter().position(|a| a.apn == apn).ok_or(BaStatus::SERVICE_AUTHORIZATION_FAILED)?;
    let pools = &apns[apn_index];
    if !o.hnps.is_empty() && pools.ipv6.is_none() {
        return Err(BaStatus::NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE);
    }
    if !o.ipv4_hoa_reqs.is_empty() && pools.ipv4.is_none() {
        return Err(BaStatus::NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE);
    }
    let hnps: Vec<Ipv6Prefix> = o.hnps.iter().copied().filter(|p| !p.is_unspecified()).collect();
    let hnp = match (o.hnps.is_empty(), hnps.as_slice()) {
        (true, _) => Want::No,
        (false, []) => Want::Any,
        (false, [p]) if p.len == 64 => Want::Specific(p.addr),
        // Several prefixes, or not a /64: never one this LMA handed out; the lookup refuses it (155 / 159).
        (false, [p, ..]) => Want::Specific(p.addr),
    };
    let ipv4 = match o.ipv4_hoa_reqs.first() {
        None => Want::No,
        Some(r) if r.addr.is_unspecified() => Want::Any,
        Some(r) => Want::Specific(r.addr),
    };
    Ok(Checked {
        hi,
        att,
        pdn: PdnIdent::new(mn_id, apn, pdn_connection_id(o)),
        apn_index,
        hnps,
        hnp,
        ipv4,
        downlink_key: o.gre_key.and_then(|k| k.key()),
    })
}
