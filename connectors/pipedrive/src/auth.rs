//! How calls authenticate: an API token in `x-api-token`, or an OAuth app's access token as
//! `Authorization: Bearer`, refreshed before it expires and again once when refused, and saved
//! through the host's token store. An OAuth install's account is the company's `api_domain`
//! (e.g. `https://acme.pipedrive.com`), which its calls go to, as Pipedrive's clients do.

use std::sync::Arc;

use chrono::Utc;
use reqwest::StatusCode;
use serde::Deserialize;
use tte_sync_core::Secret;
use tte_sync_core::connector::{ConnectorError, ErrorKind, Result, StoredToken, TokenStore};
use url::Url;

use crate::NAME;
use crate::config::OAuthConfig;

/// What one call authenticates with.
pub struct Authorization {
    /// The header, e.g. `x-api-token`.
    pub header: &'static str,
    /// Its value.
    pub value: Secret,
    /// The API base of the install, when it is not `api_base_url`.
    pub base: Option<Url>,
    /// The OAuth access token sent, to refresh once if it is refused.
    pub bearer: Option<Secret>,
}

/// The connector's credentials.
pub enum Credentials {
    /// A personal API token.
    Token(Secret),
    /// An OAuth app's install.
    OAuth(Box<OAuthSession>),
}

impl Credentials {
    /// What the next call sends.
    ///
    /// # Errors
    /// `Unauthorized` when nothing is installed or the refresh token is refused.
    pub async fn authorization(&self) -> Result<Authorization> {
        match self {
            Credentials::Token(token) => Ok(Authorization {
                header: crate::client::TOKEN_HEADER,
                value: token.clone(),
                base: None,
                bearer: None,
            }),
            Credentials::OAuth(session) => {
                let token = session.access_token().await?;
                let base = Url::parse(&token.account).ok();
                Ok(Authorization {
                    header: "authorization",
                    value: Secret::new(format!("Bearer {}", token.access_token.expose())),
                    base,
                    bearer: Some(token.access_token),
                })
            }
        }
    }

    /// After `rejected` was refused with 401: whether a refreshed token is worth a try.
    ///
    /// # Errors
    /// `Unauthorized` when the refresh token is refused too.
    pub async fn after_rejection(&self, rejected: &Secret) -> Result<bool> {
        match self {
            Credentials::Token(_) => Ok(false),
            Credentials::OAuth(session) => {
                session.refresh_if_current(rejected).await.map(|()| true)
            }
        }
    }
}

/// `POST /oauth/token`'s answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    expires_in: u64,
    #[serde(default)]
    api_domain: Option<String>,
}

/// An OAuth error body (RFC 6749).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OAuthError {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

/// The OAuth tokens of one install, refreshed as needed and saved through the store.
pub struct OAuthSession {
    config: OAuthConfig,
    http: reqwest::Client,
    store: Arc<dyn TokenStore>,
    current: tokio::sync::Mutex<Option<StoredToken>>,
}

