//! OAuth for the simulated public app: an authorize endpoint that approves at once and
//! redirects back with `code` and `state`, the form-encoded token endpoint (authorization_code
//! and refresh_token grants, RFC 6749 error bodies with HubSpot's `status`), token info, and
//! access tokens that expire. The date-based endpoints (client credentials, introspect,
//! revoke, uninstall) are in `oauth_dated`, sharing [`Tokens`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use url::{Url, form_urlencoded};

use super::SimState;
use super::errors::{ApiError, json_response};
use super::query::Query;
use super::state::new_correlation_id;

/// How long an authorization code stays usable, in milliseconds.
const CODE_LIFETIME_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: i64,
}

/// What an access token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// An install in the portal (`token_use: access_token`).
    Portal,
    /// The app itself (`token_use: client_credentials`), for the Webhooks Journal.
    ClientCredentials,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessGrant {
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: i64,
    pub(crate) use_: TokenUse,
}

/// Issued codes and tokens.
#[derive(Debug, Default)]
pub struct Tokens {
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) access: HashMap<String, AccessGrant>,
    pub(crate) refresh: HashMap<String, Vec<String>>,
}

/// What an OAuth access token is worth now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessCheck {
    /// Valid, with the scopes granted and what it stands for.
    Valid(Vec<String>, TokenUse),
    /// Expired this many milliseconds ago.
    Expired(i64),
    /// Never issued.
    Unknown,
}

impl Tokens {
    /// Checks an access token at `now`.
    pub fn check(&self, token: &str, now: i64) -> AccessCheck {
        match self.access.get(token) {
            Some(grant) if grant.expires_at > now => {
                AccessCheck::Valid(grant.scopes.clone(), grant.use_)
            }
            Some(grant) => AccessCheck::Expired(now - grant.expires_at),
            None => AccessCheck::Unknown,
        }
    }

    /// Forgets every token of the portal's install (client-credentials tokens stay: they
    /// belong to the app). Returns whether there was an install.
    pub fn uninstall(&mut self) -> bool {
        let installed =
            !self.refresh.is_empty() || self.access.values().any(|g| g.use_ == TokenUse::Portal);
        self.codes.clear();
        self.refresh.clear();
        self.access
            .retain(|_, g| g.use_ == TokenUse::ClientCredentials);
        installed
    }
}

/// One RFC 6749 error with HubSpot's extra `status`/`message` fields.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    error: &'static str,
    status: &'static str,
    description: String,
}

impl OAuthError {
    pub(crate) fn new(error: &'static str, status: &'static str, description: &str) -> Self {
        Self {
            error,
            status,
            description: description.to_owned(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "error": self.error,
                "error_description": self.description,
                "status": self.status,
                "message": self.description,
                "correlationId": new_correlation_id(),
            }),
        )
    }
}

/// [`OAuthError`] as a response.
pub(crate) fn oauth_error(
    error: &'static str,
    hubspot_status: &'static str,
    description: &str,
) -> Response {
    OAuthError::new(error, hubspot_status, description).into_response()
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn with_params(base: &Url, params: &[(&str, &str)]) -> String {
    let mut url = base.clone();
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
    }
    url.to_string()
}

