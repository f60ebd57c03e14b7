//! Pushed change events: how a connector verifies a webhook request and turns it into
//! [`ChangeEvent`]s the engine queues.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::record::CrmId;

/// A webhook request as it arrived, before anything was parsed.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The full public URL the CRM posted to, scheme and host included, as the CRM signed it.
    pub uri: &'a str,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
    /// The raw body bytes exactly as received.
    pub body: &'a [u8],
}

/// Why a webhook request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No signature header, or one this receiver is not configured to accept.
    #[error("webhook request is not signed: {0}")]
    Unsigned(String),
    /// The signature does not match the body, URL and secret.
    #[error("webhook signature does not match; check the app's client secret in the config")]
    BadSignature,
    /// The signed timestamp is outside the accepted window (replayed or clock skew).
    #[error("webhook timestamp is outside the accepted window: {0}")]
    Stale(String),
    /// The events come from an account this installation does not serve.
    #[error(
        "webhook is for unknown account {0}; install the app in that account or fix the config"
    )]
    UnknownAccount(String),
    /// The body is not what the CRM sends.
    #[error("webhook body is malformed: {0}")]
    Malformed(String),
}

impl WebhookError {
    /// Whether the request should be refused as unauthenticated (401) rather than as bad
    /// input (400).
    pub fn is_authentication(&self) -> bool {
        !matches!(self, WebhookError::Malformed(_))
    }
}

/// Verifying and parsing the webhooks a CRM pushes.
pub trait WebhookReceiver: Send + Sync {
    /// Checks that the request really comes from the CRM and is fresh.
    ///
    /// # Errors
    /// Any [`WebhookError`] but `Malformed`.
    fn verify(&self, request: &WebhookRequest<'_>, now: DateTime<Utc>) -> Result<(), WebhookError>;

    /// Parses a verified body into events. Never panics on any input.
    ///
    /// # Errors
    /// `Malformed` for a body the CRM would not send; `UnknownAccount` for events of another
    /// account.
    fn parse(&self, body: &[u8]) -> Result<Vec<ChangeEvent>, WebhookError>;

    /// Whether the event reports a write this installation made itself, as far as the event's
    /// source says (e.g. it names our app as the writer). The engine drops such events early; the
    /// snapshot rule catches the echoes a source cannot name.
    fn is_own_echo(&self, event: &ChangeEvent) -> bool {
        let _ = event;
        false
    }
}

/// One change the CRM reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// The record that changed.
    pub object_id: CrmId,
    /// What happened to it.
    pub kind: ChangeKind,
    /// The property that changed, for property changes.
    pub property: Option<String>,
    /// The property's new value, for property changes (the engine re-reads the record anyway).
    pub value: Option<String>,
    /// When the change happened, by the CRM's clock.
    pub occurred_at: DateTime<Utc>,
    /// Who made the change, as the CRM names it (e.g. `UI`, `API`, `IMPORT`).
    pub change_source: Option<String>,
    /// Which user or app made it (e.g. a user id or an app id); used to drop our own echoes.
    pub source_id: Option<String>,
    /// The CRM account the record lives in (the CRM's account or portal id).
    pub account: Option<String>,
    /// The CRM's id for the event; not guaranteed unique.
    pub event_id: Option<String>,
}

/// What happened to a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// The record was created.
    Created,
    /// A property changed.
    PropertyChanged,
    /// The record was archived or deleted.
    Deleted,
    /// The record was restored from the recycle bin.
    Restored,
    /// Records were merged; `object_id` is the one that survives.
    Merged {
        /// The records merged into the survivor; they no longer exist on their own.
        merged_ids: Vec<CrmId>,
    },
    /// The record was deleted for privacy (GDPR); nothing of it may be kept.
    PrivacyDeleted,
}
