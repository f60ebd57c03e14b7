//! Error answers shaped as 10to8 (Django REST Framework) shapes them.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

/// `detail` of a 404.
pub(crate) const NOT_FOUND: &str = "Not found.";

/// Field name to messages, as in a 400 body.
pub(crate) type FieldErrors = BTreeMap<String, Vec<String>>;

/// Every error the simulated API answers with.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 401 with `WWW-Authenticate: Token`.
    Unauthorized(&'static str),
    /// 404 `{"detail":"Not found."}`.
    NotFound,
    /// 405 for a method the route does not have.
    MethodNotAllowed(String),
    /// 400 `{"field": ["msg"]}`.
    Invalid(FieldErrors),
    /// 400 `{"detail": …}` for a body that is not JSON.
    Malformed(String),
    /// 409 `{"detail": …}`.
    Conflict(String),
    /// 429 saying how many seconds to wait, with a `Retry-After` header unless `false`.
    Throttled(u64, bool),
    /// 500 with Django's HTML page (an injected fault).
    Internal,
}

impl ApiError {
    /// A 400 naming one field.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized(detail) => {
                let mut response =
                    (StatusCode::UNAUTHORIZED, Json(json!({ "detail": detail }))).into_response();
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
                response
            }
            ApiError::NotFound => {
                (StatusCode::NOT_FOUND, Json(json!({ "detail": NOT_FOUND }))).into_response()
            }
            ApiError::MethodNotAllowed(method) => (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(json!({ "detail": format!("Method \"{method}\" not allowed.") })),
            )
                .into_response(),
            ApiError::Invalid(errors) => (StatusCode::BAD_REQUEST, Json(errors)).into_response(),
            ApiError::Malformed(detail) => {
                (StatusCode::BAD_REQUEST, Json(json!({ "detail": detail }))).into_response()
            }
            ApiError::Conflict(detail) => {
                (StatusCode::CONFLICT, Json(json!({ "detail": detail }))).into_response()
            }
            ApiError::Throttled(secs, with_header) => {
                let detail =
                    format!("Request was throttled. Expected available in {secs} seconds.");
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({ "detail": detail })),
                )
                    .into_response();
                if with_header {
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from(secs));
                }
                response
            }
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<h1>Server Error (500)</h1>"),
            )
                .into_response(),
        }
    }
}
