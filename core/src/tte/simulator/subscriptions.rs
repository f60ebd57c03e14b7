//! The subscription routes: list, create (`scope` must be `customer`, `callback_url` an
//! http(s) URL), get and delete.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use super::customers::{json, json_body, parse_id, query_pairs, window};
use super::error::{ApiError, FieldErrors};
use super::state::SimState;
use crate::tte::{SCOPE_CUSTOMER, SUBSCRIPTION_PATH};

const REQUIRED: &str = "This field is required.";

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(SUBSCRIPTION_PATH, get(list).post(create))
        .route(
            &format!("{SUBSCRIPTION_PATH}{{id}}/"),
            get(read).delete(remove),
        )
}

async fn list(State(state): State<Arc<SimState>>, RawQuery(query): RawQuery) -> Response {
    let pairs = query_pairs(query.as_deref());
    let url = format!("{}{SUBSCRIPTION_PATH}", state.base());
    let window = window(&state, &url, &pairs);
    let all = state.subscriptions();
    let results: Vec<Value> = all
        .iter()
        .skip(window.offset)
        .take(window.limit)
        .map(|s| state.subscription_json(s))
        .collect();
    let next = (window.offset + results.len() < all.len())
        .then_some(window.next)
        .flatten();
    let body = serde_json::json!({
        "count": all.len(),
        "next": next,
        "previous": window.previous,
        "results": results,
    });
    json(StatusCode::OK, body.to_string().into_bytes())
}

async fn create(State(state): State<Arc<SimState>>, body: Bytes) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let mut errors = FieldErrors::new();
    let callback_url = match body.get("callback_url") {
        Some(Value::String(url)) if is_http_url(url) => Some(url.clone()),
        Some(_) => {
            errors.insert("callback_url".into(), vec!["Enter a valid URL.".into()]);
            None
        }
        None => {
            errors.insert("callback_url".into(), vec![REQUIRED.into()]);
            None
        }
    };
    match body.get("scope") {
        Some(Value::String(scope)) if scope == SCOPE_CUSTOMER => {}
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            errors.insert(
                "scope".into(),
                vec![format!("\"{shown}\" is not a valid choice.")],
            );
        }
        None => {
            errors.insert("scope".into(), vec![REQUIRED.into()]);
        }
    }
    let Some(callback_url) = callback_url.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let subscription = state.add_subscription(callback_url);
    let mut response = json(
        StatusCode::CREATED,
        state
            .subscription_json(&subscription)
            .to_string()
            .into_bytes(),
    );
    let location = HeaderValue::from_str(&state.subscription_uri(subscription.id))
        .map_err(|_| ApiError::Internal)?;
    response.headers_mut().insert(LOCATION, location);
    Ok(response)
}

async fn read(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let subscription = state
        .subscription(parse_id(&id)?)
        .ok_or(ApiError::NotFound)?;
    Ok(json(
        StatusCode::OK,
        state
            .subscription_json(&subscription)
            .to_string()
            .into_bytes(),
    ))
}

async fn remove(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state.remove_subscription(parse_id(&id)?) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound)
    }
}

fn is_http_url(url: &str) -> bool {
    url::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}
