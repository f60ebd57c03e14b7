//! What stands in front of every API route: request counting, token authentication, injected
//! faults (latency, errors, 429 storms) and the per-key rate limit. Also where the counters
//! behind `GET /_sim/stats` live.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::state::SimState;
use super::{Faults, RateLimit, TteSimConfig};
use crate::simulate::SplitMix64;

/// What stands for a numeric path segment in a route label.
const ID_SEGMENT: &str = "{id}";
const NO_CREDENTIALS: &str = "Authentication credentials were not provided.";
const INVALID_TOKEN: &str = "Invalid token.";
const INVALID_HEADER: &str = "Invalid token header. No credentials provided.";

/// The API key a request authenticated with (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct ApiKey(pub(crate) String);

/// Faults, limits and counters.
#[derive(Debug)]
pub(crate) struct Guard {
    faults: Mutex<Faults>,
    rng: Mutex<SplitMix64>,
    rate_limit: Mutex<Option<RateLimit>>,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    pub(crate) throttled: AtomicU64,
    pub(crate) notifications: NotificationCounters,
}

/// Counters of notification deliveries.
#[derive(Debug, Default)]
pub(crate) struct NotificationCounters {
    pub(crate) delivered: AtomicU64,
    pub(crate) items_delivered: AtomicU64,
    pub(crate) failed_attempts: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) duplicated: AtomicU64,
}

/// What `GET /_sim/stats` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Requests to the API (not the admin API) by method, route template and status.
    pub requests: Vec<RouteCount>,
    /// Requests answered 429 (rate limit and injected storms).
    pub throttled: u64,
    /// Notification deliveries.
    pub notifications: NotificationStats,
}

/// Requests to one route that got one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCount {
    /// The HTTP method.
    pub method: String,
    /// The route template, e.g. `/api/enterprise/v2/customer/{id}/`.
    pub route: String,
    /// The status answered.
    pub status: u16,
    /// How many.
    pub count: u64,
}

/// Notification deliveries, counted per POST to a callback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationStats {
    /// POSTs the callback answered with a 2xx.
    pub delivered: u64,
    /// Customer URIs in those POSTs.
    pub items_delivered: u64,
    /// Attempts that timed out, failed to connect or got a non-2xx.
    pub failed_attempts: u64,
    /// Batches given up after the last retry.
    pub abandoned: u64,
    /// Batches dropped on purpose (injected fault).
    pub dropped: u64,
    /// Batches sent twice on purpose (injected fault).
    pub duplicated: u64,
}

