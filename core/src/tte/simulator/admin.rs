//! The admin API under `/_sim/` — plainly not part of 10to8: seed generated customers, act as
//! a person in the app (edit, delete, merge — each notified), set future bookings, read state,
//! inject faults, set the rate limit, read and reset the request and notification counters.
//! No authentication: the simulator only listens on loopback.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::customers::{json_body, parse_id};
use super::error::ApiError;
use super::state::{SimState, validate};
use super::{Faults, RateLimit, SimCustomer};

/// Where the admin API sits.
pub const ADMIN_PREFIX: &str = "/_sim";

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/_sim/seed", post(seed))
        .route("/_sim/state", get(read_state))
        .route("/_sim/customers", get(customers))
        .route(
            "/_sim/customers/{id}",
            get(customer).patch(edit).delete(delete),
        )
        .route("/_sim/customers/{id}/future-bookings", put(bookings))
        .route("/_sim/merge", post(merge))
        .route(
            "/_sim/faults",
            get(faults).put(set_faults).delete(clear_faults),
        )
        .route("/_sim/rate-limit", get(rate_limit).put(set_rate_limit))
        .route("/_sim/stats", get(stats).delete(reset_stats))
}

/// `POST /_sim/seed` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedRequest {
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    start: u64,
    count: u64,
    #[serde(default)]
    notify: bool,
}

async fn seed(State(state): State<Arc<SimState>>, Json(request): Json<SeedRequest>) -> Response {
    let ids = state.seed(request.seed, request.start, request.count, request.notify);
    let body = json!({
        "created": ids.len(),
        "first_id": ids.first(),
        "last_id": ids.last(),
        "first_uri": ids.first().map(|id| state.customer_uri(*id)),
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn read_state(State(state): State<Arc<SimState>>) -> Json<Value> {
    let (all, live) = state.counts();
    let subscriptions: Vec<Value> = state
        .subscriptions()
        .iter()
        .map(|s| state.subscription_json(s))
        .collect();
    Json(json!({
        "base_url": state.base(),
        "customers": all,
        "live": live,
        "deleted": all - live,
        "subscriptions": subscriptions,
        "faults": state.guard.faults(),
        "rate_limit": state.guard.rate_limit(),
    }))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    include_deleted: bool,
}

async fn customers(
    State(state): State<Arc<SimState>>,
    Query(query): Query<ListQuery>,
) -> Json<Vec<Value>> {
    Json(
        state
            .customers()
            .iter()
            .filter(|c| query.include_deleted || !c.deleted)
            .map(|c| admin_view(&state, c))
            .collect(),
    )
}

async fn customer(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let customer = state.customer(parse_id(&id)?).ok_or(ApiError::NotFound)?;
    Ok(Json(admin_view(&state, &customer)))
}

async fn edit(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    state.patch(id, validate(&json_body(&body)?, true)?)?;
    let customer = state.customer(id).ok_or(ApiError::NotFound)?;
    Ok(Json(admin_view(&state, &customer)))
}

async fn delete(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.delete_as_user(parse_id(&id)?)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BookingsRequest {
    count: u32,
}

async fn bookings(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    Json(request): Json<BookingsRequest>,
) -> Result<StatusCode, ApiError> {
    state.set_future_bookings(parse_id(&id)?, request.count)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeRequest {
    survivor: u64,
    others: Vec<u64>,
}

async fn merge(
    State(state): State<Arc<SimState>>,
    Json(request): Json<MergeRequest>,
) -> Result<Json<Value>, ApiError> {
    let merged = state.merge(request.survivor, &request.others)?;
    Ok(Json(admin_view(&state, &merged)))
}

async fn faults(State(state): State<Arc<SimState>>) -> Json<Faults> {
    Json(state.guard.faults())
}

async fn set_faults(
    State(state): State<Arc<SimState>>,
    Json(faults): Json<Faults>,
) -> Json<Faults> {
    state.guard.set_faults(faults);
    Json(state.guard.faults())
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> StatusCode {
    state.guard.set_faults(Faults::default());
    StatusCode::NO_CONTENT
}

async fn rate_limit(State(state): State<Arc<SimState>>) -> Json<Option<RateLimit>> {
    Json(state.guard.rate_limit())
}

async fn set_rate_limit(
    State(state): State<Arc<SimState>>,
    Json(limit): Json<Option<RateLimit>>,
) -> Json<Option<RateLimit>> {
    state.guard.set_rate_limit(limit);
    Json(state.guard.rate_limit())
}

async fn stats(State(state): State<Arc<SimState>>) -> Response {
    Json(state.guard.stats()).into_response()
}

async fn reset_stats(State(state): State<Arc<SimState>>) -> StatusCode {
    state.guard.reset_stats();
    StatusCode::NO_CONTENT
}

fn admin_view(state: &SimState, customer: &SimCustomer) -> Value {
    let mut view = serde_json::to_value(customer).unwrap_or_default();
    if let Value::Object(map) = &mut view {
        map.insert(
            "resource_uri".into(),
            Value::String(state.customer_uri(customer.id)),
        );
    }
    view
}
