//! Links: which 10to8 customer is which CRM record, per connector, with a snapshot of each
//! side's mapped fields as last synced (the base of the three-way merge).
//!
//! A link is unique both ways: one customer has at most one record and one record at most one
//! customer, per connector.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_core::stream::BoxStream;
use futures_util::stream;
use sqlx::any::AnyRow;

use super::Store;
use super::clock::to_millis;
use super::error::{Result, StoreError};
use super::rows::{IN_CHUNK, RowExt, placeholders, to_json};
use crate::record::{CrmId, CustomerUri};

/// Field values of one side as last synced, by field name.
pub type Snapshot = BTreeMap<String, String>;

/// A 10to8 customer linked to a CRM record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The connector, e.g. `mycrm`.
    pub connector: String,
    /// The 10to8 customer.
    pub hub_uri: CustomerUri,
    /// The CRM record.
    pub crm_id: CrmId,
    /// The customer's mapped fields as last synced.
    pub hub_snapshot: Snapshot,
    /// The record's mapped fields as last synced.
    pub crm_snapshot: Snapshot,
    /// When the link last changed.
    pub updated_at: DateTime<Utc>,
}

impl Link {
    /// A link with empty snapshots, changed now.
    pub fn new(connector: impl Into<String>, hub_uri: CustomerUri, crm_id: CrmId) -> Self {
        Self {
            connector: connector.into(),
            hub_uri,
            crm_id,
            hub_snapshot: Snapshot::new(),
            crm_snapshot: Snapshot::new(),
            updated_at: Utc::now(),
        }
    }

    /// The same link with these snapshots.
    pub fn with_snapshots(mut self, hub: Snapshot, crm: Snapshot) -> Self {
        self.hub_snapshot = hub;
        self.crm_snapshot = crm;
        self
    }

    pub(super) fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            connector: row.text("connector")?,
            hub_uri: CustomerUri(row.text("hub_uri")?),
            crm_id: CrmId(row.text("crm_id")?),
            hub_snapshot: row.json("hub_snapshot", "link snapshot")?,
            crm_snapshot: row.json("crm_snapshot", "link snapshot")?,
            updated_at: row.time("updated_at")?,
        })
    }
}

/// What re-pointing links after a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repointed {
    /// The link that now points at the survivor, if any of the merged objects was linked.
    pub kept: Option<Link>,
    /// Links removed because their object merged into one that already had a link; their
    /// other side is no longer linked to anything.
    pub unlinked: Vec<Link>,
}

/// The columns [`Link::from_row`] reads.
pub(super) const LINK_COLUMNS: &str =
    "connector, hub_uri, crm_id, hub_snapshot, crm_snapshot, updated_at";
const UPSERT: &str = "INSERT INTO links (connector, hub_uri, crm_id, hub_snapshot, crm_snapshot, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (connector, hub_uri) DO UPDATE SET crm_id = excluded.crm_id, \
     hub_snapshot = excluded.hub_snapshot, crm_snapshot = excluded.crm_snapshot, \
     updated_at = excluded.updated_at";

/// Which column identifies the objects being looked up or merged.
#[derive(Clone, Copy)]
enum Key {
    Hub,
    Crm,
}

impl Key {
    fn column(self) -> &'static str {
        match self {
            Key::Hub => "hub_uri",
            Key::Crm => "crm_id",
        }
    }

    fn of(self, link: &Link) -> &str {
        match self {
            Key::Hub => link.hub_uri.as_str(),
            Key::Crm => link.crm_id.as_str(),
        }
    }
}

