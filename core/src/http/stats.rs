//! Process-wide counters of outgoing API calls: how many calls each service answered with
//! each status (or did not answer), and how often and how long calls waited for a rate limit.
//! The host's `GET /metrics` reads them through [`snapshot`].
//!
//! Why process-wide rather than handed to each client: the clients are built deep inside —
//! the 10to8 client from its config, each CRM connector by the registry from untyped config —
//! and threading an observer through every constructor and the connector contract would put a
//! host concern into every connector. A client takes its service's counters once when it is
//! built ([`service`], which locks a short list); after that a call only bumps atomics.
//! Statuses fall into a fixed set of buckets (the codes the APIs use, then the class), so the
//! counters are plain arrays and the label set stays small.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

/// Statuses counted on their own; any other counts under its class (`4xx`, …).
const EXACT_STATUSES: [u16; 19] = [
    200, 201, 202, 204, 207, 400, 401, 403, 404, 408, 409, 410, 422, 423, 429, 500, 502, 503, 504,
];
/// The class buckets after the exact ones, by the status's first digit (1 to 5).
const CLASS_LABELS: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Label of a status outside 100–599.
const OTHER_LABEL: &str = "other";
/// Label of a call that got no answer (refused connection, timeout, broken body).
pub const NO_ANSWER_LABEL: &str = "error";

const OTHER_BUCKET: usize = EXACT_STATUSES.len() + CLASS_LABELS.len();
const NO_ANSWER_BUCKET: usize = OTHER_BUCKET + 1;
const BUCKETS: usize = NO_ANSWER_BUCKET + 1;

/// The bucket a status counts in.
fn bucket(status: StatusCode) -> usize {
    let code = status.as_u16();
    if let Some(index) = EXACT_STATUSES.iter().position(|exact| *exact == code) {
        return index;
    }
    match code / 100 {
        class @ 1..=5 => EXACT_STATUSES.len() + usize::from(class - 1),
        _ => OTHER_BUCKET,
    }
}

/// The label of a bucket.
fn label(bucket: usize) -> String {
    if bucket < EXACT_STATUSES.len() {
        EXACT_STATUSES[bucket].to_string()
    } else if bucket < OTHER_BUCKET {
        CLASS_LABELS[bucket - EXACT_STATUSES.len()].to_owned()
    } else if bucket == OTHER_BUCKET {
        OTHER_LABEL.to_owned()
    } else {
        NO_ANSWER_LABEL.to_owned()
    }
}

/// The counters of one service (one API). Get it with [`service`]; keep the reference.
#[derive(Debug)]
pub struct ServiceStats {
    name: &'static str,
    calls: [AtomicU64; BUCKETS],
    rate_limit_waits: AtomicU64,
    rate_limit_wait_micros: AtomicU64,
}

impl ServiceStats {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            rate_limit_waits: AtomicU64::new(0),
            rate_limit_wait_micros: AtomicU64::new(0),
        }
    }

    /// The service's name, as in the metrics' `service` label.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Counts a call the API answered with `status`.
    pub fn answered(&self, status: StatusCode) {
        self.calls[bucket(status)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call that got no answer (refused connection, timeout, broken body).
    pub fn unanswered(&self) {
        self.calls[NO_ANSWER_BUCKET].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call held back `wait` by a rate limit (our pacing, or the API's 429). A zero
    /// wait is no wait and is not counted.
    pub fn waited(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        self.rate_limit_waits.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.rate_limit_wait_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ServiceSnapshot {
        let calls = self
            .calls
            .iter()
            .enumerate()
            .filter_map(|(bucket, counter)| {
                let count = counter.load(Ordering::Relaxed);
                (count > 0).then(|| (label(bucket), count))
            })
            .collect();
        ServiceSnapshot {
            service: self.name,
            calls,
            rate_limit_waits: self.rate_limit_waits.load(Ordering::Relaxed),
            rate_limit_wait_seconds: Duration::from_micros(
                self.rate_limit_wait_micros.load(Ordering::Relaxed),
            )
            .as_secs_f64(),
        }
    }
}

/// Every service counted so far. Entries are leaked on purpose: there is one per API name,
/// they live as long as the process, and handing out `&'static` keeps the hot path lock-free.
static SERVICES: Mutex<Vec<&'static ServiceStats>> = Mutex::new(Vec::new());

/// The counters of the service `name` (e.g. `tte`), created on first use. Clients call this
/// once when they are built and keep the reference.
pub fn service(name: &str) -> &'static ServiceStats {
    let mut services = SERVICES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = services.iter().find(|s| s.name == name) {
        return existing;
    }
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let created: &'static ServiceStats = Box::leak(Box::new(ServiceStats::new(name)));
    services.push(created);
    created
}

/// The counters of one service at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSnapshot {
    /// The service's name.
    pub service: &'static str,
    /// Calls per status label (`200`, `4xx`, `error`, …); only labels with calls, in a fixed
    /// order.
    pub calls: Vec<(String, u64)>,
    /// Calls held back by a rate limit.
    pub rate_limit_waits: u64,
    /// How long they were held back in all.
    pub rate_limit_wait_seconds: f64,
}

/// Every service's counters now, sorted by service name.
pub fn snapshot() -> Vec<ServiceSnapshot> {
    let services: Vec<&'static ServiceStats> =
        SERVICES.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut snapshots: Vec<ServiceSnapshot> = services.iter().map(|s| s.snapshot()).collect();
    snapshots.sort_by_key(|s| s.service);
    snapshots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(name: &str) -> ServiceSnapshot {
        snapshot()
            .into_iter()
            .find(|s| s.service == name)
            .expect("the service is listed")
    }

    #[test]
    fn statuses_count_exactly_or_by_class() {
        let stats = service("stats-test-statuses");
        for code in [200, 200, 429, 418, 599, 101, 999] {
            stats.answered(StatusCode::from_u16(code).unwrap());
        }
        stats.unanswered();
        let calls = of("stats-test-statuses").calls;
        let count = |label: &str| {
            calls
                .iter()
                .find(|(l, _)| l == label)
                .map_or(0, |(_, n)| *n)
        };
        assert_eq!(count("200"), 2);
        assert_eq!(count("429"), 1);
        assert_eq!(count("4xx"), 1, "418 counts under its class");
        assert_eq!(count("5xx"), 1);
        assert_eq!(count("1xx"), 1);
        assert_eq!(count("other"), 1);
        assert_eq!(count(NO_ANSWER_LABEL), 1);
        assert_eq!(
            calls.len(),
            7,
            "labels without calls are left out: {calls:?}"
        );
    }

    #[test]
    fn a_service_is_created_once_and_waits_add_up() {
        let first = service("stats-test-waits");
        let again = service("stats-test-waits");
        assert!(std::ptr::eq(first, again));
        first.waited(Duration::from_millis(1500));
        again.waited(Duration::ZERO);
        again.waited(Duration::from_millis(500));
        let snapshot = of("stats-test-waits");
        assert_eq!(snapshot.rate_limit_waits, 2, "a zero wait is no wait");
        assert!((snapshot.rate_limit_wait_seconds - 2.0).abs() < 1e-9);
        let names: Vec<_> = snapshot_names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    fn snapshot_names() -> Vec<&'static str> {
        snapshot().into_iter().map(|s| s.service).collect()
    }

    #[test]
    fn every_bucket_has_a_distinct_label() {
        let labels: std::collections::BTreeSet<_> = (0..BUCKETS).map(label).collect();
        assert_eq!(labels.len(), BUCKETS);
    }
}
