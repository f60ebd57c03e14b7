//! An in-memory Pipedrive (`docs/pipedrive-api.md`), behind the `simulator` feature: v2
//! persons with cursor paging, email and phone lists, search, one-person writes; v1 person
//! fields whose custom keys are generated hashes, recents, the current user and webhooks; v2
//! webhook events sent with basic auth; the daily token budget and the 2-second burst window
//! with 429s and the limit headers; and an admin API under `/_sim/` that plays the person using
//! the app (seed, edits, deletes, merges), injects faults and reports call counts; and the
//! OAuth server (authorize, token, revoke) with access tokens expiring by its own clock.

mod admin;
mod api;
mod body;
mod budget;
mod oauth;
mod plugin;
mod render;
mod state;

use std::sync::Arc;

use serde_json::Value;
use tte_sync_core::simulate::{ServedRouter, serve_on_loopback};

pub use budget::{Verdict, cost};
pub use plugin::PipedriveSimulatorPlugin;
pub use state::{APP_USER, Delivery, Faults, Refusal, Stats};

/// The simulator's settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The one API token it accepts.
    pub api_token: String,
    /// The id of the user the token belongs to (`GET /v1/users/me`).
    pub user_id: u64,
    /// The company's id.
    pub company_id: u64,
    /// Tokens the company may spend a day (`None`: unlimited).
    pub daily_token_budget: Option<u64>,
    /// Requests per 2-second window (`None`: unlimited).
    pub requests_per_two_seconds: Option<u32>,
    /// Latency added to every API request.
    pub latency: std::time::Duration,
    /// The OAuth app's client id.
    pub client_id: String,
    /// The OAuth app's client secret.
    pub client_secret: String,
    /// How long an OAuth access token lives.
    pub access_token_lifetime_secs: u64,
}

/// The documented daily budget of a company on the plan of multiplier 1 with 10 seats:
/// 30,000 × 1 × 10 tokens.
pub const DEFAULT_DAILY_TOKENS: u64 = 300_000;
/// The documented burst limit of an `api_token` on the Professional plan.
pub const DEFAULT_REQUESTS_PER_TWO_SECONDS: u32 = 80;

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            api_token: "pd-token-demo".to_owned(),
            user_id: 12_345,
            company_id: 777,
            daily_token_budget: Some(DEFAULT_DAILY_TOKENS),
            requests_per_two_seconds: Some(DEFAULT_REQUESTS_PER_TWO_SECONDS),
            latency: std::time::Duration::ZERO,
            client_id: "pd-client-demo".to_owned(),
            client_secret: "pd-client-secret-demo".to_owned(),
            access_token_lifetime_secs: 3599,
        }
    }
}

impl SimulatorConfig {
    /// The same settings with every rate limit off.
    #[must_use]
    pub fn unlimited(self) -> Self {
        Self {
            daily_token_budget: None,
            requests_per_two_seconds: None,
            ..self
        }
    }
}

/// A running simulator; dropping it stops it.
pub struct PipedriveSimulator {
    sim: Arc<state::Sim>,
    served: Option<ServedRouter>,
    deliveries: tokio::task::JoinHandle<()>,
}

impl Drop for PipedriveSimulator {
    fn drop(&mut self) {
        self.deliveries.abort();
    }
}

impl PipedriveSimulator {
    /// Starts a simulator on `127.0.0.1:port` (`0` picks a free one).
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(config: SimulatorConfig, port: u16) -> std::io::Result<Self> {
        let (sim, outbox) = state::Sim::new(config);
        let sim = Arc::new(sim);
        let router = api::router(sim.clone())
            .merge(oauth::router(sim.clone()))
            .merge(admin::router(sim.clone()));
        let served = serve_on_loopback(router, port).await?;
        sim.set_base_url(served.base_url());
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

    /// Adds generated people `start..start + count` of `seed` as persons (no webhooks);
    /// returns their ids.
    pub fn seed(&self, seed: u64, start: u64, count: u64) -> Vec<u64> {
        self.sim.seed(seed, start, count)
    }

    /// A person as the v2 API shows it (deleted ones too).
    pub fn person(&self, id: u64) -> Option<Value> {
        self.sim.person_json(id, None)
    }

    /// Creates a person as a user in the web app would (see the admin API's edit body).
    ///
    /// # Errors
    /// As the API refuses the person.
    pub fn app_create(&self, person: &Value) -> Result<Value, Refusal> {
        let body = admin::app_body(&self.sim, person)?;
        self.sim.create(&body, state::Actor::App(APP_USER))
    }

    /// Edits a person as a user in the web app would (see the admin API's edit body).
    ///
    /// # Errors
    /// As the API refuses the edit.
    pub fn app_edit(&self, id: u64, edit: &Value) -> Result<Value, Refusal> {
        let body = admin::app_body(&self.sim, edit)?;
        self.sim.update(id, &body, state::Actor::App(APP_USER))
    }

    /// Deletes a person as a user in the web app would.
    ///
    /// # Errors
    /// `404` for no live person.
    pub fn app_delete(&self, id: u64) -> Result<(), Refusal> {
        self.sim.delete(id, state::Actor::App(APP_USER))
    }

    /// Merges person `id` into `into` as the web app does.
    ///
    /// # Errors
    /// `404` when either is not a live person.
    pub fn merge(&self, id: u64, into: u64) -> Result<(), Refusal> {
        self.sim.merge(id, into)
    }

    /// The key Pipedrive generated for the custom field named `name`.
    pub fn field_key(&self, name: &str) -> Option<String> {
        self.sim.field_key(name)
    }

    /// Live persons.
    pub fn person_count(&self) -> usize {
        self.sim.live_count()
    }

    /// Request, rate-limit and delivery counts.
    pub fn stats(&self) -> Stats {
        self.sim.stats()
    }

    /// Zeroes the counts (tokens spent today stay spent).
    pub fn reset_stats(&self) {
        self.sim.reset_stats();
    }

    /// Injects faults.
    pub fn set_faults(&self, faults: Faults) {
        self.sim.set_faults(faults);
    }

    /// The webhook requests sent so far (the last 200), oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.sim.deliveries()
    }

    /// Approves an OAuth install as the customer would on the authorize page; the code to
    /// exchange.
    pub fn authorize(&self, redirect_uri: &str) -> String {
        self.sim.grants(|grants| grants.code_for(redirect_uri))
    }

    /// Moves the simulator's clock ahead, so that OAuth access tokens expire.
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.sim.advance_clock(by);
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        self.deliveries.abort();
        if let Some(served) = self.served.take() {
            served.shutdown().await;
        }
    }
}
