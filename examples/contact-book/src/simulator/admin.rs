//! The admin API under `/_sim/`, no auth: plays the person using the app and the test
//! harness — seed people, read and edit a contact as in the app (webhooks say `user:1`),
//! inject faults, read and reset the counts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::state::{Actor, Faults, Fields, Refusal, Sim};

/// The user id edits through the admin API are made as.
const ADMIN_USER: u64 = 1;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/_sim/seed", post(seed))
        .route("/_sim/contacts/{id}", get(read).patch(edit).delete(archive))
        .route("/_sim/faults", post(faults))
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .with_state(sim)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default)]
    start: u64,
    count: u64,
}

fn default_seed() -> u64 {
    1
}

async fn seed(State(sim): State<Arc<Sim>>, Json(seed): Json<Seed>) -> Response {
    let ids = sim.seed(seed.seed, seed.start, seed.count);
    Json(serde_json::json!({ "ids": ids })).into_response()
}

async fn read(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    match sim.get(&id) {
        Some(contact) => Json(contact).into_response(),
        None => Refusal::not_found(&id).into_response(),
    }
}

async fn edit(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Json(fields): Json<Fields>,
) -> Response {
    match sim.update(&id, &fields, Actor::User(ADMIN_USER)) {
        Ok(contact) => Json(contact).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn archive(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    match sim.archive(&id, Actor::User(ADMIN_USER)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn faults(State(sim): State<Arc<Sim>>, Json(faults): Json<Faults>) -> StatusCode {
    sim.set_faults(faults);
    StatusCode::NO_CONTENT
}

async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    Json(sim.stats()).into_response()
}

async fn reset_stats(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.reset_stats();
    StatusCode::NO_CONTENT
}
