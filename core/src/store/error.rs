//! Store errors: each says what failed and how to fix it, and none carries a secret. A
//! driver error is part of the message (before the hint), so it is kept as a `cause` and not
//! exposed as `source()`: a chain printer would otherwise say it twice.

/// Results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The `database` setting is neither a SQLite path nor a PostgreSQL URL.
    #[error(
        "invalid database location `{location}`: {reason}; set `database` in the config to a file path, `sqlite://PATH` or `postgres://USER@HOST/DB`"
    )]
    InvalidLocation {
        /// The location as given, with any password redacted.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be opened or reached.
    #[error(
        "cannot open the database at {location}: {cause}; check `database` in the config and that the database is reachable"
    )]
    Open {
        /// Where the database is, with any password redacted.
        location: String,
        /// The driver's error (in the message, not a `source()`).
        cause: sqlx::Error,
    },
    /// The SQLite state file is not a database, or is damaged.
    #[error(
        "the state file {path} is damaged or is not a SQLite database ({detail}); move it aside (keep it to report the fault) and start again: a new state file is made, the first reconcile links the records again from the ids on both sides, and `serve` subscribes to 10to8 again"
    )]
    StateFileCorrupt {
        /// The file.
        path: String,
        /// What SQLite said.
        detail: String,
    },
    /// The SQLite state file, or its directory, cannot be written.
    #[error(
        "the state file {path} is read-only ({detail}); make it and its directory writable by the user tte-sync runs as (SQLite also writes `-wal` and `-shm` files beside it)"
    )]
    StateFileReadOnly {
        /// The file.
        path: String,
        /// What SQLite or the system said.
        detail: String,
    },
    /// Another process holds the SQLite state file locked.
    #[error(
        "the state file {path} is locked by another process ({detail}); stop the other tte-sync or tool holding it, or give each instance its own `database` (several replicas need PostgreSQL)"
    )]
    StateFileLocked {
        /// The file.
        path: String,
        /// What SQLite said.
        detail: String,
    },
    /// The SQLite state file does not exist and cannot be made.
    #[error(
        "the state file {path} is missing and cannot be created ({detail}); check that its directory exists and is writable, or point `database` at another path"
    )]
    StateFileMissing {
        /// The file.
        path: String,
        /// What the system said.
        detail: String,
    },
    /// The schema migrations could not be applied.
    #[error(
        "cannot apply the database migrations at {location}: {cause}; check that the database user may create tables"
    )]
    Migrate {
        /// Where the database is, with any password redacted.
        location: String,
        /// The driver's error (in the message, not a `source()`).
        cause: sqlx::Error,
    },
    /// The database was migrated by a newer release than this one.
    #[error(
        "the database at {location} has schema version {found}, newer than the {known} this release knows; upgrade tte-sync or point `database` at another database"
    )]
    SchemaTooNew {
        /// Where the database is, with any password redacted.
        location: String,
        /// The newest schema version found in the database.
        found: i64,
        /// The newest schema version this release applies.
        known: i64,
    },
    /// A query failed.
    #[error(
        "database {operation} failed: {cause}; check that the database is reachable and has space left"
    )]
    Query {
        /// What the store was doing.
        operation: &'static str,
        /// The driver's error (in the message, not a `source()`).
        cause: sqlx::Error,
    },
    /// A stored value cannot be read back.
    #[error(
        "stored {what} cannot be read: {detail}; the row was changed outside tte-sync — fix or delete it"
    )]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The CRM record is already linked to another 10to8 customer.
    #[error(
        "{connector} record {crm_id} is already linked to {hub_uri}; unlink it or re-point the links first"
    )]
    LinkConflict {
        /// The connector of the link.
        connector: String,
        /// The CRM record.
        crm_id: String,
        /// The customer it is linked to.
        hub_uri: String,
    },
}

impl StoreError {
    /// Wraps a driver error of the named operation.
    pub(crate) fn query(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |cause| StoreError::Query { operation, cause }
    }

    /// A stored value that does not parse.
    pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> Self {
        StoreError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}
