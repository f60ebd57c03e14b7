//! The HTTP client every HubSpot call goes through: authentication, the proactive rate limits,
//! and the retry loop.
//!
//! Every call runs through core's shared retry loop ([`Sender`]), paced by the account's
//! sliding window (the search window for searches). One try = send with the bearer token (or
//! the developer key as `hapikey`) → read the rate-limit headers → on failure, do what
//! [`crate::errors::disposition`] says: refresh the OAuth token once on 401, back off on a
//! burst 429 (as long as `Retry-After` says, when it is sent), on 5xx/423/477 and timeouts,
//! wait for the daily limit to reset, stop on other 4xx. Passing failures are retried
//! `max_retries` times, then on for as long as HubSpot answered some call within the stall
//! budget (`sync.max_stall_secs`).
//!
//! Every answer's status and every wait for a rate-limit window are also counted in the
//! process-wide [`stats`] under the service `hubspot`, for the host's metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tte_sync_core::Secret;
use tte_sync_core::connector::{ConnectorError, ErrorKind, Result};
use tte_sync_core::http::stats::{self, ServiceStats};
use tte_sync_core::http::waits::human_duration;
use tte_sync_core::http::{Attempt, Cause, RetryPolicy, Sender, Tries};
use url::Url;

use crate::auth::{Credentials, transport_error};
use crate::errors::{Disposition, LimitHeaders, disposition};
use crate::ratelimit::{AccountLimiters, RateLimiter, SlidingWindow};
use crate::version::ApiVersion;

/// Query parameter carrying the developer API key.
const HAPIKEY: &str = "hapikey";
/// Limiter key of credentials whose portal is not known (private-app tokens).
const DEFAULT_ACCOUNT: &str = "default";
/// The API's name in waits and logs.
const API_NAME: &str = "HubSpot";
/// While the daily limit is spent, how often it is tried again at most.
const DAILY_LIMIT_PROBE: Duration = Duration::from_secs(3600);

/// How a call authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMode {
    /// `Authorization: Bearer` with the private-app or OAuth access token.
    Bearer,
    /// `?hapikey=` with the developer API key (webhook management).
    DeveloperKey,
}

/// Which rate-limit budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Budget {
    /// The general rolling window (110 per 10 s by default).
    General,
    /// The search window (5 per second).
    Search,
}

/// One HubSpot API call, before it is sent.
#[derive(Debug, Clone)]
pub struct Call {
    /// The HTTP method.
    pub method: Method,
    /// The path below the API base, e.g. `/crm/objects/2026-09/contacts`.
    pub path: String,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// How it authenticates.
    pub auth: AuthMode,
    /// Which budget it spends.
    pub budget: Budget,
    /// Retries allowed for this call; `None` uses the client's `max_retries`.
    pub max_retries: Option<u32>,
}

impl Call {
    /// A bearer-authenticated call on the general budget.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            auth: AuthMode::Bearer,
            budget: Budget::General,
            max_retries: None,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Authenticates with the developer API key instead of the bearer token.
    pub fn developer_key(mut self) -> Self {
        self.auth = AuthMode::DeveloperKey;
        self
    }

    /// Spends the search budget instead of the general one.
    pub fn search(mut self) -> Self {
        self.budget = Budget::Search;
        self
    }

    /// Tries once and reports the first failure as it is (health checks want the answer now,
    /// not after the backoff). A refused OAuth token is still refreshed once.
    pub fn once(mut self) -> Self {
        self.max_retries = Some(0);
        self
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// 2xx status (200, 201, 204 or 207).
    pub status: StatusCode,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    ///
    /// # Errors
    /// `Transient` when the body is not the expected JSON (a truncated or garbled answer).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::transient(format!(
                "hubspot sent an answer this client cannot read ({e}); retry later"
            ))
        })
    }
}

/// Counters of what the client did, for tests, benchmarks and metrics.
#[derive(Debug, Default)]
pub struct ClientStats {
    requests: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
    refreshes: AtomicU64,
}

/// A snapshot of [`ClientStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// HTTP requests sent (including retries).
    pub requests: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// Requests repeated after a passing failure or a 429.
    pub retries: u64,
    /// OAuth refreshes caused by a 401.
    pub refreshes: u64,
}

impl ClientStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
        }
    }
}

