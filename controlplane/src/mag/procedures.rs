//! MAG procedures: create (initial PBU), retransmission, PBA acceptance, refresh, de-registration, teardown, and
//! the BRI responder.

use super::bule::{Bule, BuleState, Procedure, ProcedureKind};
use super::{Mag, MagTimer};
use crate::api::{PdnCreate, PdnType, Response};
use crate::fastpath::{TunnelId, TunnelUpdate};
use crate::machine::{EndReason, Event, Output};
use crate::names::ba_status_text;
use crate::session::{pdn_connection_id_option, PdnIdent};
use crate::time::Now;
use crate::transport::{FrameHeader, Framing};
use crate::wire::{
    lifetime_to_units, AccessTechType, Apn, BaStatus, BrFlags, BraRepr, BraStatus, BriRepr, BuFlags, GreKeyOpt,
    HandoffIndicator, Ipv4HoaRequest, Ipv6Prefix, MhOptions, MhRepr, MnId, PbaRepr, PbuRepr, RevocationTrigger,
};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Text of an end reason, for API errors.
fn reason_text(reason: &EndReason) -> String {
    match reason {
        EndReason::Rejected(status) => format!("the LMA rejected the PBU: {}", ba_status_text(*status)),
        EndReason::NoResponse => "no PBA from the LMA after the last retransmission".into(),
        other => format!("PDN connection ended: {other:?}"),
    }
}

/// A checked `pdn create` request.
struct CreatePlan {
    pdn: PdnIdent,
    path: FrameHeader,
    ue_mac: Option<[u8; 6]>,
    handoff: HandoffIndicator,
}

fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    let octets: Vec<u8> = parts.iter().filter_map(|p| u8::from_str_radix(p, 16).ok()).collect();
    <[u8; 6]>::try_from(octets.as_slice())
        .ok()
        .filter(|_| parts.len() == 6 && parts.iter().all(|p| p.len() == 2))
        .ok_or_else(|| format!("ue_mac {text:?} is not a MAC address like 02:00:00:00:00:01"))
}

impl Mag {
    /// `pdn create`: checks the request, takes a downlink key, installs the uplink at once when the uplink key
    /// and the UE's addresses are already known (TS 29.275 §6.2), and sends the initial PBU.
    pub(super) fn create(&mut self, api_id: u64, p: PdnCreate, now: Now, out: &mut Vec<Output>) -> Option<Response> {
        let CreatePlan { pdn, path, ue_mac, handoff } = match self.check_create(&p) {
            Ok(v) => v,
            Err(e) => return Some(Response::error(e)),
        };
        let lma = path.dst;
        let Some(downlink_key) = self.downlink_keys.allocate() else {
            return Some(Response::error(format!("no downlink GRE key left for LMA {lma}")));
        };
        let bule = Bule {
            pdn: pdn.clone(),
            att: AccessTechType(p.att),
            pdn_type: p.pdn_type,
            path,
            ue_mac,
            downlink_key,
            uplink_key: p.uplink_key,
            hnp: p.home_prefix,
            ipv4: p.ipv4_home_address,
            ipv4_prefix_len: 32,
            link_local: None,
            handoff,
            state: BuleState::Registering,
            lifetime_units: 0,
            expires_at: now.mono,
            installed: false,
            fresh_install: false,
            token: Default::default(),
            procedure: None,
            waiting_api: p.wait.then_some(api_id),
            stored: false,
            last_seq: 0,
        };
        let Some(id) = self.bules.insert(bule) else {
            self.downlink_keys.release(downlink_key);
            return Some(Response::error("the MAG holds as many PDN connections as it may"));
        };
        self.by_pdn.insert(pdn, id);
        self.heartbeats.binding_added(path, now);
        if p.uplink_key.is_some() {
            self.sync_fastpath(id, out);
        }
        self.start_procedure(id, ProcedureKind::Register, now, out);
        if p.wait {
            None
        } else {
            Some(
                self.view(id, now)
                    .map_or_else(|| Response::error("PDN connection vanished"), |binding| Response::Pdn { binding }),
            )
        }
    }

