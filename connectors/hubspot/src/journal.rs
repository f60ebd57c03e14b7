//! The Webhooks Journal consumer (`changes: journal`): HubSpot keeps the events of the app's
//! per-portal subscriptions in an ordered journal for three days, and tte-sync reads it from
//! a durable offset — no public URL, no signatures, no retry storms.
//!
//! The journal is read with the app's client-credentials token (`grant_type=client_credentials`,
//! 30 minutes, no refresh token; fetched again before it expires). `prepare` makes sure each
//! portal has an `OBJECT` subscription for contacts covering the mapped properties. `pull`
//! asks for the entries after the offset (`batch/{offset}/next/{count}`); an answer names a
//! pre-signed file, fetched without credentials, that holds the events. 204 means caught up;
//! 404 means the offset is older than the journal keeps (or unknown), which the host answers
//! with a full reconcile. The events' `changeSource`/`sourceId` name our app for our own
//! writes, so the engine drops them as it drops webhook echoes.
//!
//! Event field names beyond `objectId`, `action`, `portalId` and `occurredAt` are not
//! confirmed by HubSpot's published material, so they are read tolerantly.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tte_sync_core::connector::{
    ChangeEvent, ChangeFeed, ChangeKind, ConnectorError, ErrorKind, FeedPage, Result, SetupAction,
    SetupChange, SetupReport,
};
use tte_sync_core::{CrmId, Secret};

use crate::auth::{OAuthErrorBody, exchange, transport_error};
use crate::client::HubSpotClient;
use crate::config::HubSpotConfig;

/// Entries asked for per read (HubSpot allows 1–100).
pub const ENTRIES_PER_READ: u32 = 100;
/// HubSpot's object type id of contacts.
const CONTACTS_TYPE_ID: &str = "0-1";
/// Actions subscribed to.
const ACTIONS: [&str; 5] = ["CREATE", "UPDATE", "DELETE", "MERGE", "RESTORE"];
/// Scopes of the client-credentials token.
const SCOPES: &str = "developer.webhooks_journal.read developer.webhooks_journal.subscriptions.read developer.webhooks_journal.subscriptions.write crm.objects.contacts.read";
/// The cursor of a journal that was empty when we started: read from its earliest entry.
const FROM_EARLIEST: &str = "earliest";
/// Fetch a fresh app token this long before the current one expires.
const TOKEN_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// The Webhooks Journal as a [`ChangeFeed`].
pub struct JournalFeed {
    client: Arc<HubSpotClient>,
    client_id: String,
    client_secret: Secret,
    configured_portals: Vec<u64>,
    installed_portals: Arc<RwLock<BTreeSet<String>>>,
    idle: Duration,
    token: tokio::sync::Mutex<Option<(Secret, DateTime<Utc>)>>,
    /// The properties of the last `prepare`, and the portals it subscribed: a portal
    /// installed since is subscribed on the next pull.
    subscribed: std::sync::Mutex<(Vec<String>, BTreeSet<String>)>,
}

impl JournalFeed {
    /// A consumer with the app credentials of `config` (`journal.client_id`, else `oauth`),
    /// for the configured portals and those installed through OAuth.
    ///
    /// # Errors
    /// `Permanent` when no app credentials are configured.
    pub fn new(
        config: &HubSpotConfig,
        client: Arc<HubSpotClient>,
        installed_portals: Arc<RwLock<BTreeSet<String>>>,
    ) -> Result<Self> {
        let (client_id, client_secret) = config.journal_credentials().ok_or_else(|| {
            ConnectorError::permanent(
                "`changes: journal` needs an app's client id and secret; set `oauth` or `journal.client_id` and `journal.client_secret`",
            )
        })?;
        Ok(Self {
            client,
            client_id,
            client_secret,
            configured_portals: config.journal.portal_ids.clone(),
            installed_portals,
            idle: Duration::from_millis(config.journal.poll_interval_millis),
            token: tokio::sync::Mutex::new(None),
            subscribed: std::sync::Mutex::default(),
        })
    }

