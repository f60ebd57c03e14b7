//! The contract between the sync engine and a CRM.
//!
//! A connector implements [`CrmConnector`] (read and write records) and offers optional
//! abilities as capability traits it hands out through `Option`s: [`ConnectorSetup`] (make the
//! CRM ready: properties, webhook subscriptions), [`WebhookReceiver`] (verify and parse pushed
//! events), [`ChangeFeed`] (pull changes from a durable cursor) and [`OAuthInstall`] (the
//! install flow). A connector joins the host through the
//! [`registry`] with one `inventory::submit!` line.
//!
//! Every call fails with a [`ConnectorError`] whose [`ErrorKind`] tells the engine what to do.

mod abilities;
mod auth;
mod error;
mod feed;
pub mod registry;
mod webhook;

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures_core::stream::BoxStream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

pub use abilities::{Upsert, WriteAbilities};
pub use auth::{OAuthInstall, StoredToken, TokenStore};
pub use error::{ConnectorError, ErrorKind, Result};
pub use feed::{ChangeFeed, FeedPage};
pub use registry::{ConnectorContext, ConnectorFactory, ConnectorPlugin};
pub use webhook::{ChangeEvent, ChangeKind, WebhookError, WebhookReceiver, WebhookRequest};

use crate::record::{CrmId, CrmRecord, Properties};

/// Reading and writing records in one CRM object type (e.g. contacts).
///
/// Batched by design: every call takes or yields many records, and implementations keep within
/// the CRM's batch and rate limits themselves.
/// `properties` with `property` among them once: what a lookup by `property` reads, so that
/// it can check the records it found.
pub fn properties_with(properties: &[String], property: &str) -> Vec<String> {
    let mut wanted = properties.to_vec();
    if !wanted.iter().any(|p| p == property) {
        wanted.push(property.to_owned());
    }
    wanted
}

#[async_trait]
pub trait CrmConnector: Send + Sync {
    /// The registered name of this connector, e.g. `mycrm`.
    fn name(&self) -> &'static str;

    /// The properties the CRM object has, with their types.
    ///
    /// # Errors
    /// Fails when the CRM cannot be reached or refuses the credentials.
    async fn describe(&self) -> Result<Catalog>;

    /// Every record, page by page, with the requested properties. With `archived` set, the
    /// archived records instead. Memory stays bounded by one page.
    fn list(&self, query: ListQuery) -> BoxStream<'_, Result<Vec<CrmRecord>>>;

    /// The records with these ids, in the same order; `None` where a record does not exist.
    ///
    /// # Errors
    /// Fails as a whole only when the CRM cannot be reached or refuses the call.
    async fn read(&self, ids: &[CrmId], properties: &[String]) -> Result<Vec<Option<CrmRecord>>>;

