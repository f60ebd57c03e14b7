//! [`TteClient`]: the 10to8 Enterprise API v2 client the sync engine uses.
//!
//! Every call goes through the shared retry loop ([`Sender`]), paced by an [`AdaptiveLimiter`]
//! (faster while 10to8 answers, halved on a 429, then just under the rate 10to8 refused): a 429
//! is waited out for as long as 10to8 says (`Retry-After`, else the "Expected available in N
//! seconds." text, else backoff), passing failures are retried with exponential backoff and
//! jitter, `tte.max_retries` times and then on for as long as the stall budget allows
//! (`sync.max_stall_secs`). A create is retried only when 10to8 surely did not act on it (429,
//! or the connection was never made), so a retry never makes a second customer.
//!
//! Parsing is lenient everywhere: unknown fields are kept, a missing `deleted` is `false`, error
//! bodies may be JSON or not, and list pages are followed through `next` exactly as sent.
//!
//! Each call's status (or lack of an answer) and each wait for the rate limit are counted in
//! the process-wide [`stats`] under the service [`STATS_SERVICE`].

use std::sync::Arc;
use std::time::Duration;

use futures_core::stream::BoxStream;
use futures_util::StreamExt;
use futures_util::stream;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::debug;
use url::Url;

use super::types::Page;
use super::{
    CUSTOMER_PATH, CustomerPatch, CustomerWrite, DELETE_BLOCKED, DeleteOutcome, SCOPE_CUSTOMER,
    SUBSCRIPTION_PATH, Subscription, TteConfig, TteError, TteResult,
};
use crate::connector::ErrorKind;
use crate::http::stats::{self, ServiceStats};
use crate::http::{
    AdaptiveLimiter, Attempt, Cause, RetryPolicy, Sender, Tries, classify_reqwest, classify_status,
    retry_after,
};
use crate::record::{Customer, CustomerUri};

/// The `User-Agent` the client sends.
const USER_AGENT: &str = concat!("tte-sync/", env!("CARGO_PKG_VERSION"));
/// The JSON media type.
const JSON: &str = "application/json";
/// The longest a retry ever waits between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// The API's name in waits, logs and errors.
pub const API_NAME: &str = "10to8";
/// The `service` this client's calls are counted under in [`stats`].
pub const STATS_SERVICE: &str = "tte";
/// How 10to8 (Django REST Framework) words the wait in a 429 body.
const THROTTLE_WAIT_PREFIX: &str = "available in ";

/// A client of one 10to8 account. Cheap to clone; clones share the connection pool and the
/// pacing.
#[derive(Debug, Clone)]
pub struct TteClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: String,
    origin: url::Origin,
    authorization: HeaderValue,
    limiter: AdaptiveLimiter,
    sender: Sender,
    page_size: u32,
    stats: &'static ServiceStats,
}

/// Whether a call may be repeated after 10to8 may already have acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// GET, PATCH, DELETE: repeating gives the same result.
    Safe,
    /// POST: repeat only when 10to8 surely did nothing (429, no connection).
    OnlyIfUnsent,
}

