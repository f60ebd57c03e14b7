//! `GET /api/status`: the dashboard's content as JSON, for scripts and monitors.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use super::status::Status;
use super::{ApiError, AppState};

/// `GET /api/status`.
///
/// # Errors
/// 503 when the store cannot be read.
pub async fn status(State(state): State<Arc<AppState>>) -> Result<Json<Status>, ApiError> {
    Ok(Json(state.status().await?))
}
