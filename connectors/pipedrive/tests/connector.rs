//! The Pipedrive connector against its simulator: the conformance kit, with only the checks
//! Pipedrive gives no ground for not applicable, and what the kit does not cover — setup run
//! twice, generated field keys, labels kept, merges, the rate budget's headers, echoes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use http::HeaderMap;
use serde_json::json;
use tte_sync_core::connector::{
    ChangeKind, ConnectorContext, ConnectorFactory, CrmConnector, CrmWrite, ErrorKind, ListQuery,
    PropertySpec, SetupAction, WriteOutcome,
};
use tte_sync_core::record::{CrmId, PropertyValue};
use tte_sync_core::testkit::MemoryTokenStore;
use tte_sync_core::testkit::conformance::{
    self, CallCounts, CapturedWebhook, ConformanceHarness, KitFields, KitLimits, MatchField,
    SignatureScheme,
};
use tte_sync_pipedrive::fields::{EMAILS, NAME, PHONES};
use tte_sync_pipedrive::simulator::{Faults, PipedriveSimulator, SimulatorConfig};
use tte_sync_pipedrive::webhook::basic_auth;
use tte_sync_pipedrive::{PipedriveConfig, PipedriveConnector};

const KEY: &str = "tte_customer_uri";
const WEBHOOK_USER: &str = "kit";
const WEBHOOK_PASSWORD: &str = "kit-password";
/// A loopback port nothing listens on: deliveries fail at once and are still recorded.
const CALLBACK: &str = "http://127.0.0.1:9/webhooks/pipedrive";
const PAGE_SIZE: usize = 5;

fn spec(name: &str) -> PropertySpec {
    serde_json::from_value(json!({"name": name, "label": name, "unique": name == KEY}))
        .expect("a property spec")
}

/// Where the OAuth install redirects to (never followed: the code is taken directly).
const REDIRECT: &str = "http://127.0.0.1:9/pipedrive/install/callback";

/// How the connector authenticates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    ApiToken,
    OAuth,
}

struct Harness {
    sim: PipedriveSimulator,
    connector: PipedriveConnector,
    auth: Auth,
    next: AtomicUsize,
}

impl Harness {
    async fn start() -> Self {
        Self::with(SimulatorConfig::default().unlimited()).await
    }

    async fn with(config: SimulatorConfig) -> Self {
        Self::built(config, Auth::ApiToken).await
    }

    /// Installed through OAuth: authorized, the code exchanged, the tokens in a store.
    async fn installed() -> Self {
        let h = Self::built(SimulatorConfig::default().unlimited(), Auth::OAuth).await;
        let code = h.sim.authorize(REDIRECT);
        let token = h
            .connector
            .oauth()
            .expect("the OAuth capability")
            .exchange_code(&code, &REDIRECT.parse().expect("a URL"))
            .await
            .expect("the code is exchanged");
        assert_eq!(token.account, h.sim.base_url(), "the install's api_domain");
        h
    }

    async fn built(config: SimulatorConfig, auth: Auth) -> Self {
        let sim = PipedriveSimulator::start(config, 0)
            .await
            .expect("simulator");
        let mut config = json!({
            "api_base_url": sim.base_url(),
            "webhook_user": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
            "page_size": PAGE_SIZE,
            "max_retries": 3,
        });
        match auth {
            Auth::ApiToken => config["api_token"] = sim.config().api_token.clone().into(),
            Auth::OAuth => {
                config["oauth"] = json!({
                    "client_id": sim.config().client_id,
                    "client_secret": sim.config().client_secret,
                    "oauth_base_url": sim.base_url(),
                });
            }
        }
        let config: PipedriveConfig = serde_json::from_value(config).expect("config");
        let context = ConnectorContext {
            tokens: Arc::new(MemoryTokenStore::default()),
        };
        let connector = PipedriveConnector::build(config, context).expect("connector");
        Self {
            sim,
            connector,
            auth,
            next: AtomicUsize::new(0),
        }
    }

    fn count(&self, routes: &[&str]) -> u64 {
        let requests = self.sim.stats().requests;
        routes
            .iter()
            .map(|route| requests.get(*route).copied().unwrap_or(0))
            .sum()
    }

    fn number(id: &CrmId) -> u64 {
        id.as_str().parse().expect("a numeric id")
    }
}