/// The HubSpot HTTP client.
pub struct HubSpotClient {
    http: reqwest::Client,
    base: Url,
    version: ApiVersion,
    credentials: Credentials,
    developer_key: Option<Secret>,
    limiter: Arc<RateLimiter>,
    sender: Sender,
    stats: ClientStats,
    calls: &'static ServiceStats,
}

impl HubSpotClient {
    /// A client for the API at `base`.
    pub fn new(
        http: reqwest::Client,
        base: Url,
        version: ApiVersion,
        credentials: Credentials,
        developer_key: Option<Secret>,
        limiter: Arc<RateLimiter>,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            http,
            base,
            version,
            credentials,
            developer_key,
            limiter,
            sender: Sender::new(API_NAME, retry, stats::service(crate::NAME)),
            stats: ClientStats::default(),
            calls: stats::service(crate::NAME),
        }
    }

    /// The API version every call uses; paths come from it.
    pub fn version(&self) -> ApiVersion {
        self.version
    }

    /// The base URL of the API.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The underlying HTTP client (for calls outside the API, e.g. pre-signed file URLs).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// What the client did so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    async fn limiters(&self) -> Arc<AccountLimiters> {
        let account = self.credentials.account().await;
        self.limiter
            .account(account.as_deref().unwrap_or(DEFAULT_ACCOUNT))
    }

    fn url(&self, call: &Call) -> Result<Url> {
        let mut url = self
            .base
            .join(call.path.trim_start_matches('/'))
            .map_err(|e| ConnectorError::permanent(format!("bad `api_base_url`: {e}")))?;
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query.iter());
        }
        Ok(url)
    }

    /// Sends the call through the shared retry loop, paced by the account's window (the search
    /// window for searches).
    ///
    /// # Errors
    /// The classified error of the last answer (see [`crate::errors`]); `Unauthorized` when a
    /// refreshed token is refused too; `RateLimited { daily: true }` when the daily limit
    /// does not reset within the stall budget.
    pub async fn send(&self, call: &Call) -> Result<Answer> {
        let limiters = self.limiters().await;
        let window = match call.budget {
            Budget::General => &limiters.general,
            Budget::Search => &limiters.search,
        };
        let tries = match call.max_retries {
            None => Tries::Patient,
            Some(most) => Tries::AtMost(most as usize),
        };
        let refreshed = AtomicBool::new(false);
        let attempts = AtomicU64::new(0);
        let attempt = || async {
            if attempts.fetch_add(1, Ordering::Relaxed) > 0 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            self.attempt(call, window, &refreshed).await
        };
        self.sender.send(window, tries, attempt).await
    }

    /// One try of `call`, read into what the retry loop does next.
    async fn attempt(
        &self,
        call: &Call,
        window: &SlidingWindow,
        refreshed: &AtomicBool,
    ) -> Attempt<Answer, ConnectorError> {
        let mut url = match self.url(call) {
            Ok(url) => url,
            Err(error) => return Attempt::Refused(error),
        };
        let mut bearer = None;
        let mut request = match call.auth {
            AuthMode::Bearer => match self.credentials.bearer().await {
                Ok(token) => {
                    let request = self
                        .http
                        .request(call.method.clone(), url)
                        .bearer_auth(token.expose());
                    bearer = Some(token);
                    request
                }
                // The token endpoint had a passing failure: back off like any call.
                Err(error) if error.kind().is_retryable() => {
                    return Attempt::Passing {
                        cause: Cause::Unreachable,
                        wait: None,
                        error,
                    };
                }
                Err(error) => return Attempt::Refused(error),
            },
            AuthMode::DeveloperKey => {
                let Some(key) = self.developer_key.as_ref() else {
                    return Attempt::Refused(ConnectorError::new(
                        ErrorKind::Unauthorized,
                        "webhook management needs the developer API key; set `hubspot.developer_api_key`",
                    ));
                };
                url.query_pairs_mut().append_pair(HAPIKEY, key.expose());
                self.http.request(call.method.clone(), url)
            }
        };
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                self.calls.unanswered();
                return unreachable(transport_error(error));
            }
        };
        let status = response.status();
        self.calls.answered(status);
        let limits = LimitHeaders::read(response.headers());
        if let Some(max) = limits.max {
            window.observe_max(max);
        }
        if let Some(remaining) = limits.remaining {
            window.observe_remaining(remaining, tokio::time::Instant::now());
        }
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return unreachable(transport_error(error)),
        };
        if status.is_success() {
            return Attempt::Answered(Answer {
                status,
                body: body.to_vec(),
            });
        }
        match disposition(status, &limits, &body) {
            Disposition::Fail(error)
                if matches!(error.kind(), ErrorKind::RateLimited { daily: true, .. }) =>
            {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                daily_limit(&error, Utc::now())
            }
            Disposition::Fail(error) => Attempt::Refused(error),
            Disposition::RefreshToken(error) => {
                let Some(token) = bearer.filter(|_| !refreshed.swap(true, Ordering::Relaxed))
                else {
                    return Attempt::Refused(error);
                };
                match self.credentials.after_rejection(&token).await {
                    Ok(true) => {
                        self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(path = %call.path, "Access token refused; refreshed it and retrying.");
                        Attempt::Again
                    }
                    Ok(false) => Attempt::Refused(error),
                    Err(refresh_error) => Attempt::Refused(refresh_error),
                }
            }
            Disposition::WaitForWindow(wait, error) => {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                Attempt::Passing {
                    cause: Cause::Throttled,
                    wait,
                    error,
                }
            }
            Disposition::Retry(wait, error) => Attempt::Passing {
                cause: Cause::Status(status.as_u16()),
                wait,
                error,
            },
        }
    }

    /// Sends the call and reads the JSON answer.
    ///
    /// # Errors
    /// As [`HubSpotClient::send`], and `Transient` for an unreadable answer.
    pub async fn json<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        self.send(call).await?.json()
    }
}

