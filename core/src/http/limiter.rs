//! An adaptive request pacer: spaces calls at a configured rate, slows down (halves the rate)
//! when the API throttles (once per storm, not once per refused call), and creeps back to the
//! configured rate as calls succeed.
//!
//! `governor` quotas are fixed once built; this pacer's rate moves, which is the point.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The slowest the pacer ever gets: one call per this long.
const MAX_INTERVAL: Duration = Duration::from_secs(10);
/// The spacing an unthrottled (unlimited) pacer falls back to after a throttle.
const FLOOR_INTERVAL: Duration = Duration::from_millis(50);
/// How much of the extra spacing each success gives back (1/16th).
const RECOVERY_SHIFT: u32 = 4;

/// Paces calls to one API. Share it (e.g. in an `Arc`) between everything calling that API.
#[derive(Debug)]
pub struct AdaptiveLimiter {
    base_interval: Duration,
    state: Mutex<PaceState>,
}

#[derive(Debug)]
struct PaceState {
    interval: Duration,
    next_slot: Instant,
    /// Whether a call succeeded since the rate was last halved: a run of 429s with no
    /// success between them is one signal (the retries wait as the API says), not one per
    /// refused call.
    answered_since_slowdown: bool,
}

impl AdaptiveLimiter {
    /// A pacer allowing `per_second` calls per second; zero, negative or non-finite means
    /// unlimited until the API first throttles.
    pub fn new(per_second: f64) -> Self {
        let base_interval = if per_second.is_finite() && per_second > 0.0 {
            Duration::from_secs_f64(1.0 / per_second).min(MAX_INTERVAL)
        } else {
            Duration::ZERO
        };
        Self {
            base_interval,
            state: Mutex::new(PaceState {
                interval: base_interval,
                next_slot: Instant::now(),
                answered_since_slowdown: true,
            }),
        }
    }

    /// Waits for this call's turn; returns how long it waited (zero when it was its turn).
    pub async fn acquire(&self) -> Duration {
        let (slot, wait) = {
            let mut state = self.lock();
            let now = Instant::now();
            let slot = state.next_slot.max(now);
            state.next_slot = slot + state.interval;
            (slot, slot - now)
        };
        tokio::time::sleep_until(slot).await;
        wait
    }

    /// The API throttled a call: halve the rate (unless no call succeeded since it was last
    /// halved: the same storm), and hold every call back for `retry_after` when the API said
    /// how long.
    pub fn on_throttled(&self, retry_after: Option<Duration>) {
        let mut state = self.lock();
        let now = Instant::now();
        if state.answered_since_slowdown {
            state.interval = (state.interval * 2).max(FLOOR_INTERVAL).min(MAX_INTERVAL);
            state.answered_since_slowdown = false;
        }
        if let Some(wait) = retry_after {
            let resume = now + wait;
            state.next_slot = state.next_slot.max(resume);
        }
    }

    /// A call succeeded: give back a little of the slow-down.
    pub fn on_success(&self) {
        let mut state = self.lock();
        state.answered_since_slowdown = true;
        if state.interval > self.base_interval {
            let extra = state.interval - self.base_interval;
            let step = (extra / (1 << RECOVERY_SHIFT)).max(Duration::from_micros(1));
            state.interval = (state.interval - step).max(self.base_interval);
            if state.interval < FLOOR_INTERVAL && self.base_interval.is_zero() {
                state.interval = Duration::ZERO;
            }
        }
    }

    /// The current spacing between calls (zero when unlimited).
    pub fn interval(&self) -> Duration {
        self.lock().interval
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PaceState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_slows_down_once_per_storm_and_success_recovers_to_the_configured_rate() {
        let limiter = AdaptiveLimiter::new(10.0);
        assert_eq!(limiter.interval(), Duration::from_millis(100));
        limiter.on_throttled(None);
        assert_eq!(limiter.interval(), Duration::from_millis(200));
        for _ in 0..50 {
            limiter.on_throttled(None);
        }
        assert_eq!(
            limiter.interval(),
            Duration::from_millis(200),
            "one storm, one halving"
        );
        // A success ends the storm (and gives back a sixteenth of the slow-down); the next
        // 429 halves the rate again.
        limiter.on_success();
        limiter.on_throttled(None);
        assert_eq!(limiter.interval(), Duration::from_micros(387_500));
        for _ in 0..500 {
            limiter.on_success();
        }
        assert_eq!(limiter.interval(), Duration::from_millis(100));
    }

    #[test]
    fn an_unlimited_pacer_gets_a_floor_when_throttled_and_any_pacer_a_ceiling() {
        let limiter = AdaptiveLimiter::new(0.0);
        assert_eq!(limiter.interval(), Duration::ZERO);
        limiter.on_throttled(Some(Duration::from_secs(1)));
        assert_eq!(limiter.interval(), FLOOR_INTERVAL);
        for _ in 0..200 {
            limiter.on_success();
        }
        assert_eq!(limiter.interval(), Duration::ZERO);
        // Storm after storm, the pacer slows down to its slowest and no further.
        let limiter = AdaptiveLimiter::new(10.0);
        for _ in 0..20 {
            limiter.on_success();
            limiter.on_throttled(None);
        }
        assert_eq!(limiter.interval(), MAX_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_and_held_back_after_retry_after() {
        let limiter = AdaptiveLimiter::new(4.0);
        let start = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..3 {
            waits.push(limiter.acquire().await);
        }
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        assert_eq!(
            waits,
            [
                Duration::ZERO,
                Duration::from_millis(250),
                Duration::from_millis(250)
            ]
        );
        limiter.on_throttled(Some(Duration::from_secs(3)));
        assert_eq!(limiter.acquire().await, Duration::from_secs(3));
        assert_eq!(start.elapsed(), Duration::from_millis(3500));
    }
}
