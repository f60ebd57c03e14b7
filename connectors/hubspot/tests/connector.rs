//! The HubSpot connector against the HubSpot simulator over loopback HTTP: the conformance
//! suite of `tte_sync_core::testkit`, the acceptance counts of a 10,000-contact run, and one
//! test per behaviour the suite does not cover (OAuth install and refresh, daily limit, setup,
//! echoes, unknown portals).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use tte_sync_core::connector::{
    ConnectorContext, ConnectorFactory, CrmConnector, CrmWrite, ErrorKind, ListQuery, PropertySpec,
    SetupAction, WebhookError, WriteOutcome,
};
use tte_sync_core::simulate::{ServedRouter, serve_on_loopback};
use tte_sync_core::testkit::{
    CallCounts, CapturedWebhook, ConformanceHarness, KitFields, KitLimits, MatchField,
    MemoryTokenStore, Outcome, SignatureScheme, conformance,
};
use tte_sync_core::{CrmId, Secret};
use tte_sync_hubspot::contacts::BATCH_LIMIT;
use tte_sync_hubspot::simulator::{
    DEFAULT_APP_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_DEVELOPER_API_KEY,
    DEFAULT_PORTAL_ID, DEFAULT_PRIVATE_APP_TOKEN, Faults, HubSpotSimulator, RateLimits,
    SimulatorConfig,
};
use tte_sync_hubspot::{HubSpotConfig, HubSpotConnector, NAME, webhook};
use url::Url;

#[path = "connector/broken.rs"]
mod broken;

use broken::{Broken, Fault};

const KEY: &str = "tte_customer_uri";
const EMAIL: &str = "email";
const FIRST_NAME: &str = "firstname";
const LIST_ROUTE: &str = "GET /crm/objects/2026-09/{object_type}";
const READ_ROUTE: &str = "POST /crm/objects/2026-09/{object_type}/batch/read";
const SEARCH_ROUTE: &str = "POST /crm/objects/2026-09/{object_type}/search";
const WRITE_ROUTES: &[&str] = &[
    "POST /crm/objects/2026-09/{object_type}/batch/upsert",
    "POST /crm/objects/2026-09/{object_type}/batch/update",
    "POST /crm/objects/2026-09/{object_type}/batch/create",
    "POST /crm/objects/2026-09/{object_type}/batch/archive",
];
/// The callback path, with escapes the v3 rule decodes (`%40`) and keeps (`%20`).
const CALLBACK_PATH: &str = "/webhooks/hubspot?to=sync%40example.com&note=a%20b";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    PrivateApp,
    OAuth,
}

fn key_spec() -> PropertySpec {
    serde_json::from_value(json!({
        "name": KEY, "label": "10to8 Customer URI", "type": "string", "field_type": "text",
        "unique": true, "description": "The 10to8 customer this contact is synced with."
    }))
    .expect("spec parses")
}

fn connector_config(sim: &HubSpotSimulator, auth: Auth) -> HubSpotConfig {
    let mut config = json!({
        "api_base_url": sim.base_url(),
        "developer_api_key": DEFAULT_DEVELOPER_API_KEY,
        "app_id": DEFAULT_APP_ID,
    });
    match auth {
        Auth::PrivateApp => {
            config["private_app_token"] = json!(DEFAULT_PRIVATE_APP_TOKEN);
            config["webhooks"] = json!({
                "client_secret": DEFAULT_CLIENT_SECRET,
                "portal_ids": [DEFAULT_PORTAL_ID],
            });
        }
        Auth::OAuth => {
            config["oauth"] = json!({
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "authorize_base_url": sim.base_url(),
            });
        }
    }
    serde_json::from_value(config).expect("config parses")
}

fn build(config: HubSpotConfig, tokens: Arc<MemoryTokenStore>) -> HubSpotConnector {
    HubSpotConnector::build(config, ConnectorContext { tokens }).expect("connector builds")
}

/// Runs the OAuth install against the simulator: authorize (302 with code and state), then
/// the code exchange through the connector.
async fn install(connector: &HubSpotConnector) -> String {
    let oauth = connector.oauth().expect("oauth configured");
    let redirect = Url::parse("http://127.0.0.1:9/hubspot/install/callback").unwrap();
    let url = oauth.authorize_url(&redirect, "state-123");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http.get(url).send().await.expect("authorize answers");
    assert!(response.status().is_redirection(), "{}", response.status());
    let location = Url::parse(
        response.headers()["location"]
            .to_str()
            .expect("location is text"),
    )
    .expect("location is a URL");
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs.get("state").map(String::as_str), Some("state-123"));
    let code = pairs.get("code").expect("a code").clone();
    let token = oauth
        .exchange_code(&code, &redirect)
        .await
        .expect("exchange");
    token.account
}

struct Capture {
    served: ServedRouter,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<CapturedWebhook>>,
}

async fn capture(
    State(tx): State<mpsc::UnboundedSender<CapturedWebhook>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let sent_at = headers
        .get("x-hubspot-request-timestamp")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    let _ = tx.send(CapturedWebhook {
        method: "POST".to_owned(),
        uri: uri.to_string(),
        headers,
        body: body.to_vec(),
        sent_at,
    });
    StatusCode::OK
}

