//! An in-memory simulator of the HubSpot APIs a contact sync uses, behind the `simulator`
//! feature: contacts (with search and batches) and properties under the numbered `v3` paths
//! and the date-based `2026-03` and `2026-09` ones, OAuth (v1/v3 and the dated token,
//! introspect, revoke and uninstall endpoints, client credentials), webhook management and
//! signed webhook delivery, the Webhooks Journal, the portal's validation rules, rate limits,
//! and an admin API under `/_sim/` that plays the person using HubSpot's UI and injects faults.
//!
//! Start it in-process with [`HubSpotSimulator::start`] (tests, the demo) or standalone with
//! `tte-sync simulate`. It follows `reference/hubspot-api.md` and, where they differ,
//! `reference/hubspot-2026.md`: status codes, error bodies, limits, paging, rate-limit headers
//! and webhook signatures.
//!
//! Credentials: legacy private-app tokens, project-app static tokens, Service Keys (REST CRM
//! calls only), OAuth access tokens of the portal, app-level client-credentials tokens (the
//! Webhooks Journal) and the developer API key (webhook management).
//!
//! Writes made with a token of an app carry `changeSource` [`INTEGRATION_CHANGE_SOURCE`] and
//! `sourceId` = the app id (as a string) in their webhook events and journal entries, so a
//! connector can drop the echoes of its own writes; a Service Key's writes carry
//! [`service_key_source_id`]; edits through the admin user-edit endpoint carry
//! [`UI_CHANGE_SOURCE`] and `sourceId` `userId:<n>`.

mod admin;
mod auth;
mod batch;
mod contacts;
mod errors;
mod journal;
mod journal_api;
mod oauth;
mod oauth_dated;
mod plugin;
mod project;
mod properties;
mod query;
mod ratelimit;
mod routes;
mod search;
mod state;
mod stats;
mod validation;
mod versions;
mod webhooks;

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tte_sync_core::simulate::{ServedRouter, SplitMix64, people, serve_on_loopback};

pub use errors::{ApiError, JSON_UTF8, PropertyIssue};
pub use plugin::HubSpotSimulatorPlugin;
pub use ratelimit::RateLimits;
pub use state::{Change, ChangeKind, ChangeOrigin, WriteError, hubspot_accepts_email};
pub use stats::{RouteCount, Stats, WebhookStats};
pub use validation::{
    ConditionalRule, MISSING_CONDITIONAL_REQUIRED_PROPERTY, MISSING_REQUIRED_PROPERTY,
    PROPERTY_VALUE_NORMALIZED, RuleCondition, ValidationRules,
};
pub use versions::{ApiVersion, SUPPORTED_VERSIONS};
pub use webhooks::{
    MAX_EVENTS_PER_REQUEST, REQUEST_TIMESTAMP, SIGNATURE, SIGNATURE_V3, SIGNATURE_VERSION,
};

use state::{ADDITIONAL_EMAILS, Claims, EMAIL, Store};
use stats::Counters;

/// `changeSource` of webhook events caused by API writes of an app's token; `sourceId` is then
/// the app id as a string.
pub const INTEGRATION_CHANGE_SOURCE: &str = "INTEGRATION";
/// `changeSource` of webhook events caused by a person in HubSpot's UI (the admin user-edit
/// endpoints); `sourceId` is then `userId:<n>`.
pub const UI_CHANGE_SOURCE: &str = "CRM_UI";
/// The default private-app token (a legacy private app).
pub const DEFAULT_PRIVATE_APP_TOKEN: &str = "pat-na1-00000000-0000-4000-8000-000000000001";
/// The default static token of a project app with static auth (acts as [`DEFAULT_APP_ID`]).
pub const DEFAULT_STATIC_APP_TOKEN: &str = "pat-na1-00000000-0000-4000-8000-000000000005";
/// The default Service Key (REST CRM calls only).
pub const DEFAULT_SERVICE_KEY: &str = "pat-na1-00000000-0000-4000-8000-000000000006";
/// The default developer API key (webhook management).
pub const DEFAULT_DEVELOPER_API_KEY: &str = "dev-key-00000000-0000-4000-8000-000000000002";
/// The default OAuth client id.
pub const DEFAULT_CLIENT_ID: &str = "00000000-0000-4000-8000-000000000003";
/// The default OAuth client secret (also the webhook signing key).
pub const DEFAULT_CLIENT_SECRET: &str = "00000000-0000-4000-8000-000000000004";
/// The default portal (hub) id.
pub const DEFAULT_PORTAL_ID: u64 = 62_515;
/// The default app id.
pub const DEFAULT_APP_ID: u64 = 54_321;
/// The default user id of admin edits.
pub const DEFAULT_USER_ID: u64 = 882_761_034;
/// The scopes an app's client-credentials token may ask for (the Webhooks Journal's and the
/// contact object scopes); a request without `scope` gets all of them.
pub const CLIENT_CREDENTIALS_SCOPES: &[&str] = &[
    "developer.webhooks_journal.read",
    "developer.webhooks_journal.subscriptions.read",
    "developer.webhooks_journal.subscriptions.write",
    "developer.webhooks_journal.snapshots.read",
    "developer.webhooks_journal.snapshots.write",
    "crm.objects.contacts.read",
];

