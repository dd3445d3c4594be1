//! Timestamp option value (RFC 5213 §8.8): 48-bit seconds since 1970-01-01T00:00Z and a 16-bit fraction
//! of a second (1/65536 s). This is *not* the NTP 32.32 / 1900 format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_MAX: u64 = (1 << 48) - 1;

/// A 64-bit PMIPv6 timestamp, kept as its raw wire value so it round-trips and compares exactly
/// (the LMA orders PBUs by comparing these values, RFC 5213 §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Builds a timestamp from whole seconds since 1970 (saturated to 48 bits) and a 1/65536 s fraction.
    pub fn from_parts(secs: u64, frac: u16) -> Self {
        Timestamp((secs.min(SECS_MAX) << 16) | u64::from(frac))
    }

    /// Whole seconds since 1970 (the upper 48 bits).
    pub fn secs(self) -> u64 {
        self.0 >> 16
    }

    /// Fraction of a second in 1/65536 s units (the lower 16 bits).
    pub fn frac(self) -> u16 {
        self.0 as u16
    }

    /// Time since the Unix epoch. The fraction is rounded up to the next nanosecond so that
    /// `from_duration_since_epoch(t.to_duration_since_epoch()) == t` holds for every `t`.
    pub fn to_duration_since_epoch(self) -> Duration {
        let nanos = (u64::from(self.frac()) * 1_000_000_000).div_ceil(65_536);
        Duration::new(self.secs(), nanos as u32)
    }

    /// Timestamp for a time since the Unix epoch; the fraction is truncated, seconds saturate at 2^48 - 1.
    pub fn from_duration_since_epoch(d: Duration) -> Self {
        let frac = (u64::from(d.subsec_nanos()) << 16) / 1_000_000_000;
        Self::from_parts(d.as_secs(), frac as u16)
    }

    /// Timestamp for a wall-clock time; times before 1970 map to zero (no PMIPv6 peer can mean them).
    pub fn from_system_time(t: SystemTime) -> Self {
        Self::from_duration_since_epoch(t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO))
    }

    /// The wall-clock time this timestamp denotes.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + self.to_duration_since_epoch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_value_is_2024_plus_half_second() {
        // V1: 0x0000659200808000 = 1704067200 s (2024-01-01T00:00:00Z) + 0x8000/65536 = 0.5 s.
        let ts = Timestamp(0x0000_6592_0080_8000);
        assert_eq!(ts.secs(), 1_704_067_200);
        assert_eq!(ts.to_duration_since_epoch(), Duration::new(1_704_067_200, 500_000_000));
        assert_eq!(Timestamp::from_duration_since_epoch(Duration::new(1_704_067_200, 500_000_000)), ts);
    }

    #[test]
    fn system_time_round_trip_every_fraction() {
        for frac in 0..=u16::MAX {
            let ts = Timestamp::from_parts(1_704_067_200, frac);
            assert_eq!(Timestamp::from_system_time(ts.to_system_time()), ts, "frac {frac}");
        }
    }

    #[test]
    fn saturates() {
        assert_eq!(Timestamp::from_parts(u64::MAX, 7).secs(), SECS_MAX);
        assert_eq!(Timestamp::from_system_time(UNIX_EPOCH - Duration::from_secs(5)), Timestamp(0));
    }
}
