//! Proactive rate limiting: never send the call HubSpot would refuse.
//!
//! HubSpot counts calls per rolling window (110 per 10 s for public apps, 100–250 for private
//! apps) and search calls per second (5/s). A token bucket or GCRA with burst `N` still lets
//! about `2N` calls into one 10 s window (a full bucket plus a window's refill), so
//! [`SlidingWindow`] keeps the send time of each call in the last window and admits a call only
//! while fewer than `limit` were sent in the window — widened by a safety margin so that a call
//! that takes a little longer to arrive (or a server clock a little behind ours) is still
//! counted in the window it was sent in. The window also learns from HubSpot's
//! `X-HubSpot-RateLimit-Remaining` (calls made by other apps of the same account) and pauses
//! entirely after a 429.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tte_sync_core::http::Pacer;

/// Calls allowed per window and the window's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// Calls allowed per window; `0` turns the limiter off.
    pub limit: u32,
    /// The window's length, as the server counts it.
    pub window: Duration,
    /// Added to the window on our side, for clock skew and travel time.
    pub margin: Duration,
}

#[derive(Debug, Default)]
struct WindowState {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
    /// A lower limit the server announced (`X-HubSpot-RateLimit-Max`).
    server_max: Option<u32>,
}

impl WindowState {
    fn limit(&self, configured: u32) -> usize {
        self.server_max
            .map_or(configured, |max| max.min(configured)) as usize
    }
}

/// An exact sliding-window limiter: at most `limit` calls sent in any `window + margin`.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: WindowLimit,
    state: Mutex<WindowState>,
}

impl SlidingWindow {
    /// A limiter with this limit.
    pub fn new(limit: WindowLimit) -> Self {
        Self {
            limit,
            state: Mutex::new(WindowState::default()),
        }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> WindowLimit {
        self.limit
    }

    fn span(&self) -> Duration {
        self.limit.window + self.limit.margin
    }

    /// Takes a slot at `now` if one is free, or says how long until one frees up.
    pub fn try_acquire_at(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // A pause after a 429 holds even with the limiter off: the server said to wait.
        if let Some(until) = state.paused_until {
            if until > now {
                return Err(until - now);
            }
            state.paused_until = None;
        }
        if self.limit.limit == 0 {
            return Ok(());
        }
        let span = self.span();
        while state.sent.front().is_some_and(|&t| now >= t + span) {
            state.sent.pop_front();
        }
        let limit = state.limit(self.limit.limit);
        if state.sent.len() < limit {
            state.sent.push_back(now);
            return Ok(());
        }
        // The slot frees when the call `limit` places from the end leaves the window.
        let blocking = state.sent[state.sent.len() - limit.max(1)];
        Err(blocking + span - now)
    }

    /// Waits until a slot is free and takes it; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let mut waited = Duration::ZERO;
        loop {
            match self.try_acquire_at(Instant::now()) {
                Ok(()) => return waited,
                Err(wait) => {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
        }
    }

    /// Sends nothing for `wait` (after a 429: the server's window is full).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
    }

    /// Learns from `X-HubSpot-RateLimit-Max`: a server limit below the configured one wins.
    pub fn observe_max(&self, max: u32) {
        if self.limit.limit == 0 || max == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.server_max = (max < self.limit.limit).then_some(max);
    }

    /// Learns from `X-HubSpot-RateLimit-Remaining`: when the server has fewer calls left than
    /// we think (other apps share the account's budget), the difference is counted as sent now.
    pub fn observe_remaining(&self, remaining: u32, now: Instant) {
        if self.limit.limit == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let limit = state.limit(self.limit.limit);
        let span = self.span();
        while state.sent.front().is_some_and(|&t| now >= t + span) {
            state.sent.pop_front();
        }
        let ours_left = limit.saturating_sub(state.sent.len());
        let missing = ours_left.saturating_sub(remaining as usize);
        for _ in 0..missing {
            state.sent.push_back(now);
        }
    }
}

/// The window is the pacer of HubSpot's calls in the shared retry loop.
impl Pacer for SlidingWindow {
    fn acquire(&self) -> impl std::future::Future<Output = Duration> + Send {
        SlidingWindow::acquire(self)
    }