impl TteClient {
    /// A client for the account `config` names.
    ///
    /// # Errors
    /// Fails when `api_base_url` is not an http(s) URL or `api_key` cannot be sent in a header.
    pub fn new(config: TteConfig) -> TteResult<Self> {
        let base = config.api_base_url.trim_end_matches('/').to_owned();
        let parsed = Url::parse(&base)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"));
        let Some(parsed) = parsed else {
            return Err(config_error(format!(
                "tte.api_base_url `{base}` is not an http(s) URL; use e.g. https://app.10to8.com"
            )));
        };
        if config.api_key.is_empty() {
            return Err(config_error(
                "tte.api_key is empty; create a key in 10to8's Enterprise API Key Manager".into(),
            ));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("token {}", config.api_key.expose())).map_err(|_| {
                config_error(
                    "tte.api_key holds characters a header cannot carry; paste the key again"
                        .into(),
                )
            })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .build()
            .map_err(|error| config_error(format!("cannot build the HTTP client: {error}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                origin: parsed.origin(),
                authorization,
                limiter: AdaptiveLimiter::new(
                    config
                        .start_requests_per_second
                        .unwrap_or(config.requests_per_second),
                    config.requests_per_second,
                ),
                sender: Sender::new(
                    API_NAME,
                    RetryPolicy {
                        max_retries: config.max_retries as usize,
                        min_delay: Duration::from_millis(config.retry_min_delay_ms),
                        max_delay: MAX_RETRY_DELAY,
                    },
                    stats::service(STATS_SERVICE),
                ),
                page_size: config.page_size.max(1),
                stats: stats::service(STATS_SERVICE),
            }),
        })
    }

    /// The base URL calls go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The customer collection URL (`{base}/api/enterprise/v2/customer/`).
    pub fn customers_url(&self) -> String {
        format!("{}{CUSTOMER_PATH}", self.inner.base)
    }

    /// The limiter pacing this client's calls (its learned rate is saved and restored by the
    /// engine).
    pub fn limiter(&self) -> &AdaptiveLimiter {
        &self.inner.limiter
    }

    /// Customers asked for per list page (10to8 may send fewer).
    pub fn page_size(&self) -> u32 {
        self.inner.page_size
    }

    /// Every customer, one page at a time, following 10to8's `next` links exactly as sent
    /// until `next` is null or a page is empty. With `include_deleted`, deleted customers come
    /// too (with `deleted: true`). Memory stays bounded by one page.
    ///
    /// The stream ends after yielding the first error.
    pub fn list(&self, include_deleted: bool) -> BoxStream<'static, TteResult<Vec<Customer>>> {
        let first = format!(
            "{}?include_deleted={}&limit={}",
            self.customers_url(),
            python_bool(include_deleted),
            self.inner.page_size
        );
        let client = self.clone();
        stream::unfold(Some(first), move |next| {
            let client = client.clone();
            async move {
                let url = next?;
                match client.page::<Customer>(&url).await {
                    Ok(page) if page.results.is_empty() => None,
                    Ok(page) => {
                        let next = page.next.filter(|next| {
                            let fresh = *next != url;
                            if !fresh {
                                debug!(%url, "10to8 returned a page linking to itself; stopping.");
                            }
                            fresh
                        });
                        Some((Ok(page.results), next))
                    }
                    Err(error) => Some((Err(error), None)),
                }
            }
        })
        .boxed()
    }

    /// The customer at `uri`, or `None` when 10to8 answers 404 (10to8's sign of a deleted
    /// customer).
    ///
    /// # Errors
    /// Fails when the URI is not on the configured host, or as any call does (key refused,
    /// throttled past the retries, unreachable).
    pub async fn get(&self, uri: &CustomerUri) -> TteResult<Option<Customer>> {
        self.check_origin(uri.as_str())?;
        let response = self
            .send(Method::GET, uri.as_str(), None, Repeat::Safe)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        json_body(expect_success(response, "customer").await?)
            .await
            .map(Some)
    }

    /// Creates a customer. The returned customer's `resource_uri` is the `Location` header
    /// byte for byte (the same string later notifications carry).
    ///
    /// # Errors
    /// `Invalid` when 10to8 refuses a value (the message names the field); otherwise as any
    /// call. A create that may have reached 10to8 is not retried.
    pub async fn create(&self, customer: &CustomerWrite) -> TteResult<Customer> {
        let body = to_json(customer)?;
        let url = self.customers_url();
        let response = self
            .send(Method::POST, &url, Some(body), Repeat::OnlyIfUnsent)
            .await?;
        let response = expect_success(response, "customer").await?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let mut created: Customer = json_body(response).await?;
        if let Some(location) = location {
            created.resource_uri = location;
        }
        if created.resource_uri.is_empty() {
            return Err(TteError::new(
                ErrorKind::Permanent,
                None,
                "10to8 created a customer but sent neither a Location header nor a \
                 resource_uri; report this to 10to8 support"
                    .into(),
            ));
        }
        Ok(created)
    }

    /// Updates only the fields `patch` sets; 10to8 merges `custom_fields` key by key and
    /// replaces lists. Returns the customer as 10to8 stored it.
    ///
    /// # Errors
    /// `NotFound` when the customer was deleted; `Invalid` when 10to8 refuses a value;
    /// otherwise as any call.
    pub async fn patch(&self, uri: &CustomerUri, patch: &CustomerPatch) -> TteResult<Customer> {
        self.check_origin(uri.as_str())?;
        let body = to_json(patch)?;
        let response = self
            .send(Method::PATCH, uri.as_str(), Some(body), Repeat::Safe)
            .await?;
        json_body(expect_success(response, "customer").await?).await
    }

    /// Deletes the customer at `uri`. Without `force`, 10to8 refuses when the customer has
    /// future bookings: that is [`DeleteOutcome::Blocked`], not an error. A customer already
    /// gone is [`DeleteOutcome::AlreadyDeleted`].
    ///
    /// # Errors
    /// As any call (key refused, throttled past the retries, unreachable).
    pub async fn delete(&self, uri: &CustomerUri, force: bool) -> TteResult<DeleteOutcome> {
        self.check_origin(uri.as_str())?;
        let mut url = Url::parse(uri.as_str()).map_err(|_| not_a_uri(uri.as_str()))?;
        url.query_pairs_mut()
            .append_pair("force", python_bool(force));
        let response = self
            .send(Method::DELETE, url.as_str(), None, Repeat::Safe)
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(DeleteOutcome::AlreadyDeleted),
            StatusCode::CONFLICT => {
                let detail = error_body(response).await.detail;
                Ok(DeleteOutcome::Blocked {
                    message: DELETE_BLOCKED.to_owned(),
                    detail,
                })
            }
            _ => {
                expect_success(response, "customer").await?;
                Ok(DeleteOutcome::Deleted)
            }
        }
    }

    /// Every notification subscription of the account (following `next` when there is one).
    ///
    /// # Errors
    /// As any call.
    pub async fn subscriptions(&self) -> TteResult<Vec<Subscription>> {
        let mut all = Vec::new();
        let mut next = Some(format!("{}{SUBSCRIPTION_PATH}", self.inner.base));
        while let Some(url) = next.take() {
            let response = self.send(Method::GET, &url, None, Repeat::Safe).await?;
            let body: Value = json_body(expect_success(response, "subscription").await?).await?;
            // Some 10to8 lists are plain arrays; most are pages.
            let page: Page<Subscription> = match body {
                Value::Array(items) => Page {
                    results: serde_json::from_value(Value::Array(items)).map_err(decode_error)?,
                    next: None,
                },
                other => serde_json::from_value(other).map_err(decode_error)?,
            };
            if page.results.is_empty() {
                break;
            }
            all.extend(page.results);
            next = page.next.filter(|n| *n != url);
            if let Some(link) = &next {
                self.check_origin(link)?;
            }
        }
        Ok(all)
    }

    /// Subscribes `callback_url` to customer notifications. Embed basic-auth credentials in the
    /// URL (`https://user:pass@host/path`) to have 10to8 send them.
    ///
    /// # Errors
    /// `Invalid` when 10to8 refuses the URL; otherwise as any call.
    pub async fn create_subscription(&self, callback_url: &str) -> TteResult<Subscription> {
        let body = to_json(&serde_json::json!({
            "callback_url": callback_url,
            "scope": SCOPE_CUSTOMER,
        }))?;
        let url = format!("{}{SUBSCRIPTION_PATH}", self.inner.base);
        let response = self
            .send(Method::POST, &url, Some(body), Repeat::OnlyIfUnsent)
            .await?;
        let response = expect_success(response, "subscription").await?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let mut created: Subscription = json_body(response).await?;
        if created.resource_uri.is_empty() {
            created.resource_uri = location.unwrap_or_default();
        }
        Ok(created)
    }

    /// Deletes the subscription at `uri`; `false` when it did not exist.
    ///
    /// # Errors
    /// As any call.
    pub async fn delete_subscription(&self, uri: &str) -> TteResult<bool> {
        self.check_origin(uri)?;
        let response = self.send(Method::DELETE, uri, None, Repeat::Safe).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        expect_success(response, "subscription").await?;
        Ok(true)
    }

    async fn page<T: DeserializeOwned>(&self, url: &str) -> TteResult<Page<T>> {
        self.check_origin(url)?;
        let response = self.send(Method::GET, url, None, Repeat::Safe).await?;
        json_body(expect_success(response, "customer list").await?).await
    }

    /// Refuses to send the API key anywhere but the configured host.
    fn check_origin(&self, uri: &str) -> TteResult<()> {
        match Url::parse(uri) {
            Ok(url) if url.origin() == self.inner.origin => Ok(()),
            Ok(_) => Err(TteError::new(
                ErrorKind::Invalid { field: None },
                None,
                format!(
                    "`{uri}` is not on the configured 10to8 host {}; the key is only sent there \
                     (check tte.api_base_url)",
                    self.inner.base
                ),
            )),
            Err(_) => Err(not_a_uri(uri)),
        }
    }

    /// One call through the shared retry loop, paced by the limiter. Returns every response
    /// that is not a 429 or a retried 5xx; the caller reads its status.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        repeat: Repeat,
    ) -> TteResult<reqwest::Response> {
        let inner = &self.inner;
        let attempt = || async {
            let mut request = inner
                .http
                .request(method.clone(), url)
                .header(AUTHORIZATION, inner.authorization.clone())
                .header(ACCEPT, JSON);
            if let Some(body) = &body {
                request = request.header(CONTENT_TYPE, JSON).body(body.clone());
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    inner.stats.unanswered();
                    return unanswered(&inner.base, &error, repeat);
                }
            };
            let status = response.status();
            inner.stats.answered(status);
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = throttle_wait(response).await;
                return Attempt::Passing {
                    cause: Cause::Throttled,
                    wait,
                    error: TteError::new(
                        ErrorKind::RateLimited {
                            retry_after: wait,
                            daily: false,
                        },
                        Some(status),
                        "10to8 answered 429 Too Many Requests".into(),
                    ),
                };
            }
            if status.is_server_error() && repeat == Repeat::Safe {
                return Attempt::Passing {
                    cause: Cause::Status(status.as_u16()),
                    wait: retry_after(response.headers()),
                    error: TteError::new(
                        classify_status(status, None),
                        Some(status),
                        format!("10to8 answered {status}"),
                    ),
                };
            }
            Attempt::Answered(response)
        };
        inner
            .sender
            .send(&inner.limiter, Tries::Patient, attempt)
            .await
    }
}

