//! Pipedrive's webhooks: unsigned v2 event bodies whose only proof of origin is the HTTP
//! basic-auth credentials registered with the webhook (checked in constant time), parsed into
//! change events; a change the connector's own token made (`change_source: api` by its own
//! user) is dropped as an echo.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use subtle::ConstantTimeEq;
use tte_sync_core::Secret;
use tte_sync_core::connector::{
    ChangeEvent, ChangeKind, WebhookError, WebhookReceiver, WebhookRequest,
};
use tte_sync_core::record::CrmId;

/// The change source of changes made through the API.
pub const API_SOURCE: &str = "api";
/// The change source of changes made in the web app.
pub const APP_SOURCE: &str = "app";

/// The `Authorization` value Pipedrive sends with basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// A v2 webhook body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// What happened, by whom.
    pub meta: Meta,
    /// The entity after the change (`null` for a delete).
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// The changed fields' earlier values.
    #[serde(default)]
    pub previous: Option<serde_json::Value>,
}

/// `meta` of a v2 webhook body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// `create`, `change` or `delete`.
    pub action: String,
    /// `person`, `deal`, …
    pub entity: String,
    /// The entity's id.
    #[serde(deserialize_with = "text_or_number")]
    pub entity_id: String,
    /// The event's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The company the entity belongs to.
    #[serde(default, deserialize_with = "optional_text_or_number")]
    pub company_id: Option<String>,
    /// The user who made the change.
    #[serde(default, deserialize_with = "optional_text_or_number")]
    pub user_id: Option<String>,
    /// `app` or `api`.
    #[serde(default)]
    pub change_source: Option<String>,
    /// When it happened: an RFC 3339 time, or milliseconds since the epoch.
    #[serde(deserialize_with = "time_or_millis")]
    pub timestamp: DateTime<Utc>,
    /// On the delete of a person merged into another: the survivor.
    #[serde(default, deserialize_with = "optional_text_or_number")]
    pub merged_to_id: Option<String>,
}

fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

fn time_or_millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom),
        serde_json::Value::Number(number) => number
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a time"))),
        other => Err(serde::de::Error::custom(format!(
            "expected a time, got {other}"
        ))),
    }
}

