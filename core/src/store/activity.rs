//! What the dashboard shows about records: each object's last sync status — *failing* (a
//! write that did not happen: it needs a retry or a person) or needing *attention* (a
//! designed outcome an operator may want to look at: a value the CRM refuses kept in 10to8,
//! a possible duplicate, a delete blocked by bookings), each with a [`Reason`] to group by —
//! and an activity log of what was written where (for "recent activity" and
//! "conflicts"), pruned past a cap.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use super::clock::to_millis;
use super::error::{Result, StoreError};
use super::rows::{RowExt, string_enum, to_i64};
use super::{ObjectRef, Side, Store};
use crate::record::{CrmId, CustomerUri};

const STATUS_COLUMNS: &str =
    "connector, side, object_id, status, reason, message, display_name, updated_at";
const ACTIVITY_COLUMNS: &str =
    "at, connector, direction, action, hub_uri, crm_id, display_name, detail";

/// How an object's last sync went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncStatus {
    /// It synced.
    Ok,
    /// A write failed; the message says why. Needs a retry or a person.
    Error,
    /// It synced as designed, with something an operator may want to look at (the reason).
    Attention,
}

string_enum!(SyncStatus, "sync status", {
    SyncStatus::Ok => "ok",
    SyncStatus::Error => "error",
    SyncStatus::Attention => "attention",
});

/// Why an object is failing or needs attention, for grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// None given (an object that synced, or a status saved before reasons were kept).
    None,
    /// A value the other side refuses was replaced by the mapping's placeholder there and
    /// kept where it is (e.g. an email the CRM rejects).
    InvalidValue,
    /// It fits more than one record by the match rules: neither linked nor created until a
    /// person links or keeps apart the records.
    PossibleDuplicate,
    /// A delete was refused because the customer has future bookings.
    DeleteBlocked,
    /// A write was refused or failed.
    WriteFailed,
}

string_enum!(Reason, "status reason", {
    Reason::None => "",
    Reason::InvalidValue => "invalid_value",
    Reason::PossibleDuplicate => "possible_duplicate",
    Reason::DeleteBlocked => "delete_blocked",
    Reason::WriteFailed => "write_failed",
});

impl Reason {
    /// The reason as a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "other",
            Self::InvalidValue => "value refused by the other side, kept with a placeholder",
            Self::PossibleDuplicate => "possible duplicate, waiting for a person",
            Self::DeleteBlocked => "delete blocked by future bookings",
            Self::WriteFailed => "write failed",
        }
    }
}

/// How many objects are in one state for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    /// `error` (failing) or `attention`.
    pub status: SyncStatus,
    /// Why.
    pub reason: Reason,
    /// The reason as a person reads it.
    pub label: &'static str,
    /// How many objects.
    pub count: u64,
}

/// The last sync status of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordStatus {
    /// The object.
    pub object: ObjectRef,
    /// How its last sync went.
    pub status: SyncStatus,
    /// Why it is failing or needs attention.
    pub reason: Reason,
    /// What happened, for the operator (the error when it failed).
    pub message: String,
    /// The person's name, for the dashboard.
    pub display_name: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

impl RecordStatus {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            object: ObjectRef {
                connector: row.text("connector")?,
                side: Side::parse(&row.text("side")?)?,
                object_id: row.text("object_id")?,
            },
            status: SyncStatus::parse(&row.text("status")?)?,
            reason: Reason::parse(&row.text("reason")?)?,
            message: row.text("message")?,
            display_name: row.text("display_name")?,
            updated_at: row.time("updated_at")?,
        })
    }
}

/// Which way a write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// From 10to8 to the CRM.
    HubToCrm,
    /// From the CRM to 10to8.
    CrmToHub,
}

string_enum!(Direction, "direction", {
    Direction::HubToCrm => "hub_to_crm",
    Direction::CrmToHub => "crm_to_hub",
});

/// What was done to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// A record was created on the target side.
    Created,
    /// Fields were copied across.
    Updated,
    /// The CRM record was archived.
    Archived,
    /// The 10to8 customer was deleted.
    Deleted,
    /// Two existing records were linked.
    Linked,
    /// Both sides changed the same field; the policy picked a winner.
    Conflict,
    /// The write failed.
    Failed,
    /// A delete was refused (future bookings); later passes try again.
    Blocked,
}

string_enum!(Action, "activity action", {
    Action::Created => "created",
    Action::Updated => "updated",
    Action::Archived => "archived",
    Action::Deleted => "deleted",
    Action::Linked => "linked",
    Action::Conflict => "conflict",
    Action::Failed => "failed",
    Action::Blocked => "blocked",
});