    fn check_create(&self, p: &PdnCreate) -> Result<CreatePlan, String> {
        if p.mn_id.is_empty() {
            return Err("mn_id must not be empty".into());
        }
        let apn = Apn::from_dotted(&p.apn).map_err(|e| format!("apn {:?}: {e}", p.apn))?;
        let pdn = PdnIdent::new(MnId::Nai(p.mn_id.clone()), apn, p.pdn_connection_id);
        if let Some(&id) = self.by_pdn.get(&pdn) {
            return Err(format!("PDN connection {pdn} already exists (binding {})", id.0));
        }
        let path = match p.lma {
            IpAddr::V6(_) => {
                let local =
                    self.config.local_ipv6.ok_or("this MAG has no IPv6 address (local_ipv6) to reach an IPv6 LMA")?;
                FrameHeader::new(Framing::Ipv6, local.into(), p.lma)
            }
            IpAddr::V4(_) => {
                let local =
                    self.config.local_ipv4.ok_or("this MAG has no IPv4 address (local_ipv4) to reach an IPv4 LMA")?;
                FrameHeader::new(self.config.ipv4_signalling.framing(), local.into(), p.lma)
            }
        };
        let ue_mac = p.ue_mac.as_deref().map(parse_mac).transpose()?;
        let handoff = match p.handoff.unwrap_or(1) {
            h @ 1..=4 => HandoffIndicator(h),
            h => return Err(format!("handoff {h}: use 1 (new attachment), 2, 3 or 4 (handover)")),
        };
        if p.home_prefix.is_some() && !p.pdn_type.wants_ipv6() {
            return Err("home_prefix given for a PDN type without IPv6".into());
        }
        if p.home_prefix.is_some_and(|h| u128::from(h) as u64 != 0) {
            return Err("home_prefix must be a /64 network address".into());
        }
        if p.ipv4_home_address.is_some() && !p.pdn_type.wants_ipv4() {
            return Err("ipv4_home_address given for a PDN type without IPv4".into());
        }
        Ok(CreatePlan { pdn, path, ue_mac, handoff })
    }

    /// The PBU for a procedure (RFC 5213 §6.9.1.5): create, refresh (HI 5, assigned addresses,
    /// same downlink key) or de-registration (lifetime 0, HI 4, no GRE Key, RFC 5845 §4.2).
    fn build_pbu(&self, b: &Bule, kind: ProcedureKind, seq: u16, now: Now) -> PbuRepr {
        let (hi, lifetime_units, gre_key) = match kind {
            ProcedureKind::Register => (b.handoff, self.lifetime_units(), Some(GreKeyOpt::Key(b.downlink_key))),
            ProcedureKind::Refresh => {
                (HandoffIndicator::NOT_CHANGED, self.lifetime_units(), Some(GreKeyOpt::Key(b.downlink_key)))
            }
            ProcedureKind::Deregister => (HandoffIndicator::UNKNOWN, 0, None),
            ProcedureKind::Release { .. } => (HandoffIndicator::NOT_CHANGED, 0, None),
        };
        let hnp = match b.hnp {
            Some(addr) => Ipv6Prefix { addr, len: 64 },
            None => Ipv6Prefix::UNSPECIFIED,
        };
        let ipv4 = match b.ipv4 {
            Some(addr) => Ipv4HoaRequest { prefix_len: b.ipv4_prefix_len, addr },
            None => Ipv4HoaRequest { prefix_len: 0, addr: Ipv4Addr::UNSPECIFIED },
        };
        // RFC 5844 §3.2.3.3: a selective de-registration names only the family it releases.
        let (v6, v4) = match kind {
            ProcedureKind::Release { ipv4 } => (!ipv4, ipv4),
            _ => (b.pdn_type.wants_ipv6(), b.pdn_type.wants_ipv4()),
        };
        let hnps = v6.then_some(hnp);
        let ipv4 = v4.then_some(ipv4);
        let options = MhOptions {
            mn_id: Some(b.pdn.mn_id.clone()),
            service_selection: Some(b.pdn.apn.clone()),
            hnps: hnps.into_iter().collect(),
            ipv4_hoa_reqs: ipv4.into_iter().collect(),
            hi: Some(hi),
            att: Some(b.att),
            mn_ll_id: b.ue_mac.map(|m| m.to_vec()),
            timestamp: self.config.timestamp_based.then(|| now.timestamp()),
            gre_key,
            vendor: b.pdn.pdn_connection_id.map(pdn_connection_id_option).into_iter().collect(),
            ..Default::default()
        };
        PbuRepr { seq, flags: BuFlags::PBU, lifetime_units, options }
    }