fn redirect_allowed(sim: &SimState, redirect_uri: &str) -> Option<Url> {
    let url = Url::parse(redirect_uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    if sim.config.redirect_uris.is_empty()
        || sim.config.redirect_uris.iter().any(|r| r == redirect_uri)
    {
        Some(url)
    } else {
        None
    }
}

/// `GET /oauth/authorize` (and `/oauth/{portalId}/authorize`): approves at once.
pub async fn authorize(State(sim): State<SimState>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw.as_deref());
    let redirect_uri = query.get("redirect_uri").unwrap_or_default();
    let Some(target) = redirect_allowed(&sim, redirect_uri) else {
        return ApiError::validation(format!(
            "redirect_uri {redirect_uri:?} is not a redirect URL of this app; use one of the app's redirect URLs"
        ))
        .into_response();
    };
    let state = query.get("state");
    let mut params: Vec<(&str, &str)> = Vec::new();
    if query.get("client_id") != Some(sim.config.client_id.as_str()) {
        params.push(("error", "invalid_client"));
        params.push((
            "error_description",
            "The client_id is not the id of a known app.",
        ));
    }
    let requested: Vec<String> = query
        .get("scope")
        .unwrap_or_default()
        .split([' ', '+'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if params.is_empty()
        && (requested.is_empty() || requested.iter().any(|s| !sim.config.scopes.contains(s)))
    {
        params.push(("error", "invalid_scope"));
        params.push((
            "error_description",
            "The scope parameter is missing or asks for a scope the app does not have.",
        ));
    }
    let code;
    if params.is_empty() {
        code = sim.random_token("code");
        let optional: Vec<String> = query
            .get("optional_scope")
            .unwrap_or_default()
            .split([' ', '+'])
            .filter(|s| sim.config.scopes.iter().any(|c| c == s))
            .map(str::to_owned)
            .collect();
        let mut scopes = requested;
        scopes.extend(optional);
        sim.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .codes
            .insert(
                code.clone(),
                CodeGrant {
                    redirect_uri: redirect_uri.to_owned(),
                    scopes,
                    expires_at: sim.now_ms() + CODE_LIFETIME_MS,
                },
            );
        params.push(("code", &code));
    }
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect(&with_params(&target, &params))
}

pub(crate) fn issue(
    sim: &SimState,
    tokens: &mut Tokens,
    scopes: Vec<String>,
    refresh: Option<String>,
) -> Value {
    let access = sim.random_token("access");
    let refresh = refresh.unwrap_or_else(|| sim.random_token("refresh"));
    let lifetime = sim.config.access_token_lifetime.as_secs();
    tokens.access.insert(
        access.clone(),
        AccessGrant {
            scopes: scopes.clone(),
            expires_at: sim.now_ms() + (lifetime as i64) * 1000,
            use_: TokenUse::Portal,
        },
    );
    tokens.refresh.insert(refresh.clone(), scopes.clone());
    json!({
        "token_type": "bearer",
        "refresh_token": refresh,
        "access_token": access,
        "expires_in": lifetime,
        "token_use": "access_token",
        "hub_id": sim.config.portal_id,
        "user_id": super::DEFAULT_USER_ID,
        "scopes": scopes,
    })
}

/// `POST /oauth/v1/token` (also `/oauth/v3/token`): form-encoded grants.
pub async fn token(State(sim): State<SimState>, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    exchange(&sim, &form, false)
}

/// Answers a token request: `authorization_code` and `refresh_token` grants, and with
/// `client_credentials` (date-based endpoints only) an app-level token.
pub(crate) fn exchange(
    sim: &SimState,
    form: &HashMap<String, String>,
    client_credentials: bool,
) -> Response {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("client_id") != sim.config.client_id {
        return oauth_error(
            "invalid_client",
            "BAD_CLIENT_ID",
            "missing or unknown client_id",
        );
    }
    if field("client_secret") != sim.config.client_secret {
        return oauth_error(
            "invalid_client",
            "BAD_CLIENT_SECRET",
            "missing or invalid client_secret",
        );
    }
    let mut tokens = sim.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let body = match field("grant_type") {
        "authorization_code" => {
            let Some(grant) = tokens.codes.remove(field("code")) else {
                return oauth_error(
                    "invalid_grant",
                    "BAD_AUTH_CODE",
                    "missing or unknown auth code",
                );
            };
            if grant.expires_at <= sim.now_ms() {
                return oauth_error("invalid_grant", "BAD_AUTH_CODE", "auth code is expired");
            }
            if grant.redirect_uri != field("redirect_uri") {
                return oauth_error(
                    "invalid_grant",
                    "BAD_REDIRECT_URI",
                    "redirect_uri does not match the one used to get the auth code",
                );
            }
            issue(sim, &mut tokens, grant.scopes, None)
        }
        "refresh_token" => {
            let refresh = field("refresh_token").to_owned();
            let Some(scopes) = tokens.refresh.get(&refresh).cloned() else {
                return oauth_error(
                    "invalid_grant",
                    "BAD_REFRESH_TOKEN",
                    "refresh token is invalid, expired or revoked",
                );
            };
            issue(sim, &mut tokens, scopes, Some(refresh))
        }
        "client_credentials" if client_credentials => {
            match super::oauth_dated::issue_client_credentials(sim, &mut tokens, field("scope")) {
                Ok(body) => body,
                Err(error) => return error.into_response(),
            }
        }
        "" => return oauth_error("invalid_request", "BAD_GRANT_TYPE", "missing grant_type"),
        other => {
            let supported = if client_credentials {
                "authorization_code, refresh_token or client_credentials"
            } else {
                "authorization_code or refresh_token"
            };
            return oauth_error(
                "unsupported_grant_type",
                "BAD_GRANT_TYPE",
                &format!("unsupported grant_type {other}; use {supported}"),
            );
        }
    };
    json_response(StatusCode::OK, &body)
}

fn token_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "Token not found")
}

/// `GET /oauth/v1/access-tokens/{token}`.
pub async fn access_token_info(
    State(sim): State<SimState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let now = sim.now_ms();
    let tokens = sim.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let grant = tokens
        .access
        .get(&token)
        .filter(|g| g.expires_at > now && g.use_ == TokenUse::Portal)
        .ok_or_else(token_not_found)?;
    let expires_in = (grant.expires_at - now) / 1000;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "token": token,
            "user": "simulated.user@example.com",
            "hub_domain": "simulated.example.com",
            "scopes": grant.scopes,
            "signed_access_token": {
                "expiresAt": grant.expires_at,
                "scopes": "",
                "hubId": sim.config.portal_id,
                "userId": super::DEFAULT_USER_ID,
                "appId": sim.config.app_id,
                "signature": "",
                "scopeToScopeGroupPks": "",
                "newSignature": "",
                "hublet": "na1",
                "trialScopes": "",
                "trialScopeToScopeGroupPks": "",
                "isUserLevel": false,
            },
            "hub_id": sim.config.portal_id,
            "app_id": sim.config.app_id,
            "expires_in": expires_in,
            "user_id": super::DEFAULT_USER_ID,
            "token_type": "access",
        }),
    ))
}

/// `GET /oauth/v1/refresh-tokens/{token}`.
pub async fn refresh_token_info(
    State(sim): State<SimState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let tokens = sim.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let scopes = tokens.refresh.get(&token).ok_or_else(token_not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "token": token,
            "user": "simulated.user@example.com",
            "hub_domain": "simulated.example.com",
            "scopes": scopes,
            "hub_id": sim.config.portal_id,
            "client_id": sim.config.client_id,
            "user_id": super::DEFAULT_USER_ID,
            "token_type": "refresh",
        }),
    ))
}

/// `DELETE /oauth/v1/refresh-tokens/{token}`: only the refresh token goes; access tokens
/// made with it keep working until they expire.
pub async fn delete_refresh_token(
    State(sim): State<SimState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let mut tokens = sim.tokens.lock().unwrap_or_else(|e| e.into_inner());
    tokens.refresh.remove(&token).ok_or_else(token_not_found)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
