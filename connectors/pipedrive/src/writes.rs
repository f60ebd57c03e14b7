//! The write path on Pipedrive's one-person-per-request API, as the connector declares it
//! ([`abilities`]): one write per call, a few calls in flight, no upsert (Pipedrive has none by
//! a custom field). A create is a `POST` carrying the 10to8 customer's URI in the id custom
//! field; the engine records its intent first and finds the person again by that field after
//! a crash ([`crate::PipedriveConnector::find`]). An update that writes a list reads the
//! person first so that its emails and phones keep their labels.

use serde_json::Value;
use tte_sync_core::connector::{
    ConnectorError, CrmWrite, ErrorKind, Result, WriteAbilities, WriteOutcome,
};
use tte_sync_core::record::{CrmId, Properties};

use crate::client::Client;
use crate::fields::{EMAILS, FieldMap, Fields, PHONES};
use crate::person::{self, Person};

/// What the write path can do with `in_flight` calls at once.
pub fn abilities(in_flight: usize) -> WriteAbilities {
    WriteAbilities::one_at_a_time(in_flight)
}

/// The numeric id Pipedrive knows a person by.
///
/// # Errors
/// `NotFound` for an id that is not a number: no person has it.
pub fn person_id(id: &CrmId) -> Result<u64> {
    id.as_str().parse().map_err(|_| {
        ConnectorError::new(
            ErrorKind::NotFound,
            format!("pipedrive person ids are numbers, so there is no person {id}"),
        )
    })
}

/// Applies `writes` in order, one request each (two for an update of a list); one failing
/// record never fails the others.
///
/// # Errors
/// As a whole only when Pipedrive refuses the token, or the fields cannot be listed.
pub async fn apply(
    client: &Client,
    fields: &Fields,
    writes: Vec<CrmWrite>,
) -> Result<Vec<WriteOutcome>> {
    let names: Vec<&str> = writes.iter().flat_map(written_names).collect();
    let map = fields.covering(client, &names).await?;
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        let outcome = match write {
            CrmWrite::Create {
                id_property,
                key,
                mut properties,
            } => {
                properties.insert(id_property, key.into());
                create(client, &map, &properties).await
            }
            CrmWrite::Update { id, properties } => update(client, &map, &id, &properties).await,
            CrmWrite::Archive { id } => archive(client, id).await,
            CrmWrite::Upsert { key, .. } => Err(ConnectorError::permanent(format!(
                "pipedrive has no upsert by a custom field (its write abilities say so), so the \
                 upsert of {key} was not sent; send a create, which carries the key"
            ))),
            other => Err(ConnectorError::permanent(format!(
                "pipedrive cannot apply {other:?}"
            ))),
        };
        match outcome {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) if *error.kind() == ErrorKind::Unauthorized => return Err(error),
            Err(error) => outcomes.push(WriteOutcome::Failed(error)),
        }
    }
    Ok(outcomes)
}

fn written_names(write: &CrmWrite) -> Vec<&str> {
    match write {
        CrmWrite::Create {
            id_property,
            properties,
            ..
        } => std::iter::once(id_property.as_str())
            .chain(properties.keys().map(String::as_str))
            .collect(),
        CrmWrite::Update { properties, .. } => properties.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

async fn create(client: &Client, map: &FieldMap, properties: &Properties) -> Result<WriteOutcome> {
    let body = person::body_of(properties, map, None)?;
    let person = client.create(&Value::Object(body)).await?;
    Ok(written(&person, true))
}

async fn update(
    client: &Client,
    map: &FieldMap,
    id: &CrmId,
    properties: &Properties,
) -> Result<WriteOutcome> {
    let number = person_id(id)?;
    let writes_a_list = properties.contains_key(EMAILS) || properties.contains_key(PHONES);
    let current = if writes_a_list {
        match client.person(number).await? {
            Some(person) if !person.is_deleted => Some(person),
            _ => return Err(not_found(id)),
        }
    } else {
        None
    };
    let body = person::body_of(properties, map, current.as_ref())?;
    let person = client.update(number, &Value::Object(body)).await?;
    Ok(written(&person, false))
}

async fn archive(client: &Client, id: CrmId) -> Result<WriteOutcome> {
    let number = person_id(&id)?;
    match client.delete(number).await {
        Ok(()) => Ok(WriteOutcome::Archived { id }),
        // Deleted before (or never there): what was asked for holds.
        Err(error) if *error.kind() == ErrorKind::NotFound => Ok(WriteOutcome::Archived { id }),
        Err(error) => Err(error),
    }
}

fn not_found(id: &CrmId) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::NotFound,
        format!("pipedrive has no live person {id}"),
    )
}

fn written(person: &Person, created: bool) -> WriteOutcome {
    WriteOutcome::Written {
        id: CrmId(person.id.to_string()),
        created,
    }
}
