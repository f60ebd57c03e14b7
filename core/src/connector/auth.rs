//! Credentials a connector keeps between runs, and the OAuth install capability.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::Result;
use crate::secret::Secret;

/// An OAuth token pair as stored between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    /// The CRM account the token is for (the CRM's account or portal id).
    pub account: String,
    /// The short-lived access token.
    pub access_token: Secret,
    /// The long-lived refresh token.
    pub refresh_token: Secret,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
}

/// Where connectors keep OAuth tokens. The state store implements it; tests may use memory.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The token last saved for this connector and account; with `account` `None`, the one
    /// saved most recently for the connector.
    ///
    /// # Errors
    /// Fails when the store cannot be read.
    async fn load_token(
        &self,
        connector: &str,
        account: Option<&str>,
    ) -> Result<Option<StoredToken>>;

    /// Saves (replaces) the token for its connector and account.
    ///
    /// # Errors
    /// Fails when the store cannot be written.
    async fn save_token(&self, connector: &str, token: &StoredToken) -> Result<()>;

    /// Removes the token of this connector and account (the app was uninstalled). Removing
    /// one that is not there is not an error.
    ///
    /// # Errors
    /// Fails when the store cannot be written.
    async fn forget_token(&self, connector: &str, account: &str) -> Result<()>;

    /// Every account a token is saved for under this connector, sorted. The default knows
    /// only the most recent one; stores that keep several accounts list them all.
    ///
    /// # Errors
    /// Fails when the store cannot be read.
    async fn accounts(&self, connector: &str) -> Result<Vec<String>> {
        Ok(self
            .load_token(connector, None)
            .await?
            .map(|token| token.account)
            .into_iter()
            .collect())
    }
}

/// The OAuth install flow: send the installer to the CRM, take the code it sends back.
#[async_trait]
pub trait OAuthInstall: Send + Sync {
    /// The URL to send the installer to; the CRM redirects back to `redirect_uri` with a code
    /// and this `state`.
    fn authorize_url(&self, redirect_uri: &Url, state: &str) -> Url;

    /// Exchanges the code for tokens and saves them. Returns the account installed into.
    ///
    /// # Errors
    /// Fails when the code is refused (expired, already used, wrong redirect URI) or the
    /// tokens cannot be saved.
    async fn exchange_code(&self, code: &str, redirect_uri: &Url) -> Result<StoredToken>;

    /// Learns the accounts earlier installs saved (through the [`TokenStore`]), so that their
    /// webhooks are accepted after a restart or when another replica ran the install. The host
    /// calls it at startup and when a webhook names an account it does not know. Returns the
    /// accounts now known from installs.
    ///
    /// # Errors
    /// Fails when the token store cannot be read.
    async fn load_installed(&self) -> Result<Vec<String>>;

    /// Uninstalls the app from the installed account, revokes its tokens at the CRM and
    /// forgets them. Returns the account disconnected.
    ///
    /// # Errors
    /// Fails when nothing is installed, the CRM cannot be reached, or the store cannot be
    /// written.
    async fn disconnect(&self) -> Result<String>;

    /// Why the install must be redone (the CRM revoked it), when it must.
    fn reinstall_needed(&self) -> Option<String> {
        None
    }
}
