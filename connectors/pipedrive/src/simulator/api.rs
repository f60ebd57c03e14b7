//! The Pipedrive API routes (`docs/pipedrive-api.md`): the token (`x-api-token` header or
//! `api_token` query, or an OAuth access token as a bearer), injected faults and the rate limits first, with the limit headers on
//! every answer; then persons (v2, cursor paging), person fields, recents, the current user
//! and webhooks (v1).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::budget::Verdict;
use super::state::{Actor, Refusal, Sim, StoredWebhook};
use crate::pacing::{DAILY_LEFT, LIMIT, REMAINING, RESET};

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/api/v2/persons", get(list).post(create))
        .route("/api/v2/persons/search", get(search))
        .route(
            "/api/v2/persons/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/v1/personFields", get(fields).post(add_field))
        .route("/v1/recents", get(recents))
        .route("/v1/users/me", get(me))
        .route("/v1/webhooks", get(webhooks).post(add_webhook))
        .route("/v1/webhooks/{id}", delete(remove_webhook))
        .layer(middleware::from_fn_with_state(sim.clone(), gate))
        .with_state(sim)
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(self.body())).into_response()
    }
}

fn ok(status: StatusCode, data: Value, additional: Option<Value>) -> Response {
    let mut body = json!({"success": true, "data": data});
    if let Some(additional) = additional {
        body["additional_data"] = additional;
    }
    (status, Json(body)).into_response()
}

/// The route template of a request, as the stats count it: a list of persons by `ids` is
/// told apart from a listing.
fn route_of(path: &str, query: Option<&str>) -> String {
    if path == "/api/v2/persons"
        && query.is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "ids"))
    {
        return format!("{path}?ids");
    }
    if path == "/api/v2/persons/search" {
        return path.to_owned();
    }
    for prefix in ["/api/v2/persons/", "/v1/webhooks/"] {
        if path.starts_with(prefix) && path.len() > prefix.len() {
            return format!("{prefix}{{id}}");
        }
    }
    path.to_owned()
}

fn put_limits(headers: &mut HeaderMap, verdict: &Verdict) {
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    if let Some(limit) = verdict.limit {
        put(LIMIT, limit.to_string());
        put(REMAINING, verdict.remaining.to_string());
    }
    put(RESET, verdict.reset_secs.to_string());
    if verdict.daily_left != u64::MAX {
        put(DAILY_LEFT, verdict.daily_left.to_string());
    }
}

/// Auth, faults, the rate limits and latency, before any route.
async fn gate(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let route = route_of(request.uri().path(), request.uri().query());
    let method = request.method().as_str().to_owned();
    let by_header = request
        .headers()
        .get(crate::client::TOKEN_HEADER)
        .is_some_and(|v| v.as_bytes() == sim.config.api_token.as_bytes());
    let by_query = request.uri().query().is_some_and(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| k == "api_token" && v == sim.config.api_token.as_str())
    });
    let by_bearer = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| sim.grants(|grants| grants.admits(token, sim.now())));
    if !by_header && !by_query && !by_bearer {
        sim.count_unauthorized();
        let refusal = Refusal {
            status: 401,
            error: "unauthorized access".to_owned(),
            info: "Please check developers.pipedrive.com".to_owned(),
        };
        return refusal.into_response();
    }
    let verdict = match sim.admit(&method, &route) {
        Err(status) => {
            let refusal = Refusal {
                status,
                error: "Service temporarily unavailable".to_owned(),
                info: "Please try again later".to_owned(),
            };
            return refusal.into_response();
        }
        Ok(verdict) => verdict,
    };
    if let Some(verdict) = verdict.filter(|v| v.refused) {
        let refusal = Refusal {
            status: 429,
            error: "Request over limit".to_owned(),
            info: "Please check developers.pipedrive.com/docs/api/v1 rate limiting".to_owned(),
        };
        let mut response = refusal.into_response();
        put_limits(response.headers_mut(), &verdict);
        return response;
    }
    if !sim.config.latency.is_zero() {
        tokio::time::sleep(sim.config.latency).await;
    }
    let mut response = next.run(request).await;
    if let Some(verdict) = verdict {
        put_limits(response.headers_mut(), &verdict);
    }
    response
}

fn cursor_for(id: u64) -> String {
    STANDARD.encode(json!({ "id": id }).to_string())
}

fn after_cursor(cursor: &str) -> Option<u64> {
    let bytes = STANDARD.decode(cursor).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("id")?.as_u64()
}