/// The `sourceId` of webhook events and journal entries caused by a Service Key's writes
/// (with `changeSource` [`INTEGRATION_CHANGE_SOURCE`]): `serviceKey:` and the key's last
/// eight characters. HubSpot does not document it; modelled.
pub fn service_key_source_id(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("serviceKey:{tail}")
}

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The portal (hub) id in webhook events and token info.
    pub portal_id: u64,
    /// The app that private-app tokens, OAuth tokens and webhooks belong to.
    pub app_id: u64,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret; signs webhooks (v1 and v3).
    pub client_secret: String,
    /// The developer API key for webhook management (`hapikey` or bearer).
    pub developer_api_key: String,
    /// Legacy private-app tokens of [`Self::app_id`].
    pub private_app_tokens: Vec<String>,
    /// Static tokens of a project app with static auth; they act as [`Self::app_id`] (CRM
    /// calls; refused on the Webhooks Journal, which takes client-credentials tokens).
    pub static_app_tokens: Vec<String>,
    /// Service Keys of the portal: REST CRM calls only; webhook management and the Webhooks
    /// Journal refuse them with 403.
    pub service_keys: Vec<String>,
    /// Private-app tokens of other apps, with their app id: their writes are not echoes.
    pub other_app_tokens: Vec<(String, u64)>,
    /// OAuth access-token lifetime (HubSpot: 30 minutes).
    pub access_token_lifetime: Duration,
    /// Redirect URIs the OAuth app accepts; empty accepts any `http(s)` URL.
    pub redirect_uris: Vec<String>,
    /// Scopes granted to OAuth tokens.
    pub scopes: Vec<String>,
    /// How long Webhooks Journal entries stay readable (HubSpot: 3 days), on the simulated
    /// clock; an offset older than this is 404.
    pub journal_retention: Duration,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Added to every CRM request.
    pub latency: Duration,
    /// Webhook delivery timing.
    pub webhooks: WebhookTiming,
}

/// How webhooks are delivered and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookTiming {
    /// A delivery that takes longer fails (HubSpot: 5 s).
    pub timeout: Duration,
    /// Delay before the first retry; doubles with each attempt (tests compress it).
    pub retry_base: Duration,
    /// Attempts per batch, the first included (HubSpot: 10).
    pub max_attempts: u32,
}

impl Default for WebhookTiming {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            retry_base: Duration::from_secs(60),
            max_attempts: 10,
        }
    }
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            portal_id: DEFAULT_PORTAL_ID,
            app_id: DEFAULT_APP_ID,
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            developer_api_key: DEFAULT_DEVELOPER_API_KEY.into(),
            private_app_tokens: vec![DEFAULT_PRIVATE_APP_TOKEN.into()],
            static_app_tokens: vec![DEFAULT_STATIC_APP_TOKEN.into()],
            service_keys: vec![DEFAULT_SERVICE_KEY.into()],
            other_app_tokens: Vec::new(),
            access_token_lifetime: Duration::from_secs(1800),
            redirect_uris: Vec::new(),
            scopes: vec![
                "oauth".into(),
                "crm.objects.contacts.read".into(),
                "crm.objects.contacts.write".into(),
                "crm.schemas.contacts.read".into(),
                "crm.schemas.contacts.write".into(),
            ],
            journal_retention: Duration::from_secs(3 * 24 * 3600),
            rate_limits: RateLimits::default(),
            latency: Duration::ZERO,
            webhooks: WebhookTiming::default(),
        }
    }
}

