//! An adaptive request pacer for an API whose limits are not published (AIMD): it spaces calls
//! at a starting rate, raises the rate additively while calls are answered and the callers
//! want more, and backs off multiplicatively when the API throttles (once per storm of 429s,
//! not once per refused call). After a 429 it climbs back only to just under the rate that was
//! refused and stays there, probing above it again only after a long stretch without a 429,
//! so a steady sync is not throttled over and over. A ceiling caps the rate in any case.
//!
//! What it learned ([`LearnedPace`]) can be saved and given to the next run's pacer
//! ([`AdaptiveLimiter::restore`]), which then starts where this one ended.
//!
//! `governor` quotas are fixed once built; this pacer's rate moves, which is the point.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The slowest the pacer ever gets, in calls per second (one call per 10 s).
const MIN_RATE: f64 = 0.1;
/// The additive step: how much the rate rises per second of calls that were answered while
/// callers waited for their turn (at least; see [`AdaptiveLimiter::step`]).
const MIN_STEP_PER_SEC: f64 = 1.0;
/// The step as a share of the rate last refused, so that climbing back near a high limit
/// does not take minutes.
const STEP_SHARE: f64 = 0.05;
/// What a 429 multiplies the sending rate by.
const BACKOFF: f64 = 0.5;
/// After a 429, the rate climbs back to this share of the rate that was refused and stays.
const SAFE_SHARE: f64 = 0.9;
/// After this long without a 429, the pacer probes above the rate last refused again (the
/// API's limit may have risen).
const PROBE_AFTER: Duration = Duration::from_secs(600);
/// The window over which the actual sending rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// The shortest span a measured rate is computed over (a burst of a few calls in a
/// millisecond is not thousands per second).
const MIN_RATE_SPAN: Duration = Duration::from_millis(250);

/// What a pacer learned about an API's limit, to be saved and restored by the next run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LearnedPace {
    /// The rate the pacer was at, in calls per second; `None` when it was unpaced.
    pub requests_per_second: Option<f64>,
    /// The sending rate the API last refused with a 429, if it ever did.
    pub throttled_at: Option<f64>,
}

/// Paces calls to one API. Share it (e.g. in an `Arc`) between everything calling that API.
#[derive(Debug)]
pub struct AdaptiveLimiter {
    ceiling: Option<f64>,
    state: Mutex<PaceState>,
}

#[derive(Debug)]
struct PaceState {
    /// Calls per second; `None` means unpaced.
    rate: Option<f64>,
    /// The sending rate of the last 429.
    throttled_at: Option<f64>,
    /// When the last 429 came (or the pace was restored from one).
    throttled_when: Option<Instant>,
    next_slot: Instant,
    /// When a caller last had to wait for its turn: the rate rises only while it limits.
    last_paced: Option<Instant>,
    /// When the rate last rose (or could have).
    last_raise: Instant,
    /// Send times within the last [`RATE_WINDOW`], to measure the actual rate.
    sent: VecDeque<Instant>,
    /// Whether a call succeeded since the rate was last lowered: a run of 429s with no
    /// success between them is one signal (the retries wait as the API says), not one per
    /// refused call.
    answered_since_slowdown: bool,
}

fn positive(rate: f64) -> Option<f64> {
    (rate.is_finite() && rate > 0.0).then_some(rate.max(MIN_RATE))
}