#[async_trait]
impl ConformanceHarness for Harness {
    fn connector(&self) -> &dyn CrmConnector {
        &self.connector
    }

    fn fields(&self) -> KitFields {
        KitFields {
            text: NAME.to_owned(),
            key: KEY.to_owned(),
            matching: Some(MatchField {
                property: EMAILS.to_owned(),
                unique: false,
            }),
        }
    }

    fn limits(&self) -> KitLimits {
        KitLimits {
            page_size: PAGE_SIZE,
            read_batch: 100,
            write_batch: 1,
        }
    }

    fn match_value(&self, tag: &str) -> String {
        format!("{tag}@example.com")
    }

    fn unknown_id(&self) -> CrmId {
        CrmId::from("999999999")
    }

    fn invalid_value(&self) -> Option<(String, String)> {
        Some((NAME.to_owned(), String::new()))
    }

    async fn prepare(&self) {
        self.connector
            .setup()
            .expect("setup capability")
            .ensure_properties(&[spec(KEY)], false)
            .await
            .expect("the key field exists");
    }

    async fn seed(&self, count: usize) -> Vec<CrmId> {
        let start = self.next.fetch_add(count, Ordering::Relaxed);
        (start..start + count)
            .map(|n| {
                let person = self
                    .sim
                    .app_create(&json!({
                        "name": "Seeded",
                        "emails": [format!("seeded.{n}@example.com")],
                    }))
                    .expect("an app create");
                CrmId(person["id"].to_string())
            })
            .collect()
    }

    async fn edit(&self, id: &CrmId, properties: &[(&str, &str)]) {
        let mut edit = serde_json::Map::new();
        let mut fields = serde_json::Map::new();
        for (name, value) in properties {
            match *name {
                NAME => {
                    edit.insert(NAME.to_owned(), (*value).into());
                }
                EMAILS | PHONES => {
                    edit.insert((*name).to_owned(), json!([value]));
                }
                custom => {
                    fields.insert(custom.to_owned(), (*value).into());
                }
            }
        }
        if !fields.is_empty() {
            edit.insert("fields".to_owned(), fields.into());
        }
        self.sim
            .app_edit(Self::number(id), &edit.into())
            .expect("an app edit");
    }

    async fn calls(&self) -> CallCounts {
        CallCounts {
            list: self.count(&["GET /api/v2/persons", "GET /v1/recents"]),
            batch_read: self.count(&[
                "GET /api/v2/persons?ids",
                "GET /api/v2/persons/{id}",
                "GET /v1/users/me",
            ]),
            batch_write: self.count(&[
                "POST /api/v2/persons",
                "PATCH /api/v2/persons/{id}",
                "DELETE /api/v2/persons/{id}",
            ]),
            search: self.count(&["GET /api/v2/persons/search"]),
            throttled: self.sim.stats().rate_limited,
        }
    }

    async fn reset_calls(&self) {
        self.sim.reset_stats();
    }

    async fn inject_rate_limits(&self, count: u32) {
        self.sim.set_faults(Faults {
            rate_limit_next: count,
            ..Faults::default()
        });
    }

    async fn expire_credentials(&self) -> bool {
        match self.auth {
            // An API token does not expire.
            Auth::ApiToken => false,
            Auth::OAuth => {
                self.sim.advance_clock(Duration::from_secs(2 * 3600));
                true
            }
        }
    }

    fn signature_scheme(&self) -> Option<SignatureScheme> {
        Some(SignatureScheme {
            covers_body: false,
            covers_url: false,
            replay_window: None,
        })
    }

