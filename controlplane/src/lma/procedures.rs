//! PBU procedures of the LMA: binding lookup (RFC 5213 §5.4.1 in its 3GPP form), ordering, initial registration,
//! re-registration, handover, de-registration, lifetime expiry, deletion.

use super::checks::{self, Checked, ValidPbu, Want};
use super::pba::{self, Granted};
use super::store::{Bce, BceState};
use super::{Awaiting, Lma, LmaTimer};
use crate::fastpath::{FastpathToken, Function, TunnelEndpoints, TunnelId, TunnelSpec, TunnelUpdate};
use crate::machine::{EndReason, Event, Output};
use crate::time::Now;
use crate::transport::FrameHeader;
use crate::wire::{lifetime_to_units, BaStatus, HandoffIndicator, MhRepr, PbuRepr, RevocationTrigger};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Is `seq` at or before `last` in 16-bit serial arithmetic? RFC 6275 §9.5.1's example: with last = 15,
/// 0..=15 and 32783..=65535 are not newer, i.e. up to 32768 behind.
fn seq_not_newer(seq: u16, last: u16) -> bool {
    last.wrapping_sub(seq) <= 32768
}

/// What a new BCE takes.
struct NewBinding {
    id: TunnelId,
    uplink_key: u32,
    downlink_key: u32,
    hnp: Option<Ipv6Addr>,
    ipv4: Option<Ipv4Addr>,
}

/// What the PBU does to an existing binding.
enum Move {
    /// Same MAG: re-registration (or revival of a de-registered BCE).
    Stay,
    /// Another MAG takes the binding over; the previous MAG gets a BRI with this trigger (RFC 5846 §8.1), if
    /// configured and if it has not de-registered already.
    Handover(Option<RevocationTrigger>),
}

impl Lma {
    pub(super) fn on_pbu(&mut self, header: FrameHeader, pbu: PbuRepr, now: Now, out: &mut Vec<Output>) {
        let c = match checks::check(&self.config, &self.apns, header.src, &pbu, now) {
            Ok(c) => c,
            Err(status) => return self.send_reject(&header, &pbu, status, pbu.seq, now, out),
        };
        let v = ValidPbu { header, pbu, checked: c };
        let existing = match self.lookup(&v.checked) {
            Ok(e) => e,
            Err(status) => return self.reject(&v, status, now, out),
        };
        if let Some(id) = existing {
            if !self.in_order(id, &v.header, &v.pbu, now, out) {
                return;
            }
        }
        match (existing, v.pbu.is_deregistration()) {
            // RFC 5213 §5.3.5: a de-registration that matches no binding is silently ignored.
            (None, true) => self.ignore(v.header.src, "de-registration for no binding", out),
            (None, false) => self.create(v, now, out),
            (Some(id), true) => self.deregister(id, v, now, out),
            (Some(id), false) => self.refresh_or_move(id, v, now, out),
        }
    }

    /// RFC 5213 §5.4.1 with the 3GPP session identity (see [`crate::session`]): a non-zero HNP, else a non-zero
    /// IPv4 HoA (RFC 5844 §3.1.3), else the PDN connection names the binding.
    fn lookup(&self, c: &Checked) -> Result<Option<TunnelId>, BaStatus> {
        let by_pdn = self.cache.by_pdn(&c.pdn);
        let mut owner = None;
        if !c.hnps.is_empty() {
            let owners: Vec<Option<TunnelId>> = c.hnps.iter().map(|p| self.cache.by_hnp(&p.addr)).collect();
            let first = owners.iter().flatten().next().copied();
            match first {
                None if by_pdn.is_some() => return Err(BaStatus::BCE_PBU_PREFIX_SET_DO_NOT_MATCH),
                None if c.hnps.len() > 1 || c.hnps[0].len != 64 => {
                    return Err(BaStatus::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX)
                }
                None => {}
                Some(id) => {
                    let bce = self.cache.get(id).ok_or(BaStatus::REASON_UNSPECIFIED)?;
                    if bce.pdn != c.pdn {
                        // Another MN's prefix, or another PDN connection's of this MN.
                        return Err(BaStatus::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX);
                    }
                    if owners.len() != 1 || c.hnps[0].len != 64 {
                        return Err(BaStatus::BCE_PBU_PREFIX_SET_DO_NOT_MATCH);
                    }
                    owner = Some(id);
                }
            }
        }
        if let Want::Specific(addr) = c.ipv4 {
            match self.cache.by_ipv4(&addr) {
                Some(id) => {
                    let same_pdn = self.cache.get(id).is_some_and(|b| b.pdn == c.pdn);
                    if !same_pdn {
                        return Err(BaStatus::NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS);
                    }
                    if owner.is_some_and(|o| o != id) {
                        return Err(BaStatus::BCE_PBU_PREFIX_SET_DO_NOT_MATCH);
                    }
                    owner = Some(id);
                }
                None if by_pdn.and_then(|id| self.cache.get(id)).is_some_and(|b| b.ipv4.is_some()) => {
                    return Err(BaStatus::NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS)
                }
                None => {}
            }
        }
        match (owner, by_pdn) {
            (Some(o), Some(p)) if o != p => Err(BaStatus::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX),
            (Some(o), _) => Ok(Some(o)),
            (None, p) => Ok(p),
        }
    }