impl AdaptiveLimiter {
    /// A pacer starting at `start_per_second` calls per second and never above
    /// `ceiling_per_second`. Zero, negative or non-finite means: no pacing at the start (until
    /// the API first throttles), and no ceiling.
    pub fn new(start_per_second: f64, ceiling_per_second: f64) -> Self {
        let ceiling = positive(ceiling_per_second);
        let rate = match (positive(start_per_second), ceiling) {
            (Some(start), Some(ceiling)) => Some(start.min(ceiling)),
            (start, ceiling) => start.or(ceiling),
        };
        let now = Instant::now();
        Self {
            ceiling,
            state: Mutex::new(PaceState {
                rate,
                throttled_at: None,
                throttled_when: None,
                next_slot: now,
                last_paced: None,
                last_raise: now,
                sent: VecDeque::new(),
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
            let interval = state
                .rate
                .map_or(Duration::ZERO, |rate| Duration::from_secs_f64(1.0 / rate));
            state.next_slot = slot + interval;
            if slot > now {
                state.last_paced = Some(now);
            }
            state.sent.push_back(slot);
            while state
                .sent
                .front()
                .is_some_and(|at| slot.saturating_duration_since(*at) > RATE_WINDOW)
            {
                state.sent.pop_front();
            }
            (slot, slot - now)
        };
        tokio::time::sleep_until(slot).await;
        wait
    }

    /// The API throttled a call: lower the rate to half the rate calls were actually sent at
    /// (unless it was lowered just now), remember that rate as the API's limit, and hold every
    /// call back for `retry_after` when the API said how long.
    pub fn on_throttled(&self, retry_after: Option<Duration>) {
        let mut state = self.lock();
        let now = Instant::now();
        if state.answered_since_slowdown {
            let sending = state.sending_rate(now);
            let refused = state.rate.map_or(sending, |rate| rate.min(sending));
            state.throttled_at = Some(refused);
            state.throttled_when = Some(now);
            state.rate = Some((refused * BACKOFF).max(MIN_RATE));
            state.answered_since_slowdown = false;
            state.last_raise = now;
        }
        if let Some(wait) = retry_after {
            let resume = now + wait;
            state.next_slot = state.next_slot.max(resume);
        }
    }

    /// A call was answered: raise the rate by the additive step for the time since the last
    /// raise, when callers were waiting for their turn (a rate nobody uses is not raised), up
    /// to just under the rate last refused (until `PROBE_AFTER` passes) and the ceiling.
    pub fn on_success(&self) {
        let mut state = self.lock();
        let now = Instant::now();
        state.answered_since_slowdown = true;
        let elapsed = now.saturating_duration_since(state.last_raise);
        state.last_raise = now;
        let Some(rate) = state.rate else { return };
        let wanted = state
            .last_paced
            .is_some_and(|at| now.saturating_duration_since(at) <= RATE_WINDOW);
        if !wanted {
            return;
        }
        let mut cap = self.ceiling.unwrap_or(f64::INFINITY);
        let probing = state
            .throttled_when
            .is_none_or(|at| now.saturating_duration_since(at) >= PROBE_AFTER);
        if let (Some(refused), false) = (state.throttled_at, probing) {
            cap = cap.min(refused * SAFE_SHARE);
        }
        let raised = rate + self.step(state.throttled_at) * elapsed.as_secs_f64();
        // Never lower the rate here: a ceiling below the rate was already applied at start.
        state.rate = Some(raised.min(cap).max(rate));
        if let Some(refused) = state.throttled_at {
            if rate > refused {
                // The limit rose: what was refused before is no longer a limit.
                state.throttled_at = None;
            }
        }
    }

    /// The additive step per second.
    fn step(&self, throttled_at: Option<f64>) -> f64 {
        let scale = throttled_at.or(self.ceiling).unwrap_or(0.0);
        (scale * STEP_SHARE).max(MIN_STEP_PER_SEC)
    }

    /// The current spacing between calls (zero when unpaced).
    pub fn interval(&self) -> Duration {
        self.lock()
            .rate
            .map_or(Duration::ZERO, |rate| Duration::from_secs_f64(1.0 / rate))
    }

    /// The current rate in calls per second; `None` when unpaced.
    pub fn rate(&self) -> Option<f64> {
        self.lock().rate
    }

    /// What this pacer learned, to save for the next run.
    pub fn learned(&self) -> LearnedPace {
        let state = self.lock();
        LearnedPace {
            requests_per_second: state.rate,
            throttled_at: state.throttled_at,
        }
    }

    /// Starts from what an earlier run learned (capped by the ceiling): its rate, and the
    /// rate the API refused, which is not probed again for `PROBE_AFTER`.
    pub fn restore(&self, learned: LearnedPace) {
        let mut state = self.lock();
        let now = Instant::now();
        let rate = learned.requests_per_second.and_then(positive);
        state.rate = match (rate, self.ceiling) {
            (Some(rate), Some(ceiling)) => Some(rate.min(ceiling)),
            (rate, ceiling) => rate.or(ceiling),
        };
        state.throttled_at = learned.throttled_at.and_then(positive);
        state.throttled_when = state.throttled_at.map(|_| now);
        state.last_raise = now;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PaceState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl PaceState {
    /// Calls per second actually sent over the last [`RATE_WINDOW`].
    fn sending_rate(&self, now: Instant) -> f64 {
        let recent: Vec<&Instant> = self
            .sent
            .iter()
            .filter(|at| now.saturating_duration_since(**at) <= RATE_WINDOW)
            .collect();
        let Some(first) = recent.first() else {
            return self.rate.unwrap_or(MIN_STEP_PER_SEC);
        };
        let span = now
            .saturating_duration_since(**first)
            .clamp(MIN_RATE_SPAN, RATE_WINDOW);
        recent.len() as f64 / span.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `calls` calls through `limiter` as fast as it lets them, each answered at once;
    /// `throttle(n)` says whether the API refuses the n-th. Returns how many were refused.
    async fn drive(
        limiter: &AdaptiveLimiter,
        calls: usize,
        mut throttle: impl FnMut(usize) -> bool,
    ) -> usize {
        let mut refused = 0;
        for n in 0..calls {
            limiter.acquire().await;
            if throttle(n) {
                refused += 1;
                limiter.on_throttled(Some(Duration::from_secs(1)));
            } else {
                limiter.on_success();
            }
        }
        refused
    }

    /// An API refusing any call that would make more than `limit` in the last second.
    fn api_limited_to(limit: usize) -> impl FnMut(usize) -> bool {
        let mut accepted: VecDeque<Instant> = VecDeque::new();
        move |_| {
            let now = Instant::now();
            while accepted
                .front()
                .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(1))
            {
                accepted.pop_front();
            }
            if accepted.len() >= limit {
                return true;
            }
            accepted.push_back(now);
            false
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_rises_additively_while_callers_wait_and_stops_at_the_ceiling() {
        let limiter = AdaptiveLimiter::new(5.0, 8.0);
        assert_eq!(limiter.rate(), Some(5.0));
        let start = Instant::now();
        drive(&limiter, 20, |_| false).await;
        // About +1 call/s per second: after ~3.5 s of calls the rate is ~8.
        let elapsed = start.elapsed().as_secs_f64();
        let rate = limiter.rate().unwrap();
        assert!((7.0..=8.0).contains(&rate), "{rate} after {elapsed} s");
        drive(&limiter, 100, |_| false).await;
        assert_eq!(limiter.rate(), Some(8.0), "the ceiling holds");
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_nobody_uses_is_not_raised() {
        let limiter = AdaptiveLimiter::new(5.0, 0.0);
        for _ in 0..30 {
            limiter.acquire().await;
            limiter.on_success();
            // The caller is slower than the pace: it never waits for its turn.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(limiter.rate(), Some(5.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_sending_rate_once_per_storm_and_the_rate_settles_under_it() {
        let limiter = AdaptiveLimiter::new(10.0, 0.0);
        limiter.on_success();
        for _ in 0..10 {
            limiter.acquire().await;
        }
        limiter.on_throttled(None);
        let after = limiter.rate().unwrap();
        assert!((4.0..=6.0).contains(&after), "halved: {after}");
        for _ in 0..50 {
            limiter.on_throttled(None);
        }
        assert_eq!(limiter.rate().unwrap(), after, "one storm, one halving");
        let learned = limiter.learned();
        let refused = learned.throttled_at.unwrap();
        assert!((8.0..=12.0).contains(&refused), "{learned:?}");
        // Clean calls climb back to 90% of the refused rate and stay there.
        drive(&limiter, 2_000, |_| false).await;
        let settled = limiter.rate().unwrap();
        assert!(
            (settled - refused * SAFE_SHARE).abs() < 1e-9,
            "{settled} vs {refused}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn against_a_20_per_second_limit_the_pace_is_learned_and_not_refused_again() {
        let limiter = AdaptiveLimiter::new(5.0, 0.0);
        let mut api = api_limited_to(20);
        let start = Instant::now();
        let mut refused_late = 0;
        let mut refused = 0;
        for n in 0..6_000 {
            limiter.acquire().await;
            if api(n) {
                refused += 1;
                if start.elapsed() > Duration::from_secs(60) {
                    refused_late += 1;
                }
                limiter.on_throttled(Some(Duration::from_secs(1)));
            } else {
                limiter.on_success();
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert!(refused > 0, "the limit was found");
        assert_eq!(refused_late, 0, "no 429 after the first minute");
        let rate = limiter.rate().unwrap();
        assert!((16.0..=20.0).contains(&rate), "settled at {rate}");
        // 6,000 calls at 20/s take 300 s; the pacer needs at most 1.5 times that.
        assert!(elapsed <= 450.0, "{elapsed} s");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_long_clean_stretch_the_pacer_probes_above_the_refused_rate() {
        let limiter = AdaptiveLimiter::new(0.0, 0.0);
        limiter.restore(LearnedPace {
            requests_per_second: Some(9.0),
            throttled_at: Some(10.0),
        });
        drive(&limiter, 600, |_| false).await;
        assert_eq!(limiter.rate(), Some(9.0), "held under the refused rate");
        drive(&limiter, 6_000, |_| false).await;
        let rate = limiter.rate().unwrap();
        assert!(rate > 10.0, "probes after {PROBE_AFTER:?}: {rate}");
        assert_eq!(
            limiter.learned().throttled_at,
            None,
            "the old limit is gone"
        );
    }

    #[test]
    fn the_start_is_capped_by_the_ceiling_and_a_restored_rate_too() {
        let limiter = AdaptiveLimiter::new(50.0, 20.0);
        assert_eq!(limiter.rate(), Some(20.0));
        limiter.restore(LearnedPace {
            requests_per_second: Some(35.0),
            throttled_at: None,
        });
        assert_eq!(limiter.rate(), Some(20.0));
        let unpaced = AdaptiveLimiter::new(0.0, 0.0);
        assert_eq!(unpaced.rate(), None);
        assert_eq!(unpaced.interval(), Duration::ZERO);
        let ceiling_only = AdaptiveLimiter::new(0.0, 4.0);
        assert_eq!(ceiling_only.interval(), Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unpaced_pacer_is_paced_once_throttled_and_never_slower_than_its_floor() {
        let limiter = AdaptiveLimiter::new(0.0, 0.0);
        limiter.on_throttled(Some(Duration::from_secs(1)));
        assert!(limiter.interval() > Duration::ZERO);
        for _ in 0..40 {
            limiter.on_success();
            limiter.on_throttled(None);
        }
        assert_eq!(limiter.rate(), Some(MIN_RATE));
        assert_eq!(limiter.interval(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_and_held_back_after_retry_after() {
        let limiter = AdaptiveLimiter::new(4.0, 4.0);
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
