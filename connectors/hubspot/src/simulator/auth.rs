//! Who is calling: legacy private-app tokens, project-app static tokens, Service Keys, OAuth
//! access tokens (of the portal, or app-level client-credentials tokens) and the developer API
//! key, and the middleware that guards the CRM routes with authentication, injected faults and
//! rate limits.
//!
//! Where HubSpot refuses a kind of credential (a Service Key on webhook management or the
//! Webhooks Journal, a portal token on the journal, an app-level token on the CRM), the answer
//! is [`refused_credential`]: 403 with HubSpot's error body. The status and wording are
//! modelled from the docs, which say these credentials "cannot" be used there.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::ApiError;
use super::oauth::{AccessCheck, TokenUse};
use super::query::Query;
use super::ratelimit::{refusal_headers, storm_refusal};
use super::state::ChangeOrigin;
use super::{INTEGRATION_CHANGE_SOURCE, Sim, SimState, service_key_source_id};

/// The kind of credential a request came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallerKind {
    /// A legacy private-app token.
    PrivateApp,
    /// A project app's static token.
    StaticApp,
    /// A Service Key.
    ServiceKey,
    /// An OAuth access token of the portal.
    OAuth,
    /// An app-level OAuth client-credentials token.
    ClientCredentials,
    /// The developer API key (webhook management).
    Developer,
}

impl CallerKind {
    /// How HubSpot's docs name the credential, for refusal messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::PrivateApp => "a legacy private app access token",
            Self::StaticApp => "a project app static access token",
            Self::ServiceKey => "a service key",
            Self::OAuth => "an OAuth access token of an installed account",
            Self::ClientCredentials => "an app-level client credentials token",
            Self::Developer => "a developer API key",
        }
    }
}

/// An authenticated caller, put into request extensions by the middleware.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token (rate limits are per token).
    pub token: String,
    /// Its kind.
    pub kind: CallerKind,
    /// The app the token belongs to.
    pub app_id: u64,
    /// Scopes granted (OAuth); `None` grants everything (private apps in this simulator).
    pub scopes: Option<Vec<String>>,
}

impl Caller {
    /// How this caller's writes appear in webhooks and the journal: `INTEGRATION` from the
    /// token's app, or from the Service Key.
    pub fn origin(&self) -> ChangeOrigin {
        let source_id = match self.kind {
            CallerKind::ServiceKey => service_key_source_id(&self.token),
            _ => self.app_id.to_string(),
        };
        ChangeOrigin {
            change_source: INTEGRATION_CHANGE_SOURCE.to_owned(),
            source_id: Some(source_id),
        }
    }

    /// Whether the rate limiter counts this caller against the account's daily limit (every
    /// privately distributed credential; OAuth tokens have none).
    pub fn counts_daily(&self) -> bool {
        matches!(
            self.kind,
            CallerKind::PrivateApp | CallerKind::StaticApp | CallerKind::ServiceKey
        )
    }
}

/// 403 for a credential HubSpot does not accept on this API (modelled).
pub fn refused_credential(kind: CallerKind, api: &str, accepted: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "INVALID_AUTHENTICATION",
        format!(
            "The {api} cannot be called with {}; use {accepted}.",
            kind.describe()
        ),
    )
    .with(
        "context",
        json!({ "credentialType": [format!("{kind:?}")] }),
    )
}

