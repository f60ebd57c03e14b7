//! Contact Book against the conformance kit, over loopback HTTP to its simulator: a CRM with
//! one-request writes, no native upsert, no unique email, credentials that never expire and
//! webhooks signed over the body alone passes every check that applies to it, and the kit
//! says which do not apply and why.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use chrono::{DateTime, Utc};
use contact_book_connector::catalog::{EMAIL, EXTERNAL_REF, FIRST_NAME};
use contact_book_connector::simulator::{ContactBookSimulator, SimulatorConfig};
use contact_book_connector::webhook::{self, Delivery};
use contact_book_connector::{ContactBookConfig, ContactBookConnector};
use serde_json::json;
use tokio::sync::mpsc;
use tte_sync_core::CrmId;
use tte_sync_core::connector::{ConnectorContext, ConnectorFactory, CrmConnector};
use tte_sync_core::simulate::{ServedRouter, serve_on_loopback};
use tte_sync_core::testkit::{
    CallCounts, CapturedWebhook, ConformanceHarness, KitFields, KitLimits, MatchField,
    MemoryTokenStore, SignatureScheme, conformance,
};

const PAGE_SIZE: usize = 100;
const LIST_ROUTE: &str = "GET /v1/contacts";
const READ_ROUTE: &str = "GET /v1/contacts/{id}";
const WRITE_ROUTES: &[&str] = &[
    "POST /v1/contacts",
    "PATCH /v1/contacts/{id}",
    "DELETE /v1/contacts/{id}",
];

struct Harness {
    sim: ContactBookSimulator,
    connector: ContactBookConnector,
    http: reqwest::Client,
    next: AtomicUsize,
    capture: tokio::sync::OnceCell<Capture>,
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
) {
    let _ = tx.send(CapturedWebhook {
        method: "POST".to_owned(),
        uri: uri.to_string(),
        headers,
        body: body.to_vec(),
        sent_at: Utc::now(),
    });
}

impl Harness {
    async fn start() -> Self {
        let sim = ContactBookSimulator::start(SimulatorConfig::default(), 0)
            .await
            .expect("Contact Book simulator");
        let config: ContactBookConfig = serde_json::from_value(json!({
            "api_base_url": sim.base_url(),
            "api_key": sim.config().api_key,
            "webhook_secret": sim.config().webhook_secret,
            "page_size": PAGE_SIZE,
        }))
        .expect("config parses");
        let context = ConnectorContext {
            tokens: std::sync::Arc::new(MemoryTokenStore::default()),
        };
        let connector = ContactBookConnector::build(config, context).expect("connector builds");
        Self {
            sim,
            connector,
            http: reqwest::Client::new(),
            next: AtomicUsize::new(0),
            capture: tokio::sync::OnceCell::new(),
        }
    }

