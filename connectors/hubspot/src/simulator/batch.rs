//! The batch writes of the objects API (`…/batch/{create,update,upsert,archive}`), under the
//! numbered and the date-based paths.
//!
//! Batch semantics follow the reference: at most 100 inputs; per-input errors (207) only when
//! every input carries an `objectWriteTraceId` (and never for upserts keyed by `email`),
//! otherwise the first error fails the whole batch and nothing is written. Results echo each
//! input's `objectWriteTraceId`. On 2026-09 the portal's validation rules and date
//! normalisation apply to every input (see `validation`), and records carry `warnings[]`.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Caller;
use super::contacts::{
    IdInput, ObjectInput, ObjectPath, check_limit, check_write, parse_body, standard_error,
    to_values, write_error, written_names,
};
use super::errors::{ApiError, json_response};
use super::state::{
    Change, ChangeOrigin, Claims, ContactView, EMAIL, OBJECT_ID, Store, WriteError,
};
use super::state::{iso, value_to_string};
use super::versions::ApiVersion;
use super::{SimState, check_object_type};

#[derive(Debug, Deserialize)]
struct Batch<T> {
    inputs: Vec<T>,
}

/// What to do with one input.
enum Planned {
    Create(BTreeMap<String, String>),
    Update(u64, BTreeMap<String, String>),
}

/// One input's plan: its trace id, the warnings its values drew, and what to do (or why
/// not).
struct InputPlan {
    trace: Option<String>,
    warnings: Vec<Value>,
    plan: Result<Planned, WriteError>,
}

impl InputPlan {
    fn new(trace: &Option<String>, checked: Result<(Vec<Value>, Planned), WriteError>) -> Self {
        let (warnings, plan) = match checked {
            Ok((warnings, plan)) => (warnings, Ok(plan)),
            Err(error) => (Vec::new(), Err(error)),
        };
        Self {
            trace: trace.clone(),
            warnings,
            plan,
        }
    }
}

/// One written record of a batch answer: the contact, for upserts whether it is new, the
/// input's trace id and the warnings.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WrittenView<'a> {
    #[serde(flatten)]
    contact: ContactView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_write_trace_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<Value>,
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

/// A record written by the batch, to render once every plan ran.
struct Written {
    id: u64,
    names: Vec<String>,
    new: Option<bool>,
    trace: Option<String>,
    warnings: Vec<Value>,
}

/// Runs a planned batch — whole-batch failure unless `traced`, else 207 for the failures —
/// and renders the answer while the store is still locked.
fn run_batch(
    sim: &SimState,
    store: &mut Store,
    plans: Vec<InputPlan>,
    traced: bool,
    origin: &ChangeOrigin,
    answer: (StatusCode, i64, bool),
) -> Result<(Response, Vec<Change>), ApiError> {
    let (ok_status, started, with_new_flag) = answer;
    let portal = sim.config.portal_id;
    if !traced {
        if let Some(Err(error)) = plans.iter().map(|p| &p.plan).find(|p| p.is_err()) {
            return Err(write_error(error, portal));
        }
    }
    let now = sim.now_ms();
    let mut written = Vec::new();
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    for InputPlan {
        trace,
        warnings,
        plan,
    } in plans
    {
        let (id, values, new) = match plan {
            Ok(Planned::Create(values)) => {
                let (id, made) = store.create(&values, now, origin);
                changes.extend(made);
                (id, values, true)
            }
            Ok(Planned::Update(id, values)) => {
                changes.extend(store.apply(id, &values, now, origin));
                (id, values, false)
            }
            Err(error) => {
                let api = write_error(&error, portal);
                errors.push(standard_error(
                    &api,
                    "objectWriteTraceId",
                    &[trace.unwrap_or_default()],
                ));
                continue;
            }
        };
        written.push(Written {
            id,
            names: written_names(&values),
            new: with_new_flag.then_some(new),
            trace,
            warnings,
        });
    }
    let store = &*store;
    let results = written
        .iter()
        .filter_map(|w| {
            let contact = store.live.get(&w.id)?;
            Some(WrittenView {
                contact: contact.view(&w.names, &store.properties),
                new: w.new,
                object_write_trace_id: w.trace.clone(),
                warnings: w.warnings.clone(),
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

fn all_traced<T>(inputs: &[T], trace: impl Fn(&T) -> Option<&String>) -> bool {
    let mut seen = std::collections::HashSet::new();
    !inputs.is_empty()
        && inputs
            .iter()
            .all(|input| trace(input).is_some_and(|t| !t.is_empty() && seen.insert(t.clone())))
}

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
pub async fn create(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path(path): Path<ObjectPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&path.object_type)?;
    let batch: Batch<ObjectInput> = parse_body(&body)?;
    check_limit(batch.inputs.len())?;
    let traced = all_traced(&batch.inputs, |i| i.object_write_trace_id.as_ref());
    write_batch(
        &sim,
        &caller,
        &batch.inputs,
        traced,
        (StatusCode::CREATED, false),
        |store, claims, n, input| {
            let mut values = to_values(&input.properties);
            let checked = check_write(store, None, &mut values, claims, n, version)
                .map(|warnings| (warnings, Planned::Create(values)));
            Ok(InputPlan::new(&input.object_write_trace_id, checked))
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
pub async fn update(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path(path): Path<ObjectPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&path.object_type)?;
    let batch: Batch<IdentifiedInput> = parse_body(&body)?;
    check_limit(batch.inputs.len())?;
    let traced = all_traced(&batch.inputs, |i| i.object_write_trace_id.as_ref());
    write_batch(
        &sim,
        &caller,
        &batch.inputs,
        traced,
        (StatusCode::OK, false),
        |store, claims, n, input| {
            let id = value_to_string(&input.id);
            let mut values = to_values(&input.properties);
            let checked = store
                .resolve(&id, input.id_property.as_deref())
                .ok_or(WriteError::NotFound(id))
                .and_then(|target| {
                    let warnings =
                        check_write(store, Some(target), &mut values, claims, n, version)?;
                    claims.claim_id(target, n)?;
                    Ok((warnings, Planned::Update(target, values)))
                });
            Ok(InputPlan::new(&input.object_write_trace_id, checked))
        },
    )
}

/// `POST …/batch/upsert`: by `email` or a unique property; results carry `new`.
pub async fn upsert(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path(path): Path<ObjectPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&path.object_type)?;
    let batch: Batch<IdentifiedInput> = parse_body(&body)?;
    check_limit(batch.inputs.len())?;
    // Partial upserts are not supported when email is the idProperty.
    let traced = all_traced(&batch.inputs, |i| {
        i.object_write_trace_id
            .as_ref()
            .filter(|_| i.id_property.as_deref() != Some(EMAIL))
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
            let checked = match store.resolve(&id, Some(id_property)) {
                Some(target) => check_write(store, Some(target), &mut values, claims, n, version)
                    .and_then(|warnings| {
                        claims.claim_id(target, n)?;
                        Ok((warnings, Planned::Update(target, values)))
                    }),
                None => {
                    values.insert(id_property.to_owned(), id.clone());
                    check_write(store, None, &mut values, claims, n, version)
                        .map(|warnings| (warnings, Planned::Create(values)))
                }
            };
            Ok(InputPlan::new(&input.object_write_trace_id, checked))
        },
    )
}

/// `POST …/batch/archive`: 204 whatever the ids.
pub async fn archive(
    State(sim): State<SimState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<ObjectPath>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&path.object_type)?;
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
