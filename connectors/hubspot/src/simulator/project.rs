//! What `hs project upload` does for a project app's webhooks: the app's
//! `webhooks-hsmeta.json` replaces the webhook target and subscriptions as declared (a project
//! app has no API for them). Reached through `PUT /_sim/project/webhooks` or
//! [`super::HubSpotSimulator::deploy_project_webhooks`].
//!
//! Declarations accepted: `config.settings.{targetUrl, maxConcurrentRequests}` (more than
//! five) and `config.subscriptions.{legacyCrmObjects, crmObjects, hubEvents}`; generic
//! `object.*` subscriptions of `objectType: contact` are delivered as the `contact.*` events
//! they stand for. Anything else is refused with a message naming it, as the upload would.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::errors::{ApiError, json_response};
use super::webhooks::{Subscription, Throttling};
use super::{Sim, SimState};

/// `maxConcurrentRequests` must be greater than this.
const MIN_CONCURRENCY_EXCLUSIVE: u64 = 5;

/// The subscription types a contact sync can declare, as delivered.
fn delivered_type(declared: &str, object_type: Option<&str>) -> Option<&'static str> {
    let contact = object_type.is_none_or(|t| t.eq_ignore_ascii_case("contact") || t == "0-1");
    match declared {
        "contact.creation" => Some("contact.creation"),
        "contact.deletion" => Some("contact.deletion"),
        "contact.propertyChange" => Some("contact.propertyChange"),
        "contact.merge" => Some("contact.merge"),
        "contact.restore" => Some("contact.restore"),
        "contact.privacyDeletion" => Some("contact.privacyDeletion"),
        "object.creation" if contact => Some("contact.creation"),
        "object.deletion" if contact => Some("contact.deletion"),
        "object.propertyChange" if contact => Some("contact.propertyChange"),
        "object.merge" if contact => Some("contact.merge"),
        "object.restore" if contact => Some("contact.restore"),
        _ => None,
    }
}

/// Applies a `webhooks-hsmeta.json`; returns how many subscriptions are now declared.
///
/// # Errors
/// A message naming what the upload would refuse.
pub(crate) fn deploy(sim: &Sim, hsmeta: &Value) -> Result<usize, String> {
    if hsmeta.get("type").and_then(Value::as_str) != Some("webhooks") {
        return Err("`type` must be \"webhooks\"".to_owned());
    }
    let config = hsmeta.get("config").ok_or("`config` is missing")?;
    let settings = config
        .get("settings")
        .ok_or("`config.settings` is missing")?;
    let target_url = settings
        .get("targetUrl")
        .and_then(Value::as_str)
        .filter(|u| url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
        .ok_or("`config.settings.targetUrl` must be an absolute http(s) URL")?;
    let concurrency = settings
        .get("maxConcurrentRequests")
        .and_then(Value::as_u64)
        .unwrap_or(10);
    if concurrency <= MIN_CONCURRENCY_EXCLUSIVE {
        return Err(format!(
            "`maxConcurrentRequests` must be a number greater than {MIN_CONCURRENCY_EXCLUSIVE}"
        ));
    }
    let now = super::state::iso(sim.now_ms());
    let mut subscriptions = Vec::new();
    let groups = config.get("subscriptions").cloned().unwrap_or(json!({}));
    for group in ["legacyCrmObjects", "crmObjects", "hubEvents"] {
        for (index, entry) in groups
            .get(group)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let declared = entry
                .get("subscriptionType")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("`{group}[{index}].subscriptionType` is missing"))?;
            let event_type = delivered_type(
                declared,
                entry.get("objectType").and_then(Value::as_str),
            )
            .ok_or_else(|| {
                format!("`{group}[{index}]`: subscription type `{declared}` is not a contact event")
            })?;
            let property_name = entry
                .get("propertyName")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if (event_type == "contact.propertyChange") != property_name.is_some() {
                return Err(format!(
                    "`{group}[{index}]`: `propertyName` goes with property changes, and only with them"
                ));
            }
            subscriptions.push(Subscription {
                id: 0,
                event_type: event_type.to_owned(),
                property_name,
                active: entry.get("active").and_then(Value::as_bool).unwrap_or(true),
                created_at: now.clone(),
                updated_at: now.clone(),
            });
        }
    }
    let count = subscriptions.len();
    sim.webhooks.replace_declared(
        target_url.to_owned(),
        Throttling {
            max_concurrent_requests: u32::try_from(concurrency).unwrap_or(u32::MAX),
            period: Some("SECONDLY".to_owned()),
        },
        subscriptions,
        &now,
    );
    Ok(count)
}

/// `PUT /_sim/project/webhooks`: deploys a `webhooks-hsmeta.json`.
///
/// # Errors
/// 400 with what the upload would refuse.
pub async fn put(State(sim): State<SimState>, body: Bytes) -> Result<Response, ApiError> {
    let hsmeta: Value = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
    let subscriptions = deploy(&sim, &hsmeta).map_err(ApiError::validation)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "deployed": true, "subscriptions": subscriptions }),
    ))
}
