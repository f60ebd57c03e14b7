//! The HTTP client every HubSpot call goes through: authentication, the proactive rate limits,
//! and the retry loop.
//!
//! One call = wait for a slot in the account's window (the search window for searches) →
//! send with the bearer token (or the developer key as `hapikey`) → read the rate-limit
//! headers → on failure, do what [`crate::errors::disposition`] says: refresh the OAuth token
//! once on 401, wait out the window on a burst 429, back off with jitter on 5xx/423/477 and
//! timeouts (at least `Retry-After`), stop on the daily 429 and on other 4xx. Passing failures
//! are retried `max_retries` times, then on for as long as HubSpot answered some call within
//! the stall budget (`sync.max_stall_secs`, [`Patience`]).
//!
//! Every answer's status and every wait for a rate-limit window are also counted in the
//! process-wide [`stats`] under the service `hubspot`, for the host's metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tte_sync_core::Secret;
use tte_sync_core::connector::{ConnectorError, ErrorKind, Result};
use tte_sync_core::http::stats::{self, ServiceStats};
use tte_sync_core::http::{Patience, max_stall};
use url::Url;

use crate::auth::{Credentials, transport_error};
use crate::errors::{Disposition, LimitHeaders, disposition};
use crate::ratelimit::{AccountLimiters, RateLimiter};
use crate::version::ApiVersion;

/// Query parameter carrying the developer API key.
const HAPIKEY: &str = "hapikey";
/// Limiter key of credentials whose portal is not known (private-app tokens).
const DEFAULT_ACCOUNT: &str = "default";
/// First backoff step; doubled per attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// Longest backoff step.
const BACKOFF_CAP: Duration = Duration::from_secs(10);

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
    max_retries: u32,
    patience: Patience,
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
        max_retries: u32,
    ) -> Self {
        Self {
            http,
            base,
            version,
            credentials,
            developer_key,
            limiter,
            max_retries,
            patience: Patience::default(),
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

    /// Sends the call, retrying as HubSpot's answer allows.
    ///
    /// # Errors
    /// The classified error of the last answer (see [`crate::errors`]); `Unauthorized` when a
    /// refreshed token is refused too; `RateLimited { daily: true }` on the daily limit.
    pub async fn send(&self, call: &Call) -> Result<Answer> {
        let limiters = self.limiters().await;
        let window = match call.budget {
            Budget::General => &limiters.general,
            Budget::Search => &limiters.search,
        };
        let max_retries = call.max_retries.unwrap_or(self.max_retries);
        // Beyond its retries, a call waits on while the stall budget allows, unless it asked
        // for a fixed number of tries (`once`) or retrying is off (`max_retries: 0`).
        let patient = call.max_retries.is_none() && max_retries > 0;
        let may_retry = |attempt: u32, wait: Duration| {
            attempt < max_retries || (patient && self.patience.allows(wait))
        };
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            self.calls.waited(window.acquire().await);
            let mut url = self.url(call)?;
            let mut request;
            let mut bearer = None;
            match call.auth {
                AuthMode::Bearer => {
                    let token = match self.credentials.bearer().await {
                        Ok(token) => token,
                        // The token endpoint had a passing failure: back off like any call.
                        Err(error)
                            if error.kind().is_retryable()
                                && may_retry(attempt, backoff(attempt)) =>
                        {
                            tokio::time::sleep(backoff(attempt)).await;
                            attempt += 1;
                            self.stats.retries.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Err(error) => return Err(error),
                    };
                    request = self.http.request(call.method.clone(), url);
                    request = request.bearer_auth(token.expose());
                    bearer = Some(token);
                }
                AuthMode::DeveloperKey => {
                    let key = self.developer_key.as_ref().ok_or_else(|| {
                        ConnectorError::new(
                            ErrorKind::Unauthorized,
                            "webhook management needs the developer API key; set `hubspot.developer_api_key`",
                        )
                    })?;
                    url.query_pairs_mut().append_pair(HAPIKEY, key.expose());
                    request = self.http.request(call.method.clone(), url);
                }
            }
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let failure = match request.send().await {
                Err(error) => {
                    self.calls.unanswered();
                    Disposition::Retry(None, transport_error(error))
                }
                Ok(response) => {
                    let status = response.status();
                    self.calls.answered(status);
                    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                        self.patience.progressed();
                    }
                    let limits = LimitHeaders::read(response.headers());
                    if let Some(max) = limits.max {
                        window.observe_max(max);
                    }
                    if let Some(remaining) = limits.remaining {
                        window.observe_remaining(remaining, tokio::time::Instant::now());
                    }
                    match response.bytes().await {
                        Err(error) => Disposition::Retry(None, transport_error(error)),
                        Ok(body) if status.is_success() => {
                            return Ok(Answer {
                                status,
                                body: body.to_vec(),
                            });
                        }
                        Ok(body) => disposition(status, &limits, &body),
                    }
                }
            };
            match failure {
                Disposition::Fail(error) => return Err(error),
                Disposition::RefreshToken(error) => {
                    let Some(token) = bearer.filter(|_| !refreshed) else {
                        return Err(error);
                    };
                    if !self.credentials.after_rejection(&token).await? {
                        return Err(error);
                    }
                    refreshed = true;
                    self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(path = %call.path, "Access token refused; refreshed it and retrying.");
                }
                Disposition::WaitForWindow(wait, error) => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    if !may_retry(attempt, wait) {
                        return Err(error);
                    }
                    if attempt == max_retries {
                        tracing::warn!(path = %call.path, budget_secs = max_stall().as_secs(), "HubSpot keeps throttling; waiting it out for as long as sync.max_stall_secs allows.");
                    }
                    tracing::debug!(path = %call.path, wait_ms = wait.as_millis() as u64, "HubSpot rate limit hit; waiting for the window.");
                    window.pause_for(wait);
                    attempt += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                }
                Disposition::Retry(after, error) => {
                    let wait = backoff(attempt).max(after.unwrap_or_default());
                    if !may_retry(attempt, wait) {
                        return Err(error);
                    }
                    if attempt == max_retries {
                        tracing::warn!(path = %call.path, %error, budget_secs = max_stall().as_secs(), "HubSpot keeps failing; waiting it out for as long as sync.max_stall_secs allows.");
                    }
                    tracing::debug!(path = %call.path, attempt, wait_ms = wait.as_millis() as u64, %error, "Passing HubSpot failure; retrying.");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
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

/// Exponential backoff with full jitter: a random wait in `[step/2, step]`, where the step
/// doubles from 200 ms up to 10 s.
pub fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let half = step / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        for attempt in 0..20 {
            let wait = backoff(attempt);
            let step = BACKOFF_BASE
                .saturating_mul(1u32 << attempt.min(16))
                .min(BACKOFF_CAP);
            assert!(wait >= step / 2 && wait <= step, "{attempt}: {wait:?}");
        }
        let waits: std::collections::HashSet<_> = (0..20).map(|_| backoff(5)).collect();
        assert!(waits.len() > 1, "jittered");
    }
}
