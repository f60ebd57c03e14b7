//! The inbox one side at a time, for reading a backlog of one side's changes in bulk (10to8
//! notifications read by listing): how many of a side's items are ready, claiming them, and
//! which claimed items got a new change since they were claimed (so they are handed back at
//! once instead of waiting for the bulk read).

use std::time::Duration;

use super::clock::duration_millis;
use super::connect::Backend;
use super::error::{Result, StoreError};
use super::inbox::ITEM_COLUMNS;
use super::rows::RowExt;
use super::{InboxItem, Side, Store};

impl Store {
    /// How many of `side`'s items of `connector` could be claimed now.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn count_ready_on(&self, connector: &str, side: Side) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM inbox WHERE connector = $1 AND side = $2 AND ready_at <= $3",
        )
        .bind(connector)
        .bind(side.as_str())
        .bind(self.now_millis())
        .fetch_one(&self.reader)
        .await
        .map_err(StoreError::query("inbox count"))?;
        Ok(u64::try_from(row.int("n")?).unwrap_or_default())
    }

    /// As [`Store::claim`], only `side`'s items of `connector`.
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing was claimed.
    pub async fn claim_on(
        &self,
        worker: &str,
        connector: &str,
        side: Side,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<InboxItem>> {
        let now = self.now_millis();
        let until = now.saturating_add(duration_millis(lease));
        let picked = "SELECT id FROM inbox WHERE connector = $5 AND side = $6 AND ready_at <= $3 \
             ORDER BY ready_at, id LIMIT $4";
        let sql = match self.backend {
            Backend::Postgres => format!(
                "WITH picked AS ({picked} FOR UPDATE SKIP LOCKED) \
                 UPDATE inbox SET claimed_by = $1, lease_until = $2, ready_at = $2, \
                 claimed_version = inbox.version, claim_seq = inbox.claim_seq + 1 \
                 FROM picked WHERE inbox.id = picked.id RETURNING {ITEM_COLUMNS}"
            ),
            Backend::Sqlite => format!(
                "UPDATE inbox SET claimed_by = $1, lease_until = $2, ready_at = $2, \
                 claimed_version = version, claim_seq = claim_seq + 1 \
                 WHERE id IN ({picked}) RETURNING {ITEM_COLUMNS}"
            ),
        };
        let rows = sqlx::query(&sql)
            .bind(worker)
            .bind(until)
            .bind(now)
            .bind(i64::from(limit))
            .bind(connector)
            .bind(side.as_str())
            .fetch_all(&self.writer)
            .await
            .map_err(StoreError::query("inbox claim"))?;
        let mut items = rows
            .iter()
            .map(InboxItem::from_row)
            .collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|item| (item.due_at, item.id));
        Ok(items)
    }

    /// The ids of items `worker` holds that got a new change since it claimed them.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn changed_while_claimed(&self, worker: &str) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT id FROM inbox WHERE claimed_by = $1 AND version <> claimed_version",
        )
        .bind(worker)
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::query("inbox probe"))?;
        rows.iter().map(|row| row.int("id")).collect()
    }
}
