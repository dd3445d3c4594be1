//! How long binding exchanges take, for the `signalling_latency` histogram.
//!
//! One rule serves both roles, because an LMA only receives PBUs and a MAG only sends them: a PBU starts an
//! exchange keyed by (peer, sequence number) — received on an LMA, first sent on a MAG — and the PBA with that
//! sequence number to or from that peer ends it. A retransmitted PBU keeps its exchange's first start, so a MAG
//! measures what its UE waits. Exchanges that never end (a PBU dropped by admission, a peer gone) are forgotten
//! after [`FORGET_AFTER`], and at most [`MAX_OPEN`] are followed at once, so an attach storm cannot grow this.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use controlplane::api::LatencyHistogram;
use controlplane::wire::MhRepr;

/// Longer than a MAG's whole retransmission schedule (RFC 5213 §8.3 leaves it to the MAG; ours ends in seconds).
pub const FORGET_AFTER: Duration = Duration::from_secs(30);

/// Exchanges followed at once: beyond it, new ones go unmeasured until old ones end or are forgotten.
pub const MAX_OPEN: usize = 65_536;

/// How often [`SignallingLatency::sweep`] looks for exchanges to forget.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct SignallingLatency {
    open: HashMap<(IpAddr, u16), Instant>,
    last_sweep: Option<Instant>,
    pub histogram: LatencyHistogram,
}

impl SignallingLatency {
    /// Forgets exchanges older than [`FORGET_AFTER`]; cheap to call often (it looks at most once a second).
    pub fn sweep(&mut self, now: Instant) {
        if self.last_sweep.is_some_and(|last| now.duration_since(last) < SWEEP_EVERY) {
            return;
        }
        self.last_sweep = Some(now);
        self.open.retain(|_, started| now.duration_since(*started) < FORGET_AFTER);
    }

    /// A message to or from `peer`: a PBU starts an exchange, a PBA ends one; nothing else counts.
    pub fn saw(&mut self, peer: IpAddr, msg: &MhRepr, now: Instant) {
        match msg {
            MhRepr::Pbu(pbu) => self.start(peer, pbu.seq, now),
            MhRepr::Pba(pba) => self.end(peer, pba.seq, now),
            _ => {}
        }
    }

    /// A PBU to or from `peer`.
    fn start(&mut self, peer: IpAddr, seq: u16, now: Instant) {
        if self.open.len() >= MAX_OPEN {
            self.open.retain(|_, started| now.duration_since(*started) < FORGET_AFTER);
            if self.open.len() >= MAX_OPEN {
                return;
            }
        }
        self.open.entry((peer, seq)).or_insert(now);
    }

    /// A PBA to or from `peer`: ends the exchange its sequence number names, if one is open.
    fn end(&mut self, peer: IpAddr, seq: u16, now: Instant) {
        if let Some(started) = self.open.remove(&(peer, seq)) {
            let us = now.duration_since(started).as_micros();
            self.histogram.observe(u64::try_from(us).unwrap_or(u64::MAX));
        }
    }

    /// Exchanges started and not yet ended or forgotten.
    pub fn open(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);

    #[test]
    fn a_pba_ends_the_exchange_its_pbu_started_and_a_retransmission_keeps_the_first_start() {
        let t0 = Instant::now();
        let mut l = SignallingLatency::default();
        l.start(PEER, 7, t0);
        l.start(PEER, 7, t0 + Duration::from_millis(1)); // retransmitted
        l.end(PEER, 8, t0 + Duration::from_millis(2)); // another exchange: nothing
        l.end("192.0.2.1".parse().unwrap(), 7, t0 + Duration::from_millis(2)); // another peer: nothing
        assert_eq!(l.histogram.count(), 0);
        l.end(PEER, 7, t0 + Duration::from_millis(3));
        assert_eq!((l.histogram.count(), l.histogram.sum_us, l.open()), (1, 3_000, 0));
        l.end(PEER, 7, t0 + Duration::from_millis(4)); // a second PBA for it: already ended
        assert_eq!(l.histogram.count(), 1);
    }

    #[test]
    fn open_exchanges_are_bounded_and_old_ones_forgotten() {
        let t0 = Instant::now();
        let mut l = SignallingLatency::default();
        for i in 0..MAX_OPEN {
            l.start(IpAddr::V4(std::net::Ipv4Addr::from(i as u32)), 1, t0);
        }
        l.start(PEER, 1, t0 + Duration::from_secs(1));
        assert_eq!(l.open(), MAX_OPEN, "full: the new one is not followed");
        l.start(PEER, 1, t0 + FORGET_AFTER);
        assert_eq!(l.open(), 1, "the old ones are forgotten to make room");
        l.sweep(t0 + FORGET_AFTER);
        assert_eq!(l.open(), 1, "younger than FORGET_AFTER: kept");
        l.sweep(t0 + FORGET_AFTER * 2);
        assert_eq!(l.open(), 0, "and forgotten in time without a new start");
    }
}
