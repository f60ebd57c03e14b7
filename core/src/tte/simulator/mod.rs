//! An in-memory simulator of the 10to8 Enterprise API v2, for the demo, the tests and the
//! benchmarks. It behaves as 10to8's documentation and its public demo integration show the
//! real API behaving; where they are silent it follows Django REST Framework's conventions,
//! which 10to8's API shows every sign of (see `docs/simulator-tte.md`).
//!
//! - `state`: customers, bookings, subscriptions and the operations on them.
//! - `customers`, `subscriptions`: the API routes.
//! - `guard`: request counting, token auth, injected faults and the per-key rate limit.
//! - `notify`: batched notification delivery with retries.
//! - `admin`: the `/_sim/` admin API (documented in `docs/simulator-tte.md`).
//!
//! [`TteSimulator::start`] serves it on loopback; the same abilities as the admin API are
//! methods on the returned handle.

mod admin;
mod customers;
mod error;
mod guard;
mod notify;
mod state;
mod subscriptions;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use admin::ADMIN_PREFIX;
pub use guard::{NotificationStats, RouteCount, SimStats};

use self::error::ApiError;
use self::state::SimState;
use crate::record::CustomerUri;
use crate::simulate::{ServedRouter, serve_on_loopback};
use crate::tte::CustomerPatch;

/// The API key a simulator accepts unless configured otherwise.
pub const DEFAULT_API_KEY: &str = "tte-sim-key";

/// How a simulator behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TteSimConfig {
    /// The API keys it accepts (`Authorization: token <key>`); the first is
    /// [`TteSimulator::api_key`].
    pub api_keys: Vec<String>,
    /// Page size when a list names no `limit`.
    pub default_limit: usize,
    /// The largest `limit` honoured; larger ones are cut to it.
    pub max_limit: usize,
    /// Requests per window per API key before 429s; `None` is unlimited.
    pub rate_limit: Option<RateLimit>,
    /// How long changes are collected into one notification.
    pub notification_batch_window_ms: u64,
    /// The most customer URIs in one notification.
    pub notification_batch_max: usize,
    /// How long a callback may take to answer before the attempt fails.
    pub notification_timeout_ms: u64,
    /// Retries of a failed notification before it is abandoned.
    pub notification_retries: u32,
    /// The delay before the first retry; each later one doubles it.
    pub notification_retry_base_ms: u64,
    /// Notification POSTs in flight at once (a retrying one holds its place).
    pub notification_max_in_flight: usize,
    /// Faults in force from the start.
    pub faults: Faults,
    /// Seed of the generator deciding which requests and notifications faults hit.
    pub fault_seed: u64,
}

impl Default for TteSimConfig {
    fn default() -> Self {
        Self {
            api_keys: vec![DEFAULT_API_KEY.to_owned()],
            default_limit: 20,
            max_limit: 100,
            rate_limit: None,
            notification_batch_window_ms: 100,
            notification_batch_max: 100,
            notification_timeout_ms: 5_000,
            notification_retries: 5,
            notification_retry_base_ms: 1_000,
            notification_max_in_flight: 4,
            faults: Faults::default(),
            fault_seed: 0,
        }
    }
}

/// A rate limit: at most `requests` per `window_secs` per API key (a fixed window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window's length.
    pub window_secs: u64,
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// `REQUESTS/SECONDS`, e.g. `100/60`; a bare `REQUESTS` means per second.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (requests, window) = text.split_once('/').unwrap_or((text, "1"));
        let requests = requests.trim().parse().ok();
        let window_secs = window.trim().trim_end_matches('s').parse().ok();
        match (requests, window_secs) {
            (Some(requests), Some(window_secs)) if window_secs > 0 => Ok(Self {
                requests,
                window_secs,
            }),
            _ => Err(format!(
                "rate limit `{text}` is not REQUESTS/SECONDS; write e.g. 100/60"
            )),
        }
    }
}

