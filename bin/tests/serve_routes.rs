//! Router tests with `oneshot`: the webhook bad-input matrix (nothing queued for any refused
//! request), coalescing of good events, the OAuth install against the HubSpot simulator (and
//! that the installed portal's webhooks still verify after a restart), the CRM health check,
//! and the shape of `/metrics`. Signatures are made here with an independent HMAC, not with
//! the connector's own code.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tower::ServiceExt;
use tte_sync_core::connector::{ConnectorContext, registry};
use tte_sync_core::engine::Engine;
use tte_sync_core::mapping::Mapping;
use tte_sync_core::store::{SQLITE_MEMORY, Store};
use tte_sync_core::tte::{TteClient, TteConfig};
use tte_sync_hubspot::simulator::{HubSpotSimulator, SimulatorConfig};
use url::Url;

use tte_sync_host::serve::webhooks::TTE_TOKEN_SETTING;
use tte_sync_host::serve::{AppState, Limits, Metrics, dashboard, oauth, router};

mod support;
use support::prometheus;

const SECRET: &str = "test-client-secret";
const PORTAL: u64 = 62_515;
const PUBLIC_URL: &str = "https://sync.example.com";
const TTE_BASE: &str = "https://tte.example.com";
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const MIB: usize = 1024 * 1024;

async fn state_with(hubspot: serde_json::Value, public_url: &str) -> Arc<AppState> {
    let store = Store::open(SQLITE_MEMORY).await.unwrap();
    state_over(store, hubspot, public_url)
}

/// The state of a server started over `store` (as after a restart, when it is not new).
fn state_over(store: Store, hubspot: serde_json::Value, public_url: &str) -> Arc<AppState> {
    let connector = registry::find("hubspot")
        .unwrap()
        .build(
            hubspot,
            ConnectorContext {
                tokens: Arc::new(store.clone()),
            },
        )
        .unwrap();
    Arc::new(AppState {
        store: store.clone(),
        connector: connector.clone(),
        public_url: public_url.parse().unwrap(),
        tte_customers_url: format!("{TTE_BASE}{}", tte_sync_core::tte::CUSTOMER_PATH),
        tte: None,
        configured_public_url: None,
        engine: Engine::new(
            store.clone(),
            TteClient::new(TteConfig::new(TTE_BASE, "test-key".into())).unwrap(),
            connector.clone(),
            Arc::new(
                Mapping::compile(
                    registry::find("hubspot").unwrap().default_mapping,
                    "hubspot.yaml",
                )
                .unwrap(),
            ),
        ),
        limits: Limits {
            max_body_bytes: MIB,
            request_timeout: Duration::from_secs(30),
        },
        metrics: Arc::new(Metrics::default()),
    })
}

async fn webhook_state() -> Arc<AppState> {
    let state = state_with(
        serde_json::json!({
            "api_base_url": "http://127.0.0.1:9",
            "private_app_token": "pat-test",
            "webhooks": { "client_secret": SECRET, "portal_ids": [PORTAL] }
        }),
        PUBLIC_URL,
    )
    .await;
    state
        .store
        .set_setting(TTE_TOKEN_SETTING, TOKEN, None)
        .await
        .unwrap();
    state
}

fn sign(secret: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"POST");
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn events(portal: u64, changes: &[(u64, &str)]) -> Vec<u8> {
    let events: Vec<_> = changes
        .iter()
        .enumerate()
        .map(|(i, (id, property))| {
            serde_json::json!({
                "eventId": i, "subscriptionId": 1, "portalId": portal, "appId": 54321,
                "occurredAt": now_ms(), "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0, "objectId": id, "propertyName": property,
                "propertyValue": "x", "changeSource": "CRM_UI", "sourceId": "userId:1"
            })
        })
        .collect();
    serde_json::to_vec(&events).unwrap()
}

/// A HubSpot webhook request: `signed_body` is what the signature covers, `body` what is sent.
fn hubspot_request(
    secret: Option<&str>,
    signed_uri: &str,
    signed_body: &[u8],
    body: Vec<u8>,
    timestamp_ms: i64,
) -> Request<Body> {
    let timestamp = timestamp_ms.to_string();
    let mut request = Request::post("/webhooks/hubspot")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-hubspot-request-timestamp", &timestamp);
    if let Some(secret) = secret {
        request = request.header(
            "x-hubspot-signature-v3",
            sign(secret, signed_uri, signed_body, &timestamp),
        );
    }
    request.body(Body::from(body)).unwrap()
}

