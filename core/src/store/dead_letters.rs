//! Dead letters: changes that failed for good (a permanent error, or every attempt used up),
//! one per object, kept for the operator to read and requeue.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::change::Change;
use super::connect::Backend;
use super::error::{Result, StoreError};
use super::inbox::enqueue_batch;
use super::rows::{RowExt, to_json};
use super::{ObjectRef, Side, Store};

/// The change kind a requeued dead letter carries, beside its original kinds.
pub const REQUEUED_KIND: &str = "retry";
/// How many dead letters one requeue transaction moves.
const REQUEUE_BATCH: i64 = 500;
const COLUMNS: &str = "id, connector, side, object_id, change, error, attempts, failed_at";

/// A change that failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The dead letter's id (for requeueing it).
    pub id: i64,
    /// The object the change was about.
    pub object: ObjectRef,
    /// What changed.
    pub change: Change,
    /// Why it failed, for the operator.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it last failed.
    pub failed_at: DateTime<Utc>,
}

impl DeadLetter {
    fn from_row(row: &AnyRow) -> Result<Self> {
        let attempts = row.int("attempts")?;
        Ok(Self {
            id: row.int("id")?,
            object: ObjectRef {
                connector: row.text("connector")?,
                side: Side::parse(&row.text("side")?)?,
                object_id: row.text("object_id")?,
            },
            change: row.json("change", "dead letter change")?,
            error: row.text("error")?,
            attempts: u32::try_from(attempts)
                .map_err(|_| StoreError::corrupt("attempts", attempts))?,
            failed_at: row.time("failed_at")?,
        })
    }
}

/// Records a dead letter inside a write transaction; an object's earlier dead letter absorbs
/// the change and takes the new error.
pub(super) async fn put_dead_letter(
    conn: &mut AnyConnection,
    backend: Backend,
    object: &ObjectRef,
    mut change: Change,
    error: &str,
    attempts: u32,
    now: i64,
) -> Result<()> {
    let failed = || StoreError::query("dead letter record");
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let select = format!(
        "SELECT change FROM dead_letters WHERE connector = $1 AND side = $2 AND object_id = $3{lock}"
    );
    let earlier = sqlx::query(&select)
        .bind(object.connector.as_str())
        .bind(object.side.as_str())
        .bind(object.object_id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(failed())?;
    if let Some(row) = earlier {
        let mut merged: Change = row.json("change", "dead letter change")?;
        merged.merge(change);
        change = merged;
    }
    sqlx::query(
        "INSERT INTO dead_letters (connector, side, object_id, change, error, attempts, failed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (connector, side, object_id) DO UPDATE SET change = excluded.change, \
         error = excluded.error, attempts = excluded.attempts, failed_at = excluded.failed_at",
    )
    .bind(object.connector.as_str())
    .bind(object.side.as_str())
    .bind(object.object_id.as_str())
    .bind(to_json(&change))
    .bind(error)
    .bind(i64::from(attempts))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(failed())?;
    Ok(())
}

impl Store {
    /// Records a change that failed for good outside the inbox (e.g. during a reconcile).
    /// `error` is shown to operators: never put a secret in it.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn record_dead_letter(
        &self,
        object: &ObjectRef,
        change: Change,
        error: &str,
        attempts: u32,
    ) -> Result<()> {
        let now = self.now_millis();
        let mut tx = self.begin_write("dead letter record").await?;
        put_dead_letter(&mut tx, self.backend, object, change, error, attempts, now).await?;
        tx.commit()
            .await
            .map_err(StoreError::query("dead letter record"))
    }

    /// Up to `limit` dead letters, most recent failure first.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        let sql =
            format!("SELECT {COLUMNS} FROM dead_letters ORDER BY failed_at DESC, id DESC LIMIT $1");
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("dead letter listing"))?;
        rows.iter().map(DeadLetter::from_row).collect()
    }

    /// The dead letter of an object, if it has one.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn dead_letter_for(&self, object: &ObjectRef) -> Result<Option<DeadLetter>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM dead_letters WHERE connector = $1 AND side = $2 AND object_id = $3"
        );
        let row = sqlx::query(&sql)
            .bind(object.connector.as_str())
            .bind(object.side.as_str())
            .bind(object.object_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("dead letter lookup"))?;
        row.as_ref().map(DeadLetter::from_row).transpose()
    }

    /// How many dead letters there are.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn count_dead_letters(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM dead_letters")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("dead letter count"))?;
        row.count("n")
    }

    /// Moves one dead letter back into the inbox, due now (merged into the object's
    /// queued item if it has one). Returns
    /// whether it existed.
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing moved.
    pub async fn requeue_dead_letter(&self, id: i64) -> Result<bool> {
        let sql = format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1");
        Ok(self.requeue_where(&sql, Some(id)).await? > 0)
    }

    /// Moves an object's dead letter back into the inbox. Returns whether it had one.
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing moved.
    pub async fn requeue_dead_letter_for(&self, object: &ObjectRef) -> Result<bool> {
        match self.dead_letter_for(object).await? {
            Some(letter) => self.requeue_dead_letter(letter.id).await,
            None => Ok(false),
        }
    }

    /// Moves every dead letter back into the inbox. Returns how many moved.
    ///
    /// # Errors
    /// Fails when the database cannot be written; batches already moved stay moved.
    pub async fn requeue_all_dead_letters(&self) -> Result<u64> {
        let sql = format!("SELECT {COLUMNS} FROM dead_letters ORDER BY id LIMIT {REQUEUE_BATCH}");
        let mut moved = 0;
        loop {
            let batch = self.requeue_where(&sql, None).await?;
            moved += batch;
            if batch < REQUEUE_BATCH.unsigned_abs() {
                return Ok(moved);
            }
        }
    }

    /// Moves the dead letters `select` finds into the inbox, in one transaction.
    async fn requeue_where(&self, select: &str, id: Option<i64>) -> Result<u64> {
        let failed = || StoreError::query("dead letter requeue");
        let now = self.now_millis();
        let mut tx = self.begin_write("dead letter requeue").await?;
        let mut query = sqlx::query(select);
        if let Some(id) = id {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&mut *tx).await.map_err(failed())?;
        let letters = rows
            .iter()
            .map(DeadLetter::from_row)
            .collect::<Result<Vec<_>>>()?;
        let mut batch: Vec<(ObjectRef, Change, i64)> = letters
            .iter()
            .map(|letter| {
                let mut change = letter.change.clone();
                change.kinds.insert(REQUEUED_KIND.to_owned());
                (letter.object.clone(), change, now)
            })
            .collect();
        batch.sort_by(|a, b| a.0.cmp(&b.0));
        enqueue_batch(&mut tx, now, &batch).await?;
        for letter in &letters {
            sqlx::query("DELETE FROM dead_letters WHERE id = $1")
                .bind(letter.id)
                .execute(&mut *tx)
                .await
                .map_err(failed())?;
        }
        tx.commit().await.map_err(failed())?;
        Ok(letters.len() as u64)
    }
}
