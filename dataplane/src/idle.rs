//! What a poll loop does when its queues are empty, and when it gives up waiting for traffic.
//!
//! Spinning gives the lowest latency on dedicated cores; sleeping after a run of empty polls lets several
//! gateway processes (or a gateway and its tests) share a small machine. The idle-exit limit makes pcap-driven
//! runs end by themselves once their input is consumed.

use std::time::Duration;

/// Behaviour of a poll loop with nothing to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Never yield the core.
    Spin,
    /// Sleep `sleep` after `empty_polls` consecutive empty polls.
    Sleep { empty_polls: u32, sleep: Duration },
}

/// Per-loop idle bookkeeping. Cheap to call on every poll: only empty polls read the clock.
pub struct Idler {
    policy: IdlePolicy,
    empty_streak: u32,
    exit_after_cycles: Option<u64>,
    last_traffic_cycles: u64,
}

impl Idler {
    /// `exit_when_idle`: stop once no packet has arrived for this long; `cycles_per_second` converts it to TSC
    /// cycles and `now_cycles` starts the clock.
    pub fn new(policy: IdlePolicy, exit_when_idle: Option<Duration>, cycles_per_second: u64, now_cycles: u64) -> Self {
        let exit_after_cycles =
            exit_when_idle.map(|d| (d.as_nanos().saturating_mul(cycles_per_second as u128) / 1_000_000_000) as u64);
        Idler { policy, empty_streak: 0, exit_after_cycles, last_traffic_cycles: now_cycles }
    }

    /// Records a poll round that moved `packets` packets. Returns `true` when the loop should exit because it
    /// has been idle for longer than the configured limit.
    #[inline]
    pub fn after_poll(&mut self, packets: usize, now_cycles: impl FnOnce() -> u64) -> bool {
        if packets != 0 {
            self.empty_streak = 0;
            // Reading the TSC only when the loop goes idle keeps the busy path free of it.
            self.last_traffic_cycles = 0;
            return false;
        }
        let now = now_cycles();
        if self.last_traffic_cycles == 0 {
            self.last_traffic_cycles = now;
        }
        self.empty_streak = self.empty_streak.saturating_add(1);
        if let IdlePolicy::Sleep { empty_polls, sleep } = self.policy {
            if self.empty_streak >= empty_polls {
                std::thread::sleep(sleep);
            }
        }
        matches!(self.exit_after_cycles, Some(limit) if now.saturating_sub(self.last_traffic_cycles) >= limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_only_after_the_idle_limit_without_traffic() {
        // 1000 cycles per second, 2 s limit, started at cycle 1000: no traffic at all counts from the start.
        let mut idler = Idler::new(IdlePolicy::Spin, Some(Duration::from_secs(2)), 1000, 1000);
        assert!(!idler.after_poll(0, || 1500));
        assert!(!idler.after_poll(0, || 2999));
        assert!(idler.after_poll(0, || 3000), "2 s after the start");
        // Traffic resets the clock: the limit then counts from the first idle poll after it.
        assert!(!idler.after_poll(5, || unreachable!("busy polls do not read the clock")));
        assert!(!idler.after_poll(0, || 10_000));
        assert!(!idler.after_poll(0, || 11_999));
        assert!(idler.after_poll(0, || 12_000));
    }

    #[test]
    fn never_exits_without_a_limit() {
        let mut idler = Idler::new(IdlePolicy::Spin, None, 1000, 1);
        assert!(!idler.after_poll(0, || u64::MAX / 2));
    }
}
