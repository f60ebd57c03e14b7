//! Contacts: listing, batch reads and batched writes with one outcome per record.
//!
//! Full passes page through the list endpoint (100 per page, cursor `after`), never search,
//! which stops at 10,000 results; `find` searches, a few values at a time. Writes go in
//! batches of 100, every input tagged with an `objectWriteTraceId` so that HubSpot answers
//! 207 multi-status and each error maps back to its input; should a whole batch still be refused for one record's sake, the batch is split
//! in halves until the culprit stands alone. A refusal every record shares (credentials,
//! scope, a missing property, the daily limit) is never split: the remaining batches are not
//! sent, and each write reports it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tte_sync_core::connector::{
    ConnectorError, CrmWrite, ErrorKind, ListQuery, Result, WriteOutcome, properties_with,
};
use tte_sync_core::record::PropertyValue;
use tte_sync_core::{CrmId, CrmRecord};

use crate::client::{Call, HubSpotClient};
use crate::errors::{ErrorBody, classify_record_error};

/// The property HubSpot lists a contact's own id under.
pub const OBJECT_ID: &str = "hs_object_id";
/// Records per list page (HubSpot's maximum).
pub const PAGE_SIZE: usize = 100;
/// Inputs per batch call (HubSpot's maximum).
pub const BATCH_LIMIT: usize = 100;
/// The per-input tag that makes HubSpot answer batches with per-record errors (207).
const TRACE_ID: &str = "objectWriteTraceId";

/// A contact as HubSpot returns it (`SimplePublicObject` and its upsert variant).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiObject {
    id: String,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    object_write_trace_id: Option<String>,
    #[serde(default)]
    new: Option<bool>,
    /// What HubSpot changed or doubted about the written values (2026-09), e.g. a date it
    /// normalised.
    #[serde(default)]
    warnings: Vec<Warning>,
}

/// A `PublicObjectWarning`: written, but not quite as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Warning {
    category: String,
    message: String,
    context: BTreeMap<String, Value>,
}