/// Faults to inject into API requests and notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Added to every API request.
    pub latency_ms: u64,
    /// Percent of API requests answered 500 (half the writes among them after acting).
    pub error_rate_percent: u8,
    /// The next this many API requests are answered 429 (a storm).
    pub throttle_next: u32,
    /// The `Retry-After` of storm 429s.
    pub throttle_retry_after_secs: u64,
    /// 429s (storms and the rate limit) say how long to wait only in the body text, with no
    /// `Retry-After` header.
    pub throttle_without_retry_after: bool,
    /// Percent of notification batches never sent.
    pub drop_notifications_percent: u8,
    /// Percent of notification batches sent twice.
    pub duplicate_notifications_percent: u8,
}

/// A customer as the simulator stores it (the admin view).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimCustomer {
    /// The number at the end of its URI.
    pub id: u64,
    /// Full name.
    pub name: String,
    /// Emails, primary first.
    pub emails: Vec<String>,
    /// Phone numbers, primary first.
    pub numbers: Vec<String>,
    /// Custom fields by label.
    pub custom_fields: BTreeMap<String, String>,
    /// Soft-deleted (404 on GET, listed only with `include_deleted`).
    pub deleted: bool,
    /// Future bookings: a DELETE without `force` is refused (409) while above zero.
    pub future_bookings: u32,
}

/// Why an admin action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// No live customer has that id.
    #[error("no live customer {0}; list them with GET /_sim/customers")]
    NoSuchCustomer(u64),
    /// The change was refused as the API would refuse it.
    #[error("the simulator refused the change: {0}")]
    Refused(String),
}

/// A running 10to8 simulator. Dropping it stops the server and the notifier.
#[derive(Debug)]
pub struct TteSimulator {
    state: Arc<SimState>,
    served: Option<ServedRouter>,
    notifier: JoinHandle<()>,
}

impl TteSimulator {
    /// Serves a new, empty simulator on `127.0.0.1:port` (`0` picks a free port).
    ///
    /// # Errors
    /// Fails when the port cannot be bound.
    pub async fn start(config: TteSimConfig, port: u16) -> std::io::Result<Self> {
        let (changes, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(SimState::new(config, changes));
        if port != 0 {
            // Known before the first request can arrive.
            state.set_base(&format!("http://127.0.0.1:{port}"));
        }
        let notifier = notify::spawn(Arc::downgrade(&state), receiver);
        let served = serve_on_loopback(router(state.clone()), port).await?;
        state.set_base(&served.base_url());
        Ok(Self {
            state,
            served: Some(served),
            notifier,
        })
    }

    /// `http://127.0.0.1:<port>`: what `tte.api_base_url` should be.
    pub fn base_url(&self) -> &str {
        self.state.base()
    }

    /// The first accepted API key.
    pub fn api_key(&self) -> &str {
        self.state
            .config
            .api_keys
            .first()
            .map_or(DEFAULT_API_KEY, String::as_str)
    }

    /// The request and notification counters.
    pub fn stats(&self) -> SimStats {
        self.state.guard.stats()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.state.guard.reset_stats();
    }

    /// The URI of customer `id` (as `resource_uri`, `Location` and notifications carry it).
    pub fn customer_uri(&self, id: u64) -> CustomerUri {
        CustomerUri(self.state.customer_uri(id))
    }

    /// The id in one of this simulator's customer URIs.
    pub fn customer_id(&self, uri: &CustomerUri) -> Option<u64> {
        self.state.customer_id(uri.as_str())
    }

    /// Adds people `start..start+count` of `simulate::people(seed, …)` as customers and
    /// returns their URIs; notifies subscribers when `notify` is set.
    pub fn seed(&self, seed: u64, start: u64, count: u64, notify: bool) -> Vec<CustomerUri> {
        self.state
            .seed(seed, start, count, notify)
            .into_iter()
            .map(|id| self.customer_uri(id))
            .collect()
    }

    /// Any customer, deleted or not.
    pub fn customer(&self, id: u64) -> Option<SimCustomer> {
        self.state.customer(id)
    }

    /// Every customer, deleted ones included.
    pub fn customers(&self) -> Vec<SimCustomer> {
        self.state.customers()
    }

    /// Edits a customer as a person in the app would (notified).
    ///
    /// # Errors
    /// Fails for a deleted or unknown customer, or a value the API would refuse.
    pub fn edit(&self, id: u64, patch: &CustomerPatch) -> Result<SimCustomer, SimError> {
        self.state.edit(id, patch).map_err(|e| sim_error(id, e))
    }

    /// Deletes a customer (and their bookings) as a person in the app would (notified).
    ///
    /// # Errors
    /// Fails for a deleted or unknown customer.
    pub fn delete(&self, id: u64) -> Result<(), SimError> {
        self.state.delete_as_user(id).map_err(|e| sim_error(id, e))
    }

    /// Merges `others` into `survivor` as a person in the app would (notified for all).
    ///
    /// # Errors
    /// Fails when any of them is deleted or unknown, or one is listed twice.
    pub fn merge(&self, survivor: u64, others: &[u64]) -> Result<SimCustomer, SimError> {
        self.state
            .merge(survivor, others)
            .map_err(|e| sim_error(survivor, e))
    }

    /// Gives a live customer `count` future bookings.
    ///
    /// # Errors
    /// Fails for a deleted or unknown customer.
    pub fn set_future_bookings(&self, id: u64, count: u32) -> Result<(), SimError> {
        self.state
            .set_future_bookings(id, count)
            .map_err(|e| sim_error(id, e))
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.state.guard.faults()
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        self.state.guard.set_faults(faults);
    }

    /// Replaces the rate limit (`None`: unlimited).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.state.guard.set_rate_limit(limit);
    }