    fn portals(&self) -> BTreeSet<String> {
        let mut portals: BTreeSet<String> =
            self.configured_portals.iter().map(u64::to_string).collect();
        portals.extend(
            self.installed_portals
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        portals
    }

    /// The app's client-credentials token, fetched again shortly before it expires.
    async fn app_token(&self) -> Result<Secret> {
        let mut token = self.token.lock().await;
        if let Some((secret, expires_at)) = token.as_ref()
            && *expires_at - TOKEN_MARGIN > Utc::now()
        {
            return Ok(secret.clone());
        }
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", SCOPES),
        ];
        let url = self.url(&self.client.version().oauth_token())?;
        let (status, body) = exchange(self.client.http().post(url).form(&form)).await?;
        if !status.is_success() {
            let detail: OAuthErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            let reason = detail.reason();
            let kind = if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                ErrorKind::Transient
            } else {
                ErrorKind::Unauthorized
            };
            return Err(ConnectorError::new(
                kind,
                format!(
                    "hubspot refused the journal's app token ({status}: {reason}); check `journal.client_id`/`client_secret` (or `oauth`) and that the app has the `developer.webhooks_journal.*` scopes"
                ),
            ));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: i64,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            ConnectorError::transient(format!("hubspot's token answer is unreadable: {e}"))
        })?;
        let secret = Secret::new(answer.access_token);
        *token = Some((
            secret.clone(),
            Utc::now() + chrono::Duration::seconds(answer.expires_in),
        ));
        Ok(secret)
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.client
            .base_url()
            .join(path.trim_start_matches('/'))
            .map_err(|e| ConnectorError::permanent(format!("bad `api_base_url`: {e}")))
    }

    /// One journal call with the app token. Journal calls are exempt from HubSpot's rate
    /// limits, so they do not wait for the client's window.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let mut refused_once = false;
        loop {
            let token = self.app_token().await?;
            let mut request = self
                .client
                .http()
                .request(method.clone(), self.url(path)?)
                .bearer_auth(token.expose());
            if let Some(body) = &body {
                request = request.json(body);
            }
            let (status, answer) = exchange(request).await?;
            // The token expired earlier than we counted (clock skew): fetch a new one, once.
            if status == StatusCode::UNAUTHORIZED && !refused_once {
                refused_once = true;
                *self.token.lock().await = None;
                continue;
            }
            return Ok((status, answer));
        }
    }

    async fn json_call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, answer) = self.send(method, path, body).await?;
        if !status.is_success() {
            return Err(journal_error(status, &answer));
        }
        if answer.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer).map_err(|e| {
            ConnectorError::transient(format!("hubspot's journal answer is unreadable: {e}"))
        })
    }

    /// Reads the entries the journal answer points at: the pre-signed file, fetched without
    /// credentials.
    async fn entries(&self, answer: &JournalAnswer) -> Result<Vec<ChangeEvent>> {
        let response = self
            .client
            .http()
            .get(&answer.url)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_error)?;
        if !status.is_success() {
            return Err(ConnectorError::transient(format!(
                "the journal file could not be read ({status}); reading it again"
            )));
        }
        let file: Value = serde_json::from_slice(&body).map_err(|e| {
            ConnectorError::transient(format!("the journal file is unreadable: {e}"))
        })?;
        Ok(events_of(&file))
    }
}

/// An answer of the journal's entry endpoints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JournalAnswer {
    current_offset: String,
    url: String,
}

/// The entries of a journal answer: a single read answers one `{currentOffset, url}`, a batch
/// read the batch envelope `{status, results: [...]}`, oldest first.
fn answers_of(body: &[u8]) -> Result<Vec<JournalAnswer>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Answer {
        Batch { results: Vec<JournalAnswer> },
        Single(JournalAnswer),
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::transient(format!("hubspot's journal answer is unreadable: {e}"))
    })?;
    Ok(match answer {
        Answer::Batch { results } => results,
        Answer::Single(single) => vec![single],
    })
}

fn journal_error(status: StatusCode, body: &[u8]) -> ConnectorError {
    let detail: Value = serde_json::from_slice(body).unwrap_or_default();
    let reason = detail
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no reason given");
    let kind = match status.as_u16() {
        401 | 403 => ErrorKind::Unauthorized,
        429 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    };
    ConnectorError::new(
        kind,
        format!("hubspot's webhooks journal answered {status}: {reason}"),
    )
}

