//! Who is calling: private-app tokens, OAuth access tokens and the developer API key, and the
//! middleware that guards the CRM routes with authentication, injected faults and rate limits.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::ApiError;
use super::query::Query;
use super::ratelimit::storm_refusal;
use super::state::ChangeOrigin;
use super::{INTEGRATION_CHANGE_SOURCE, SimState};

/// The kind of credential a request came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallerKind {
    /// A private-app (static) token.
    PrivateApp,
    /// An OAuth access token.
    OAuth,
    /// The developer API key (webhook management).
    Developer,
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
    /// How this caller's writes appear in webhooks: `INTEGRATION` from the token's app.
    pub fn origin(&self) -> ChangeOrigin {
        ChangeOrigin {
            change_source: INTEGRATION_CHANGE_SOURCE.to_owned(),
            source_id: Some(self.app_id.to_string()),
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
        return storm_refusal(&caller, sim.config.portal_id).into_response();
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
            return refusal.into_response();
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
fn missing_scopes(scope: &str) -> ApiError {
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
        _ => ApiError::unauthenticated().into_response(),
    }
}
