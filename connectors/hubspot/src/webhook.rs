//! HubSpot webhooks: signature verification (v3, and v1/v2 only when configured), parsing of
//! event batches into [`ChangeEvent`]s, and telling our own echoes apart.
//!
//! v3 is `base64(HMAC-SHA256(client_secret, method + uri + body + timestamp))` over the full
//! URI with exactly the documented `%XX` sequences decoded; a timestamp more than the tolerance
//! (5 minutes) away from our clock, either way, is refused. Signatures are compared in constant
//! time. When v3 is accepted, a request carrying a v3 signature is judged on v3 alone (no
//! downgrade to v1/v2).

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tte_sync_core::CrmId;
use tte_sync_core::Secret;
use tte_sync_core::connector::{
    ChangeEvent, ChangeKind, WebhookError, WebhookReceiver, WebhookRequest,
};

use crate::config::{HubSpotConfig, SignatureVersion};

/// Header of the v3 signature.
pub const HEADER_SIGNATURE_V3: &str = "x-hubspot-signature-v3";
/// Header of the v3 timestamp (epoch milliseconds).
pub const HEADER_TIMESTAMP: &str = "x-hubspot-request-timestamp";
/// Header of the v1/v2 signature.
pub const HEADER_SIGNATURE: &str = "x-hubspot-signature";
/// Header naming the v1/v2 version.
pub const HEADER_SIGNATURE_VERSION: &str = "x-hubspot-signature-version";

/// The `%XX` sequences HubSpot decodes in the URI before signing with v3, and nothing else.
const V3_DECODED: &[(&str, char)] = &[
    ("3A", ':'),
    ("2F", '/'),
    ("3F", '?'),
    ("40", '@'),
    ("21", '!'),
    ("24", '$'),
    ("27", '\''),
    ("28", '('),
    ("29", ')'),
    ("2A", '*'),
    ("2C", ','),
    ("3B", ';'),
];

/// The change source HubSpot reports for writes made through an app's API calls.
pub const CHANGE_SOURCE_INTEGRATION: &str = "INTEGRATION";

type HmacSha256 = Hmac<Sha256>;

