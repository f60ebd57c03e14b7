//! Authentication: a static token (project app, Service Key or legacy private app), or OAuth
//! tokens kept through a [`TokenStore`].
//!
//! OAuth goes through the versioned endpoints (`/oauth/2026-09/token`, `…/introspect`,
//! `…/revoke`, form bodies). Access tokens live 30 minutes. [`OAuthSession`] refreshes from
//! the token's lifetime before it expires, and again when HubSpot refuses a token with 401
//! (once per refused token: concurrent callers that saw the same refusal share one refresh,
//! under one lock), and always keeps the newest refresh token HubSpot returns. A refresh token
//! HubSpot calls invalid or revoked (`invalid_grant`, `BAD_REFRESH_TOKEN`, `access_denied`)
//! marks the install as needing a reinstall: calls fail at once with that message instead of
//! asking HubSpot again, until a new install succeeds. The developer API key (legacy public
//! apps' webhook management) is sent as the `hapikey` query parameter by the client. No secret
//! ever reaches a log line or an error message: URLs in transport errors are stripped before
//! they are shown.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use chrono::Utc;
use serde::Deserialize;
use tte_sync_core::Secret;
use tte_sync_core::connector::{
    ConnectorError, ErrorKind, OAuthInstall, Result, StoredToken, TokenStore,
};
use tte_sync_core::http::stats;
use url::Url;

use crate::NAME;
use crate::config::OAuthConfig;
use crate::version::ApiVersion;

/// Path prefix of the legacy access-token metadata endpoint (tells which portal a token is
/// for), used only in the `v3` legacy mode; dated versions introspect instead.
const LEGACY_ACCESS_TOKEN_INFO_PATH: &str = "/oauth/v1/access-tokens/";
/// The start of every "install again" message, which the dashboard and `status` show.
pub const REINSTALL_NEEDED: &str = "reinstall needed";

/// How a call authenticates.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A static bearer token: a project app's static token, a Service Key or a legacy
    /// private-app token.
    Static(Secret),
    /// OAuth tokens of an installed app.
    OAuth(Arc<OAuthSession>),
}

impl Credentials {
    /// The bearer token to send now (refreshing an OAuth token that is about to expire).
    ///
    /// # Errors
    /// `Unauthorized` when no token is installed or the refresh is refused.
    pub async fn bearer(&self) -> Result<Secret> {
        match self {
            Credentials::Static(token) => Ok(token.clone()),
            Credentials::OAuth(session) => session.access_token().await,
        }
    }

    /// Reacts to HubSpot refusing `rejected` with 401: refreshes the OAuth token unless
    /// another call already did. Returns whether repeating the call can help.
    ///
    /// # Errors
    /// `Unauthorized` when the refresh is refused.
    pub async fn after_rejection(&self, rejected: &Secret) -> Result<bool> {
        match self {
            Credentials::Static(_) => Ok(false),
            Credentials::OAuth(session) => {
                session.refresh_if_current(rejected).await?;
                Ok(true)
            }
        }
    }

    /// The HubSpot account the credentials act in, when known.
    pub async fn account(&self) -> Option<String> {
        match self {
            Credentials::Static(_) => None,
            Credentials::OAuth(session) => session.current_account().await,
        }
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    expires_in: u64,
    #[serde(default)]
    hub_id: Option<u64>,
}

/// The introspection (or legacy metadata) endpoint's answer: only the part we need.
#[derive(Deserialize)]
struct TokenInfo {
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    hub_id: Option<u64>,
}

/// An OAuth error body: RFC 6749 (`error`, `error_description`) beside HubSpot's older
/// `status` and `message`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    status: Option<String>,
    message: Option<String>,
}

impl OAuthErrorBody {
    /// Whether the grant is gone for good: revoked, uninstalled, or the account deleted.
    /// Branches on the RFC 6749 `error` first, as HubSpot advises, then on its `status`.
    fn grant_is_gone(&self) -> bool {
        match self.error.as_deref() {
            Some("invalid_grant" | "access_denied") => true,
            Some(_) => false,
            None => matches!(
                self.status.as_deref(),
                Some("BAD_REFRESH_TOKEN" | "BAD_HUB")
            ),
        }
    }

