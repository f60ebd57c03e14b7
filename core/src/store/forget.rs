//! Forgetting an object (a privacy deletion): nothing of it stays in the store.

use super::error::{Result, StoreError};
use super::links::{LINK_COLUMNS, Link};
use super::{ObjectRef, Side, Store};

impl Store {
    /// Removes every trace of an object in one transaction: its link and snapshots, inbox
    /// item, dead letter, sync status, pending create and the activity entries naming it.
    /// Returns the link it had, so the engine can deal with the other side (which stays, no
    /// longer linked).
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing was removed.
    pub async fn forget_object(&self, object: &ObjectRef) -> Result<Option<Link>> {
        let failed = || StoreError::query("forget object");
        let column = match object.side {
            Side::Hub => "hub_uri",
            Side::Crm => "crm_id",
        };
        let mut tx = self.begin_write("forget object").await?;
        for table in ["inbox", "dead_letters", "record_status"] {
            let sql = format!(
                "DELETE FROM {table} WHERE connector = $1 AND side = $2 AND object_id = $3"
            );
            sqlx::query(&sql)
                .bind(object.connector.as_str())
                .bind(object.side.as_str())
                .bind(object.object_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(failed())?;
        }
        let mut tables = vec!["activity"];
        tables.push(match object.side {
            Side::Crm => "pending_creates",
            Side::Hub => "pending_crm_creates",
        });
        for table in tables {
            let sql = format!("DELETE FROM {table} WHERE connector = $1 AND {column} = $2");
            sqlx::query(&sql)
                .bind(object.connector.as_str())
                .bind(object.object_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(failed())?;
        }
        let sql = format!(
            "DELETE FROM links WHERE connector = $1 AND {column} = $2 RETURNING {LINK_COLUMNS}"
        );
        let link = sqlx::query(&sql)
            .bind(object.connector.as_str())
            .bind(object.object_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed())?;
        let link = link.as_ref().map(Link::from_row).transpose()?;
        tx.commit().await.map_err(failed())?;
        Ok(link)
    }
}
