//! The contacts of the objects API (`/crm/v3/objects/{objectType}` and
//! `/crm/objects/{version}/{objectType}`, the object type in any letter case): list, read,
//! create, update, archive, batch read, merge and GDPR delete, and the write check every
//! write shares (the batch writes are in `batch`).
//!
//! On 2026-09 writes normalise loose dates (the record then carries `warnings[]`) and enforce
//! the portal's validation rules; v3 and 2026-03 keep the old behaviour.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Caller;
use super::errors::{ApiError, CONFLICT, OBJECT_NOT_FOUND, json_response, property_issues_body};
use super::query::Query;
use super::state::{
    Claims, ContactView, DEFAULT_PROPERTIES, Store, WriteError, iso, value_to_string,
};
use super::validation::{normalise_dates, rule_violation_body};
use super::versions::ApiVersion;
use super::{SimState, check_object_type};

/// The captures of a route ending in `{object_type}` (any `{version}` is ignored here).
#[derive(Debug, Deserialize)]
pub struct ObjectPath {
    /// `contacts`, `0-1`, … in any case.
    pub object_type: String,
}

/// The captures of a route ending in `{object_type}/{id}`.
#[derive(Debug, Deserialize)]
pub struct RecordPath {
    /// `contacts`, `0-1`, … in any case.
    pub object_type: String,
    /// The record id (or the `idProperty` value).
    pub id: String,
}

/// Most records one list page returns.
pub const MAX_LIST_LIMIT: u64 = 100;
/// Most inputs one batch request takes.
pub const MAX_BATCH_INPUTS: usize = 100;
const DEFAULT_LIST_LIMIT: u64 = 10;

/// A page of contacts: list (`results`, `paging`) and search (`total` too).
#[derive(Debug, Serialize)]
pub struct Page<'a> {
    /// Search only: how many match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The contacts.
    pub results: Vec<ContactView<'a>>,
    /// The next page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<Value>,
}

/// Renders a refused write as HubSpot answers it.
pub fn write_error(error: &WriteError, portal_id: u64) -> ApiError {
    match error {
        WriteError::Invalid(issues) => ApiError {
            status: StatusCode::BAD_REQUEST,
            body: property_issues_body(issues, portal_id),
        },
        WriteError::DuplicateEmail { existing } => ApiError::new(
            StatusCode::CONFLICT,
            CONFLICT,
            format!("Contact already exists. Existing ID: {existing}"),
        ),
        WriteError::UniqueConflict {
            property,
            value,
            target,
            existing,
        } => ApiError::validation(format!(
            "Cannot set PropertyValueCoordinates{{portalId={portal_id}, objectTypeId=0-1, objectId={target}, propertyName={property}, value={value}}} on {target}. {existing} already has that value."
        )),
        WriteError::DuplicateInBatch(id) => ApiError::validation(format!(
            "Duplicate IDs found in batch input: [{id}]. IDs must be unique"
        )),
        WriteError::NotFound(id) => ApiError::object_not_found(id),
        WriteError::RuleViolation(issues) => ApiError {
            status: StatusCode::BAD_REQUEST,
            body: rule_violation_body(issues),
        },
    }
}

/// Checks a write of `values` to `target` (`None`: a create) as `version` does: on 2026-09
/// loose dates are normalised in place (the warnings are returned) and the portal's
/// validation rules apply after the property checks.
///
/// # Errors
/// The first reason the write would be refused.
pub fn check_write(
    store: &Store,
    target: Option<u64>,
    values: &mut BTreeMap<String, String>,
    claims: &mut Claims,
    input_index: usize,
    version: ApiVersion,
) -> Result<Vec<Value>, WriteError> {
    let enforce = version.enforces_write_validation();
    let warnings = if enforce {
        normalise_dates(&store.properties, values)
    } else {
        Vec::new()
    };
    store.check(target, values, claims, input_index)?;
    if enforce {
        let existing = target
            .and_then(|id| store.live.get(&id))
            .map(|c| &c.properties);
        store
            .rules
            .check(existing, values)
            .map_err(WriteError::RuleViolation)?;
    }
    Ok(warnings)
}

/// Adds the write's `objectWriteTraceId` and `warnings` to a rendered record.
fn annotate(mut record: Value, trace: Option<&String>, warnings: Vec<Value>) -> Value {
    if let Some(map) = record.as_object_mut() {
        if let Some(trace) = trace {
            map.insert("objectWriteTraceId".into(), json!(trace));
        }
        if !warnings.is_empty() {
            map.insert("warnings".into(), Value::Array(warnings));
        }
    }
    record
}

pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

pub(crate) fn to_values(properties: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    properties
        .iter()
        .map(|(k, v)| (k.clone(), value_to_string(v)))
        .collect()
}

/// The properties a write result shows: the defaults plus the ones written.
pub(crate) fn written_names(values: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_PROPERTIES.iter().map(|s| (*s).to_owned()).collect();
    for name in values.keys() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

fn render(store: &Store, id: u64, requested: &[String]) -> Value {
    store
        .live
        .get(&id)
        .or_else(|| store.archived.get(&id))
        .map(|c| c.to_json(requested, &store.properties))
        .unwrap_or(Value::Null)
}

fn batch_body(results: Vec<Value>, errors: Vec<Value>, started: i64, completed: i64) -> Value {
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso(started),
        "completedAt": iso(completed),
    });
    if !errors.is_empty() {
        body["numErrors"] = json!(errors.len());
        body["errors"] = Value::Array(errors);
    }
    body
}

/// One per-input error of a 207 answer (`StandardError`).
pub(crate) fn standard_error(error: &ApiError, context_key: &str, context: &[String]) -> Value {
    let mut body = error.body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("correlationId");
        map.insert("context".into(), json!({ context_key: context }));
        map.entry("errors").or_insert_with(|| json!([]));
    }
    body
}

pub(crate) fn check_limit(len: usize) -> Result<(), ApiError> {
    if len > MAX_BATCH_INPUTS {
        return Err(ApiError::validation(format!(
            "Batch input limit exceeded: {len} inputs were sent but at most {MAX_BATCH_INPUTS} are allowed per request"
        )));
    }
    Ok(())
}

