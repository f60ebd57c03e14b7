//! The store's sense of time: the system clock, or one a test moves by hand.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::{Result, StoreError};

type NowFn = dyn Fn() -> DateTime<Utc> + Send + Sync;

/// Where the store reads the current time: due items, leases, expiries and timestamps.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<NowFn>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that asks `now` for the time (tests move it to expire leases without sleeping).
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(now)))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.as_ref().map_or_else(Utc::now, |now| now())
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(custom)"
        } else {
            "Clock(system)"
        })
    }
}

/// A time as stored: milliseconds since the Unix epoch, the same on both backends.
pub(crate) fn to_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// A stored time read back.
pub(crate) fn from_millis(millis: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| StoreError::corrupt("timestamp", format!("{millis} is out of range")))
}

/// A duration as milliseconds to add to a stored time, saturating instead of overflowing.
pub(crate) fn duration_millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_millis() {
        let time = DateTime::from_timestamp_millis(1_764_000_000_123).unwrap();
        assert_eq!(from_millis(to_millis(time)).unwrap(), time);
        assert!(from_millis(i64::MAX).is_err());
    }

    #[test]
    fn custom_clock_is_asked() {
        let fixed = DateTime::from_timestamp_millis(42).unwrap();
        assert_eq!(Clock::from_fn(move || fixed).now(), fixed);
    }
}
