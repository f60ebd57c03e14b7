//! Contacts v3 (`/crm/v3/objects/{contacts|contact|0-1}`): list, read, create, update, archive,
//! the batch endpoints, merge and GDPR delete.
//!
//! Batch semantics follow the reference: at most 100 inputs; per-input errors (207) only when
//! every input carries an `objectWriteTraceId` (and never for upserts keyed by `email`),
//! otherwise the first error fails the whole batch and nothing is written.

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
    Change, ChangeOrigin, Claims, ContactView, DEFAULT_PROPERTIES, EMAIL, OBJECT_ID, Store,
    WriteError, iso, value_to_string,
};
use super::{SimState, check_object_type};

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
    }
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::bad_json)
}

fn to_values(properties: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    properties
        .iter()
        .map(|(k, v)| (k.clone(), value_to_string(v)))
        .collect()
}

/// The properties a write result shows: the defaults plus the ones written.
fn written_names(values: &BTreeMap<String, String>) -> Vec<String> {
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
fn standard_error(error: &ApiError, context_key: &str, context: &[String]) -> Value {
    let mut body = error.body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("correlationId");
        map.insert("context".into(), json!({ context_key: context }));
        map.entry("errors").or_insert_with(|| json!([]));
    }
    body
}

fn check_limit(len: usize) -> Result<(), ApiError> {
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
    Path(object_type): Path<String>,
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
            "{}/crm/v3/objects/contacts?limit={limit}&after={next}",
            sim.base_url()
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
    Path((object_type, id)): Path<(String, String)>,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectInput {
    #[serde(default)]
    properties: BTreeMap<String, Value>,
    #[serde(default)]
    object_write_trace_id: Option<String>,
}

/// `POST /crm/v3/objects/contacts`: 201.
pub async fn create(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let input: ObjectInput = parse_body(&body)?;
    let values = to_values(&input.properties);
    let now = sim.now_ms();
    let (body, changes) = {
        let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
        store
            .check(None, &values, &mut Claims::default(), 0)
            .map_err(|e| write_error(&e, sim.config.portal_id))?;
        let (id, changes) = store.create(&values, now, &caller.origin());
        (render(&store, id, &written_names(&values)), changes)
    };
    sim.publish(changes);
    Ok(json_response(StatusCode::CREATED, &body))
}

/// `PATCH /crm/v3/objects/contacts/{id}[?idProperty]`.
pub async fn update(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path((object_type, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let query = Query::parse(raw.as_deref());
    let input: ObjectInput = parse_body(&body)?;
    let values = to_values(&input.properties);
    let now = sim.now_ms();
    let (body, changes) = {
        let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
        let target = store
            .resolve(&id, query.get("idProperty"))
            .ok_or_else(|| ApiError::object_not_found(&id))?;
        store
            .check(Some(target), &values, &mut Claims::default(), 0)
            .map_err(|e| write_error(&e, sim.config.portal_id))?;
        let changes = store.apply(target, &values, now, &caller.origin());
        (render(&store, target, &written_names(&values)), changes)
    };
    sim.publish(changes);
    Ok(json_response(StatusCode::OK, &body))
}

/// `DELETE /crm/v3/objects/contacts/{id}`: to the recycle bin, 204.
pub async fn archive(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path((object_type, id)): Path<(String, String)>,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdInput {
    id: Value,
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
    Path(object_type): Path<String>,
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
struct Batch<T> {
    inputs: Vec<T>,
}

/// A batch write planned input by input: what to do, or why not.
enum Planned {
    Create(BTreeMap<String, String>),
    Update(u64, BTreeMap<String, String>),
}

/// One written record of a batch answer: the contact and, for upserts, whether it is new.
#[derive(Serialize)]
struct WrittenView<'a> {
    #[serde(flatten)]
    contact: ContactView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<bool>,
}

/// A batch answer (`BatchResponseSimplePublicObject`, with errors when 207).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchView<'a> {
    status: &'static str,
    results: Vec<WrittenView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_errors: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<Value>,
    started_at: String,
    completed_at: String,
}

/// Runs a planned batch — whole-batch failure unless `traced`, else 207 for the failures —
/// and renders the answer while the store is still locked.
fn run_batch(
    sim: &SimState,
    store: &mut Store,
    plans: Vec<(Option<String>, Result<Planned, WriteError>)>,
    traced: bool,
    origin: &ChangeOrigin,
    answer: (StatusCode, i64, bool),
) -> Result<(Response, Vec<Change>), ApiError> {
    let (ok_status, started, with_new_flag) = answer;
    let portal = sim.config.portal_id;
    if !traced {
        if let Some((_, Err(error))) = plans.iter().find(|(_, p)| p.is_err()) {
            return Err(write_error(error, portal));
        }
    }
    let now = sim.now_ms();
    let mut written = Vec::new();
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    for (trace, plan) in plans {
        match plan {
            Ok(Planned::Create(values)) => {
                let (id, made) = store.create(&values, now, origin);
                changes.extend(made);
                written.push((id, written_names(&values), with_new_flag.then_some(true)));
            }
            Ok(Planned::Update(id, values)) => {
                changes.extend(store.apply(id, &values, now, origin));
                written.push((id, written_names(&values), with_new_flag.then_some(false)));
            }
            Err(error) => {
                let api = write_error(&error, portal);
                errors.push(standard_error(
                    &api,
                    "objectWriteTraceId",
                    &[trace.unwrap_or_default()],
                ));
            }
        }
    }
    let store = &*store;
    let results = written
        .iter()
        .filter_map(|(id, names, new)| {
            let contact = store.live.get(id)?;
            Some(WrittenView {
                contact: contact.view(names, &store.properties),
                new: *new,
            })
        })
        .collect();
    let status = if errors.is_empty() {
        ok_status
    } else {
        StatusCode::MULTI_STATUS
    };
    let body = BatchView {
        status: "COMPLETE",
        results,
        num_errors: (!errors.is_empty()).then_some(errors.len()),
        errors,
        started_at: iso(started),
        completed_at: iso(sim.now_ms()),
    };
    Ok((json_response(status, &body), changes))
}

fn all_traced<T>(inputs: &[T], trace: impl Fn(&T) -> bool) -> bool {
    !inputs.is_empty() && inputs.iter().all(trace)
}

/// What a batch input's plan is: its trace id and what to do (or why not).
type InputPlan = (Option<String>, Result<Planned, WriteError>);

/// The part every batch write shares: under the store's lock, `plan` each input (the one
/// thing the endpoints differ in; an `Err` refuses the whole request), run the plans as one
/// batch answered with `answer` (status, and whether results carry `new`), and publish the
/// changes once the lock is released.
fn write_batch<I>(
    sim: &SimState,
    caller: &Caller,
    inputs: &[I],
    traced: bool,
    answer: (StatusCode, bool),
    mut plan: impl FnMut(&mut Store, &mut Claims, usize, &I) -> Result<InputPlan, ApiError>,
) -> Result<Response, ApiError> {
    let started = sim.now_ms();
    let (response, changes) = {
        let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
        let mut claims = Claims::default();
        let plans = inputs
            .iter()
            .enumerate()
            .map(|(n, input)| plan(&mut store, &mut claims, n, input))
            .collect::<Result<Vec<_>, _>>()?;
        run_batch(
            sim,
            &mut store,
            plans,
            traced,
            &caller.origin(),
            (answer.0, started, answer.1),
        )?
    };
    sim.publish(changes);
    Ok(response)
}

/// `POST …/batch/create`: 201, 207 with trace ids, or the first error for the whole batch.
pub async fn batch_create(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let batch: Batch<ObjectInput> = parse_body(&body)?;
    check_limit(batch.inputs.len())?;
    let traced = all_traced(&batch.inputs, |i| i.object_write_trace_id.is_some());
    write_batch(
        &sim,
        &caller,
        &batch.inputs,
        traced,
        (StatusCode::CREATED, false),
        |store, claims, n, input| {
            let values = to_values(&input.properties);
            let plan = store
                .check(None, &values, claims, n)
                .map(|()| Planned::Create(values));
            Ok((input.object_write_trace_id.clone(), plan))
        },
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentifiedInput {
    id: Value,
    #[serde(default)]
    id_property: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
    #[serde(default)]
    object_write_trace_id: Option<String>,
}

/// `POST …/batch/update`: 200, 207 with trace ids, or the first error for the whole batch.
pub async fn batch_update(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let batch: Batch<IdentifiedInput> = parse_body(&body)?;
    check_limit(batch.inputs.len())?;
    let traced = all_traced(&batch.inputs, |i| i.object_write_trace_id.is_some());
    write_batch(
        &sim,
        &caller,
        &batch.inputs,
        traced,
        (StatusCode::OK, false),
        |store, claims, n, input| {
            let id = value_to_string(&input.id);
            let values = to_values(&input.properties);
            let plan = store
                .resolve(&id, input.id_property.as_deref())
                .ok_or(WriteError::NotFound(id))
                .and_then(|target| {
                    store.check(Some(target), &values, claims, n)?;
                    claims.claim_id(target, n)?;
                    Ok(Planned::Update(target, values))
                });
            Ok((input.object_write_trace_id.clone(), plan))
        },
    )
}

/// `POST …/batch/upsert`: by `email` or a unique property; results carry `new`.
pub async fn batch_upsert(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let batch: Batch<IdentifiedInput> = parse_body(&body)?;
    check_limit(batch.inputs.len())?;
    // Partial upserts are not supported when email is the idProperty.
    let traced = all_traced(&batch.inputs, |i| {
        i.object_write_trace_id.is_some() && i.id_property.as_deref() != Some(EMAIL)
    });
    write_batch(
        &sim,
        &caller,
        &batch.inputs,
        traced,
        (StatusCode::OK, true),
        |store, claims, n, input| {
            let id = value_to_string(&input.id);
            let Some(id_property) = input
                .id_property
                .as_deref()
                .filter(|p| *p != OBJECT_ID && store.is_id_property(p))
            else {
                return Err(ApiError::validation(format!(
                    "idProperty must be email or a property with hasUniqueValue, got {}",
                    input.id_property.as_deref().unwrap_or("nothing")
                )));
            };
            let mut values = to_values(&input.properties);
            let plan = match store.resolve(&id, Some(id_property)) {
                Some(target) => store
                    .check(Some(target), &values, claims, n)
                    .and_then(|()| claims.claim_id(target, n))
                    .map(|()| Planned::Update(target, values)),
                None => {
                    values.insert(id_property.to_owned(), id.clone());
                    store
                        .check(None, &values, claims, n)
                        .map(|()| Planned::Create(values))
                }
            };
            Ok((input.object_write_trace_id.clone(), plan))
        },
    )
}

/// `POST …/batch/archive`: 204 whatever the ids.
pub async fn batch_archive(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let batch: Batch<IdInput> = parse_body(&body)?;
    check_limit(batch.inputs.len())?;
    let now = sim.now_ms();
    let changes: Vec<Change> = {
        let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
        batch
            .inputs
            .iter()
            .filter_map(|input| value_to_string(&input.id).parse::<u64>().ok())
            .filter_map(|id| store.archive(id, now, &caller.origin()))
            .collect()
    };
    sim.publish(changes);
    Ok(StatusCode::NO_CONTENT.into_response())
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
    Path(object_type): Path<String>,
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
    Path(object_type): Path<String>,
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