    fn lifetime_units(&self) -> u16 {
        lifetime_to_units(Duration::from_secs(u64::from(self.config.lifetime_s)))
    }

    /// A sequence number no outstanding PBU uses (RFC 5213 §6.9.1.5: a per-MAG increasing counter).
    fn take_seq(&mut self, id: TunnelId) -> u16 {
        let mut seq = self.next_seq;
        while self.by_seq.contains_key(&seq) {
            seq = seq.wrapping_add(1);
        }
        self.next_seq = seq.wrapping_add(1);
        self.by_seq.insert(seq, id);
        seq
    }

    fn start_procedure(&mut self, id: TunnelId, kind: ProcedureKind, now: Now, out: &mut Vec<Output>) {
        self.end_procedure(id);
        let Some(b) = self.bules.get(id) else { return };
        let path = b.path;
        let seq = self.take_seq(id);
        let Some(b) = self.bules.get(id) else { return };
        let pbu = self.build_pbu(b, kind, seq, now);
        let timeout_ms = self.config.initial_bindack_timeout_ms;
        out.push(Output::Send { header: path, msg: MhRepr::Pbu(pbu.clone()) });
        if let Some(b) = self.bules.get_mut(id) {
            b.procedure = Some(Procedure { kind, pbu, seqs: vec![seq], retransmissions: 0, timeout_ms });
        }
        self.timers.set(MagTimer::Retransmit(id), now.mono + timeout_ms);
    }

    /// Forgets the outstanding PBU of `id` (its sequence numbers no longer match a PBA).
    fn end_procedure(&mut self, id: TunnelId) -> Option<Procedure> {
        let p = self.bules.get_mut(id)?.procedure.take()?;
        for s in &p.seqs {
            self.by_seq.remove(s);
        }
        self.timers.cancel(&MagTimer::Retransmit(id));
        Some(p)
    }

    /// RFC 6275 §11.8 / RFC 5213 §6.9.4: retransmit from INITIAL_BINDACK_TIMEOUT doubling to
    /// MAX_BINDACK_TIMEOUT, each time with a new sequence number and a fresh timestamp, up to the configured
    /// bound; then the procedure has failed. A de-registration is not retransmitted: after one timeout the BULE
    /// goes anyway (RFC 5213 §6.9.1.3).
    pub(super) fn on_retransmit_timer(&mut self, id: TunnelId, now: Now, out: &mut Vec<Output>) {
        let Some(p) = self.bules.get(id).and_then(|b| b.procedure.clone()) else { return };
        if p.kind == ProcedureKind::Deregister {
            return self.teardown(id, EndReason::Deregistered, out);
        }
        if let ProcedureKind::Release { .. } = p.kind {
            // Like a de-registration, not retransmitted: the family is already gone here.
            return self.released(id, "the LMA did not answer; released here", out);
        }
        if p.retransmissions >= self.config.max_retransmissions {
            self.counters.event("pbu-timeouts");
            return self.teardown(id, EndReason::NoResponse, out);
        }
        let seq = self.take_seq(id);
        let timeout_ms = (p.timeout_ms * 2).min(self.config.max_bindack_timeout_ms);
        let mut pbu = p.pbu;
        pbu.seq = seq;
        if self.config.timestamp_based {
            pbu.options.timestamp = Some(now.timestamp());
        }
        self.counters.event("pbu-retransmissions");
        let Some(b) = self.bules.get_mut(id) else { return };
        out.push(Output::Send { header: b.path, msg: MhRepr::Pbu(pbu.clone()) });
        if let Some(proc_) = b.procedure.as_mut() {
            proc_.pbu = pbu;
            proc_.seqs.push(seq);
            proc_.retransmissions += 1;
            proc_.timeout_ms = timeout_ms;
        }
        self.timers.set(MagTimer::Retransmit(id), now.mono + timeout_ms);
    }

