//! Hybrid logical clocks: wall time in milliseconds, a counter, and the device id.
//!
//! A timestamp orders first by wall time, then by counter, then by device id, so
//! every two timestamps from different devices compare unequal. The clock never
//! goes backwards: when the wall clock jumps back, the counter grows instead.

use std::fmt;
use std::str::FromStr;

use crate::ids::DeviceId;

/// The largest wall time a timestamp may carry: 2^53 - 1 ms (about the year 287,000).
///
/// Every timestamp read from the wire is at most this, and a clock never moves past it,
/// so one more event can never leave the range that every reader (and SQLite's 64-bit
/// integers) holds exactly.
pub const MAX_MS: u64 = (1 << 53) - 1;

/// One hybrid logical clock timestamp; totally ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hlc {
    /// Wall-clock milliseconds since the Unix epoch, as the writer saw them (or later).
    pub ms: u64,
    /// Logical counter that orders events within one millisecond.
    pub counter: u32,
    /// The device (or office actor) that made the timestamp; breaks ties.
    pub device: DeviceId,
}

impl Hlc {
    /// A timestamp from its three parts.
    pub fn new(ms: u64, counter: u32, device: DeviceId) -> Self {
        Self {
            ms,
            counter,
            device,
        }
    }

    /// Whether this timestamp lies more than `max_skew_ms` ahead of `reference_ms`.
    ///
    /// The server uses this to refuse ops from a phone whose clock runs ahead, so
    /// that such a phone cannot win every later last-writer-wins edit.
    pub fn is_too_far_ahead(&self, reference_ms: u64, max_skew_ms: u64) -> bool {
        self.ms > reference_ms.saturating_add(max_skew_ms)
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}@{}", self.ms, self.counter, self.device)
    }
}

/// Why a timestamp string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected \"<ms>.<counter>@<device uuid>\"")]
pub struct HlcParseError(pub String);

impl FromStr for Hlc {
    type Err = HlcParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HlcParseError(s.chars().take(80).collect());
        let (time, device) = s.split_once('@').ok_or_else(err)?;
        let (ms, counter) = time.split_once('.').ok_or_else(err)?;
        if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        if counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let ms: u64 = ms.parse().map_err(|_| err())?;
        if ms > MAX_MS {
            return Err(err());
        }
        Ok(Hlc {
            ms,
            counter: counter.parse().map_err(|_| err())?,
            device: device.parse().map_err(|_| err())?,
        })
    }
}

