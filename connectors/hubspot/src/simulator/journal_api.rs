//! The Webhooks Journal's HTTP API (`/webhooks-journal/subscriptions/{version}` and
//! `/webhooks-journal/journal/{version}`, versions 2026-03 and 2026-09) and the pre-signed
//! files its answers point to.
//!
//! Only an app's client-credentials token is accepted (403 for a Service Key, a static or
//! legacy app token, or a portal's OAuth token); reads need the scope
//! `developer.webhooks_journal.read`, subscription reads `….subscriptions.read` (or write),
//! subscription changes `….subscriptions.write`. Journal calls are not rate limited.
//!
//! A read answers `{currentOffset, expiresAt, url}` (batches: a batch envelope of them), 204
//! when there is nothing (more) to read, 404 for an unknown offset or one older than the
//! retention window. `url` is signed and expires (`FILE_URL_LIFETIME_MS` on the simulated
//! clock); it is fetched without an Authorization header, as a pre-signed storage URL is
//! (one sent anyway is refused with 400, as storage services do).

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, body::Bytes};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::auth::{Caller, CallerKind, bearer, missing_scopes, refused_credential};
use super::errors::{ApiError, json_response};
use super::journal::{
    ACTIONS, CONTACT_TYPE_ID, Entry, GDPR_PRIVACY_DELETION, JournalSubscription, OBJECT,
    OffsetError,
};
use super::query::Query;
use super::state::iso;
use super::{Sim, SimState};

/// Route of the pre-signed journal files (not part of HubSpot's API: a storage URL).
pub const FILE_ROUTE: &str = "/_files/webhooks-journal/{offset}";
/// How long a file URL stays valid, in milliseconds (modelled).
pub const FILE_URL_LIFETIME_MS: i64 = 15 * 60 * 1000;
/// Most entries one batch read returns.
pub const MAX_BATCH_COUNT: u32 = 100;
const READ: &str = "developer.webhooks_journal.read";
const SUBSCRIPTIONS_READ: &str = "developer.webhooks_journal.subscriptions.read";
const SUBSCRIPTIONS_WRITE: &str = "developer.webhooks_journal.subscriptions.write";