fn keys_of(custom_fields: Option<&String>) -> Option<Vec<String>> {
    custom_fields.map(|keys| keys.split(',').map(str::to_owned).collect())
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
    ids: Option<String>,
    sort_by: Option<String>,
    custom_fields: Option<String>,
}

async fn list(State(sim): State<Arc<Sim>>, Query(params): Query<ListParams>) -> Response {
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Refusal::invalid("Validation failed: limit: must be between 1 and 500")
            .into_response();
    }
    if params.sort_by.as_deref().is_some_and(|s| s != "id") {
        // Sorting by time is served by the real API; the simulator pages by id only.
        return Refusal::invalid("Validation failed: sort_by: the simulator sorts by id only")
            .into_response();
    }
    let after = match params.cursor.as_deref().map(after_cursor) {
        None => 0,
        Some(Some(after)) => after,
        Some(None) => return Refusal::invalid("Invalid cursor").into_response(),
    };
    let ids = match params.ids.as_deref().map(|ids| {
        ids.split(',')
            .map(|id| id.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
    }) {
        None => None,
        Some(Ok(ids)) if ids.len() <= 100 => Some(ids),
        Some(_) => {
            return Refusal::invalid("Validation failed: ids: up to 100 numeric ids")
                .into_response();
        }
    };
    let keys = keys_of(params.custom_fields.as_ref());
    if keys.as_ref().is_some_and(|k| k.len() > 15) {
        return Refusal::invalid("Validation failed: custom_fields: at most 15 keys")
            .into_response();
    }
    let (persons, next) = sim.page(after, limit, ids.as_deref(), keys.as_deref());
    ok(
        StatusCode::OK,
        persons.into(),
        Some(json!({ "next_cursor": next.map(cursor_for) })),
    )
}

#[derive(Deserialize)]
struct ReadParams {
    custom_fields: Option<String>,
}

async fn read(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Query(params): Query<ReadParams>,
) -> Response {
    let keys = keys_of(params.custom_fields.as_ref());
    match id
        .parse()
        .ok()
        .and_then(|id| sim.person_json(id, keys.as_deref()))
    {
        Some(person) => ok(StatusCode::OK, person, None),
        None => Refusal::not_found("Person").into_response(),
    }
}

async fn create(State(sim): State<Arc<Sim>>, Json(body): Json<Value>) -> Response {
    match sim.create(&body, Actor::Api) {
        Ok(person) => ok(StatusCode::CREATED, person, None),
        Err(refusal) => refusal.into_response(),
    }
}

async fn update(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let Ok(id) = id.parse() else {
        return Refusal::not_found("Person").into_response();
    };
    match sim.update(id, &body, Actor::Api) {
        Ok(person) => ok(StatusCode::OK, person, None),
        Err(refusal) => refusal.into_response(),
    }
}

async fn remove(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return Refusal::not_found("Person").into_response();
    };
    match sim.delete(id, Actor::Api) {
        Ok(()) => ok(StatusCode::OK, json!({ "id": id }), None),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Deserialize)]