impl ApiObject {
    fn property(&self, name: &str) -> Option<String> {
        match self.properties.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn into_record(self, requested: &[String]) -> CrmRecord {
        let keep = |name: &str| requested.is_empty() || requested.iter().any(|r| r == name);
        let properties = self
            .properties
            .iter()
            .filter(|(name, _)| keep(name))
            .filter_map(|(name, _)| self.property(name).map(|v| (name.clone(), v.into())))
            .collect();
        CrmRecord {
            id: CrmId(self.id),
            properties,
            archived: self.archived,
            updated_at: self
                .updated_at
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    results: Vec<ApiObject>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
struct Paging {
    next: Option<NextPage>,
}

#[derive(Debug, Deserialize)]
struct NextPage {
    after: String,
}

/// A batch answer, 200 or 207.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BatchAnswer {
    results: Vec<ApiObject>,
    errors: Vec<ErrorBody>,
}

/// Every contact (or every archived one), page by page.
pub fn list(client: &HubSpotClient, query: ListQuery) -> BoxStream<'_, Result<Vec<CrmRecord>>> {
    let properties = query.properties.join(",");
    let archived = query.archived.to_string();
    stream::try_unfold(Some(None::<String>), move |state| {
        let properties = properties.clone();
        let archived = archived.clone();
        let requested = query.properties.clone();
        async move {
            let Some(after) = state else {
                return Ok(None);
            };
            let mut call = Call::new(Method::GET, client.version().contacts())
                .query("limit", PAGE_SIZE.to_string())
                .query("archived", archived);
            if !properties.is_empty() {
                call = call.query("properties", properties);
            }
            if let Some(after) = &after {
                call = call.query("after", after.clone());
            }
            let page: Page = client.json(&call).await?;
            let next = page.paging.and_then(|p| p.next).map(|n| n.after);
            if next.is_some() && next == after {
                return Err(ConnectorError::transient(
                    "hubspot returned the same page cursor twice; retry the listing",
                ));
            }
            let records = page
                .results
                .into_iter()
                .map(|o| o.into_record(&requested))
                .collect();
            Ok(Some((records, next.map(Some))))
        }
    })
    .boxed()
}

/// One contact listed (no properties), tried once: HubSpot answers and takes the token.
///
/// # Errors
/// As the call failed: unreachable, token refused or not installed, rate-limited.
pub async fn check(client: &HubSpotClient) -> Result<()> {
    let call = Call::new(Method::GET, client.version().contacts())
        .query("limit", "1")
        .once();
    client.send(&call).await.map(|_| ())
}

/// The contacts with these ids, in order; `None` for ids HubSpot does not know.
///
/// # Errors
/// Fails when a batch call fails as a whole.
pub async fn read(
    client: &HubSpotClient,
    ids: &[CrmId],
    properties: &[String],
) -> Result<Vec<Option<CrmRecord>>> {
    let mut found: HashMap<String, CrmRecord> = HashMap::with_capacity(ids.len());
    let unique: Vec<&CrmId> = {
        let mut seen = HashSet::new();
        ids.iter().filter(|id| seen.insert(id.as_str())).collect()
    };
    for chunk in unique.chunks(BATCH_LIMIT) {
        let inputs: Vec<Value> = chunk
            .iter()
            .map(|id| json!({ "id": id.as_str() }))
            .collect();
        let call = Call::new(
            Method::POST,
            format!("{}/batch/read", client.version().contacts()),
        )
        .query("archived", "false")
        .json(json!({ "inputs": inputs, "properties": properties, "propertiesWithHistory": [] }));
        let answer: BatchAnswer = client.json(&call).await?;
        for object in answer.results {
            found.insert(object.id.clone(), object.into_record(properties));
        }
    }
    Ok(ids
        .iter()
        .map(|id| found.get(id.as_str()).cloned())
        .collect())
}

/// Values per search call of [`find`]: an `IN` filter of this many emails or URIs keeps the
/// body well under search's 3,000 characters.
const FIND_VALUES_PER_SEARCH: usize = 20;
/// Results per search page (search's maximum).
const SEARCH_PAGE: usize = 200;

/// The live contacts whose `property` holds one of `values`, by search (`IN`, which takes
/// string values lowercased and compares them ignoring case), so finding costs a search call
/// per 20 values instead of a listing. Search is indexed a few moments behind writes: a
/// contact made just now may not be found yet.
///
/// # Errors
/// Fails when a search call fails.
pub async fn find(
    client: &HubSpotClient,
    property: &str,
    values: &[String],
    properties: &[String],
) -> Result<Vec<CrmRecord>> {
    let wanted = properties_with(properties, property);
    let mut found: Vec<CrmRecord> = Vec::new();
    for chunk in values.chunks(FIND_VALUES_PER_SEARCH) {
        let lowered: Vec<String> = chunk.iter().map(|v| v.to_lowercase()).collect();
        let mut after = 0_usize;
        loop {
            let body = json!({
                "filterGroups": [{ "filters": [{
                    "propertyName": property, "operator": "IN", "values": lowered,
                }] }],
                "properties": wanted,
                "limit": SEARCH_PAGE,
                "after": after.to_string(),
            });
            let call = Call::new(
                Method::POST,
                format!("{}/search", client.version().contacts()),
            )
            .search()
            .json(body);
            let page: Page = client.json(&call).await?;
            let more = page.paging.and_then(|p| p.next).is_some() && !page.results.is_empty();
            after += page.results.len();
            for object in page.results {
                let record = object.into_record(&wanted);
                let holds = chunk
                    .iter()
                    .any(|v| record.holds_ignoring_case(property, v));
                if holds && !found.iter().any(|r| r.id == record.id) {
                    found.push(record);
                }
            }
            if !more {
                break;
            }
        }
    }
    Ok(found)
}

/// Which endpoint a write goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Create,
    Upsert(String),
    Update,
    Archive,
}

fn group_of(write: &CrmWrite) -> Option<(Group, String)> {
    match write {
        CrmWrite::Upsert {
            id_property, key, ..
        } => Some((Group::Upsert(id_property.clone()), key.to_lowercase())),
        CrmWrite::Create { key, .. } => Some((Group::Create, key.clone())),
        CrmWrite::Update { id, .. } => Some((Group::Update, id.0.clone())),
        CrmWrite::Archive { id } => Some((Group::Archive, id.0.clone())),
        _ => None,
    }
}

/// The first property of `write` whose value is a list, which no HubSpot property can hold.
fn list_property(write: &CrmWrite) -> Option<&str> {
    let properties = match write {
        CrmWrite::Upsert { properties, .. }
        | CrmWrite::Create { properties, .. }
        | CrmWrite::Update { properties, .. } => properties,
        _ => return None,
    };
    (properties.iter())
        .find(|(_, value)| matches!(value, PropertyValue::List { .. }))
        .map(|(name, _)| name.as_str())
}

/// Splits indices into batches of at most 100 in which no key repeats (a repeated key waits
/// for the next batch, so the later write lands last).
fn batches(indices: &[(usize, String)]) -> Vec<Vec<usize>> {
    let mut batches: Vec<(Vec<usize>, HashSet<&str>)> = Vec::new();
    for (index, key) in indices {
        let last_with_key = batches
            .iter()
            .rposition(|(_, keys)| keys.contains(key.as_str()));
        let start = last_with_key.map_or(0, |p| p + 1);
        let slot = (start..batches.len()).find(|&b| batches[b].0.len() < BATCH_LIMIT);
        let slot = match slot {
            Some(slot) => slot,
            None => {
                batches.push((Vec::new(), HashSet::new()));
                batches.len() - 1
            }
        };
        batches[slot].0.push(*index);
        batches[slot].1.insert(key.as_str());
    }
    batches.into_iter().map(|(indices, _)| indices).collect()
}

/// Applies the writes in batches and says how each went, in input order.
///
/// # Errors
/// Fails as a whole only when nothing could be written because the credentials were refused,
/// a property the writes name does not exist, or the daily limit is spent.
pub async fn write(client: &HubSpotClient, writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>> {
    let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; writes.len()];
    let mut groups: BTreeMap<Group, Vec<(usize, String)>> = BTreeMap::new();
    for (index, write) in writes.iter().enumerate() {
        if let Some(name) = list_property(write) {
            outcomes[index] = Some(WriteOutcome::Failed(ConnectorError::permanent(format!(
                "HubSpot properties hold one value each, but `{name}` was given a list; map the \
                 list with `crm: {{ primary: …, rest: …, separator: … }}` in the mapping"
            ))));
            continue;
        }
        match group_of(write) {
            Some((group, key)) => groups.entry(group).or_default().push((index, key)),
            None => {
                outcomes[index] = Some(WriteOutcome::Failed(ConnectorError::permanent(
                    "this kind of write is not supported by the hubspot connector",
                )));
            }
        }
    }
    let mut work: VecDeque<(Group, Vec<usize>)> = groups
        .into_iter()
        .flat_map(|(group, indices)| {
            batches(&indices)
                .into_iter()
                .map(move |batch| (group.clone(), batch))
        })
        .collect();
    let mut fatal: Option<ConnectorError> = None;
    let mut written_any = false;
    while let Some((group, batch)) = work.pop_front() {
        if let Some(error) = &fatal {
            for index in batch {
                outcomes[index] = Some(WriteOutcome::Failed(error.clone()));
            }
            continue;
        }
        match write_batch(client, &group, &writes, &batch).await {
            Ok(results) => {
                for (index, outcome) in results {
                    written_any |= !matches!(outcome, WriteOutcome::Failed(_));
                    if let WriteOutcome::Failed(error) = &outcome
                        && error.kind().is_systemic()
                        && fatal.is_none()
                    {
                        fatal = Some(error.clone());
                    }
                    outcomes[index] = Some(outcome);
                }
            }
            Err(error) => match error.kind() {
                // Every other batch would be refused the same way.
                kind if kind.is_systemic()
                    || matches!(kind, ErrorKind::RateLimited { daily: true, .. }) =>
                {
                    for &index in &batch {
                        outcomes[index] = Some(WriteOutcome::Failed(error.clone()));
                    }
                    fatal = Some(error);
                }
                ErrorKind::Conflict { .. }
                | ErrorKind::Invalid { .. }
                | ErrorKind::NotFound
                | ErrorKind::Permanent
                    if batch.len() > 1 =>
                {
                    tracing::debug!(size = batch.len(), %error, "Batch refused as a whole; splitting it to find the record at fault.");
                    let (left, right) = batch.split_at(batch.len() / 2);
                    work.push_front((group.clone(), right.to_vec()));
                    work.push_front((group, left.to_vec()));
                }
                _ => {
                    for index in batch {
                        outcomes[index] = Some(WriteOutcome::Failed(error.clone()));
                    }
                }
            },
        }
    }
    if let Some(error) = fatal
        && !written_any
    {
        return Err(error);
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                WriteOutcome::Failed(ConnectorError::transient(
                    "hubspot reported nothing for this record; retry it",
                ))
            })
        })
        .collect())
}

