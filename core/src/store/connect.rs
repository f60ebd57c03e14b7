//! Where the database is and how to connect: location parsing (with passwords hidden for
//! messages), the connection pool, and the settings every new connection gets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use url::Url;

use super::StoreOptions;
use super::error::{Result, StoreError};
use crate::secret::redact_url;

/// The in-memory SQLite location, for tests and throwaway runs.
pub const SQLITE_MEMORY: &str = "sqlite::memory:";
const SQLITE_PREFIXES: [&str; 2] = ["sqlite://", "sqlite:"];
const POSTGRES_PREFIXES: [&str; 2] = ["postgres://", "postgresql://"];
/// Reading connections of a file database (WAL lets them read while the writer writes).
const SQLITE_DEFAULT_CONNECTIONS: u32 = 4;
const POSTGRES_DEFAULT_CONNECTIONS: u32 = 10;

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite: one file (or memory), WAL.
    Sqlite,
    /// PostgreSQL: several replicas may share it.
    Postgres,
}

/// A parsed `database` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    SqliteFile(PathBuf),
    SqliteMemory,
    Postgres(Url),
}

impl Location {
    /// Parses `sqlite://PATH`, `sqlite:PATH`, a plain path, `sqlite::memory:` or
    /// `postgres://…`.
    pub(crate) fn parse(location: &str) -> Result<Self> {
        let trimmed = location.trim();
        let invalid = |reason: &str| StoreError::InvalidLocation {
            location: redact_url(trimmed),
            reason: reason.to_owned(),
        };
        if trimmed.is_empty() {
            return Err(invalid("it is empty"));
        }
        if matches!(trimmed, SQLITE_MEMORY | "sqlite://:memory:" | ":memory:") {
            return Ok(Location::SqliteMemory);
        }
        if POSTGRES_PREFIXES.iter().any(|p| trimmed.starts_with(p)) {
            let url = Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
            return Ok(Location::Postgres(url));
        }
        let path = match SQLITE_PREFIXES.iter().find_map(|p| trimmed.strip_prefix(p)) {
            Some(path) => path,
            None if trimmed.contains("://") => {
                return Err(invalid("only SQLite and PostgreSQL are supported"));
            }
            None => trimmed,
        };
        if path.is_empty() {
            return Err(invalid("the SQLite file path is missing"));
        }
        if path.contains('?') {
            return Err(invalid(
                "SQLite URL parameters are not supported; the store sets WAL and timeouts itself",
            ));
        }
        Ok(Location::SqliteFile(PathBuf::from(path)))
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Location::SqliteFile(_) | Location::SqliteMemory => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }

    /// The location for messages: never with a password.
    pub(crate) fn display(&self) -> String {
        match self {
            Location::SqliteFile(path) => path.display().to_string(),
            Location::SqliteMemory => SQLITE_MEMORY.to_owned(),
            Location::Postgres(url) => redact_url(url.as_str()),
        }
    }
}

