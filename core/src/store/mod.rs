//! The durable state of tte-sync, over SQLite (default: one file, WAL) or PostgreSQL (several
//! replicas sharing one database).
//!
//! One [`Store`] holds everything that must survive a restart: the [links](Link) between
//! 10to8 customers and CRM records with per-field snapshots, [pending creates](PendingCreate)
//! (crash safety), the [inbox](InboxItem) of changes to process (coalesced per object, claimed
//! with leases), [dead letters](DeadLetter), OAuth tokens (the store is a
//! [`TokenStore`](crate::connector::TokenStore)), [run history](Run), [per-record
//! status](RecordStatus), the [activity log](Activity) and [settings](Store::setting).
//! [Named locks](Store::acquire_lock) let one replica at a time run the periodic reconcile;
//! [`Store::forget_object`] erases an object for a privacy deletion.
//!
//! Every query is written once and runs on both backends through sqlx's `Any` driver;
//! only the schema migrations (embedded, applied at open) and the inbox claim differ. Times are
//! stored as milliseconds since the Unix epoch, JSON as text. Secrets are never logged.

mod activity;
mod apart;
mod change;
mod clock;
mod connect;
mod dead_letters;
mod error;
mod forget;
mod inbox;
mod inbox_side;
mod links;
mod locks;
mod migrate;
mod pending;
mod rows;
mod runs;
mod settings;
mod tokens;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

pub use activity::{Action, Activity, Direction, Reason, ReasonCount, RecordStatus, SyncStatus};
pub use change::{Change, MAX_PROPERTIES};
pub use clock::Clock;
pub use connect::{Backend, SQLITE_MEMORY};
pub use dead_letters::{DeadLetter, REQUEUED_KIND};
pub use error::{Result, StoreError};
pub use inbox::{Completion, Enqueue, Enqueued, FailOutcome, InboxItem, InboxStats};
pub use links::{Link, Repointed, Snapshot};
pub use pending::PendingCreate;
pub use runs::{Run, RunId, RunKind, RunOutcome};

use connect::{Location, validate_schema};

const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_ATTEMPTS: u32 = 8;
const DEFAULT_ACTIVITY_CAP: u64 = 10_000;
const DEFAULT_RUN_CAP: u64 = 1_000;

/// How to open a store. `StoreOptions::default()` suits production.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    max_connections: Option<u32>,
    busy_timeout: Duration,
    connect_timeout: Duration,
    schema: Option<String>,
    max_attempts: u32,
    activity_cap: u64,
    run_cap: u64,
    clock: Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            schema: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            activity_cap: DEFAULT_ACTIVITY_CAP,
            run_cap: DEFAULT_RUN_CAP,
            clock: Clock::system(),
        }
    }
}

impl StoreOptions {
    /// The most connections the pool opens (default: 10 for PostgreSQL; for a SQLite file, 4
    /// readers besides the one writer; an in-memory SQLite database always has one).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max.max(1));
        self
    }

    /// How long a SQLite writer waits for another before failing (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How long to wait for a connection, including at open, before failing (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The PostgreSQL schema to keep the tables in, created when missing (default: the
    /// connection's `search_path`, usually `public`). Ignored by SQLite.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// How many failed attempts move an inbox item to the dead letters (default 8).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How many activity entries to keep; older ones are pruned (default 10,000).
    pub fn activity_cap(mut self, cap: u64) -> Self {
        self.activity_cap = cap.max(1);
        self
    }

    /// How many runs to keep in the history (default 1,000).
    pub fn run_cap(mut self, cap: u64) -> Self {
        self.run_cap = cap.max(1);
        self
    }

    /// The clock the store reads (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

/// Which side of a link an object is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// 10to8, the scheduling hub; objects are customer URIs.
    Hub,
    /// The CRM; objects are CRM record ids.
    Crm,
}

impl Side {
    /// The stored name: `hub` or `crm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Hub => "hub",
            Side::Crm => "crm",
        }
    }

    pub(crate) fn parse(value: &str) -> Result<Self> {
        match value {
            "hub" => Ok(Side::Hub),
            "crm" => Ok(Side::Crm),
            other => Err(StoreError::corrupt(
                "side",
                format!("unknown side `{other}`"),
            )),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object on one side for one connector: the key of inbox items, dead letters and
/// record statuses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The connector, e.g. `mycrm`.
    pub connector: String,
    /// Which system the object lives in.
    pub side: Side,
    /// The 10to8 customer URI or the CRM record id.
    pub object_id: String,
}

impl ObjectRef {
    /// A 10to8 customer.
    pub fn hub(connector: impl Into<String>, uri: impl Into<String>) -> Self {
        Self {
            connector: connector.into(),
            side: Side::Hub,
            object_id: uri.into(),
        }
    }

    /// A CRM record.
    pub fn crm(connector: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            connector: connector.into(),
            side: Side::Crm,
            object_id: id.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.connector, self.side, self.object_id)
    }
}

/// The state store. Cheap to clone: clones share the connection pools.
#[derive(Clone)]
pub struct Store {
    /// Reads. On a SQLite file, several connections (WAL lets them read while one writes).
    reader: AnyPool,
    /// Writes. On a SQLite file, one connection: writers queue here, in order, instead of
    /// sleeping in SQLite's busy handler. On PostgreSQL and in memory, the reader pool.
    writer: AnyPool,
    backend: Backend,
    location: String,
    options: StoreOptions,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `location` with default options: a file path or `sqlite://PATH`
    /// (created when missing), `sqlite::memory:`, or `postgres://USER@HOST/DB`. Applies the
    /// schema migrations.
    ///
    /// # Errors
    /// Fails when the location is invalid, the database cannot be reached or created, or
    /// the migrations fail; the message says which and how to fix it.
    pub async fn open(location: &str) -> Result<Self> {
        Self::open_with(location, StoreOptions::default()).await
    }

    /// Opens the store at `location` with the given options. See [`Store::open`].
    ///
    /// # Errors
    /// As [`Store::open`]; also when the schema name is not a plain identifier.
    pub async fn open_with(location: &str, options: StoreOptions) -> Result<Self> {
        let parsed = Location::parse(location)?;
        let backend = parsed.backend();
        let schema = match (&options.schema, backend) {
            (Some(schema), Backend::Postgres) => {
                validate_schema(schema)?;
                Some(schema.as_str())
            }
            _ => None,
        };
        let shown = parsed.display();
        let (reader, writer) = connect::connect(&parsed, &options).await?;
        let ran = migrate::run(&writer, backend, schema, &shown, &options.clock).await?;
        tracing::debug!(location = %shown, ?backend, migrations = ran, "Opened the state store.");
        Ok(Self {
            reader,
            writer,
            backend,
            location: shown,
            options,
        })
    }

    /// Which database engine the store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the database is, for messages (never with a password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The newest schema version this build applies.
    pub fn schema_version(&self) -> i64 {
        migrate::latest(self.backend)
    }

    /// Checks that the database answers (for readiness probes).
    ///
    /// # Errors
    /// Fails when the database cannot be reached.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(StoreError::query("ping"))?;
        Ok(())
    }

    /// Closes every connection; later calls fail. Waits for checked-out connections.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    pub(crate) fn now_millis(&self) -> i64 {
        clock::to_millis(self.options.clock.now())
    }

    /// Begins a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so a transaction never fails half way because another writer got there first.
    pub(crate) async fn begin_write(
        &self,
        operation: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
        .map_err(StoreError::query(operation))
    }
}
