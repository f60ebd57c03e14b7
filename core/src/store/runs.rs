//! Run history: each reconcile, live batch or setup, when it ran, how it ended and its
//! summary. The oldest runs are pruned past a cap.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use super::Store;
use super::error::{Result, StoreError};
use super::rows::{RowExt, string_enum, to_i64, to_json};

const COLUMNS: &str = "id, kind, started_at, finished_at, outcome, summary";

/// The id of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunKind {
    /// A full two-way reconcile.
    Reconcile,
    /// Live processing of inbox items.
    Live,
    /// Connector setup (properties, subscriptions).
    Setup,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunOutcome {
    /// Everything went through.
    Succeeded,
    /// It finished, but some records failed (see the summary and the dead letters).
    PartlyFailed,
    /// It stopped on an error.
    Failed,
    /// It was stopped (shutdown, Ctrl-C).
    Aborted,
}

string_enum!(RunKind, "run kind", {
    RunKind::Reconcile => "reconcile",
    RunKind::Live => "live",
    RunKind::Setup => "setup",
});

string_enum!(RunOutcome, "run outcome", {
    RunOutcome::Succeeded => "succeeded",
    RunOutcome::PartlyFailed => "partly_failed",
    RunOutcome::Failed => "failed",
    RunOutcome::Aborted => "aborted",
});

/// A run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// The run's id.
    pub id: RunId,
    /// What it did.
    pub kind: RunKind,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished; `None` while running, or if the process died.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: Option<RunOutcome>,
    /// What it did, as the engine summarized it (counts per direction and action, …).
    pub summary: Option<serde_json::Value>,
}

impl Run {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            id: RunId(row.int("id")?),
            kind: RunKind::parse(&row.text("kind")?)?,
            started_at: row.time("started_at")?,
            finished_at: row.opt_time("finished_at")?,
            outcome: row
                .opt_text("outcome")?
                .as_deref()
                .map(RunOutcome::parse)
                .transpose()?,
            summary: row
                .opt_text("summary")?
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| StoreError::corrupt("run summary", e))?,
        })
    }
}

impl Store {
    /// Records the start of a run, pruning the oldest runs past the cap.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn start_run(&self, kind: RunKind) -> Result<RunId> {
        let failed = || StoreError::query("run start");
        let mut tx = self.begin_write("run start").await?;
        let row = sqlx::query("INSERT INTO runs (kind, started_at) VALUES ($1, $2) RETURNING id")
            .bind(kind.as_str())
            .bind(self.now_millis())
            .fetch_one(&mut *tx)
            .await
            .map_err(failed())?;
        let id = row.int("id")?;
        sqlx::query("DELETE FROM runs WHERE id <= $1")
            .bind(id - to_i64(self.options.run_cap))
            .execute(&mut *tx)
            .await
            .map_err(failed())?;
        tx.commit().await.map_err(failed())?;
        Ok(RunId(id))
    }

    /// Records how a run ended and its summary.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn finish_run(
        &self,
        id: RunId,
        outcome: RunOutcome,
        summary: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query("UPDATE runs SET finished_at = $2, outcome = $3, summary = $4 WHERE id = $1")
            .bind(id.0)
            .bind(self.now_millis())
            .bind(outcome.as_str())
            .bind(to_json(summary))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("run finish"))?;
        Ok(())
    }

    /// The last `limit` runs, newest first.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn recent_runs(&self, limit: u32) -> Result<Vec<Run>> {
        let sql = format!("SELECT {COLUMNS} FROM runs ORDER BY id DESC LIMIT $1");
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("run listing"))?;
        rows.iter().map(Run::from_row).collect()
    }

    /// The last finished run of a kind (the dashboard's "last reconcile").
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn last_finished_run(&self, kind: RunKind) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM runs WHERE kind = $1 AND finished_at IS NOT NULL \
             ORDER BY id DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("run lookup"))?;
        row.as_ref().map(Run::from_row).transpose()
    }
}