struct Harness {
    sim: HubSpotSimulator,
    connector: Arc<HubSpotConnector>,
    /// When set, the connector the kit judges instead of [`Self::connector`].
    under_test: Option<Broken>,
    tokens: Arc<MemoryTokenStore>,
    next: AtomicUsize,
    capture: tokio::sync::OnceCell<Capture>,
}

impl Harness {
    async fn start(auth: Auth) -> Self {
        Self::with(auth, SimulatorConfig::default(), |_| {}).await
    }

    async fn with(
        auth: Auth,
        sim_config: SimulatorConfig,
        tune: impl FnOnce(&mut HubSpotConfig),
    ) -> Self {
        let sim = HubSpotSimulator::start(sim_config, 0).await.expect("binds");
        let mut config = connector_config(&sim, auth);
        tune(&mut config);
        let tokens = Arc::new(MemoryTokenStore::new());
        let connector = build(config, tokens.clone());
        if auth == Auth::OAuth {
            let account = install(&connector).await;
            assert_eq!(account, DEFAULT_PORTAL_ID.to_string());
        }
        Self {
            sim,
            connector: Arc::new(connector),
            under_test: None,
            tokens,
            next: AtomicUsize::new(0),
            capture: tokio::sync::OnceCell::new(),
        }
    }

    /// The kit judges the connector broken by `fault` instead of the real one.
    fn broken(self, fault: Fault) -> Self {
        Self {
            under_test: Some(Broken::new(self.connector.clone(), fault)),
            ..self
        }
    }

    fn sim_id(id: &CrmId) -> u64 {
        id.as_str().parse().expect("numeric id")
    }

    /// Starts the capturing endpoint and points the app's webhooks at it (once).
    async fn capture(&self) -> &Capture {
        self.capture
            .get_or_init(|| async {
                let (tx, rx) = mpsc::unbounded_channel();
                let router = Router::new()
                    .route("/webhooks/hubspot", post(capture))
                    .with_state(tx);
                let served = serve_on_loopback(router, 0).await.expect("binds");
                let callback = Url::parse(&format!("{}{CALLBACK_PATH}", served.base_url()))
                    .expect("callback URL");
                self.connector
                    .setup()
                    .expect("setup capability")
                    .ensure_subscriptions(
                        &callback,
                        &[EMAIL.to_owned(), FIRST_NAME.to_owned()],
                        false,
                    )
                    .await
                    .expect("subscriptions");
                Capture {
                    served,
                    received: tokio::sync::Mutex::new(rx),
                }
            })
            .await
    }

    async fn next_webhook(&self) -> CapturedWebhook {
        let capture = self.capture().await;
        let mut received = capture.received.lock().await;
        let mut webhook = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .expect("a webhook arrives")
            .expect("channel open");
        // The handler sees the path and query; the CRM signed the full public URL.
        webhook.uri = format!("{}{}", capture.served.base_url(), webhook.uri);
        webhook
    }

    fn stats(&self) -> CallCounts {
        let stats = self.sim.stats();
        CallCounts {
            list: stats.requests_on(LIST_ROUTE),
            batch_read: stats.requests_on(READ_ROUTE),
            batch_write: WRITE_ROUTES.iter().map(|r| stats.requests_on(r)).sum(),
            search: stats.requests_on(SEARCH_ROUTE),
            throttled: stats.throttled,
        }
    }
}

#[async_trait]
impl ConformanceHarness for Harness {
    fn connector(&self) -> &dyn CrmConnector {
        match &self.under_test {
            Some(broken) => broken,
            None => &*self.connector,
        }
    }

    fn fields(&self) -> KitFields {
        KitFields {
            text: FIRST_NAME.to_owned(),
            key: KEY.to_owned(),
            matching: Some(MatchField {
                property: EMAIL.to_owned(),
                unique: true,
            }),
        }
    }

    fn limits(&self) -> KitLimits {
        KitLimits {
            page_size: BATCH_LIMIT,
            read_batch: BATCH_LIMIT,
            write_batch: BATCH_LIMIT,
        }
    }

    fn match_value(&self, tag: &str) -> String {
        format!("{tag}@example.com")
    }

    fn unknown_id(&self) -> CrmId {
        CrmId::from("999999999")
    }

    fn invalid_value(&self) -> Option<(String, String)> {
        Some((EMAIL.to_owned(), "not-an-email@example".to_owned()))
    }

    async fn prepare(&self) {
        self.connector
            .setup()
            .expect("setup capability")
            .ensure_properties(&[key_spec()], false)
            .await
            .expect("the key property exists");
    }

    async fn seed(&self, count: usize) -> Vec<CrmId> {
        let start = self.next.fetch_add(count, Ordering::Relaxed);
        (start..start + count)
            .map(|n| {
                let email = format!("seeded.{n}@example.com");
                let id = self
                    .sim
                    .user_create(&[(EMAIL, &email), (FIRST_NAME, "Seeded")], None)
                    .expect("user create");
                CrmId(id.to_string())
            })
            .collect()
    }

    async fn edit(&self, id: &CrmId, properties: &[(&str, &str)]) {
        self.sim
            .user_edit(Self::sim_id(id), properties, None)
            .expect("user edit");
    }

    async fn calls(&self) -> CallCounts {
        self.stats()
    }