    /// RFC 5213 §6.9.1.2: match the PBA to an outstanding PBU by sequence number, check that it echoes MN-ID,
    /// HI, ATT and LL-ID (a PBA that does not is ignored), then act on the status.
    pub(super) fn on_pba(&mut self, header: &FrameHeader, pba: PbaRepr, now: Now, out: &mut Vec<Output>) {
        let Some(&id) = self.by_seq.get(&pba.seq) else {
            return self.ignore(header.src, "PBA matching no outstanding PBU", out);
        };
        let Some(b) = self.bules.get(id) else { return };
        if header.src != b.lma() {
            return self.ignore(header.src, "PBA from an address that is not the LMA's", out);
        }
        let Some(p) = b.procedure.as_ref() else { return };
        let sent = &p.pbu.options;
        let o = &pba.options;
        if o.mn_id != sent.mn_id || o.hi != sent.hi || o.att != sent.att || o.mn_ll_id != sent.mn_ll_id {
            self.counters.event("pba-bad-echo");
            return self.ignore(header.src, "PBA that does not echo MN-ID, HI, ATT and LL-ID", out);
        }
        let kind = p.kind;
        if kind != ProcedureKind::Deregister && pba.status == BaStatus::TIMESTAMP_LOWER_THAN_PREV_ACCEPTED {
            // RFC 5213 §6.9.1.2: the MAG may re-register. The next retransmission carries a fresh timestamp.
            self.counters.event("pba-timestamp-lower");
            self.by_seq.remove(&pba.seq);
            return;
        }
        self.end_procedure(id);
        match kind {
            ProcedureKind::Deregister => self.teardown(id, EndReason::Deregistered, out),
            ProcedureKind::Release { .. } if pba.status.is_accepted() => self.released(id, "released", out),
            ProcedureKind::Release { .. } => {
                let text = format!("the LMA refused ({}); released here", pba.status.0);
                self.released(id, &text, out)
            }
            _ if !pba.status.is_accepted() => self.teardown(id, EndReason::Rejected(pba.status), out),
            _ => self.accept_binding(id, kind, &pba, now, out),
        }
    }

    /// Status < 128: take the uplink key, addresses and lifetime, bring the fast path up to date, arm the
    /// refresh at the configured share of the granted lifetime.
    fn accept_binding(&mut self, id: TunnelId, kind: ProcedureKind, pba: &PbaRepr, now: Now, out: &mut Vec<Output>) {
        let Some(b) = self.bules.get(id) else { return };
        let o = &pba.options;
        let uplink_key = o.gre_key.and_then(|k| k.key()).or(b.uplink_key);
        let hnp = b
            .pdn_type
            .wants_ipv6()
            .then(|| o.hnps.iter().find(|p| p.len == 64 && !p.is_unspecified()).map(|p| p.addr))
            .flatten();
        let ipv4_reply = b
            .pdn_type
            .wants_ipv4()
            .then(|| o.ipv4_hoa_reply.filter(|r| r.status < 128 && !r.addr.is_unspecified()))
            .flatten();
        let ipv4 = ipv4_reply.map(|r| r.addr);
        let problem = match (uplink_key, hnp.or(b.hnp).is_some() || ipv4.or(b.ipv4).is_some(), pba.lifetime_units) {
            (None, _, _) => Some("the PBA carries no uplink GRE key"),
            (_, false, _) => Some("the PBA assigns no home address"),
            (_, _, 0) => Some("the PBA grants a zero lifetime"),
            _ => None,
        };
        if let Some(problem) = problem {
            return self.teardown(id, EndReason::Incomplete(problem), out);
        }
        let lifetime_ms = u64::from(pba.lifetime_units) * 4000;
        let refresh_ms = lifetime_ms * u64::from(self.config.refresh_at_percent) / 100;
        let Some(b) = self.bules.get_mut(id) else { return };
        b.uplink_key = uplink_key;
        b.hnp = hnp.or(b.hnp);
        b.ipv4 = ipv4.or(b.ipv4);
        if let Some(reply) = ipv4_reply {
            b.ipv4_prefix_len = reply.prefix_len;
        }
        b.link_local = o.link_local.or(b.link_local);
        b.lifetime_units = pba.lifetime_units;
        b.expires_at = now.mono + lifetime_ms;
        b.state = BuleState::Active;
        b.last_seq = pba.seq;
        let waiting = b.waiting_api.take();
        let pdn = b.pdn.clone();
        let lma = b.lma();
        self.touched(id);
        self.sync_fastpath(id, out);
        self.timers.set(MagTimer::Refresh(id), now.mono + refresh_ms);
        self.timers.set(MagTimer::Expiry(id), now.mono + lifetime_ms);
        if kind == ProcedureKind::Register {
            self.counters.event("bindings-established");
            out.push(Output::Event(Event::BindingUp { id, pdn, peer: lma }));
        } else {
            self.counters.event("refreshes");
        }
        if let (Some(api), Some(binding)) = (waiting, self.view(id, now)) {
            out.push(Output::ApiReply { id: api, response: Response::Pdn { binding } });
        }
    }

