//! The OAuth install: `GET /<crm>/install/start` sends the installer to the CRM with a random
//! `state` (kept in the store with an expiry, so any replica can finish the flow);
//! `GET /<crm>/install/callback` checks and spends the `state`, lets the connector exchange
//! the code (it saves the tokens through the store) and names the account installed into.
//! The accounts installed into stay in the store's token table; [`load_installed`] teaches the
//! connector about them at startup (and when a webhook names an account it does not know), so
//! their webhooks keep verifying across restarts and on every replica.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, Redirect};
use chrono::Utc;
use serde::Deserialize;
use url::Url;

use super::html::{escape, page};
use super::{ApiError, AppState};

/// How long an install link stays valid.
const STATE_LIFETIME_MINUTES: i64 = 15;
/// The store settings prefix of pending install states.
const STATE_SETTING_PREFIX: &str = "oauth.state.";

fn callback_url(state: &AppState) -> Result<Url, ApiError> {
    let path = format!("/{}/install/callback", state.connector.name());
    Url::parse(&state.public(&path)).map_err(|error| ApiError::Page {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        title: "Install is not configured".to_owned(),
        message: format!("`server.public_url` does not make a valid callback URL: {error}"),
    })
}

fn no_oauth(state: &AppState) -> ApiError {
    ApiError::Page {
        status: StatusCode::NOT_FOUND,
        title: "No app install for this connector".to_owned(),
        message: format!(
            "The {} connector is not set up for an OAuth install; add its `oauth` section under \
             `crm.config` (client id and secret), or use a private-app token.",
            state.connector.name()
        ),
    }
}

/// `GET /<crm>/install/start`: redirect to the CRM's authorize page.
///
/// # Errors
/// 404 page when the connector has no OAuth install; 503 when the store cannot be written.
pub async fn install_start(State(state): State<Arc<AppState>>) -> Result<Redirect, ApiError> {
    let Some(oauth) = state.connector.oauth() else {
        return Err(no_oauth(&state));
    };
    let redirect_uri = callback_url(&state)?;
    let nonce = super::webhooks::new_token();
    let expires = Utc::now() + chrono::Duration::minutes(STATE_LIFETIME_MINUTES);
    state
        .store
        .set_setting(
            &format!("{STATE_SETTING_PREFIX}{nonce}"),
            "1",
            Some(expires),
        )
        .await?;
    let target = oauth.authorize_url(&redirect_uri, &nonce);
    Ok(Redirect::to(target.as_str()))
}

/// Lets the connector learn the accounts earlier installs saved; returns them (empty when the
/// connector has no OAuth install). A store failure is logged, not fatal: webhooks of those
/// accounts are refused (401, so the CRM retries them) until the store answers again.
pub async fn load_installed(state: &AppState) -> Vec<String> {
    let Some(oauth) = state.connector.oauth() else {
        return Vec::new();
    };
    match oauth.load_installed().await {
        Ok(accounts) => {
            tracing::debug!(
                connector = state.connector.name(),
                accounts = accounts.len(),
                "Loaded the installed accounts."
            );
            accounts
        }
        Err(error) => {
            tracing::warn!(
                connector = state.connector.name(),
                %error,
                "Cannot load the installed accounts; their webhooks are refused until it works."
            );
            Vec::new()
        }
    }
}

/// The query the CRM redirects back with.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /<crm>/install/callback?code&state`: finish the install.
///
/// # Errors
/// 400 page for a refused install, a missing code, or a wrong, used or expired `state`; 502
/// page when the CRM refuses the code; 503 when the store fails.
pub async fn install_callback(
    State(state): State<Arc<AppState>>,
    Query(query): Query<Callback>,
) -> Result<Html<String>, ApiError> {
    let Some(oauth) = state.connector.oauth() else {
        return Err(no_oauth(&state));
    };
    let start = format!("/{}/install/start", state.connector.name());
    let bad = |title: &str, message: String| ApiError::Page {
        status: StatusCode::BAD_REQUEST,
        title: title.to_owned(),
        message,
    };
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        return Err(bad(
            "The install was not approved",
            format!("The CRM answered `{error}` {description}. Start again at {start}."),
        ));
    }
    let spent = match query.state.as_deref() {
        Some(nonce) if !nonce.is_empty() => {
            state
                .store
                .take_setting(&format!("{STATE_SETTING_PREFIX}{nonce}"))
                .await?
        }
        _ => None,
    };
    if spent.is_none() {
        tracing::warn!("Refused an install callback with an unknown or expired state.");
        return Err(bad(
            "This install link is not valid",
            format!(
                "The link expired, was already used, or did not start here. Start the install \
                 again at {start} (links last {STATE_LIFETIME_MINUTES} minutes)."
            ),
        ));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return Err(bad(
            "The install came back without a code",
            format!("Start the install again at {start}."),
        ));
    };
    let redirect_uri = callback_url(&state)?;
    let token = oauth
        .exchange_code(&code, &redirect_uri)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "The CRM refused the install code.");
            ApiError::Page {
                status: StatusCode::BAD_GATEWAY,
                title: "The install could not finish".to_owned(),
                message: format!("{error}. Start again at {start}."),
            }
        })?;
    let body = format!(
        "<p class=\"ok\">tte-sync is installed in {} account <strong>{}</strong>.</p>\
         <p>Its tokens are saved; the sync uses them from now on. \
         <a href=\"/\">Open the dashboard</a>.</p>",
        escape(state.connector.name()),
        escape(&token.account)
    );
    Ok(Html(page("Installed", &body)))
}
