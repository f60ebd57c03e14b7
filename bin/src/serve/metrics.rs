//! Counters for `GET /metrics`, in the Prometheus text format. Hand-rolled over atomics: the
//! host exports a handful of series, which does not earn a metrics registry and exporter.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::{ApiError, AppState};

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
        out.push_str(gauges);
        out
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
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&gauges),
    ))
}
