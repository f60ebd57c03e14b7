//! The write path on Contact Book's one-request API. The connector declares so
//! ([`abilities`]): one write per call, several calls in flight, no native upsert. A create is
//! a plain `POST` carrying the 10to8 customer's URI in `external_ref`; the engine records its
//! intent first and finds the contact again by `external_ref` after a crash. A create refused
//! as a duplicate (`external_ref` held by a live contact) fails with the contact it collided
//! with, which the engine links to.

use tte_sync_core::connector::{
    ConnectorError, CrmWrite, ErrorKind, Result, WriteAbilities, WriteOutcome,
};
use tte_sync_core::record::{CrmId, Properties};

use crate::catalog::EXTERNAL_REF;
use crate::client::Client;
use crate::contact::{self, Contact};

/// Requests in flight at once: well within the 500 requests per 10 seconds Contact Book allows,
/// and enough that one-request writes do not run one after another.
const IN_FLIGHT: usize = 4;

/// What the write path can do.
pub fn abilities() -> WriteAbilities {
    WriteAbilities::one_at_a_time(IN_FLIGHT)
}

/// Applies `writes` in order, one request (or two) each; one failing record never fails the
/// others.
///
/// # Errors
/// Fails as a whole only when the API refuses the credentials: nothing else could be written.
pub async fn apply(client: &Client, writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>> {
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        let outcome = match write {
            CrmWrite::Create {
                id_property,
                key,
                mut properties,
            } => {
                properties.insert(id_property.clone(), key.into());
                create(client, &id_property, &properties).await
            }
            CrmWrite::Update { id, properties } => update(client, &id, &properties)
                .await
                .map(|contact| written(contact, false)),
            CrmWrite::Archive { id } => client
                .archive(&id)
                .await
                .map(|_| WriteOutcome::Archived { id }),
            CrmWrite::Upsert { key, .. } => Err(ConnectorError::permanent(format!(
                "contact book has no native upsert (its write abilities say so), so the upsert \
                 of {key} was not sent; send a create, which carries the key in `{EXTERNAL_REF}`"
            ))),
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

async fn create(
    client: &Client,
    id_property: &str,
    properties: &Properties,
) -> Result<WriteOutcome> {
    if id_property != EXTERNAL_REF {
        return Err(ConnectorError::permanent(format!(
            "contact book keeps only `{EXTERNAL_REF}` unique, so the 10to8 URI goes there, not \
             into `{id_property}`; set `identity.hub_id_in_crm.property: {EXTERNAL_REF}` in the \
             mapping"
        )));
    }
    let body = contact::body_of(properties)?;
    let contact = client.create(&body.into()).await?;
    Ok(written(contact, true))
}

async fn update(client: &Client, id: &CrmId, properties: &Properties) -> Result<Contact> {
    let body = contact::body_of(properties)?;
    client.update(id, &body.into()).await
}

fn written(contact: Contact, created: bool) -> WriteOutcome {
    WriteOutcome::Written {
        id: CrmId(contact.id),
        created,
    }
}
