//! The Pipedrive connector against its simulator: the conformance kit, with only the checks
//! Pipedrive gives no ground for not applicable, and what the kit does not cover — setup run
//! twice, generated field keys, labels kept, merges, the rate budget's headers, echoes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::json;
use tte_sync_core::connector::{ConnectorContext, ConnectorFactory, CrmConnector, PropertySpec};
use tte_sync_core::record::CrmId;
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

struct Harness {
    sim: PipedriveSimulator,
    connector: PipedriveConnector,
    next: AtomicUsize,
}

impl Harness {
    async fn start() -> Self {
        Self::with(SimulatorConfig::default().unlimited()).await
    }

    async fn with(config: SimulatorConfig) -> Self {
        let sim = PipedriveSimulator::start(config, 0)
            .await
            .expect("simulator");
        let config: PipedriveConfig = serde_json::from_value(json!({
            "api_base_url": sim.base_url(),
            "api_token": sim.config().api_token,
            "webhook_user": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
            "page_size": PAGE_SIZE,
            "max_retries": 3,
        }))
        .expect("config");
        let context = ConnectorContext {
            tokens: Arc::new(MemoryTokenStore::default()),
        };
        let connector = PipedriveConnector::build(config, context).expect("connector");
        Self {
            sim,
            connector,
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
        // An API token does not expire; the connector supports no OAuth yet.
        false
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
async fn pipedrive_passes_the_conformance_kit() {
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
        "Pipedrive keeps no value unique, an API token never expires (OAuth is not supported), \
         and basic auth covers neither the URL nor a time: {report}"
    );
}