    /// Ordering against the binding (RFC 5213 §5.5). A PBU identical to the last accepted one
    /// from the same MAG (a duplicate the network made, or a retransmission of the very same message) is answered
    /// with the same PBA instead of 157 / 135 — decision: a duplicate must not turn an accepted binding into a
    /// reported failure at the MAG.
    fn in_order(&mut self, id: TunnelId, header: &FrameHeader, pbu: &PbuRepr, now: Now, out: &mut Vec<Output>) -> bool {
        let Some(b) = self.cache.get(id) else { return false };
        let same_mag = header.src == b.proxy_coa();
        let (stale, duplicate) = if self.config.timestamp_based {
            let ts = pbu.options.timestamp;
            let last = b.last_timestamp;
            (ts <= last, ts == last && pbu.seq == b.last_seq && same_mag)
        } else {
            (seq_not_newer(pbu.seq, b.last_seq), pbu.seq == b.last_seq && same_mag)
        };
        if !stale {
            return true;
        }
        if duplicate {
            self.counters.event("pbu-duplicates");
            if let Some((token, granted)) = b.last_answer {
                let pba = pba::accept(pbu, &granted, self.config.timestamp_based);
                let send = Output::Send { header: b.path, msg: MhRepr::Pba(pba) };
                self.gate.after(token, send, out);
            }
            return false;
        }
        let (status, seq) = if self.config.timestamp_based {
            (BaStatus::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED, pbu.seq)
        } else {
            (BaStatus::SEQUENCE_OUT_OF_WINDOW, b.last_seq)
        };
        self.send_reject(header, pbu, status, seq, now, out);
        false
    }

