//! What the dashboard shows about records: each object's last sync status (for "failing
//! records") and an activity log of what was written where (for "recent activity" and
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
    "connector, side, object_id, status, message, display_name, updated_at";
const ACTIVITY_COLUMNS: &str =
    "at, connector, direction, action, hub_uri, crm_id, display_name, detail";

/// How an object's last sync went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncStatus {
    /// It synced.
    Ok,
    /// It failed; the message says why.
    Error,
}

string_enum!(SyncStatus, "sync status", {
    SyncStatus::Ok => "ok",
    SyncStatus::Error => "error",
});

/// The last sync status of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordStatus {
    /// The object.
    pub object: ObjectRef,
    /// How its last sync went.
    pub status: SyncStatus,
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
}

string_enum!(Action, "activity action", {
    Action::Created => "created",
    Action::Updated => "updated",
    Action::Archived => "archived",
    Action::Deleted => "deleted",
    Action::Linked => "linked",
    Action::Conflict => "conflict",
    Action::Failed => "failed",
});

/// One entry of the activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The connector, e.g. `hubspot`.
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
                "INSERT INTO record_status (connector, side, object_id, status, message, display_name, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (connector, side, object_id) DO UPDATE SET \
                 status = excluded.status, message = excluded.message, \
                 display_name = excluded.display_name, updated_at = excluded.updated_at",
            )
            .bind(status.object.connector.as_str())
            .bind(status.object.side.as_str())
            .bind(status.object.object_id.as_str())
            .bind(status.status.as_str())
            .bind(status.message.as_str())
            .bind(status.display_name.as_str())
            .bind(to_millis(status.updated_at))
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
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("record status lookup"))?;
        row.as_ref().map(RecordStatus::from_row).transpose()
    }

    /// Up to `limit` objects whose last sync failed, most recent first.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn failing_records(&self, limit: u32) -> Result<Vec<RecordStatus>> {
        let sql = format!(
            "SELECT {STATUS_COLUMNS} FROM record_status WHERE status = $1 \
             ORDER BY updated_at DESC, object_id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(SyncStatus::Error.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("failing record listing"))?;
        rows.iter().map(RecordStatus::from_row).collect()
    }

    /// How many objects' last sync failed.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn count_failing_records(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM record_status WHERE status = $1")
            .bind(SyncStatus::Error.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("failing record count"))?;
        row.count("n")
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
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activity ORDER BY id DESC LIMIT $1");
                sqlx::query(&sql).bind(i64::from(limit)).fetch_all(&self.pool).await
            }
        }
        .map_err(StoreError::query("activity listing"))?;
        rows.iter().map(Activity::from_row).collect()
    }
}