/// Faults to inject, set through `PUT /_sim/faults` or [`HubSpotSimulator::set_faults`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Extra latency on every CRM request, in milliseconds.
    pub latency_ms: u64,
    /// Percent of CRM requests answered 502.
    pub error_rate_percent: u8,
    /// The next this-many CRM requests are answered 429 TEN_SECONDLY_ROLLING, with the
    /// rate-limit headers HubSpot sends (the window's length and limit, nothing remaining).
    pub rate_limit_storm: u32,
    /// Storm 429s carry no rate-limit headers at all (a proxy or gateway that strips them).
    pub rate_limit_storm_bare: bool,
    /// Percent of webhook batches never sent.
    pub webhook_drop_percent: u8,
    /// Percent of webhook batches sent twice.
    pub webhook_duplicate_percent: u8,
    /// Search index lag: contacts created less than this many milliseconds ago do not appear
    /// in search results yet (HubSpot's search-miss-then-create-409 race).
    pub search_lag_ms: u64,
}

/// Shared state of one running simulator.
pub(crate) type SimState = Arc<Sim>;

/// Everything one simulator holds.
#[derive(Debug)]
pub(crate) struct Sim {
    pub(crate) config: SimulatorConfig,
    pub(crate) store: RwLock<Store>,
    pub(crate) limiter: ratelimit::Limiter,
    pub(crate) counters: Counters,
    clock_offset_ms: AtomicI64,
    base_url: OnceLock<String>,
    faults: Mutex<Faults>,
    storm: AtomicU32,
    rng: Mutex<SplitMix64>,
    pub(crate) tokens: Mutex<oauth::Tokens>,
    pub(crate) webhooks: webhooks::Webhooks,
    pub(crate) journal: journal::Journal,
}