struct SearchParams {
    term: String,
    fields: Option<String>,
    #[serde(default)]
    exact_match: bool,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn search(State(sim): State<Arc<Sim>>, Query(params): Query<SearchParams>) -> Response {
    let shortest = if params.exact_match { 1 } else { 2 };
    if params.term.chars().count() < shortest {
        return Refusal::invalid(format!(
            "Validation failed: term: must be at least {shortest} characters long"
        ))
        .into_response();
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Refusal::invalid("Validation failed: limit: must be between 1 and 500")
            .into_response();
    }
    let fields: Vec<String> = params
        .fields
        .map(|f| f.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let start = match params.cursor.as_deref().map(after_cursor) {
        None => 0,
        Some(Some(start)) => start as usize,
        Some(None) => return Refusal::invalid("Invalid cursor").into_response(),
    };
    let hits = sim.search(&params.term, &fields, params.exact_match);
    let page: Vec<Value> = hits.iter().skip(start).take(limit).cloned().collect();
    let next = (hits.len() > start + page.len()).then(|| cursor_for((start + page.len()) as u64));
    ok(
        StatusCode::OK,
        json!({ "items": page }),
        Some(json!({ "next_cursor": next })),
    )
}

#[derive(Deserialize)]
struct PageParams {
    #[serde(default)]
    start: usize,
    limit: Option<usize>,
}

async fn fields(State(sim): State<Arc<Sim>>, Query(params): Query<PageParams>) -> Response {
    let limit = params.limit.unwrap_or(100).clamp(1, 500);
    let all = sim.fields();
    let page: Vec<_> = all.iter().skip(params.start).take(limit).collect();
    let more = all.len() > params.start + page.len();
    ok(
        StatusCode::OK,
        serde_json::to_value(&page).unwrap_or_default(),
        Some(json!({"pagination": {
            "start": params.start, "limit": limit, "more_items_in_collection": more,
        }})),
    )
}

#[derive(Deserialize)]
struct NewField {
    #[serde(default)]
    name: String,
    #[serde(default)]
    field_type: String,
}

async fn add_field(State(sim): State<Arc<Sim>>, Json(field): Json<NewField>) -> Response {
    match sim.add_field(&field.name, &field.field_type) {
        Ok(field) => ok(
            StatusCode::CREATED,
            serde_json::to_value(field).unwrap_or_default(),
            None,
        ),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Deserialize)]
struct RecentsParams {
    since_timestamp: String,
    items: Option<String>,
    #[serde(default)]
    start: usize,
    limit: Option<usize>,
}

async fn recents(State(sim): State<Arc<Sim>>, Query(params): Query<RecentsParams>) -> Response {
    let Ok(since) = NaiveDateTime::parse_from_str(&params.since_timestamp, "%Y-%m-%d %H:%M:%S")
    else {
        return Refusal::invalid("since_timestamp must be YYYY-MM-DD HH:MM:SS").into_response();
    };
    let limit = params.limit.unwrap_or(100).clamp(1, 500);
    let persons_wanted = params
        .items
        .as_deref()
        .is_none_or(|items| items.split(',').any(|i| i == "person"));
    let (page, more) = if persons_wanted {
        sim.recents(since.and_utc(), params.start, limit)
    } else {
        (Vec::new(), false)
    };
    ok(
        StatusCode::OK,
        page.into(),
        Some(json!({
            "since_timestamp": params.since_timestamp,
            "last_timestamp_on_page": Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            "pagination": {"start": params.start, "limit": limit, "more_items_in_collection": more},
        })),
    )
}

async fn me(State(sim): State<Arc<Sim>>) -> Response {
    ok(
        StatusCode::OK,
        json!({
            "id": sim.config.user_id, "name": "tte-sync", "company_id": sim.config.company_id,
            "is_admin": 1, "active_flag": true,
        }),
        None,
    )
}

async fn webhooks(State(sim): State<Arc<Sim>>) -> Response {
    ok(StatusCode::OK, sim.webhooks_json().into(), None)
}

#[derive(Deserialize)]
struct NewWebhook {
    subscription_url: String,
    event_action: String,
    event_object: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    http_auth_user: Option<String>,
    #[serde(default)]
    http_auth_password: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    user_id: Option<u64>,
}

async fn add_webhook(State(sim): State<Arc<Sim>>, Json(hook): Json<NewWebhook>) -> Response {
    if url::Url::parse(&hook.subscription_url).is_err() {
        return Refusal::invalid("subscription_url must be a full, valid URL").into_response();
    }
    let version = hook.version.unwrap_or_else(|| "2.0".to_owned());
    let actions: &[&str] = if version == "2.0" {
        &["create", "change", "delete", "*"]
    } else {
        &["added", "updated", "merged", "deleted", "*"]
    };
    if !actions.contains(&hook.event_action.as_str()) {
        return Refusal::invalid(format!(
            "event_action must be one of {}",
            actions.join(", ")
        ))
        .into_response();
    }
    if hook.http_auth_user.is_some() != hook.http_auth_password.is_some() {
        return Refusal::invalid("http_auth_user and http_auth_password go together")
            .into_response();
    }
    let created = sim.add_webhook(StoredWebhook {
        id: 0,
        subscription_url: hook.subscription_url,
        event_action: hook.event_action,
        event_object: hook.event_object,
        version,
        http_auth_user: hook.http_auth_user,
        http_auth_password: hook.http_auth_password,
    });
    ok(StatusCode::CREATED, created, None)
}

async fn remove_webhook(State(sim): State<Arc<Sim>>, Path(id): Path<u64>) -> Response {
    if sim.delete_webhook(id) {
        ok(StatusCode::OK, json!({ "id": id }), None)
    } else {
        Refusal::not_found("Webhook").into_response()
    }
}
