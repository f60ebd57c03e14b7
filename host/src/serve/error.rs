//! The one error type of the HTTP edge: what went wrong, turned into a status and a short
//! body that says what to do — never a secret, never an internal detail an attacker could use.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::html::escape;

/// A request the server refuses or could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The caller could not prove who it is (bad or missing signature, stale timestamp).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The request is not what the sender would send.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Nothing here (also the answer to a wrong secret path token, so it reveals nothing).
    #[error("not found")]
    NotFound,
    /// The state store failed; the sender should retry.
    #[error("the state store is unavailable: {0}")]
    Store(#[from] tte_sync_core::store::StoreError),
    /// The engine could not queue the change; the sender should retry.
    #[error("the change could not be queued: {0}")]
    Engine(#[from] tte_sync_core::engine::EngineError),
    /// A page for a person: a status and a paragraph saying what to do.
    #[error("{title}: {message}")]
    Page {
        /// The status to answer with.
        status: StatusCode,
        /// The page's heading.
        title: String,
        /// What happened and what to do.
        message: String,
    },
}

impl ApiError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Store(_) | ApiError::Engine(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Page { status, .. } => *status,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            ApiError::Store(error) => {
                tracing::error!(%error, "The state store failed while serving a request.");
                (status, "the state store is unavailable; retry later\n").into_response()
            }
            ApiError::Page { title, message, .. } => (
                status,
                Html(super::html::page(
                    &title,
                    &format!("<p>{}</p>", escape(&message)),
                )),
            )
                .into_response(),
            other => (status, format!("{other}\n")).into_response(),
        }
    }
}