impl Sim {
    fn new(config: SimulatorConfig) -> (Self, tokio::sync::mpsc::UnboundedReceiver<Change>) {
        let (webhooks, queue) = webhooks::Webhooks::new();
        let mut rng =
            SplitMix64::new(chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
        let journal = journal::Journal::new(rng.next_u64(), rng.next_u64());
        let sim = Self {
            config,
            store: RwLock::new(Store::new()),
            limiter: ratelimit::Limiter::default(),
            counters: Counters::default(),
            clock_offset_ms: AtomicI64::new(0),
            base_url: OnceLock::new(),
            faults: Mutex::new(Faults::default()),
            storm: AtomicU32::new(0),
            rng: Mutex::new(rng),
            tokens: Mutex::new(oauth::Tokens::default()),
            webhooks,
            journal,
        };
        (sim, queue)
    }

    /// A fresh random token with a readable prefix.
    pub(crate) fn random_token(&self, prefix: &str) -> String {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        format!("{prefix}-{:016x}{:016x}", rng.next_u64(), rng.next_u64())
    }

    /// The simulated clock, in epoch milliseconds.
    pub(crate) fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn base_url(&self) -> &str {
        self.base_url.get().map_or("", String::as_str)
    }

    pub(crate) fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_faults(&self, faults: Faults) {
        self.storm.store(faults.rate_limit_storm, Ordering::Relaxed);
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Whether this request falls in an injected 429 storm (and uses it up).
    pub(crate) fn take_storm_request(&self) -> bool {
        self.storm
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn count_throttled(&self) {
        self.counters.throttled();
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&self, percent: u8) -> bool {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .chance(u64::from(percent))
    }

    /// Hands changes to the webhook worker and appends them to the Webhooks Journal.
    pub(crate) fn publish(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        self.journal.append(
            &changes,
            self.now_ms(),
            self.config.portal_id,
            self.config.app_id,
        );
        self.webhooks.publish(changes);
    }

    /// Merges two contacts and returns the survivor's JSON.
    pub(crate) fn merge(
        &self,
        primary: u64,
        merged: u64,
        origin: &ChangeOrigin,
    ) -> Result<Value, WriteError> {
        let now = self.now_ms();
        let (body, changes) = {
            let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
            let changes = store.merge(primary, merged, now, origin)?;
            let body = store
                .live
                .get(&primary)
                .map(|c| c.to_json(&[], &store.properties))
                .unwrap_or(Value::Null);
            (body, changes)
        };
        self.publish(changes);
        Ok(body)
    }

    /// Permanently deletes a contact for privacy (also a deletion event).
    pub(crate) fn privacy_delete(&self, id: u64, origin: &ChangeOrigin) -> bool {
        let now = self.now_ms();
        let removed = self
            .store
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .purge(id);
        if removed {
            let change = |kind| Change {
                object_id: id,
                kind,
                occurred_at: now,
                origin: origin.clone(),
            };
            self.publish(vec![
                change(ChangeKind::PrivacyDeletion),
                change(ChangeKind::Deletion),
            ]);
        }
        removed
    }

    /// Creates contacts for generated people `start..start + count` (no webhooks: an
    /// import). A primary email HubSpot refuses is left out, extra emails become
    /// `hs_additional_emails`, the first number `phone`. Returns the new ids.
    pub(crate) fn seed(&self, seed: u64, start: u64, count: u64) -> Vec<u64> {
        let now = self.now_ms();
        let origin = ChangeOrigin {
            change_source: "IMPORT".into(),
            source_id: None,
        };
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        let mut ids = Vec::with_capacity(count as usize);
        for person in people(seed, start, count) {
            let mut values = std::collections::BTreeMap::new();
            values.insert("firstname".to_owned(), person.first_name.clone());
            values.insert("lastname".to_owned(), person.last_name.clone());
            let mut emails = person.emails.iter().filter(|e| hubspot_accepts_email(e));
            if let Some(first) = person.emails.first().filter(|e| hubspot_accepts_email(e)) {
                values.insert(EMAIL.to_owned(), first.clone());
                emails.next();
            }
            let extra: Vec<&String> = emails.collect();
            if !extra.is_empty() {
                let joined: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
                values.insert(ADDITIONAL_EMAILS.to_owned(), joined.join(";"));
            }
            if let Some(phone) = person.numbers.first() {
                values.insert("phone".to_owned(), phone.clone());
            }
            values.retain(|_, v| !v.is_empty());
            if store
                .check(None, &values, &mut Claims::default(), 0)
                .is_ok()
            {
                ids.push(store.create(&values, now, &origin).0);
            }
        }
        ids
    }
}

fn owned(properties: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    properties
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Accepts the object type spellings clients use for contacts, in any letter case
/// (`contacts`, `Contacts`, `CONTACT`, `0-1`).
///
/// # Errors
/// 400 for any other object type.
pub(crate) fn check_object_type(object_type: &str) -> Result<(), ApiError> {
    match object_type.to_ascii_lowercase().as_str() {
        "contacts" | "contact" | "0-1" => Ok(()),
        _ => Err(ApiError::unknown_object_type(object_type)),
    }
}

/// A running simulator; dropping it stops it.
#[derive(Debug)]
pub struct HubSpotSimulator {
    sim: SimState,
    base_url: String,
    served: Option<ServedRouter>,
    worker: tokio::task::JoinHandle<()>,
}

impl Drop for HubSpotSimulator {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

impl HubSpotSimulator {
    /// Starts a simulator on `127.0.0.1:port` (`0` picks a free port).
    ///
    /// # Errors
    /// Fails when the port cannot be bound.
    pub async fn start(config: SimulatorConfig, port: u16) -> std::io::Result<Self> {
        let (sim, queue) = Sim::new(config);
        let sim = Arc::new(sim);
        let served = serve_on_loopback(routes::router(sim.clone()), port).await?;
        let _ = sim.base_url.set(served.base_url());
        let worker = tokio::spawn(webhooks::run_worker(Arc::downgrade(&sim), queue));
        Ok(Self {
            sim,
            base_url: served.base_url(),
            served: Some(served),
            worker,
        })
    }

    /// `http://127.0.0.1:<port>`, the base URL to give a HubSpot client.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.sim.config
    }

    /// Request and webhook counters.
    pub fn stats(&self) -> Stats {
        self.sim.counters.snapshot()
    }

    /// Sets every counter to zero.
    pub fn reset_stats(&self) {
        self.sim.counters.reset();
    }

    /// Creates contacts for generated people `start..start + count` of `seed` (see
    /// `tte_sync_core::simulate::people`), without webhooks; returns their ids.
    pub fn seed(&self, seed: u64, start: u64, count: u64) -> Vec<u64> {
        self.sim.seed(seed, start, count)
    }

    /// Live contacts.
    pub fn contact_count(&self) -> usize {
        self.sim
            .store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .len()
    }

    /// The ids of the live contacts, ascending.
    pub fn contact_ids(&self) -> Vec<u64> {
        self.sim
            .store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .keys()
            .copied()
            .collect()
    }

    /// A contact's stored properties (live or archived) with its archived flag.
    pub fn contact(&self, id: u64) -> Option<(std::collections::BTreeMap<String, String>, bool)> {
        let store = self.sim.store.read().unwrap_or_else(|e| e.into_inner());
        store
            .live
            .get(&id)
            .map(|c| (c.properties.clone(), false))
            .or_else(|| {
                store
                    .archived
                    .get(&id)
                    .map(|c| (c.properties.clone(), true))
            })
    }

    /// Creates a contact as HubSpot user `user_id` would in the UI (webhooks carry
    /// `CRM_UI`); returns its id.
    ///
    /// # Errors
    /// The [`WriteError`] HubSpot would show the user (invalid value, duplicate email, …).
    pub fn user_create(
        &self,
        properties: &[(&str, &str)],
        user_id: Option<u64>,
    ) -> Result<u64, WriteError> {
        self.sim.user_create(&owned(properties), user_id)
    }

    /// Edits contact `id` as HubSpot user `user_id` would in the UI (empty values clear).
    ///
    /// # Errors
    /// `NotFound` for an unknown contact, or the [`WriteError`] HubSpot would show.
    pub fn user_edit(
        &self,
        id: u64,
        properties: &[(&str, &str)],
        user_id: Option<u64>,
    ) -> Result<(), WriteError> {
        self.sim.user_edit(id, &owned(properties), user_id)
    }

    /// Deletes (archives) contact `id` as a user would; false when it is not live.
    pub fn user_archive(&self, id: u64, user_id: Option<u64>) -> bool {
        self.sim.user_archive(id, user_id)
    }

    /// Restores contact `id` from the recycle bin as a user would.
    ///
    /// # Errors
    /// `NotFound` when it is not in the bin, a conflict when its email was taken since.
    pub fn user_restore(&self, id: u64, user_id: Option<u64>) -> Result<(), WriteError> {
        self.sim.user_restore(id, user_id)
    }

    /// Merges contact `merged` into `primary` as a user would (a `contact.merge` event).
    ///
    /// # Errors
    /// `NotFound` when either is not a live contact.
    pub fn user_merge(
        &self,
        primary: u64,
        merged: u64,
        user_id: Option<u64>,
    ) -> Result<(), WriteError> {
        self.sim
            .merge(primary, merged, &admin::user_origin(user_id))
            .map(drop)
    }

    /// Sets the faults to inject.
    pub fn set_faults(&self, faults: Faults) {
        self.sim.set_faults(faults);
    }

    /// Moves the simulated clock forward (token expiry, rate windows, timestamps, journal
    /// retention).
    pub fn advance_clock(&self, by: Duration) {
        self.sim
            .clock_offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }

    /// Sets the portal's validation rules, as an admin would in HubSpot's settings; writes
    /// through `/2026-09/` paths enforce them.
    pub fn set_validation_rules(&self, rules: ValidationRules) {
        self.sim.set_validation_rules(rules);
    }

    /// The portal's validation rules.
    pub fn validation_rules(&self) -> ValidationRules {
        self.sim
            .store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .rules
            .clone()
    }

    /// Uninstalls the OAuth app from the portal as a person would in HubSpot: every
    /// refresh and access token of the portal stops working (`invalid_grant` /
    /// `BAD_REFRESH_TOKEN` on refresh). Returns whether it was installed.
    pub fn uninstall_app(&self) -> bool {
        self.sim.uninstall_app()
    }

    /// Deploys a project app's `webhooks-hsmeta.json` as `hs project upload` would: its target
    /// URL and subscriptions replace the app's webhook configuration. Returns how many
    /// subscriptions it declares.
    ///
    /// # Errors
    /// What the upload would refuse (a missing target URL, a non-contact subscription, …).
    pub fn deploy_project_webhooks(&self, hsmeta: &Value) -> Result<usize, String> {
        project::deploy(&self.sim, hsmeta)
    }

    /// Entries in the Webhooks Journal within the retention window.
    pub fn journal_len(&self) -> usize {
        self.sim.journal.len(self.sim.now_ms(), &self.sim.config)
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        self.worker.abort();
        if let Some(served) = self.served.take() {
            served.shutdown().await;
        }
    }
}
