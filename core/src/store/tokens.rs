//! OAuth tokens per connector and account: the store is the [`TokenStore`] connectors use.
//! Tokens are stored as given and never logged.

use async_trait::async_trait;

use super::Store;
use super::clock::to_millis;
use super::error::{Result, StoreError};
use super::rows::RowExt;
use crate::connector::{self, ConnectorError, StoredToken, TokenStore};
use crate::secret::Secret;

const COLUMNS: &str = "account, access_token, refresh_token, expires_at";

impl Store {
    /// The token saved for a connector and account; with `account` `None`, the one saved
    /// most recently for the connector.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn token(
        &self,
        connector: &str,
        account: Option<&str>,
    ) -> Result<Option<StoredToken>> {
        let row = match account {
            Some(account) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM oauth_tokens WHERE connector = $1 AND account = $2"
                );
                sqlx::query(&sql)
                    .bind(connector)
                    .bind(account)
                    .fetch_optional(&self.reader)
                    .await
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM oauth_tokens WHERE connector = $1 \
                     ORDER BY updated_at DESC, account LIMIT 1"
                );
                sqlx::query(&sql)
                    .bind(connector)
                    .fetch_optional(&self.reader)
                    .await
            }
        }
        .map_err(StoreError::query("token lookup"))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredToken {
            account: row.text("account")?,
            access_token: Secret::new(row.text("access_token")?),
            refresh_token: Secret::new(row.text("refresh_token")?),
            expires_at: row.time("expires_at")?,
        }))
    }

    /// Every account a token is saved for under `connector`, sorted.
    ///
    /// # Errors
    /// Fails when the database cannot be read.
    pub async fn token_accounts(&self, connector: &str) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT account FROM oauth_tokens WHERE connector = $1 ORDER BY account")
                .bind(connector)
                .fetch_all(&self.reader)
                .await
                .map_err(StoreError::query("token accounts"))?;
        rows.iter().map(|row| row.text("account")).collect()
    }

    /// Saves (replaces) the token of its connector and account.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn put_token(&self, connector: &str, token: &StoredToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_tokens (connector, account, access_token, refresh_token, expires_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connector, account) DO UPDATE SET \
             access_token = excluded.access_token, refresh_token = excluded.refresh_token, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(connector)
        .bind(token.account.as_str())
        .bind(token.access_token.expose())
        .bind(token.refresh_token.expose())
        .bind(to_millis(token.expires_at))
        .bind(self.now_millis())
        .execute(&self.writer)
        .await
        .map_err(StoreError::query("token save"))?;
        Ok(())
    }

    /// Removes the token of a connector and account, if there is one.
    ///
    /// # Errors
    /// Fails when the database cannot be written.
    pub async fn delete_token(&self, connector: &str, account: &str) -> Result<()> {
        sqlx::query("DELETE FROM oauth_tokens WHERE connector = $1 AND account = $2")
            .bind(connector)
            .bind(account)
            .execute(&self.writer)
            .await
            .map_err(StoreError::query("token delete"))?;
        Ok(())
    }
}

/// A store failure as the connector contract reports it: worth retrying, since the database
/// may come back.
fn to_connector_error(error: StoreError) -> ConnectorError {
    ConnectorError::transient(error.to_string())
}

#[async_trait]
impl TokenStore for Store {
    async fn load_token(
        &self,
        connector: &str,
        account: Option<&str>,
    ) -> connector::Result<Option<StoredToken>> {
        self.token(connector, account)
            .await
            .map_err(to_connector_error)
    }

    async fn save_token(&self, connector: &str, token: &StoredToken) -> connector::Result<()> {
        self.put_token(connector, token)
            .await
            .map_err(to_connector_error)
    }

    async fn forget_token(&self, connector: &str, account: &str) -> connector::Result<()> {
        self.delete_token(connector, account)
            .await
            .map_err(to_connector_error)
    }

    async fn accounts(&self, connector: &str) -> connector::Result<Vec<String>> {
        self.token_accounts(connector)
            .await
            .map_err(to_connector_error)
    }
}
