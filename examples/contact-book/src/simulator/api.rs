//! The Contact Book API routes (`API.md`): bearer auth, injected faults and the rate limit
//! first, then contacts and the webhook setting.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::state::{Actor, Fields, Refusal, Sim};

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v1/contacts", get(list).post(create))
        .route("/v1/contacts/{id}", get(read).patch(update).delete(archive))
        .route("/v1/webhook", get(webhook).put(set_webhook))
        .layer(middleware::from_fn_with_state(sim.clone(), gate))
        .with_state(sim)
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut detail = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            detail["field"] = field.into();
        }
        if let Some(existing) = self.existing_id {
            detail["existing_id"] = existing.into();
        }
        (status, Json(serde_json::json!({ "error": detail }))).into_response()
    }
}

/// Auth, faults, the rate limit and latency, before any route.
async fn gate(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let route = format!(
        "{} {}",
        request.method(),
        if request.uri().path().starts_with("/v1/contacts/") {
            "/v1/contacts/{id}"
        } else {
            request.uri().path()
        }
    );
    let expected = format!("Bearer {}", sim.config.api_key);
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == expected.as_bytes());
    if !authorized {
        return error(401, "unauthorized", "missing or unknown API key");
    }
    if let Some((status, retry_after)) = sim.admit(&route) {
        let (code, message) = if status == 429 {
            (
                "rate_limited",
                "rate limit reached; wait Retry-After seconds",
            )
        } else {
            ("unavailable", "try again later")
        };
        let mut response = error(status, code, message);
        if let Some(value) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if !sim.config.latency.is_zero() {
        tokio::time::sleep(sim.config.latency).await;
    }
    next.run(request).await
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
    #[serde(default)]
    archived: bool,
    external_ref: Option<String>,
    email: Option<String>,
}

async fn list(State(sim): State<Arc<Sim>>, Query(params): Query<ListParams>) -> Response {
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return error(400, "invalid", "limit must be 1..100");
    }
    let (contacts, total) = sim.page(
        params.archived,
        |contact| {
            params
                .external_ref
                .as_ref()
                .is_none_or(|value| &contact.external_ref == value)
                && params
                    .email
                    .as_ref()
                    .is_none_or(|value| contact.email.eq_ignore_ascii_case(value))
        },
        params.offset,
        limit,
    );
    Json(serde_json::json!({
        "contacts": contacts, "offset": params.offset, "limit": limit, "total": total,
    }))
    .into_response()
}

async fn read(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    match sim.get(&id) {
        Some(contact) => Json(contact).into_response(),
        None => Refusal::not_found(&id).into_response(),
    }
}

async fn create(State(sim): State<Arc<Sim>>, Json(fields): Json<Fields>) -> Response {
    match sim.create(&fields, Actor::Api) {
        Ok(contact) => (StatusCode::CREATED, Json(contact)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn update(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Json(fields): Json<Fields>,
) -> Response {
    match sim.update(&id, &fields, Actor::Api) {
        Ok(contact) => Json(contact).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn archive(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    match sim.archive(&id, Actor::Api) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn webhook(State(sim): State<Arc<Sim>>) -> Response {
    Json(serde_json::json!({ "url": sim.webhook_url() })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookSetting {
    url: String,
}

async fn set_webhook(State(sim): State<Arc<Sim>>, Json(setting): Json<WebhookSetting>) -> Response {
    if url::Url::parse(&setting.url).is_err() {
        return error(400, "invalid", "url is not an absolute URL");
    }
    sim.set_webhook_url(setting.url.clone());
    Json(serde_json::json!({ "url": setting.url })).into_response()
}