/// A call that got no answer (timeout, refused or broken connection): passing.
fn unreachable(error: ConnectorError) -> Attempt<Answer, ConnectorError> {
    Attempt::Passing {
        cause: Cause::Unreachable,
        wait: None,
        error,
    }
}

/// The daily limit is spent. HubSpot's docs say it "resets at midnight based on your time zone
/// setting" (the account's); that time zone is not known here, so the reset is taken as the
/// next midnight UTC and the limit is tried again at least hourly, which finds the budget back
/// within an hour of midnight in any time zone.
fn daily_limit(error: &ConnectorError, now: DateTime<Utc>) -> Attempt<Answer, ConnectorError> {
    let resets_at = (now.date_naive() + chrono::Days::new(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    let until_reset = (resets_at - now).to_std().unwrap_or_default();
    let wait = until_reset.min(DAILY_LIMIT_PROBE);
    let error = ConnectorError::new(
        ErrorKind::RateLimited {
            retry_after: Some(wait),
            daily: true,
        },
        format!(
            "{}; HubSpot resets it at midnight in the account's time zone, taken as {} (in {}); \
             the sync resumes once it is reset",
            error.message(),
            resets_at.format("%Y-%m-%d %H:%M UTC"),
            human_duration(until_reset)
        ),
    );
    Attempt::Passing {
        cause: Cause::DailyLimit { resets_at },
        wait: Some(wait),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_limit_waits_for_midnight_utc_probing_hourly() {
        let error = ConnectorError::new(
            ErrorKind::RateLimited {
                retry_after: None,
                daily: true,
            },
            "hubspot answered 429 Too Many Requests: You have reached your daily limit.",
        );
        let evening = "2026-12-03T23:20:00Z".parse().unwrap();
        let Attempt::Passing { cause, wait, error } = daily_limit(&error, evening) else {
            panic!("the daily limit is waited out");
        };
        let midnight = "2026-12-04T00:00:00Z".parse().unwrap();
        assert_eq!(
            cause,
            Cause::DailyLimit {
                resets_at: midnight
            }
        );
        assert_eq!(wait, Some(Duration::from_secs(40 * 60)));
        assert!(
            error
                .message()
                .contains("2026-12-04 00:00 UTC (in 40 min 0 s)"),
            "{error}"
        );
        let morning = "2026-12-03T08:00:00Z".parse().unwrap();
        let Attempt::Passing { wait, .. } = daily_limit(&error, morning) else {
            panic!("the daily limit is waited out");
        };
        assert_eq!(wait, Some(DAILY_LIMIT_PROBE));
    }
}