/// `GET /crm/v3/objects/contacts`.
pub async fn list(
    State(sim): State<SimState>,
    Extension(version): Extension<ApiVersion>,
    Path(ObjectPath { object_type }): Path<ObjectPath>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let query = Query::parse(raw.as_deref());
    let limit = query.number("limit", DEFAULT_LIST_LIMIT)?;
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(ApiError::validation(format!(
            "limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}"
        )));
    }
    let after = query.number("after", 0)?;
    let archived = query.flag("archived")?;
    let requested = query.list("properties");
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    let map = if archived {
        &store.archived
    } else {
        &store.live
    };
    let mut page = map.range(after..);
    let results: Vec<ContactView<'_>> = page
        .by_ref()
        .take(limit as usize)
        .map(|(_, c)| c.view(&requested, &store.properties))
        .collect();
    let mut body = Page {
        total: None,
        results,
        paging: None,
    };
    if let Some((next, _)) = page.next() {
        let mut link = format!(
            "{}{}/contacts?limit={limit}&after={next}",
            sim.base_url(),
            version.objects_base()
        );
        if archived {
            link.push_str("&archived=true");
        }
        body.paging = Some(json!({ "next": { "after": next.to_string(), "link": link } }));
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /crm/v3/objects/contacts/{id}[?idProperty]`.
pub async fn get(
    State(sim): State<SimState>,
    Path(RecordPath { object_type, id }): Path<RecordPath>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let query = Query::parse(raw.as_deref());
    let requested = query.list("properties");
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    let found = if query.flag("archived")? {
        id.parse::<u64>()
            .ok()
            .filter(|id| store.archived.contains_key(id))
    } else {
        let id_property = query.get("idProperty");
        if let Some(p) = id_property.filter(|p| !store.is_id_property(p)) {
            return Err(ApiError::validation(format!(
                "{p} is not a unique identifier property of contacts; use email, hs_object_id or a property with hasUniqueValue"
            )));
        }
        store.resolve(&id, id_property)
    };
    let id = found.ok_or_else(|| ApiError::object_not_found(&id))?;
    Ok(json_response(
        StatusCode::OK,
        &render(&store, id, &requested),
    ))
}

/// A create input (`SimplePublicObjectInputForCreate`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjectInput {
    #[serde(default)]
    pub(crate) properties: BTreeMap<String, Value>,
    #[serde(default)]
    pub(crate) object_write_trace_id: Option<String>,
}

/// `POST /crm/v3/objects/contacts`: 201.
pub async fn create(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path(ObjectPath { object_type }): Path<ObjectPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let input: ObjectInput = parse_body(&body)?;
    let mut values = to_values(&input.properties);
    let now = sim.now_ms();
    let (body, changes) = {
        let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
        let warnings = check_write(
            &store,
            None,
            &mut values,
            &mut Claims::default(),
            0,
            version,
        )
        .map_err(|e| write_error(&e, sim.config.portal_id))?;
        let (id, changes) = store.create(&values, now, &caller.origin());
        let record = render(&store, id, &written_names(&values));
        let trace = input.object_write_trace_id.as_ref();
        (annotate(record, trace, warnings), changes)
    };
    sim.publish(changes);
    Ok(json_response(StatusCode::CREATED, &body))
}

/// `PATCH /crm/v3/objects/contacts/{id}[?idProperty]`.
pub async fn update(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path(RecordPath { object_type, id }): Path<RecordPath>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let query = Query::parse(raw.as_deref());
    let input: ObjectInput = parse_body(&body)?;
    let mut values = to_values(&input.properties);
    let now = sim.now_ms();
    let (body, changes) = {
        let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
        let target = store
            .resolve(&id, query.get("idProperty"))
            .ok_or_else(|| ApiError::object_not_found(&id))?;
        let mut claims = Claims::default();
        let warnings = check_write(&store, Some(target), &mut values, &mut claims, 0, version)
            .map_err(|e| write_error(&e, sim.config.portal_id))?;
        let changes = store.apply(target, &values, now, &caller.origin());
        let record = render(&store, target, &written_names(&values));
        let trace = input.object_write_trace_id.as_ref();
        (annotate(record, trace, warnings), changes)
    };
    sim.publish(changes);
    Ok(json_response(StatusCode::OK, &body))
}

/// `DELETE /crm/v3/objects/contacts/{id}`: to the recycle bin, 204.
pub async fn archive(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(RecordPath { object_type, id }): Path<RecordPath>,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let now = sim.now_ms();
    let change = {
        let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
        let target = store
            .resolve(&id, None)
            .ok_or_else(|| ApiError::object_not_found(&id))?;
        store.archive(target, now, &caller.origin())
    };
    sim.publish(change.into_iter().collect());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An input naming a record.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdInput {
    pub(crate) id: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchRead {
    #[serde(default)]
    inputs: Vec<IdInput>,
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    id_property: Option<String>,
}

/// `POST …/batch/read`: 200, or 207 naming the ids not found.
pub async fn batch_read(
    State(sim): State<SimState>,
    Path(ObjectPath { object_type }): Path<ObjectPath>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let archived = Query::parse(raw.as_deref()).flag("archived")?;
    let input: BatchRead = parse_body(&body)?;
    check_limit(input.inputs.len())?;
    let started = sim.now_ms();
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = input
        .id_property
        .as_deref()
        .filter(|p| !store.is_id_property(p))
    {
        return Err(ApiError::validation(format!(
            "{p} is not a unique identifier property of contacts"
        )));
    }
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for item in &input.inputs {
        let id = value_to_string(&item.id);
        let found = if archived {
            id.parse::<u64>()
                .ok()
                .filter(|n| store.archived.contains_key(n))
        } else {
            store.resolve(&id, input.id_property.as_deref())
        };
        match found {
            Some(n) => results.push(render(&store, n, &input.properties)),
            None => missing.push(id),
        }
    }
    let mut errors = Vec::new();
    if !missing.is_empty() {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            OBJECT_NOT_FOUND,
            "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
        );
        errors.push(standard_error(&error, "ids", &missing));
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    let body = batch_body(results, errors, started, sim.now_ms());
    Ok(json_response(status, &body))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeInput {
    primary_object_id: Value,
    object_id_to_merge: Value,
}

/// `POST …/merge`: 200 with the surviving contact.
pub async fn merge(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(ObjectPath { object_type }): Path<ObjectPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let input: MergeInput = parse_body(&body)?;
    let primary = value_to_string(&input.primary_object_id);
    let merged = value_to_string(&input.object_id_to_merge);
    let (primary, merged) = match (primary.parse::<u64>(), merged.parse::<u64>()) {
        (Ok(p), Ok(m)) => (p, m),
        _ => return Err(ApiError::object_not_found(&primary)),
    };
    let body = sim
        .merge(primary, merged, &caller.origin())
        .map_err(|e| write_error(&e, sim.config.portal_id))?;
    Ok(json_response(StatusCode::OK, &body))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GdprInput {
    object_id: Value,
    #[serde(default)]
    id_property: Option<String>,
}

/// `POST …/gdpr-delete`: 204; permanently removes the contact.
pub async fn gdpr_delete(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(ObjectPath { object_type }): Path<ObjectPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let input: GdprInput = parse_body(&body)?;
    let id = value_to_string(&input.object_id);
    let resolved = {
        let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
        store.resolve(&id, input.id_property.as_deref())
    };
    if let Some(target) = resolved {
        sim.privacy_delete(target, &caller.origin());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