impl Sim {
    /// Identifies the caller of a request by its bearer token.
    ///
    /// # Errors
    /// 401 for a missing or unknown token, 401 EXPIRED_AUTHENTICATION for an expired one.
    pub(crate) fn authenticate(&self, token: Option<&str>) -> Result<Caller, ApiError> {
        let token = token.ok_or_else(ApiError::unauthenticated)?;
        let caller = |kind, app_id, scopes| Caller {
            token: token.to_owned(),
            kind,
            app_id,
            scopes,
        };
        let config = &self.config;
        if config.private_app_tokens.iter().any(|t| t == token) {
            return Ok(caller(CallerKind::PrivateApp, config.app_id, None));
        }
        if config.static_app_tokens.iter().any(|t| t == token) {
            return Ok(caller(CallerKind::StaticApp, config.app_id, None));
        }
        if config.service_keys.iter().any(|t| t == token) {
            return Ok(caller(CallerKind::ServiceKey, config.app_id, None));
        }
        if let Some((_, app_id)) = config.other_app_tokens.iter().find(|(t, _)| t == token) {
            return Ok(caller(CallerKind::PrivateApp, *app_id, None));
        }
        let check = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(token, self.now_ms());
        match check {
            AccessCheck::Valid(scopes, use_) => {
                let kind = match use_ {
                    TokenUse::Portal => CallerKind::OAuth,
                    TokenUse::ClientCredentials => CallerKind::ClientCredentials,
                };
                Ok(caller(kind, config.app_id, Some(scopes)))
            }
            AccessCheck::Expired(ms) => Err(ApiError::expired(ms.max(0) / 1000)),
            AccessCheck::Unknown => Err(ApiError::unauthenticated()),
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Middleware of the CRM routes: authenticates, applies faults and rate limits, and adds the
/// rate-limit headers.
pub async fn crm_guard(State(sim): State<SimState>, mut request: Request, next: Next) -> Response {
    let caller = match sim.authenticate(bearer(request.headers())) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if caller.kind == CallerKind::ClientCredentials {
        return refused_credential(
            caller.kind,
            "CRM API",
            "a token of an account: an OAuth access token, a static app token or a service key",
        )
        .into_response();
    }
    let required = required_scope(request.method(), request.uri().path());
    if let Some(scopes) = &caller.scopes {
        if !scopes.iter().any(|s| s == required) {
            return missing_scopes(required).into_response();
        }
    }
    let faults = sim.faults();
    let latency = sim.config.latency + Duration::from_millis(faults.latency_ms);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if sim.take_storm_request() {
        sim.count_throttled();
        let mut response = storm_refusal(&caller, sim.config.portal_id).into_response();
        if !faults.rate_limit_storm_bare {
            response
                .headers_mut()
                .extend(refusal_headers(&sim.config.rate_limits));
        }
        return response;
    }
    if faults.error_rate_percent > 0 && sim.chance(faults.error_rate_percent) {
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "BAD_GATEWAY",
            "The server encountered a temporary error (injected fault).",
        )
        .into_response();
    }
    let now = sim.now_ms();
    let is_search = request.uri().path().ends_with("/search");
    let headers = if is_search {
        sim.limiter
            .check_search(&sim.config.rate_limits, now)
            .map(|()| HeaderMap::new())
    } else {
        sim.limiter
            .check(&sim.config.rate_limits, &caller, sim.config.portal_id, now)
    };
    let headers = match headers {
        Ok(headers) => headers,
        Err(refusal) => {
            sim.count_throttled();
            let mut response = refusal.into_response();
            if !is_search {
                response
                    .headers_mut()
                    .extend(refusal_headers(&sim.config.rate_limits));
            }
            return response;
        }
    };
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    response.headers_mut().extend(headers);
    response
}

/// The scope a CRM request needs.
fn required_scope(method: &Method, path: &str) -> &'static str {
    let reads = method == Method::GET || path.ends_with("/batch/read") || path.ends_with("/search");
    let schema = path.starts_with("/crm/v3/properties")
        || path.starts_with("/crm/properties/")
        || path.starts_with("/properties/")
        || path.starts_with("/crm/v3/schemas");
    match (schema, reads) {
        (true, true) => "crm.schemas.contacts.read",
        (true, false) => "crm.schemas.contacts.write",
        (false, true) => "crm.objects.contacts.read",
        (false, false) => "crm.objects.contacts.write",
    }
}

/// 403 `MISSING_SCOPES` naming the scope the call needs.
pub fn missing_scopes(scope: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
    )
    .with(
        "errors",
        json!([{
            "message": "One or more of the following scopes are required.",
            "context": { "requiredGranularScopes": [scope] },
        }]),
    )
    .with("links", json!({ "scopes": "https://developers.hubspot.com/scopes" }))
}

/// Middleware of the webhook-management routes: the developer API key as `hapikey` query
/// parameter or as a bearer token.
pub async fn developer_guard(
    State(sim): State<SimState>,
    mut request: Request,
    next: Next,
) -> Response {
    let query = Query::parse(request.uri().query());
    let key = query
        .get("hapikey")
        .map(str::to_owned)
        .or_else(|| bearer(request.headers()).map(str::to_owned));
    match key {
        Some(key) if key == sim.config.developer_api_key => {
            request.extensions_mut().insert(Caller {
                token: key,
                kind: CallerKind::Developer,
                app_id: sim.config.app_id,
                scopes: None,
            });
            next.run(request).await
        }
        Some(key) if sim.config.service_keys.contains(&key) => refused_credential(
            CallerKind::ServiceKey,
            "webhooks API",
            "the developer API key, or a project app's webhooks configuration",
        )
        .into_response(),
        _ => ApiError::unauthenticated().into_response(),
    }
}
