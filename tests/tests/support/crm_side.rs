//! The CRM side of an engine test's world in CRM-neutral terms: [`CrmSide`] starts a CRM's
//! simulator with its connector, plays the CRM's users (seed, create, edit, delete, merge),
//! reads one record back as a [`CrmPerson`], counts the CRM's writes, builds the change events
//! its webhooks would send and names an edit it refuses, so that one test body runs against
//! every CRM.

use std::future::Future;
use std::sync::Arc;

use tte_sync_core::connector::{ChangeEvent, ChangeKind, CrmConnector};
use tte_sync_core::store::Store;
use tte_sync_core::tte::CustomerPatch;

/// A field a CRM user edits, named as 10to8 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The full name.
    Name,
    /// The primary phone number.
    Phone,
    /// The primary email.
    Email,
}

/// Who a change event says made the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A person in the CRM's own app.
    User,
    /// Our connector: the echo of our own write, as the CRM attributes it.
    OurWrite,
    /// Nobody the CRM names (an echo it could not attribute).
    Unattributed,
}

/// One CRM record as the CRM's simulator holds it, in 10to8's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmPerson {
    /// The full name.
    pub name: String,
    /// Emails, the primary first; an empty primary is a placeholder the CRM holds instead of
    /// one it refused.
    pub emails: Vec<String>,
    /// Phone numbers, the primary first.
    pub phones: Vec<String>,
    /// The 10to8 customer URI property (empty when unset).
    pub customer_uri: String,
    /// The sync status property (empty when unset).
    pub status: String,
    /// Deleted, archived or merged away.
    pub gone: bool,
}

/// A CRM's simulator and the connector pointed at it.
pub trait CrmSide: Sized + Send + Sync + 'static {
    /// The connector's registered name.
    const NAME: &'static str;
    /// The connector's default mapping, as shipped.
    const MAPPING: &'static str;
    /// The simulator's settings.
    type Config: Send;

    /// The settings the engine suites run the simulator with.
    fn default_config() -> Self::Config;

    /// Starts the simulator with `config` and builds the connector against it, keeping its
    /// tokens in `store`.
    fn start(config: Self::Config, store: &Store) -> impl Future<Output = Self> + Send;

    /// The connector.
    fn connector(&self) -> Arc<dyn CrmConnector>;

    /// Imports generated people `start..start + count` of `seed` (the same people 10to8's
    /// simulator generates); the ids of the records made.
    fn seed(&self, seed: u64, start: u64, count: u64) -> Vec<String>;

    /// Creates a record as a user in the CRM's app would; its id.
    fn user_create(&self, name: &str, email: Option<&str>) -> String;

    /// Sets `field` of record `id` to `value` as a user in the CRM's app would.
    fn user_edit(&self, id: &str, field: Field, value: &str);

    /// Deletes (or archives) record `id` as a user would; false when it is not live.
    fn user_delete(&self, id: &str) -> bool;

    /// Merges record `merged` into `survivor` as a user would.
    fn user_merge(&self, survivor: &str, merged: &str);

    /// Record `id`, live or gone.
    fn record(&self, id: &str) -> Option<CrmPerson>;

    /// Record writes the simulator has answered since its stats were last reset.
    fn writes(&self) -> u64;

    /// Zeroes the simulator's counters.
    fn reset_stats(&self);

    /// The event the CRM's webhook would send of a change of `kind` to record `id` made by
    /// `origin`.
    fn event(&self, id: &str, kind: ChangeKind, origin: Origin) -> ChangeEvent;

    /// Whether the CRM takes `email` as an email (some validate them, some take any text).
    fn takes_email(email: &str) -> bool;

    /// An edit of a linked customer whose update the CRM refuses, where `other` is another
    /// linked record.
    fn refused_edit(&self, other: &str) -> CustomerPatch;
}

/// `id` as the number the simulators key records by.
pub fn numeric(id: &str) -> u64 {
    id.parse()
        .unwrap_or_else(|_| panic!("record id {id:?} is a number"))
}
