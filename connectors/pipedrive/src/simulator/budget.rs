//! The simulated rate limits (`docs/pipedrive-api.md`, "Rate limits"): a daily token budget of
//! the company, spent per request by its cost, and a burst window of requests per 2 seconds
//! per token (a fixed window from its first request, which `x-ratelimit-reset` counts down).
//! Every answer carries the limit headers; a request over either limit is refused with 429.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use tokio::time::Instant;

/// The burst window.
pub const WINDOW: Duration = Duration::from_secs(2);

/// What a request costs in tokens, by method and route.
pub fn cost(method: &str, route: &str) -> u64 {
    match (method, route) {
        ("GET", "/api/v2/persons/search") => 40,
        ("GET", "/api/v2/persons/{id}" | "/v1/users/me") => 2,
        // A list by ids is a list all the same.
        ("GET", _) => 20,
        _ => 10,
    }
}

/// The limit headers of one answer, and whether the request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Requests per window (`None`: no burst limit).
    pub limit: Option<u32>,
    /// Requests left in the window.
    pub remaining: u32,
    /// Seconds until the window (or, when refused for the budget, the day) resets.
    pub reset_secs: u64,
    /// Tokens left today.
    pub daily_left: u64,
    /// Refused with 429.
    pub refused: bool,
}

/// The budget and the window of one simulated company with one token.
#[derive(Debug)]
pub struct Budget {
    daily_tokens: Option<u64>,
    per_window: Option<u32>,
    spent_today: u64,
    day: chrono::NaiveDate,
    /// When the current window started, and the requests it admitted.
    window: Option<(Instant, u32)>,
}

impl Budget {
    /// `daily_tokens` per day and `per_window` requests per 2 s (`None`: unlimited).
    pub fn new(daily_tokens: Option<u64>, per_window: Option<u32>) -> Self {
        Self {
            daily_tokens,
            per_window,
            spent_today: 0,
            day: Utc::now().date_naive(),
            window: None,
        }
    }

    /// Spends what the request costs, unless it is over a limit.
    pub fn admit(&mut self, cost: u64, now: Instant, today: DateTime<Utc>) -> Verdict {
        if today.date_naive() != self.day {
            self.day = today.date_naive();
            self.spent_today = 0;
        }
        if self
            .window
            .is_some_and(|(started, _)| now.duration_since(started) >= WINDOW)
        {
            self.window = None;
        }
        let (started, used) = self.window.unwrap_or((now, 0));
        let daily_left = self
            .daily_tokens
            .map_or(u64::MAX, |d| d.saturating_sub(self.spent_today));
        let window_reset = WINDOW.saturating_sub(now.duration_since(started));
        let in_window = self.per_window.is_none_or(|limit| used < limit);
        if daily_left < cost {
            let midnight = (today.date_naive() + chrono::Days::new(1))
                .and_time(NaiveTime::MIN)
                .and_utc();
            return Verdict {
                limit: self.per_window,
                remaining: self.per_window.map_or(0, |l| l.saturating_sub(used)),
                reset_secs: (midnight - today).num_seconds().max(1) as u64,
                daily_left: 0,
                refused: true,
            };
        }
        if !in_window {
            return Verdict {
                limit: self.per_window,
                remaining: 0,
                reset_secs: window_reset.as_secs_f64().ceil().max(1.0) as u64,
                daily_left,
                refused: true,
            };
        }
        self.window = Some((started, used + 1));
        self.spent_today += cost;
        Verdict {
            limit: self.per_window,
            remaining: self.per_window.map_or(u32::MAX, |l| l - used - 1),
            reset_secs: window_reset.as_secs_f64().ceil() as u64,
            daily_left: daily_left - cost,
            refused: false,
        }
    }

    /// Tokens spent today.
    pub fn spent_today(&self) -> u64 {
        self.spent_today
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_refuses_past_its_requests_and_the_budget_past_its_tokens() {
        let now = Instant::now();
        let today = Utc::now();
        let mut budget = Budget::new(Some(45), Some(3));
        let first = budget.admit(20, now, today);
        assert!(!first.refused);
        assert_eq!((first.remaining, first.daily_left), (2, 25));
        assert!(!budget.admit(2, now, today).refused);
        assert!(!budget.admit(2, now, today).refused);
        let fourth = budget.admit(2, now, today);
        assert!(fourth.refused && fourth.remaining == 0 && fourth.daily_left == 21);
        let later = now + WINDOW;
        let over_budget = budget.admit(40, later, today);
        assert!(over_budget.refused);
        assert_eq!(over_budget.daily_left, 0);
        assert!(over_budget.reset_secs >= 1, "until midnight");
        assert_eq!(budget.spent_today(), 24);
    }
}
