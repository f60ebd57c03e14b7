//! Pending creates: the intent to create a 10to8 customer for a CRM record, or a CRM record
//! for a 10to8 customer where the CRM has no native upsert, recorded before the create and
//! resolved once the link is saved. After a crash between the two, the engine finds the
//! intent and looks for the object it may have created instead of creating another.

use chrono::{DateTime, Utc};

use super::Store;
use super::error::{Result, StoreError};
use super::rows::{IN_CHUNK, RowExt, placeholders};
use crate::record::{CrmId, CustomerUri};

/// A create in 10to8 that was started and not yet confirmed by a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCreate {
    /// The connector, e.g. `mycrm`.
    pub connector: String,
    /// The CRM record a customer is being created for.
    pub crm_id: CrmId,
    /// When the intent was first recorded.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Records the intent to create customers for these CRM records, before creating them.
    /// An intent already recorded keeps its original time.
    ///
    /// # Errors
    /// Fails when the database cannot be written; then do not create the customers.
    pub async fn record_pending_creates(&self, connector: &str, ids: &[CrmId]) -> Result<()> {
        let keys: Vec<&str> = ids.iter().map(CrmId::as_str).collect();
        self.record_intents(Intents::InHub, connector, &keys).await
    }

    /// Resolves the intents of these CRM records (the customer exists and is linked, or the
    /// create is abandoned). Returns how many were pending.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn resolve_pending_creates(&self, connector: &str, ids: &[CrmId]) -> Result<u64> {
        let keys: Vec<&str> = ids.iter().map(CrmId::as_str).collect();
        self.resolve_intents(Intents::InHub, connector, &keys).await
    }

    /// The unresolved intents of a connector, oldest first.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn pending_creates(&self, connector: &str) -> Result<Vec<PendingCreate>> {
        let rows = sqlx::query(
            "SELECT connector, crm_id, created_at FROM pending_creates WHERE connector = $1 \
             ORDER BY created_at, crm_id",
        )
        .bind(connector)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::query("pending create listing"))?;
        rows.iter()
            .map(|row| {
                Ok(PendingCreate {
                    connector: row.text("connector")?,
                    crm_id: CrmId(row.text("crm_id")?),
                    created_at: row.time("created_at")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Records the intent to create CRM records for these customers, before creating them.
    /// An intent already recorded keeps its original time.
    ///
    /// # Errors
    /// Fails when the database cannot be written; then do not create the records.
    pub async fn record_pending_crm_creates(
        &self,
        connector: &str,
        uris: &[CustomerUri],
    ) -> Result<()> {
        let keys: Vec<&str> = uris.iter().map(CustomerUri::as_str).collect();
        self.record_intents(Intents::InCrm, connector, &keys).await
    }

    /// Which of these customers have a CRM create pending (started, not confirmed by a link).
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn pending_crm_creates_of(
        &self,
        connector: &str,
        uris: &[CustomerUri],
    ) -> Result<Vec<CustomerUri>> {
        let mut pending = Vec::new();
        for chunk in uris.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT hub_uri FROM pending_crm_creates WHERE connector = $1 AND hub_uri IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(connector);
            for uri in chunk {
                query = query.bind(uri.as_str());
            }
            let rows = query
                .fetch_all(&self.reader)
                .await
                .map_err(StoreError::query("pending CRM create listing"))?;
            for row in &rows {
                pending.push(CustomerUri(row.text("hub_uri")?));
            }
        }
        Ok(pending)
    }

    /// Resolves the CRM create intents of these customers (linked, or abandoned). Returns how
    /// many were pending.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn resolve_pending_crm_creates(
        &self,
        connector: &str,
        uris: &[CustomerUri],
    ) -> Result<u64> {
        let keys: Vec<&str> = uris.iter().map(CustomerUri::as_str).collect();
        self.resolve_intents(Intents::InCrm, connector, &keys).await
    }

    async fn record_intents(&self, intents: Intents, connector: &str, keys: &[&str]) -> Result<()> {
        let (table, column, what) = (intents.table(), intents.column(), intents.recording());
        let sql = format!(
            "INSERT INTO {table} (connector, {column}, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (connector, {column}) DO NOTHING"
        );
        let now = self.now_millis();
        let mut tx = self.begin_write(what).await?;
        for key in keys {
            sqlx::query(&sql)
                .bind(connector)
                .bind(*key)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(what))?;
        }
        tx.commit().await.map_err(StoreError::query(what))
    }

    async fn resolve_intents(
        &self,
        intents: Intents,
        connector: &str,
        keys: &[&str],
    ) -> Result<u64> {
        let (table, column, what) = (intents.table(), intents.column(), intents.resolving());
        let mut resolved = 0;
        for chunk in keys.chunks(IN_CHUNK) {
            let sql = format!(
                "DELETE FROM {table} WHERE connector = $1 AND {column} IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(connector);
            for key in chunk {
                query = query.bind(*key);
            }
            resolved += query
                .execute(&self.writer)
                .await
                .map_err(StoreError::query(what))?
                .rows_affected();
        }
        Ok(resolved)
    }
}

/// Which side's creates a set of intents is for.
#[derive(Debug, Clone, Copy)]
enum Intents {
    /// Customers to create in 10to8, keyed by CRM id.
    InHub,
    /// Records to create in a CRM without native upsert, keyed by customer URI.
    InCrm,
}

impl Intents {
    fn table(self) -> &'static str {
        match self {
            Self::InHub => "pending_creates",
            Self::InCrm => "pending_crm_creates",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Self::InHub => "crm_id",
            Self::InCrm => "hub_uri",
        }
    }

    fn recording(self) -> &'static str {
        match self {
            Self::InHub => "pending create record",
            Self::InCrm => "pending CRM create record",
        }
    }

    fn resolving(self) -> &'static str {
        match self {
            Self::InHub => "pending create resolve",
            Self::InCrm => "pending CRM create resolve",
        }
    }
}