/// What a call that got no answer means: a passing failure to retry, unless it was a create
/// that may have reached 10to8 (then it is reported at once, still as passing, so the pass
/// stops and the rerun finds the customer by its External ID instead of making a second).
fn unanswered(
    base: &str,
    error: &reqwest::Error,
    repeat: Repeat,
) -> Attempt<reqwest::Response, TteError> {
    let kind = classify_reqwest(error);
    let unsent = error.is_connect();
    let error = TteError::new(
        kind.clone(),
        None,
        format!(
            "could not reach 10to8 at {base} ({error}); check tte.api_base_url and the network"
        ),
    );
    if !kind.is_retryable() {
        return Attempt::Refused(error);
    }
    if repeat == Repeat::OnlyIfUnsent && !unsent {
        return Attempt::Refused(error);
    }
    Attempt::Passing {
        cause: Cause::Unreachable,
        wait: None,
        error,
    }
}

/// How long a 429 asks to wait: `Retry-After`, else the number in "Expected available in N
/// seconds.", else unknown (the retry backoff decides).
async fn throttle_wait(response: reqwest::Response) -> Option<Duration> {
    if let Some(wait) = retry_after(response.headers()) {
        return Some(wait);
    }
    let detail = error_body(response).await.detail?;
    wait_from_text(&detail)
}

