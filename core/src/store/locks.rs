//! Named locks with an expiry: work only one replica may do at a time (the periodic
//! reconcile, setup) takes a lock, renews it while working and releases it when done. A
//! replica that dies holding one loses it when it expires.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Store;
use super::clock::duration_millis;
use super::error::{Result, StoreError};
use super::rows::RowExt;

impl Store {
    /// Takes the lock `name` for `holder` until `ttl` from now, or renews it when `holder`
    /// has it already. Returns whether `holder` has it now; `false` means another holder's
    /// lock has not expired.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn acquire_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let now = self.now_millis();
        let row = sqlx::query(
            "INSERT INTO locks (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE locks.holder = excluded.holder OR locks.expires_at <= $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(duration_millis(ttl)))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("lock acquire"))?;
        Ok(row.is_some())
    }

    /// Releases the lock `name` if `holder` has it. Returns whether it did.
    ///
    /// # Errors
    /// Fails when the database cannot be written; the lock then expires by itself.
    pub async fn release_lock(&self, name: &str, holder: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM locks WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("lock release"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Who holds the lock `name` and until when, if anyone does.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn lock_holder(&self, name: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        let row =
            sqlx::query("SELECT holder, expires_at FROM locks WHERE name = $1 AND expires_at > $2")
                .bind(name)
                .bind(self.now_millis())
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::query("lock lookup"))?;
        row.map(|row| Ok((row.text("holder")?, row.time("expires_at")?)))
            .transpose()
    }
}