fn written(group: &Group, object: ApiObject) -> WriteOutcome {
    for warning in &object.warnings {
        let context = serde_json::to_string(&warning.context).unwrap_or_default();
        tracing::debug!(
            contact = %object.id,
            category = %warning.category,
            context = %context,
            "HubSpot wrote the contact with a warning: {}",
            warning.message
        );
    }
    WriteOutcome::Written {
        id: CrmId(object.id),
        created: *group == Group::Create || object.new.unwrap_or(false),
    }
}

fn trace_id(index: usize) -> String {
    index.to_string()
}

async fn write_batch(
    client: &HubSpotClient,
    group: &Group,
    writes: &[CrmWrite],
    batch: &[usize],
) -> Result<Vec<(usize, WriteOutcome)>> {
    let (path, inputs): (&str, Vec<Value>) = match group {
        Group::Archive => {
            let inputs: Vec<Value> = batch
                .iter()
                .filter_map(|&i| match &writes[i] {
                    CrmWrite::Archive { id } => Some(json!({ "id": id.as_str() })),
                    _ => None,
                })
                .collect();
            let call = Call::new(
                Method::POST,
                format!("{}/batch/archive", client.version().contacts()),
            )
            .json(json!({ "inputs": inputs }));
            client.send(&call).await?;
            return Ok(batch
                .iter()
                .filter_map(|&i| match &writes[i] {
                    CrmWrite::Archive { id } => {
                        Some((i, WriteOutcome::Archived { id: id.clone() }))
                    }
                    _ => None,
                })
                .collect());
        }
        Group::Upsert(_) => (
            "batch/upsert",
            batch
                .iter()
                .filter_map(|&i| match &writes[i] {
                    CrmWrite::Upsert {
                        id_property,
                        key,
                        properties,
                    } => Some(json!({
                        "id": key,
                        "idProperty": id_property,
                        "properties": properties,
                        TRACE_ID: trace_id(i),
                    })),
                    _ => None,
                })
                .collect(),
        ),
        Group::Create => (
            "batch/create",
            batch
                .iter()
                .filter_map(|&i| match &writes[i] {
                    CrmWrite::Create {
                        id_property,
                        key,
                        properties,
                    } => {
                        let mut properties = properties.clone();
                        properties.insert(id_property.clone(), key.as_str().into());
                        Some(json!({ "properties": properties, TRACE_ID: trace_id(i) }))
                    }
                    _ => None,
                })
                .collect(),
        ),
        Group::Update => (
            "batch/update",
            batch
                .iter()
                .filter_map(|&i| match &writes[i] {
                    CrmWrite::Update { id, properties } => Some(json!({
                        "id": id.as_str(),
                        "properties": properties,
                        TRACE_ID: trace_id(i),
                    })),
                    _ => None,
                })
                .collect(),
        ),
    };
    let call = Call::new(
        Method::POST,
        format!("{}/{path}", client.version().contacts()),
    )
    .json(json!({ "inputs": inputs }));
    let answer: BatchAnswer = client.json(&call).await?;
    Ok(match_answer(group, writes, batch, answer))
}

