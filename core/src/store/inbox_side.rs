//! The inbox one side at a time, for reading a backlog of one side's changes in bulk (10to8
//! notifications read by listing): how many of a side's linked items are ready, claiming them, and
//! which claimed items got a new change since they were claimed (so they are handed back at
//! once instead of waiting for the bulk read).

use std::time::Duration;

use super::error::{Result, StoreError};
use super::rows::RowExt;
use super::{InboxItem, Side, Store};

impl Store {
    /// How many of `side`'s items of `connector` whose object is linked could be claimed now.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn count_ready_linked_on(&self, connector: &str, side: Side) -> Result<u64> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM inbox WHERE ready_at <= $3{}",
            super::inbox::linked_on(side, 1, 2)
        );
        let row = sqlx::query(&sql)
            .bind(connector)
            .bind(side.as_str())
            .bind(self.now_millis())
            .fetch_one(&self.reader)
            .await
            .map_err(StoreError::query("inbox count"))?;
        Ok(u64::try_from(row.int("n")?).unwrap_or_default())
    }

    /// As [`Store::claim`], only `side`'s items of `connector` whose object is linked (a
    /// bulk read is for the echoes and edits of linked objects; a new object's change stays
    /// with the other side's news of it).
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing was claimed.
    pub async fn claim_linked_on(
        &self,
        worker: &str,
        connector: &str,
        side: Side,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<InboxItem>> {
        self.claim_of(worker, limit, lease, Some((connector, side)))
            .await
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