    /// What HubSpot said went wrong, for a person.
    pub(crate) fn reason(&self) -> &str {
        self.error_description
            .as_deref()
            .or(self.message.as_deref())
            .or(self.error.as_deref())
            .unwrap_or("no reason given")
    }
}

/// Why a token request failed.
enum TokenFailure {
    /// The grant is gone (revoked, uninstalled, account deleted): only a new install helps.
    GrantGone(ConnectorError),
    /// Anything else.
    Other(ConnectorError),
}

impl TokenFailure {
    fn into_error(self) -> ConnectorError {
        match self {
            TokenFailure::GrantGone(error) | TokenFailure::Other(error) => error,
        }
    }
}

/// The OAuth tokens of one installation, refreshed as needed and saved through the store.
pub struct OAuthSession {
    config: OAuthConfig,
    version: ApiVersion,
    api_base: Url,
    http: reqwest::Client,
    store: Arc<dyn TokenStore>,
    current: tokio::sync::Mutex<Option<StoredToken>>,
    portals: Arc<RwLock<BTreeSet<String>>>,
    /// Set when HubSpot called the refresh token revoked: why, and which refresh token, for
    /// every call until a new install saves another one (here or on another replica).
    revoked: RwLock<Option<(String, Secret)>>,
}

impl OAuthSession {
    /// A session for the app in `config`, keeping tokens in `store`; every portal it installs
    /// into (or finds in the store) is added to `portals`, whose webhooks are then accepted.
    pub fn new(
        config: OAuthConfig,
        version: ApiVersion,
        api_base: Url,
        http: reqwest::Client,
        store: Arc<dyn TokenStore>,
        portals: Arc<RwLock<BTreeSet<String>>>,
    ) -> Self {
        Self {
            config,
            version,
            api_base,
            http,
            store,
            current: tokio::sync::Mutex::new(None),
            portals,
            revoked: RwLock::new(None),
        }
    }

