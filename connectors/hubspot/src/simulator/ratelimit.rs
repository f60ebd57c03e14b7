//! HubSpot's rate limits: a rolling 10-second window per token, a daily limit shared by the
//! account's private-app tokens, and the separate search limit of a few requests per second.
//!
//! Answers carry the `X-HubSpot-RateLimit-*` headers (no daily ones for OAuth tokens, none at
//! all for search) and refusals carry HubSpot's 429 bodies with their `policyName`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue};

use super::auth::{Caller, CallerKind};
use super::errors::ApiError;
use super::state::new_correlation_id;

/// Header: the daily limit.
pub const DAILY: &str = "x-hubspot-ratelimit-daily";
/// Header: what is left of the daily limit.
pub const DAILY_REMAINING: &str = "x-hubspot-ratelimit-daily-remaining";
/// Header: the rolling window length.
pub const INTERVAL_MILLISECONDS: &str = "x-hubspot-ratelimit-interval-milliseconds";
/// Header: requests allowed per window.
pub const MAX: &str = "x-hubspot-ratelimit-max";
/// Header: requests left in the window.
pub const REMAINING: &str = "x-hubspot-ratelimit-remaining";
/// The rolling window, in milliseconds.
pub const WINDOW_MS: i64 = 10_000;
/// `policyName` of the rolling-window refusal.
pub const TEN_SECONDLY_ROLLING: &str = "TEN_SECONDLY_ROLLING";
/// `policyName` of the daily refusal.
pub const DAILY_POLICY: &str = "DAILY";
/// `policyName` of the search refusal.
pub const SECONDLY_POLICY: &str = "SECONDLY";
/// The search refusal's message; clients retry on exactly this text.
pub const SECONDLY_MESSAGE: &str = "You have reached your secondly limit.";
const DAY_MS: i64 = 86_400_000;
const SECOND_MS: i64 = 1_000;

/// The limits to enforce; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per rolling 10 seconds per token (HubSpot: 110 for OAuth apps).
    pub per_ten_seconds: Option<u32>,
    /// Requests per day for the account's private-app tokens (OAuth tokens have none).
    pub daily: Option<u64>,
    /// Search requests per second for the account.
    pub search_per_second: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_ten_seconds: Some(110),
            daily: Some(250_000),
            search_per_second: Some(5),
        }
    }
}

impl RateLimits {
    /// No limits at all (benchmarks).
    pub fn off() -> Self {
        Self {
            per_ten_seconds: None,
            daily: None,
            search_per_second: None,
        }
    }
}

/// The counters behind the limits.
#[derive(Debug, Default)]
pub struct Limiter {
    windows: Mutex<HashMap<String, VecDeque<i64>>>,
    daily: Mutex<(i64, u64)>,
    search: Mutex<VecDeque<i64>>,
}

impl Limiter {
    /// Counts a search request at `now`.
    ///
    /// # Errors
    /// The secondly 429 when over the search limit.
    pub fn check_search(&self, limits: &RateLimits, now: i64) -> Result<(), ApiError> {
        let Some(max) = limits.search_per_second else {
            return Ok(());
        };
        let mut window = self.search.lock().unwrap_or_else(|e| e.into_inner());
        while window.front().is_some_and(|t| *t <= now - SECOND_MS) {
            window.pop_front();
        }
        if window.len() >= max as usize {
            return Err(ApiError::rate_limited(
                SECONDLY_MESSAGE,
                SECONDLY_POLICY,
                None,
            ));
        }
        window.push_back(now);
        Ok(())
    }

    /// Counts a request by `caller` at `now` and returns the headers to answer with.
    ///
    /// # Errors
    /// The TEN_SECONDLY_ROLLING or DAILY 429.
    pub fn check(
        &self,
        limits: &RateLimits,
        caller: &Caller,
        portal_id: u64,
        now: i64,
    ) -> Result<HeaderMap, ApiError> {
        let mut headers = HeaderMap::new();
        let counts_daily = caller.counts_daily();
        if let (Some(max), true) = (limits.daily, counts_daily) {
            let mut daily = self.daily.lock().unwrap_or_else(|e| e.into_inner());
            let day = now.div_euclid(DAY_MS);
            if daily.0 != day {
                *daily = (day, 0);
            }
            if daily.1 >= max {
                return Err(ApiError::rate_limited(
                    "You have reached your daily limit.",
                    DAILY_POLICY,
                    Some(("requestId", new_correlation_id())),
                ));
            }
            daily.1 += 1;
            insert(&mut headers, DAILY, max);
            insert(&mut headers, DAILY_REMAINING, max - daily.1);
        }
        if let Some(max) = limits.per_ten_seconds {
            let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
            let window = windows.entry(caller.token.clone()).or_default();
            while window.front().is_some_and(|t| *t <= now - WINDOW_MS) {
                window.pop_front();
            }
            if window.len() >= max as usize {
                let kind = match caller.kind {
                    CallerKind::OAuth => "oauth",
                    _ => "private_app",
                };
                return Err(ApiError::rate_limited(
                    "You have reached your ten_secondly_rolling limit.",
                    TEN_SECONDLY_ROLLING,
                    Some((
                        "groupName",
                        format!(
                            "publicapi:{kind}-api-calls-ten-secondly:{}:{portal_id}",
                            caller.app_id
                        ),
                    )),
                ));
            }
            window.push_back(now);
            insert(&mut headers, INTERVAL_MILLISECONDS, WINDOW_MS as u64);
            insert(&mut headers, MAX, u64::from(max));
            insert(
                &mut headers,
                REMAINING,
                (max as usize - window.len()) as u64,
            );
        }
        Ok(headers)
    }

    /// Forgets every count.
    pub fn reset(&self) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        *self.daily.lock().unwrap_or_else(|e| e.into_inner()) = (0, 0);
        self.search
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: u64) {
    headers.insert(name, HeaderValue::from(value));
}

/// The rate-limit headers of a TEN_SECONDLY_ROLLING 429: HubSpot sends them "on each
/// response", the refusal saying nothing is left of the window (and no `Retry-After`, which
/// HubSpot documents only for 477). None when no burst limit is configured.
pub fn refusal_headers(limits: &RateLimits) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(max) = limits.per_ten_seconds {
        insert(&mut headers, INTERVAL_MILLISECONDS, WINDOW_MS as u64);
        insert(&mut headers, MAX, u64::from(max));
        insert(&mut headers, REMAINING, 0);
    }
    headers
}

/// The storm refusal injected by faults: a TEN_SECONDLY_ROLLING 429.
pub fn storm_refusal(caller: &Caller, portal_id: u64) -> ApiError {
    ApiError::rate_limited(
        "You have reached your ten_secondly_rolling limit.",
        TEN_SECONDLY_ROLLING,
        Some((
            "groupName",
            format!(
                "publicapi:private_app-api-calls-ten-secondly:{}:{portal_id}",
                caller.app_id
            ),
        )),
    )
}
