//! The write path on Contact Book's one-request API: the engine's batches are looped over one
//! record at a time, and an upsert (the engine's only create) is a lookup by the unique
//! property followed by a create or an update. A create that fails as a duplicate — someone
//! else created the key in between — turns into an update of the record named in the answer,
//! so repeating an upsert never makes a second contact.

use tte_sync_core::connector::{ConnectorError, CrmWrite, ErrorKind, Result, WriteOutcome};
use tte_sync_core::record::CrmId;

use crate::catalog::EXTERNAL_REF;
use crate::client::Client;
use crate::contact::{self, Contact};

/// Applies `writes` in order, one request (or two) each; one failing record never fails the
/// others.
///
/// # Errors
/// Fails as a whole only when the API refuses the credentials: nothing else could be written.
pub async fn apply(client: &Client, writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>> {
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        let outcome = match write {
            CrmWrite::Upsert {
                id_property,
                key,
                mut properties,
            } => {
                properties.insert(id_property.clone(), key.clone());
                upsert(client, &id_property, &key, &properties).await
            }
            CrmWrite::Update { id, properties } => update(client, &id, &properties)
                .await
                .map(|contact| written(contact, false)),
            CrmWrite::Archive { id } => client
                .archive(&id)
                .await
                .map(|_| WriteOutcome::Archived { id }),
            other => Err(ConnectorError::permanent(format!(
                "contact book cannot apply {other:?}"
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

async fn upsert(
    client: &Client,
    id_property: &str,
    key: &str,
    properties: &std::collections::BTreeMap<String, String>,
) -> Result<WriteOutcome> {
    if id_property != EXTERNAL_REF {
        return Err(ConnectorError::permanent(format!(
            "contact book keeps only `{EXTERNAL_REF}` unique, so it upserts by it, not by \
             `{id_property}`; set `identity.hub_id_in_crm.property: {EXTERNAL_REF}` in the mapping"
        )));
    }
    if let Some(existing) = client.find(EXTERNAL_REF, key).await?.into_iter().next() {
        let body = contact::body_of(properties, Some(&existing));
        let contact = client.update(&CrmId(existing.id), &body.into()).await?;
        return Ok(written(contact, false));
    }
    let body = contact::body_of(properties, None);
    match client.create(&body.clone().into()).await {
        Ok(contact) => Ok(written(contact, true)),
        Err(error) => match error.kind() {
            ErrorKind::Conflict {
                existing_id: Some(existing),
            } => {
                let contact = client.update(existing, &body.into()).await?;
                Ok(written(contact, false))
            }
            _ => Err(error),
        },
    }
}

async fn update(
    client: &Client,
    id: &CrmId,
    properties: &std::collections::BTreeMap<String, String>,
) -> Result<Contact> {
    let current =
        if contact::needs_current(properties) {
            Some(client.get(id).await?.ok_or_else(|| {
                ConnectorError::new(ErrorKind::NotFound, format!("no contact {id}"))
            })?)
        } else {
            None
        };
    let body = contact::body_of(properties, current.as_ref());
    client.update(id, &body.into()).await
}

fn written(contact: Contact, created: bool) -> WriteOutcome {
    WriteOutcome::Written {
        id: CrmId(contact.id),
        created,
    }
}
