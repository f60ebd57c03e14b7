//! Pacing of calls to one Pipedrive token by the limit headers of its answers: every answer
//! says how many requests are left in the current 2-second window (`x-ratelimit-remaining`)
//! and when it resets (`x-ratelimit-reset`); once none are left, the next call waits for the
//! reset instead of being refused. A 429 empties the window for as long as it asked.

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

/// The window of one token, as the last answer described it.
#[derive(Debug, Default)]
pub struct BurstWindow {
    closed_until: Mutex<Option<Instant>>,
}

impl BurstWindow {
    /// Takes in what an answer's headers said.
    pub fn observe(&self, limits: &LimitHeaders) {
        if limits.remaining == Some(0) {
            let reset = limits.reset.unwrap_or(Duration::from_secs(2));
            self.close_for(reset);
        }
    }

    fn close_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut closed = self.closed_until.lock().unwrap_or_else(|e| e.into_inner());
        if closed.is_none_or(|at| at < until) {
            *closed = Some(until);
        }
    }
}

impl Pacer for BurstWindow {
    async fn acquire(&self) -> Duration {
        let until = *self.closed_until.lock().unwrap_or_else(|e| e.into_inner());
        let Some(until) = until else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        if until <= now {
            return Duration::ZERO;
        }
        tokio::time::sleep_until(until).await;
        until - now
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
}
