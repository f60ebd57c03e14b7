//! Webhooks v3 for the simulated app: the management API (settings and subscriptions, with the
//! developer API key) and the delivery worker.
//!
//! Delivery follows the reference: JSON arrays of at most 100 events, one event per changed
//! subscribed property, signed with v1 (`X-HubSpot-Signature`) and v3
//! (`X-HubSpot-Signature-v3` over method, URI, body and a per-attempt timestamp), at most
//! `maxConcurrentRequests` in flight, and retried with doubling delays on a timeout,
//! connection failure or any 4xx/5xx, up to [`WebhookTiming::max_attempts`] attempts with
//! `attemptNumber` counting up from 0.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc};

use super::errors::{ApiError, json_response};
use super::state::{Change, ChangeKind, iso};
use super::stats::Counters;
use super::{Sim, SimState, WebhookTiming};

/// Header: v1 signature (hex SHA-256 of secret + body).
pub const SIGNATURE: &str = "x-hubspot-signature";
/// Header: the version of [`SIGNATURE`].
pub const SIGNATURE_VERSION: &str = "x-hubspot-signature-version";
/// Header: v3 signature (base64 HMAC-SHA256).
pub const SIGNATURE_V3: &str = "x-hubspot-signature-v3";
/// Header: epoch milliseconds of the attempt, signed by v3.
pub const REQUEST_TIMESTAMP: &str = "x-hubspot-request-timestamp";
/// Most events in one delivery.
pub const MAX_EVENTS_PER_REQUEST: usize = 100;
/// Most subscriptions per app.
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// The user agent HubSpot's deliveries carry.
const USER_AGENT: &str = "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) - WebhooksExecutorDaemon-executor";
/// Contact event types that can be subscribed.
const EVENT_TYPES: &[&str] = &[
    "contact.creation",
    "contact.deletion",
    "contact.propertyChange",
    "contact.merge",
    "contact.restore",
    "contact.privacyDeletion",
    "contact.associationChange",
];
/// Properties HubSpot does not let apps subscribe to.
const NOT_SUBSCRIBABLE: &[&str] = &["num_unique_conversion_events", "hs_lastmodifieddate"];
/// `maxConcurrentRequests` must be greater than this.
const MIN_CONCURRENCY_EXCLUSIVE: u32 = 5;
const DEFAULT_CONCURRENCY: u32 = 10;