impl Store {
    /// The link of a 10to8 customer.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn link_by_hub(&self, connector: &str, uri: &CustomerUri) -> Result<Option<Link>> {
        Ok(self
            .links_by(connector, Key::Hub, &[uri.as_str()])
            .await?
            .pop())
    }

    /// The link of a CRM record.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn link_by_crm(&self, connector: &str, id: &CrmId) -> Result<Option<Link>> {
        Ok(self
            .links_by(connector, Key::Crm, &[id.as_str()])
            .await?
            .pop())
    }

    /// The links of these 10to8 customers, in no particular order; customers without a link
    /// are missing from the result.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn links_by_hub(&self, connector: &str, uris: &[CustomerUri]) -> Result<Vec<Link>> {
        let keys: Vec<&str> = uris.iter().map(CustomerUri::as_str).collect();
        self.links_by(connector, Key::Hub, &keys).await
    }

    /// The links of these CRM records, in no particular order; records without a link are
    /// missing from the result.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn links_by_crm(&self, connector: &str, ids: &[CrmId]) -> Result<Vec<Link>> {
        let keys: Vec<&str> = ids.iter().map(CrmId::as_str).collect();
        self.links_by(connector, Key::Crm, &keys).await
    }

    async fn links_by(&self, connector: &str, key: Key, values: &[&str]) -> Result<Vec<Link>> {
        let mut links = Vec::new();
        for chunk in values.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT {LINK_COLUMNS} FROM links WHERE connector = $1 AND {} IN ({})",
                key.column(),
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(connector);
            for value in chunk {
                query = query.bind(*value);
            }
            let rows = query
                .fetch_all(&self.reader)
                .await
                .map_err(StoreError::query("link lookup"))?;
            for row in &rows {
                links.push(Link::from_row(row)?);
            }
        }
        Ok(links)
    }

    /// Saves a link (insert, or replace the customer's link and snapshots).
    ///
    /// # Errors
    /// [`StoreError::LinkConflict`] when the CRM record is linked to another customer;
    /// otherwise fails when the database cannot be written.
    pub async fn upsert_link(&self, link: &Link) -> Result<()> {
        self.upsert_links(std::slice::from_ref(link)).await
    }

    /// Saves links in one transaction: all or none.
    ///
    /// # Errors
    /// [`StoreError::LinkConflict`] (and nothing saved) when a CRM record is linked to another
    /// customer; otherwise fails when the database cannot be written.
    pub async fn upsert_links(&self, links: &[Link]) -> Result<()> {
        let mut tx = self.begin_write("link upsert").await?;
        for link in links {
            let result = sqlx::query(UPSERT)
                .bind(link.connector.as_str())
                .bind(link.hub_uri.as_str())
                .bind(link.crm_id.as_str())
                .bind(to_json(&link.hub_snapshot))
                .bind(to_json(&link.crm_snapshot))
                .bind(to_millis(link.updated_at))
                .execute(&mut *tx)
                .await;
            if let Err(error) = result {
                let unique = error
                    .as_database_error()
                    .is_some_and(|e| e.is_unique_violation());
                drop(tx);
                if !unique {
                    return Err(StoreError::query("link upsert")(error));
                }
                let holder = self.link_by_crm(&link.connector, &link.crm_id).await?;
                return Err(StoreError::LinkConflict {
                    connector: link.connector.clone(),
                    crm_id: link.crm_id.to_string(),
                    hub_uri: holder.map_or_else(|| "another customer".to_owned(), |l| l.hub_uri.0),
                });
            }
        }
        tx.commit().await.map_err(StoreError::query("link upsert"))
    }

    /// Removes a customer's link. Returns whether there was one.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn delete_link_by_hub(&self, connector: &str, uri: &CustomerUri) -> Result<bool> {
        self.delete_link(connector, Key::Hub, uri.as_str()).await
    }

    /// Removes a CRM record's link. Returns whether there was one.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn delete_link_by_crm(&self, connector: &str, id: &CrmId) -> Result<bool> {
        self.delete_link(connector, Key::Crm, id.as_str()).await
    }

    async fn delete_link(&self, connector: &str, key: Key, value: &str) -> Result<bool> {
        let sql = format!(
            "DELETE FROM links WHERE connector = $1 AND {} = $2",
            key.column()
        );
        let done = sqlx::query(&sql)
            .bind(connector)
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("link delete"))?;
        Ok(done.rows_affected() > 0)
    }

    /// After CRM records `from` merged into `to`: the link of `to` (or else of the first
    /// linked record in `from`) now points at `to`; the other links of the merged records
    /// are removed and returned in [`Repointed::unlinked`].
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing changed.
    pub async fn repoint_crm(
        &self,
        connector: &str,
        from: &[CrmId],
        to: &CrmId,
    ) -> Result<Repointed> {
        let from: Vec<&str> = from.iter().map(CrmId::as_str).collect();
        self.repoint(connector, Key::Crm, &from, to.as_str()).await
    }

    /// After 10to8 customers `from` merged into `to`: as [`Store::repoint_crm`], for the
    /// customer side.
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing changed.
    pub async fn repoint_hub(
        &self,
        connector: &str,
        from: &[CustomerUri],
        to: &CustomerUri,
    ) -> Result<Repointed> {
        let from: Vec<&str> = from.iter().map(CustomerUri::as_str).collect();
        self.repoint(connector, Key::Hub, &from, to.as_str()).await
    }

    async fn repoint(
        &self,
        connector: &str,
        key: Key,
        from: &[&str],
        to: &str,
    ) -> Result<Repointed> {
        let failed = StoreError::query("link re-point");
        let mut order: Vec<&str> = vec![to];
        order.extend(from.iter().copied().filter(|id| *id != to));
        let mut tx = self.begin_write("link re-point").await?;
        let select = format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE connector = $1 AND {} IN ({})",
            key.column(),
            placeholders(2, order.len())
        );
        let mut query = sqlx::query(&select).bind(connector);
        for id in &order {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&mut *tx).await.map_err(failed)?;
        let mut found = rows
            .iter()
            .map(Link::from_row)
            .collect::<Result<Vec<_>>>()?;
        found.sort_by_key(|link| order.iter().position(|id| *id == key.of(link)));
        let mut found = found.into_iter();
        let Some(mut kept) = found.next() else {
            return Ok(Repointed::default());
        };
        let unlinked: Vec<Link> = found.collect();
        let delete = format!(
            "DELETE FROM links WHERE connector = $1 AND {} = $2",
            key.column()
        );
        for link in &unlinked {
            sqlx::query(&delete)
                .bind(connector)
                .bind(key.of(link))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("link re-point"))?;
        }
        if key.of(&kept) != to {
            let update = format!(
                "UPDATE links SET {0} = $3, updated_at = $4 WHERE connector = $1 AND {0} = $2",
                key.column()
            );
            let now = self.now_millis();
            sqlx::query(&update)
                .bind(connector)
                .bind(key.of(&kept))
                .bind(to)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("link re-point"))?;
            match key {
                Key::Hub => kept.hub_uri = CustomerUri(to.to_owned()),
                Key::Crm => kept.crm_id = CrmId(to.to_owned()),
            }
            kept.updated_at = super::clock::from_millis(now)?;
        }
        tx.commit()
            .await
            .map_err(StoreError::query("link re-point"))?;
        Ok(Repointed {
            kept: Some(kept),
            unlinked,
        })
    }

    /// One page of a connector's links in customer URI order, after `after` (keyset paging:
    /// pass the last URI of the previous page).
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn links_page(
        &self,
        connector: &str,
        after: Option<&CustomerUri>,
        limit: u32,
    ) -> Result<Vec<Link>> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE connector = $1 AND hub_uri > $2 \
             ORDER BY hub_uri LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(connector)
            .bind(after.map_or("", CustomerUri::as_str))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(StoreError::query("link listing"))?;
        rows.iter().map(Link::from_row).collect()
    }

    /// Every link of a connector, page by page (`page_size` links at a time, so memory stays
    /// bounded however many there are).
    pub fn links(&self, connector: &str, page_size: u32) -> BoxStream<'_, Result<Vec<Link>>> {
        let connector = connector.to_owned();
        let page_size = page_size.max(1);
        Box::pin(stream::try_unfold(
            Some(None::<CustomerUri>),
            move |cursor| {
                let connector = connector.clone();
                async move {
                    let Some(after) = cursor else {
                        return Ok(None);
                    };
                    let page = self
                        .links_page(&connector, after.as_ref(), page_size)
                        .await?;
                    if page.is_empty() {
                        return Ok(None);
                    }
                    let next = (page.len() == page_size as usize)
                        .then(|| page.last().map(|l| l.hub_uri.clone()));
                    Ok(Some((page, next)))
                }
            },
        ))
    }

    /// How many links a connector has.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn count_links(&self, connector: &str) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM links WHERE connector = $1")
            .bind(connector)
            .fetch_one(&self.reader)
            .await
            .map_err(StoreError::query("link count"))?;
        row.count("n")
    }
}