/// One entry of the activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The connector, e.g. `mycrm`.
    pub connector: String,
    /// Which way it went.
    pub direction: Direction,
    /// What was done.
    pub action: Action,
    /// The 10to8 customer, when known.
    pub hub_uri: Option<CustomerUri>,
    /// The CRM record, when known.
    pub crm_id: Option<CrmId>,
    /// The person's name, for the dashboard.
    pub display_name: String,
    /// More about it: the fields written, the conflict's winner, the error.
    pub detail: String,
}

impl Activity {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            at: row.time("at")?,
            connector: row.text("connector")?,
            direction: Direction::parse(&row.text("direction")?)?,
            action: Action::parse(&row.text("action")?)?,
            hub_uri: row.opt_text("hub_uri")?.map(CustomerUri),
            crm_id: row.opt_text("crm_id")?.map(CrmId),
            display_name: row.text("display_name")?,
            detail: row.text("detail")?,
        })
    }
}

impl Store {
    /// Saves objects' last sync status, replacing what was there, in one transaction.
    /// Messages are shown to operators: never put a secret in them.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn set_record_statuses(&self, statuses: &[RecordStatus]) -> Result<()> {
        let failed = || StoreError::query("record status save");
        let mut tx = self.begin_write("record status save").await?;
        for status in statuses {
            sqlx::query(
                "INSERT INTO record_status (connector, side, object_id, status, message, display_name, updated_at, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (connector, side, object_id) DO UPDATE SET \
                 status = excluded.status, reason = excluded.reason, message = excluded.message, \
                 display_name = excluded.display_name, updated_at = excluded.updated_at",
            )
            .bind(status.object.connector.as_str())
            .bind(status.object.side.as_str())
            .bind(status.object.object_id.as_str())
            .bind(status.status.as_str())
            .bind(status.message.as_str())
            .bind(status.display_name.as_str())
            .bind(to_millis(status.updated_at))
            .bind(status.reason.as_str())
            .execute(&mut *tx)
            .await
            .map_err(failed())?;
        }
        tx.commit().await.map_err(failed())
    }

    /// An object's last sync status.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn record_status(&self, object: &ObjectRef) -> Result<Option<RecordStatus>> {
        let sql = format!(
            "SELECT {STATUS_COLUMNS} FROM record_status \
             WHERE connector = $1 AND side = $2 AND object_id = $3"
        );
        let row = sqlx::query(&sql)
            .bind(object.connector.as_str())
            .bind(object.side.as_str())
            .bind(object.object_id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(StoreError::query("record status lookup"))?;
        row.as_ref().map(RecordStatus::from_row).transpose()
    }

    /// Up to `limit` objects whose last sync failed, most recent first.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn failing_records(&self, limit: u32) -> Result<Vec<RecordStatus>> {
        self.records_in(SyncStatus::Error, limit).await
    }

    /// Up to `limit` objects that need attention, most recent first.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn attention_records(&self, limit: u32) -> Result<Vec<RecordStatus>> {
        self.records_in(SyncStatus::Attention, limit).await
    }

    async fn records_in(&self, status: SyncStatus, limit: u32) -> Result<Vec<RecordStatus>> {
        let sql = format!(
            "SELECT {STATUS_COLUMNS} FROM record_status WHERE status = $1 \
             ORDER BY updated_at DESC, object_id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(status.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(StoreError::query("record status listing"))?;
        rows.iter().map(RecordStatus::from_row).collect()
    }

    /// How many objects' last sync failed.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn count_failing_records(&self) -> Result<u64> {
        self.count_in(SyncStatus::Error).await
    }

    /// How many objects need attention.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn count_attention_records(&self) -> Result<u64> {
        self.count_in(SyncStatus::Attention).await
    }

    async fn count_in(&self, status: SyncStatus) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM record_status WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(StoreError::query("record status count"))?;
        row.count("n")
    }

    /// The failing and attention objects counted by state and reason, failing first, then
    /// the most frequent.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn record_reasons(&self) -> Result<Vec<ReasonCount>> {
        let rows = sqlx::query(
            "SELECT status, reason, COUNT(*) AS n FROM record_status WHERE status <> $1 \
             GROUP BY status, reason",
        )
        .bind(SyncStatus::Ok.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::query("record reason count"))?;
        let mut out = rows
            .iter()
            .map(|row| {
                let reason = Reason::parse(&row.text("reason")?)?;
                Ok(ReasonCount {
                    status: SyncStatus::parse(&row.text("status")?)?,
                    reason,
                    label: reason.label(),
                    count: row.count("n")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|r| (r.status != SyncStatus::Error, std::cmp::Reverse(r.count)));
        Ok(out)
    }

    /// The objects of `connector` whose status has `reason` (e.g. every possible duplicate).
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn objects_with_reason(
        &self,
        connector: &str,
        reason: Reason,
    ) -> Result<Vec<ObjectRef>> {
        let rows = sqlx::query(
            "SELECT side, object_id FROM record_status WHERE connector = $1 AND reason = $2 \
             ORDER BY side, object_id",
        )
        .bind(connector)
        .bind(reason.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::query("record status listing"))?;
        rows.iter()
            .map(|row| {
                Ok(ObjectRef {
                    connector: connector.to_owned(),
                    side: Side::parse(&row.text("side")?)?,
                    object_id: row.text("object_id")?,
                })
            })
            .collect()
    }

    /// Removes the status rows of `reason` on `connector` except those of `keep` (a full
    /// pass clears the possible duplicates that were resolved meanwhile).
    ///
    /// # Errors
    /// Fails when the database cannot be read or written.
    pub async fn clear_reason_except(
        &self,
        connector: &str,
        reason: Reason,
        keep: &[ObjectRef],
    ) -> Result<()> {
        let rows = sqlx::query(
            "SELECT side, object_id FROM record_status WHERE connector = $1 AND reason = $2",
        )
        .bind(connector)
        .bind(reason.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(StoreError::query("record status listing"))?;
        let keep: std::collections::HashSet<(&str, &str)> = keep
            .iter()
            .map(|o| (o.side.as_str(), o.object_id.as_str()))
            .collect();
        let failed = || StoreError::query("record status clear");
        let mut tx = self.begin_write("record status clear").await?;
        for row in &rows {
            let (side, id) = (row.text("side")?, row.text("object_id")?);
            if keep.contains(&(side.as_str(), id.as_str())) {
                continue;
            }
            sqlx::query(
                "DELETE FROM record_status WHERE connector = $1 AND side = $2 AND object_id = $3 AND reason = $4",
            )
            .bind(connector)
            .bind(side.as_str())
            .bind(id.as_str())
            .bind(reason.as_str())
            .execute(&mut *tx)
            .await
            .map_err(failed())?;
        }
        tx.commit().await.map_err(failed())
    }

    /// Appends entries to the activity log and prunes it to its cap, in one transaction.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn log_activity(&self, entries: &[Activity]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let failed = || StoreError::query("activity log");
        let mut tx = self.begin_write("activity log").await?;
        let mut last_id = 0;
        for entry in entries {
            let row = sqlx::query(
                "INSERT INTO activity (at, connector, direction, action, hub_uri, crm_id, display_name, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(to_millis(entry.at))
            .bind(entry.connector.as_str())
            .bind(entry.direction.as_str())
            .bind(entry.action.as_str())
            .bind(entry.hub_uri.as_ref().map(CustomerUri::as_str))
            .bind(entry.crm_id.as_ref().map(CrmId::as_str))
            .bind(entry.display_name.as_str())
            .bind(entry.detail.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(failed())?;
            last_id = row.int("id")?;
        }
        sqlx::query("DELETE FROM activity WHERE id <= $1")
            .bind(last_id - to_i64(self.options.activity_cap))
            .execute(&mut *tx)
            .await
            .map_err(failed())?;
        tx.commit().await.map_err(failed())
    }

    /// Up to `limit` activity entries, newest first; only those of `action` when given (e.g.
    /// [`Action::Conflict`] for the dashboard's conflicts).
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn recent_activity(
        &self,
        limit: u32,
        action: Option<Action>,
    ) -> Result<Vec<Activity>> {
        let rows = match action {
            Some(action) => {
                let sql = format!(
                    "SELECT {ACTIVITY_COLUMNS} FROM activity WHERE action = $1 ORDER BY id DESC LIMIT $2"
                );
                sqlx::query(&sql)
                    .bind(action.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await
            }
            None => {
                let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activity ORDER BY id DESC LIMIT $1");
                sqlx::query(&sql).bind(i64::from(limit)).fetch_all(&self.reader).await
            }
        }
        .map_err(StoreError::query("activity listing"))?;
        rows.iter().map(Activity::from_row).collect()
    }
}