    fn sign_webhook(
        &self,
        _method: &str,
        _uri: &str,
        _body: &[u8],
        _at: DateTime<Utc>,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            basic_auth(WEBHOOK_USER, WEBHOOK_PASSWORD)
                .parse()
                .expect("base64 is a header value"),
        );
        headers
    }

    async fn capture_webhook(&self, id: &CrmId) -> CapturedWebhook {
        self.connector
            .setup()
            .expect("setup capability")
            .ensure_subscriptions(&CALLBACK.parse().expect("a URL"), &[], false)
            .await
            .expect("the webhook exists");
        let before = self.sim.deliveries().len();
        self.edit(id, &[(NAME, "Changed")]).await;
        for _ in 0..100 {
            if let Some(delivery) = self.sim.deliveries().into_iter().nth(before) {
                return CapturedWebhook {
                    method: "POST".to_owned(),
                    uri: delivery.url,
                    headers: delivery.headers,
                    body: delivery.body,
                    sent_at: delivery.sent_at,
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the simulator sent no webhook about {id}");
    }
}

#[tokio::test]
async fn pipedrive_passes_the_conformance_kit_with_oauth() {
    let report = conformance::run(Harness::installed).await;
    eprintln!("{report}");
    report.assert_no_failures();
    assert_eq!(
        report.not_applicable(),
        vec![
            "unique_conflict",
            "webhook_url_bound",
            "webhook_replay_window"
        ],
        "Pipedrive keeps no value unique, and basic auth covers neither the URL nor a time: \
         {report}"
    );
}

#[tokio::test]
async fn pipedrive_passes_the_conformance_kit_with_an_api_token() {
    let report = conformance::run(Harness::start).await;
    eprintln!("{report}");
    report.assert_no_failures();
    assert_eq!(
        report.not_applicable(),
        vec![
            "unique_conflict",
            "credential_expiry",
            "webhook_url_bound",
            "webhook_replay_window"
        ],
        "as with OAuth, and an API token never expires: {report}"
    );
}

#[tokio::test]
async fn an_oauth_install_calls_its_api_domain_refreshes_once_refused_and_disconnects() {
    let h = Harness::installed().await;
    let oauth = h.connector.oauth().expect("the OAuth capability");
    let authorize = oauth.authorize_url(&REDIRECT.parse().expect("a URL"), "st-1");
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{}/oauth/authorize?", h.sim.base_url()))
    );
    assert!(authorize.as_str().contains("state=st-1"), "{authorize}");
    assert_eq!(
        oauth.load_installed().await.expect("installed"),
        vec![h.sim.base_url()]
    );
    let ids = h.seed(1).await;
    h.sim.advance_clock(Duration::from_secs(2 * 3600));
    h.sim.reset_stats();
    let read = h
        .connector
        .read(&ids, &[NAME.to_owned()])
        .await
        .expect("a read after the token expired");
    assert!(read[0].is_some());
    assert_eq!(
        h.sim.stats().unauthorized,
        1,
        "the expired token was refused once"
    );
    assert_eq!(
        h.count(&["GET /api/v2/persons?ids"]),
        1,
        "then the read was sent again with the refreshed token"
    );
    assert_eq!(
        oauth.disconnect().await.expect("disconnected"),
        h.sim.base_url()
    );
    let error = h
        .connector
        .read(&ids, &[NAME.to_owned()])
        .await
        .expect_err("nothing is installed any more");
    assert_eq!(error.kind(), &ErrorKind::Unauthorized);
    assert!(
        error.message().contains("/pipedrive/install/start"),
        "{error}"
    );
}

// ---- What the kit does not cover ----

fn setup(h: &Harness) -> &dyn tte_sync_core::connector::ConnectorSetup {
    h.connector.setup().expect("setup capability")
}

async fn new_delivery(h: &Harness, before: usize) -> tte_sync_pipedrive::simulator::Delivery {
    for _ in 0..100 {
        if let Some(delivery) = h.sim.deliveries().into_iter().nth(before) {
            return delivery;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no webhook was sent");
}

#[tokio::test]
async fn setup_creates_the_fields_under_generated_keys_once_and_finds_them_by_name_again() {
    let h = Harness::start().await;
    let specs = [spec(KEY), spec("tte_customer_sync_status"), spec(NAME)];
    let dry = setup(&h)
        .ensure_properties(&specs, true)
        .await
        .expect("dry run");
    assert!(
        dry.changed_anything(),
        "a dry run says what it would create"
    );
    assert_eq!(h.sim.field_key(KEY), None, "a dry run creates nothing");

    let first = setup(&h)
        .ensure_properties(&specs, false)
        .await
        .expect("setup");
    let actions: Vec<SetupAction> = first.changes.iter().map(|c| c.action).collect();
    assert_eq!(
        actions,
        [
            SetupAction::Created,
            SetupAction::Created,
            SetupAction::Unchanged
        ],
        "{first:?}"
    );
    let key = h.sim.field_key(KEY).expect("the field exists");
    assert_eq!(key.len(), 40, "a generated 40-character key: {key}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    assert!(first.changes[0].detail.contains(&key), "{first:?}");

    let fields_created = h.count(&["POST /v1/personFields"]);
    let second = setup(&h)
        .ensure_properties(&specs, false)
        .await
        .expect("setup again");
    assert!(!second.changed_anything(), "{second:?}");
    assert_eq!(h.count(&["POST /v1/personFields"]), fields_created);

    // The connector writes the field by its generated key and reads it back by name.
    let outcomes = h
        .connector
        .write(vec![CrmWrite::Create {
            id_property: KEY.to_owned(),
            key: "https://10to8.example/customer/1/".to_owned(),
            properties: [(NAME.to_owned(), "Ada Lovelace".into())].into(),
        }])
        .await
        .expect("a create");
    let WriteOutcome::Written { id, created: true } = &outcomes[0] else {
        panic!("created: {outcomes:?}");
    };
    let person = h.sim.person(Harness::number(id)).expect("the person");
    assert_eq!(
        person["custom_fields"][&key],
        "https://10to8.example/customer/1/"
    );
}

#[tokio::test]
async fn the_webhook_is_created_once_with_basic_auth_and_needs_credentials() {
    let h = Harness::start().await;
    let callback = CALLBACK.parse().expect("a URL");
    let first = setup(&h)
        .ensure_subscriptions(&callback, &[], false)
        .await
        .expect("subscription");
    assert_eq!(first.changes[0].action, SetupAction::Created, "{first:?}");
    let again = setup(&h)
        .ensure_subscriptions(&callback, &[], false)
        .await
        .expect("subscription again");
    assert!(!again.changed_anything(), "{again:?}");
    assert_eq!(h.count(&["POST /v1/webhooks"]), 1);

    let other_user: PipedriveConfig = serde_json::from_value(json!({
        "api_base_url": h.sim.base_url(),
        "api_token": h.sim.config().api_token,
        "webhook_user": "someone-else",
        "webhook_password": "x",
    }))
    .expect("config");
    let context = ConnectorContext {
        tokens: Arc::new(MemoryTokenStore::default()),
    };
    let other = PipedriveConnector::build(other_user, context).expect("connector");
    let report = other
        .setup()
        .expect("setup")
        .ensure_subscriptions(&callback, &[], false)
        .await
        .expect("subscription");
    assert_eq!(
        report.changes[0].action,
        SetupAction::Mismatch,
        "{report:?}"
    );
    assert!(report.changes[0].detail.contains("delete it"), "{report:?}");
    assert_eq!(
        h.count(&["POST /v1/webhooks"]),
        1,
        "setup replaces no webhook"
    );

    let without: PipedriveConfig = serde_json::from_value(json!({
        "api_base_url": h.sim.base_url(),
        "api_token": h.sim.config().api_token,
    }))
    .expect("config");
    let context = ConnectorContext {
        tokens: Arc::new(MemoryTokenStore::default()),
    };
    let bare = PipedriveConnector::build(without, context).expect("connector");
    assert!(
        bare.webhooks().is_none(),
        "no credentials, no webhooks taken"
    );
    let other = "http://127.0.0.1:9/elsewhere".parse().expect("a URL");
    let error = bare
        .setup()
        .expect("setup")
        .ensure_subscriptions(&other, &[], false)
        .await
        .expect_err("a webhook needs credentials");
    assert!(error.message().contains("webhook_password"), "{error}");
}

#[tokio::test]
async fn emails_and_phones_keep_their_primary_and_labels() {
    let h = Harness::start().await;
    let created = h
        .sim
        .app_create(&json!({
            "name": "Ada Lovelace",
            "emails": [
                {"value": "ada@home.example", "primary": false, "label": "home"},
                {"value": "ada@work.example", "primary": true, "label": "work"},
            ],
            "phones": [{"value": "+44 20 7946 0018", "primary": true, "label": "mobile"}],
        }))
        .expect("an app create");
    let id = CrmId(created["id"].to_string());
    let wanted = [EMAILS.to_owned(), PHONES.to_owned()];
    let read = h
        .connector
        .read(std::slice::from_ref(&id), &wanted)
        .await
        .expect("read");
    let record = read[0].as_ref().expect("the person");
    assert_eq!(record.property(EMAILS), "ada@work.example", "the primary");
    assert_eq!(
        record.value(EMAILS).map(PropertyValue::items),
        Some(vec!["ada@work.example", "ada@home.example"])
    );

    let outcomes = h
        .connector
        .write(vec![CrmWrite::Update {
            id: id.clone(),
            properties: [(
                EMAILS.to_owned(),
                PropertyValue::list(vec![
                    "ada@home.example".to_owned(),
                    "ada@new.example".to_owned(),
                ]),
            )]
            .into(),
        }])
        .await
        .expect("an update");
    assert!(
        matches!(outcomes[0], WriteOutcome::Written { .. }),
        "{outcomes:?}"
    );
    let person = h.sim.person(Harness::number(&id)).expect("the person");
    assert_eq!(
        person["emails"],
        json!([
            {"value": "ada@home.example", "primary": true, "label": "home"},
            {"value": "ada@new.example", "primary": false, "label": "work"},
        ])
    );
    assert_eq!(
        person["phones"][0]["label"], "mobile",
        "a list not written is left alone"
    );
}

#[tokio::test]
async fn calls_are_paced_by_the_limit_headers_instead_of_refused() {
    let h = Harness::with(SimulatorConfig {
        requests_per_two_seconds: Some(3),
        ..SimulatorConfig::default()
    })
    .await;
    let ids = h.seed(7).await;
    let started = std::time::Instant::now();
    for id in &ids {
        let read = h
            .connector
            .read(std::slice::from_ref(id), &[NAME.to_owned()])
            .await
            .expect("a read");
        assert!(read[0].is_some());
    }
    assert_eq!(
        h.sim.stats().rate_limited,
        0,
        "no call went over the window"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "seven calls at three per 2 s wait for the window: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_simulator_answers_with_the_limit_headers_and_refuses_over_them() {
    let h = Harness::with(SimulatorConfig {
        requests_per_two_seconds: Some(2),
        daily_token_budget: Some(1_000),
        ..SimulatorConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let get = || {
        http.get(format!("{}/api/v2/persons", h.sim.base_url()))
            .header("x-api-token", &h.sim.config().api_token)
            .send()
    };
    let first = get().await.expect("answer");
    assert_eq!(first.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header(&first, "x-ratelimit-limit").as_deref(), Some("2"));
    assert_eq!(
        header(&first, "x-ratelimit-remaining").as_deref(),
        Some("1")
    );
    assert_eq!(
        header(&first, "x-daily-requests-left").as_deref(),
        Some("980"),
        "a list costs 20 tokens"
    );
    get().await.expect("answer");
    let refused = get().await.expect("answer");
    assert_eq!(refused.status(), 429);
    assert_eq!(
        header(&refused, "x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert!(header(&refused, "x-ratelimit-reset").is_some());
    let body: serde_json::Value = refused.json().await.expect("an error body");
    assert_eq!(body["success"], false);
    assert_eq!(body["data"], serde_json::Value::Null);
    assert!(
        body["error"].is_string() && body["error_info"].is_string(),
        "{body}"
    );

    let unauthorized = http
        .get(format!("{}/api/v2/persons", h.sim.base_url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(unauthorized.status(), 401);
    let by_query = http
        .get(format!(
            "{}/v1/users/me?api_token={}",
            h.sim.base_url(),
            h.sim.config().api_token
        ))
        .send()
        .await
        .expect("answer");
    assert_ne!(
        by_query.status(),
        401,
        "the token is taken as a query parameter too"
    );
}

#[tokio::test]
async fn a_spent_daily_budget_stops_the_call_saying_when_it_resets() {
    let h = Harness::with(SimulatorConfig {
        daily_token_budget: Some(45),
        requests_per_two_seconds: None,
        ..SimulatorConfig::default()
    })
    .await;
    let ids = h.seed(1).await;
    // 20 tokens to list the person fields and 20 for a read by ids: the first read fits in
    // 45, the second does not.
    h.connector
        .read(&ids, &[NAME.to_owned()])
        .await
        .expect("the first read");
    let error = h
        .connector
        .read(&ids, &[NAME.to_owned()])
        .await
        .expect_err("the budget is spent");
    assert!(
        matches!(error.kind(), ErrorKind::RateLimited { daily: true, .. }),
        "{error:?}"
    );
    assert!(error.message().contains("daily API budget"), "{error}");
}

#[tokio::test]
async fn our_own_writes_come_back_as_echoes_and_edits_in_the_app_do_not() {
    let h = Harness::start().await;
    h.prepare().await;
    // Seeded before the webhook exists, so that no create event is in flight.
    let ids = h.seed(1).await;
    setup(&h)
        .ensure_subscriptions(&CALLBACK.parse().expect("a URL"), &[], false)
        .await
        .expect("subscription");
    let receiver = h.connector.webhooks().expect("webhooks taken");

    let before = h.sim.deliveries().len();
    h.connector
        .write(vec![CrmWrite::Update {
            id: ids[0].clone(),
            properties: [(NAME.to_owned(), "Written by sync".into())].into(),
        }])
        .await
        .expect("an update");
    let ours = new_delivery(&h, before).await;
    let request = tte_sync_core::connector::WebhookRequest {
        method: "POST",
        uri: &ours.url,
        headers: &ours.headers,
        body: &ours.body,
    };
    receiver.verify(&request, Utc::now()).expect("verifies");
    let events = receiver.parse(&ours.body).expect("parses");
    assert_eq!(events[0].object_id, ids[0]);
    assert!(receiver.is_own_echo(&events[0]), "{events:?}");

    let before = h.sim.deliveries().len();
    h.edit(&ids[0], &[(NAME, "Typed in the app")]).await;
    let theirs = new_delivery(&h, before).await;
    let events = receiver.parse(&theirs.body).expect("parses");
    assert!(!receiver.is_own_echo(&events[0]), "{events:?}");
}

#[tokio::test]
async fn a_merge_reaches_the_connector_as_a_merge_into_the_survivor() {
    let h = Harness::start().await;
    let ids = h.seed(2).await;
    setup(&h)
        .ensure_subscriptions(&CALLBACK.parse().expect("a URL"), &[], false)
        .await
        .expect("subscription");
    let receiver = h.connector.webhooks().expect("webhooks taken");
    let before = h.sim.deliveries().len();
    h.sim
        .merge(Harness::number(&ids[0]), Harness::number(&ids[1]))
        .expect("a merge");
    let delete = new_delivery(&h, before).await;
    let events = receiver.parse(&delete.body).expect("parses");
    assert_eq!(events[0].object_id, ids[1], "the survivor");
    assert_eq!(
        events[0].kind,
        ChangeKind::Merged {
            merged_ids: vec![ids[0].clone()]
        }
    );
    let survivor = h.sim.person(Harness::number(&ids[1])).expect("survivor");
    let emails: Vec<&str> = survivor["emails"]
        .as_array()
        .expect("emails")
        .iter()
        .filter_map(|e| e["value"].as_str())
        .collect();
    assert_eq!(emails, ["seeded.1@example.com", "seeded.0@example.com"]);
    let read = h
        .connector
        .read(&ids, &[NAME.to_owned()])
        .await
        .expect("read");
    assert!(read[0].is_none() && read[1].is_some(), "{read:?}");
}

#[tokio::test]
async fn persons_deleted_in_the_app_are_in_the_archived_listing_once() {
    let h = Harness::start().await;
    let ids = h.seed(3).await;
    h.sim
        .app_delete(Harness::number(&ids[1]))
        .expect("a delete");
    h.edit(&ids[0], &[(NAME, "Still here")]).await;
    let archived: Vec<Vec<tte_sync_core::record::CrmRecord>> = h
        .connector
        .list(ListQuery {
            properties: Vec::new(),
            archived: true,
        })
        .try_collect()
        .await
        .expect("the archived listing");
    let listed: Vec<&CrmId> = archived.iter().flatten().map(|r| &r.id).collect();
    assert_eq!(listed, vec![&ids[1]]);
    assert!(archived.iter().flatten().all(|r| r.archived));

    h.sim.advance_clock(Duration::from_secs(31 * 24 * 3600));
    assert!(
        h.sim.person(Harness::number(&ids[1])).is_none(),
        "erased after 30 days"
    );
    let archived: Vec<Vec<tte_sync_core::record::CrmRecord>> = h
        .connector
        .list(ListQuery {
            properties: Vec::new(),
            archived: true,
        })
        .try_collect()
        .await
        .expect("the archived listing");
    assert!(archived.iter().flatten().next().is_none(), "{archived:?}");
}

#[tokio::test]
async fn the_admin_api_plays_the_app_over_http() {
    let h = Harness::start().await;
    let http = reqwest::Client::new();
    let admin = |path: &str| format!("{}/_sim/{path}", h.sim.base_url());
    let seeded: serde_json::Value = http
        .post(admin("seed"))
        .json(&json!({"seed": 11, "count": 2}))
        .send()
        .await
        .expect("seed")
        .json()
        .await
        .expect("ids");
    assert_eq!(seeded["ids"], json!([1, 2]));
    let created = http
        .post(admin("persons"))
        .json(&json!({"name": "Grace Hopper", "phones": ["+1 555 0100"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let edited: serde_json::Value = http
        .patch(admin("persons/3"))
        .json(&json!({"name": "Grace B. Hopper"}))
        .send()
        .await
        .expect("edit")
        .json()
        .await
        .expect("the person");
    assert_eq!(edited["name"], "Grace B. Hopper");
    assert_eq!(edited["first_name"], "Grace");
    let merged = http
        .post(admin("merge"))
        .json(&json!({"id": 1, "merge_with_id": 2}))
        .send()
        .await
        .expect("merge");
    assert_eq!(merged.status(), 204);
    let gone: serde_json::Value = http
        .get(admin("persons/1"))
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("the person");
    assert_eq!(gone["is_deleted"], true);
    let faults = http
        .put(admin("faults"))
        .json(&json!({"fail_next": 1, "status": 502}))
        .send()
        .await
        .expect("faults");
    assert_eq!(faults.status(), 204);
    let failed = http
        .get(format!("{}/api/v2/persons", h.sim.base_url()))
        .header("x-api-token", &h.sim.config().api_token)
        .send()
        .await
        .expect("answer");
    assert_eq!(failed.status(), 502);
    let stats: serde_json::Value = http
        .get(admin("stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("counts");
    assert_eq!(stats["requests"]["GET /api/v2/persons"], 1);
}

#[tokio::test]
async fn the_health_check_costs_one_call_and_learns_whose_writes_are_echoes() {
    let h = Harness::start().await;
    h.connector.check().await.expect("healthy");
    assert_eq!(h.count(&["GET /v1/users/me"]), 1);
    let receiver = h.connector.webhooks().expect("webhooks taken");
    let event = tte_sync_core::connector::ChangeEvent {
        object_id: CrmId::from("1"),
        kind: ChangeKind::PropertyChanged,
        property: None,
        value: None,
        occurred_at: Utc::now(),
        change_source: Some("api".to_owned()),
        source_id: Some(h.sim.config().user_id.to_string()),
        account: None,
        event_id: None,
    };
    assert!(receiver.is_own_echo(&event));
}

#[tokio::test]
async fn find_keeps_exact_matches_of_a_search_that_ignores_case() {
    let h = Harness::start().await;
    h.prepare().await;
    let ids = h.seed(2).await;
    let uri = "https://10to8.example/api/customer/7/";
    h.edit(&ids[0], &[(KEY, uri)]).await;
    h.edit(&ids[1], &[(KEY, &uri.to_uppercase())]).await;
    h.sim.reset_stats();
    let found = h
        .connector
        .find(KEY, &[uri.to_owned()], &[NAME.to_owned()])
        .await
        .expect("find");
    assert_eq!(
        found.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&ids[0]]
    );
    assert_eq!(found[0].property(KEY), uri);
    assert_eq!(
        h.count(&["GET /api/v2/persons/search"]),
        1,
        "one search, no listing"
    );
    assert_eq!(h.count(&["GET /api/v2/persons"]), 0);
}

#[tokio::test]
async fn find_by_email_searches_the_email_field_and_ignores_case() {
    let h = Harness::start().await;
    h.prepare().await;
    let ids = h.seed(3).await;
    h.edit(&ids[1], &[(EMAILS, "Grace.Hopper@Example.com")])
        .await;
    h.sim.reset_stats();
    let wanted = [
        "grace.hopper@example.com".to_owned(),
        "nobody@example.com".to_owned(),
    ];
    let found = h
        .connector
        .find(EMAILS, &wanted, &[NAME.to_owned()])
        .await
        .expect("find");
    assert_eq!(
        found.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&ids[1]]
    );
    assert_eq!(
        h.count(&["GET /api/v2/persons/search"]),
        2,
        "one search per email, no listing"
    );
    assert_eq!(h.count(&["GET /api/v2/persons"]), 0);
}
