//! Pairs a person kept apart: a 10to8 customer and a CRM record that are different people,
//! whatever their ids or match keys say. Pairing never joins them (`tte-sync unlink`), and
//! linking them again (`tte-sync link`) forgets the mark.

use super::Store;
use super::error::{Result, StoreError};
use super::rows::RowExt;
use crate::record::{CrmId, CustomerUri};

impl Store {
    /// Marks `uri` and `id` as different people (idempotent).
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn keep_apart(&self, connector: &str, uri: &CustomerUri, id: &CrmId) -> Result<()> {
        sqlx::query(
            "INSERT INTO kept_apart (connector, hub_uri, crm_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connector, hub_uri, crm_id) DO NOTHING",
        )
        .bind(connector)
        .bind(uri.as_str())
        .bind(id.as_str())
        .bind(self.now_millis())
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("kept-apart save"))?;
        Ok(())
    }

    /// Forgets that `uri` and `id` were kept apart. Returns whether they were.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn forget_apart(
        &self,
        connector: &str,
        uri: &CustomerUri,
        id: &CrmId,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM kept_apart WHERE connector = $1 AND hub_uri = $2 AND crm_id = $3",
        )
        .bind(connector)
        .bind(uri.as_str())
        .bind(id.as_str())
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("kept-apart delete"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Every pair kept apart on `connector`.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn kept_apart(&self, connector: &str) -> Result<Vec<(CustomerUri, CrmId)>> {
        let rows = sqlx::query(
            "SELECT hub_uri, crm_id FROM kept_apart WHERE connector = $1 ORDER BY hub_uri, crm_id",
        )
        .bind(connector)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::query("kept-apart listing"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    CustomerUri(row.text("hub_uri")?),
                    CrmId(row.text("crm_id")?),
                ))
            })
            .collect()
    }
}
