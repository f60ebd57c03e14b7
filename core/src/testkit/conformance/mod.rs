//! The connector conformance kit: what every CRM connector must do, judged against the
//! connector's own simulator over real HTTP.
//!
//! A connector crate implements [`ConformanceHarness`] (start its simulator, build the
//! connector against it, name the properties and limits to use, seed and edit records as a
//! CRM user would, inject faults, capture and sign webhooks) and calls [`run`] once: every
//! check in [`CHECKS`] runs on a fresh harness and says [`Outcome::Passed`],
//! [`Outcome::Failed`] with the broken promise, or [`Outcome::NotApplicable`] with why. A
//! not-applicable check is never counted as passed.
//!
//! Nothing here knows a particular CRM: property names, limits, uniqueness and the webhook
//! signature scheme all come from the harness.

mod faults;
mod outcome;
mod records;
mod webhooks;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::connector::{CrmConnector, WebhookRequest};
use crate::record::CrmId;

pub use outcome::{CHECKS, Check, Outcome, Report, check_named, run, run_one};

/// Calls the CRM (simulator) received, by kind, since the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// List (page) calls.
    pub list: u64,
    /// Read calls (one per batch, or one per record where the CRM reads one at a time).
    pub batch_read: u64,
    /// Write calls: creates, upserts, updates and archives (one per batch, or per record).
    pub batch_write: u64,
    /// Search calls.
    pub search: u64,
    /// Calls refused with a rate-limit answer.
    pub throttled: u64,
}

/// A webhook request as the CRM sent it, owned.
#[derive(Debug, Clone)]
pub struct CapturedWebhook {
    /// The HTTP method.
    pub method: String,
    /// The full URL the CRM posted to, as it signed it.
    pub uri: String,
    /// The headers received.
    pub headers: http::HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
    /// The CRM's clock when it sent the request.
    pub sent_at: DateTime<Utc>,
}

impl CapturedWebhook {
    /// The borrowed form the receiver takes.
    pub fn request(&self) -> WebhookRequest<'_> {
        WebhookRequest {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// The properties the checks read and write, named by the connector (usually from its
/// default mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitFields {
    /// A free-text property every record may hold, e.g. a first name.
    pub text: String,
    /// The unique-value property creates are keyed by (the mapping's `hub_id_in_crm`);
    /// [`ConformanceHarness::prepare`] makes sure it exists.
    pub key: String,
    /// The property never-linked records are matched on (the mapping's `match`), when there
    /// is one.
    pub matching: Option<MatchField>,
}

/// The property never-linked records are matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchField {
    /// Its name, e.g. an email property.
    pub property: String,
    /// Whether the CRM refuses a second record with the same value (as the CRM compares
    /// values); the conflict check applies only then.
    pub unique: bool,
}

/// How many records one call may carry, as the connector declares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KitLimits {
    /// Records per listed page.
    pub page_size: usize,
    /// Ids per read call.
    pub read_batch: usize,
    /// Writes per write call (1 for a CRM that writes one record per request).
    pub write_batch: usize,
}

/// What the CRM's webhook signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureScheme {
    /// Whether the signature covers the body (a changed body fails). A CRM that proves a
    /// webhook's origin by credentials alone (HTTP basic auth) signs no body.
    pub covers_body: bool,
    /// Whether the signature covers the URL posted to (a copy sent elsewhere fails).
    pub covers_url: bool,
    /// How far from the signed time a request is still accepted, when signatures carry a
    /// time.
    pub replay_window: Option<Duration>,
}

/// What a connector crate provides so that the kit can judge its connector.
#[async_trait]
pub trait ConformanceHarness: Send + Sync {
    /// The connector under test, built against the running simulator.
    fn connector(&self) -> &dyn CrmConnector;

    /// The properties the checks use.
    fn fields(&self) -> KitFields;

    /// The per-call limits the connector keeps to.
    fn limits(&self) -> KitLimits;

    /// A valid value of the match property, distinct for each `tag` (tags are short ASCII
    /// words and digits).
    fn match_value(&self, tag: &str) -> String;

    /// An id in the CRM's format that no record has.
    fn unknown_id(&self) -> CrmId;

    /// A property and a value of it the CRM refuses as invalid, when the CRM validates any.
    fn invalid_value(&self) -> Option<(String, String)>;

    /// Makes the CRM ready for the checks (e.g. creates the key property). Idempotent.
    async fn prepare(&self);

    /// Creates `count` records directly in the CRM (an import, not through the connector);
    /// each has a distinct, valid match value when there is a match property. Returns their
    /// ids.
    async fn seed(&self, count: usize) -> Vec<CrmId>;

    /// Edits a record directly in the CRM, as a user would in its UI.
    async fn edit(&self, id: &CrmId, properties: &[(&str, &str)]);

    /// The calls received since the last [`Self::reset_calls`].
    async fn calls(&self) -> CallCounts;

    /// Zeroes the call counts.
    async fn reset_calls(&self);

    /// Makes the CRM refuse its next `count` calls with rate-limit answers.
    async fn inject_rate_limits(&self, count: u32);

    /// Makes the connector's current credentials expire; `false` when its credentials never
    /// expire (the expiry check is then not applicable).
    async fn expire_credentials(&self) -> bool;

    /// What the CRM's webhook signatures cover; `None` when the CRM pushes no webhooks.
    fn signature_scheme(&self) -> Option<SignatureScheme>;

    /// The signature headers the CRM would send with this request at time `at`, made with the
    /// connector crate's own signing helper and the simulator's secret.
    fn sign_webhook(
        &self,
        method: &str,
        uri: &str,
        body: &[u8],
        at: DateTime<Utc>,
    ) -> http::HeaderMap;

    /// Makes a change to `id` as a user and returns the signed webhook the CRM sent about it.
    async fn capture_webhook(&self, id: &CrmId) -> CapturedWebhook;
}
