//! The admin API under `/_sim/` — not part of HubSpot: seeding, reading state, editing as a
//! person in HubSpot's UI would (firing webhooks with `changeSource: CRM_UI`), the portal's
//! validation rules, uninstalling the OAuth app, faults, the clock and stats.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::contacts::write_error;
use super::errors::{ApiError, json_response};
use super::state::{ChangeOrigin, Claims, value_to_string};
use super::validation::ValidationRules;
use super::{DEFAULT_USER_ID, Faults, SimState, UI_CHANGE_SOURCE};

/// The admin routes.
pub fn router() -> Router<SimState> {
    Router::new()
        .route("/_sim/seed", post(seed))
        .route("/_sim/state", get(state))
        .route("/_sim/contacts", post(user_create))
        .route(
            "/_sim/contacts/{id}",
            get(read_contact).patch(user_edit).delete(user_delete),
        )
        .route("/_sim/contacts/{id}/restore", post(user_restore))
        .route("/_sim/merge", post(user_merge))
        .route("/_sim/faults", put(set_faults).get(get_faults))
        .route("/_sim/clock/advance", post(advance_clock))
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route("/_sim/reset", post(reset))
        .route(
            "/_sim/validation-rules",
            put(set_validation_rules).get(get_validation_rules),
        )
        .route("/_sim/oauth/uninstall", post(uninstall))
        .route("/_sim/project/webhooks", put(super::project::put))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_str("{}").map_err(ApiError::bad_json);
    }
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

/// The origin of an edit by HubSpot user `user_id`.
pub fn user_origin(user_id: Option<u64>) -> ChangeOrigin {
    ChangeOrigin {
        change_source: UI_CHANGE_SOURCE.to_owned(),
        source_id: Some(format!("userId:{}", user_id.unwrap_or(DEFAULT_USER_ID))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedRequest {
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    start: u64,
    count: u64,
}

async fn seed(State(sim): State<SimState>, body: Bytes) -> Result<Response, ApiError> {
    let request: SeedRequest = parse(&body)?;
    let ids = sim.seed(request.seed, request.start, request.count);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "created": ids.len(), "firstId": ids.first(), "lastId": ids.last() }),
    ))
}

async fn state(State(sim): State<SimState>) -> Response {
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    let body = json!({
        "portalId": sim.config.portal_id,
        "appId": sim.config.app_id,
        "contacts": store.live.len(),
        "archivedContacts": store.archived.len(),
        "customProperties": store.properties.values().filter(|p| !p.hubspot_defined && !p.archived).map(|p| &p.name).collect::<Vec<_>>(),
        "faults": sim.faults(),
        "nowMs": sim.now_ms(),
    });
    json_response(StatusCode::OK, &body)
}

async fn read_contact(
    State(sim): State<SimState>,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    let contact = store
        .live
        .get(&id)
        .or_else(|| store.archived.get(&id))
        .ok_or_else(|| ApiError::object_not_found(&id.to_string()))?;
    let names: Vec<String> = store.properties.keys().cloned().collect();
    Ok(json_response(
        StatusCode::OK,
        &contact.to_json(&names, &store.properties),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserEdit {
    #[serde(default)]
    properties: BTreeMap<String, Value>,
    #[serde(default)]
    user_id: Option<u64>,
}

async fn user_create(State(sim): State<SimState>, body: Bytes) -> Result<Response, ApiError> {
    let edit: UserEdit = parse(&body)?;
    let values = edit
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), value_to_string(v)))
        .collect();
    let id = sim
        .user_create(&values, edit.user_id)
        .map_err(|e| write_error(&e, sim.config.portal_id))?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "id": id.to_string() }),
    ))
}

