//! Time as the state machines see it: a monotonic millisecond count for timers and a wall clock for PMIPv6
//! timestamps (RFC 5213 §5.5), both handed in by the caller. Tests drive a virtual clock; the gateway uses
//! [`SystemClock`].

use crate::wire::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A point on the monotonic clock, in milliseconds since an arbitrary origin (process start, or 0 in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Millis(pub u64);

impl Millis {
    /// Milliseconds from `earlier` to `self`, 0 if `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<u64> for Millis {
    type Output = Millis;
    fn add(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl Sub<Millis> for Millis {
    type Output = u64;
    fn sub(self, rhs: Millis) -> u64 {
        self.since(rhs)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// The current time for one call into a state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time: timers, lifetimes, retransmissions.
    pub mono: Millis,
    /// Wall-clock time since the Unix epoch: the Timestamp option and its validity window.
    pub wall: Duration,
}

impl Now {
    /// A virtual time whose wall clock is `wall_origin` plus the monotonic time (what simulations use).
    pub fn virtual_at(mono: Millis, wall_origin: Duration) -> Now {
        Now { mono, wall: wall_origin + Duration::from_millis(mono.0) }
    }

    /// The wall clock as a PMIPv6 timestamp.
    pub fn timestamp(&self) -> Timestamp {
        Timestamp::from_duration_since_epoch(self.wall)
    }
}

/// The real clock: monotonic time since construction and the system wall clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock { origin: Instant::now() }
    }

    /// The current time.
    pub fn now(&self) -> Now {
        let mono = Millis(self.origin.elapsed().as_millis().min(u128::from(u64::MAX)) as u64);
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Now { mono, wall }
    }

    /// How long from now until `deadline` (zero if it has passed): the I/O loop's poll timeout.
    pub fn until(&self, deadline: Millis) -> Duration {
        Duration::from_millis(deadline.since(self.now().mono))
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Signed difference `a - b` in microseconds between two timestamps (saturating).
pub fn timestamp_diff_us(a: Timestamp, b: Timestamp) -> i64 {
    let to_us = |t: Timestamp| -> i128 { t.to_duration_since_epoch().as_micros() as i128 };
    (to_us(a) - to_us(b)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_wall_clock_follows_monotonic() {
        let origin = Duration::from_secs(1_704_067_200);
        let now = Now::virtual_at(Millis(1500), origin);
        assert_eq!(now.timestamp(), Timestamp::from_parts(1_704_067_201, 0x8000));
        assert_eq!(Millis(5) - Millis(9), 0);
        assert_eq!(Millis(9) - Millis(5), 4);
    }

    #[test]
    fn timestamp_difference_is_signed() {
        let a = Timestamp::from_parts(100, 0);
        let b = Timestamp::from_parts(100, 0x8000);
        assert_eq!(timestamp_diff_us(b, a), 500_000);
        assert_eq!(timestamp_diff_us(a, b), -500_000);
    }
}
