//! Contact Book's webhooks: `X-ContactBook-Signature: sha256=<hex>`, the HMAC-SHA256 of the
//! body alone with the account's webhook secret; freshness from the signed `sent_at`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tte_sync_core::Secret;
use tte_sync_core::connector::{
    ChangeEvent, ChangeKind, WebhookError, WebhookReceiver, WebhookRequest,
};
use tte_sync_core::record::CrmId;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-contactbook-signature";
/// How far `sent_at` may be from our clock.
pub const MAX_SKEW_SECS: i64 = 300;
/// The `actor` of changes made through the API. Any key's writes carry it, so it does not
/// say the change is this installation's own: echoes are left to the engine's snapshot rule.
pub const API_ACTOR: &str = "api";

/// A webhook body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// When Contact Book sent it.
    pub sent_at: DateTime<Utc>,
    /// The changes, oldest first.
    pub events: Vec<Event>,
}

/// One change in a [`Delivery`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// The event's id.
    pub id: String,
    /// `contact.created`, `contact.updated` or `contact.archived`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The contact.
    pub contact_id: String,
    /// The fields that changed.
    #[serde(default)]
    pub changed: Vec<String>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// `api` or `user:<n>`.
    pub actor: String,
}

/// `sha256=<hex>` of `body` with `secret`: what Contact Book puts in [`SIGNATURE_HEADER`].
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies and parses Contact Book webhooks for one account.
pub struct ContactBookWebhooks {
    secret: Secret,
}

impl ContactBookWebhooks {
    /// A receiver checking signatures with `secret`.
    pub fn new(secret: Secret) -> Self {
        Self { secret }
    }
}

impl WebhookReceiver for ContactBookWebhooks {
    fn verify(&self, request: &WebhookRequest<'_>, now: DateTime<Utc>) -> Result<(), WebhookError> {
        let signature = request
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| WebhookError::Unsigned(format!("no `{SIGNATURE_HEADER}` header")))?;
        let hex_part = signature.strip_prefix("sha256=").ok_or_else(|| {
            WebhookError::Unsigned(format!("`{SIGNATURE_HEADER}` is not sha256=<hex>"))
        })?;
        let given = hex::decode(hex_part).map_err(|_| WebhookError::BadSignature)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .expect("any key length");
        mac.update(request.body);
        mac.verify_slice(&given)
            .map_err(|_| WebhookError::BadSignature)?;
        let delivery: Delivery = serde_json::from_slice(request.body)
            .map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let skew = (now - delivery.sent_at).num_seconds().abs();
        if skew > MAX_SKEW_SECS {
            return Err(WebhookError::Stale(format!(
                "sent_at {} is {skew} s from this server's clock (at most {MAX_SKEW_SECS} s); check the clock",
                delivery.sent_at
            )));
        }
        Ok(())
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<ChangeEvent>, WebhookError> {
        let delivery: Delivery =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        delivery
            .events
            .into_iter()
            .map(|event| {
                let kind = match event.kind.as_str() {
                    "contact.created" => ChangeKind::Created,
                    "contact.updated" => ChangeKind::PropertyChanged,
                    "contact.archived" => ChangeKind::Deleted,
                    other => {
                        return Err(WebhookError::Malformed(format!(
                            "unknown event type `{other}`"
                        )));
                    }
                };
                Ok(ChangeEvent {
                    object_id: CrmId(event.contact_id),
                    kind,
                    property: event.changed.first().cloned(),
                    value: None,
                    occurred_at: event.occurred_at,
                    change_source: Some(event.actor.clone()),
                    source_id: Some(event.actor),
                    account: None,
                    event_id: Some(event.id),
                })
            })
            .collect()
    }
}