fn optional_text_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(text) => Ok(Some(text)),
        serde_json::Value::Number(number) => Ok(Some(number.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

/// Verifies and parses Pipedrive webhooks for one account.
pub struct PipedriveWebhooks {
    expected: Secret,
    own_user: Arc<OnceLock<u64>>,
}

impl PipedriveWebhooks {
    /// A receiver that takes requests carrying `user` and `password`; `own_user` is filled
    /// with the token's user once the connector knows it.
    pub fn new(user: &str, password: &Secret, own_user: Arc<OnceLock<u64>>) -> Self {
        Self {
            expected: Secret::new(basic_auth(user, password.expose())),
            own_user,
        }
    }
}

impl WebhookReceiver for PipedriveWebhooks {
    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        _now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        let given = request
            .headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| {
                WebhookError::Unsigned(
                    "no basic-auth `Authorization` header; create the webhook with \
                     `tte-sync setup`, which registers the credentials"
                        .to_owned(),
                )
            })?;
        if !given.as_bytes().starts_with(b"Basic ") {
            return Err(WebhookError::Unsigned(
                "the `Authorization` header is not basic auth".to_owned(),
            ));
        }
        let matches: bool = given
            .as_bytes()
            .ct_eq(self.expected.expose().as_bytes())
            .into();
        if matches {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<ChangeEvent>, WebhookError> {
        let event: Event =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let meta = event.meta;
        if meta.entity != "person" {
            return Ok(Vec::new());
        }
        let kind = match (meta.action.as_str(), &meta.merged_to_id) {
            ("create", _) => ChangeKind::Created,
            ("change", _) => ChangeKind::PropertyChanged,
            // The survivor gets its own `change`; the merged-away one is reported as merged
            // into it, so the engine keeps the link to the survivor.
            ("delete", Some(survivor)) => {
                return Ok(vec![ChangeEvent {
                    object_id: CrmId(survivor.clone()),
                    kind: ChangeKind::Merged {
                        merged_ids: vec![CrmId(meta.entity_id.clone())],
                    },
                    property: None,
                    value: None,
                    occurred_at: meta.timestamp,
                    change_source: meta.change_source,
                    source_id: meta.user_id,
                    account: meta.company_id,
                    event_id: meta.id,
                }]);
            }
            ("delete", None) => ChangeKind::Deleted,
            (other, _) => {
                return Err(WebhookError::Malformed(format!(
                    "unknown webhook action `{other}`"
                )));
            }
        };
        let property = event
            .previous
            .as_ref()
            .and_then(|previous| previous.as_object())
            .and_then(|previous| previous.keys().next().cloned());
        Ok(vec![ChangeEvent {
            object_id: CrmId(meta.entity_id),
            kind,
            property,
            value: None,
            occurred_at: meta.timestamp,
            change_source: meta.change_source,
            source_id: meta.user_id,
            account: meta.company_id,
            event_id: meta.id,
        }])
    }

    fn is_own_echo(&self, event: &ChangeEvent) -> bool {
        let Some(own) = self.own_user.get() else {
            return false;
        };
        event.change_source.as_deref() == Some(API_SOURCE)
            && event.source_id.as_deref() == Some(own.to_string().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(own: Option<u64>) -> PipedriveWebhooks {
        let cell = Arc::new(OnceLock::new());
        if let Some(own) = own {
            cell.set(own).unwrap();
        }
        PipedriveWebhooks::new("tte", &Secret::new("s3cret"), cell)
    }

    fn request<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest {
            method: "POST",
            uri: "https://sync.example/webhooks/pipedrive",
            headers,
            body,
        }
    }

    #[test]
    fn only_the_registered_credentials_verify() {
        let receiver = receiver(None);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            basic_auth("tte", "s3cret").parse().unwrap(),
        );
        assert_eq!(
            receiver.verify(&request(&headers, b"{}"), Utc::now()),
            Ok(())
        );
        headers.insert(
            http::header::AUTHORIZATION,
            basic_auth("tte", "guess").parse().unwrap(),
        );
        assert_eq!(
            receiver.verify(&request(&headers, b"{}"), Utc::now()),
            Err(WebhookError::BadSignature)
        );
        headers.insert(http::header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert!(matches!(
            receiver.verify(&request(&headers, b"{}"), Utc::now()),
            Err(WebhookError::Unsigned(_))
        ));
    }

    fn body(action: &str, source: &str, user: u64, extra: serde_json::Value) -> Vec<u8> {
        let mut meta = serde_json::json!({
            "action": action, "entity": "person", "entity_id": "12", "id": "e-1",
            "company_id": 5, "user_id": user.to_string(), "change_source": source,
            "timestamp": "2026-01-01T10:00:00Z", "version": "2.0",
        });
        if let (Some(meta), Some(extra)) = (meta.as_object_mut(), extra.as_object()) {
            meta.extend(extra.clone());
        }
        serde_json::to_vec(&serde_json::json!({
            "meta": meta, "data": {"id": 12}, "previous": {"name": "Old"},
        }))
        .unwrap()
    }

    #[test]
    fn v2_events_parse_and_our_own_api_changes_are_echoes() {
        let receiver = receiver(Some(77));
        let events = receiver
            .parse(&body("change", API_SOURCE, 77, serde_json::json!({})))
            .unwrap();
        assert_eq!(events[0].object_id, CrmId::from("12"));
        assert_eq!(events[0].kind, ChangeKind::PropertyChanged);
        assert_eq!(events[0].property.as_deref(), Some("name"));
        assert!(receiver.is_own_echo(&events[0]));
        let by_person = receiver
            .parse(&body("change", APP_SOURCE, 77, serde_json::json!({})))
            .unwrap();
        assert!(!receiver.is_own_echo(&by_person[0]), "an edit in the app");
        let by_other_token = receiver
            .parse(&body("change", API_SOURCE, 78, serde_json::json!({})))
            .unwrap();
        assert!(
            !receiver.is_own_echo(&by_other_token[0]),
            "another integration"
        );
    }

    #[test]
    fn a_merge_is_the_delete_of_the_merged_away_person_naming_the_survivor() {
        let receiver = receiver(None);
        let events = receiver
            .parse(&body(
                "delete",
                APP_SOURCE,
                1,
                serde_json::json!({"merged_to_id": 30}),
            ))
            .unwrap();
        assert_eq!(events[0].object_id, CrmId::from("30"));
        assert_eq!(
            events[0].kind,
            ChangeKind::Merged {
                merged_ids: vec![CrmId::from("12")]
            }
        );
        let deleted = receiver
            .parse(&body("delete", APP_SOURCE, 1, serde_json::json!({})))
            .unwrap();
        assert_eq!(deleted[0].kind, ChangeKind::Deleted);
        assert!(matches!(
            receiver.parse(b"{not json"),
            Err(WebhookError::Malformed(_))
        ));
        let millis = br#"{"meta": {"action": "change", "entity": "person", "entity_id": 5,
            "timestamp": 1767261600000}, "data": null, "previous": null}"#;
        let events = receiver.parse(millis).unwrap();
        assert_eq!(events[0].object_id, CrmId::from("5"));
        assert_eq!(
            events[0].occurred_at.to_rfc3339(),
            "2026-01-01T10:00:00+00:00"
        );
        let v1 = br#"{"meta": {"action": "updated", "entity": "person", "entity_id": 5,
            "timestamp": 1767261600000}}"#;
        assert!(
            matches!(receiver.parse(v1), Err(WebhookError::Malformed(_))),
            "a v1 action is not a v2 event"
        );
    }
}