/// The URI as HubSpot signs it with v3: the documented `%XX` sequences decoded (either hex
/// case), every other byte — `%20`, `%26`, `%3D`, … — kept as it was.
pub fn decode_uri_for_v3(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let decoded = after.get(..2).and_then(|hex| {
            V3_DECODED
                .iter()
                .find(|(code, _)| code.eq_ignore_ascii_case(hex))
                .map(|(_, c)| *c)
        });
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[2..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The v3 signature of a request: standard base64 (with padding) of the HMAC-SHA256.
pub fn sign_v3(secret: &Secret, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    BASE64.encode(mac_v3(secret, method, uri, body, timestamp))
}

fn mac_v3(secret: &Secret, method: &str, uri: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(method.as_bytes());
    mac.update(decode_uri_for_v3(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn digest_v1_v2(secret: &Secret, parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(secret.expose().as_bytes());
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

fn header<'a>(request: &'a WebhookRequest<'_>, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Verifies and parses HubSpot webhook requests for one installation.
#[derive(Debug, Clone)]
pub struct HubSpotWebhooks {
    secret: Option<Secret>,
    versions: Vec<SignatureVersion>,
    tolerance_ms: i64,
    portals: Arc<RwLock<BTreeSet<String>>>,
    app_id: Option<u64>,
}

impl HubSpotWebhooks {
    /// A receiver configured from the connector's config; `portals` is shared with the OAuth
    /// flow, which adds each portal it installs into.
    pub fn new(config: &HubSpotConfig, portals: Arc<RwLock<BTreeSet<String>>>) -> Self {
        {
            let mut known = portals.write().unwrap_or_else(|e| e.into_inner());
            known.extend(config.webhooks.portal_ids.iter().map(u64::to_string));
        }
        Self {
            secret: config.webhook_secret().cloned(),
            versions: config.webhooks.signature_versions.clone(),
            tolerance_ms: i64::try_from(config.webhooks.timestamp_tolerance_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            portals,
            app_id: config.app_id,
        }
    }

    fn accepts(&self, version: SignatureVersion) -> bool {
        self.versions.contains(&version)
    }

    fn verify_v3(
        &self,
        secret: &Secret,
        request: &WebhookRequest<'_>,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        let timestamp = header(request, HEADER_TIMESTAMP).ok_or_else(|| {
            WebhookError::Unsigned(format!(
                "the v3 signature comes without `{HEADER_TIMESTAMP}`"
            ))
        })?;
        let sent_ms: i64 = timestamp.trim().parse().map_err(|_| {
            WebhookError::Stale(format!(
                "`{HEADER_TIMESTAMP}` is not a number of milliseconds"
            ))
        })?;
        let age_ms = now.timestamp_millis().saturating_sub(sent_ms);
        if age_ms > self.tolerance_ms {
            return Err(WebhookError::Stale(format!(
                "signed {} s ago; check the server clock if this is not a replay",
                age_ms / 1000
            )));
        }
        if -age_ms > self.tolerance_ms {
            return Err(WebhookError::Stale(format!(
                "signed {} s in the future; check the server clock",
                -age_ms / 1000
            )));
        }
        let given = BASE64
            .decode(signature.trim())
            .map_err(|_| WebhookError::BadSignature)?;
        let expected = mac_v3(secret, request.method, request.uri, request.body, timestamp);
        if bool::from(given.ct_eq(&expected)) {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    fn verify_v1_v2(
        &self,
        secret: &Secret,
        request: &WebhookRequest<'_>,
        signature: &str,
        version: SignatureVersion,
    ) -> Result<(), WebhookError> {
        let given = hex::decode(signature.trim()).map_err(|_| WebhookError::BadSignature)?;
        let expected = match version {
            SignatureVersion::V1 => digest_v1_v2(secret, &[request.body]),
            _ => digest_v1_v2(
                secret,
                &[
                    request.method.as_bytes(),
                    request.uri.as_bytes(),
                    request.body,
                ],
            ),
        };
        if bool::from(given.ct_eq(&expected)) {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

impl WebhookReceiver for HubSpotWebhooks {
    /// Our echo: the event's `sourceId` is our app id (bare, or as `app:<id>`).
    fn is_own_echo(&self, event: &ChangeEvent) -> bool {
        let (Some(app_id), Some(source_id)) = (self.app_id, event.source_id.as_deref()) else {
            return false;
        };
        let app_id = app_id.to_string();
        let id = ["app:", "appId:", "app-"]
            .iter()
            .find_map(|prefix| source_id.strip_prefix(prefix))
            .unwrap_or(source_id);
        id == app_id
    }

    fn verify(&self, request: &WebhookRequest<'_>, now: DateTime<Utc>) -> Result<(), WebhookError> {
        let secret = self.secret.as_ref().ok_or_else(|| {
            WebhookError::Unsigned(
                "no client secret is configured to check signatures with; set `hubspot.oauth.client_secret` or `hubspot.webhooks.client_secret`".to_owned(),
            )
        })?;
        if let Some(signature) = header(request, HEADER_SIGNATURE_V3)
            && self.accepts(SignatureVersion::V3)
        {
            return self.verify_v3(secret, request, signature, now);
        }
        if let Some(signature) = header(request, HEADER_SIGNATURE) {
            let version = match header(request, HEADER_SIGNATURE_VERSION).map(str::trim) {
                Some(v) if v.eq_ignore_ascii_case("v2") => SignatureVersion::V2,
                Some(v) if v.eq_ignore_ascii_case("v1") => SignatureVersion::V1,
                None => SignatureVersion::V1,
                Some(other) => {
                    return Err(WebhookError::Unsigned(format!(
                        "unknown signature version `{other}`"
                    )));
                }
            };
            if !self.accepts(version) {
                return Err(WebhookError::Unsigned(format!(
                    "{} signatures are refused; HubSpot signs every app request with v3 too, or add the version to `hubspot.webhooks.signature_versions`",
                    version.as_str()
                )));
            }
            return self.verify_v1_v2(secret, request, signature, version);
        }
        let accepted: Vec<&str> = self.versions.iter().map(|v| v.as_str()).collect();
        Err(WebhookError::Unsigned(format!(
            "no signature of an accepted version ({}); check `hubspot.webhooks.signature_versions`",
            accepted.join(", ")
        )))
    }

    fn parse(&self, body: &[u8]) -> Result<Vec<ChangeEvent>, WebhookError> {
        let raw: Vec<RawEvent> = serde_json::from_slice(body).map_err(|e| {
            WebhookError::Malformed(format!("expected a JSON array of events: {e}"))
        })?;
        let known = self.portals.read().unwrap_or_else(|e| e.into_inner());
        let mut events = Vec::with_capacity(raw.len());
        for (index, event) in raw.into_iter().enumerate() {
            let portal = event
                .portal_id
                .as_ref()
                .and_then(id_string)
                .ok_or_else(|| WebhookError::Malformed(format!("event {index} has no portalId")))?;
            if !known.contains(&portal) {
                return Err(WebhookError::UnknownAccount(portal));
            }
            if let Some(event) = event.into_change(index, portal)? {
                events.push(event);
            }
        }
        Ok(events)
    }
}

/// One event as HubSpot sends it; every field optional, ids as numbers or strings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    event_id: Option<Value>,
    portal_id: Option<Value>,
    object_id: Option<Value>,
    object_type_id: Option<String>,
    subscription_type: Option<String>,
    event_type: Option<String>,
    occurred_at: Option<Value>,
    property_name: Option<String>,
    property_value: Option<Value>,
    change_source: Option<String>,
    source_id: Option<Value>,
    primary_object_id: Option<Value>,
    new_object_id: Option<Value>,
    #[serde(default)]
    merged_object_ids: Vec<Value>,
}

/// The object type id of contacts in generic `object.*` events.
const CONTACT_OBJECT_TYPE_ID: &str = "0-1";

fn id_string(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        _ => None,
    }
}

impl RawEvent {
    fn into_change(
        self,
        index: usize,
        portal: String,
    ) -> Result<Option<ChangeEvent>, WebhookError> {
        let malformed = |what: &str| WebhookError::Malformed(format!("event {index} {what}"));
        let subscription = self
            .subscription_type
            .or(self.event_type)
            .ok_or_else(|| malformed("has no subscriptionType"))?;
        let Some((object, action)) = subscription.split_once('.') else {
            return Err(malformed("has a subscriptionType without a `.`"));
        };
        let is_contact = object == "contact"
            || (object == "object"
                && self.object_type_id.as_deref() == Some(CONTACT_OBJECT_TYPE_ID));
        if !is_contact {
            tracing::debug!(
                subscription,
                "Ignoring a webhook event for another object type."
            );
            return Ok(None);
        }
        let object_id = self
            .object_id
            .as_ref()
            .and_then(id_string)
            .ok_or_else(|| malformed("has no numeric objectId"))?;
        let occurred_ms = match &self.occurred_at {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| malformed("has no occurredAt"))?;
        let occurred_at = DateTime::<Utc>::from_timestamp_millis(occurred_ms)
            .ok_or_else(|| malformed("has an occurredAt out of range"))?;
        let mut object_id = CrmId(object_id);
        let kind = match action {
            "creation" => ChangeKind::Created,
            "propertyChange" => ChangeKind::PropertyChanged,
            "deletion" => ChangeKind::Deleted,
            "restore" => ChangeKind::Restored,
            "privacyDeletion" => ChangeKind::PrivacyDeleted,
            "merge" => {
                let survivor = self
                    .new_object_id
                    .as_ref()
                    .or(self.primary_object_id.as_ref())
                    .and_then(id_string)
                    .map(CrmId)
                    .unwrap_or_else(|| object_id.clone());
                let mut merged: Vec<CrmId> = self
                    .merged_object_ids
                    .iter()
                    .filter_map(id_string)
                    .map(CrmId)
                    .collect();
                if let Some(primary) = self.primary_object_id.as_ref().and_then(id_string)
                    && primary != survivor.0
                {
                    merged.push(CrmId(primary));
                }
                if object_id != survivor {
                    merged.push(object_id.clone());
                }
                merged.retain(|id| *id != survivor);
                merged.sort();
                merged.dedup();
                object_id = survivor;
                ChangeKind::Merged { merged_ids: merged }
            }
            other => {
                tracing::debug!(
                    action = other,
                    "Ignoring a webhook event of an unused kind."
                );
                return Ok(None);
            }
        };
        let property = matches!(kind, ChangeKind::PropertyChanged)
            .then_some(self.property_name)
            .flatten();
        if matches!(kind, ChangeKind::PropertyChanged) && property.is_none() {
            return Err(malformed("is a propertyChange without propertyName"));
        }
        Ok(Some(ChangeEvent {
            object_id,
            kind,
            property,
            value: self.property_value.map(|v| match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            }),
            occurred_at,
            change_source: self.change_source,
            source_id: self.source_id.map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            account: Some(portal),
            event_id: self.event_id.map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const NOW_MS: i64 = 1_715_203_101_896;

    fn receiver(versions: Vec<SignatureVersion>) -> HubSpotWebhooks {
        let mut config = HubSpotConfig::with_private_app_token(
            "http://127.0.0.1:1".parse().unwrap(),
            Secret::new("pat"),
        );
        config.webhooks.client_secret = Some(Secret::new(SECRET));
        config.webhooks.portal_ids = vec![62515, 891472211];
        config.webhooks.signature_versions = versions;
        config.app_id = Some(54321);
        HubSpotWebhooks::new(&config, Arc::default())
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(NOW_MS).unwrap()
    }

    /// The v3 signature computed independently of the code under test: the message is built
    /// by hand with the URI already decoded as the table says.
    fn reference_v3(message: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(message.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    const BODY: &str = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;

    #[test]
    fn v3_signature_over_the_decoded_uri_is_accepted() {
        let uri = "https://example.com/webhooks/hubspot?to=a%40b.c&q=%3Ax%20y%3D";
        let timestamp = (NOW_MS - 1000).to_string();
        // Decoded by hand: %40 and %3A are in the table, %20 and %3D are not.
        let message = format!(
            "POST{}{BODY}{timestamp}",
            "https://example.com/webhooks/hubspot?to=a@b.c&q=:x%20y%3D"
        );
        let signature = reference_v3(&message);
        assert_eq!(signature.len(), 44);
        let map = headers(&[
            (HEADER_SIGNATURE_V3, &signature),
            (HEADER_TIMESTAMP, &timestamp),
        ]);
        let request = WebhookRequest {
            method: "POST",
            uri,
            headers: &map,
            body: BODY.as_bytes(),
        };
        receiver(vec![SignatureVersion::V3])
            .verify(&request, now())
            .unwrap();
        // One changed byte anywhere fails.
        let tampered = WebhookRequest {
            body: &BODY.as_bytes()[1..],
            ..request
        };
        assert_eq!(
            receiver(vec![SignatureVersion::V3]).verify(&tampered, now()),
            Err(WebhookError::BadSignature)
        );
        let other_uri = WebhookRequest {
            uri: "https://example.com/webhooks/hubspot?to=a%40b.c&q=%3Ax%20y=",
            ..request
        };
        assert_eq!(
            receiver(vec![SignatureVersion::V3]).verify(&other_uri, now()),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn every_table_entry_is_decoded_and_nothing_else() {
        assert_eq!(
            decode_uri_for_v3("%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B%3a%2f"),
            ":/?@!$'()*,;:/"
        );
        assert_eq!(decode_uri_for_v3("%20%26%3D%25%2%"), "%20%26%3D%25%2%");
        assert_eq!(decode_uri_for_v3("é%40ü"), "é@ü");
    }

    #[test]
    fn v3_timestamps_older_or_newer_than_five_minutes_are_stale() {
        let uri = "https://example.com/hook";
        for (offset, ok) in [
            (-300_000, true),
            (-300_001, false),
            (300_000, true),
            (300_001, false),
        ] {
            let timestamp = (NOW_MS + offset).to_string();
            let signature = reference_v3(&format!("POST{uri}{BODY}{timestamp}"));
            let map = headers(&[
                (HEADER_SIGNATURE_V3, &signature),
                (HEADER_TIMESTAMP, &timestamp),
            ]);
            let request = WebhookRequest {
                method: "POST",
                uri,
                headers: &map,
                body: BODY.as_bytes(),
            };
            let result = receiver(vec![SignatureVersion::V3]).verify(&request, now());
            assert_eq!(result.is_ok(), ok, "{offset}: {result:?}");
            if !ok {
                assert!(matches!(result, Err(WebhookError::Stale(_))));
            }
        }
    }

    #[test]
    fn v1_and_v2_only_when_configured_and_never_instead_of_a_bad_v3() {
        let uri = "https://example.com/hook?a=1";
        let v1 = hex::encode(Sha256::digest(format!("{SECRET}{BODY}").as_bytes()));
        let v2 = hex::encode(Sha256::digest(
            format!("{SECRET}POST{uri}{BODY}").as_bytes(),
        ));
        for (version, signature, name) in [
            ("v1", &v1, SignatureVersion::V1),
            ("v2", &v2, SignatureVersion::V2),
        ] {
            let map = headers(&[
                (HEADER_SIGNATURE, signature),
                (HEADER_SIGNATURE_VERSION, version),
            ]);
            let request = WebhookRequest {
                method: "POST",
                uri,
                headers: &map,
                body: BODY.as_bytes(),
            };
            assert!(matches!(
                receiver(vec![SignatureVersion::V3]).verify(&request, now()),
                Err(WebhookError::Unsigned(_))
            ));
            receiver(vec![SignatureVersion::V3, name])
                .verify(&request, now())
                .unwrap();
        }
        // A valid v1 beside an invalid v3 is refused.
        let map = headers(&[
            (HEADER_SIGNATURE, &v1),
            (HEADER_SIGNATURE_VERSION, "v1"),
            (HEADER_SIGNATURE_V3, "AAAA"),
            (HEADER_TIMESTAMP, &NOW_MS.to_string()),
        ]);
        let request = WebhookRequest {
            method: "POST",
            uri,
            headers: &map,
            body: BODY.as_bytes(),
        };
        assert_eq!(
            receiver(vec![SignatureVersion::V1, SignatureVersion::V3]).verify(&request, now()),
            Err(WebhookError::BadSignature)
        );
        // Where only v1 is accepted, the v3 header is not looked at.
        receiver(vec![SignatureVersion::V1])
            .verify(&request, now())
            .unwrap();
        let unsigned = http::HeaderMap::new();
        let request = WebhookRequest {
            headers: &unsigned,
            ..request
        };
        assert!(matches!(
            receiver(vec![SignatureVersion::V3]).verify(&request, now()),
            Err(WebhookError::Unsigned(_))
        ));
    }

    #[test]
    fn batches_parse_into_change_events() {
        let body = r#"[
          {"eventId":3029365631,"subscriptionId":686627,"portalId":891472211,"appId":7906213,"occurredAt":1715203101896,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":847297356,"propertyName":"passport_number","propertyValue":"REDACTED","changeSource":"CRM_UI","sourceId":"userId:882761034"},
          {"eventId":2,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.merge","objectId":10,"primaryObjectId":10,"mergedObjectIds":[11,12],"newObjectId":10,"numberOfPropertiesMoved":3},
          {"eventId":3,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.privacyDeletion","objectId":"13"},
          {"eventId":4,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"object.restore","objectTypeId":"0-1","objectId":14},
          {"eventId":5,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"company.creation","objectId":15},
          {"eventId":6,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.propertyChange","objectId":16,"propertyName":"email","propertyValue":"x@y.z","changeSource":"INTEGRATION","sourceId":"54321"}
        ]"#;
        let receiver = receiver(vec![SignatureVersion::V3]);
        let events = receiver.parse(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 5, "the company event is skipped");
        assert_eq!(events[0].object_id, CrmId::from("847297356"));
        assert_eq!(events[0].kind, ChangeKind::PropertyChanged);
        assert_eq!(events[0].property.as_deref(), Some("passport_number"));
        assert_eq!(events[0].account.as_deref(), Some("891472211"));
        assert_eq!(events[0].source_id.as_deref(), Some("userId:882761034"));
        assert_eq!(events[0].change_source.as_deref(), Some("CRM_UI"));
        assert_eq!(events[0].occurred_at.timestamp_millis(), 1_715_203_101_896);
        assert_eq!(
            events[1].kind,
            ChangeKind::Merged {
                merged_ids: vec![CrmId::from("11"), CrmId::from("12")]
            }
        );
        assert_eq!(events[1].object_id, CrmId::from("10"));
        assert_eq!(events[2].kind, ChangeKind::PrivacyDeleted);
        assert_eq!(events[3].kind, ChangeKind::Restored);
        assert!(!receiver.is_own_echo(&events[0]));
        assert!(receiver.is_own_echo(&events[4]));
    }

    #[test]
    fn unknown_portals_and_malformed_bodies_are_refused() {
        let receiver = receiver(vec![SignatureVersion::V3]);
        let other = BODY.replace("62515", "777");
        assert_eq!(
            receiver.parse(other.as_bytes()),
            Err(WebhookError::UnknownAccount("777".to_owned()))
        );
        for body in [
            "",
            "{}",
            "[1]",
            r#"[{"portalId":62515}]"#,
            r#"[{"portalId":62515,"subscriptionType":"contact.creation","objectId":-1,"occurredAt":1}]"#,
            r#"[{"portalId":62515,"subscriptionType":"contact.propertyChange","objectId":1,"occurredAt":1}]"#,
        ] {
            assert!(
                matches!(
                    receiver.parse(body.as_bytes()),
                    Err(WebhookError::Malformed(_))
                ),
                "{body}"
            );
        }
        assert_eq!(receiver.parse(b"[]"), Ok(vec![]));
    }

    proptest! {
        #[test]
        fn parse_and_verify_never_panic_on_random_bytes(body in proptest::collection::vec(any::<u8>(), 0..512), ts in any::<i64>()) {
            let receiver = receiver(vec![SignatureVersion::V1, SignatureVersion::V2, SignatureVersion::V3]);
            let _ = receiver.parse(&body);
            let ts = ts.to_string();
            let map = headers(&[(HEADER_SIGNATURE_V3, "c2lnbmF0dXJl"), (HEADER_TIMESTAMP, &ts)]);
            let request = WebhookRequest { method: "POST", uri: "https://x/%4", headers: &map, body: &body };
            prop_assert!(receiver.verify(&request, now()).is_err());
        }

        #[test]
        fn parse_never_panics_on_json_shaped_noise(body in r#"\[(\{("[a-zA-Z]{1,16}":(-?[0-9]{1,20}|"[a-z.0-9]{0,20}"|null|\[[0-9,]{0,10}\]),?){0,8}\},?){0,4}\]"#) {
            let _ = receiver(vec![SignatureVersion::V3]).parse(body.as_bytes());
        }
    }
}