    fn refresh_or_move(&mut self, id: TunnelId, v: ValidPbu, now: Now, out: &mut Vec<Output>) {
        let Some(b) = self.cache.get(id) else { return };
        if matches!(b.state, BceState::Revoking { .. }) {
            // RFC 5846 §8.1 leaves a PBU racing a revocation to policy: the operator asked for the binding to go.
            return self.reject(&v, BaStatus::ADMINISTRATIVELY_PROHIBITED, now, out);
        }
        if v.header.src == b.proxy_coa() {
            return self.update(id, v, Move::Stay, now, out);
        }
        let deregistered = b.state == BceState::Deregistered;
        let previous = b.path;
        let trigger = |t| (self.config.revoke_previous_mag && !deregistered).then_some(t);
        match v.checked.hi {
            // TS 29.275 §5.1.1 / RFC 5213: a new attachment (HI 1, or RFC 7864's 6) elsewhere for a PDN connection
            // that has a binding: the old binding is stale and a new session replaces it.
            HandoffIndicator::NEW_INTERFACE | HandoffIndicator::NEW_INTERFACE_SHARED_PREFIXES => {
                if v.checked.downlink_key.is_none() {
                    return self.reject(&v, BaStatus::GRE_KEY_OPTION_REQUIRED, now, out);
                }
                if let Some(t) = trigger(RevocationTrigger::INTER_MAG_HANDOVER_UNKNOWN) {
                    self.revoke_path(previous, id, t, now, out);
                }
                self.delete(id, EndReason::Replaced, out);
                self.create(v, now, out)
            }
            HandoffIndicator::DIFFERENT_INTERFACES => {
                let t = trigger(RevocationTrigger::INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE);
                self.update(id, v, Move::Handover(t), now, out)
            }
            HandoffIndicator::SAME_INTERFACE => {
                let t = trigger(RevocationTrigger::INTER_MAG_HANDOVER_SAME_ACCESS_TYPE);
                self.update(id, v, Move::Handover(t), now, out)
            }
            // HI 5 says "my binding, not changed", and this MAG holds no binding: a refresh the MAG sent before it
            // learnt of a handover away from it (the BRI crossed it on the wire). RFC 5213 §5.4.1 never updates a
            // BCE from another Proxy-CoA on HI 5; taking it as a handover back (as HI 4) moved the binding to a MAG
            // that had just let it go, revoked the MAG that serves it, and the PDN connection was lost on both
            // (found by the soak). Refused like a PBU racing a revocation (RFC 5846 §8.1: policy).
            HandoffIndicator::NOT_CHANGED => {
                self.counters.event("stale-refreshes-refused");
                self.reject(&v, BaStatus::ADMINISTRATIVELY_PROHIBITED, now, out)
            }
            // HI 4 (unknown), or a value without a meaning here, from a MAG that is not the binding's:
            // RFC 5213 §5.4.1.2, wait up to MaxDelayBeforeNewBCEAssign for the previous MAG's
            // de-registration. Decision (TS 29.275 §6.2/§6.3 first: the uplink key and addresses must survive an
            // S-GW relocation): when the wait ends without it, the binding still moves, and the previous MAG gets a
            // BRI with trigger 4 (RFC 5846 §8.1) instead of a new BCE being created.
            _ => {
                let t = trigger(RevocationTrigger::INTER_MAG_HANDOVER_UNKNOWN);
                if deregistered || self.config.max_delay_before_new_bce_assign_ms == 0 {
                    return self.update(id, v, Move::Handover(t), now, out);
                }
                self.counters.event("handover-waits");
                if self.timers.deadline(&LmaTimer::HandoverWait(id)).is_none() {
                    let at = now.mono + self.config.max_delay_before_new_bce_assign_ms;
                    self.timers.set(LmaTimer::HandoverWait(id), at);
                }
                if let Some(b) = self.cache.get_mut(id) {
                    // A retransmission replaces the held PBU, so the PBA answers the latest one.
                    b.held = Some(Box::new(v));
                }
            }
        }
    }

    pub(super) fn on_handover_wait_end(&mut self, id: TunnelId, now: Now, out: &mut Vec<Output>) {
        let Some(held) = self.cache.get_mut(id).and_then(|b| b.held.take()) else { return };
        let t = self.config.revoke_previous_mag.then_some(RevocationTrigger::INTER_MAG_HANDOVER_UNKNOWN);
        self.update(id, *held, Move::Handover(t), now, out);
    }

    /// Initial registration: a new BCE (RFC 5213 §5.3.2).
    fn create(&mut self, v: ValidPbu, now: Now, out: &mut Vec<Output>) {
        let n = match self.take_resources(&v.checked) {
            Ok(n) => n,
            Err(status) => return self.reject(&v, status, now, out),
        };
        let ValidPbu { header, pbu, checked: c } = v;
        let (id, uplink_key, downlink_key, hnp, ipv4) = (n.id, n.uplink_key, n.downlink_key, n.hnp, n.ipv4);
        let path = header.reply();
        // The configured APN's bytes, shared, rather than the copy the PBU was parsed into.
        let mut pdn = c.pdn.clone();
        if let Some(configured) = self.apns.get(c.apn_index).filter(|a| a.apn == pdn.apn) {
            pdn.apn = configured.apn.clone();
        }
        let bce = Bce {
            id,
            pdn,
            apn_index: c.apn_index,
            state: BceState::Active,
            path,
            uplink_key,
            downlink_key,
            hnp,
            ipv4,
            att: c.att,
            ll_id: pbu.options.mn_ll_id.as_deref().map(Box::from),
            link_local: None,
            last_timestamp: pbu.options.timestamp,
            last_seq: pbu.seq,
            lifetime_units: 0,
            deadline: 0,
            installed: false,
            token: Default::default(),
            last_answer: None,
            held: None,
        };
        self.cache.insert(bce);
        self.heartbeats.binding_added(path, now);
        self.counters.event("bindings-created");
        out.push(Output::Event(Event::BindingUp { id, pdn: c.pdn, peer: header.src }));
        self.accept(id, header, pbu, now, out);
    }

