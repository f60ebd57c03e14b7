//! The inbox: changes waiting to be processed, one row per object, claimed by workers with
//! leases.
//!
//! - **Coalescing**: a second enqueue for an object merges into its row (earliest due time,
//!   union of kinds and properties) instead of adding one; a webhook burst for one contact is
//!   one item.
//! - **Claims**: a worker claims up to N due items for a lease. PostgreSQL picks them with
//!   `FOR UPDATE SKIP LOCKED`, SQLite with one `UPDATE … RETURNING` under its write lock, so an
//!   object is never claimed by two workers at once. A lease that runs out (a replica crashed)
//!   makes the item claimable again.
//! - **Nothing lost while claimed**: every enqueue bumps the item's `version` and merges its
//!   change into the item. [`Store::complete`] deletes the item only when the version is the
//!   one claimed; otherwise it stays queued, due again, so the change is processed.
//! - **Failures**: [`Store::fail`] counts attempts and schedules a retry; after the last attempt
//!   (or with no retry time) the item moves to the dead letters.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use super::change::Change;
use super::clock::{duration_millis, from_millis, to_millis};
use super::connect::Backend;
use super::dead_letters::put_dead_letter;
use super::error::{Result, StoreError};
use super::rows::{IN_CHUNK, RowExt, to_json};
use super::{ObjectRef, Side, Store};

/// How many objects one enqueue upsert carries (five parameters each).
const UPSERT_CHUNK: usize = 100;
const ITEM_COLUMNS: &str = "inbox.id AS id, inbox.connector AS connector, inbox.side AS side, \
     inbox.object_id AS object_id, inbox.change AS change, inbox.due_at AS due_at, \
     inbox.enqueued_at AS enqueued_at, inbox.version AS version, inbox.claim_seq AS claim_seq, \
     inbox.claimed_by AS claimed_by, inbox.lease_until AS lease_until, \
     inbox.attempts AS attempts, inbox.last_error AS last_error";

/// A change to queue for an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// The object that changed.
    pub object: ObjectRef,
    /// What changed.
    pub change: Change,
    /// When to process it at the earliest (now plus the coalescing window).
    pub due_at: DateTime<Utc>,
}

/// What an enqueue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Objects that got a new item.
    pub inserted: u64,
    /// Objects whose queued item absorbed the change.
    pub merged: u64,
}

/// A queued change, as listed or claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// The item's id.
    pub id: i64,
    /// The object that changed.
    pub object: ObjectRef,
    /// Everything that changed since it was last processed.
    pub change: Change,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// When its oldest unprocessed change arrived.
    pub enqueued_at: DateTime<Utc>,
    /// Bumped by every enqueue; completing checks it to keep changes that arrived meanwhile.
    pub version: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// The worker holding it.
    pub claimed_by: Option<String>,
    /// Until when that worker holds it.
    pub lease_until: Option<DateTime<Utc>>,
    claim_seq: i64,
}

impl InboxItem {
    fn from_row(row: &AnyRow) -> Result<Self> {
        let attempts = row.int("attempts")?;
        Ok(Self {
            id: row.int("id")?,
            object: ObjectRef {
                connector: row.text("connector")?,
                side: Side::parse(&row.text("side")?)?,
                object_id: row.text("object_id")?,
            },
            change: row.json("change", "inbox change")?,
            due_at: row.time("due_at")?,
            enqueued_at: row.time("enqueued_at")?,
            version: row.int("version")?,
            attempts: u32::try_from(attempts)
                .map_err(|_| StoreError::corrupt("attempts", attempts))?,
            last_error: row.opt_text("last_error")?,
            claimed_by: row.opt_text("claimed_by")?,
            lease_until: row.opt_time("lease_until")?,
            claim_seq: row.int("claim_seq")?,
        })
    }
}