impl serde::Serialize for Hlc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Hlc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The clock of one device: hands out increasing timestamps for local edits.
///
/// It holds no wall clock of its own; callers pass the current wall time in, so
/// this crate stays free of I/O and tests can make time jump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A fresh clock for `device`, before any event.
    pub fn new(device: DeviceId) -> Self {
        Self {
            last: Hlc::new(0, 0, device),
        }
    }

    /// A clock that resumes after `last` (read back from storage).
    pub fn resume(last: Hlc) -> Self {
        Self { last }
    }

    /// The last timestamp handed out or observed.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// The device this clock stamps for.
    pub fn device(&self) -> DeviceId {
        self.last.device
    }

    /// A new timestamp for a local event at wall time `wall_ms`; always greater than any before.
    pub fn now(&mut self, wall_ms: u64) -> Hlc {
        let wall_ms = wall_ms.min(MAX_MS);
        if wall_ms > self.last.ms {
            self.last.ms = wall_ms;
            self.last.counter = 0;
        } else {
            self.bump();
        }
        self.last
    }

    /// Advances past a timestamp received from elsewhere, so later local edits order after it.
    pub fn observe(&mut self, remote: &Hlc, wall_ms: u64) {
        let max_ms = wall_ms.min(MAX_MS).max(remote.ms).max(self.last.ms);
        if max_ms == self.last.ms && max_ms == remote.ms {
            self.last.counter = self.last.counter.max(remote.counter);
            self.bump();
        } else if max_ms == self.last.ms {
            self.bump();
        } else if max_ms == remote.ms {
            self.last.ms = max_ms;
            self.last.counter = remote.counter;
            self.bump();
        } else {
            self.last.ms = max_ms;
            self.last.counter = 0;
        }
    }

    fn bump(&mut self) {
        match self.last.counter.checked_add(1) {
            Some(c) => self.last.counter = c,
            None => {
                // Four billion events in one millisecond: move time forward instead of wrapping
                // (at the very end of time, stay there: the counter is full, so stamps repeat
                // only after 2^32 events at MAX_MS, which no real device reaches).
                if self.last.ms < MAX_MS {
                    self.last.ms += 1;
                    self.last.counter = 0;
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch according to `time`; a helper for callers that own a wall clock.
pub fn unix_ms(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(n: u128) -> DeviceId {
        DeviceId::from_u128(n)
    }

    #[test]
    fn now_is_monotonic_when_the_wall_clock_jumps_back() {
        let mut c = HlcClock::new(dev(1));
        let a = c.now(10_000);
        let b = c.now(5_000);
        let d = c.now(5_000);
        let e = c.now(10_001);
        assert!(a < b && b < d && d < e);
        assert_eq!(b.ms, 10_000);
        assert_eq!(e, Hlc::new(10_001, 0, dev(1)));
    }

    #[test]
    fn observe_moves_past_a_remote_stamp() {
        let mut c = HlcClock::new(dev(1));
        c.now(1_000);
        let remote = Hlc::new(9_000, 7, dev(2));
        c.observe(&remote, 2_000);
        let next = c.now(2_000);
        assert!(next > remote);
        assert_eq!((next.ms, next.counter), (9_000, 9));
    }

    #[test]
    fn observe_with_wall_ahead_takes_wall_time() {
        let mut c = HlcClock::new(dev(1));
        c.observe(&Hlc::new(5, 3, dev(2)), 100);
        assert_eq!((c.last().ms, c.last().counter), (100, 0));
    }

    #[test]
    fn observe_equal_ms_takes_max_counter() {
        let mut c = HlcClock::new(dev(1));
        c.now(50);
        c.now(50);
        c.observe(&Hlc::new(50, 10, dev(2)), 10);
        assert_eq!((c.last().ms, c.last().counter), (50, 11));
    }

    #[test]
    fn ties_are_broken_by_device() {
        assert!(Hlc::new(1, 1, dev(1)) < Hlc::new(1, 1, dev(2)));
        assert!(Hlc::new(1, 2, dev(1)) > Hlc::new(1, 1, dev(2)));
    }

    #[test]
    fn counter_overflow_moves_time_forward() {
        let mut c = HlcClock::resume(Hlc::new(7, u32::MAX, dev(1)));
        let t = c.now(7);
        assert_eq!((t.ms, t.counter), (8, 0));
    }

    #[test]
    fn stamps_past_the_end_of_time_are_refused_and_clocks_stop_there() {
        let d = dev(1);
        assert!(format!("{}.0@{d}", MAX_MS).parse::<Hlc>().is_ok());
        assert!(format!("{}.0@{d}", MAX_MS + 1).parse::<Hlc>().is_err());
        assert!(format!("{}.0@{d}", u64::MAX).parse::<Hlc>().is_err());
        let mut c = HlcClock::resume(Hlc::new(MAX_MS, u32::MAX, d));
        c.now(u64::MAX);
        c.observe(&Hlc::new(MAX_MS, u32::MAX, dev(2)), u64::MAX);
        assert!(c.last().ms <= MAX_MS);
        let mut c = HlcClock::new(d);
        assert!(c.now(u64::MAX).ms <= MAX_MS);
    }

    #[test]
    fn too_far_ahead() {
        let t = Hlc::new(1_000 + 600_000 + 1, 0, dev(1));
        assert!(t.is_too_far_ahead(1_000, 600_000));
        assert!(!Hlc::new(1_000 + 600_000, 0, dev(1)).is_too_far_ahead(1_000, 600_000));
    }

    #[test]
    fn string_round_trip_and_errors() {
        let t = Hlc::new(1_764_000_000_000, 42, dev(0xabc));
        let s = t.to_string();
        assert_eq!(s.parse::<Hlc>(), Ok(t));
        for bad in [
            "",
            "1.2",
            "x.1@00000000-0000-0000-0000-000000000001",
            "1.@u",
            "1.2@nope",
            "-1.2@00000000-0000-0000-0000-000000000001",
        ] {
            assert!(bad.parse::<Hlc>().is_err(), "{bad}");
        }
    }
}