    /// Re-registration or handover of an existing BCE (RFC 5213 §5.3.3 / §5.3.4 with RFC 5845 §4 / §5 keys).
    fn update(&mut self, id: TunnelId, v: ValidPbu, mv: Move, now: Now, out: &mut Vec<Output>) {
        let Some(b) = self.cache.get(id) else { return };
        let downlink_key = match (v.checked.downlink_key, &mv) {
            (Some(k), _) => k,
            // TS 29.275 §6.1: the GRE Key option is always present after a handover.
            (None, Move::Handover(_)) => return self.reject(&v, BaStatus::GRE_KEY_OPTION_REQUIRED, now, out),
            // A refresh without it keeps the downlink key (RFC 5845 §4 has the MAG send it; be lenient).
            (None, Move::Stay) => b.downlink_key,
        };
        let (old_hnp, old_ipv4, old_path) = (b.hnp, b.ipv4, b.path);
        let c = &v.checked;
        let (hnp, ipv4) = match self.assign_addresses(c.apn_index, old_hnp, old_ipv4, c.hnp, c.ipv4) {
            Ok(a) => a,
            Err(status) => return self.reject(&v, status, now, out),
        };
        let ValidPbu { header, pbu, checked: c } = v;
        // RFC 5844 §3.1.3: a family the PBU no longer asks for is released.
        if old_hnp.is_some() && hnp != old_hnp {
            self.release_hnp(c.apn_index, old_hnp);
        }
        if old_ipv4.is_some() && ipv4 != old_ipv4 {
            self.release_ipv4(c.apn_index, old_ipv4);
        }
        self.cache.set_hnp(id, hnp);
        self.cache.set_ipv4(id, ipv4);
        self.timers.cancel(&LmaTimer::HandoverWait(id));
        let path = header.reply();
        let Some(b) = self.cache.get_mut(id) else { return };
        b.held = None;
        b.state = BceState::Active;
        b.path = path;
        b.downlink_key = downlink_key;
        b.att = c.att;
        b.ll_id = pbu.options.mn_ll_id.as_deref().map(Box::from);
        // After a held handover PBU the de-registration may carry a later timestamp: keep the newest.
        b.last_timestamp = b.last_timestamp.max(pbu.options.timestamp);
        b.last_seq = pbu.seq;
        if let Move::Handover(trigger) = mv {
            self.heartbeats.binding_removed(old_path.dst);
            self.heartbeats.binding_added(path, now);
            self.counters.event("handovers");
            out.push(Output::Event(Event::Handover { id, from: old_path.dst, to: header.src }));
            if let Some(t) = trigger {
                self.revoke_path(old_path, id, t, now, out);
            }
        } else {
            self.counters.event("reregistrations");
        }
        self.accept(id, header, pbu, now, out);
    }