    async fn reset_calls(&self) {
        self.sim.reset_stats();
    }

    async fn inject_rate_limits(&self, count: u32) {
        self.sim.set_faults(Faults {
            rate_limit_storm: count,
            ..Faults::default()
        });
    }

    async fn expire_credentials(&self) -> bool {
        if self.connector.oauth().is_none() {
            return false;
        }
        self.sim.advance_clock(Duration::from_secs(31 * 60));
        true
    }

    fn signature_scheme(&self) -> Option<SignatureScheme> {
        Some(SignatureScheme {
            covers_body: true,
            covers_url: true,
            replay_window: Some(Duration::from_secs(300)),
        })
    }

    fn sign_webhook(&self, method: &str, uri: &str, body: &[u8], at: DateTime<Utc>) -> HeaderMap {
        let timestamp = at.timestamp_millis().to_string();
        let secret = Secret::from(DEFAULT_CLIENT_SECRET);
        let signature = webhook::sign_v3(&secret, method, uri, body, &timestamp);
        let mut headers = HeaderMap::new();
        headers.insert(
            webhook::HEADER_SIGNATURE_V3,
            signature.parse().expect("base64 is a header value"),
        );
        headers.insert(
            webhook::HEADER_TIMESTAMP,
            timestamp.parse().expect("digits are a header value"),
        );
        headers
    }

    async fn capture_webhook(&self, id: &CrmId) -> CapturedWebhook {
        self.capture().await;
        self.edit(id, &[(FIRST_NAME, "Changed")]).await;
        self.next_webhook().await
    }
}

// ---- The conformance kit (OAuth: the most demanding credentials) ----

#[tokio::test]
async fn hubspot_passes_the_conformance_kit_with_oauth() {
    let report = conformance::run(|| Harness::start(Auth::OAuth)).await;
    eprintln!("{report}");
    report.assert_no_failures();
    assert_eq!(report.not_applicable(), Vec::<&str>::new(), "{report}");
}

#[tokio::test]
async fn hubspot_passes_the_conformance_kit_with_a_private_app_token() {
    let report = conformance::run(|| Harness::start(Auth::PrivateApp)).await;
    eprintln!("{report}");
    report.assert_no_failures();
    assert_eq!(
        report.not_applicable(),
        vec!["credential_expiry"],
        "a private app token never expires, and only that check depends on it: {report}"
    );
}

#[tokio::test]
async fn conflicts_and_invalid_values_come_from_one_multi_status_answer() {
    let h = Harness::start(Auth::OAuth).await;
    for name in ["unique_conflict", "invalid_value"] {
        let check = conformance::check_named(name).expect("a kit check");
        assert_eq!(
            conformance::run_one(check, &h).await,
            Outcome::Passed,
            "{name}"
        );
    }
    assert!(
        h.sim.stats().with_status(207) >= 2,
        "the per-record outcomes came from multi-status answers, not from splitting"
    );
}

#[tokio::test]
async fn expired_oauth_tokens_are_refreshed_once_and_saved() {
    let h = Harness::start(Auth::OAuth).await;
    let saves = h.tokens.saves();
    let check = conformance::check_named("credential_expiry").expect("a kit check");
    assert_eq!(conformance::run_one(check, &h).await, Outcome::Passed);
    assert!(h.tokens.saves() > saves, "the refreshed token was saved");
    assert!(h.connector.stats().refreshes >= 1, "refreshed on the 401");
}

// ---- The kit judged: each broken connector fails exactly the check it breaks ----

/// Runs the whole kit against the HubSpot connector broken by `fault` (built with `auth`
/// and `tune`), and asserts that exactly `check` fails.
async fn kit_catches(fault: Option<Fault>, auth: Auth, tune: fn(&mut HubSpotConfig), check: &str) {
    let report = conformance::run(|| async move {
        let h = Harness::with(auth, SimulatorConfig::default(), tune).await;
        match fault {
            Some(fault) => h.broken(fault),
            None => h,
        }
    })
    .await;
    eprintln!("{report}");
    assert_eq!(report.failed(), vec![check], "{report}");
}

