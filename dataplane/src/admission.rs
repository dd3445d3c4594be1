//! Admission of signalling to the control thread, per peer: a storm of PBUs from one MAG (a whole S-GW coming
//! back) must cost that MAG its excess, never another MAG its PBUs.
//!
//! Each worker keeps a token bucket per source address of the signalling it punts (Mobility Header, and UDP
//! 5436 or IPv6-in-IPv4 carrying one: RFC 5844, TS 29.275 §6.1): `rate` messages per second in bursts of up to
//! `burst`. What a peer sends beyond that is dropped in the worker, before the punt queue, and counted for that
//! peer (`signalling-rate-limited`), so the queue holds only what every peer is allowed and the control thread
//! answers each within its share. The table is sized at start; once every entry is taken, further sources share
//! one overflow bucket (addresses nobody configured cannot crowd out the peers). The counters are atomics the
//! control thread reads for `pmipctl peers` and `/metrics`.

use crate::counters::Counter;
use crate::wire::ethernet;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// Signalling peers a worker tells apart.
pub const MAX_PEERS: usize = 1024;
/// Entries a source address may land in: its hash and the next ones.
const PROBE: usize = 8;

/// How much signalling each peer may send (per worker: a peer's tunnels and signalling reach one worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Messages per second; 0 admits everything.
    pub rate: u32,
    /// Messages admitted at once after a quiet spell.
    pub burst: u32,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig { rate: 10_000, burst: 1_000 }
    }
}

/// One peer's entry: its address (written once, before `family` says the entry is taken), its bucket and its
/// counts.
#[derive(Debug, Default)]
struct Entry {
    /// 0: free; 4 or 6: taken by an address of that family.
    family: AtomicU8,
    address: [AtomicU64; 2],
    /// When the next message would be due at exactly `rate` (a token bucket in one number); the worker's own.
    due: AtomicU64,
    admitted: Counter,
    limited: Counter,
}

impl Entry {
    fn address(&self) -> Option<IpAddr> {
        let bits = u128::from(self.address[0].load(Ordering::Relaxed)) << 64
            | u128::from(self.address[1].load(Ordering::Relaxed));
        match self.family.load(Ordering::Acquire) {
            4 => Some(Ipv4Addr::from(bits as u32).into()),
            6 => Some(Ipv6Addr::from(bits).into()),
            _ => None,
        }
    }
}

/// A worker's per-peer admission table, shared read-only with the control thread for its counters.
#[derive(Debug)]
pub struct Admission {
    entries: Box<[Entry]>,
    overflow: Entry,
    hasher: RandomState,
    /// Nanoseconds between messages at the sustained rate (0: no limit), and how far ahead of the clock the due
    /// time may run (the burst).
    interval: u64,
    slack: u64,
}

/// One peer's counts, as the control thread reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAdmission {
    /// `None`: the overflow bucket shared by the sources that found no entry.
    pub address: Option<IpAddr>,
    pub admitted: u64,
    pub limited: u64,
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Arc<Self> {
        let interval = if config.rate == 0 { 0 } else { 1_000_000_000 / u64::from(config.rate) };
        let burst = u64::from(config.burst.max(1));
        Arc::new(Admission {
            entries: (0..MAX_PEERS).map(|_| Entry::default()).collect(),
            overflow: Entry::default(),
            hasher: RandomState::new(),
            interval,
            slack: interval * (burst - 1),
        })
    }

    /// Whether the signalling `frame` (Ethernet, then IPv4 or IPv6 from the peer) may go to the control thread at
    /// `now` (nanoseconds), counted for its source. Only the owning worker calls this.
    pub fn admit(&self, frame: &[u8], now: u64) -> bool {
        let entry = self.entry(source(frame));
        let admitted = self.take(entry, now);
        if admitted {
            entry.admitted.add(1);
        } else {
            entry.limited.add(1);
        }
        admitted
    }

    fn take(&self, entry: &Entry, now: u64) -> bool {
        if self.interval == 0 {
            return true;
        }
        let due = entry.due.load(Ordering::Relaxed).max(now);
        if due - now > self.slack {
            return false;
        }
        entry.due.store(due + self.interval, Ordering::Relaxed);
        true
    }

    /// The source's entry: the one it has, a free one it takes, or the overflow bucket.
    fn entry(&self, source: Option<(u8, u128)>) -> &Entry {
        let Some((family, bits)) = source else { return &self.overflow };
        let start = self.hasher.hash_one((family, bits)) as usize;
        for i in 0..PROBE {
            let entry = &self.entries[start.wrapping_add(i) % MAX_PEERS];
            match entry.family.load(Ordering::Relaxed) {
                0 => {
                    entry.address[0].store((bits >> 64) as u64, Ordering::Relaxed);
                    entry.address[1].store(bits as u64, Ordering::Relaxed);
                    entry.family.store(family, Ordering::Release);
                    return entry;
                }
                f if f == family
                    && entry.address[0].load(Ordering::Relaxed) == (bits >> 64) as u64
                    && entry.address[1].load(Ordering::Relaxed) == bits as u64 =>
                {
                    return entry
                }
                _ => {}
            }
        }
        &self.overflow
    }

    /// Every peer seen so far and the overflow bucket (if used), with their counts. Any thread.
    pub fn peers(&self) -> Vec<PeerAdmission> {
        let count = |entry: &Entry, address| PeerAdmission {
            address,
            admitted: entry.admitted.get(),
            limited: entry.limited.get(),
        };
        let mut peers: Vec<PeerAdmission> =
            self.entries.iter().filter_map(|e| e.address().map(|a| count(e, Some(a)))).collect();
        if self.overflow.admitted.get() + self.overflow.limited.get() != 0 {
            peers.push(count(&self.overflow, None));
        }
        peers
    }
}