/// How completing a claimed item went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Completion {
    /// Done: the item is gone.
    Done,
    /// A change arrived while the item was claimed: it stays queued, due again.
    Requeued,
    /// The lease ran out and another worker claimed the item; that worker finishes it.
    LeaseLost,
}

/// How recording a failed attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailOutcome {
    /// The item is due again at `retry_at`.
    Retrying {
        /// Failed attempts so far.
        attempts: u32,
        /// When it is due again.
        retry_at: DateTime<Utc>,
    },
    /// The item moved to the dead letters.
    DeadLettered {
        /// Failed attempts in all.
        attempts: u32,
    },
    /// The lease ran out and another worker claimed the item.
    LeaseLost,
}

/// The inbox at a glance, for the dashboard and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InboxStats {
    /// Items queued.
    pub depth: u64,
    /// Items a worker could claim now.
    pub ready: u64,
    /// Items held by a worker.
    pub claimed: u64,
    /// The earliest due time of any item.
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// When the oldest unprocessed change arrived.
    pub oldest_enqueued_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Queues changes, merging each into its object's item when there is one. The batch is
    /// one transaction: every change is durable when this returns, or none is.
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing was queued.
    pub async fn enqueue(&self, items: Vec<Enqueue>) -> Result<Enqueued> {
        // Merge the batch per object first: one row per object in the upsert, and sorted keys
        // give a fixed lock order, so two batches cannot deadlock on PostgreSQL.
        let mut batch: BTreeMap<ObjectRef, (Change, i64)> = BTreeMap::new();
        for item in items {
            let due = to_millis(item.due_at);
            match batch.get_mut(&item.object) {
                Some((change, due_at)) => {
                    change.merge(item.change);
                    *due_at = (*due_at).min(due);
                }
                None => {
                    batch.insert(item.object, (item.change, due));
                }
            }
        }
        if batch.is_empty() {
            return Ok(Enqueued::default());
        }
        let batch: Vec<(ObjectRef, Change, i64)> =
            batch.into_iter().map(|(o, (c, d))| (o, c, d)).collect();
        let now = self.now_millis();
        let mut tx = self.begin_write("inbox enqueue").await?;
        let done = enqueue_batch(&mut tx, now, &batch).await?;
        tx.commit()
            .await
            .map_err(StoreError::query("inbox enqueue"))?;
        Ok(done)
    }

    /// Claims up to `limit` due items for `worker` until `lease` from now, oldest due first.
    /// No item is held by two workers at once; items whose lease ran out are claimable again.
    ///
    /// # Errors
    /// Fails when the database cannot be written; then nothing was claimed.
    pub async fn claim(&self, worker: &str, limit: u32, lease: Duration) -> Result<Vec<InboxItem>> {
        self.claim_of(worker, limit, lease, None).await
    }

    /// As [`Store::claim`], only the items of `of` (a connector and side) when given.
    pub(super) async fn claim_of(
        &self,
        worker: &str,
        limit: u32,
        lease: Duration,
        of: Option<(&str, Side)>,
    ) -> Result<Vec<InboxItem>> {
        let now = self.now_millis();
        let until = now.saturating_add(duration_millis(lease));
        let only = match of {
            Some((_, side)) => linked_on(side, 5, 6),
            None => String::new(),
        };
        let picked = format!(
            "SELECT id FROM inbox WHERE ready_at <= $3{only} ORDER BY ready_at, id LIMIT $4"
        );
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
        let mut query = sqlx::query(&sql)
            .bind(worker)
            .bind(until)
            .bind(now)
            .bind(i64::from(limit));
        if let Some((connector, side)) = of {
            query = query.bind(connector).bind(side.as_str());
        }
        let rows = query
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

    /// Finishes a claimed item: deletes it, unless a change arrived since it was claimed —
    /// then it stays queued, due again, with the new change.
    ///
    /// # Errors
    /// Fails when the database cannot be written; the item then stays claimed until its lease
    /// runs out.
    pub async fn complete(&self, item: &InboxItem) -> Result<Completion> {
        let outcomes = self.complete_all(std::slice::from_ref(item)).await?;
        Ok(outcomes.into_iter().next().unwrap_or(Completion::LeaseLost))
    }

    /// Finishes claimed items in one transaction, as [`Store::complete`] does each. Returns
    /// how each went, in the same order.
    ///
    /// # Errors
    /// Fails when the database cannot be written; the items then stay claimed until their
    /// leases run out.
    pub async fn complete_all(&self, items: &[InboxItem]) -> Result<Vec<Completion>> {
        let failed = || StoreError::query("inbox complete");
        let mut outcomes: HashMap<i64, Completion> = HashMap::new();
        let mut tx = self.begin_write("inbox complete").await?;
        for chunk in items.chunks(IN_CHUNK / 3) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "DELETE FROM inbox WHERE (id, claim_seq, version) IN ({}) RETURNING id",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for item in chunk {
                query = query.bind(item.id).bind(item.claim_seq).bind(item.version);
            }
            for row in query.fetch_all(&mut *tx).await.map_err(failed())? {
                outcomes.insert(row.int("id")?, Completion::Done);
            }
            let changed: Vec<&InboxItem> = chunk
                .iter()
                .filter(|item| !outcomes.contains_key(&item.id))
                .collect();
            if changed.is_empty() {
                continue;
            }
            let rows: Vec<String> = (0..changed.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "UPDATE inbox SET claimed_by = NULL, lease_until = NULL, ready_at = due_at, \
                 attempts = 0, last_error = NULL WHERE (id, claim_seq) IN ({}) RETURNING id",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for item in changed {
                query = query.bind(item.id).bind(item.claim_seq);
            }
            for row in query.fetch_all(&mut *tx).await.map_err(failed())? {
                outcomes.insert(row.int("id")?, Completion::Requeued);
            }
        }
        tx.commit().await.map_err(failed())?;
        Ok(items
            .iter()
            .map(|item| {
                outcomes
                    .get(&item.id)
                    .copied()
                    .unwrap_or(Completion::LeaseLost)
            })
            .collect())
    }

    /// Records a failed attempt of a claimed item: due again at `retry_at`, or moved to the
    /// dead letters when `retry_at` is `None` (a permanent error) or the attempts are used up.
    /// A change that arrived while the item was claimed goes along with it (requeueing the dead
    /// letter brings it back). `error` is shown to operators: never put a secret in it.
    ///
    /// # Errors
    /// Fails when the database cannot be written; the item then stays claimed until its lease
    /// runs out.
    pub async fn fail(
        &self,
        item: &InboxItem,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<FailOutcome> {
        let failed = StoreError::query("inbox failure");
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write("inbox failure").await?;
        let select =
            format!("SELECT {ITEM_COLUMNS} FROM inbox WHERE id = $1 AND claim_seq = $2{lock}");
        let row = sqlx::query(&select)
            .bind(item.id)
            .bind(item.claim_seq)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failed)?;
        let Some(row) = row else {
            return Ok(FailOutcome::LeaseLost);
        };
        let current = InboxItem::from_row(&row)?;
        let attempts = current.attempts.saturating_add(1);
        let outcome = match retry_at {
            Some(retry_at) if attempts < self.options.max_attempts => {
                let at = to_millis(retry_at);
                sqlx::query(
                    "UPDATE inbox SET attempts = $2, last_error = $3, due_at = $4, ready_at = $4, \
                     claimed_by = NULL, lease_until = NULL WHERE id = $1",
                )
                .bind(item.id)
                .bind(i64::from(attempts))
                .bind(error)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("inbox failure"))?;
                FailOutcome::Retrying {
                    attempts,
                    retry_at: from_millis(at)?,
                }
            }
            _ => {
                let now = self.now_millis();
                put_dead_letter(
                    &mut tx,
                    self.backend,
                    &current.object,
                    current.change,
                    error,
                    attempts,
                    now,
                )
                .await?;
                sqlx::query("DELETE FROM inbox WHERE id = $1")
                    .bind(item.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("inbox failure"))?;
                tracing::debug!(
                    object = %current.object,
                    attempts,
                    "Inbox item moved to the dead letters."
                );
                FailOutcome::DeadLettered { attempts }
            }
        };
        tx.commit()
            .await
            .map_err(StoreError::query("inbox failure"))?;
        Ok(outcome)
    }

    /// Puts a claimed item back, unprocessed and without counting an attempt, due at `until`
    /// (the engine waits for the other side to catch up). Returns whether the claim was still
    /// held.
    ///
    /// # Errors
    /// Fails when the database cannot be written; the item then waits for its lease.
    pub async fn postpone(&self, item: &InboxItem, until: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE inbox SET due_at = $3, ready_at = $3, claimed_by = NULL, lease_until = NULL \
             WHERE id = $1 AND claim_seq = $2 AND lease_until IS NOT NULL",
        )
        .bind(item.id)
        .bind(item.claim_seq)
        .bind(to_millis(until))
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("inbox postpone"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Releases every item `worker` holds, due again at once (graceful shutdown). Returns how
    /// many.
    ///
    /// # Errors
    /// Fails when the database cannot be written; the items then wait for their leases.
    pub async fn release(&self, worker: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE inbox SET claimed_by = NULL, lease_until = NULL, ready_at = due_at \
             WHERE claimed_by = $1",
        )
        .bind(worker)
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("inbox release"))?;
        Ok(done.rows_affected())
    }

    /// Extends the lease of every item `worker` holds to `lease` from now (for long batches).
    /// Returns how many.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn renew_leases(&self, worker: &str, lease: Duration) -> Result<u64> {
        let until = self.now_millis().saturating_add(duration_millis(lease));
        let done = sqlx::query(
            "UPDATE inbox SET lease_until = $2, ready_at = $2 \
             WHERE claimed_by = $1 AND lease_until IS NOT NULL",
        )
        .bind(worker)
        .bind(until)
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("inbox lease renewal"))?;
        Ok(done.rows_affected())
    }

    /// Whether any item could be claimed now (cheap: one index probe).
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn has_ready(&self) -> Result<bool> {
        let row = sqlx::query("SELECT id FROM inbox WHERE ready_at <= $1 LIMIT 1")
            .bind(self.now_millis())
            .fetch_optional(&self.reader)
            .await
            .map_err(StoreError::query("inbox probe"))?;
        Ok(row.is_some())
    }

    /// The inbox at a glance.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn inbox_stats(&self) -> Result<InboxStats> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS depth, COUNT(CASE WHEN ready_at <= $1 THEN 1 END) AS ready, \
             COUNT(lease_until) AS claimed, MIN(due_at) AS oldest_due, \
             MIN(enqueued_at) AS oldest_enqueued FROM inbox",
        )
        .bind(self.now_millis())
        .fetch_one(&self.reader)
        .await
        .map_err(StoreError::query("inbox stats"))?;
        Ok(InboxStats {
            depth: row.count("depth")?,
            ready: row.count("ready")?,
            claimed: row.count("claimed")?,
            oldest_due_at: row.opt_time("oldest_due")?,
            oldest_enqueued_at: row.opt_time("oldest_enqueued")?,
        })
    }

    /// Up to `limit` queued items, earliest due first (for the dashboard).
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn inbox_items(&self, limit: u32) -> Result<Vec<InboxItem>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM inbox ORDER BY due_at, id LIMIT $1");
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(StoreError::query("inbox listing"))?;
        rows.iter().map(InboxItem::from_row).collect()
    }
}