#[tokio::test]
async fn the_kit_catches_stale_reads() {
    kit_catches(
        Some(Fault::StaleReads),
        Auth::PrivateApp,
        |_| {},
        "round_trip",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_a_listing_that_drops_its_last_page() {
    kit_catches(
        Some(Fault::DropsLastPage),
        Auth::PrivateApp,
        |_| {},
        "paging",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_reads_that_ignore_the_read_batch() {
    kit_catches(
        Some(Fault::ReadsOneAtATime),
        Auth::PrivateApp,
        |_| {},
        "read_batches",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_writes_that_ignore_the_write_batch() {
    kit_catches(
        Some(Fault::WritesOneAtATime),
        Auth::PrivateApp,
        |_| {},
        "write_batches",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_outcomes_out_of_order() {
    kit_catches(
        Some(Fault::JoinsBatchesBackwards),
        Auth::PrivateApp,
        |_| {},
        "write_batches",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_a_missing_record_reported_as_permanent() {
    kit_catches(
        Some(Fault::MissingAsPermanent),
        Auth::PrivateApp,
        |_| {},
        "per_record_failures",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_a_refused_value_without_its_field() {
    kit_catches(
        Some(Fault::ForgetsInvalidField),
        Auth::PrivateApp,
        |_| {},
        "invalid_value",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_a_conflict_without_its_holder() {
    kit_catches(
        Some(Fault::ForgetsConflictHolder),
        Auth::PrivateApp,
        |_| {},
        "unique_conflict",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_429_treated_as_fatal() {
    kit_catches(
        None,
        Auth::PrivateApp,
        |c| c.max_retries = 0,
        "rate_limit_recovery",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_a_costly_health_check() {
    kit_catches(
        Some(Fault::CostlyHealthCheck),
        Auth::PrivateApp,
        |_| {},
        "health_check",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_a_receiver_accepting_a_changed_body() {
    kit_catches(
        Some(Fault::ReusesSeenSignatures),
        Auth::PrivateApp,
        |_| {},
        "webhook_signature",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_a_receiver_ignoring_the_url() {
    kit_catches(
        Some(Fault::PinsFirstUrl),
        Auth::PrivateApp,
        |_| {},
        "webhook_url_bound",
    )
    .await;
}

#[tokio::test]
async fn the_kit_catches_a_receiver_without_a_replay_window() {
    kit_catches(
        Some(Fault::TrustsSenderClock),
        Auth::PrivateApp,
        |_| {},
        "webhook_replay_window",
    )
    .await;
}

// ---- Acceptance counts of the issue ----

/// Listing 10,000 contacts takes at most 101 list calls; writing 10,000 new contacts takes at
/// most 100 batch calls plus retries; at the default limit the simulator throttles nothing.
#[tokio::test]
async fn ten_thousand_contacts_list_and_write_within_the_call_budget_unthrottled() {
    let h = Harness::start(Auth::PrivateApp).await;
    h.prepare().await;
    let seeded = h.sim.seed(4, 0, 10_000).len();
    assert_eq!(seeded, 10_000);
    h.sim.reset_stats();
    let pages: Vec<_> = h
        .connector
        .list(ListQuery {
            properties: vec![EMAIL.to_owned(), "firstname".to_owned()],
            archived: false,
        })
        .try_collect()
        .await
        .expect("listing");
    let listed: usize = pages.iter().map(Vec::len).sum();
    assert_eq!(listed, 10_000);
    let list_calls = h.stats().list;
    assert!(list_calls <= 101, "{list_calls} list calls");

    let writes: Vec<CrmWrite> = (0..10_000)
        .map(|i| CrmWrite::Upsert {
            id_property: KEY.to_owned(),
            key: format!("https://10to8.example/api/enterprise/v2/customer/{i}/"),
            properties: [
                (EMAIL.to_owned(), format!("new.{i}@example.org").into()),
                ("firstname".to_owned(), "New".into()),
            ]
            .into(),
        })
        .collect();
    let outcomes = h.connector.write(writes).await.expect("writes");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::Written { created: true, .. })),
        "every contact created"
    );
    let stats = h.stats();
    let retries = h.connector.stats().retries;
    assert!(
        stats.batch_write <= 100 + retries,
        "{} batch calls, {retries} retries",
        stats.batch_write
    );
    assert_eq!(
        stats.throttled, 0,
        "the limiter kept every call within the limit"
    );
    assert_eq!(h.sim.contact_count(), 20_000);
}

// ---- Auth ----

#[tokio::test]
async fn oauth_refreshes_ahead_of_expiry_without_a_401() {
    let h = Harness::with(Auth::OAuth, SimulatorConfig::default(), |c| {
        c.oauth.as_mut().expect("oauth").refresh_ahead_secs = 1_800;
    })
    .await;
    let saves = h.tokens.saves();
    let before = h.tokens.latest(NAME).expect("installed token");
    let ids = h.seed(2).await;
    let read = h
        .connector
        .read(&ids, &[EMAIL.to_owned()])
        .await
        .expect("read");
    assert!(read.iter().all(Option::is_some));
    assert!(h.tokens.saves() > saves, "a refreshed token was saved");
    let after = h.tokens.latest(NAME).expect("token");
    assert_ne!(after.access_token, before.access_token);
    assert_eq!(h.sim.stats().with_status(401), 0, "no call was refused");
    assert_eq!(
        h.connector.stats().refreshes,
        0,
        "no refresh was caused by a 401"
    );
}

#[tokio::test]
async fn a_refused_refresh_is_unauthorized() {
    let h = Harness::start(Auth::OAuth).await;
    let token = h.tokens.latest(NAME).expect("installed token");
    let status = reqwest::Client::new()
        .post(format!("{}/oauth/2026-09/token/revoke", h.sim.base_url()))
        .form(&[
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("token", token.refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .expect("answers")
        .status();
    assert!(status.is_success(), "{status}");
    h.sim.advance_clock(Duration::from_secs(31 * 60));
    let error = h
        .connector
        .read(&[CrmId::from("1")], &[])
        .await
        .expect_err("no valid token");
    assert_eq!(error.kind(), &ErrorKind::Unauthorized, "{error}");
    assert!(error.message().starts_with("reinstall needed"), "{error}");
    assert!(!error.message().contains(token.refresh_token.expose()));
    let oauth = h.connector.oauth().expect("oauth");
    assert!(oauth.reinstall_needed().is_some());
    // Known revoked: the next call fails at once, without asking HubSpot again.
    let token_calls = h.sim.stats().requests_on("POST /oauth/2026-09/token");
    let again = h
        .connector
        .read(&[CrmId::from("1")], &[])
        .await
        .expect_err("still revoked");
    assert_eq!(again.kind(), &ErrorKind::Unauthorized);
    assert_eq!(
        h.sim.stats().requests_on("POST /oauth/2026-09/token"),
        token_calls
    );
}

#[tokio::test]
async fn a_wrong_private_app_token_is_unauthorized_without_retrying() {
    let h = Harness::with(Auth::PrivateApp, SimulatorConfig::default(), |c| {
        c.private_app_token = Some(Secret::new("pat-na1-wrong"));
    })
    .await;
    let error = h
        .connector
        .read(&[CrmId::from("1")], &[])
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), &ErrorKind::Unauthorized);
    assert!(!error.message().contains("pat-na1-wrong"), "{error}");
    assert_eq!(h.sim.stats().with_status(401), 1);
}

// ---- Rate limits and retries ----

#[tokio::test]
async fn the_daily_limit_stops_and_says_when_it_resets() {
    // The reset is taken as midnight UTC; within the stall budget (15 minutes) of it, the
    // client waits for the reset instead of stopping, which this test cannot wait for.
    let now = chrono::Utc::now();
    let midnight = (now.date_naive() + chrono::Days::new(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    if midnight - now < chrono::Duration::minutes(20) {
        eprintln!(
            "not applicable within 20 minutes of midnight UTC: the client waits for the reset"
        );
        return;
    }
    let sim = SimulatorConfig {
        rate_limits: RateLimits {
            daily: Some(3),
            ..RateLimits::default()
        },
        ..SimulatorConfig::default()
    };
    let h = Harness::with(Auth::PrivateApp, sim, |_| {}).await;
    let ids = h.seed(1).await;
    for _ in 0..3 {
        h.connector
            .read(&ids, &[])
            .await
            .expect("within the budget");
    }
    let error = h.connector.read(&ids, &[]).await.expect_err("budget spent");
    let ErrorKind::RateLimited {
        retry_after: Some(wait),
        daily: true,
    } = error.kind()
    else {
        panic!("the daily limit: {error:?}");
    };
    assert!(
        *wait <= Duration::from_secs(3600),
        "probed at least hourly: {wait:?}"
    );
    assert!(!error.kind().is_retryable());
    let reset = midnight.format("%Y-%m-%d 00:00 UTC").to_string();
    assert!(
        error.message().contains(&reset) && error.message().contains("time zone"),
        "says when it resets: {error}"
    );
    assert_eq!(
        h.sim.stats().with_status(429),
        1,
        "no retry when the reset is beyond the stall budget"
    );
}

#[tokio::test]
async fn passing_5xx_failures_are_retried_and_upserts_stay_retry_safe() {
    let h = Harness::start(Auth::PrivateApp).await;
    h.prepare().await;
    h.sim.set_faults(Faults {
        error_rate_percent: 25,
        ..Faults::default()
    });
    let writes: Vec<CrmWrite> = (0..2_000)
        .map(|i| CrmWrite::Upsert {
            id_property: KEY.to_owned(),
            key: format!("retry-{i}"),
            properties: [(EMAIL.to_owned(), format!("retry.{i}@example.org").into())].into(),
        })
        .collect();
    let outcomes = h.connector.write(writes).await.expect("writes");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::Written { .. })),
        "{:?}",
        outcomes
            .iter()
            .find(|o| !matches!(o, WriteOutcome::Written { .. }))
    );
    assert!(h.sim.stats().with_status(502) > 0, "failures were injected");
    assert!(h.connector.stats().retries > 0);
    assert_eq!(
        h.sim.contact_count(),
        2_000,
        "no duplicate from a retried upsert"
    );
}

#[tokio::test]
async fn a_missing_property_refuses_one_batch_and_no_other_is_sent() {
    let h = Harness::start(Auth::PrivateApp).await;
    let ids = h.seed(250).await;
    h.sim.reset_stats();
    let writes = ids
        .iter()
        .map(|id| CrmWrite::Update {
            id: id.clone(),
            properties: [("tte_customer_sync_stauts".to_owned(), "ok".into())].into(),
        })
        .collect();
    // HubSpot refuses the whole request: the call fails as a whole, with the fix.
    let error = h
        .connector
        .write(writes)
        .await
        .expect_err("nothing can be written");
    assert_eq!(
        error.kind(),
        &ErrorKind::Misconfigured {
            properties: vec!["tte_customer_sync_stauts".to_owned()]
        },
        "{error}"
    );
    assert!(error.kind().is_systemic());
    assert!(error.message().contains("tte-sync setup"), "{error}");
    assert_eq!(
        h.stats().batch_write,
        1,
        "the first refusal stops the other batches, unsplit"
    );
}

// ---- Setup ----

#[tokio::test]
async fn property_setup_is_idempotent_and_never_destructive() {
    let h = Harness::start(Auth::PrivateApp).await;
    let setup = h.connector.setup().expect("setup");
    let status: PropertySpec = serde_json::from_value(json!({
        "name": "tte_customer_sync_status", "label": "10to8 Sync Status", "field_type": "textarea"
    }))
    .unwrap();
    let specs = vec![key_spec(), status.clone()];

    let dry = setup
        .ensure_properties(&specs, true)
        .await
        .expect("dry run");
    assert!(dry.changes.iter().all(|c| c.action == SetupAction::Created));
    let catalog = h.connector.describe().await.expect("describe");
    assert!(
        !catalog.properties.contains_key(KEY),
        "a dry run writes nothing"
    );

    let first = setup.ensure_properties(&specs, false).await.expect("setup");
    assert_eq!(first.changes.len(), 2);
    assert!(first.changed_anything());
    let catalog = h.connector.describe().await.expect("describe");
    assert!(catalog.properties[KEY].unique);
    assert_eq!(
        catalog.properties["tte_customer_sync_status"].label,
        "10to8 Sync Status"
    );

    let second = setup.ensure_properties(&specs, false).await.expect("setup");
    assert!(!second.changed_anything(), "{second:?}");
    assert!(
        second
            .changes
            .iter()
            .all(|c| c.action == SetupAction::Unchanged)
    );

    let relabelled = PropertySpec {
        label: "Sync status (10to8)".to_owned(),
        ..status.clone()
    };
    let report = setup
        .ensure_properties(std::slice::from_ref(&relabelled), false)
        .await
        .expect("setup");
    assert_eq!(report.changes[0].action, SetupAction::Updated);
    assert_eq!(
        h.connector.describe().await.unwrap().properties["tte_customer_sync_status"].label,
        "Sync status (10to8)"
    );

    // A contact holds a value; a type change is reported and the property left alone.
    let id = h.seed(1).await.remove(0);
    h.edit(&id, &[("tte_customer_sync_status", "Last synced: now")])
        .await;
    let retyped = PropertySpec {
        data_type: "number".to_owned(),
        field_type: "number".to_owned(),
        ..relabelled
    };
    let report = setup
        .ensure_properties(&[retyped], false)
        .await
        .expect("setup");
    assert_eq!(report.changes[0].action, SetupAction::Mismatch);
    assert!(
        report.changes[0].detail.contains("never archives"),
        "{report:?}"
    );
    let catalog = h.connector.describe().await.unwrap();
    assert_eq!(
        catalog.properties["tte_customer_sync_status"].data_type,
        "string"
    );
    let read = h
        .connector
        .read(&[id], &["tte_customer_sync_status".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        read[0]
            .as_ref()
            .unwrap()
            .property("tte_customer_sync_status"),
        "Last synced: now",
        "the value survived"
    );
}

#[tokio::test]
async fn subscription_setup_is_idempotent_and_a_dry_run_writes_nothing() {
    let h = Harness::start(Auth::PrivateApp).await;
    let setup = h.connector.setup().expect("setup");
    let callback = Url::parse("https://sync.example.com/webhooks/hubspot").unwrap();
    let mapped = vec![
        EMAIL.to_owned(),
        "firstname".to_owned(),
        "hs_lastmodifieddate".to_owned(),
    ];
    let dry = setup
        .ensure_subscriptions(&callback, &mapped, true)
        .await
        .expect("dry run");
    assert!(dry.changed_anything());
    let first = setup
        .ensure_subscriptions(&callback, &mapped, false)
        .await
        .expect("setup");
    assert_eq!(
        first.changes, dry.changes,
        "the dry run wrote nothing and predicted the real run"
    );
    let created: Vec<&str> = first
        .changes
        .iter()
        .filter(|c| c.action == SetupAction::Created)
        .map(|c| c.target.as_str())
        .collect();
    for wanted in [
        "webhook target URL",
        "subscription contact.creation",
        "subscription contact.deletion",
        "subscription contact.merge",
        "subscription contact.restore",
        "subscription contact.privacyDeletion",
        "subscription contact.propertyChange email",
        "subscription contact.propertyChange firstname",
    ] {
        assert!(
            created.contains(&wanted),
            "{wanted} missing from {created:?}"
        );
    }
    assert!(
        first
            .changes
            .iter()
            .any(|c| c.action == SetupAction::Mismatch && c.target.ends_with("hs_lastmodifieddate")),
        "an unsubscribable property is reported"
    );
    let second = setup
        .ensure_subscriptions(&callback, &mapped, false)
        .await
        .expect("setup");
    assert!(!second.changed_anything(), "{second:?}");
    let moved = Url::parse("https://sync2.example.com/webhooks/hubspot").unwrap();
    let third = setup
        .ensure_subscriptions(&moved, &mapped, false)
        .await
        .expect("setup");
    assert_eq!(
        third
            .changes
            .iter()
            .filter(|c| c.action != SetupAction::Unchanged && c.action != SetupAction::Mismatch)
            .count(),
        1,
        "only the target URL changes: {third:?}"
    );
}

// ---- Webhooks ----

#[tokio::test]
async fn our_own_writes_come_back_as_echoes_and_user_edits_do_not() {
    let h = Harness::start(Auth::PrivateApp).await;
    let id = h.seed(1).await.remove(0);
    h.capture().await;
    let receiver = h.connector.webhooks().expect("webhooks");
    let outcome = h
        .connector
        .write(vec![CrmWrite::Update {
            id: id.clone(),
            properties: [("firstname".to_owned(), "ByUs".into())].into(),
        }])
        .await
        .expect("write");
    assert!(matches!(outcome[0], WriteOutcome::Written { .. }));
    let ours = h.next_webhook().await;
    receiver
        .verify(&ours.request(), ours.sent_at)
        .expect("genuine");
    let events = receiver.parse(&ours.body).expect("parses");
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| receiver.is_own_echo(e)), "{events:?}");

    let theirs = h.capture_webhook(&id).await;
    let events = receiver.parse(&theirs.body).expect("parses");
    assert!(events.iter().any(|e| e.object_id == id));
    assert!(
        events.iter().all(|e| !receiver.is_own_echo(e)),
        "{events:?}"
    );
    assert_eq!(events[0].account.as_deref(), Some("62515"));

    let foreign = String::from_utf8(theirs.body.clone())
        .unwrap()
        .replace("62515", "99999");
    assert_eq!(
        receiver.parse(foreign.as_bytes()),
        Err(WebhookError::UnknownAccount("99999".to_owned()))
    );
}

/// A fake HubSpot that answers 477 (with `Retry-After`), then 423, then stalls past the
/// client's timeout, then serves the page; it checks the bearer token on every request.
#[tokio::test]
async fn locks_migrations_and_timeouts_are_retried_honouring_retry_after() {
    #[derive(Clone, Default)]
    struct Seen(Arc<std::sync::Mutex<Vec<Option<String>>>>);
    async fn contacts(State(seen): State<Seen>, headers: HeaderMap) -> axum::response::Response {
        use axum::response::IntoResponse;
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let n = {
            let mut seen = seen.0.lock().unwrap();
            seen.push(auth);
            seen.len()
        };
        match n {
            1 => (
                StatusCode::from_u16(477).unwrap(),
                [("retry-after", "1")],
                r#"{"status":"error","message":"Migration in progress","category":"MIGRATION_IN_PROGRESS"}"#,
            )
                .into_response(),
            2 => (
                StatusCode::LOCKED,
                r#"{"status":"error","message":"Locked","category":"LOCKED"}"#,
            )
                .into_response(),
            3 => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                StatusCode::OK.into_response()
            }
            _ => axum::Json(json!({"results": [
                {"id": "7", "properties": {"email": "a@example.com", "hs_object_id": "7"},
                 "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z", "archived": false}
            ]}))
            .into_response(),
        }
    }
    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/crm/objects/2026-09/contacts",
            axum::routing::get(contacts),
        )
        .with_state(seen.clone());
    let served = serve_on_loopback(router, 0).await.expect("binds");
    let mut config: HubSpotConfig = serde_json::from_value(json!({
        "api_base_url": served.base_url(),
        "private_app_token": "pat-fake",
        "request_timeout_secs": 1,
    }))
    .unwrap();
    config.max_retries = 4;
    let connector = build(config, Arc::new(MemoryTokenStore::new()));
    let pages: Vec<_> = connector
        .list(ListQuery {
            properties: vec![EMAIL.to_owned()],
            archived: false,
        })
        .try_collect()
        .await
        .expect("listing succeeds after the passing failures");
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0][0].id, CrmId::from("7"));
    assert_eq!(
        pages[0][0].properties.keys().collect::<Vec<_>>(),
        vec![EMAIL],
        "only the requested property, although the answer had more"
    );
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "three failures, one success");
    assert!(
        seen.iter()
            .all(|auth| auth.as_deref() == Some("Bearer pat-fake"))
    );
    assert_eq!(connector.stats().retries, 3);
}

#[tokio::test]
async fn search_429s_are_waited_out_when_the_search_limiter_is_off() {
    let h = Harness::with(Auth::PrivateApp, SimulatorConfig::default(), |c| {
        c.search_requests_per_sec = 0;
        c.changes = Some(tte_sync_hubspot::ChangeCapture::Polling);
    })
    .await;
    let feed = h.connector.change_feed().expect("changes are polled");
    let start = feed.pull(None).await.expect("first pull").cursor;
    for _ in 0..20 {
        feed.pull(start.as_deref())
            .await
            .expect("each poll recovers from the search limit");
    }
    assert!(
        h.sim.stats().throttled > 0,
        "the simulator refused some searches"
    );
}

/// Merge, deletion and restore made in HubSpot arrive as change events of those kinds.
#[tokio::test]
async fn merges_deletions_and_restores_arrive_as_change_events() {
    use tte_sync_core::connector::ChangeKind;
    let h = Harness::start(Auth::PrivateApp).await;
    let ids = h.seed(3).await;
    h.capture().await;
    let receiver = h.connector.webhooks().expect("webhooks");
    let [a, b, c] = [0, 1, 2].map(|i| Harness::sim_id(&ids[i]));
    h.sim.user_merge(a, b, None).expect("merge");
    assert!(h.sim.user_archive(c, None));
    h.sim.user_restore(c, None).expect("restore");
    let mut seen = Vec::new();
    while !(seen
        .iter()
        .any(|e: &tte_sync_core::connector::ChangeEvent| {
            matches!(e.kind, ChangeKind::Merged { .. })
        })
        && seen.iter().any(|e| e.kind == ChangeKind::Deleted)
        && seen.iter().any(|e| e.kind == ChangeKind::Restored))
    {
        let webhook = h.next_webhook().await;
        receiver
            .verify(&webhook.request(), webhook.sent_at)
            .expect("genuine");
        seen.extend(receiver.parse(&webhook.body).expect("parses"));
    }
    let merge = seen
        .iter()
        .find(|e| matches!(e.kind, ChangeKind::Merged { .. }))
        .unwrap();
    assert_eq!(merge.object_id, ids[0], "the survivor");
    assert_eq!(
        merge.kind,
        ChangeKind::Merged {
            merged_ids: vec![ids[1].clone()]
        }
    );
    assert_eq!(merge.change_source.as_deref(), Some("CRM_UI"));
    assert!(
        seen.iter()
            .any(|e| e.kind == ChangeKind::Deleted && e.object_id == ids[2])
    );
    assert!(
        seen.iter()
            .any(|e| e.kind == ChangeKind::Restored && e.object_id == ids[2])
    );
}

/// A create racing a person who just made the same contact in HubSpot: the upsert reports a
/// conflict naming the existing contact (to link to) instead of creating a duplicate.
#[tokio::test]
async fn a_create_colliding_with_a_new_contact_becomes_a_conflict_naming_it() {
    let h = Harness::start(Auth::PrivateApp).await;
    h.prepare().await;
    let existing = h
        .sim
        .user_create(&[(EMAIL, "just.created@example.com")], None)
        .expect("user create");
    let outcomes = h
        .connector
        .write(vec![CrmWrite::Upsert {
            id_property: KEY.to_owned(),
            key: "https://10to8.example/api/enterprise/v2/customer/1/".to_owned(),
            properties: [(EMAIL.to_owned(), "just.created@example.com".into())].into(),
        }])
        .await
        .expect("write");
    match &outcomes[0] {
        WriteOutcome::Failed(error) => assert_eq!(
            error.kind(),
            &ErrorKind::Conflict {
                existing_id: Some(CrmId(existing.to_string()))
            }
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(h.sim.contact_count(), 1, "no duplicate");
}

/// A connector built after an install (a restart) knows no portal until it loads the
/// installed ones from the token store; then that portal's webhooks parse and others still
/// do not.
#[tokio::test]
async fn installed_portals_are_loaded_from_the_token_store() {
    let sim = HubSpotSimulator::start(SimulatorConfig::default(), 0)
        .await
        .unwrap();
    let tokens = Arc::new(MemoryTokenStore::new());
    let first = build(connector_config(&sim, Auth::OAuth), tokens.clone());
    assert_eq!(install(&first).await, DEFAULT_PORTAL_ID.to_string());

    let restarted = build(connector_config(&sim, Auth::OAuth), tokens.clone());
    let receiver = restarted.webhooks().expect("receives webhooks");
    let event = |portal: &str| {
        format!(
            r#"[{{"eventId":1,"portalId":{portal},"occurredAt":1564113600000,"subscriptionType":"contact.creation","objectId":5}}]"#
        )
    };
    let ours = event(&DEFAULT_PORTAL_ID.to_string());
    assert_eq!(
        receiver.parse(ours.as_bytes()),
        Err(WebhookError::UnknownAccount(DEFAULT_PORTAL_ID.to_string()))
    );
    let loaded = restarted
        .oauth()
        .expect("oauth configured")
        .load_installed()
        .await
        .expect("the token store answers");
    assert_eq!(loaded, [DEFAULT_PORTAL_ID.to_string()]);
    assert_eq!(receiver.parse(ours.as_bytes()).expect("parses").len(), 1);
    assert_eq!(
        receiver.parse(event("99999").as_bytes()),
        Err(WebhookError::UnknownAccount("99999".to_owned()))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn find_searches_a_few_values_at_a_time_and_ignores_the_case_of_emails() {
    let h = Harness::start(Auth::PrivateApp).await;
    let ids: Vec<u64> = (0..3)
        .map(|n| {
            let email = format!("Person.{n}@Example.com");
            h.sim
                .user_create(&[("email", email.as_str()), ("firstname", "Person")], None)
                .expect("created")
        })
        .collect();
    h.sim.reset_stats();
    let wanted = [
        "person.0@example.com".to_owned(),
        "PERSON.2@EXAMPLE.COM".to_owned(),
        "nobody@example.com".to_owned(),
    ];
    let found = h
        .connector
        .find("email", &wanted, &["firstname".to_owned()])
        .await
        .expect("find");
    let mut found_ids: Vec<String> = found.iter().map(|r| r.id.as_str().to_owned()).collect();
    found_ids.sort();
    assert_eq!(found_ids, vec![ids[0].to_string(), ids[2].to_string()]);
    assert!(found.iter().all(|r| r.property("firstname") == "Person"));
    let stats = h.sim.stats();
    let searches: u64 = (stats.requests.iter())
        .filter(|r| r.route.ends_with("/search"))
        .map(|r| r.count)
        .sum();
    assert_eq!(searches, 1, "one search, no listing: {:?}", stats.requests);
    assert_eq!(stats.requests.iter().map(|r| r.count).sum::<u64>(), 1);
}
