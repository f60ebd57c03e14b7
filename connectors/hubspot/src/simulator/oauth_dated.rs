//! OAuth's date-based endpoints (`/oauth/2026-03/…`, `/oauth/2026-09/…`): the token endpoint
//! with the `client_credentials` grant beside the code and refresh grants, token
//! introspection, revocation, and the app uninstall API (`DELETE
//! /appinstalls/{version}/external-install`).
//!
//! As the reference describes them: form bodies with everything in the body (a query string
//! is refused), RFC 6749 error bodies with HubSpot's `status`/`message`, 30-minute access
//! tokens on the simulated clock, client-credentials tokens without a refresh token,
//! introspection answering `{"active": false}` for a dead token, and revocation leaving
//! access tokens already issued working until they expire.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use url::form_urlencoded;

use super::auth::{CallerKind, bearer, refused_credential};
use super::errors::json_response;
use super::oauth::{AccessGrant, OAuthError, TokenUse, Tokens, exchange};
use super::{CLIENT_CREDENTIALS_SCOPES, DEFAULT_USER_ID, Sim, SimState};

const FORM: &str = "application/x-www-form-urlencoded";

/// The form of a dated OAuth request.
///
/// # Errors
/// 400 `invalid_request` when parameters come in the query or the body is not a form.
fn form(
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: &Bytes,
) -> Result<HashMap<String, String>, OAuthError> {
    if raw_query.is_some_and(|q| !q.is_empty()) {
        return Err(OAuthError::new(
            "invalid_request",
            "BAD_REQUEST",
            "send the parameters in the form-encoded body, not in the query string",
        ));
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with(FORM));
    if !is_form {
        return Err(OAuthError::new(
            "invalid_request",
            "BAD_REQUEST",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(form_urlencoded::parse(body).into_owned().collect())
}

/// The form of a dated OAuth request that authenticates as this app's client (introspect,
/// revoke).
///
/// # Errors
/// As [`form`] and [`check_client`].
fn client_form(
    sim: &Sim,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: &Bytes,
) -> Result<HashMap<String, String>, OAuthError> {
    let form = form(headers, raw_query, body)?;
    check_client(sim, &form)?;
    Ok(form)
}

/// Whether the form names this app's client.
fn check_client(sim: &Sim, form: &HashMap<String, String>) -> Result<(), OAuthError> {
    if form.get("client_id").map(String::as_str) != Some(sim.config.client_id.as_str()) {
        return Err(OAuthError::new(
            "invalid_client",
            "BAD_CLIENT_ID",
            "missing or unknown client_id",
        ));
    }
    if form.get("client_secret").map(String::as_str) != Some(sim.config.client_secret.as_str()) {
        return Err(OAuthError::new(
            "invalid_client",
            "BAD_CLIENT_SECRET",
            "missing or invalid client_secret",
        ));
    }
    Ok(())
}

/// An app-level token for `scope` (space-separated; empty asks for every scope in
/// [`CLIENT_CREDENTIALS_SCOPES`]).
pub(crate) fn issue_client_credentials(
    sim: &SimState,
    tokens: &mut Tokens,
    scope: &str,
) -> Result<Value, OAuthError> {
    let requested: Vec<String> = scope
        .split([' ', '+', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = requested
        .iter()
        .find(|s| !CLIENT_CREDENTIALS_SCOPES.contains(&s.as_str()))
    {
        return Err(OAuthError::new(
            "invalid_scope",
            "BAD_SCOPE",
            &format!("scope {unknown} cannot be granted to a client credentials token"),
        ));
    }
    let scopes = if requested.is_empty() {
        CLIENT_CREDENTIALS_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        requested
    };
    let access = sim.random_token("cc");
    let lifetime = sim.config.access_token_lifetime.as_secs();
    tokens.access.insert(
        access.clone(),
        AccessGrant {
            scopes: scopes.clone(),
            expires_at: sim.now_ms() + (lifetime as i64) * 1000,
            use_: TokenUse::ClientCredentials,
        },
    );
    Ok(json!({
        "access_token": access,
        "expires_in": lifetime,
        "token_type": "bearer",
        "token_use": "client_credentials",
        "scopes": scopes,
    }))
}

/// `POST /oauth/{version}/token`: `authorization_code`, `refresh_token` or
/// `client_credentials`.
pub async fn token(
    State(sim): State<SimState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    match form(&headers, raw.as_deref(), &body) {
        Ok(form) => exchange(&sim, &form, true),
        Err(error) => error.into_response(),
    }
}

/// `POST /oauth/{version}/token/introspect`: 200 with `active` either way.
pub async fn introspect(
    State(sim): State<SimState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = match client_form(&sim, &headers, raw.as_deref(), &body) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let token = form.get("token").cloned().unwrap_or_default();
    let now = sim.now_ms();
    let tokens = sim.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let body = if let Some(grant) = tokens.access.get(&token).filter(|g| g.expires_at > now) {
        let mut body = json!({
            "active": true,
            "app_id": sim.config.app_id,
            "client_id": sim.config.client_id,
            "scopes": grant.scopes,
            "expires_in": (grant.expires_at - now) / 1000,
            "token_type": "access",
            "is_private_distribution": false,
        });
        match grant.use_ {
            TokenUse::Portal => {
                body["token_use"] = json!("access_token");
                body["hub_id"] = json!(sim.config.portal_id);
                body["user_id"] = json!(DEFAULT_USER_ID);
                body["user"] = json!("simulated.user@example.com");
                body["hub_domain"] = json!("simulated.example.com");
                body["signed_access_token"] = json!({
                    "expiresAt": grant.expires_at,
                    "hubId": sim.config.portal_id,
                    "userId": DEFAULT_USER_ID,
                    "appId": sim.config.app_id,
                    "hublet": "na1",
                    "isUserLevel": false,
                });
            }
            TokenUse::ClientCredentials => body["token_use"] = json!("client_credentials"),
        }
        body
    } else if let Some(scopes) = tokens.refresh.get(&token) {
        json!({
            "active": true,
            "token_use": "refresh_token",
            "token_type": "refresh",
            "hub_id": sim.config.portal_id,
            "app_id": sim.config.app_id,
            "client_id": sim.config.client_id,
            "user_id": DEFAULT_USER_ID,
            "user": "simulated.user@example.com",
            "hub_domain": "simulated.example.com",
            "scopes": scopes,
        })
    } else {
        json!({ "active": false })
    };
    json_response(StatusCode::OK, &body)
}

/// `POST /oauth/{version}/token/revoke`: 200 whatever the token (RFC 7009); a refresh token
/// stops working, access tokens already issued keep working until they expire.
pub async fn revoke(
    State(sim): State<SimState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let form = match client_form(&sim, &headers, raw.as_deref(), &body) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    if let Some(token) = form.get("token") {
        sim.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .refresh
            .remove(token);
    }
    json_response(StatusCode::OK, &json!({}))
}

/// `DELETE /appinstalls/{version}/external-install` with the portal's OAuth access token:
/// 204, and the app is uninstalled from the portal.
pub async fn uninstall(State(sim): State<SimState>, headers: HeaderMap) -> Response {
    let caller = match sim.authenticate(bearer(&headers)) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if caller.kind != CallerKind::OAuth {
        return refused_credential(
            caller.kind,
            "app uninstall API",
            "an OAuth access token of the installed account",
        )
        .into_response();
    }
    sim.uninstall_app();
    StatusCode::NO_CONTENT.into_response()
}

impl Sim {
    /// Uninstalls the OAuth app from the portal; returns whether it was installed.
    pub(crate) fn uninstall_app(&self) -> bool {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .uninstall()
    }
}