fn wait_from_text(text: &str) -> Option<Duration> {
    let rest = &text[text.find(THROTTLE_WAIT_PREFIX)? + THROTTLE_WAIT_PREFIX.len()..];
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let secs: f64 = number.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// An error body as 10to8 (DRF) sends them: `{"detail": "…"}` or `{"field": ["msg", …]}`.
#[derive(Debug, Default)]
struct ErrorBody {
    detail: Option<String>,
    /// The first field named in a validation error, and its messages.
    field: Option<(String, String)>,
    raw: String,
}

async fn error_body(response: reqwest::Response) -> ErrorBody {
    let raw = response.text().await.unwrap_or_default();
    let mut body = ErrorBody::default();
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&raw) {
        body.detail = map.get("detail").and_then(Value::as_str).map(str::to_owned);
        body.field = map
            .iter()
            .find(|(key, _)| *key != "detail")
            .map(|(key, value)| (key.clone(), messages(value)));
    }
    body.raw = raw.chars().take(300).collect();
    body
}

fn messages(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(messages).collect::<Vec<_>>().join(" "),
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| format!("{key}: {}", messages(value)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// Passes a 2xx response through; turns anything else into an error that says how to fix it.
async fn expect_success(response: reqwest::Response, what: &str) -> TteResult<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let url = response.url().as_str().to_owned();
    let body = error_body(response).await;
    let said = body.detail.clone().unwrap_or_else(|| body.raw.clone());
    let kind = classify_status(status, None);
    let code = status.as_u16();
    let message = match &kind {
        ErrorKind::Unauthorized => {
            format!("10to8 refused the API key ({code}); check tte.api_key")
        }
        ErrorKind::NotFound => {
            format!("10to8 has no {what} at {url} ({code}); it was probably deleted")
        }
        ErrorKind::Invalid { .. } => match &body.field {
            Some((field, text)) => format!(
                "10to8 refused the {what}'s {field} ({code}): {text}; correct the value at \
                 its source"
            ),
            None => format!("10to8 refused the {what} ({code}): {said}; correct the request"),
        },
        _ => format!("10to8 answered {code} for the {what}: {said}"),
    };
    let kind = match kind {
        ErrorKind::Invalid { .. } => ErrorKind::Invalid {
            field: body.field.map(|(field, _)| field),
        },
        other => other,
    };
    Err(TteError::new(kind, Some(status), message))
}

async fn json_body<T: DeserializeOwned>(response: reqwest::Response) -> TteResult<T> {
    let bytes = response.bytes().await.map_err(|error| {
        TteError::new(
            classify_reqwest(&error),
            None,
            format!("10to8's answer broke off ({error}); try again"),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(decode_error)
}

fn decode_error(error: serde_json::Error) -> TteError {
    TteError::new(
        ErrorKind::Permanent,
        None,
        format!("10to8 sent JSON this client cannot read ({error}); report it with the response"),
    )
}

fn to_json<T: serde::Serialize>(value: &T) -> TteResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|error| {
        TteError::new(
            ErrorKind::Permanent,
            None,
            format!("cannot encode the request body ({error})"),
        )
    })
}

fn config_error(message: String) -> TteError {
    TteError::new(ErrorKind::Permanent, None, message)
}

fn not_a_uri(uri: &str) -> TteError {
    TteError::new(
        ErrorKind::Invalid { field: None },
        None,
        format!("`{uri}` is not an absolute 10to8 URL; use the resource_uri 10to8 returned"),
    )
}

/// Booleans as 10to8's own demo sends them in query strings.
fn python_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_read_from_drf_throttle_text() {
        assert_eq!(
            wait_from_text("Request was throttled. Expected available in 12 seconds."),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            wait_from_text("Request was throttled. Expected available in 0.5 seconds."),
            Some(Duration::from_millis(500))
        );
        assert_eq!(wait_from_text("Request was throttled."), None);
    }

    #[test]
    fn a_bad_base_url_or_empty_key_is_refused_with_a_hint() {
        let error = TteClient::new(TteConfig::new("app.10to8.com", "k".into())).unwrap_err();
        assert!(error.message().contains("tte.api_base_url"), "{error}");
        let error = TteClient::new(TteConfig::new("https://x", "".into())).unwrap_err();
        assert!(error.message().contains("tte.api_key"), "{error}");
    }

    #[tokio::test]
    async fn the_key_is_never_sent_to_another_host() {
        let client = TteClient::new(TteConfig::new("http://127.0.0.1:9", "k".into())).unwrap();
        let error = client
            .get(&CustomerUri::from(
                "http://evil.example/api/enterprise/v2/customer/1/",
            ))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::Invalid { field: None });
    }
}
