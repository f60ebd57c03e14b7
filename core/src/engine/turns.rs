//! How a pass gets the right to write. A live batch holds the sync lock from start to end. A
//! full pass reads both sides without it (that takes a while) and then writes chunk by chunk,
//! each chunk under the lock, letting live work go first in between (see `lock`).
//!
//! Between a pass's read and one of its chunks, a live batch may have linked, re-linked or
//! synced some of the chunk's objects, and the pass's copy of them is stale. So a chunk keeps
//! only the work whose links are still as the pass read them; the rest was just handled by the
//! live path, and anything it left over is the next pass's.

use std::collections::HashMap;

use super::EngineError;
use super::lock::SyncLock;
use crate::record::{CrmId, CustomerUri};
use crate::store::{Link, Store};

/// How a pass writes.
#[derive(Clone, Copy)]
pub(crate) enum Turns<'a> {
    /// The caller holds the sync lock for the whole pass (a live batch).
    Held(&'a SyncLock),
    /// The pass takes the lock per chunk (a full pass).
    PerChunk,
}

/// The stored links of a chunk's objects, as they are now.
pub(crate) struct LinksNow {
    by_hub: HashMap<String, Link>,
    by_crm: HashMap<CrmId, Link>,
}

impl LinksNow {
    /// Loads the links of `uris` and `ids`.
    pub(crate) async fn load(
        store: &Store,
        connector: &str,
        uris: &[CustomerUri],
        ids: &[CrmId],
    ) -> Result<Self, EngineError> {
        let by_hub = store
            .links_by_hub(connector, uris)
            .await?
            .into_iter()
            .map(|l| (l.hub_uri.as_str().to_owned(), l))
            .collect();
        let by_crm = store
            .links_by_crm(connector, ids)
            .await?
            .into_iter()
            .map(|l| (l.crm_id.clone(), l))
            .collect();
        Ok(Self { by_hub, by_crm })
    }

    /// Whether the customer's link is still `read` (or still absent).
    pub(crate) fn hub_unchanged(&self, uri: &str, read: Option<&Link>) -> bool {
        same(self.by_hub.get(uri), read)
    }

    /// Whether the record's link is still `read` (or still absent).
    pub(crate) fn crm_unchanged(&self, id: &CrmId, read: Option<&Link>) -> bool {
        same(self.by_crm.get(id), read)
    }
}

fn same(now: Option<&Link>, read: Option<&Link>) -> bool {
    match (now, read) {
        (None, None) => true,
        (Some(now), Some(read)) => {
            now.hub_uri == read.hub_uri
                && now.crm_id == read.crm_id
                && now.updated_at == read.updated_at
                && now.hub_snapshot == read.hub_snapshot
                && now.crm_snapshot == read.crm_snapshot
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SQLITE_MEMORY;

    #[tokio::test]
    async fn a_link_saved_after_the_read_counts_as_changed() {
        let store = Store::open(SQLITE_MEMORY).await.expect("store");
        let uri = CustomerUri::from("https://10to8.test/customer/1/");
        let id = CrmId::from("101");
        let read = Link::new("crm", uri.clone(), id.clone());
        store.upsert_link(&read).await.expect("save");
        let read = store
            .link_by_hub("crm", &uri)
            .await
            .expect("load")
            .expect("link");

        let now = LinksNow::load(
            &store,
            "crm",
            std::slice::from_ref(&uri),
            std::slice::from_ref(&id),
        )
        .await
        .expect("load");
        assert!(now.hub_unchanged(uri.as_str(), Some(&read)));
        assert!(now.crm_unchanged(&id, Some(&read)));
        assert!(!now.hub_unchanged(uri.as_str(), None), "linked meanwhile");

        let mut synced = read.clone();
        synced.hub_snapshot.insert("name".into(), "Ada".into());
        store.upsert_link(&synced).await.expect("save");
        let now = LinksNow::load(
            &store,
            "crm",
            std::slice::from_ref(&uri),
            std::slice::from_ref(&id),
        )
        .await
        .expect("load");
        assert!(
            !now.hub_unchanged(uri.as_str(), Some(&read)),
            "synced meanwhile"
        );
        assert!(!now.crm_unchanged(&id, Some(&read)));
    }
}
