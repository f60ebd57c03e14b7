//! Key/value settings shared by every replica: the generated 10to8 webhook token, OAuth
//! `state` values with an expiry, and the like. Values may be secrets: never log them.

use chrono::{DateTime, Utc};

use super::Store;
use super::clock::to_millis;
use super::error::{Result, StoreError};
use super::rows::RowExt;

impl Store {
    /// A setting's value; `None` when unset or expired.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT value FROM settings WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(key)
        .bind(self.now_millis())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("setting lookup"))?;
        row.map(|row| row.text("value")).transpose()
    }

    /// Sets a setting, replacing any value; it reads as unset after `expires_at` when given.
    /// Expired settings are pruned on the way.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn set_setting(
        &self,
        key: &str,
        value: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let failed = || StoreError::query("setting save");
        let now = self.now_millis();
        let mut tx = self.begin_write("setting save").await?;
        sqlx::query("DELETE FROM settings WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(failed())?;
        sqlx::query(
            "INSERT INTO settings (key, value, expires_at, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(expires_at.map(to_millis))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(failed())?;
        tx.commit().await.map_err(failed())
    }

    /// The setting's value if set (and not expired); otherwise sets it to `value` and returns
    /// that. When replicas race, every one gets the value the first one stored.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        let failed = || StoreError::query("setting save");
        let now = self.now_millis();
        let mut tx = self.begin_write("setting save").await?;
        sqlx::query("DELETE FROM settings WHERE key = $1 AND expires_at <= $2")
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(failed())?;
        sqlx::query(
            "INSERT INTO settings (key, value, expires_at, updated_at) VALUES ($1, $2, NULL, $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(failed())?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(failed())?;
        tx.commit().await.map_err(failed())?;
        row.text("value")
    }

    /// Removes a setting and returns its value if it was set and not expired: a one-time
    /// value (an OAuth `state`) can be taken only once.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn take_setting(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("DELETE FROM settings WHERE key = $1 RETURNING value, expires_at")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("setting take"))?;
        let Some(row) = row else { return Ok(None) };
        let live = row
            .opt_int("expires_at")?
            .is_none_or(|at| at > self.now_millis());
        if live {
            row.text("value").map(Some)
        } else {
            Ok(None)
        }
    }

    /// Removes a setting. Returns whether it was there.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn delete_setting(&self, key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("setting delete"))?;
        Ok(done.rows_affected() > 0)
    }
}