/// Queues changes (one per object, sorted) inside a write transaction.
///
/// One upsert per chunk inserts the new items and bumps the version of the queued ones, locking
/// them; the changes are then merged in Rust (set unions do not translate to both SQL
/// dialects). Changes always merge, also into a claimed item: should the claimed attempt fail
/// or its worker die, nothing it was processing (a merge's ids, say) is lost. The earliest due
/// time wins, except that the first change since a claim sets its own (the claimed one is
/// being processed). A claimed item stays ready at its lease's end.
pub(super) async fn enqueue_batch(
    conn: &mut AnyConnection,
    now: i64,
    batch: &[(ObjectRef, Change, i64)],
) -> Result<Enqueued> {
    let failed = || StoreError::query("inbox enqueue");
    let mut done = Enqueued::default();
    for chunk in batch.chunks(UPSERT_CHUNK) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = 2 + i * 5;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, $1, 1)",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 4
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO inbox (connector, side, object_id, change, due_at, ready_at, enqueued_at, version) \
             VALUES {} ON CONFLICT (connector, side, object_id) DO UPDATE SET version = inbox.version + 1 \
             RETURNING id, connector, side, object_id, change, due_at, ready_at, version, \
             claimed_version, lease_until",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(now);
        for (object, change, due) in chunk {
            query = query
                .bind(object.connector.as_str())
                .bind(object.side.as_str())
                .bind(object.object_id.as_str())
                .bind(to_json(change))
                .bind(*due);
        }
        let rows = query.fetch_all(&mut *conn).await.map_err(failed())?;
        let incoming: HashMap<(&str, &str, &str), (&Change, i64)> = chunk
            .iter()
            .map(|(o, c, d)| {
                let key = (o.connector.as_str(), o.side.as_str(), o.object_id.as_str());
                (key, (c, *d))
            })
            .collect();
        for row in &rows {
            let version = row.int("version")?;
            if version == 1 {
                done.inserted += 1;
                continue;
            }
            done.merged += 1;
            let (connector, side, object_id) = (
                row.text("connector")?,
                row.text("side")?,
                row.text("object_id")?,
            );
            let Some(&(change, due)) =
                incoming.get(&(connector.as_str(), side.as_str(), object_id.as_str()))
            else {
                return Err(StoreError::corrupt(
                    "inbox item",
                    format!("the upsert returned an object it was not given: {object_id}"),
                ));
            };
            let queued: Change = row.json("change", "inbox change")?;
            let queued_due = row.int("due_at")?;
            let claimed = row.opt_int("lease_until")?.is_some();
            // The upsert bumped the version: one past the claimed one means nothing else
            // arrived since the claim.
            let fresh = claimed && version == row.int("claimed_version")? + 1;
            let mut merged = queued.clone();
            merged.merge(change.clone());
            let (due_at, enqueued_at) = if fresh {
                (due, Some(now))
            } else {
                (queued_due.min(due), None)
            };
            let ready_at = if claimed {
                row.int("ready_at")?
            } else {
                due_at
            };
            if merged == queued && due_at == queued_due && enqueued_at.is_none() {
                // Nothing new but the version bump (a repeated event).
                continue;
            }
            sqlx::query(
                "UPDATE inbox SET change = $2, due_at = $3, ready_at = $4, \
                 enqueued_at = COALESCE($5, enqueued_at) WHERE id = $1",
            )
            .bind(row.int("id")?)
            .bind(to_json(&merged))
            .bind(due_at)
            .bind(ready_at)
            .bind(enqueued_at)
            .execute(&mut *conn)
            .await
            .map_err(failed())?;
        }
    }
    Ok(done)
}

/// The filter to one connector's items on `side` whose object is linked; the connector and
/// the side's name are the query's parameters number `connector` and `side_param`.
pub(super) fn linked_on(side: Side, connector: u8, side_param: u8) -> String {
    let column = match side {
        Side::Hub => "hub_uri",
        Side::Crm => "crm_id",
    };
    format!(
        " AND inbox.connector = ${connector} AND inbox.side = ${side_param} AND EXISTS \
         (SELECT 1 FROM links WHERE links.connector = inbox.connector \
         AND links.{column} = inbox.object_id)"
    )
}