    fn refresh_ahead(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.config.refresh_ahead_secs).unwrap_or(0))
    }

    /// Why the install needs to be redone, when HubSpot called its refresh token revoked.
    pub fn revoked(&self) -> Option<String> {
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(reason, _)| reason.clone())
    }

    /// Fails at once while the install is known revoked, unless the store holds a token of a
    /// newer install by now (then that one is used).
    async fn fail_if_revoked(&self, current: &mut Option<StoredToken>) -> Result<()> {
        let Some((reason, refresh_token)) = self
            .revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return Ok(());
        };
        let stored = self.store.load_token(NAME, None).await?;
        match stored {
            Some(token) if token.refresh_token != refresh_token => {
                self.remember_portal(&token.account);
                *current = Some(token);
                self.set_revoked(None);
                Ok(())
            }
            _ => Err(ConnectorError::new(ErrorKind::Unauthorized, reason)),
        }
    }

    fn set_revoked(&self, revoked: Option<(String, Secret)>) {
        *self.revoked.write().unwrap_or_else(|e| e.into_inner()) = revoked;
    }

    fn remember_portal(&self, account: &str) {
        self.portals
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.to_owned());
    }

    async fn loaded(&self, current: &mut Option<StoredToken>) -> Result<StoredToken> {
        if current.is_none() {
            *current = self.store.load_token(NAME, None).await?;
            if let Some(token) = current.as_ref() {
                self.remember_portal(&token.account);
            }
        }
        current.clone().ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Unauthorized,
                "no HubSpot OAuth token is stored; install the app through /hubspot/install/start",
            )
        })
    }

    /// The current access token, refreshed first when it expires within `refresh_ahead_secs`.
    ///
    /// # Errors
    /// `Unauthorized` when nothing is installed or the refresh token is refused.
    pub async fn access_token(&self) -> Result<Secret> {
        let mut current = self.current.lock().await;
        self.fail_if_revoked(&mut current).await?;
        let token = self.loaded(&mut current).await?;
        if token.expires_at - self.refresh_ahead() <= Utc::now() {
            let fresh = self.refresh(&token).await?;
            let access = fresh.access_token.clone();
            *current = Some(fresh);
            return Ok(access);
        }
        Ok(token.access_token)
    }

    /// Refreshes unless the current access token is no longer `rejected` (another call
    /// refreshed it already).
    ///
    /// # Errors
    /// `Unauthorized` when the refresh token is refused.
    pub async fn refresh_if_current(&self, rejected: &Secret) -> Result<()> {
        let mut current = self.current.lock().await;
        self.fail_if_revoked(&mut current).await?;
        let token = self.loaded(&mut current).await?;
        if token.access_token != *rejected {
            return Ok(());
        }
        let fresh = self.refresh(&token).await?;
        *current = Some(fresh);
        Ok(())
    }

    async fn current_account(&self) -> Option<String> {
        let mut current = self.current.lock().await;
        self.loaded(&mut current).await.ok().map(|t| t.account)
    }

    async fn refresh(&self, token: &StoredToken) -> Result<StoredToken> {
        tracing::debug!(account = %token.account, "Refreshing the HubSpot access token.");
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token.refresh_token.expose()),
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
        ];
        let response = match self.token_call(&form).await {
            Ok(response) => response,
            Err(TokenFailure::GrantGone(error)) => {
                tracing::error!(account = %token.account, %error, "HubSpot OAuth install revoked.");
                self.set_revoked(Some((
                    error.message().to_owned(),
                    token.refresh_token.clone(),
                )));
                return Err(error);
            }
            Err(TokenFailure::Other(error)) => return Err(error),
        };
        let fresh = StoredToken {
            account: token.account.clone(),
            access_token: Secret::new(response.access_token),
            refresh_token: response
                .refresh_token
                .map(Secret::new)
                .unwrap_or_else(|| token.refresh_token.clone()),
            expires_at: Utc::now() + chrono::Duration::seconds(response.expires_in as i64),
        };
        self.store.save_token(NAME, &fresh).await?;
        Ok(fresh)
    }

    async fn token_call(
        &self,
        form: &[(&str, &str)],
    ) -> std::result::Result<TokenResponse, TokenFailure> {
        let (status, body) = self
            .form_call(&self.version.oauth_token(), form)
            .await
            .map_err(TokenFailure::Other)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                TokenFailure::Other(ConnectorError::transient(format!(
                    "hubspot token endpoint sent an unreadable answer: {e}"
                )))
            });
        }
        let detail: OAuthErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        let reason = detail.reason();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(TokenFailure::Other(ConnectorError::transient(format!(
                "hubspot's token endpoint failed ({status}: {reason}); retrying later"
            ))));
        }
        if detail.grant_is_gone() {
            return Err(TokenFailure::GrantGone(ConnectorError::new(
                ErrorKind::Unauthorized,
                format!(
                    "{REINSTALL_NEEDED}: hubspot refused the grant as invalid or revoked ({reason}); install the app again through /hubspot/install/start"
                ),
            )));
        }
        Err(TokenFailure::Other(ConnectorError::new(
            ErrorKind::Unauthorized,
            format!(
                "hubspot refused the OAuth token request ({status}: {reason}); check `oauth.client_id` and `oauth.client_secret`, then install the app again through /hubspot/install/start"
            ),
        )))
    }

    /// Posts a form to an OAuth endpoint (everything in the body, as the dated endpoints
    /// want) and returns the status and body.
    async fn form_call(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<(http::StatusCode, Vec<u8>)> {
        let url = self
            .api_base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ConnectorError::permanent(format!("bad `api_base_url`: {e}")))?;
        exchange(self.http.post(url).form(form)).await
    }

    async fn portal_of(&self, access_token: &str) -> Result<String> {
        let info = match self.version.oauth_introspect() {
            Some(path) => {
                let form = [
                    ("client_id", self.config.client_id.as_str()),
                    ("client_secret", self.config.client_secret.expose()),
                    ("token", access_token),
                    ("token_type_hint", "access_token"),
                ];
                let (status, body) = self.form_call(&path, &form).await?;
                if !status.is_success() {
                    return Err(ConnectorError::transient(format!(
                        "hubspot did not say which portal the new token is for ({status}); try the install again"
                    )));
                }
                serde_json::from_slice::<TokenInfo>(&body).map_err(|e| {
                    ConnectorError::transient(format!(
                        "hubspot's introspection answer is unreadable ({e}); try the install again"
                    ))
                })?
            }
            None => {
                let url = self
                    .api_base
                    .join(LEGACY_ACCESS_TOKEN_INFO_PATH)
                    .and_then(|u| u.join(access_token))
                    .map_err(|e| ConnectorError::permanent(format!("bad `api_base_url`: {e}")))?;
                let (status, body) = exchange(self.http.get(url)).await?;
                if !status.is_success() {
                    return Err(ConnectorError::transient(format!(
                        "hubspot did not say which portal the new token is for ({status}); try the install again"
                    )));
                }
                serde_json::from_slice::<TokenInfo>(&body).map_err(|e| {
                    ConnectorError::transient(format!(
                        "hubspot's token metadata is unreadable ({e}); try the install again"
                    ))
                })?
            }
        };
        match (info.active, info.hub_id) {
            (Some(false), _) | (_, None) => Err(ConnectorError::new(
                ErrorKind::Unauthorized,
                "hubspot says the new token is not active; try the install again",
            )),
            (_, Some(hub_id)) => Ok(hub_id.to_string()),
        }
    }

    /// Uninstalls the app from the installed account and revokes its refresh token, then
    /// forgets the tokens. Each step that HubSpot says is already done counts as done.
    ///
    /// # Errors
    /// Fails when nothing is installed, HubSpot cannot be reached, or the store cannot be
    /// written.
    async fn disconnect_install(&self) -> Result<String> {
        let mut current = self.current.lock().await;
        let token = self.loaded(&mut current).await?;
        if let Some(path) = self.version.uninstall() {
            let url = self
                .api_base
                .join(path.trim_start_matches('/'))
                .map_err(|e| ConnectorError::permanent(format!("bad `api_base_url`: {e}")))?;
            let (status, _) = exchange(
                self.http
                    .delete(url)
                    .bearer_auth(token.access_token.expose()),
            )
            .await?;
            // 401: the access token is gone with the install already.
            if !status.is_success() && status != http::StatusCode::UNAUTHORIZED {
                return Err(ConnectorError::transient(format!(
                    "hubspot refused the uninstall ({status}); try again"
                )));
            }
        }
        if let Some(path) = self.version.oauth_revoke() {
            let form = [
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.expose()),
                ("token", token.refresh_token.expose()),
                ("token_type_hint", "refresh_token"),
            ];
            let (status, body) = self.form_call(&path, &form).await?;
            let detail: OAuthErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            if !status.is_success() && !detail.grant_is_gone() {
                return Err(ConnectorError::transient(format!(
                    "hubspot refused to revoke the refresh token ({status}: {}); try again",
                    detail.reason()
                )));
            }
        }
        self.store.forget_token(NAME, &token.account).await?;
        self.portals
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&token.account);
        *current = None;
        tracing::info!(account = %token.account, "HubSpot app uninstalled.");
        Ok(token.account)
    }
}