impl OAuthSession {
    /// A session of the app in `config`, keeping its tokens in `store`.
    pub fn new(config: OAuthConfig, http: reqwest::Client, store: Arc<dyn TokenStore>) -> Self {
        Self {
            config,
            http,
            store,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The app's settings.
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    async fn loaded(&self, current: &mut Option<StoredToken>) -> Result<StoredToken> {
        if current.is_none() {
            *current = self.store.load_token(NAME, None).await?;
        }
        current.clone().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Unauthorized,
                "no Pipedrive OAuth token is stored; install the app through /pipedrive/install/start",
            )
        })
    }

    /// The current token, refreshed first when it expires within `refresh_ahead_secs`.
    async fn access_token(&self) -> Result<StoredToken> {
        let mut current = self.current.lock().await;
        let token = self.loaded(&mut current).await?;
        let ahead = chrono::Duration::seconds(self.config.refresh_ahead_secs as i64);
        if token.expires_at - ahead <= Utc::now() {
            let fresh = self.refresh(&token).await?;
            *current = Some(fresh.clone());
            return Ok(fresh);
        }
        Ok(token)
    }

    /// Refreshes unless the current access token is no longer `rejected` (another call
    /// refreshed it already).
    async fn refresh_if_current(&self, rejected: &Secret) -> Result<()> {
        let mut current = self.current.lock().await;
        let token = self.loaded(&mut current).await?;
        if token.access_token != *rejected {
            return Ok(());
        }
        *current = Some(self.refresh(&token).await?);
        Ok(())
    }

    async fn refresh(&self, token: &StoredToken) -> Result<StoredToken> {
        tracing::debug!(account = %token.account, "Refreshing the Pipedrive access token.");
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token.refresh_token.expose()),
        ];
        let answer = self.token_call("oauth/token", &form).await?;
        let fresh = StoredToken {
            account: answer
                .api_domain
                .clone()
                .unwrap_or_else(|| token.account.clone()),
            access_token: Secret::new(answer.access_token),
            refresh_token: answer
                .refresh_token
                .map(Secret::new)
                .unwrap_or_else(|| token.refresh_token.clone()),
            expires_at: Utc::now() + chrono::Duration::seconds(answer.expires_in as i64),
        };
        self.store.save_token(NAME, &fresh).await?;
        Ok(fresh)
    }

    /// Exchanges an authorization code for tokens and saves them.
    ///
    /// # Errors
    /// `Unauthorized` when Pipedrive refuses the code or the app's credentials.
    pub async fn exchange(&self, code: &str, redirect_uri: &Url) -> Result<StoredToken> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
        ];
        let answer = self.token_call("oauth/token", &form).await?;
        let account = answer.api_domain.clone().ok_or_else(|| {
            ConnectorError::permanent(
                "pipedrive's token answer names no `api_domain`, so the company's API is unknown",
            )
        })?;
        let token = StoredToken {
            account,
            access_token: Secret::new(answer.access_token),
            refresh_token: Secret::new(answer.refresh_token.unwrap_or_default()),
            expires_at: Utc::now() + chrono::Duration::seconds(answer.expires_in as i64),
        };
        self.store.save_token(NAME, &token).await?;
        *self.current.lock().await = Some(token.clone());
        Ok(token)
    }

    /// Revokes the install's refresh token (which uninstalls the app) and forgets the tokens.
    ///
    /// # Errors
    /// When nothing is installed, Pipedrive refuses, or the store cannot be written.
    pub async fn disconnect(&self) -> Result<String> {
        let mut current = self.current.lock().await;
        let token = self.loaded(&mut current).await?;
        let form = [
            ("token", token.refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
        ];
        let (status, body) = self.form_call("oauth/revoke", &form).await?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        self.store.forget_token(NAME, &token.account).await?;
        *current = None;
        Ok(token.account)
    }

    /// The accounts installs saved.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn installed(&self) -> Result<Vec<String>> {
        self.store.accounts(NAME).await
    }

    async fn token_call(&self, path: &str, form: &[(&str, &str)]) -> Result<TokenResponse> {
        let (status, body) = self.form_call(path, form).await?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| {
            ConnectorError::transient(format!(
                "pipedrive's token endpoint sent an unreadable answer ({e}); retrying later"
            ))
        })
    }

    async fn form_call(&self, path: &str, form: &[(&str, &str)]) -> Result<(StatusCode, Vec<u8>)> {
        let url =
            self.config.oauth_base_url.join(path).map_err(|e| {
                ConnectorError::permanent(format!("bad `oauth.oauth_base_url`: {e}"))
            })?;
        let response = self
            .http
            .post(url)
            .basic_auth(
                &self.config.client_id,
                Some(self.config.client_secret.expose()),
            )
            .form(form)
            .send()
            .await
            .map_err(|e| {
                ConnectorError::transient(format!("cannot reach pipedrive's OAuth server: {e}"))
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            ConnectorError::transient(format!("pipedrive's OAuth server broke off: {e}"))
        })?;
        Ok((status, body.to_vec()))
    }
}

fn refusal(status: StatusCode, body: &[u8]) -> ConnectorError {
    let detail: OAuthError = serde_json::from_slice(body).unwrap_or_default();
    let reason = detail
        .error_description
        .or(detail.message)
        .or(detail.error)
        .unwrap_or_else(|| "no reason given".to_owned());
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return ConnectorError::transient(format!(
            "pipedrive's OAuth server failed ({status}: {reason}); retrying later"
        ));
    }
    ConnectorError::new(
        ErrorKind::Unauthorized,
        format!(
            "pipedrive refused the OAuth request ({status}: {reason}); check `oauth.client_id` and \
             `oauth.client_secret`, or install the app again through /pipedrive/install/start"
        ),
    )
}