/// The v3 URI rule: decode exactly these escapes (upper or lower case hex), nothing else.
const V3_DECODED: &[(&str, &str)] = &[
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// The URI as v3 signs it: the listed escapes decoded, every other byte unchanged.
pub fn v3_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let escape = rest.get(pos..pos + 3).unwrap_or(&rest[pos..]);
        match V3_DECODED
            .iter()
            .find(|(enc, _)| enc.eq_ignore_ascii_case(escape))
        {
            Some((_, plain)) => {
                out.push_str(plain);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The v1 signature: hex SHA-256 of `secret + body`.
pub fn sign_v1(secret: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(secret.as_bytes());
    hash.update(body);
    hex::encode(hash.finalize())
}

/// The v3 signature: base64 HMAC-SHA256 keyed by `secret` over
/// `method + v3_uri(uri) + body + timestamp`.
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(method.as_bytes());
    mac.update(v3_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The app's webhook settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Where events go.
    pub target_url: String,
    /// Concurrency.
    pub throttling: Throttling,
    /// Creation time (ISO).
    pub created_at: String,
    /// Update time (ISO).
    pub updated_at: String,
}

/// Delivery concurrency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Most deliveries in flight.
    pub max_concurrent_requests: u32,
    /// `SECONDLY` or `ROLLING_MINUTE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Id (a string in responses).
    #[serde(serialize_with = "as_string")]
    pub id: u64,
    /// e.g. `contact.propertyChange`.
    pub event_type: String,
    /// For property changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    /// Whether events are sent.
    pub active: bool,
    /// Creation time (ISO).
    pub created_at: String,
    /// Update time (ISO).
    pub updated_at: String,
}

fn as_string<S: serde::Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

/// Settings, subscriptions and the queue to the delivery worker.
#[derive(Debug)]
pub struct Webhooks {
    settings: Mutex<Option<Settings>>,
    subscriptions: Mutex<BTreeMap<u64, Subscription>>,
    next_subscription: AtomicU64,
    next_event: AtomicU64,
    in_flight: Mutex<Arc<Semaphore>>,
    queue: mpsc::UnboundedSender<Change>,
}

impl Webhooks {
    /// Empty settings; returns the receiving end of the queue for [`run_worker`].
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Change>) {
        let (queue, receiver) = mpsc::unbounded_channel();
        (
            Self {
                settings: Mutex::new(None),
                subscriptions: Mutex::new(BTreeMap::new()),
                next_subscription: AtomicU64::new(1),
                next_event: AtomicU64::new(1),
                in_flight: Mutex::new(Arc::new(Semaphore::new(DEFAULT_CONCURRENCY as usize))),
                queue,
            },
            receiver,
        )
    }

    /// Replaces the target and subscriptions with a project app's declarations (ids are
    /// assigned here).
    pub fn replace_declared(
        &self,
        target_url: String,
        throttling: Throttling,
        declared: Vec<Subscription>,
        now: &str,
    ) {
        *self.in_flight.lock().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Semaphore::new(throttling.max_concurrent_requests as usize));
        let mut settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let created_at = settings
            .as_ref()
            .map_or(now.to_owned(), |s| s.created_at.clone());
        *settings = Some(Settings {
            target_url,
            throttling,
            created_at,
            updated_at: now.to_owned(),
        });
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        subscriptions.clear();
        for mut subscription in declared {
            subscription.id = self.next_subscription.fetch_add(1, Ordering::Relaxed);
            subscriptions.insert(subscription.id, subscription);
        }
    }

    /// Queues changes for delivery.
    pub fn publish(&self, changes: Vec<Change>) {
        for change in changes {
            let _ = self.queue.send(change);
        }
    }

    fn settings(&self) -> Option<Settings> {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn semaphore(&self) -> Arc<Semaphore> {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The events `changes` produce under the active subscriptions.
    fn events(&self, changes: &[Change], portal_id: u64, app_id: u64) -> Vec<Value> {
        let subscriptions = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let mut events = Vec::new();
        for change in changes {
            let (event_type, property) = match &change.kind {
                ChangeKind::Creation => ("contact.creation", None),
                ChangeKind::Deletion => ("contact.deletion", None),
                ChangeKind::Restore => ("contact.restore", None),
                ChangeKind::PrivacyDeletion => ("contact.privacyDeletion", None),
                ChangeKind::Merge { .. } => ("contact.merge", None),
                ChangeKind::PropertyChange { name, .. } => {
                    ("contact.propertyChange", Some(name.as_str()))
                }
            };
            for subscription in subscriptions.values().filter(|s| {
                s.active && s.event_type == event_type && s.property_name.as_deref() == property
            }) {
                let mut event = json!({
                    "eventId": self.next_event.fetch_add(1, Ordering::Relaxed),
                    "subscriptionId": subscription.id,
                    "portalId": portal_id,
                    "appId": app_id,
                    "occurredAt": change.occurred_at,
                    "subscriptionType": event_type,
                    "attemptNumber": 0,
                    "objectId": change.object_id,
                    "changeSource": change.origin.change_source,
                });
                if let Some(source_id) = &change.origin.source_id {
                    event["sourceId"] = json!(source_id);
                }
                match &change.kind {
                    ChangeKind::Creation => event["changeFlag"] = json!("NEW"),
                    ChangeKind::Deletion => event["changeFlag"] = json!("DELETED"),
                    ChangeKind::PropertyChange { name, value } => {
                        event["propertyName"] = json!(name);
                        event["propertyValue"] = json!(value);
                    }
                    ChangeKind::Merge {
                        primary,
                        merged,
                        moved,
                    } => {
                        event["primaryObjectId"] = json!(primary);
                        event["mergedObjectIds"] = json!(merged);
                        event["newObjectId"] = json!(primary);
                        event["numberOfPropertiesMoved"] = json!(moved);
                    }
                    _ => {}
                }
                events.push(event);
            }
        }
        events
    }
}

/// The delivery worker: gathers queued changes into batches and delivers them until the
/// simulator is dropped.
pub async fn run_worker(sim: Weak<Sim>, mut queue: mpsc::UnboundedReceiver<Change>) {
    let client = reqwest::Client::new();
    while let Some(first) = queue.recv().await {
        let mut changes = vec![first];
        while let Ok(more) = queue.try_recv() {
            changes.push(more);
        }
        let Some(strong) = sim.upgrade() else { break };
        let events =
            strong
                .webhooks
                .events(&changes, strong.config.portal_id, strong.config.app_id);
        if events.is_empty() || strong.webhooks.settings().is_none() {
            continue;
        }
        for batch in events.chunks(MAX_EVENTS_PER_REQUEST) {
            let faults = strong.faults();
            if faults.webhook_drop_percent > 0 && strong.chance(faults.webhook_drop_percent) {
                Counters::bump(&strong.counters.batches_dropped);
                continue;
            }
            let copies = if faults.webhook_duplicate_percent > 0
                && strong.chance(faults.webhook_duplicate_percent)
            {
                Counters::bump(&strong.counters.batches_duplicated);
                2
            } else {
                1
            };
            for _ in 0..copies {
                tokio::spawn(deliver(sim.clone(), client.clone(), batch.to_vec()));
            }
        }
    }
}

/// Delivers one batch, retrying as HubSpot does.
async fn deliver(sim: Weak<Sim>, client: reqwest::Client, mut events: Vec<Value>) {
    let mut attempt: u32 = 0;
    loop {
        let Some(strong) = sim.upgrade() else { return };
        let Some(settings) = strong.webhooks.settings() else {
            return;
        };
        let timing: WebhookTiming = strong.config.webhooks;
        let semaphore = strong.webhooks.semaphore();
        drop(strong);
        let Ok(permit) = semaphore.acquire_owned().await else {
            return;
        };
        let Some(strong) = sim.upgrade() else { return };
        for event in &mut events {
            event["attemptNumber"] = json!(attempt);
        }
        let body = serde_json::to_vec(&events).unwrap_or_default();
        let timestamp = strong.now_ms().to_string();
        let secret = strong.config.client_secret.clone();
        drop(strong);
        let result = client
            .post(&settings.target_url)
            .header("content-type", "application/json")
            .header("user-agent", USER_AGENT)
            .header(SIGNATURE, sign_v1(&secret, &body))
            .header(SIGNATURE_VERSION, "v1")
            .header(
                SIGNATURE_V3,
                sign_v3(&secret, "POST", &settings.target_url, &body, &timestamp),
            )
            .header(REQUEST_TIMESTAMP, &timestamp)
            .timeout(timing.timeout)
            .body(body)
            .send()
            .await;
        drop(permit);
        let Some(strong) = sim.upgrade() else { return };
        let delivered = result.is_ok_and(|r| r.status().is_success());
        if delivered {
            Counters::bump(&strong.counters.batches_delivered);
            Counters::add(&strong.counters.events_delivered, events.len() as u64);
            return;
        }
        Counters::bump(&strong.counters.attempts_failed);
        attempt += 1;
        if attempt >= timing.max_attempts {
            tracing::debug!(
                events = events.len(),
                attempts = attempt,
                "Webhook batch abandoned."
            );
            Counters::bump(&strong.counters.batches_abandoned);
            return;
        }
        drop(strong);
        let delay = timing.retry_base.saturating_mul(1 << (attempt - 1).min(16));
        tokio::time::sleep(delay).await;
    }
}

fn check_app(sim: &Sim, app_id: u64) -> Result<(), ApiError> {
    if app_id == sim.config.app_id {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("App {app_id} not found for this developer account"),
        ))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

fn subscription_not_found(id: u64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "SUBSCRIPTION_ID_NOT_FOUND",
        format!("Subscription {id} not found"),
    )
}

/// `GET /webhooks/v3/{appId}/settings`.
pub async fn get_settings(
    State(sim): State<SimState>,
    Path(app_id): Path<u64>,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    let settings = sim.webhooks.settings().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("No webhook settings for app {app_id}"),
        )
    })?;
    Ok(json_response(StatusCode::OK, &json!(settings)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsInput {
    target_url: Option<String>,
    throttling: Option<Throttling>,
}

/// `PUT /webhooks/v3/{appId}/settings`.
pub async fn put_settings(
    State(sim): State<SimState>,
    Path(app_id): Path<u64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    let input: SettingsInput = parse(&body)?;
    let target_url = input
        .target_url
        .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
        .ok_or_else(|| ApiError::validation("targetUrl must be an absolute http(s) URL"))?;
    let throttling = input.throttling.unwrap_or(Throttling {
        max_concurrent_requests: DEFAULT_CONCURRENCY,
        period: Some("SECONDLY".into()),
    });
    if throttling.max_concurrent_requests <= MIN_CONCURRENCY_EXCLUSIVE {
        return Err(ApiError::validation(format!(
            "maxConcurrentRequests must be a number greater than {MIN_CONCURRENCY_EXCLUSIVE}"
        )));
    }
    if let Some(period) = throttling.period.as_deref() {
        if !matches!(period, "SECONDLY" | "ROLLING_MINUTE") {
            return Err(ApiError::validation(
                "period must be SECONDLY or ROLLING_MINUTE",
            ));
        }
    }
    let now = iso(sim.now_ms());
    let mut guard = sim
        .webhooks
        .settings
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let created_at = guard.as_ref().map_or(now.clone(), |s| s.created_at.clone());
    *sim.webhooks
        .in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner()) =
        Arc::new(Semaphore::new(throttling.max_concurrent_requests as usize));
    let settings = Settings {
        target_url,
        throttling,
        created_at,
        updated_at: now,
    };
    *guard = Some(settings.clone());
    Ok(json_response(StatusCode::OK, &json!(settings)))
}

/// `DELETE /webhooks/v3/{appId}/settings`: 204.
pub async fn delete_settings(
    State(sim): State<SimState>,
    Path(app_id): Path<u64>,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    *sim.webhooks
        .settings
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = None;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /webhooks/v3/{appId}/subscriptions`.
pub async fn list_subscriptions(
    State(sim): State<SimState>,
    Path(app_id): Path<u64>,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    let subscriptions = sim
        .webhooks
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let results: Vec<&Subscription> = subscriptions.values().collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "results": results }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionInput {
    event_type: String,
    #[serde(default)]
    property_name: Option<String>,
    #[serde(default)]
    active: bool,
}

/// `POST /webhooks/v3/{appId}/subscriptions`: 201; `active` defaults to false.
pub async fn create_subscription(
    State(sim): State<SimState>,
    Path(app_id): Path<u64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    let input: SubscriptionInput = parse(&body)?;
    if !EVENT_TYPES.contains(&input.event_type.as_str()) {
        return Err(ApiError::validation(format!(
            "Unknown eventType {}; this simulator knows {}",
            input.event_type,
            EVENT_TYPES.join(", ")
        )));
    }
    let property_name = if input.event_type == "contact.propertyChange" {
        let name = input
            .property_name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ApiError::validation("propertyName is required for contact.propertyChange")
            })?;
        if NOT_SUBSCRIBABLE.contains(&name.as_str()) {
            return Err(ApiError::validation(format!(
                "Property {name} cannot be subscribed to"
            )));
        }
        let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
        if store.properties.get(&name).is_none_or(|p| p.archived) {
            return Err(ApiError::validation(format!(
                "Property {name} does not exist on contacts"
            )));
        }
        Some(name)
    } else {
        None
    };
    let mut subscriptions = sim
        .webhooks
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if subscriptions.len() >= MAX_SUBSCRIPTIONS {
        return Err(ApiError::validation(format!(
            "Couldn't create another subscription. You've reached the maximum number allowed per application ({MAX_SUBSCRIPTIONS})."
        )));
    }
    let now = iso(sim.now_ms());
    let id = sim
        .webhooks
        .next_subscription
        .fetch_add(1, Ordering::Relaxed);
    let subscription = Subscription {
        id,
        event_type: input.event_type,
        property_name,
        active: input.active,
        created_at: now.clone(),
        updated_at: now,
    };
    subscriptions.insert(id, subscription.clone());
    Ok(json_response(StatusCode::CREATED, &json!(subscription)))
}

/// `GET /webhooks/v3/{appId}/subscriptions/{id}`.
pub async fn get_subscription(
    State(sim): State<SimState>,
    Path((app_id, id)): Path<(u64, u64)>,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    let subscriptions = sim
        .webhooks
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let subscription = subscriptions
        .get(&id)
        .ok_or_else(|| subscription_not_found(id))?;
    Ok(json_response(StatusCode::OK, &json!(subscription)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActiveInput {
    #[serde(default)]
    id: Option<Value>,
    active: bool,
}

fn set_active(sim: &Sim, id: u64, active: bool) -> Result<Subscription, ApiError> {
    let now = iso(sim.now_ms());
    let mut subscriptions = sim
        .webhooks
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let subscription = subscriptions
        .get_mut(&id)
        .ok_or_else(|| subscription_not_found(id))?;
    subscription.active = active;
    subscription.updated_at = now;
    Ok(subscription.clone())
}

/// `PATCH /webhooks/v3/{appId}/subscriptions/{id}` `{"active": bool}`.
pub async fn patch_subscription(
    State(sim): State<SimState>,
    Path((app_id, id)): Path<(u64, u64)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    let input: ActiveInput = parse(&body)?;
    let subscription = set_active(&sim, id, input.active)?;
    Ok(json_response(StatusCode::OK, &json!(subscription)))
}

/// `DELETE /webhooks/v3/{appId}/subscriptions/{id}`: 204.
pub async fn delete_subscription(
    State(sim): State<SimState>,
    Path((app_id, id)): Path<(u64, u64)>,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    sim.webhooks
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id)
        .ok_or_else(|| subscription_not_found(id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
struct BatchActive {
    inputs: Vec<ActiveInput>,
}

/// `POST /webhooks/v3/{appId}/subscriptions/batch/update`: 200, or 207 naming unknown ids.
pub async fn batch_update_subscriptions(
    State(sim): State<SimState>,
    Path(app_id): Path<u64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_app(&sim, app_id)?;
    let started = iso(sim.now_ms());
    let input: BatchActive = parse(&body)?;
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for item in input.inputs {
        let id = item
            .id
            .as_ref()
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0);
        match set_active(&sim, id, item.active) {
            Ok(subscription) => results.push(json!(subscription)),
            Err(_) => errors.push(json!({
                "status": "error",
                "category": "SUBSCRIPTION_ID_NOT_FOUND",
                "message": format!("Subscription {id} not found"),
                "context": { "ids": [id.to_string()] },
                "errors": [],
            })),
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": iso(sim.now_ms()),
    });
    if !errors.is_empty() {
        body["numErrors"] = json!(errors.len());
        body["errors"] = Value::Array(errors);
    }
    Ok(json_response(status, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_uri_decodes_exactly_the_documented_escapes() {
        assert_eq!(
            v3_uri("https://h.example/a%3Ab?x=%40%2f%20%26%3d%2C%2a%25"),
            "https://h.example/a:b?x=@/%20%26%3d,*%25"
        );
    }
}