#[async_trait::async_trait]
impl OAuthInstall for OAuthSession {
    fn authorize_url(&self, redirect_uri: &Url, state: &str) -> Url {
        let mut url = self.config.authorize_base_url.clone();
        url.set_path("/oauth/authorize");
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("scope", &self.config.scopes)
            .append_pair("state", state);
        // HubSpot documents scopes separated by `%20`; form encoding would send `+`.
        let query = url.query().unwrap_or_default().replace('+', "%20");
        url.set_query(Some(&query));
        url
    }

    async fn exchange_code(&self, code: &str, redirect_uri: &Url) -> Result<StoredToken> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
        ];
        let response = self
            .token_call(&form)
            .await
            .map_err(TokenFailure::into_error)?;
        let account = match response.hub_id {
            Some(hub_id) => hub_id.to_string(),
            None => self.portal_of(&response.access_token).await?,
        };
        let refresh_token = response.refresh_token.ok_or_else(|| {
            ConnectorError::new(
                ErrorKind::Unauthorized,
                "hubspot sent no refresh token for the code; try the install again",
            )
        })?;
        let token = StoredToken {
            account: account.clone(),
            access_token: Secret::new(response.access_token),
            refresh_token: Secret::new(refresh_token),
            expires_at: Utc::now() + chrono::Duration::seconds(response.expires_in as i64),
        };
        self.store.save_token(NAME, &token).await?;
        self.remember_portal(&account);
        *self.current.lock().await = Some(token.clone());
        self.set_revoked(None);
        tracing::info!(account = %account, "HubSpot app installed.");
        Ok(token)
    }

    async fn disconnect(&self) -> Result<String> {
        self.disconnect_install().await
    }

    fn reinstall_needed(&self) -> Option<String> {
        self.revoked()
    }

    async fn load_installed(&self) -> Result<Vec<String>> {
        let accounts = self.store.accounts(NAME).await?;
        for account in &accounts {
            self.remember_portal(account);
        }
        Ok(accounts)
    }
}