/// The contact events of a journal file: `{journalEvents: [...]}`, or a list of such files.
fn events_of(file: &Value) -> Vec<ChangeEvent> {
    match file {
        Value::Array(files) => files.iter().flat_map(events_of).collect(),
        Value::Object(map) => map
            .get("journalEvents")
            .and_then(Value::as_array)
            .map(|events| events.iter().filter_map(event_of).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One journal event as a change, or `None` for another object type or an action that is
/// not about a contact's data.
fn event_of(event: &Value) -> Option<ChangeEvent> {
    if text(event.get("objectTypeId")).is_some_and(|t| t != CONTACTS_TYPE_ID) {
        return None;
    }
    let object_id = text(event.get("objectId"))?;
    let changes: Vec<&Value> = event
        .get("propertyChanges")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let first_change = changes.first();
    let kind = match event.get("action").and_then(Value::as_str)? {
        "CREATE" => ChangeKind::Created,
        "UPDATE" | "SNAPSHOT" => ChangeKind::PropertyChanged,
        "DELETE" => ChangeKind::Deleted,
        "RESTORE" => ChangeKind::Restored,
        "GDPR_DELETE" => ChangeKind::PrivacyDeleted,
        "MERGE" => ChangeKind::Merged {
            merged_ids: event
                .get("mergedObjectIds")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| text(Some(id)))
                        .map(CrmId)
                        .collect()
                })
                .unwrap_or_default(),
        },
        _ => return None,
    };
    let occurred_at = event
        .get("occurredAt")
        .and_then(Value::as_i64)
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    Some(ChangeEvent {
        object_id: CrmId(object_id),
        kind,
        property: first_change.and_then(|c| text(c.get("propertyName"))),
        value: first_change.and_then(|c| text(c.get("newValue"))),
        occurred_at,
        change_source: text(event.get("changeSource")),
        source_id: text(event.get("sourceId")),
        account: text(event.get("portalId")),
        event_id: text(event.get("eventId")),
    })
}