/// Middleware of the journal routes: an app's client-credentials token, nothing else.
pub async fn guard(State(sim): State<SimState>, mut request: Request, next: Next) -> Response {
    let caller = match sim.authenticate(bearer(request.headers())) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if caller.kind != CallerKind::ClientCredentials {
        return refused_credential(
            caller.kind,
            "Webhooks Journal API",
            "a client credentials token of the app (grant_type=client_credentials)",
        )
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

fn require(caller: &Caller, scopes: &[&str]) -> Result<(), ApiError> {
    let granted = caller.scopes.as_deref().unwrap_or_default();
    if scopes.iter().any(|s| granted.iter().any(|g| g == s)) {
        Ok(())
    } else {
        Err(missing_scopes(scopes[0]))
    }
}

fn sign(sim: &Sim, offset: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(sim.journal.signing_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{offset}\n{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `JournalFetchResponse` for one entry.
fn fetch_response(sim: &Sim, entry: &Entry) -> Value {
    let offset = sim.journal.offset(entry.seq);
    let expires = sim.now_ms() + FILE_URL_LIFETIME_MS;
    let url = format!(
        "{}/_files/webhooks-journal/{offset}?expires={expires}&signature={}",
        sim.base_url(),
        sign(sim, &offset, expires)
    );
    json!({ "currentOffset": offset, "expiresAt": iso(expires), "url": url })
}

fn one(sim: &Sim, entries: &[Entry]) -> Response {
    match entries.first() {
        Some(entry) => json_response(StatusCode::OK, &fetch_response(sim, entry)),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

fn batch(sim: &Sim, entries: &[Entry], started: i64) -> Response {
    if entries.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let results: Vec<Value> = entries.iter().map(|e| fetch_response(sim, e)).collect();
    json_response(
        StatusCode::OK,
        &json!({
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso(started),
            "completedAt": iso(sim.now_ms()),
        }),
    )
}

fn offset_error(error: OffsetError, offset: &str) -> ApiError {
    let message = match error {
        OffsetError::Unknown => format!("Offset {offset} was not found in the journal"),
        OffsetError::Expired => format!(
            "Offset {offset} is older than the journal's retention window; start again from the earliest entry"
        ),
    };
    ApiError::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", message)
}

fn count(raw: &str) -> Result<usize, ApiError> {
    match raw.parse::<u32>() {
        Ok(n) if (1..=MAX_BATCH_COUNT).contains(&n) => Ok(n as usize),
        _ => Err(ApiError::validation(format!(
            "count must be an integer between 1 and {MAX_BATCH_COUNT}, got {raw}"
        ))),
    }
}

/// `GET …/journal/{version}/earliest`.
pub async fn earliest(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    require(&caller, &[READ])?;
    let entries = sim.journal.earliest(1, sim.now_ms(), &sim.config);
    Ok(one(&sim, &entries))
}

/// `GET …/journal/{version}/latest`.
pub async fn latest(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    require(&caller, &[READ])?;
    let entries = sim.journal.latest(1, sim.now_ms(), &sim.config);
    Ok(one(&sim, &entries))
}

#[derive(Debug, Deserialize)]
pub struct OffsetPath {
    offset: String,
}

/// `GET …/journal/{version}/offset/{offset}/next`.
pub async fn next(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(OffsetPath { offset }): Path<OffsetPath>,
) -> Result<Response, ApiError> {
    require(&caller, &[READ])?;
    let entries = sim
        .journal
        .after(&offset, 1, sim.now_ms(), &sim.config)
        .map_err(|e| offset_error(e, &offset))?;
    Ok(one(&sim, &entries))
}

#[derive(Debug, Deserialize)]
pub struct CountPath {
    count: String,
}

/// `GET …/journal/{version}/batch/earliest/{count}`.
pub async fn batch_earliest(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(CountPath { count: raw }): Path<CountPath>,
) -> Result<Response, ApiError> {
    require(&caller, &[READ])?;
    let n = count(&raw)?;
    let started = sim.now_ms();
    Ok(batch(
        &sim,
        &sim.journal.earliest(n, started, &sim.config),
        started,
    ))
}

/// `GET …/journal/{version}/batch/latest/{count}`.
pub async fn batch_latest(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(CountPath { count: raw }): Path<CountPath>,
) -> Result<Response, ApiError> {
    require(&caller, &[READ])?;
    let n = count(&raw)?;
    let started = sim.now_ms();
    Ok(batch(
        &sim,
        &sim.journal.latest(n, started, &sim.config),
        started,
    ))
}

#[derive(Debug, Deserialize)]
pub struct OffsetCountPath {
    offset: String,
    count: String,
}

/// `GET …/journal/{version}/batch/{offset}/next/{count}`.
pub async fn batch_next(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(OffsetCountPath { offset, count: raw }): Path<OffsetCountPath>,
) -> Result<Response, ApiError> {
    require(&caller, &[READ])?;
    let n = count(&raw)?;
    let started = sim.now_ms();
    let entries = sim
        .journal
        .after(&offset, n, started, &sim.config)
        .map_err(|e| offset_error(e, &offset))?;
    Ok(batch(&sim, &entries, started))
}

/// A storage-style XML error, as a pre-signed URL answers.
fn storage_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

/// `GET /_files/webhooks-journal/{offset}?expires&signature`: the entry's file
/// `{offset, journalEvents, publishedAt}`.
pub async fn file(
    State(sim): State<SimState>,
    Path(OffsetPath { offset }): Path<OffsetPath>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        return storage_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; the URL is pre-signed, send no Authorization header",
        );
    }
    let query = Query::parse(raw.as_deref());
    let expires: i64 = query
        .get("expires")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let signature = query.get("signature").unwrap_or_default();
    if signature != sign(&sim, &offset, expires) {
        return storage_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature does not match",
        );
    }
    if expires <= sim.now_ms() {
        return storage_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    match sim.journal.entry(&offset, sim.now_ms(), &sim.config) {
        Some(entry) => json_response(
            StatusCode::OK,
            &json!({
                "offset": offset,
                "journalEvents": entry.events,
                "publishedAt": entry.published_at,
            }),
        ),
        None => storage_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist",
        ),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionInput {
    subscription_type: String,
    portal_id: Option<u64>,
    #[serde(default)]
    object_type_id: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    object_ids: Vec<u64>,
}

/// `POST /webhooks-journal/subscriptions/{version}`: 201 with the subscription (a second
/// one for the same type, portal and object type updates the first).
pub async fn create_subscription(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require(&caller, &[SUBSCRIPTIONS_WRITE])?;
    let input: SubscriptionInput = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
    let kind = input.subscription_type.as_str();
    if kind != OBJECT && kind != GDPR_PRIVACY_DELETION {
        return Err(ApiError::validation(format!(
            "subscriptionType {kind} is not supported by this simulator; use {OBJECT} or {GDPR_PRIVACY_DELETION}"
        )));
    }
    let portal_id = input
        .portal_id
        .ok_or_else(|| ApiError::validation("portalId is required"))?;
    if portal_id != sim.config.portal_id {
        return Err(ApiError::validation(format!(
            "The app is not installed in portal {portal_id}"
        )));
    }
    let object_type_id = input.object_type_id.unwrap_or_default();
    if object_type_id != CONTACT_TYPE_ID {
        return Err(ApiError::validation(format!(
            "objectTypeId must be {CONTACT_TYPE_ID} (contacts), got {object_type_id:?}"
        )));
    }
    if input.actions.is_empty() && kind == OBJECT {
        return Err(ApiError::validation(
            "actions must name at least one action",
        ));
    }
    if let Some(bad) = input
        .actions
        .iter()
        .find(|a| !ACTIONS.contains(&a.as_str()))
    {
        return Err(ApiError::validation(format!(
            "Unknown action {bad}; use one of {}",
            ACTIONS.join(", ")
        )));
    }
    {
        let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
        if let Some(bad) = input
            .properties
            .iter()
            .find(|p| store.properties.get(*p).is_none_or(|p| p.archived))
        {
            return Err(ApiError::validation(format!(
                "Property {bad} does not exist on object type {CONTACT_TYPE_ID}"
            )));
        }
    }
    let subscription = sim.journal.upsert_subscription(
        JournalSubscription {
            id: 0,
            app_id: sim.config.app_id,
            subscription_type: input.subscription_type,
            portal_id,
            object_type_id,
            actions: input.actions,
            properties: input.properties,
            object_ids: input.object_ids,
            created_at: String::new(),
            updated_at: String::new(),
        },
        sim.now_ms(),
    );
    Ok(json_response(StatusCode::CREATED, &json!(subscription)))
}

/// `GET /webhooks-journal/subscriptions/{version}`.
pub async fn list_subscriptions(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    require(&caller, &[SUBSCRIPTIONS_READ, SUBSCRIPTIONS_WRITE])?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "results": sim.journal.subscriptions() }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct SubscriptionPath {
    subscription_id: String,
}

fn subscription_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!("Subscription {id} not found"),
    )
}

/// `GET /webhooks-journal/subscriptions/{version}/{subscriptionId}`.
pub async fn get_subscription(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(SubscriptionPath { subscription_id }): Path<SubscriptionPath>,
) -> Result<Response, ApiError> {
    require(&caller, &[SUBSCRIPTIONS_READ, SUBSCRIPTIONS_WRITE])?;
    let subscription = subscription_id
        .parse()
        .ok()
        .and_then(|id| sim.journal.subscription(id))
        .ok_or_else(|| subscription_not_found(&subscription_id))?;
    Ok(json_response(StatusCode::OK, &json!(subscription)))
}

/// `DELETE /webhooks-journal/subscriptions/{version}/{subscriptionId}`: 204.
pub async fn delete_subscription(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(SubscriptionPath { subscription_id }): Path<SubscriptionPath>,
) -> Result<Response, ApiError> {
    require(&caller, &[SUBSCRIPTIONS_WRITE])?;
    let deleted = subscription_id
        .parse()
        .is_ok_and(|id| sim.journal.delete_subscription(id));
    if !deleted {
        return Err(subscription_not_found(&subscription_id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
pub struct PortalPath {
    portal_id: u64,
}

/// `DELETE /webhooks-journal/subscriptions/{version}/portals/{portalId}`: 204.
pub async fn delete_portal_subscriptions(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(PortalPath { portal_id }): Path<PortalPath>,
) -> Result<Response, ApiError> {
    require(&caller, &[SUBSCRIPTIONS_WRITE])?;
    sim.journal.delete_portal(portal_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}