    /// The live records whose `property` holds one of `values` ([`CrmRecord::holds`]: as the
    /// text, or as one of a list's items; emails may be compared ignoring case, as the CRM
    /// compares them). The engine asks for the records
    /// an interrupted create may have made on a CRM without native upsert
    /// ([`Upsert::CreateOnly`]), by the customer URI it wrote into the id property; and, in a
    /// live batch on a CRM that does not keep emails unique
    /// ([`WriteAbilities::unique_emails`]), for the records already holding a new customer's
    /// values of the first match rule (its emails, by default), so a person new on both sides
    /// at once is linked rather than created twice. The default scans [`list`](Self::list)
    /// page by page (bounded memory, one full listing); a connector whose CRM can search
    /// overrides it.
    ///
    /// # Errors
    /// Fails when the CRM cannot be reached or refuses the call.
    async fn find(
        &self,
        property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<CrmRecord>> {
        use futures_util::TryStreamExt as _;
        let mut pages = self.list(ListQuery {
            properties: properties_with(properties, property),
            archived: false,
        });
        let mut found = Vec::new();
        while let Some(page) = pages.try_next().await? {
            found.extend(
                page.into_iter()
                    .filter(|record| values.iter().any(|v| record.holds(property, v))),
            );
        }
        Ok(found)
    }

    /// Applies the writes, batched, and says how each one went, in the same order. One bad
    /// record never fails the others.
    ///
    /// # Errors
    /// Fails as a whole only when nothing could be written (unreachable, unauthorized).
    async fn write(&self, writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>>;

    /// What [`write`](Self::write) can do: writes per call, native upsert or not, calls in
    /// flight, order within a call. The engine plans its calls from it, so a connector is
    /// never sent more per call than it declares, and creates through [`CrmWrite::Upsert`]
    /// only when the CRM upserts natively. Required, not defaulted: a wrong guess about
    /// upserts makes duplicates or refused creates, so every connector says what is true.
    fn write_abilities(&self) -> WriteAbilities;

    /// A cheap authenticated call showing that the CRM answers and accepts the credentials
    /// (the dashboard's health check). Tries once, without waiting out failures. The default
    /// reads the first page of [`list`](Self::list); connectors with a cheaper call override it.
    ///
    /// # Errors
    /// Fails as that call did: unreachable, credentials refused or missing, rate-limited.
    async fn check(&self) -> Result<()> {
        use futures_util::StreamExt as _;
        match self.list(ListQuery::default()).next().await {
            Some(Err(error)) => Err(error),
            _ => Ok(()),
        }
    }

    /// Setup of properties and subscriptions, when the connector can do it.
    fn setup(&self) -> Option<&dyn ConnectorSetup> {
        None
    }

    /// Verification and parsing of pushed events, when the CRM pushes them.
    fn webhooks(&self) -> Option<&dyn WebhookReceiver> {
        None
    }

    /// Changes pulled from a cursor (a journal, or polling), when the connector is set to
    /// capture changes that way instead of by webhooks.
    fn change_feed(&self) -> Option<&dyn ChangeFeed> {
        None
    }

    /// The OAuth install flow, when the CRM uses one.
    fn oauth(&self) -> Option<&dyn OAuthInstall> {
        None
    }

    /// How changes made in the CRM reach the host, as the dashboard and `status` name it:
    /// the change feed's mode, else `webhooks` when the connector takes them, else
    /// `reconcile only`.
    fn change_capture(&self) -> &'static str {
        match (self.change_feed(), self.webhooks()) {
            (Some(feed), _) => feed.mode(),
            (None, Some(_)) => "webhooks",
            (None, None) => "reconcile only",
        }
    }
}

/// Making a CRM ready for sync. Idempotent and never destructive: a second run changes nothing.
#[async_trait]
pub trait ConnectorSetup: Send + Sync {
    /// Makes sure each property exists with the right type; creates the missing ones, updates
    /// labels and descriptions, and reports type mismatches without touching them.
    ///
    /// # Errors
    /// Fails when the CRM cannot be reached or refuses the credentials.
    async fn ensure_properties(&self, specs: &[PropertySpec], dry_run: bool)
    -> Result<SetupReport>;

    /// Makes sure the CRM pushes changes of these properties (plus creation, deletion, merge,
    /// restore) to `callback`.
    ///
    /// # Errors
    /// Fails when the CRM cannot be reached or refuses the credentials.
    async fn ensure_subscriptions(
        &self,
        callback: &Url,
        properties: &[String],
        dry_run: bool,
    ) -> Result<SetupReport>;
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// The properties to fetch with each record.
    pub properties: Vec<String>,
    /// List the archived records instead of the live ones.
    pub archived: bool,
}

/// One write to the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrmWrite {
    /// Create or update the record whose unique property `id_property` holds `key`.
    /// Retry-safe: repeating it never creates a second record.
    Upsert {
        /// The unique-value property that keys the upsert (e.g. `tte_customer_uri`).
        id_property: String,
        /// Its value for this record.
        key: String,
        /// The properties to write.
        properties: Properties,
    },
    /// Create a record holding `key` in `id_property` besides `properties`. Not retry-safe
    /// on its own: the engine sends it only to a CRM without native upsert, after recording
    /// the intent, and looks the record up by `id_property` before creating it again.
    Create {
        /// The property that names the 10to8 customer (e.g. `tte_customer_uri`).
        id_property: String,
        /// Its value for this record.
        key: String,
        /// The properties to write.
        properties: Properties,
    },
    /// Update the record with this id.
    Update {
        /// The record to update.
        id: CrmId,
        /// The properties to write; an empty string clears a property.
        properties: Properties,
    },
    /// Archive (soft-delete) the record with this id.
    Archive {
        /// The record to archive.
        id: CrmId,
    },
}

