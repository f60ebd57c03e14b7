//! The two webhook endpoints. Both verify, queue the changes durably in the store's inbox
//! and answer at once; the workers do the rest. Nothing is queued from a request that fails
//! any check.
//!
//! - `POST /webhooks/<crm>`: verified by the connector's `WebhookReceiver` against the URL
//!   the CRM signed (`server.public_url` + the path); the engine queues the events and drops
//!   those of our own writes. When the events name an account the connector does not know,
//!   it first re-reads the installed accounts from the store (an install since it last loaded
//!   them, on this replica or another), then decides.
//! - `POST /webhooks/tte/<token>`: 10to8 does not sign notifications, so the secret path token
//!   (made by `setup`, kept in the store) is the credential, compared in constant time.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method};
use chrono::Utc;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tte_sync_core::CustomerUri;
use tte_sync_core::connector::{WebhookError, WebhookRequest};

use super::metrics::{Rejection, Source};
use super::{ApiError, AppState};

/// The store setting holding the 10to8 notification path token.
pub const TTE_TOKEN_SETTING: &str = "tte.webhook_token";
/// The answer to an accepted webhook.
const ACCEPTED: &str = "OK";

/// `POST /webhooks/<crm>`: verify, parse, drop our own echoes, queue, answer 200.
///
/// # Errors
/// 401 for unsigned, tampered, stale or unknown-account requests; 400 for a malformed body;
/// 404 when the connector takes no webhooks; 503 when the store cannot be written (the CRM
/// retries).
pub async fn crm_webhook(
    State(state): State<Arc<AppState>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let Some(receiver) = state.connector.webhooks() else {
        return Err(ApiError::NotFound);
    };
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let signed_uri = state.public(path);
    let request = WebhookRequest {
        method: method.as_str(),
        uri: &signed_uri,
        headers: &headers,
        body: &body,
    };
    let now = Utc::now();
    let verified = receiver
        .verify(&request, now)
        .and_then(|()| receiver.parse(&body));
    let events = match verified {
        // Installed since this process loaded the accounts (here or on another replica):
        // learn them from the store and parse again. Only signed requests get this far.
        Err(WebhookError::UnknownAccount(account))
            if super::oauth::load_installed(&state)
                .await
                .contains(&account) =>
        {
            receiver.parse(&body)
        }
        other => other,
    }
    .map_err(|error| refuse(&state, Source::Crm, &error))?;
    let received = events.len() as u64;
    let (queued, echoes) = state.engine.enqueue_crm_events(&events).await?;
    tracing::debug!(
        received,
        echoes,
        new = queued.inserted,
        merged = queued.merged,
        "Queued CRM webhook events."
    );
    state.metrics.events_received(Source::Crm, received);
    state.metrics.echoes_suppressed(echoes);
    Ok(ACCEPTED)
}

fn refuse(state: &AppState, source: Source, error: &WebhookError) -> ApiError {
    if error.is_authentication() {
        state.metrics.rejected(source, Rejection::Unauthorized);
        tracing::warn!(%error, "Refused a webhook request.");
        ApiError::Unauthorized(error.to_string())
    } else {
        state.metrics.rejected(source, Rejection::Malformed);
        tracing::warn!(%error, "Refused a malformed webhook request.");
        ApiError::BadRequest(error.to_string())
    }
}

/// A 10to8 subscription notification.
#[derive(Debug, Deserialize)]
struct TteNotification {
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    items: Vec<String>,
}

/// `POST /webhooks/tte/<token>`: check the token, queue each notified customer, answer 200.
///
/// # Errors
/// 404 for a wrong token (or before `setup` made one); 400 for a malformed body or a URI
/// outside the configured 10to8; 503 when the store cannot be written.
pub async fn tte_webhook(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let expected = state.store.setting(TTE_TOKEN_SETTING).await?;
    if !token_matches(expected.as_deref(), &token) {
        state.metrics.rejected(Source::Tte, Rejection::Unauthorized);
        if expected.is_none() {
            tracing::warn!("Refused a 10to8 notification: no token yet; run `tte-sync setup`.");
        } else {
            tracing::warn!("Refused a 10to8 notification with a wrong path token.");
        }
        return Err(ApiError::NotFound);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ACCEPTED);
    }
    let notification: TteNotification = serde_json::from_slice(&body).map_err(|error| {
        state.metrics.rejected(Source::Tte, Rejection::Malformed);
        ApiError::BadRequest(format!("not a 10to8 notification: {error}"))
    })?;
    let scope = notification.scope.as_deref();
    if scope.is_some_and(|scope| scope != tte_sync_core::tte::SCOPE_CUSTOMER) {
        tracing::debug!(scope, "Ignored a 10to8 notification of another scope.");
        return Ok(ACCEPTED);
    }
    if let Some(foreign) = notification
        .items
        .iter()
        .find(|uri| !uri.starts_with(&state.tte_customers_url))
    {
        state.metrics.rejected(Source::Tte, Rejection::Malformed);
        return Err(ApiError::BadRequest(format!(
            "`{foreign}` is not a customer of the configured 10to8 ({}); check `tte.api_base_url`",
            state.tte_customers_url
        )));
    }
    let count = notification.items.len() as u64;
    if count > 0 {
        let uris: Vec<CustomerUri> = notification.items.into_iter().map(CustomerUri).collect();
        state.engine.enqueue_hub_changes(&uris).await?;
    }
    state.metrics.events_received(Source::Tte, count);
    Ok(ACCEPTED)
}

/// Compares the path token with the stored one in constant time (over fixed-length digests,
/// so not even the length leaks). No stored token matches nothing.
fn token_matches(expected: Option<&str>, given: &str) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    let expected = Sha256::digest(expected.as_bytes());
    let given = Sha256::digest(given.as_bytes());
    bool::from(expected.ct_eq(&given))
}

/// A new random path token: 32 bytes as hex.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_the_stored_one() {
        let token = new_token();
        assert_eq!(token.len(), 64);
        assert!(token_matches(Some(&token), &token));
        assert!(!token_matches(Some(&token), &new_token()));
        assert!(!token_matches(Some(&token), ""));
        assert!(!token_matches(None, &token));
    }
}
