//! Counters for `GET /metrics`, in the Prometheus text format. Hand-rolled over atomics: the
//! host exports a handful of series, which does not earn a metrics registry and exporter.
//!
//! Series: events received by source, webhooks refused, echoes suppressed, records written by
//! direction and action (fed from the workers' reconcile and live summaries), the end-to-end
//! lag histogram (live batches), API calls by service and status and rate-limit waits (from
//! the process-wide [`stats`] the API clients keep), and the inbox depth and dead letters
//! (read from the store on each scrape).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tte_sync_core::engine::{Counts, LiveSummary, Summary};
use tte_sync_core::http::stats::{self, ServiceSnapshot};

use super::{ApiError, AppState};

/// Upper bounds (seconds) of the lag histogram's buckets; `+Inf` follows.
pub const LAG_BUCKETS_SECS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
/// The write actions counted per direction, as labelled.
const ACTIONS: [&str; 6] = [
    "created", "updated", "linked", "deleted", "failed", "conflict",
];
/// The directions, as labelled: index 0 towards the CRM, 1 towards 10to8.
const DIRECTIONS: [&str; 2] = ["to_crm", "to_hub"];

/// Where a webhook came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// 10to8 notifications.
    Tte,
    /// The CRM's webhooks.
    Crm,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Tte => "tte",
            Source::Crm => "crm",
        }
    }
}

/// Why a webhook request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Bad, missing or stale signature; wrong token; unknown account.
    Unauthorized,
    /// Malformed body.
    Malformed,
}

/// The host's counters. Cheap to update from any request.
#[derive(Debug, Default)]
pub struct Metrics {
    events_tte: AtomicU64,
    events_crm: AtomicU64,
    echoes: AtomicU64,
    rejected_unauthorized: [AtomicU64; 2],
    rejected_malformed: [AtomicU64; 2],
    /// Records written, by direction (see [`DIRECTIONS`]) and action (see [`ACTIONS`]).
    written: [[AtomicU64; ACTIONS.len()]; DIRECTIONS.len()],
    lag: LagHistogram,
}

/// The end-to-end lag histogram: per-bucket (not cumulative) counts, summed when rendered so
/// that the buckets, `+Inf` and `_count` always agree.
#[derive(Debug, Default)]
struct LagHistogram {
    /// One counter per bound in [`LAG_BUCKETS_SECS`], then one for above the last bound.
    buckets: [AtomicU64; LAG_BUCKETS_SECS.len() + 1],
    sum_micros: AtomicU64,
}

impl LagHistogram {
    fn observe(&self, lag: Duration) {
        let secs = lag.as_secs_f64();
        let index = LAG_BUCKETS_SECS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(LAG_BUCKETS_SECS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP tte_sync_event_lag_seconds From a change (as its source dated it) until \
             it was written on the other side, per live item.\n",
        );
        out.push_str("# TYPE tte_sync_event_lag_seconds histogram\n");
        let mut cumulative = 0;
        for (bound, counter) in LAG_BUCKETS_SECS.iter().zip(&self.buckets) {
            cumulative += counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "tte_sync_event_lag_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[LAG_BUCKETS_SECS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tte_sync_event_lag_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = Duration::from_micros(self.sum_micros.load(Ordering::Relaxed)).as_secs_f64();
        let _ = writeln!(out, "tte_sync_event_lag_seconds_sum {sum}");
        let _ = writeln!(out, "tte_sync_event_lag_seconds_count {cumulative}");
    }
}

/// A direction's counts in the order of [`ACTIONS`].
fn by_action(counts: &Counts) -> [u64; ACTIONS.len()] {
    [
        counts.created,
        counts.updated,
        counts.linked,
        counts.deleted,
        counts.failed,
        counts.conflicts,
    ]
}

impl Metrics {
    /// Counts `count` events received and queued from `source`.
    pub fn events_received(&self, source: Source, count: u64) {
        match source {
            Source::Tte => &self.events_tte,
            Source::Crm => &self.events_crm,
        }
        .fetch_add(count, Ordering::Relaxed);
    }

    /// Counts events dropped at the edge because they report our own writes.
    pub fn echoes_suppressed(&self, count: u64) {
        self.echoes.fetch_add(count, Ordering::Relaxed);
    }