    /// A call to the simulator's admin API (the person using the app, the fault switch).
    async fn admin(&self, method: reqwest::Method, path: &str, body: serde_json::Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .expect("the admin API answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    /// Starts the capturing endpoint and points the account's webhook at it (once).
    async fn capture(&self) -> &Capture {
        self.capture
            .get_or_init(|| async {
                let (tx, rx) = mpsc::unbounded_channel();
                let router = Router::new()
                    .route("/webhooks/contact-book", post(capture))
                    .with_state(tx);
                let served = serve_on_loopback(router, 0).await.expect("binds");
                let callback =
                    url::Url::parse(&format!("{}/webhooks/contact-book", served.base_url()))
                        .expect("callback URL");
                self.connector
                    .setup()
                    .expect("setup capability")
                    .ensure_subscriptions(&callback, &[FIRST_NAME.to_owned()], false)
                    .await
                    .expect("the webhook is set");
                Capture {
                    served,
                    received: tokio::sync::Mutex::new(rx),
                }
            })
            .await
    }
}

#[async_trait]
impl ConformanceHarness for Harness {
    fn connector(&self) -> &dyn CrmConnector {
        &self.connector
    }

    fn fields(&self) -> KitFields {
        KitFields {
            text: FIRST_NAME.to_owned(),
            key: EXTERNAL_REF.to_owned(),
            matching: Some(MatchField {
                property: EMAIL.to_owned(),
                unique: false,
            }),
        }
    }

    fn limits(&self) -> KitLimits {
        let abilities = self.connector.write_abilities();
        KitLimits {
            page_size: PAGE_SIZE,
            read_batch: 1,
            write_batch: abilities.create_batch,
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
        // Contact Book's fields are fixed: there is nothing to create.
    }

    async fn seed(&self, count: usize) -> Vec<CrmId> {
        let start = self.next.fetch_add(count, Ordering::Relaxed);
        self.sim
            .seed(7, start as u64, count as u64)
            .into_iter()
            .map(|id| CrmId(id.to_string()))
            .collect()
    }

    async fn edit(&self, id: &CrmId, properties: &[(&str, &str)]) {
        let body: serde_json::Map<String, serde_json::Value> = properties
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect();
        self.admin(
            reqwest::Method::PATCH,
            &format!("/_sim/contacts/{id}"),
            body.into(),
        )
        .await;
    }

    async fn calls(&self) -> CallCounts {
        let stats = self.sim.stats();
        let on = |route: &str| stats.requests.get(route).copied().unwrap_or(0);
        CallCounts {
            list: on(LIST_ROUTE),
            batch_read: on(READ_ROUTE),
            batch_write: WRITE_ROUTES.iter().map(|r| on(r)).sum(),
            search: 0,
            throttled: stats.rate_limited,
        }
    }

    async fn reset_calls(&self) {
        self.admin(reqwest::Method::POST, "/_sim/stats/reset", json!({}))
            .await;
    }

    async fn inject_rate_limits(&self, count: u32) {
        self.admin(
            reqwest::Method::POST,
            "/_sim/faults",
            json!({ "fail_next": count, "status": 429 }),
        )
        .await;
    }

    async fn expire_credentials(&self) -> bool {
        // An API key is valid until it is revoked.
        false
    }

    fn signature_scheme(&self) -> Option<SignatureScheme> {
        Some(SignatureScheme {
            covers_body: true,
            covers_url: false,
            replay_window: Some(Duration::from_secs(webhook::MAX_SKEW_SECS as u64)),
        })
    }

    fn sign_webhook(
        &self,
        _method: &str,
        _uri: &str,
        body: &[u8],
        _at: DateTime<Utc>,
    ) -> HeaderMap {
        let signature = webhook::sign(&self.sim.config().webhook_secret, body);
        let mut headers = HeaderMap::new();
        headers.insert(
            webhook::SIGNATURE_HEADER,
            signature.parse().expect("hex is a header value"),
        );
        headers
    }

    fn stamp_body(&self, body: &[u8], at: DateTime<Utc>) -> Vec<u8> {
        let mut delivery: Delivery = serde_json::from_slice(body).expect("a delivery");
        delivery.sent_at = at;
        serde_json::to_vec(&delivery).expect("serializes")
    }

    async fn capture_webhook(&self, id: &CrmId) -> CapturedWebhook {
        let capture = self.capture().await;
        self.edit(id, &[(FIRST_NAME, "Changed")]).await;
        let mut received = capture.received.lock().await;
        let mut webhook = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .expect("a webhook arrives")
            .expect("channel open");
        webhook.uri = format!("{}{}", capture.served.base_url(), webhook.uri);
        webhook
    }
}

#[tokio::test]
async fn contact_book_passes_the_conformance_kit() {
    let report = conformance::run(Harness::start).await;
    eprintln!("{report}");
    report.assert_no_failures();
    assert_eq!(
        report.not_applicable(),
        vec!["unique_conflict", "credential_expiry", "webhook_url_bound"],
        "Contact Book keeps no email unique, its API key never expires and its signature \
         covers the body only; every other check applies: {report}"
    );
}