    /// Grants the lifetime, brings the fast path up to date and sends the accepting PBA once that is live.
    fn accept(&mut self, id: TunnelId, header: FrameHeader, pbu: PbuRepr, now: Now, out: &mut Vec<Output>) {
        let max_units = lifetime_to_units(Duration::from_secs(u64::from(self.config.max_lifetime_s)));
        let units = pbu.lifetime_units.min(max_units).max(1);
        let ipv4_grant = self.cache.get(id).and_then(|b| self.ipv4_grant(b.apn_index, b.ipv4));
        let Some(b) = self.cache.get_mut(id) else { return };
        if pbu.options.link_local.is_some() && b.link_local.is_none() {
            // TS 29.275 §5.1.1: the LMA assigns the MAG link-local address; derive a stable one per binding.
            let asked = pbu.options.link_local.filter(|a| !a.is_unspecified());
            b.link_local =
                asked.or(Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, (b.uplink_key >> 16) as u16, b.uplink_key as u16)));
        }
        b.lifetime_units = units;
        b.deadline = (now.mono + u64::from(units) * 4000).0;
        let deadline = b.deadline;
        let granted = Granted {
            lifetime_units: units,
            uplink_key: Some(b.uplink_key),
            hnp: b.hnp,
            ipv4: ipv4_grant,
            link_local: b.link_local,
        };
        let spec = spec_of(b);
        let update = match (b.installed, spec) {
            (false, Some(spec)) => Some(TunnelUpdate::Install { id, spec }),
            (true, Some(spec)) => Some(TunnelUpdate::Modify { id, spec }),
            (_, None) => None,
        };
        if let Some(update) = update {
            b.installed = true;
            b.token = self.gate.issue(update, out);
            let fresh = matches!(update, TunnelUpdate::Install { .. });
            self.awaiting.insert(b.token, Awaiting { id, fresh, answer: Some(Box::new((header, pbu.clone()))) });
        }
        let Some(b) = self.cache.get_mut(id) else { return };
        let token = b.token;
        let reply = pba::accept(&pbu, &granted, self.config.timestamp_based);
        b.last_answer = Some((token, granted));
        let path = b.path;
        self.timers.set(LmaTimer::Lifetime(id), crate::time::Millis(deadline));
        self.gate.after(token, Output::Send { header: path, msg: MhRepr::Pba(reply) }, out);
    }

    /// De-registration (RFC 5213 §5.3.5): only from the binding's MAG; PBA at once, traffic dropped, the BCE kept
    /// for MinDelayBeforeBCEDelete. A held handover PBU proceeds at once (the wait is over). A de-registration
    /// that names one address family of a binding holding both is selective (RFC 5844 §3.1.2.5): only that
    /// family goes.
    fn deregister(&mut self, id: TunnelId, v: ValidPbu, now: Now, out: &mut Vec<Output>) {
        let ValidPbu { header, pbu, checked } = v;
        let Some(b) = self.cache.get_mut(id) else { return };
        if header.src != b.proxy_coa() {
            return self.ignore(header.src, "de-registration from a MAG that is not the binding's", out);
        }
        let (ipv4, ipv6) = (checked.ipv4.is_requested(), checked.hnp.is_requested());
        if b.hnp.is_some() && b.ipv4.is_some() && ipv4 != ipv6 {
            return self.deregister_family(id, header, pbu, ipv4, out);
        }
        b.last_timestamp = pbu.options.timestamp;
        b.last_seq = pbu.seq;
        let (apn_index, hnp, ipv4, held) = (b.apn_index, b.hnp, b.ipv4, b.held.take());
        let granted = Granted { hnp, ipv4: self.ipv4_grant(apn_index, ipv4), ..Default::default() };
        let reply = pba::accept(&pbu, &granted, self.config.timestamp_based);
        out.push(Output::Send { header: header.reply(), msg: MhRepr::Pba(reply.clone()) });
        self.counters.event("deregistrations");
        if let Some(held) = held {
            // The previous MAG let go: the waiting handover proceeds, and needs no BRI.
            self.timers.cancel(&LmaTimer::HandoverWait(id));
            return self.update(id, *held, Move::Handover(None), now, out);
        }
        self.end_revocations_of(id);
        let deadline = now.mono + self.config.min_delay_before_bce_delete_ms;
        let Some(b) = self.cache.get_mut(id) else { return };
        b.state = BceState::Deregistered;
        b.deadline = deadline.0;
        b.last_answer = Some((Default::default(), granted));
        if b.installed {
            b.installed = false;
            b.token = self.gate.issue(TunnelUpdate::Remove { id }, out);
        }
        self.timers.set(LmaTimer::Lifetime(id), deadline);
    }

    /// Selective de-registration (RFC 5844 §3.1.2.5): the BCE stays and keeps its lifetime; only the IPv4 home
    /// address (`ipv4`) or the home network prefix goes back to its pool and out of the fast path. The PBA names
    /// just the released family (§3.1.2.6) and leaves once the workers no longer forward it.
    fn deregister_family(
        &mut self,
        id: TunnelId,
        header: FrameHeader,
        pbu: PbuRepr,
        ipv4: bool,
        out: &mut Vec<Output>,
    ) {
        let Some(b) = self.cache.get_mut(id) else { return };
        b.last_timestamp = pbu.options.timestamp;
        b.last_seq = pbu.seq;
        let (apn_index, hnp, address) = (b.apn_index, b.hnp, b.ipv4);
        let granted = if ipv4 {
            Granted { ipv4: self.ipv4_grant(apn_index, address), ..Default::default() }
        } else {
            Granted { hnp, ..Default::default() }
        };
        if ipv4 {
            self.release_ipv4(apn_index, address);
            self.cache.set_ipv4(id, None);
        } else {
            self.release_hnp(apn_index, hnp);
            self.cache.set_hnp(id, None);
        }
        self.counters.event("selective-deregistrations");
        let reply = pba::accept(&pbu, &granted, self.config.timestamp_based);
        let Some(b) = self.cache.get_mut(id) else { return };
        if b.installed {
            if let Some(spec) = spec_of(b) {
                b.token = self.gate.issue(TunnelUpdate::Modify { id, spec }, out);
            }
        }
        b.last_answer = Some((b.token, granted));
        let (token, path) = (b.token, header.reply());
        self.gate.after(token, Output::Send { header: path, msg: MhRepr::Pba(reply) }, out);
    }

    pub(super) fn on_lifetime_end(&mut self, id: TunnelId, out: &mut Vec<Output>) {
        let Some(b) = self.cache.get(id) else { return };
        let reason = match b.state {
            BceState::Deregistered => EndReason::Deregistered,
            BceState::Active | BceState::Revoking { .. } => EndReason::Expired,
        };
        if reason == EndReason::Expired {
            self.counters.event("bindings-expired");
        }
        self.delete(id, reason, out);
    }

    /// Deletes a BCE with everything it holds: fast-path entry, uplink key, addresses, timers, revocations.
    pub(super) fn delete(&mut self, id: TunnelId, reason: EndReason, out: &mut Vec<Output>) {
        let Some(b) = self.cache.remove(id) else { return };
        if b.installed {
            self.gate.issue(TunnelUpdate::Remove { id }, out);
        }
        self.keys.release(b.uplink_key);
        self.release_hnp(b.apn_index, b.hnp);
        self.release_ipv4(b.apn_index, b.ipv4);
        self.heartbeats.binding_removed(b.proxy_coa());
        self.timers.cancel(&LmaTimer::Lifetime(id));
        self.timers.cancel(&LmaTimer::HandoverWait(id));
        self.end_revocations_of(id);
        // A binding that never had a table update (token 0: one that expired while the gateway was down, ended
        // during a warm start) waits for none: nothing to look for, and a scan of a warm start's million pending
        // installs per such expiry would make the restore quadratic.
        if b.token != FastpathToken::default() {
            self.awaiting.retain(|_, a| a.id != id);
        }
        self.counters.event("bindings-deleted");
        out.push(Output::Event(Event::BindingDown { id, pdn: b.pdn, reason }));
    }

    /// Slot, uplink key, downlink key and addresses for a new BCE; on failure nothing stays taken.
    fn take_resources(&mut self, c: &Checked) -> Result<NewBinding, BaStatus> {
        // TS 29.275 §6.1: the GRE Key option is always present on creation.
        let downlink_key = c.downlink_key.ok_or(BaStatus::GRE_KEY_OPTION_REQUIRED)?;
        let id = self.cache.next_id().ok_or(BaStatus::INSUFFICIENT_RESOURCES)?;
        let uplink_key = self.keys.take_for(&c.pdn).ok_or(BaStatus::INSUFFICIENT_RESOURCES)?;
        match self.assign_addresses(c.apn_index, None, None, c.hnp, c.ipv4) {
            Ok((hnp, ipv4)) => Ok(NewBinding { id, uplink_key, downlink_key, hnp, ipv4 }),
            Err(status) => {
                self.keys.release(uplink_key);
                Err(status)
            }
        }
    }

    /// Home addresses for a binding of APN `apn` that has `hnp` / `ipv4` now and whose PBU asks for `want_*`.
    /// Newly taken addresses are given back if the other family fails; nothing is released here.
    fn assign_addresses(
        &mut self,
        apn: usize,
        hnp: Option<Ipv6Addr>,
        ipv4: Option<Ipv4Addr>,
        want_hnp: Want<Ipv6Addr>,
        want_ipv4: Want<Ipv4Addr>,
    ) -> Result<(Option<Ipv6Addr>, Option<Ipv4Addr>), BaStatus> {
        let pools = self.apns.get_mut(apn).ok_or(BaStatus::REASON_UNSPECIFIED)?;
        let new_hnp = match (want_hnp, hnp, pools.ipv6.as_mut()) {
            (Want::No, _, _) => None,
            (Want::Any, Some(p), _) => Some(p),
            (Want::Specific(p), Some(cur), _) if p == cur => Some(p),
            (Want::Specific(_), Some(_), _) => return Err(BaStatus::BCE_PBU_PREFIX_SET_DO_NOT_MATCH),
            (_, _, None) => return Err(BaStatus::NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE),
            (Want::Any, None, Some(pool)) => Some(pool.allocate().ok_or(BaStatus::INSUFFICIENT_RESOURCES)?),
            (Want::Specific(p), None, Some(pool)) => {
                if !pool.reserve(p) {
                    return Err(BaStatus::NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX);
                }
                Some(p)
            }
        };
        let taken_hnp = new_hnp.filter(|_| new_hnp != hnp);
        let new_ipv4 = match (want_ipv4, ipv4, pools.ipv4.as_mut()) {
            (Want::No, _, _) => Ok(None),
            (Want::Any, Some(a), _) => Ok(Some(a)),
            (Want::Specific(a), Some(cur), _) if a == cur => Ok(Some(a)),
            (Want::Specific(_), Some(_), _) => Err(BaStatus::NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS),
            (_, _, None) => Err(BaStatus::NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE),
            (Want::Any, None, Some(pool)) => pool.allocate().map(Some).ok_or(BaStatus::INSUFFICIENT_RESOURCES),
            (Want::Specific(a), None, Some(pool)) => {
                if pool.reserve(a) {
                    Ok(Some(a))
                } else {
                    Err(BaStatus::NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS)
                }
            }
        };
        match new_ipv4 {
            Ok(v4) => Ok((new_hnp, v4)),
            Err(status) => {
                self.release_hnp(apn, taken_hnp);
                Err(status)
            }
        }
    }

    fn release_hnp(&mut self, apn: usize, hnp: Option<Ipv6Addr>) {
        if let (Some(p), Some(pool)) = (hnp, self.apns.get_mut(apn).and_then(|a| a.ipv6.as_mut())) {
            pool.release(p);
        }
    }

    fn release_ipv4(&mut self, apn: usize, ipv4: Option<Ipv4Addr>) {
        if let (Some(a), Some(pool)) = (ipv4, self.apns.get_mut(apn).and_then(|a| a.ipv4.as_mut())) {
            pool.release(a);
        }
    }

    /// Address, prefix length and default router of an IPv4 home address of APN `apn`.
    fn ipv4_grant(&self, apn: usize, ipv4: Option<Ipv4Addr>) -> Option<(Ipv4Addr, u8, Ipv4Addr)> {
        let pool = self.apns.get(apn)?.ipv4.as_ref()?;
        ipv4.map(|a| (a, pool.prefix_len(), pool.default_router()))
    }

    fn reject(&mut self, v: &ValidPbu, status: BaStatus, now: Now, out: &mut Vec<Output>) {
        self.send_reject(&v.header, &v.pbu, status, v.pbu.seq, now, out);
    }

    pub(super) fn send_reject(
        &mut self,
        header: &FrameHeader,
        pbu: &PbuRepr,
        status: BaStatus,
        seq: u16,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        out.push(Output::Event(Event::PbuRejected { peer: header.src, status }));
        let reply = pba::reject(pbu, status, seq, now);
        out.push(Output::Send { header: header.reply(), msg: MhRepr::Pba(reply) });
    }
}

/// The fast-path entry of a BCE; None if it has no usable tunnel (mixed address families cannot happen: the
/// path is the reply to a PBU).
pub(super) fn spec_of(b: &Bce) -> Option<TunnelSpec> {
    Some(TunnelSpec {
        function: Function::Lma,
        endpoints: TunnelEndpoints::new(b.path.src, b.path.dst)?,
        uplink_key: Some(b.uplink_key),
        downlink_key: Some(b.downlink_key),
        ue_ipv4: b.ipv4,
        ue_ipv6_prefix: b.hnp,
        ue_mac: None,
    })
}

#[cfg(test)]
mod tests {
    use super::seq_not_newer;

    #[test]
    fn serial_number_comparison_wraps() {
        assert!(seq_not_newer(15, 15));
        assert!(seq_not_newer(0, 15));
        assert!(seq_not_newer(32783, 15), "32783 is 32768 behind 15");
        assert!(!seq_not_newer(16, 15));
        assert!(!seq_not_newer(32782, 15), "32782 is 32769 behind, i.e. ahead");
        assert!(!seq_not_newer(0, 65535), "0 follows 65535");
    }
}
