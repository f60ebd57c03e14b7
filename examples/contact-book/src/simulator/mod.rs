//! An in-memory Contact Book (`API.md`), behind the `simulator` feature: the contacts API with
//! offset paging, filters, one-record writes and duplicate refusal, the webhook setting and
//! signed delivery of every change, a rate limit, and an admin API under `/_sim/` that plays
//! the person using the app (seed, edits), injects faults and reports request counts.

mod admin;
mod api;
mod plugin;
mod state;

use std::sync::Arc;

use tte_sync_core::simulate::{ServedRouter, serve_on_loopback};

pub use plugin::ContactBookSimulatorPlugin;
pub use state::{Faults, Stats};

/// The simulator's settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The one API key it accepts.
    pub api_key: String,
    /// The secret webhook deliveries are signed with.
    pub webhook_secret: String,
    /// Requests allowed per rolling 10 seconds (`None`: unlimited).
    pub rate_limit_per_ten_seconds: Option<u32>,
    /// Latency added to every API request.
    pub latency: std::time::Duration,
}

/// The documented rate limit: requests per rolling 10 seconds per key.
pub const DOCUMENTED_RATE_LIMIT: u32 = 500;

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            api_key: "cb-key-demo".to_owned(),
            webhook_secret: "cb-webhook-secret-demo".to_owned(),
            rate_limit_per_ten_seconds: Some(DOCUMENTED_RATE_LIMIT),
            latency: std::time::Duration::ZERO,
        }
    }
}

/// A running simulator; dropping it stops it.
pub struct ContactBookSimulator {
    sim: Arc<state::Sim>,
    served: Option<ServedRouter>,
    deliveries: tokio::task::JoinHandle<()>,
}

impl Drop for ContactBookSimulator {
    fn drop(&mut self) {
        self.deliveries.abort();
    }
}

impl ContactBookSimulator {
    /// Starts a simulator on `127.0.0.1:port` (`0` picks a free one).
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(config: SimulatorConfig, port: u16) -> std::io::Result<Self> {
        let (sim, outbox) = state::Sim::new(config);
        let sim = Arc::new(sim);
        let router = api::router(sim.clone()).merge(admin::router(sim.clone()));
        let served = serve_on_loopback(router, port).await?;
        let deliveries = tokio::spawn(state::deliver(Arc::downgrade(&sim), outbox));
        Ok(Self {
            sim,
            served: Some(served),
            deliveries,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.served
            .as_ref()
            .map(ServedRouter::base_url)
            .unwrap_or_default()
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.sim.config
    }

    /// Adds generated people `start..start + count` of `seed` as contacts (no webhooks);
    /// returns their ids.
    pub fn seed(&self, seed: u64, start: u64, count: u64) -> Vec<u64> {
        self.sim.seed(seed, start, count)
    }

    /// Live contacts.
    pub fn contact_count(&self) -> usize {
        self.sim.live_count()
    }

    /// Request and delivery counts.
    pub fn stats(&self) -> Stats {
        self.sim.stats()
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        self.deliveries.abort();
        if let Some(served) = self.served.take() {
            served.shutdown().await;
        }
    }
}