    /// Installs or modifies the fast-path entry to match the BULE.
    pub(super) fn sync_fastpath(&mut self, id: TunnelId, out: &mut Vec<Output>) {
        let Some(b) = self.bules.get_mut(id) else { return };
        let Some(spec) = b.spec() else { return };
        let update = if b.installed { TunnelUpdate::Modify { id, spec } } else { TunnelUpdate::Install { id, spec } };
        b.fresh_install = !b.installed;
        b.installed = true;
        b.token = self.gate.issue(update, out);
    }

    pub(super) fn start_refresh(&mut self, id: TunnelId, now: Now, out: &mut Vec<Output>) {
        let Some(b) = self.bules.get_mut(id) else { return };
        if b.state != BuleState::Active {
            return;
        }
        b.state = BuleState::Refreshing;
        self.start_procedure(id, ProcedureKind::Refresh, now, out);
    }

    /// `pdn delete`: de-registration PBU; the reply comes when the BULE is gone.
    #[allow(clippy::too_many_arguments)] // the request's fields, as the other API handlers take them
    pub(super) fn delete_by_api(
        &mut self,
        api_id: u64,
        mn_id: &str,
        apn: &str,
        pdn_connection_id: Option<u8>,
        only: Option<PdnType>,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Option<Response> {
        let apn = match Apn::from_dotted(apn) {
            Ok(a) => a,
            Err(e) => return Some(Response::error(format!("apn {apn:?}: {e}"))),
        };
        let pdn = PdnIdent::new(MnId::Nai(mn_id.to_owned()), apn, pdn_connection_id);
        let Some(&id) = self.by_pdn.get(&pdn) else {
            return Some(Response::error(format!("no PDN connection {pdn}")));
        };
        if self.bules.get(id).is_some_and(|b| b.state == BuleState::Deregistering) {
            return Some(Response::error(format!("PDN connection {pdn} is already being deleted")));
        }
        match only {
            None => self.deregister(id, Some(api_id), now, out),
            Some(PdnType::Ipv4v6) => return Some(Response::error("--only names one family: ipv4 or ipv6")),
            Some(family) => return self.release(id, family == PdnType::Ipv4, api_id, now, out),
        }
        None
    }

    /// Selective de-registration (RFC 5844 §3.2.3.3): a lifetime-0 PBU naming only the released family; the
    /// family stops being forwarded at once, as in a de-registration, and the reply comes with the PBA.
    fn release(&mut self, id: TunnelId, ipv4: bool, api_id: u64, now: Now, out: &mut Vec<Output>) -> Option<Response> {
        let b = self.bules.get_mut(id)?;
        if b.state != BuleState::Active || b.procedure.is_some() {
            return Some(Response::error(format!("PDN connection {} is busy: try again", b.pdn)));
        }
        if b.hnp.is_none() || b.ipv4.is_none() {
            return Some(Response::error(format!("PDN connection {} has one family only: delete it instead", b.pdn)));
        }
        b.waiting_api = Some(api_id);
        self.start_procedure(id, ProcedureKind::Release { ipv4 }, now, out);
        let b = self.bules.get_mut(id)?;
        if ipv4 {
            b.ipv4 = None;
            b.pdn_type = PdnType::Ipv6; // refreshes no longer ask for it
        } else {
            b.hnp = None;
            b.link_local = None;
            b.pdn_type = PdnType::Ipv4;
        }
        self.sync_fastpath(id, out);
        self.touched(id);
        self.counters.event("selective-deregistrations");
        None
    }

    /// The end of a selective de-registration: the PDN connection goes on with the family it kept.
    fn released(&mut self, id: TunnelId, text: &str, out: &mut Vec<Output>) {
        self.end_procedure(id);
        let Some(b) = self.bules.get_mut(id) else { return };
        if let Some(api) = b.waiting_api.take() {
            let response = Response::done(format!("PDN connection {}: {text}", b.pdn));
            out.push(Output::ApiReply { id: api, response });
        }
    }

    /// Sends the de-registration PBU and stops forwarding at once.
    pub fn deregister(&mut self, id: TunnelId, api_id: Option<u64>, now: Now, out: &mut Vec<Output>) {
        let Some(b) = self.bules.get_mut(id) else { return };
        if let Some(waiting) = b.waiting_api.take() {
            let response = Response::error("the PDN connection was deleted before the LMA answered");
            out.push(Output::ApiReply { id: waiting, response });
        }
        b.waiting_api = api_id;
        b.state = BuleState::Deregistering;
        self.touched(id);
        let Some(b) = self.bules.get_mut(id) else { return };
        if b.installed {
            b.installed = false;
            b.token = self.gate.issue(TunnelUpdate::Remove { id }, out);
        }
        self.timers.cancel(&MagTimer::Refresh(id));
        self.timers.cancel(&MagTimer::Expiry(id));
        self.start_procedure(id, ProcedureKind::Deregister, now, out);
    }

    /// Removes a BULE with everything it holds: fast-path entry, downlink key, timers, outstanding PBU.
    pub(super) fn teardown(&mut self, id: TunnelId, reason: EndReason, out: &mut Vec<Output>) {
        self.end_procedure(id);
        self.touched(id);
        let Some(b) = self.bules.remove(id) else { return };
        self.by_pdn.remove(&b.pdn);
        if b.installed {
            self.gate.issue(TunnelUpdate::Remove { id }, out);
        }
        self.downlink_keys.release(b.downlink_key);
        self.heartbeats.binding_removed(b.lma());
        self.timers.cancel(&MagTimer::Refresh(id));
        self.timers.cancel(&MagTimer::Expiry(id));
        if let Some(api) = b.waiting_api {
            let response = match reason {
                EndReason::Deregistered => Response::done(format!("PDN connection {} deleted", b.pdn)),
                ref other => Response::error(reason_text(other)),
            };
            out.push(Output::ApiReply { id: api, response });
        }
        self.counters.event("bindings-deleted");
        out.push(Output::Event(Event::BindingDown { id, pdn: b.pdn, reason }));
    }

    /// RFC 5846 §9.1: answer every BRI with a BRA (P, V, G and the sequence number copied).
    pub(super) fn on_bri(&mut self, header: &FrameHeader, bri: &BriRepr, _now: Now, out: &mut Vec<Output>) {
        let status = self.revoke(header.src, bri, out);
        let flags = BrFlags(bri.flags.0 & (BrFlags::P.0 | BrFlags::V.0 | BrFlags::G.0));
        let bra = BraRepr { status, seq: bri.seq, flags, options: MhOptions::default() };
        out.push(Output::Send { header: header.reply(), msg: MhRepr::Bra(bra) });
    }

    /// Carries a BRI out; returns the BRA status.
    ///
    /// Decision: for the handover triggers (2/3/4) RFC 5846 §9.1 has the MAG answer 132 while the MN is still
    /// attached. In TS 29.275 the MME, not the MAG, knows where the UE is, and it moved the UE before the LMA
    /// sent this; the MAG therefore trusts the LMA and releases the binding.
    fn revoke(&mut self, lma: IpAddr, bri: &BriRepr, out: &mut Vec<Output>) -> BraStatus {
        if !bri.flags.contains(BrFlags::P) {
            return BraStatus::BINDING_DOES_NOT_EXIST; // no MIPv6 (non-proxy) bindings here
        }
        let with_lma = |b: &Bule| b.lma() == lma;
        let victims: Vec<TunnelId> = if bri.flags.contains(BrFlags::G) {
            match bri.trigger {
                RevocationTrigger::PER_PEER_POLICY => {
                    self.bules.iter().filter(|(_, b)| with_lma(b)).map(|(id, _)| id).collect()
                }
                RevocationTrigger::REVOKING_MOBILITY_NODE_LOCAL_POLICY => {
                    let realm = match &bri.options.mn_id {
                        Some(MnId::Nai(nai)) => nai.strip_prefix('@').or_else(|| nai.rsplit_once('@').map(|(_, r)| r)),
                        _ => None,
                    };
                    let Some(realm) = realm.filter(|r| !r.is_empty()) else {
                        return BraStatus::MN_IDENTITY_REQUIRED;
                    };
                    let in_realm = |m: &MnId| matches!(m, MnId::Nai(n) if n.rsplit_once('@').is_some_and(|(_, r)| r.eq_ignore_ascii_case(realm)));
                    self.bules.iter().filter(|(_, b)| with_lma(b) && in_realm(&b.pdn.mn_id)).map(|(id, _)| id).collect()
                }
                _ => return BraStatus::TRIGGER_NOT_SUPPORTED,
            }
        } else {
            if bri.trigger.0 >= 128 {
                return BraStatus::REVOCATION_FUNCTION_NOT_SUPPORTED; // a global trigger without G
            }
            if bri.trigger.0 > RevocationTrigger::POSSIBLE_OUT_OF_SYNC_BCE_STATE.0 {
                return BraStatus::TRIGGER_NOT_SUPPORTED;
            }
            let Some(mn_id) = bri.options.mn_id.as_ref() else { return BraStatus::MN_IDENTITY_REQUIRED };
            let o = &bri.options;
            let ids: Vec<TunnelId> = self
                .bules
                .iter()
                .filter(|(_, b)| with_lma(b) && &b.pdn.mn_id == mn_id)
                .filter(|(_, b)| o.hnps.is_empty() || b.hnp.is_some_and(|h| o.hnps.iter().any(|p| p.addr == h)))
                .filter(|(_, b)| {
                    !o.hnps.is_empty()
                        || o.ipv4_hoa_reqs.is_empty()
                        || b.ipv4.is_some_and(|a| o.ipv4_hoa_reqs.iter().any(|r| r.addr == a))
                })
                .map(|(id, _)| id)
                .collect();
            if ids.is_empty() {
                return BraStatus::BINDING_DOES_NOT_EXIST;
            }
            if bri.flags.contains(BrFlags::V) {
                return self.revoke_ipv4_only(&ids, out);
            }
            ids
        };
        self.counters.event("bindings-revoked");
        for id in victims {
            self.teardown(id, EndReason::Revoked(None), out);
        }
        BraStatus::SUCCESS
    }

    /// V = 1 (RFC 5846 §9.1): release only the IPv4 home address; a binding left without any address goes.
    fn revoke_ipv4_only(&mut self, ids: &[TunnelId], out: &mut Vec<Output>) -> BraStatus {
        let with_v4: Vec<TunnelId> =
            ids.iter().copied().filter(|&id| self.bules.get(id).is_some_and(|b| b.ipv4.is_some())).collect();
        if with_v4.is_empty() {
            return BraStatus::BINDING_DOES_NOT_EXIST;
        }
        for id in with_v4 {
            let Some(b) = self.bules.get_mut(id) else { continue };
            b.ipv4 = None;
            b.pdn_type = PdnType::Ipv6; // refreshes no longer ask for IPv4
            if b.hnp.is_some() {
                self.sync_fastpath(id, out);
                self.touched(id);
            } else {
                self.teardown(id, EndReason::Revoked(None), out);
            }
        }
        BraStatus::SUCCESS
    }
}