/// Opens the pools for a location: `(reader, writer)`. A SQLite file gets a writer pool of
/// one connection (SQLite writes one at a time anyway; queueing in the pool wakes the next
/// writer at once, where SQLite's busy handler would sleep) and a reader pool; elsewhere
/// both are one pool.
pub(crate) async fn connect(
    location: &Location,
    options: &StoreOptions,
) -> Result<(AnyPool, AnyPool)> {
    sqlx::any::install_default_drivers();
    let open_error = |cause| StoreError::Open {
        location: location.display(),
        cause,
    };
    let busy = options.busy_timeout;
    let sqlite = move || {
        AnyPoolOptions::new()
            .acquire_timeout(options.connect_timeout)
            .after_connect(move |conn, _| Box::pin(sqlite_settings(conn, busy)))
    };
    match location {
        Location::SqliteFile(path) => {
            let path = absolute(path).map_err(|e| open_error(sqlx::Error::Io(e)))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::StateFileMissing {
                    path: path.display().to_string(),
                    detail: format!("cannot create the directory {}: {e}", parent.display()),
                })?;
            }
            let url = sqlite_url(&path);
            probe_sqlite_file(&path, &url, busy).await?;
            // The writer first: it creates the file and switches it to WAL.
            let writer = sqlite()
                .max_connections(1)
                .connect(&url)
                .await
                .map_err(open_error)?;
            let readers = options
                .max_connections
                .unwrap_or(SQLITE_DEFAULT_CONNECTIONS);
            let reader = sqlite()
                .max_connections(readers)
                .connect(&url)
                .await
                .map_err(open_error)?;
            Ok((reader, writer))
        }
        Location::SqliteMemory => {
            // One connection that never closes: the database lives as long as it does.
            let pool = sqlite()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect(SQLITE_MEMORY)
                .await
                .map_err(open_error)?;
            Ok((pool.clone(), pool))
        }
        Location::Postgres(url) => {
            probe_postgres(url, options.connect_timeout)
                .await
                .map_err(open_error)?;
            let schema = options.schema.clone();
            let pool = AnyPoolOptions::new()
                .acquire_timeout(options.connect_timeout)
                .max_connections(
                    options
                        .max_connections
                        .unwrap_or(POSTGRES_DEFAULT_CONNECTIONS),
                )
                .after_connect(move |conn, _| {
                    let schema = schema.clone();
                    Box::pin(async move {
                        if let Some(schema) = schema {
                            let set = format!("SET search_path TO {}", quote_ident(&schema));
                            conn.execute(set.as_str()).await?;
                        }
                        Ok(())
                    })
                })
                .connect(url.as_str())
                .await
                .map_err(open_error)?;
            Ok((pool.clone(), pool))
        }
    }
}

/// Opens the state file once, outside any pool, and takes and drops the write lock: a pool
/// retries a failing connection until it times out, which would hide why it failed. Names
/// what is wrong with the file: missing and not creatable, damaged, read-only or locked.
async fn probe_sqlite_file(path: &Path, url: &str, busy_timeout: Duration) -> Result<()> {
    use sqlx::Connection;
    let existed = path.exists();
    let classify = |error: sqlx::Error| classify_sqlite(path, existed, error);
    let mut conn = AnyConnection::connect(url).await.map_err(classify)?;
    let checked = async {
        sqlite_settings(&mut conn, busy_timeout).await?;
        conn.execute("BEGIN IMMEDIATE").await?;
        conn.execute("SELECT count(*) FROM sqlite_master").await?;
        conn.execute("ROLLBACK").await?;
        sqlx::Result::Ok(())
    }
    .await;
    let _ = conn.close().await;
    checked.map_err(classify)?;
    if !existed {
        tracing::info!(path = %path.display(), "No state file yet; made a new one.");
    }
    Ok(())
}

/// Connects once outside any pool: a pool retries a refused connection until it times out
/// and then says only "pool timed out"; one connection says what the server (or the network)
/// answered.
async fn probe_postgres(url: &Url, timeout: Duration) -> sqlx::Result<()> {
    use sqlx::Connection;
    match tokio::time::timeout(timeout, AnyConnection::connect(url.as_str())).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} s", timeout.as_secs_f64()),
        ))),
    }
}

/// SQLite's primary result codes the open distinguishes.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_READONLY: i64 = 8;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_NOTADB: i64 = 26;

/// What a failure to open or lock a SQLite file says about the file.
fn classify_sqlite(path: &Path, existed: bool, error: sqlx::Error) -> StoreError {
    let path_text = path.display().to_string();
    let code = sqlite_code(&error);
    let detail = match &error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    };
    let read_only = || !writable(path);
    match code {
        Some(SQLITE_CORRUPT | SQLITE_NOTADB) => StoreError::StateFileCorrupt {
            path: path_text,
            detail,
        },
        Some(SQLITE_READONLY) => StoreError::StateFileReadOnly {
            path: path_text,
            detail,
        },
        Some(SQLITE_BUSY | SQLITE_LOCKED) => StoreError::StateFileLocked {
            path: path_text,
            detail,
        },
        Some(SQLITE_CANTOPEN) | None if existed && read_only() => StoreError::StateFileReadOnly {
            path: path_text,
            detail,
        },
        Some(SQLITE_CANTOPEN) | None if !existed => StoreError::StateFileMissing {
            path: path_text,
            detail,
        },
        _ => StoreError::Open {
            location: path_text,
            cause: error,
        },
    }
}