fn good(body: Vec<u8>) -> Request<Body> {
    let uri = format!("{PUBLIC_URL}/webhooks/hubspot");
    hubspot_request(Some(SECRET), &uri, &body.clone(), body, now_ms())
}

async fn send(router: &Router, request: Request<Body>) -> StatusCode {
    router.clone().oneshot(request).await.unwrap().status()
}

async fn depth(state: &AppState) -> u64 {
    state.store.inbox_stats().await.unwrap().depth
}

#[tokio::test]
async fn bad_hubspot_webhooks_are_refused_and_queue_nothing() {
    let state = webhook_state().await;
    let router = router(state.clone());
    let uri = format!("{PUBLIC_URL}/webhooks/hubspot");
    let body = events(PORTAL, &[(101, "email")]);
    let minutes = |m: i64| m * 60 * 1000;
    let mut big = b"[".to_vec();
    big.resize(MIB + 1, b' ');
    let cases: Vec<(&str, Request<Body>, StatusCode)> = vec![
        (
            "unsigned",
            hubspot_request(None, &uri, &body, body.clone(), now_ms()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "stale (replayed 6 minutes later)",
            hubspot_request(
                Some(SECRET),
                &uri,
                &body,
                body.clone(),
                now_ms() - minutes(6),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "timestamp from the future",
            hubspot_request(
                Some(SECRET),
                &uri,
                &body,
                body.clone(),
                now_ms() + minutes(6),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "tampered body",
            hubspot_request(
                Some(SECRET),
                &uri,
                &body,
                events(PORTAL, &[(102, "email")]),
                now_ms(),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong secret",
            hubspot_request(Some("not-the-secret"), &uri, &body, body.clone(), now_ms()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "signed for another URL",
            hubspot_request(
                Some(SECRET),
                "https://elsewhere.example.com/webhooks/hubspot",
                &body,
                body.clone(),
                now_ms(),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown portal",
            good(events(999, &[(101, "email")])),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "malformed JSON",
            good(b"[{\"objectId\": 1,".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        ("oversized body", good(big), StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (name, request, expected) in cases {
        assert_eq!(send(&router, request).await, expected, "{name}");
        assert_eq!(depth(&state).await, 0, "{name} queued something");
    }
}

#[tokio::test]
async fn good_hubspot_events_are_queued_coalesced_per_object() {
    let state = webhook_state().await;
    let router = router(state.clone());
    let body = events(
        PORTAL,
        &[(101, "email"), (101, "firstname"), (102, "phone")],
    );
    assert_eq!(send(&router, good(body)).await, StatusCode::OK);
    assert_eq!(depth(&state).await, 2);
    let again = events(PORTAL, &[(101, "lastname")]);
    assert_eq!(send(&router, good(again)).await, StatusCode::OK);
    assert_eq!(
        depth(&state).await,
        2,
        "a second event for 101 merges into its item"
    );
    let items = state.store.inbox_items(10).await.unwrap();
    let first = items
        .iter()
        .find(|i| i.object.object_id == "101")
        .expect("101 queued");
    let properties: Vec<_> = first.change.properties.iter().map(String::as_str).collect();
    assert_eq!(properties, ["email", "firstname", "lastname"]);
}

fn tte_request(token: &str, body: &str) -> Request<Body> {
    Request::post(format!("/webhooks/tte/{token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn customer(id: u64) -> String {
    format!("{TTE_BASE}{}{id}/", tte_sync_core::tte::CUSTOMER_PATH)
}

#[tokio::test]
async fn tte_notifications_need_the_token_and_are_queued_per_customer() {
    let state = webhook_state().await;
    let router = router(state.clone());
    let body =
        serde_json::json!({"scope": "customer", "items": [customer(1), customer(1), customer(2)]})
            .to_string();
    let wrong = format!("{}0", &TOKEN[..63]);
    assert_eq!(
        send(&router, tte_request(&wrong, &body)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&router, tte_request("x", &body)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(depth(&state).await, 0);
    assert_eq!(
        send(&router, tte_request(TOKEN, "{\"items\": [")).await,
        StatusCode::BAD_REQUEST
    );
    let foreign = serde_json::json!({"scope": "customer", "items": [customer(1), "https://evil.example.com/api/enterprise/v2/customer/1/"]})
        .to_string();
    assert_eq!(
        send(&router, tte_request(TOKEN, &foreign)).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(depth(&state).await, 0);
    assert_eq!(
        send(&router, tte_request(TOKEN, "{\"scope\": \"customer\"}")).await,
        StatusCode::OK
    );
    assert_eq!(send(&router, tte_request(TOKEN, "")).await, StatusCode::OK);
    assert_eq!(depth(&state).await, 0);
    assert_eq!(
        send(&router, tte_request(TOKEN, &body)).await,
        StatusCode::OK
    );
    assert_eq!(depth(&state).await, 2);
}

#[tokio::test]
async fn tte_notifications_are_refused_before_setup_made_a_token() {
    let state = webhook_state().await;
    state.store.delete_setting(TTE_TOKEN_SETTING).await.unwrap();
    let router = router(state.clone());
    let body = serde_json::json!({"items": [customer(1)]}).to_string();
    assert_eq!(
        send(&router, tte_request(TOKEN, &body)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(depth(&state).await, 0);
}

#[tokio::test]
async fn probes_and_metrics_answer() {
    let state = webhook_state().await;
    let router = router(state.clone());
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(send(&router, get("/healthz")).await, StatusCode::OK);
    assert_eq!(send(&router, get("/readyz")).await, StatusCode::OK);
    let body = events(PORTAL, &[(7, "email")]);
    assert_eq!(send(&router, good(body)).await, StatusCode::OK);
    let response = router.clone().oneshot(get("/metrics")).await.unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), MIB)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("tte_sync_events_received_total{source=\"crm\"} 1"),
        "{text}"
    );
    assert!(text.contains("tte_sync_inbox_depth 1"), "{text}");
    let parsed = prometheus::parse(&text);
    assert_eq!(parsed.value("tte_sync_dead_letters", &[]), Some(0.0));
    assert_eq!(
        parsed.value("tte_sync_tte_pace_requests_per_second", &[]),
        Some(5.0),
        "the 10to8 client's default pace"
    );
    assert_eq!(
        parsed.value("tte_sync_echoes_suppressed_total", &[]),
        Some(0.0)
    );
    state.store.close().await;
    assert_eq!(
        send(&router, get("/readyz")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

fn location(response: &axum::response::Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Starts the install and lets the simulator approve it; returns the callback path and query
/// the installer's browser is sent back to.
async fn approved_callback(router: &Router, sim: &HubSpotSimulator, public_url: &str) -> String {
    let start = router
        .clone()
        .oneshot(
            Request::get("/hubspot/install/start")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(start.status().is_redirection(), "{}", start.status());
    let authorize = location(&start);
    assert!(authorize.starts_with(&sim.base_url()), "{authorize}");
    // The simulator approves at once and redirects back, as HubSpot does after the click.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let approved = http.get(&authorize).send().await.unwrap();
    assert!(approved.status().is_redirection(), "{}", approved.status());
    let callback: Url = approved.headers()["location"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        callback
            .as_str()
            .starts_with(&format!("{public_url}/hubspot/install/callback?"))
    );
    format!("{}?{}", callback.path(), callback.query().unwrap())
}

#[tokio::test]
async fn oauth_install_against_the_simulator() {
    let sim = HubSpotSimulator::start(SimulatorConfig::default(), 0)
        .await
        .unwrap();
    let config = sim.config().clone();
    let public_url = "http://localhost:8080";
    let state = state_with(
        serde_json::json!({
            "api_base_url": sim.base_url(),
            "oauth": {
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "authorize_base_url": sim.base_url(),
            }
        }),
        public_url,
    )
    .await;
    let router = router(state.clone());
    let path = approved_callback(&router, &sim, public_url).await;

    // A wrong state is refused, and does not use up the real one.
    let forged = path.replace("state=", "state=forged");
    let refused = router
        .clone()
        .oneshot(Request::get(&forged).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(state.store.token("hubspot", None).await.unwrap().is_none());

    let done = router
        .clone()
        .oneshot(Request::get(&path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let page = axum::body::to_bytes(done.into_body(), MIB).await.unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains(&config.portal_id.to_string()), "{page}");
    let token = state.store.token("hubspot", None).await.unwrap().unwrap();
    assert_eq!(token.account, config.portal_id.to_string());

    // The state is spent: the same callback again is refused with what to do.
    let replayed = router
        .clone()
        .oneshot(Request::get(&path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    let page = axum::body::to_bytes(replayed.into_body(), MIB)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&page).contains("/hubspot/install/start"));
    sim.shutdown().await;
}

fn oauth_config(sim: &HubSpotSimulator) -> serde_json::Value {
    let config = sim.config();
    serde_json::json!({
        "api_base_url": sim.base_url(),
        "oauth": {
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "authorize_base_url": sim.base_url(),
        }
    })
}

#[tokio::test]
async fn an_installed_portal_is_known_after_a_restart() {
    let sim = HubSpotSimulator::start(SimulatorConfig::default(), 0)
        .await
        .unwrap();
    let secret = sim.config().client_secret.clone();
    let portal = sim.config().portal_id;
    let public_url = "http://localhost:8080";
    let store = Store::open(SQLITE_MEMORY).await.unwrap();
    let before = router(state_over(store.clone(), oauth_config(&sim), public_url));
    let path = approved_callback(&before, &sim, public_url).await;
    assert_eq!(
        send(&before, Request::get(&path).body(Body::empty()).unwrap()).await,
        StatusCode::OK
    );

    let signed = |portal: u64| {
        let body = events(portal, &[(101, "email")]);
        let uri = format!("{public_url}/webhooks/hubspot");
        hubspot_request(Some(secret.as_str()), &uri, &body.clone(), body, now_ms())
    };
    // The restarted server only has the store: a new connector knows no portal until it asks.
    let cold = state_over(store.clone(), oauth_config(&sim), public_url);
    let receiver = cold.connector.webhooks().unwrap();
    assert!(
        matches!(
            receiver.parse(&events(portal, &[(101, "email")])),
            Err(tte_sync_core::connector::WebhookError::UnknownAccount(_))
        ),
        "the new connector starts without the portal"
    );
    let restarted = router(cold.clone());
    assert_eq!(
        send(&restarted, signed(portal)).await,
        StatusCode::OK,
        "the installed portal is looked up"
    );
    assert_eq!(depth(&cold).await, 1);
    assert_eq!(
        send(&restarted, signed(999)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        depth(&cold).await,
        1,
        "nothing queued for an unknown portal"
    );

    // At startup the server loads the installed portals before any webhook arrives.
    let started = state_over(store.clone(), oauth_config(&sim), public_url);
    assert_eq!(oauth::load_installed(&started).await, [portal.to_string()]);
    let receiver = started.connector.webhooks().unwrap();
    assert!(receiver.parse(&events(portal, &[(102, "email")])).is_ok());
    assert_eq!(
        send(&router(started.clone()), signed(999)).await,
        StatusCode::UNAUTHORIZED
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_crm_health_check_reports_reachable_refused_and_unreachable() {
    let sim = HubSpotSimulator::start(SimulatorConfig::default(), 0)
        .await
        .unwrap();
    let token = sim.config().private_app_tokens[0].clone();
    let check = |config: serde_json::Value| async move {
        let state = state_with(config, PUBLIC_URL).await;
        let status = state.status().await.unwrap();
        (status.health.crm.ok, status.health.crm.detail)
    };
    let (ok, detail) = check(serde_json::json!({
        "api_base_url": sim.base_url(), "private_app_token": token
    }))
    .await;
    assert!(ok, "{detail}");
    assert!(
        detail.starts_with("reachable; uses the configured static token"),
        "{detail}"
    );

    let (ok, detail) = check(serde_json::json!({
        "api_base_url": sim.base_url(), "private_app_token": "pat-not-a-real-token"
    }))
    .await;
    assert!(!ok, "{detail}");
    assert!(
        detail.starts_with("reachable, but refused our credentials"),
        "{detail}"
    );

    let (ok, detail) = check(serde_json::json!({
        "api_base_url": "http://127.0.0.1:9", "private_app_token": token
    }))
    .await;
    assert!(!ok, "{detail}");
    assert!(
        detail.starts_with("unreachable: cannot reach hubspot"),
        "{detail}"
    );

    let (ok, detail) = check(oauth_config(&sim)).await;
    assert!(!ok, "{detail}");
    assert_eq!(detail, "not installed yet: open /hubspot/install/start");

    let page = dashboard::render(
        &state_with(
            serde_json::json!({
                "api_base_url": "http://127.0.0.1:9", "private_app_token": token
            }),
            PUBLIC_URL,
        )
        .await
        .status()
        .await
        .unwrap(),
    );
    assert!(page.contains("unreachable: cannot reach hubspot"), "{page}");
    sim.shutdown().await;
}

#[test]
fn metrics_render_a_valid_exposition_of_writes_lags_and_api_calls() {
    use tte_sync_core::engine::{Counts, LiveSummary, Summary};
    let metrics = Metrics::default();
    metrics.record_sync(&Summary {
        to_crm: Counts {
            created: 3,
            linked: 2,
            ..Counts::default()
        },
        to_hub: Counts {
            created: 1,
            updated: 4,
            failed: 1,
            ..Counts::default()
        },
        ..Summary::default()
    });
    metrics.record_live(&LiveSummary {
        processed: 4,
        sync: Summary {
            to_crm: Counts {
                updated: 2,
                conflicts: 1,
                ..Counts::default()
            },
            to_hub: Counts {
                deleted: 1,
                ..Counts::default()
            },
            ..Summary::default()
        },
        lags: [50, 100, 700, 400_000]
            .into_iter()
            .map(Duration::from_millis)
            .collect(),
        ..LiveSummary::default()
    });
    let calls = tte_sync_core::http::stats::service("metrics-render-test");
    calls.answered(StatusCode::OK);
    calls.answered(StatusCode::TOO_MANY_REQUESTS);
    calls.unanswered();
    calls.waited(Duration::from_millis(250));
    let text = metrics.render("");
    let parsed = prometheus::parse(&text);
    let written = |direction: &str, action: &str| {
        parsed
            .value(
                "tte_sync_records_written_total",
                &[("direction", direction), ("action", action)],
            )
            .unwrap()
    };
    assert_eq!(written("to_crm", "created"), 3.0);
    assert_eq!(written("to_crm", "linked"), 2.0);
    assert_eq!(written("to_crm", "updated"), 2.0);
    assert_eq!(written("to_crm", "conflict"), 1.0);
    assert_eq!(written("to_crm", "deleted"), 0.0);
    assert_eq!(written("to_hub", "updated"), 4.0);
    assert_eq!(written("to_hub", "failed"), 1.0);
    assert_eq!(written("to_hub", "deleted"), 1.0);
    let bucket = |le: &str| {
        parsed
            .value("tte_sync_event_lag_seconds_bucket", &[("le", le)])
            .unwrap()
    };
    // 0.05 s and 0.1 s fall in the first bucket (bounds are inclusive), 0.7 s under 1 s, and
    // 400 s only under +Inf.
    assert_eq!(bucket("0.1"), 2.0);
    assert_eq!(bucket("0.5"), 2.0);
    assert_eq!(bucket("1"), 3.0);
    assert_eq!(bucket("300"), 3.0);
    assert_eq!(bucket("+Inf"), 4.0);
    let sum = parsed.value("tte_sync_event_lag_seconds_sum", &[]).unwrap();
    assert!((sum - 400.85).abs() < 1e-6, "{sum}");
    let api = |status: &str| {
        parsed
            .value(
                "tte_sync_api_calls_total",
                &[("service", "metrics-render-test"), ("status", status)],
            )
            .unwrap()
    };
    assert_eq!(api("200"), 1.0);
    assert_eq!(api("429"), 1.0);
    assert_eq!(api("error"), 1.0);
    assert_eq!(
        parsed.value(
            "tte_sync_rate_limit_waits_total",
            &[("service", "metrics-render-test")]
        ),
        Some(1.0)
    );
    assert_eq!(
        parsed.value(
            "tte_sync_rate_limit_wait_seconds_total",
            &[("service", "metrics-render-test")]
        ),
        Some(0.25)
    );
}
