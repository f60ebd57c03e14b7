//! Request and webhook counters, as `GET /_sim/stats` reports them. Requests count by route
//! pattern with the concrete date-based version, so a test can prove no numbered path was used.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use super::SimState;
use super::versions::concrete_route;

/// Requests answered on one route with one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteCount {
    /// Method and route pattern, e.g. `GET /crm/v3/objects/{object_type}`; a date-based
    /// version shows as sent, e.g. `POST /crm/objects/2026-09/{object_type}/batch/upsert`.
    pub route: String,
    /// The HTTP status answered.
    pub status: u16,
    /// How many.
    pub count: u64,
}

/// Webhook delivery counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookStats {
    /// Batches the receiver accepted (2xx).
    pub batches_delivered: u64,
    /// Events in those batches.
    pub events_delivered: u64,
    /// Attempts that failed (timeout, connection error, 4xx/5xx).
    pub attempts_failed: u64,
    /// Batches given up after the last attempt.
    pub batches_abandoned: u64,
    /// Batches dropped by an injected fault.
    pub batches_dropped: u64,
    /// Batches sent twice by an injected fault.
    pub batches_duplicated: u64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests per route and status, sorted.
    pub requests: Vec<RouteCount>,
    /// Requests refused with 429 (rate limits and injected storms).
    pub throttled: u64,
    /// Webhook deliveries.
    pub webhooks: WebhookStats,
}

impl Stats {
    /// Requests counted for `route` (any status).
    pub fn requests_on(&self, route: &str) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.route == route)
            .map(|r| r.count)
            .sum()
    }

    /// Requests answered with `status` (any route).
    pub fn with_status(&self, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.status == status)
            .map(|r| r.count)
            .sum()
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub struct Counters {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    throttled: AtomicU64,
    /// Webhook counters, updated by the delivery worker.
    pub batches_delivered: AtomicU64,
    /// See [`WebhookStats::events_delivered`].
    pub events_delivered: AtomicU64,
    /// See [`WebhookStats::attempts_failed`].
    pub attempts_failed: AtomicU64,
    /// See [`WebhookStats::batches_abandoned`].
    pub batches_abandoned: AtomicU64,
    /// See [`WebhookStats::batches_dropped`].
    pub batches_dropped: AtomicU64,
    /// See [`WebhookStats::batches_duplicated`].
    pub batches_duplicated: AtomicU64,
}

impl Counters {
    /// Counts one 429.
    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `by` to a counter.
    pub fn add(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    /// A snapshot.
    pub fn snapshot(&self) -> Stats {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((route, status), count)| RouteCount {
                route: route.clone(),
                status: *status,
                count: *count,
            })
            .collect();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            requests,
            throttled: load(&self.throttled),
            webhooks: WebhookStats {
                batches_delivered: load(&self.batches_delivered),
                events_delivered: load(&self.events_delivered),
                attempts_failed: load(&self.attempts_failed),
                batches_abandoned: load(&self.batches_abandoned),
                batches_dropped: load(&self.batches_dropped),
                batches_duplicated: load(&self.batches_duplicated),
            },
        }
    }

    /// Sets every counter to zero.
    pub fn reset(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for counter in [
            &self.throttled,
            &self.batches_delivered,
            &self.events_delivered,
            &self.attempts_failed,
            &self.batches_abandoned,
            &self.batches_dropped,
            &self.batches_duplicated,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Middleware counting every answer by route pattern and status.
pub async fn count(State(sim): State<SimState>, request: Request, next: Next) -> Response {
    let pattern = request.extensions().get::<MatchedPath>().map_or_else(
        || "(unmatched)".to_owned(),
        |m| concrete_route(m.as_str(), request.uri().path()),
    );
    let route = format!("{} {pattern}", request.method());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    *sim.counters
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry((route, status))
        .or_default() += 1;
    response
}
