//! The simulated OAuth server (`oauth.pipedrive.com`, see `docs/pipedrive-api.md`):
//! `GET /oauth/authorize` approves at once and redirects back with a code, `POST /oauth/token`
//! exchanges a code or a refresh token (client credentials in basic auth, a form body) for an
//! access token that expires by the simulator's clock, `POST /oauth/revoke` uninstalls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::state::Sim;

/// The tokens the OAuth server issued.
#[derive(Debug, Default)]
pub struct Grants {
    /// Unused codes and the redirect URI each was issued for.
    codes: BTreeMap<String, String>,
    /// Access tokens and when they expire.
    access: BTreeMap<String, DateTime<Utc>>,
    /// Live refresh tokens.
    refresh: BTreeSet<String>,
    issued: u64,
}

impl Grants {
    /// A code for an install that redirects to `redirect_uri`.
    pub fn code_for(&mut self, redirect_uri: &str) -> String {
        self.issued += 1;
        let code = format!("pd-code-{}", self.issued);
        self.codes.insert(code.clone(), redirect_uri.to_owned());
        code
    }

    /// Whether `token` is an access token that has not expired at `now`.
    pub fn admits(&self, token: &str, now: DateTime<Utc>) -> bool {
        self.access.get(token).is_some_and(|expires| *expires > now)
    }

    fn issue(&mut self, now: DateTime<Utc>, lifetime_secs: u64) -> (String, String) {
        self.issued += 1;
        let access = format!("pd-access-{}", self.issued);
        let refresh = format!("pd-refresh-{}", self.issued);
        self.access.insert(
            access.clone(),
            now + chrono::Duration::seconds(lifetime_secs as i64),
        );
        self.refresh.insert(refresh.clone());
        (access, refresh)
    }
}

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .with_state(sim)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

#[derive(Deserialize)]
struct AuthorizeParams {
    client_id: String,
    redirect_uri: String,
    #[serde(default)]
    state: Option<String>,
}

/// The customer approves the install at once.
async fn authorize(State(sim): State<Arc<Sim>>, Query(params): Query<AuthorizeParams>) -> Response {
    if params.client_id != sim.config.client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "unknown client_id",
        );
    }
    let Ok(mut target) = url::Url::parse(&params.redirect_uri) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "bad redirect_uri",
        );
    };
    let code = sim.grants(|grants| grants.code_for(&params.redirect_uri));
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = &params.state {
        target.query_pairs_mut().append_pair("state", state);
    }
    Redirect::to(target.as_str()).into_response()
}

/// Whether the request carries the app's client id and secret in basic auth.
fn client_authenticated(sim: &Sim, headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            sim.config.client_id, sim.config.client_secret
        ))
    );
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes())
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

async fn token(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !client_authenticated(&sim, &headers) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client credentials",
        );
    }
    let now = sim.now();
    let lifetime = sim.config.access_token_lifetime_secs;
    let issued = sim.grants(|grants| match form.grant_type.as_str() {
        "authorization_code" => {
            let code = form.code.as_deref().unwrap_or_default();
            match grants.codes.remove(code) {
                Some(redirect) if Some(redirect.as_str()) == form.redirect_uri.as_deref() => {
                    Ok(grants.issue(now, lifetime))
                }
                Some(_) => Err("redirect_uri does not match the one the code was issued for"),
                None => Err("Invalid authorization code"),
            }
        }
        "refresh_token" => {
            let refresh = form.refresh_token.as_deref().unwrap_or_default();
            if grants.refresh.contains(refresh) {
                let (access, fresh) = grants.issue(now, lifetime);
                // The refresh token is kept (assumed); the one issued with it is not needed.
                grants.refresh.remove(&fresh);
                Ok((access, refresh.to_owned()))
            } else {
                Err("Invalid refresh token")
            }
        }
        _ => Err("unsupported grant_type"),
    });
    match issued {
        Ok((access, refresh)) => Json(json!({
            "access_token": access, "token_type": "Bearer", "refresh_token": refresh,
            "scope": "base,contacts:full", "expires_in": lifetime,
            "api_domain": sim.base_url(),
        }))
        .into_response(),
        Err(reason) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", reason),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    token: String,
    #[serde(default)]
    token_type_hint: Option<String>,
}

async fn revoke(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    if !client_authenticated(&sim, &headers) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client credentials",
        );
    }
    let refresh = form.token_type_hint.as_deref() != Some("access_token");
    sim.grants(|grants| {
        if refresh {
            grants.refresh.remove(&form.token);
            // Uninstalling ends every access token of the install too.
            grants.access.clear();
        } else {
            grants.access.remove(&form.token);
        }
    });
    StatusCode::OK.into_response()
}