/// The outer source address of a frame: (4, IPv4 bits) or (6, IPv6 bits).
fn source(frame: &[u8]) -> Option<(u8, u128)> {
    let ethertype = crate::wire::array_at::<2>(frame, 12).map(|b| u16::from_be_bytes(*b))?;
    match ethertype {
        ethernet::ETHERTYPE_IPV4 => {
            let bytes = crate::wire::array_at::<4>(frame, ethernet::HEADER_LEN + 12)?;
            Some((4, u128::from(u32::from_be_bytes(*bytes))))
        }
        ethernet::ETHERTYPE_IPV6 => {
            let bytes = crate::wire::array_at::<16>(frame, ethernet::HEADER_LEN + 8)?;
            Some((6, u128::from_be_bytes(*bytes)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_from(src: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![0u8; 34];
        frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        frame[26..30].copy_from_slice(&src);
        frame
    }

    #[test]
    fn a_storm_from_one_peer_costs_only_that_peer() {
        let admission = Admission::new(AdmissionConfig { rate: 1000, burst: 10 });
        let (storm, quiet) = (frame_from([192, 0, 2, 1]), frame_from([192, 0, 2, 2]));
        // 10,000 messages from one peer at one instant, one from the other every 100.
        let mut quiet_admitted = 0;
        let mut storm_admitted = 0;
        for i in 0..10_000u64 {
            storm_admitted += u64::from(admission.admit(&storm, 1_000));
            if i % 100 == 0 {
                quiet_admitted += u64::from(admission.admit(&quiet, 1_000));
            }
        }
        assert_eq!(storm_admitted, 10, "the burst, then nothing until time passes");
        assert_eq!(quiet_admitted, 10, "the quiet peer's own burst");
        // A millisecond later each may send one more.
        assert!(admission.admit(&storm, 1_000 + 1_000_000));
        let peers = admission.peers();
        let storm_peer = peers.iter().find(|p| p.address == Some("192.0.2.1".parse().unwrap())).unwrap();
        assert_eq!((storm_peer.admitted, storm_peer.limited), (11, 9_990));
        let quiet_peer = peers.iter().find(|p| p.address == Some("192.0.2.2".parse().unwrap())).unwrap();
        assert_eq!((quiet_peer.admitted, quiet_peer.limited), (10, 90));
    }

    #[test]
    fn rate_zero_admits_everything_and_unknown_sources_share_the_overflow_bucket() {
        let admission = Admission::new(AdmissionConfig { rate: 0, burst: 1 });
        for _ in 0..1000 {
            assert!(admission.admit(&frame_from([192, 0, 2, 1]), 0));
        }
        let limited = Admission::new(AdmissionConfig { rate: 1, burst: 1 });
        // More distinct sources than entries: the table fills, the rest share one bucket.
        let mut admitted = 0;
        for i in 0..(MAX_PEERS as u32 * 2) {
            let src = (0x0a00_0000 + i).to_be_bytes();
            admitted += u32::from(limited.admit(&frame_from(src), 0));
        }
        let peers = limited.peers();
        assert!(peers.len() <= MAX_PEERS + 1);
        let overflow = peers.iter().find(|p| p.address.is_none()).expect("the overflow bucket was used");
        assert_eq!(overflow.admitted, 1, "one burst for all of them");
        assert_eq!(admitted as usize, peers.len(), "one each for the peers with an entry, one for the rest");
    }
}
