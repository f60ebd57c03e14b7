//! The admin API under `/_sim/`, no auth, the same shape as the HubSpot simulator's: plays the
//! person using the web app and the test harness — seed people, create, read, edit and delete a person
//! as in the app (webhooks say `change_source: app`), merge two persons, inject faults, read
//! and reset the counts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::state::{APP_USER, Actor, Faults, Refusal, Sim};

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/_sim/seed", post(seed))
        .route("/_sim/persons", post(create))
        .route("/_sim/persons/{id}", get(read).patch(edit).delete(remove))
        .route("/_sim/merge", post(merge))
        .route("/_sim/faults", get(get_faults).put(set_faults))
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route("/_sim/clock/advance", post(advance_clock))
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

async fn read(State(sim): State<Arc<Sim>>, Path(id): Path<u64>) -> Response {
    match sim.person_json(id, None) {
        Some(person) => Json(person).into_response(),
        None => Refusal::not_found("Person").into_response(),
    }
}

/// An edit in the app: a v2 write body whose `emails` and `phones` may also be plain lists
/// of values (the first primary) and whose custom fields may be named by their name under
/// `fields`.
pub fn app_body(sim: &Sim, edit: &Value) -> Result<Value, Refusal> {
    let mut body = edit
        .as_object()
        .cloned()
        .ok_or_else(|| Refusal::invalid("an edit is a JSON object"))?;
    for list in ["emails", "phones"] {
        if let Some(Value::Array(items)) = body.get(list)
            && items.iter().all(Value::is_string)
        {
            let items: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(n, v)| serde_json::json!({"value": v, "primary": n == 0, "label": "work"}))
                .collect();
            body.insert(list.to_owned(), items.into());
        }
    }
    if let Some(named) = body.remove("fields") {
        let named = named
            .as_object()
            .cloned()
            .ok_or_else(|| Refusal::invalid("`fields` maps field names to values"))?;
        let mut custom = body
            .remove("custom_fields")
            .and_then(|c| c.as_object().cloned())
            .unwrap_or_else(Map::new);
        for (name, value) in named {
            let key = sim
                .field_key(&name)
                .ok_or_else(|| Refusal::invalid(format!("no custom field named `{name}`")))?;
            custom.insert(key, value);
        }
        body.insert("custom_fields".to_owned(), custom.into());
    }
    Ok(body.into())
}

async fn create(State(sim): State<Arc<Sim>>, Json(person): Json<Value>) -> Response {
    let result = app_body(&sim, &person).and_then(|body| sim.create(&body, Actor::App(APP_USER)));
    match result {
        Ok(person) => (StatusCode::CREATED, Json(person)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn edit(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<u64>,
    Json(edit): Json<Value>,
) -> Response {
    let result = app_body(&sim, &edit).and_then(|body| sim.update(id, &body, Actor::App(APP_USER)));
    match result {
        Ok(person) => Json(person).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn remove(State(sim): State<Arc<Sim>>, Path(id): Path<u64>) -> Response {
    match sim.delete(id, Actor::App(APP_USER)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Merge {
    /// The person merged away (deleted).
    id: u64,
    /// The person that survives.
    merge_with_id: u64,
}

async fn merge(State(sim): State<Arc<Sim>>, Json(merge): Json<Merge>) -> Response {
    match sim.merge(merge.id, merge.merge_with_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Response {
    Json(sim.faults()).into_response()
}

async fn set_faults(State(sim): State<Arc<Sim>>, Json(faults): Json<Faults>) -> StatusCode {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

async fn advance_clock(State(sim): State<Arc<Sim>>, Json(advance): Json<Advance>) -> StatusCode {
    sim.advance_clock(std::time::Duration::from_secs(advance.seconds));
    StatusCode::NO_CONTENT
}