/// Whether the file (if it exists) and its directory can be written, tried rather than read
/// from the mode bits (which neither root nor immutable files follow). Only called after an
/// open failed.
fn writable(path: &Path) -> bool {
    let file_ok = !path.exists() || std::fs::OpenOptions::new().append(true).open(path).is_ok();
    let dir_ok = path.parent().is_none_or(|dir| {
        let probe = dir.join(format!(
            ".{}.tte-sync-probe",
            path.file_name()
                .map_or_else(Default::default, |n| n.to_string_lossy())
        ));
        let made = std::fs::File::create(&probe).is_ok();
        let _ = std::fs::remove_file(&probe);
        made
    });
    file_ok && dir_ok
}

/// SQLite's primary result code of a database error (the extended code's low byte).
fn sqlite_code(error: &sqlx::Error) -> Option<i64> {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .map(|code| code & 0xff),
        _ => None,
    }
}

/// WAL for concurrent readers, NORMAL sync (durable at checkpoints, safe with WAL), and a
/// busy timeout so writers queue instead of failing. Switching a new file to WAL while other
/// processes open it too can be refused as busy without SQLite's busy handler ever waiting
/// (it does not wait where waiting could deadlock), so a busy refusal is tried again until
/// the busy timeout has passed.
async fn sqlite_settings(conn: &mut AnyConnection, busy_timeout: Duration) -> sqlx::Result<()> {
    const RETRY_AFTER: Duration = Duration::from_millis(20);
    let busy_millis = busy_timeout.as_millis();
    let pragmas = format!(
        "PRAGMA busy_timeout = {busy_millis}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
    );
    let deadline = tokio::time::Instant::now() + busy_timeout;
    loop {
        match conn.execute(sqlx::raw_sql(&pragmas)).await {
            Ok(_) => return Ok(()),
            Err(error)
                if matches!(sqlite_code(&error), Some(SQLITE_BUSY | SQLITE_LOCKED))
                    && tokio::time::Instant::now() + RETRY_AFTER < deadline =>
            {
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Err(error) => return Err(error),
        }
    }
}

fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_owned())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// The SQLite URL of an absolute path: characters a URL would read as syntax are escaped,
/// and the file is created when missing.
fn sqlite_url(path: &Path) -> String {
    let mut escaped = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' | ' ' => escaped.push_str(&format!("%{:02X}", c as u32)),
            c => escaped.push(c),
        }
    }
    format!("sqlite://{escaped}?mode=rwc")
}

/// A PostgreSQL identifier, quoted.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Checks a schema name: letters, digits and underscores, not starting with a digit.
pub(crate) fn validate_schema(schema: &str) -> Result<()> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidLocation {
            location: schema.to_owned(),
            reason: "a schema name takes letters, digits and underscores (at most 63)".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            Location::parse("data/tte.db").unwrap(),
            Location::SqliteFile("data/tte.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///var/lib/tte.db").unwrap(),
            Location::SqliteFile("/var/lib/tte.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:tte.db").unwrap(),
            Location::SqliteFile("tte.db".into())
        );
        assert_eq!(
            Location::parse(SQLITE_MEMORY).unwrap(),
            Location::SqliteMemory
        );
        assert_eq!(
            Location::parse("postgres://u@db/tte").unwrap().backend(),
            Backend::Postgres
        );
        assert!(Location::parse("mysql://u@db/tte").is_err());
        assert!(Location::parse("  ").is_err());
        assert!(Location::parse("sqlite://x.db?mode=ro").is_err());
    }

    #[test]
    fn passwords_never_reach_messages() {
        let location = Location::parse("postgres://tte:hunter2@db:5432/tte").unwrap();
        assert_eq!(location.display(), "postgres://tte:***@db:5432/tte");
        let error = Location::parse("postgresql://tte:hunter2@[bad/tte").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(error.to_string().contains("tte:***@"), "{error}");
    }

    #[test]
    fn sqlite_urls_escape_url_syntax() {
        assert_eq!(
            sqlite_url(Path::new("/tmp/a b?#%.db")),
            "sqlite:///tmp/a%20b%3F%23%25.db?mode=rwc"
        );
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(validate_schema("tte_sync_1").is_ok());
        assert!(validate_schema("1abc").is_err());
        assert!(validate_schema("a;drop").is_err());
    }
}
