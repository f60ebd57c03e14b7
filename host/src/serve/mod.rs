//! The HTTP server of `tte-sync serve`: webhooks from both sides, the OAuth install, health
//! probes, each request logged by its route ([`request_log`]). [`router`] builds the whole app from an [`AppState`] so tests drive it with
//! `oneshot` or serve it on loopback; `serve_cmd` owns startup and shutdown.

pub mod api;
pub mod dashboard;
pub mod error;
pub mod html;
pub mod listener;
pub mod metrics;
pub mod oauth;
pub mod request_log;
pub mod status;
pub mod webhooks;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tte_sync_core::connector::CrmConnector;
use tte_sync_core::engine::Engine;
use tte_sync_core::store::Store;
use tte_sync_core::tte::TteClient;
use url::Url;

pub use error::ApiError;
pub use metrics::Metrics;

/// Everything a request handler reads. Shared by every request through an `Arc`.
pub struct AppState {
    /// The state store (inbox, settings, tokens, …).
    pub store: Store,
    /// The CRM connector built from the config.
    pub connector: Arc<dyn CrmConnector>,
    /// The public base URL the CRM and 10to8 reach this server at, as they sign and call it.
    pub public_url: Url,
    /// The 10to8 customer collection URL; notified URIs must lie under it.
    pub tte_customers_url: String,
    /// The 10to8 client, for the dashboard's health check (none in tests without 10to8).
    pub tte: Option<TteClient>,
    /// `server.public_url` as configured: when set, the health check also compares 10to8's
    /// subscription with the path token in the store.
    pub configured_public_url: Option<Url>,
    /// The sync engine: it queues webhook changes (dropping our own echoes) for the workers.
    pub engine: Engine,
    /// Request limits of the HTTP edge.
    pub limits: Limits,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// Request limits of the HTTP edge.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest body accepted (413 above).
    pub max_body_bytes: usize,
    /// How long one request may take (408 after).
    pub request_timeout: Duration,
}

impl AppState {
    /// The absolute public URL of a path on this server, e.g. `public("/webhooks/hubspot")`.
    pub fn public(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_str().trim_end_matches('/'))
    }

    /// The operator's view of this installation.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn status(&self) -> tte_sync_core::store::Result<status::Status> {
        status::Status::gather(
            &self.store,
            self.connector.as_ref(),
            self.tte.as_ref(),
            self.configured_public_url.as_ref(),
        )
        .await
    }
}

/// The whole HTTP app.
pub fn router(state: Arc<AppState>) -> Router {
    let limits = state.limits;
    let connector = state.connector.name();
    Router::new()
        .route("/", get(dashboard::index))
        .route("/api/status", get(api::status))
        .route("/dead-letters/{id}/retry", post(dashboard::retry))
        .route("/identity/link", post(dashboard::link))
        .route("/identity/unlink", post(dashboard::unlink))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            &format!("/webhooks/{connector}"),
            post(webhooks::crm_webhook),
        )
        .route("/webhooks/tte/{token}", post(webhooks::tte_webhook))
        .route(
            &format!("/{connector}/install/start"),
            get(oauth::install_start),
        )
        .route(
            &format!("/{connector}/install/callback"),
            get(oauth::install_callback),
        )
        .route("/metrics", get(metrics::render))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(request_log::layer())
        .with_state(state)
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the state store answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ready\n")
}
