//! Binding Revocation as initiator (RFC 5846 §8.1): LMA-initiated deletion of a binding, and the notice to the
//! previous MAG after a handover. BRIs are retransmitted after InitMINDelayBRIs, the delay doubling up to
//! MAX_BRACK_TIMEOUT, at most BRIMaxRetriesNumber times; a deletion cleans up on the BRA or when retries run out.

use super::store::BceState;
use super::{Lma, LmaTimer};
use crate::api::Response;
use crate::fastpath::TunnelId;
use crate::machine::{EndReason, Output};
use crate::names::trigger_name;
use crate::time::Now;
use crate::transport::FrameHeader;
use crate::wire::{BrFlags, BraRepr, BriRepr, Ipv4HoaRequest, Ipv6Prefix, MhOptions, MhRepr, RevocationTrigger};

/// One outstanding BRI.
#[derive(Debug, Clone)]
pub(super) struct Revocation {
    /// The BCE to delete when it completes; None for a notice to a previous MAG (the BCE lives on elsewhere).
    pub target: Option<TunnelId>,
    pub header: FrameHeader,
    pub bri: BriRepr,
    pub retries_left: u32,
    pub delay_ms: u64,
}

impl Lma {
    /// LMA-initiated deletion of `ids` (API `binding revoke`).
    pub(super) fn revoke(
        &mut self,
        ids: &[TunnelId],
        trigger: RevocationTrigger,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Response {
        let mut started = Vec::new();
        for &id in ids {
            let Some(b) = self.cache.get(id) else { continue };
            if b.state != BceState::Active {
                continue;
            }
            let path = b.path;
            if let Some(seq) = self.start_revocation(Some(id), path, id, trigger, now, out) {
                if let Some(b) = self.cache.get_mut(id) {
                    b.state = BceState::Revoking { seq };
                }
                started.push(id.0.to_string());
            }
        }
        if started.is_empty() {
            return Response::error(
                "no active binding to revoke among those selected (already de-registered or being revoked)",
            );
        }
        Response::done(format!(
            "revoking binding(s) {} with trigger {}; they are deleted on the BRA or after the last retransmission",
            started.join(", "),
            trigger_name(trigger)
        ))
    }

    /// Tells the MAG at `path` that it lost binding `id` (RFC 5846 §8.1 after a handover).
    pub(super) fn revoke_path(
        &mut self,
        path: FrameHeader,
        id: TunnelId,
        trigger: RevocationTrigger,
        now: Now,
        out: &mut Vec<Output>,
    ) {
        self.counters.event("handover-revocations");
        self.start_revocation(None, path, id, trigger, now, out);
    }

    /// Sends a BRI naming binding `about` to `path`; returns its sequence number.
    fn start_revocation(
        &mut self,
        target: Option<TunnelId>,
        path: FrameHeader,
        about: TunnelId,
        trigger: RevocationTrigger,
        now: Now,
        out: &mut Vec<Output>,
    ) -> Option<u16> {
        let b = self.cache.get(about)?;
        // P = 1 with the MN-ID, and the HNP / IPv4 HoA Request naming this PDN connection among the MN's others.
        let options = MhOptions {
            mn_id: Some(b.pdn.mn_id.clone()),
            hnps: b.hnp.map(|addr| Ipv6Prefix { addr, len: 64 }).into_iter().collect(),
            ipv4_hoa_reqs: b.ipv4.map(|addr| Ipv4HoaRequest { prefix_len: 32, addr }).into_iter().collect(),
            ..Default::default()
        };
        let seq = self.next_bri_seq()?;
        let bri = BriRepr { trigger, seq, flags: BrFlags::P, options };
        let delay_ms = self.config.revocation.init_min_delay_ms;
        out.push(Output::Send { header: path, msg: MhRepr::Bri(bri.clone()) });
        let retries_left = self.config.revocation.max_retries;
        self.revocations.insert(seq, Revocation { target, header: path, bri, retries_left, delay_ms });
        self.timers.set(LmaTimer::Bri(seq), now.mono + delay_ms);
        Some(seq)
    }

    /// A sequence number no outstanding BRI uses (RFC 5846 §6.1).
    fn next_bri_seq(&mut self) -> Option<u16> {
        for _ in 0..=u16::MAX {
            let seq = self.next_bri_seq;
            self.next_bri_seq = self.next_bri_seq.wrapping_add(1);
            if !self.revocations.contains_key(&seq) {
                return Some(seq);
            }
        }
        None
    }

    pub(super) fn on_bri_timer(&mut self, seq: u16, now: Now, out: &mut Vec<Output>) {
        let max_delay = self.config.revocation.max_brack_timeout_ms;
        let Some(r) = self.revocations.get_mut(&seq) else { return };
        if r.retries_left > 0 {
            r.retries_left -= 1;
            r.delay_ms = (r.delay_ms * 2).min(max_delay);
            out.push(Output::Send { header: r.header, msg: MhRepr::Bri(r.bri.clone()) });
            let at = now.mono + r.delay_ms;
            self.counters.event("bri-retransmissions");
            self.timers.set(LmaTimer::Bri(seq), at);
            return;
        }
        self.counters.event("bri-timeouts");
        if let Some(r) = self.revocations.remove(&seq) {
            if let Some(id) = r.target {
                self.delete(id, EndReason::Revoked(None), out);
            }
        }
    }

    pub(super) fn on_bra(&mut self, header: &FrameHeader, bra: &BraRepr, _now: Now, out: &mut Vec<Output>) {
        let matches = self.revocations.get(&bra.seq).is_some_and(|r| r.header.dst == header.src);
        if !matches {
            return self.ignore(header.src, "BRA matching no outstanding BRI", out);
        }
        self.timers.cancel(&LmaTimer::Bri(bra.seq));
        if let Some(Revocation { target: Some(id), .. }) = self.revocations.remove(&bra.seq) {
            self.delete(id, EndReason::Revoked(Some(bra.status)), out);
        }
    }

    /// Forgets the deletion revocation of `id` (the binding ended some other way).
    pub(super) fn end_revocations_of(&mut self, id: TunnelId) {
        let seqs: Vec<u16> = self.revocations.iter().filter(|(_, r)| r.target == Some(id)).map(|(s, _)| *s).collect();
        for seq in seqs {
            self.revocations.remove(&seq);
            self.timers.cancel(&LmaTimer::Bri(seq));
        }
    }
}