    /// HubSpot said how long its window is full (when it did): send nothing until then.
    fn throttled(&self, wait: Option<Duration>) {
        if let Some(wait) = wait {
            self.pause_for(wait);
        }
    }
}

/// The limiters of one HubSpot account: the general window and the search window.
#[derive(Debug)]
pub struct AccountLimiters {
    /// All calls but search (110 per 10 s by default).
    pub general: SlidingWindow,
    /// Search calls (5 per second); they do not count against the general window.
    pub search: SlidingWindow,
}

/// Limiters per HubSpot account (portal), created on first use.
#[derive(Debug)]
pub struct RateLimiter {
    general: WindowLimit,
    search: WindowLimit,
    accounts: Mutex<HashMap<String, Arc<AccountLimiters>>>,
}

impl RateLimiter {
    /// Limiters for every account with these limits.
    pub fn new(general: WindowLimit, search: WindowLimit) -> Self {
        Self {
            general,
            search,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// The limiters of `account`.
    pub fn account(&self, account: &str) -> Arc<AccountLimiters> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts
            .entry(account.to_owned())
            .or_insert_with(|| {
                Arc::new(AccountLimiters {
                    general: SlidingWindow::new(self.general),
                    search: SlidingWindow::new(self.search),
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn window(limit: u32, window_ms: u64, margin_ms: u64) -> SlidingWindow {
        SlidingWindow::new(WindowLimit {
            limit,
            window: Duration::from_millis(window_ms),
            margin: Duration::from_millis(margin_ms),
        })
    }

    #[test]
    fn a_full_window_waits_for_its_oldest_call_to_leave() {
        let limiter = window(3, 1000, 100);
        let t0 = Instant::now();
        for i in 0..3 {
            limiter
                .try_acquire_at(t0 + Duration::from_millis(i * 10))
                .unwrap();
        }
        let wait = limiter
            .try_acquire_at(t0 + Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(wait, Duration::from_millis(600));
        assert!(
            limiter
                .try_acquire_at(t0 + Duration::from_millis(1100))
                .is_ok()
        );
    }

    #[test]
    fn zero_limit_is_off_and_pauses_block_everything() {
        let off = window(0, 1000, 0);
        let t0 = Instant::now();
        for _ in 0..10_000 {
            off.try_acquire_at(t0).unwrap();
        }
        off.pause_for(Duration::from_secs(5));
        assert!(
            off.try_acquire_at(Instant::now()).is_err(),
            "a 429 pause holds when off"
        );
        let limiter = window(100, 1000, 0);
        limiter.pause_for(Duration::from_secs(5));
        assert!(limiter.try_acquire_at(Instant::now()).is_err());
    }

    #[test]
    fn remaining_header_counts_calls_made_by_others() {
        let limiter = window(10, 1000, 0);
        let t0 = Instant::now();
        limiter.try_acquire_at(t0).unwrap();
        limiter.observe_remaining(2, t0);
        assert!(limiter.try_acquire_at(t0).is_ok());
        assert!(limiter.try_acquire_at(t0).is_ok());
        assert!(limiter.try_acquire_at(t0).is_err());
    }

    #[test]
    fn a_lower_server_max_wins_over_the_configured_limit() {
        let limiter = window(10, 1000, 0);
        limiter.observe_max(2);
        let t0 = Instant::now();
        limiter.try_acquire_at(t0).unwrap();
        limiter.try_acquire_at(t0).unwrap();
        assert!(limiter.try_acquire_at(t0).is_err());
        limiter.observe_max(50);
        assert!(
            limiter.try_acquire_at(t0).is_ok(),
            "a higher max never raises the limit past 10"
        );
    }

    #[test]
    fn accounts_have_their_own_windows() {
        let limit = WindowLimit {
            limit: 1,
            window: Duration::from_secs(10),
            margin: Duration::ZERO,
        };
        let limiter = RateLimiter::new(limit, limit);
        let now = Instant::now();
        limiter.account("1").general.try_acquire_at(now).unwrap();
        assert!(limiter.account("1").general.try_acquire_at(now).is_err());
        assert!(limiter.account("2").general.try_acquire_at(now).is_ok());
        assert!(limiter.account("1").search.try_acquire_at(now).is_ok());
    }

    proptest! {
        /// Whatever the arrival pattern, no window of the server's length (shifted by up to the
        /// margin of travel time) ever sees more than `limit` admitted calls — unlike a token
        /// bucket, which lets about twice its burst into one window.
        #[test]
        fn never_more_than_limit_in_any_window(
            gaps in proptest::collection::vec(0u64..400, 1..400),
            delays in proptest::collection::vec(0u64..50, 400),
        ) {
            let limit = 11u32;
            let limiter = window(limit, 1000, 50);
            let t0 = Instant::now();
            let mut now = t0;
            let mut admitted = Vec::new();
            for gap in gaps {
                now += Duration::from_millis(gap);
                loop {
                    match limiter.try_acquire_at(now) {
                        Ok(()) => { admitted.push(now); break; }
                        Err(wait) => now += wait,
                    }
                }
            }
            // Arrival at the server = send time + a delay up to the margin.
            let mut arrivals: Vec<Instant> = admitted
                .iter()
                .zip(delays.iter().cycle())
                .map(|(t, d)| *t + Duration::from_millis(*d))
                .collect();
            arrivals.sort();
            for (i, start) in arrivals.iter().enumerate() {
                let in_window = arrivals[i..]
                    .iter()
                    .take_while(|t| **t < *start + Duration::from_millis(1000))
                    .count();
                prop_assert!(in_window <= limit as usize, "{in_window} calls in one window");
            }
        }
    }
}