impl SimStats {
    /// Requests with `method` to `route`, whatever their status.
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.method == method && r.route == route)
            .map(|r| r.count)
            .sum()
    }

    /// Requests answered with `status`, whatever the route.
    pub fn with_status(&self, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.status == status)
            .map(|r| r.count)
            .sum()
    }

    /// Every API request.
    pub fn total(&self) -> u64 {
        self.requests.iter().map(|r| r.count).sum()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Guard {
    pub(crate) fn new(config: &TteSimConfig) -> Self {
        Self {
            faults: Mutex::new(config.faults.clone()),
            rng: Mutex::new(SplitMix64::new(config.fault_seed)),
            rate_limit: Mutex::new(config.rate_limit),
            windows: Mutex::new(HashMap::new()),
            requests: Mutex::new(BTreeMap::new()),
            throttled: AtomicU64::new(0),
            notifications: NotificationCounters::default(),
        }
    }

    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    pub(crate) fn rate_limit(&self) -> Option<RateLimit> {
        *lock(&self.rate_limit)
    }

    pub(crate) fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *lock(&self.rate_limit) = limit;
        lock(&self.windows).clear();
    }

    /// True with probability `percent`/100, from the seeded fault generator.
    pub(crate) fn chance(&self, percent: u8) -> bool {
        percent > 0 && lock(&self.rng).chance(u64::from(percent))
    }

    pub(crate) fn stats(&self) -> SimStats {
        let requests = lock(&self.requests)
            .iter()
            .map(|((method, route, status), count)| RouteCount {
                method: method.clone(),
                route: route.clone(),
                status: *status,
                count: *count,
            })
            .collect();
        let n = &self.notifications;
        SimStats {
            requests,
            throttled: self.throttled.load(Ordering::Relaxed),
            notifications: NotificationStats {
                delivered: n.delivered.load(Ordering::Relaxed),
                items_delivered: n.items_delivered.load(Ordering::Relaxed),
                failed_attempts: n.failed_attempts.load(Ordering::Relaxed),
                abandoned: n.abandoned.load(Ordering::Relaxed),
                dropped: n.dropped.load(Ordering::Relaxed),
                duplicated: n.duplicated.load(Ordering::Relaxed),
            },
        }
    }

    pub(crate) fn reset_stats(&self) {
        lock(&self.requests).clear();
        self.throttled.store(0, Ordering::Relaxed);
        let n = &self.notifications;
        for counter in [
            &n.delivered,
            &n.items_delivered,
            &n.failed_attempts,
            &n.abandoned,
            &n.dropped,
            &n.duplicated,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Takes one request from a 429 storm, if one is raging: the seconds to ask for.
    fn storm(&self) -> Option<u64> {
        let mut faults = lock(&self.faults);
        (faults.throttle_next > 0).then(|| {
            faults.throttle_next -= 1;
            faults.throttle_retry_after_secs
        })
    }

    /// Counts a request against `key`'s window: `Some(seconds)` when over the limit.
    fn over_limit(&self, key: &str) -> Option<u64> {
        let limit = self.rate_limit()?;
        let window = Duration::from_secs(limit.window_secs.max(1));
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let (start, used) = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= window {
            *start = now;
            *used = 0;
        }
        if *used >= limit.requests {
            let left = window.saturating_sub(now.duration_since(*start));
            return Some(left.as_secs_f64().ceil().max(1.0) as u64);
        }
        *used += 1;
        None
    }
}

/// Outermost: counts every API request by method, route template (numeric segments read
/// `{id}`) and status.
pub(crate) async fn count(
    State(state): State<Arc<SimState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let route = route_label(request.uri().path());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    *lock(&state.guard.requests)
        .entry((method, route, status))
        .or_default() += 1;
    response
}

/// The route template of a path: numeric segments become `{id}`.
fn route_label(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                ID_SEGMENT
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `Authorization: token <key>` (scheme case-insensitive), else 401.
pub(crate) async fn authenticate(
    State(state): State<Arc<SimState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let mut parts = header.split_whitespace();
    let key = match (parts.next(), parts.next(), parts.next()) {
        (Some(scheme), Some(key), None) if scheme.eq_ignore_ascii_case("token") => key,
        (Some(scheme), None, None) if scheme.eq_ignore_ascii_case("token") => {
            return ApiError::Unauthorized(INVALID_HEADER).into_response();
        }
        (Some(scheme), ..) if scheme.eq_ignore_ascii_case("token") => {
            return ApiError::Unauthorized(INVALID_TOKEN).into_response();
        }
        _ => return ApiError::Unauthorized(NO_CREDENTIALS).into_response(),
    };
    if !state.config.api_keys.iter().any(|known| known == key) {
        return ApiError::Unauthorized(INVALID_TOKEN).into_response();
    }
    let key = ApiKey(key.to_owned());
    request.extensions_mut().insert(key);
    next.run(request).await
}

/// Injected latency, 429 storms, the per-key rate limit and injected server errors.
pub(crate) async fn faults(
    State(state): State<Arc<SimState>>,
    request: Request,
    next: Next,
) -> Response {
    let guard = &state.guard;
    let faults = guard.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let key = request
        .extensions()
        .get::<ApiKey>()
        .map_or("", |key| key.0.as_str());
    if let Some(secs) = guard.storm().or_else(|| guard.over_limit(key)) {
        guard.throttled.fetch_add(1, Ordering::Relaxed);
        let with_header = !faults.throttle_without_retry_after;
        return ApiError::Throttled(secs, with_header).into_response();
    }
    if guard.chance(faults.error_rate_percent) {
        // Half the failed writes fail after acting, as a server that errs while answering
        // does: the client cannot tell whether the write happened.
        if request.method() != axum::http::Method::GET && guard.chance(50) {
            let _acted = next.run(request).await;
        }
        return ApiError::Internal.into_response();
    }
    next.run(request).await
}