    /// Counts a refused webhook request.
    pub fn rejected(&self, source: Source, why: Rejection) {
        let index = usize::from(source == Source::Crm);
        match why {
            Rejection::Unauthorized => &self.rejected_unauthorized[index],
            Rejection::Malformed => &self.rejected_malformed[index],
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the writes of a reconcile or a live batch.
    pub fn record_sync(&self, summary: &Summary) {
        for (direction, counts) in [&summary.to_crm, &summary.to_hub].into_iter().enumerate() {
            for (counter, count) in self.written[direction].iter().zip(by_action(counts)) {
                if count > 0 {
                    counter.fetch_add(count, Ordering::Relaxed);
                }
            }
        }
    }

    /// Counts the writes of a live batch and each item's end-to-end lag.
    pub fn record_live(&self, summary: &LiveSummary) {
        self.record_sync(&summary.sync);
        for lag in &summary.lags {
            self.lag.observe(*lag);
        }
    }

    /// The counters in the Prometheus text format, followed by `gauges` (already rendered).
    pub fn render(&self, gauges: &str) -> String {
        let mut out = String::new();
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        out.push_str(
            "# HELP tte_sync_events_received_total Change events received by webhook and queued.\n",
        );
        out.push_str("# TYPE tte_sync_events_received_total counter\n");
        for (source, counter) in [
            (Source::Tte, &self.events_tte),
            (Source::Crm, &self.events_crm),
        ] {
            let _ = writeln!(
                out,
                "tte_sync_events_received_total{{source=\"{}\"}} {}",
                source.label(),
                get(counter)
            );
        }
        out.push_str("# HELP tte_sync_webhooks_rejected_total Webhook requests refused.\n");
        out.push_str("# TYPE tte_sync_webhooks_rejected_total counter\n");
        for (index, source) in [Source::Tte, Source::Crm].into_iter().enumerate() {
            for (reason, counter) in [
                ("unauthorized", &self.rejected_unauthorized[index]),
                ("malformed", &self.rejected_malformed[index]),
            ] {
                let _ = writeln!(
                    out,
                    "tte_sync_webhooks_rejected_total{{source=\"{}\",reason=\"{reason}\"}} {}",
                    source.label(),
                    get(counter)
                );
            }
        }
        out.push_str("# HELP tte_sync_echoes_suppressed_total Events of our own writes dropped.\n");
        out.push_str("# TYPE tte_sync_echoes_suppressed_total counter\n");
        let _ = writeln!(
            out,
            "tte_sync_echoes_suppressed_total {}",
            get(&self.echoes)
        );
        out.push_str(
            "# HELP tte_sync_records_written_total Record writes by direction and action \
             (linked: pairs matched for the first time; conflict: a value settled by the \
             conflict policy).\n",
        );
        out.push_str("# TYPE tte_sync_records_written_total counter\n");
        for (direction, counters) in DIRECTIONS.iter().zip(&self.written) {
            for (action, counter) in ACTIONS.iter().zip(counters) {
                let _ = writeln!(
                    out,
                    "tte_sync_records_written_total{{direction=\"{direction}\",action=\"{action}\"}} {}",
                    get(counter)
                );
            }
        }
        self.lag.render(&mut out);
        render_api_calls(&mut out, &stats::snapshot());
        out.push_str(gauges);
        out
    }
}

/// API calls by service and status, and rate-limit waits by service.
fn render_api_calls(out: &mut String, services: &[ServiceSnapshot]) {
    out.push_str(
        "# HELP tte_sync_api_calls_total Calls to the 10to8 and CRM APIs by answer status \
         (`error`: no answer).\n",
    );
    out.push_str("# TYPE tte_sync_api_calls_total counter\n");
    for service in services {
        for (status, count) in &service.calls {
            let _ = writeln!(
                out,
                "tte_sync_api_calls_total{{service=\"{}\",status=\"{status}\"}} {count}",
                service.service
            );
        }
    }
    out.push_str(
        "# HELP tte_sync_rate_limit_waits_total Calls held back by a rate limit (our pacing \
         or the API's 429).\n",
    );
    out.push_str("# TYPE tte_sync_rate_limit_waits_total counter\n");
    for service in services {
        let _ = writeln!(
            out,
            "tte_sync_rate_limit_waits_total{{service=\"{}\"}} {}",
            service.service, service.rate_limit_waits
        );
    }
    out.push_str(
        "# HELP tte_sync_rate_limit_wait_seconds_total Time calls were held back by a rate \
         limit.\n",
    );
    out.push_str("# TYPE tte_sync_rate_limit_wait_seconds_total counter\n");
    for service in services {
        let _ = writeln!(
            out,
            "tte_sync_rate_limit_wait_seconds_total{{service=\"{}\"}} {}",
            service.service, service.rate_limit_wait_seconds
        );
    }
}

/// `GET /metrics`: the counters plus gauges read from the store.
pub async fn render(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let inbox = state.store.inbox_stats().await?;
    let dead = state.store.count_dead_letters().await?;
    let mut gauges = String::new();
    gauges.push_str("# HELP tte_sync_inbox_depth Changes waiting in the inbox.\n");
    gauges.push_str("# TYPE tte_sync_inbox_depth gauge\n");
    let _ = writeln!(gauges, "tte_sync_inbox_depth {}", inbox.depth);
    gauges.push_str("# HELP tte_sync_dead_letters Records whose changes failed for good.\n");
    gauges.push_str("# TYPE tte_sync_dead_letters gauge\n");
    let _ = writeln!(gauges, "tte_sync_dead_letters {dead}");
    gauges.push_str(
        "# HELP tte_sync_tte_pace_requests_per_second The 10to8 client's learned pace (+Inf: unpaced).\n",
    );
    gauges.push_str("# TYPE tte_sync_tte_pace_requests_per_second gauge\n");
    let rate = (state.engine.tte().limiter().rate())
        .map_or_else(|| "+Inf".to_owned(), |rate| rate.to_string());
    let _ = writeln!(gauges, "tte_sync_tte_pace_requests_per_second {rate}");
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&gauges),
    ))
}