    /// The callback URLs subscribed.
    pub fn subscriptions(&self) -> Vec<String> {
        self.state
            .subscriptions()
            .into_iter()
            .map(|s| s.callback_url)
            .collect()
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        self.notifier.abort();
        if let Some(served) = self.served.take() {
            served.shutdown().await;
        }
    }
}

impl Drop for TteSimulator {
    fn drop(&mut self) {
        self.notifier.abort();
    }
}

fn sim_error(id: u64, error: ApiError) -> SimError {
    match error {
        ApiError::NotFound => SimError::NoSuchCustomer(id),
        ApiError::Invalid(fields) => SimError::Refused(
            fields
                .iter()
                .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => SimError::Refused(format!("{other:?}")),
    }
}

/// The whole simulator as a router: the API (counted, authenticated, faulted, rate limited)
/// and the admin API under [`ADMIN_PREFIX`].
fn router(state: Arc<SimState>) -> Router {
    let api = customers::routes()
        .merge(subscriptions::routes())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::MethodNotAllowed(method.to_string()).into_response()
        })
        .layer(from_fn_with_state(state.clone(), guard::faults))
        .layer(from_fn_with_state(state.clone(), guard::authenticate))
        .layer(from_fn_with_state(state.clone(), guard::count));
    admin::routes().merge(api).with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_reads_as_requests_per_seconds() {
        let limit = |text: &str| text.parse::<RateLimit>();
        assert_eq!(
            limit("100/60"),
            Ok(RateLimit {
                requests: 100,
                window_secs: 60
            })
        );
        assert_eq!(
            limit("5/10s"),
            Ok(RateLimit {
                requests: 5,
                window_secs: 10
            })
        );
        assert_eq!(
            limit("20"),
            Ok(RateLimit {
                requests: 20,
                window_secs: 1
            })
        );
        assert!(limit("fast").unwrap_err().contains("100/60"));
        assert!(limit("1/0").is_err());
    }
}