/// How one [`CrmWrite`] went.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WriteOutcome {
    /// The record was written; `created` says whether it is new.
    Written {
        /// The record's id.
        id: CrmId,
        /// Whether the write created it.
        created: bool,
    },
    /// The record was archived (or already was).
    Archived {
        /// The archived record.
        id: CrmId,
    },
    /// This record's write failed; the others are unaffected.
    Failed(ConnectorError),
}

/// The properties a CRM object has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Properties by name.
    pub properties: BTreeMap<String, PropertyInfo>,
}

/// One property of a CRM object as the CRM describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyInfo {
    /// The property's internal name.
    pub name: String,
    /// The label people see.
    pub label: String,
    /// The CRM's data type, in its own words (e.g. `string`, `number`, `enumeration`).
    pub data_type: String,
    /// Whether values must be unique across records.
    pub unique: bool,
    /// Whether the CRM computes it (writes are refused).
    pub read_only: bool,
}

/// A CRM property that setup makes sure exists, as a mapping file declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertySpec {
    /// The property's internal name, e.g. `tte_customer_uri`.
    pub name: String,
    /// The label people see in the CRM.
    pub label: String,
    /// The data type: `string`, `number`, `date`, `datetime`, `bool` or `enumeration`.
    #[serde(rename = "type", default = "default_property_type")]
    pub data_type: String,
    /// How the CRM shows the field: `text`, `textarea`, `phonenumber`, …
    #[serde(default = "default_field_type")]
    pub field_type: String,
    /// The property group it is filed under; when absent, the connector's default group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// A description shown beside the property.
    #[serde(default)]
    pub description: String,
    /// Whether each value may be held by one record only (needed for upsert keys).
    #[serde(default)]
    pub unique: bool,
}

fn default_property_type() -> String {
    "string".to_owned()
}

fn default_field_type() -> String {
    "text".to_owned()
}

/// What a setup step did or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetupReport {
    /// One line per thing looked at.
    pub changes: Vec<SetupChange>,
    /// Files a person has to add to the CRM's app because no API applies them (e.g. an
    /// app's webhook definition file); the host prints them or writes them out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<SetupFile>,
}

/// A file setup made for a person to deploy with the CRM's own tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupFile {
    /// Where it goes, relative to the app's project folder, e.g.
    /// `src/app/webhooks/webhooks-hsmeta.json`.
    pub path: String,
    /// Its contents.
    pub contents: String,
    /// What to do with it, for a person.
    pub instructions: String,
}

impl SetupReport {
    /// Whether the step changed (or, on a dry run, would change) anything.
    pub fn changed_anything(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c.action, SetupAction::Created | SetupAction::Updated))
    }
}

/// One thing a setup step looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupChange {
    /// What happened to it.
    pub action: SetupAction,
    /// What it is, e.g. `property tte_customer_uri` or `subscription contact.creation`.
    pub target: String,
    /// Details for a person, e.g. which attribute differed.
    pub detail: String,
}

/// What setup did to one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupAction {
    /// It was missing and was created.
    Created,
    /// It existed and was changed to match.
    Updated,
    /// It was already right.
    Unchanged,
    /// It differs in a way setup will not fix on its own (e.g. a property's type); the detail
    /// says what to do.
    Mismatch,
    /// No API does it: a person does it with the CRM's own tools (e.g. deploys a file of
    /// [`SetupReport::files`]); the detail says what to do.
    Manual,
}
