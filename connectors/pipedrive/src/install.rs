//! The OAuth install capability of the connector (`/pipedrive/install/start`, `disconnect`),
//! on the session in [`crate::auth`]; a connector built with an API token has none.

use async_trait::async_trait;
use tte_sync_core::connector::{ConnectorError, OAuthInstall, Result, StoredToken};
use url::Url;

use crate::PipedriveConnector;
use crate::auth;

impl PipedriveConnector {
    fn session(&self) -> Result<&auth::OAuthSession> {
        match self.client.credentials() {
            auth::Credentials::OAuth(session) => Ok(session),
            auth::Credentials::Token(_) => Err(ConnectorError::permanent(
                "this connector uses an API token, not an OAuth app; set `crm.config.oauth`",
            )),
        }
    }
}

#[async_trait]
impl OAuthInstall for PipedriveConnector {
    fn authorize_url(&self, redirect_uri: &Url, state: &str) -> Url {
        let config = match self.client.credentials() {
            auth::Credentials::OAuth(session) => session.config(),
            auth::Credentials::Token(_) => return redirect_uri.clone(),
        };
        let mut url = config
            .oauth_base_url
            .join("oauth/authorize")
            .unwrap_or_else(|_| config.oauth_base_url.clone());
        url.query_pairs_mut()
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("state", state);
        url
    }

    async fn exchange_code(&self, code: &str, redirect_uri: &Url) -> Result<StoredToken> {
        self.session()?.exchange(code, redirect_uri).await
    }

    async fn load_installed(&self) -> Result<Vec<String>> {
        self.session()?.installed().await
    }

    async fn disconnect(&self) -> Result<String> {
        self.session()?.disconnect().await
    }
}
