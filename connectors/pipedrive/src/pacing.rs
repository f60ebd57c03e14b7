//! Pacing of calls to one Pipedrive token by the limit headers of its answers: every answer
//! says how many requests are left in the current 2-second window (`x-ratelimit-remaining`)
//! and when it resets (`x-ratelimit-reset`); each call sent takes one of those, and once none
//! are left the next call waits for the reset instead of being refused. A 429 empties the
//! window for as long as it asked.

use std::sync::Mutex;
use std::time::Duration;

use http::HeaderMap;
use tokio::time::Instant;
use tte_sync_core::http::Pacer;

/// Requests left in the 2-second window.
pub const REMAINING: &str = "x-ratelimit-remaining";
/// Requests allowed per 2-second window.
pub const LIMIT: &str = "x-ratelimit-limit";
/// Seconds until the window resets.
pub const RESET: &str = "x-ratelimit-reset";
/// Requests (tokens, on token budgets) left today.
pub const DAILY_LEFT: &str = "x-daily-requests-left";

/// What the limit headers of one answer said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitHeaders {
    /// `x-ratelimit-remaining`.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset`, in seconds.
    pub reset: Option<Duration>,
    /// `x-daily-requests-left`.
    pub daily_left: Option<u64>,
}

impl LimitHeaders {
    /// Reads the headers (absent or unreadable ones are `None`).
    pub fn read(headers: &HeaderMap) -> Self {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        Self {
            remaining: number(REMAINING).map(|v| v as u64),
            reset: number(RESET).map(Duration::from_secs_f64),
            daily_left: number(DAILY_LEFT).map(|v| v as u64),
        }
    }
}

/// The window of one token, as the last answer described it, less the calls sent since.
#[derive(Debug, Default)]
pub struct BurstWindow {
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// Requests left in the window (`None`: not known, so calls go).
    remaining: Option<u64>,
    /// When the window resets.
    resets_at: Option<Instant>,
    /// Calls sent and not answered yet: the API counted them or will, but an answer that
    /// left before they arrived does not show them.
    in_flight: u64,
}

impl BurstWindow {
    /// Takes in what one call's answer said (a call that got no answer passes no headers).
    pub fn observe(&self, limits: &LimitHeaders) {
        let mut window = self.state.lock().unwrap_or_else(|e| e.into_inner());
        window.in_flight = window.in_flight.saturating_sub(1);
        if let Some(remaining) = limits.remaining {
            let left = remaining.saturating_sub(window.in_flight);
            let reset = limits.reset.unwrap_or(Duration::from_secs(2));
            let resets_at = Instant::now() + reset;
            // A reset more than a second past the known one is a new window. Within one,
            // answers may come out of order, so the count only goes down. (The header counts
            // whole seconds, so answers of one window differ by less than a second.)
            let same_window = window
                .resets_at
                .is_some_and(|known| resets_at <= known + Duration::from_secs(1));
            window.remaining = Some(match window.remaining {
                Some(known) if same_window => known.min(left),
                _ => left,
            });
            window.resets_at = Some(resets_at);
        }
    }

    fn close_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut window = self.state.lock().unwrap_or_else(|e| e.into_inner());
        window.remaining = Some(0);
        if window.resets_at.is_none_or(|at| at < until) {
            window.resets_at = Some(until);
        }
    }

    /// Takes a request of the window, or says how long until it resets when none is left.
    fn take(&self) -> Option<Instant> {
        let mut window = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if window.resets_at.is_some_and(|at| at <= now) {
            window.remaining = None;
            window.resets_at = None;
        }
        match window.remaining {
            Some(0) => window.resets_at,
            Some(left) => {
                window.remaining = Some(left - 1);
                window.in_flight += 1;
                None
            }
            None => {
                window.in_flight += 1;
                None
            }
        }
    }
}

impl Pacer for BurstWindow {
    async fn acquire(&self) -> Duration {
        let started = Instant::now();
        // Calls in flight may have taken the last requests of the window: wait for its reset,
        // then take one of the next window's.
        while let Some(until) = self.take() {
            tokio::time::sleep_until(until).await;
        }
        started.elapsed()
    }

    fn throttled(&self, wait: Option<Duration>) {
        self.close_for(wait.unwrap_or(Duration::from_secs(2)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn limit_headers_are_read_and_bad_ones_ignored() {
        let limits = LimitHeaders::read(&headers(&[
            (REMAINING, "0"),
            (RESET, "2"),
            (DAILY_LEFT, "soon"),
        ]));
        assert_eq!(limits.remaining, Some(0));
        assert_eq!(limits.reset, Some(Duration::from_secs(2)));
        assert_eq!(limits.daily_left, None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_window_holds_the_next_call_until_it_resets() {
        let window = BurstWindow::default();
        assert_eq!(window.acquire().await, Duration::ZERO);
        window.observe(&LimitHeaders {
            remaining: Some(5),
            ..LimitHeaders::default()
        });
        assert_eq!(window.acquire().await, Duration::ZERO, "requests left");
        window.observe(&LimitHeaders {
            remaining: Some(0),
            reset: Some(Duration::from_secs(1)),
            daily_left: None,
        });
        let started = Instant::now();
        window.acquire().await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        assert_eq!(window.acquire().await, Duration::ZERO, "open again");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_left_before_calls_in_flight_arrived_counts_them_too() {
        let window = BurstWindow::default();
        for _ in 0..3 {
            assert_eq!(window.acquire().await, Duration::ZERO);
        }
        // The first of three calls is answered with one request left: the other two, still in
        // flight, take it and one more, so the next call waits for the reset.
        window.observe(&LimitHeaders {
            remaining: Some(1),
            reset: Some(Duration::from_secs(2)),
            daily_left: None,
        });
        let started = Instant::now();
        window.acquire().await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_does_not_raise_the_count_of_its_window() {
        let window = BurstWindow::default();
        for _ in 0..2 {
            window.acquire().await;
        }
        let answer = |remaining| LimitHeaders {
            remaining: Some(remaining),
            reset: Some(Duration::from_secs(2)),
            daily_left: None,
        };
        // The second call's answer (none left) overtakes the first call's (one left).
        window.observe(&answer(0));
        window.observe(&answer(1));
        let started = Instant::now();
        window.acquire().await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn calls_sent_since_the_last_answer_count_against_the_window() {
        let window = BurstWindow::default();
        window.observe(&LimitHeaders {
            remaining: Some(2),
            reset: Some(Duration::from_secs(2)),
            daily_left: None,
        });
        assert_eq!(window.acquire().await, Duration::ZERO);
        assert_eq!(window.acquire().await, Duration::ZERO);
        let started = Instant::now();
        window.acquire().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "the third call waits for the next window"
        );
    }
}