#[async_trait]
impl ChangeFeed for JournalFeed {
    fn mode(&self) -> &'static str {
        "webhooks journal"
    }

    fn idle_interval(&self) -> Duration {
        self.idle
    }

    async fn prepare(&self, properties: &[String], dry_run: bool) -> Result<SetupReport> {
        let mut report = SetupReport::default();
        let portals = self.portals();
        if !dry_run {
            let mut subscribed = self.subscribed.lock().unwrap_or_else(|e| e.into_inner());
            subscribed.0 = properties.to_vec();
            subscribed.1.extend(portals.iter().cloned());
        }
        if portals.is_empty() {
            report.changes.push(SetupChange {
                action: SetupAction::Manual,
                target: "journal subscriptions".to_owned(),
                detail: "no HubSpot account to subscribe yet: install the app through /hubspot/install/start, or list the account in `journal.portal_ids`".to_owned(),
            });
            return Ok(report);
        }
        let path = self.client.version().journal_subscriptions();
        let existing = self.json_call(Method::GET, &path, None).await?;
        let existing: Vec<&Value> = existing
            .get("results")
            .and_then(Value::as_array)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        let wanted: BTreeSet<&str> = properties.iter().map(String::as_str).collect();
        for portal in portals {
            let target = format!("journal subscription for account {portal}");
            let current = existing.iter().find(|s| {
                text(s.get("portalId")).as_deref() == Some(portal.as_str())
                    && text(s.get("objectTypeId")).as_deref() == Some(CONTACTS_TYPE_ID)
            });
            let covered = current.is_some_and(|s| {
                let has: BTreeSet<String> = s
                    .get("properties")
                    .and_then(Value::as_array)
                    .map(|p| p.iter().filter_map(|v| text(Some(v))).collect())
                    .unwrap_or_default();
                wanted.iter().all(|p| has.contains(*p))
            });
            if covered {
                report.changes.push(SetupChange {
                    action: SetupAction::Unchanged,
                    target,
                    detail: "contacts, the mapped properties".to_owned(),
                });
                continue;
            }
            if !dry_run {
                let portal_id: u64 = portal.parse().map_err(|_| {
                    ConnectorError::permanent(format!(
                        "account `{portal}` is not a HubSpot portal id"
                    ))
                })?;
                self.json_call(
                    Method::POST,
                    &path,
                    Some(json!({
                        "subscriptionType": "OBJECT",
                        "portalId": portal_id,
                        "objectTypeId": CONTACTS_TYPE_ID,
                        "actions": ACTIONS,
                        "properties": wanted,
                    })),
                )
                .await?;
            }
            report.changes.push(SetupChange {
                action: if current.is_some() {
                    SetupAction::Updated
                } else {
                    SetupAction::Created
                },
                target,
                detail: format!("contacts, {} mapped properties", wanted.len()),
            });
        }
        Ok(report)
    }

    async fn pull(&self, cursor: Option<&str>) -> Result<FeedPage> {
        let (properties, new_portal) = {
            let subscribed = self.subscribed.lock().unwrap_or_else(|e| e.into_inner());
            let new = self.portals().iter().any(|p| !subscribed.1.contains(p));
            (subscribed.0.clone(), new && !subscribed.0.is_empty())
        };
        if new_portal {
            // Installed since the last `prepare`: give it its subscription first.
            self.prepare(&properties, false).await?;
        }
        let base = self.client.version().journal();
        let path = match cursor {
            None => format!("{base}/latest"),
            Some(FROM_EARLIEST) => format!("{base}/batch/earliest/{ENTRIES_PER_READ}"),
            Some(offset) => format!("{base}/batch/{offset}/next/{ENTRIES_PER_READ}"),
        };
        let (status, body) = self.send(Method::GET, &path, None).await?;
        match status {
            StatusCode::NO_CONTENT => Ok(FeedPage {
                events: Vec::new(),
                cursor: cursor.is_none().then(|| FROM_EARLIEST.to_owned()),
                more: false,
            }),
            StatusCode::NOT_FOUND if cursor.is_some() => Err(ConnectorError::new(
                ErrorKind::CursorExpired,
                "the webhooks journal no longer holds the stored offset (HubSpot keeps three days); a full reconcile catches up",
            )),
            status if status.is_success() => {
                let answers = answers_of(&body)?;
                let Some(last) = answers.last() else {
                    return Ok(FeedPage {
                        events: Vec::new(),
                        cursor: None,
                        more: false,
                    });
                };
                // A first start begins after the newest entry: the first reconcile covers
                // what came before.
                let mut events = Vec::new();
                if cursor.is_some() {
                    for answer in &answers {
                        events.extend(self.entries(answer).await?);
                    }
                }
                Ok(FeedPage {
                    events,
                    cursor: Some(last.current_offset.clone()),
                    more: cursor.is_some(),
                })
            }
            status => Err(journal_error(status, &body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_events_become_changes_tolerantly() {
        let file = json!({
            "offset": "x",
            "journalEvents": [
                {"portalId": 62515, "objectTypeId": "0-1", "objectId": 7, "action": "UPDATE",
                 "occurredAt": 1_764_000_000_000_i64, "changeSource": "INTEGRATION", "sourceId": "54321",
                 "propertyChanges": [{"propertyName": "email", "newValue": "a@b.c"}]},
                {"portalId": 62515, "objectTypeId": "0-2", "objectId": 8, "action": "CREATE"},
                {"portalId": "62515", "objectId": "9", "action": "MERGE", "mergedObjectIds": [10, "11"]},
                {"portalId": 62515, "objectId": 12, "action": "ASSOCIATION_ADDED"},
            ]
        });
        let events = events_of(&json!([file]));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].object_id, CrmId::from("7"));
        assert_eq!(events[0].property.as_deref(), Some("email"));
        assert_eq!(events[0].source_id.as_deref(), Some("54321"));
        assert_eq!(events[0].account.as_deref(), Some("62515"));
        assert_eq!(
            events[1].kind,
            ChangeKind::Merged {
                merged_ids: vec![CrmId::from("10"), CrmId::from("11")]
            }
        );
    }
}