/// Pairs each result and error of a batch answer with its input: by `objectWriteTraceId`,
/// else by the key (upsert) or id (update), else by position when nothing failed.
fn match_answer(
    group: &Group,
    writes: &[CrmWrite],
    batch: &[usize],
    answer: BatchAnswer,
) -> Vec<(usize, WriteOutcome)> {
    let by_trace: HashMap<String, usize> = batch.iter().map(|&i| (trace_id(i), i)).collect();
    let key_of = |i: usize| -> Option<String> {
        match (&writes[i], group) {
            (CrmWrite::Upsert { key, .. }, _) => Some(key.to_lowercase()),
            (CrmWrite::Update { id, .. }, _) => Some(id.0.clone()),
            _ => None,
        }
    };
    let by_key: HashMap<String, usize> = batch
        .iter()
        .filter_map(|&i| key_of(i).map(|k| (k, i)))
        .collect();
    let mut outcomes: HashMap<usize, WriteOutcome> = HashMap::new();
    for error in answer.errors {
        let traced: Vec<usize> = error
            .context_values(TRACE_ID)
            .iter()
            .filter_map(|t| by_trace.get(t).copied())
            .collect();
        let targets = if traced.is_empty() {
            error
                .context_values("id")
                .iter()
                .filter_map(|id| by_key.get(&id.to_lowercase()).copied())
                .collect()
        } else {
            traced
        };
        let failure = classify_record_error(&error);
        for index in targets {
            outcomes.insert(index, WriteOutcome::Failed(failure.clone()));
        }
    }
    let mut unmatched = Vec::new();
    for object in answer.results {
        let index = object
            .object_write_trace_id
            .as_ref()
            .and_then(|t| by_trace.get(t))
            .copied()
            .or_else(|| match group {
                Group::Upsert(id_property) => object
                    .property(id_property)
                    .and_then(|v| by_key.get(&v.to_lowercase()).copied()),
                Group::Update => by_key.get(&object.id).copied(),
                Group::Create | Group::Archive => None,
            })
            .filter(|index| !outcomes.contains_key(index));
        match index {
            Some(index) => {
                outcomes.insert(index, written(group, object));
            }
            None => unmatched.push(object),
        }
    }
    // Results come in input order with the failed inputs left out: what is left pairs up in
    // order when the counts agree.
    let open: Vec<usize> = batch
        .iter()
        .copied()
        .filter(|i| !outcomes.contains_key(i))
        .collect();
    if open.len() == unmatched.len() {
        for (index, object) in open.into_iter().zip(unmatched) {
            outcomes.insert(index, written(group, object));
        }
    }
    batch
        .iter()
        .filter_map(|&i| outcomes.remove(&i).map(|o| (i, o)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_100_and_never_repeat_a_key() {
        let indices: Vec<(usize, String)> = (0..250)
            .map(|i| (i, format!("k{}", if i == 7 || i == 8 { 1 } else { i })))
            .collect();
        let batches = batches(&indices);
        assert!(batches.iter().all(|b| b.len() <= BATCH_LIMIT));
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 250);
        let first_with_7 = batches.iter().position(|b| b.contains(&7)).unwrap();
        let first_with_8 = batches.iter().position(|b| b.contains(&8)).unwrap();
        assert!(
            first_with_8 > first_with_7,
            "the repeated key waits for a later batch"
        );
        assert_eq!(batches.len(), 3);
    }

    #[test]
    fn the_trace_id_key_is_hubspots_field_name() {
        let input = json!({ TRACE_ID: trace_id(3) });
        assert_eq!(input["objectWriteTraceId"], "3");
    }

    #[test]
    fn multi_status_answers_map_back_by_trace_id() {
        let writes: Vec<CrmWrite> = (0..3)
            .map(|i| CrmWrite::Upsert {
                id_property: "tte_customer_uri".to_owned(),
                key: format!("u{i}"),
                properties: BTreeMap::new(),
            })
            .collect();
        let answer: BatchAnswer = serde_json::from_str(r#"{"status":"COMPLETE","results":[
            {"id":"11","properties":{"tte_customer_uri":"u2"},"new":true},
            {"id":"10","properties":{},"objectWriteTraceId":"0","new":false}],
            "numErrors":1,"errors":[{"status":"error","category":"CONFLICT","message":"Contact already exists. Existing ID: 99","context":{"objectWriteTraceId":["1"]}}]}"#).unwrap();
        let outcomes = match_answer(
            &Group::Upsert("tte_customer_uri".to_owned()),
            &writes,
            &[0, 1, 2],
            answer,
        );
        assert_eq!(outcomes.len(), 3);
        assert!(
            matches!(&outcomes[0], (0, WriteOutcome::Written { id, created: false }) if id.as_str() == "10")
        );
        assert!(
            matches!(&outcomes[1], (1, WriteOutcome::Failed(e)) if *e.kind() == ErrorKind::Conflict { existing_id: Some(CrmId::from("99")) })
        );
        assert!(
            matches!(&outcomes[2], (2, WriteOutcome::Written { id, created: true }) if id.as_str() == "11")
        );
    }
}
