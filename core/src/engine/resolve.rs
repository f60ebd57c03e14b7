//! What a person decides about possible duplicates: `link` a customer and a record (they are
//! the same person) or keep them apart (`unlink`: different people). Both are stored and
//! respected by every later pass; the next pass does the writes a link implies.

use std::collections::{BTreeMap, HashSet};

use super::{Engine, EngineError};
use crate::connector::CrmWrite;
use crate::record::{CrmId, CustomerUri};
use crate::store::Link;
use crate::tte::CustomerPatch;

/// What [`Engine::unlink`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unlinked {
    /// Whether the two were linked (the link was removed and the ids cleared on both sides).
    pub was_linked: bool,
}

impl Engine {
    /// The pairs kept apart, as pairing takes them.
    pub(crate) async fn kept_apart(&self) -> Result<HashSet<(String, CrmId)>, EngineError> {
        Ok(self
            .store
            .kept_apart(self.connector())
            .await?
            .into_iter()
            .map(|(uri, id)| (uri.0, id))
            .collect())
    }

    /// Links customer `uri` and record `id`: they are the same person. Both must exist and
    /// neither be linked to anything else; a mark keeping them apart is forgotten. The next
    /// pass copies fields across and writes the ids into both.
    ///
    /// # Errors
    /// [`EngineError::Refused`] when either does not exist or is linked to another; others
    /// when a side or the store cannot be reached.
    pub async fn link(&self, uri: &CustomerUri, id: &CrmId) -> Result<(), EngineError> {
        if self.tte.get(uri).await?.is_none() {
            return Err(EngineError::Refused(format!(
                "there is no 10to8 customer {uri}; copy the URI from the dashboard or `sync --dry-run`"
            )));
        }
        let found = self.crm.read(std::slice::from_ref(id), &[]).await?;
        if found.into_iter().flatten().next().is_none() {
            return Err(EngineError::Refused(format!(
                "there is no live CRM record {id}; copy the id from the dashboard or `sync --dry-run`"
            )));
        }
        let connector = self.connector();
        let by_hub = self
            .store
            .links_by_hub(connector, std::slice::from_ref(uri))
            .await?;
        let by_crm = self
            .store
            .links_by_crm(connector, std::slice::from_ref(id))
            .await?;
        if by_hub
            .iter()
            .chain(&by_crm)
            .any(|l| l.hub_uri == *uri && l.crm_id == *id)
        {
            self.store.forget_apart(connector, uri, id).await?;
            return Ok(());
        }
        if let Some(other) = by_hub.first() {
            return Err(EngineError::Refused(format!(
                "10to8 customer {uri} is linked to CRM record {}; run `tte-sync unlink {uri} {}` first",
                other.crm_id, other.crm_id
            )));
        }
        if let Some(other) = by_crm.first() {
            return Err(EngineError::Refused(format!(
                "CRM record {id} is linked to 10to8 customer {}; run `tte-sync unlink {} {id}` first",
                other.hub_uri, other.hub_uri
            )));
        }
        self.store.forget_apart(connector, uri, id).await?;
        self.store
            .upsert_links(&[Link::new(connector, uri.clone(), id.clone())])
            .await?;
        Ok(())
    }

    /// Keeps customer `uri` and record `id` apart: they are different people. A link between
    /// them is removed and the ids each holds of the other are cleared, so that neither the
    /// id fields nor the match rules join them again; each is then created on the other side
    /// or matched elsewhere by the next pass.
    ///
    /// # Errors
    /// When a side or the store cannot be reached or written.
    pub async fn unlink(&self, uri: &CustomerUri, id: &CrmId) -> Result<Unlinked, EngineError> {
        let connector = self.connector();
        self.store.keep_apart(connector, uri, id).await?;
        let linked = self
            .store
            .links_by_hub(connector, std::slice::from_ref(uri))
            .await?
            .into_iter()
            .any(|l| l.crm_id == *id);
        if linked {
            self.store.delete_link_by_hub(connector, uri).await?;
        }
        let identity = self.mapping.identity();
        if let Some(customer) = self.tte.get(uri).await? {
            let named = identity.named_crm_ids(&customer).any(|x| x == id.as_str());
            if named {
                let patch = CustomerPatch {
                    custom_fields: Some(BTreeMap::from([(
                        identity.crm_id_custom_field.clone(),
                        String::new(),
                    )])),
                    ..CustomerPatch::default()
                };
                self.tte.patch(uri, &patch).await?;
            }
        }
        let property = identity.hub_id_property.clone();
        let found = self
            .crm
            .read(std::slice::from_ref(id), std::slice::from_ref(&property))
            .await?;
        if let Some(record) = found.into_iter().flatten().next()
            && record.property(&property) == uri.as_str()
        {
            let write = CrmWrite::Update {
                id: id.clone(),
                properties: BTreeMap::from([(property, String::new().into())]),
            };
            if let Some(crate::connector::WriteOutcome::Failed(error)) =
                self.write_crm(vec![write]).await?.into_iter().next()
            {
                return Err(EngineError::Crm(error));
            }
        }
        Ok(Unlinked { was_linked: linked })
    }
}