async fn user_edit(
    State(sim): State<SimState>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let edit: UserEdit = parse(&body)?;
    let values = edit
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), value_to_string(v)))
        .collect();
    sim.user_edit(id, &values, edit.user_id)
        .map_err(|e| write_error(&e, sim.config.portal_id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserOnly {
    #[serde(default)]
    user_id: Option<u64>,
}

async fn user_delete(
    State(sim): State<SimState>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who: UserOnly = parse(&body)?;
    if sim.user_archive(id, who.user_id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::object_not_found(&id.to_string()))
    }
}

async fn user_restore(
    State(sim): State<SimState>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who: UserOnly = parse(&body)?;
    sim.user_restore(id, who.user_id)
        .map_err(|e| write_error(&e, sim.config.portal_id))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MergeRequest {
    primary_object_id: u64,
    object_id_to_merge: u64,
    #[serde(default)]
    user_id: Option<u64>,
}

async fn user_merge(State(sim): State<SimState>, body: Bytes) -> Result<Response, ApiError> {
    let request: MergeRequest = parse(&body)?;
    let merged = sim
        .merge(
            request.primary_object_id,
            request.object_id_to_merge,
            &user_origin(request.user_id),
        )
        .map_err(|e| write_error(&e, sim.config.portal_id))?;
    Ok(json_response(StatusCode::OK, &merged))
}

async fn set_faults(State(sim): State<SimState>, body: Bytes) -> Result<Response, ApiError> {
    let faults: Faults = parse(&body)?;
    sim.set_faults(faults);
    Ok(json_response(StatusCode::OK, &json!(faults)))
}

async fn get_faults(State(sim): State<SimState>) -> Response {
    json_response(StatusCode::OK, &json!(sim.faults()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

async fn advance_clock(State(sim): State<SimState>, body: Bytes) -> Result<Response, ApiError> {
    let advance: Advance = parse(&body)?;
    sim.advance_clock(Duration::from_secs(advance.seconds));
    Ok(json_response(
        StatusCode::OK,
        &json!({ "nowMs": sim.now_ms() }),
    ))
}

async fn stats(State(sim): State<SimState>) -> Response {
    json_response(StatusCode::OK, &json!(sim.counters.snapshot()))
}

/// Removes every contact and forgets rate-limit counts (properties and settings stay).
async fn reset(State(sim): State<SimState>) -> Response {
    sim.store
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .clear_contacts();
    sim.limiter.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn set_validation_rules(
    State(sim): State<SimState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rules: ValidationRules = parse(&body)?;
    {
        let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
        if let Some(unknown) = rules
            .property_names()
            .into_iter()
            .find(|name| store.properties.get(*name).is_none_or(|p| p.archived))
        {
            return Err(ApiError::validation(format!(
                "validation rules name {unknown}, which is not a contact property; create it first"
            )));
        }
    }
    sim.set_validation_rules(rules.clone());
    Ok(json_response(StatusCode::OK, &json!(rules)))
}

async fn get_validation_rules(State(sim): State<SimState>) -> Response {
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    json_response(StatusCode::OK, &json!(store.rules))
}

/// Uninstalls the OAuth app as a person would in HubSpot's connected-apps settings.
async fn uninstall(State(sim): State<SimState>) -> Response {
    let was_installed = sim.uninstall_app();
    json_response(StatusCode::OK, &json!({ "uninstalled": was_installed }))
}

async fn reset_stats(State(sim): State<SimState>) -> Response {
    sim.counters.reset();
    StatusCode::NO_CONTENT.into_response()
}

impl super::Sim {
    /// Creates a contact as user `user_id` would in the UI.
    pub(crate) fn user_create(
        &self,
        values: &BTreeMap<String, String>,
        user_id: Option<u64>,
    ) -> Result<u64, super::state::WriteError> {
        let now = self.now_ms();
        let (id, changes) = {
            let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
            store.check(None, values, &mut Claims::default(), 0)?;
            store.create(values, now, &user_origin(user_id))
        };
        self.publish(changes);
        Ok(id)
    }

    /// Edits contact `id` as user `user_id` would in the UI.
    pub(crate) fn user_edit(
        &self,
        id: u64,
        values: &BTreeMap<String, String>,
        user_id: Option<u64>,
    ) -> Result<(), super::state::WriteError> {
        let now = self.now_ms();
        let changes = {
            let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
            if !store.live.contains_key(&id) {
                return Err(super::state::WriteError::NotFound(id.to_string()));
            }
            store.check(Some(id), values, &mut Claims::default(), 0)?;
            store.apply(id, values, now, &user_origin(user_id))
        };
        self.publish(changes);
        Ok(())
    }

    /// Archives contact `id` as user `user_id` would in the UI.
    pub(crate) fn user_archive(&self, id: u64, user_id: Option<u64>) -> bool {
        let now = self.now_ms();
        let change = self
            .store
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .archive(id, now, &user_origin(user_id));
        let found = change.is_some();
        self.publish(change.into_iter().collect());
        found
    }

    /// Restores contact `id` from the recycle bin as user `user_id` would.
    pub(crate) fn user_restore(
        &self,
        id: u64,
        user_id: Option<u64>,
    ) -> Result<(), super::state::WriteError> {
        let now = self.now_ms();
        let change = self
            .store
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .restore(id, now, &user_origin(user_id))?;
        self.publish(vec![change]);
        Ok(())
    }

    pub(crate) fn set_validation_rules(&self, rules: ValidationRules) {
        self.store.write().unwrap_or_else(|e| e.into_inner()).rules = rules;
    }

    pub(crate) fn advance_clock(&self, by: Duration) {
        self.clock_offset_ms
            .fetch_add(by.as_millis() as i64, std::sync::atomic::Ordering::Relaxed);
    }
}