/// Sends a request outside the client's retry loop (OAuth endpoints, the journal), counted in
/// the `hubspot` call stats; returns the status and the body.
///
/// # Errors
/// `Transient` when no answer came or its body broke off.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
) -> Result<(http::StatusCode, Vec<u8>)> {
    let calls = stats::service(NAME);
    let sent = request.send().await;
    match &sent {
        Ok(response) => calls.answered(response.status()),
        Err(_) => calls.unanswered(),
    }
    let response = sent.map_err(transport_error)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport_error)?;
    Ok((status, body.to_vec()))
}

/// A transport failure (connect, timeout, broken body) as a transient error, with the URL
/// removed: it may carry the developer API key.
pub fn transport_error(error: reqwest::Error) -> ConnectorError {
    let timed_out = error.is_timeout();
    let error = error.without_url();
    if timed_out {
        ConnectorError::transient(format!("hubspot did not answer in time: {error}"))
    } else {
        ConnectorError::transient(format!(
            "cannot reach hubspot: {error}; check `api_base_url` and the network"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoStore;

    #[async_trait::async_trait]
    impl TokenStore for NoStore {
        async fn load_token(&self, _: &str, _: Option<&str>) -> Result<Option<StoredToken>> {
            Ok(None)
        }
        async fn save_token(&self, _: &str, _: &StoredToken) -> Result<()> {
            Ok(())
        }
        async fn forget_token(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn authorize_url_carries_client_scopes_redirect_and_state() {
        let session = OAuthSession::new(
            OAuthConfig {
                client_id: "abc-123".to_owned(),
                client_secret: Secret::new("s"),
                scopes: "crm.objects.contacts.read crm.objects.contacts.write".to_owned(),
                authorize_base_url: "https://app.hubspot.com".parse().unwrap(),
                refresh_ahead_secs: 300,
            },
            ApiVersion::default(),
            "https://api.hubapi.com".parse().unwrap(),
            reqwest::Client::new(),
            Arc::new(NoStore),
            Arc::default(),
        );
        let url = session.authorize_url(
            &"https://sync.example.com/hubspot/install/callback"
                .parse()
                .unwrap(),
            "st&ate",
        );
        assert_eq!(
            url.as_str(),
            "https://app.hubspot.com/oauth/authorize?client_id=abc-123&redirect_uri=https%3A%2F%2Fsync.example.com%2Fhubspot%2Finstall%2Fcallback&scope=crm.objects.contacts.read%20crm.objects.contacts.write&state=st%26ate"
        );
        let pairs: Vec<_> = url.query_pairs().collect();
        assert_eq!(pairs[3].1, "st&ate");
    }
}
