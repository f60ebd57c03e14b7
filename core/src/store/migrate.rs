//! Embedded schema migrations, applied when a store opens.
//!
//! Each backend has its own numbered SQL files (the DDL differs; the queries do not). They run in
//! one transaction that first takes a lock — `BEGIN IMMEDIATE` on SQLite, a transaction-scoped
//! advisory lock on PostgreSQL — so replicas starting at once apply each migration exactly once,
//! and a failed migration leaves nothing half done.

use sqlx::{AnyPool, Row};

use super::clock::{Clock, to_millis};
use super::connect::{Backend, quote_ident};
use super::error::{Result, StoreError};

/// One migration: its number, what it does, and its SQL.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        sql: include_str!("migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        description: "named locks",
        sql: include_str!("migrations/sqlite/0002_locks.sql"),
    },
    Migration {
        version: 3,
        description: "record status reasons, pairs kept apart",
        sql: include_str!("migrations/sqlite/0003_identity.sql"),
    },
    Migration {
        version: 4,
        description: "pending creates in a CRM without native upsert",
        sql: include_str!("migrations/sqlite/0004_pending_crm_creates.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        sql: include_str!("migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        description: "named locks",
        sql: include_str!("migrations/postgres/0002_locks.sql"),
    },
    Migration {
        version: 3,
        description: "record status reasons, pairs kept apart",
        sql: include_str!("migrations/postgres/0003_identity.sql"),
    },
    Migration {
        version: 4,
        description: "pending creates in a CRM without native upsert",
        sql: include_str!("migrations/postgres/0004_pending_crm_creates.sql"),
    },
];

/// The first key of the PostgreSQL advisory lock; the second is the schema's hash.
const ADVISORY_LOCK_CLASS: i32 = 0x7e5_0001;
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";
const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS tte_sync_schema (\
     version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// The newest schema version this build applies.
pub(crate) fn latest(backend: Backend) -> i64 {
    migrations(backend).last().map_or(0, |m| m.version)
}

fn migrations(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

/// Applies the migrations not applied yet. Returns how many ran.
pub(crate) async fn run(
    pool: &AnyPool,
    backend: Backend,
    schema: Option<&str>,
    location: &str,
    clock: &Clock,
) -> Result<usize> {
    let failed = |cause| StoreError::Migrate {
        location: location.to_owned(),
        cause,
    };
    let mut tx = match backend {
        Backend::Sqlite => pool.begin_with(BEGIN_IMMEDIATE).await,
        Backend::Postgres => pool.begin().await,
    }
    .map_err(failed)?;
    if backend == Backend::Postgres {
        // `pg_advisory_xact_lock` returns void, which the Any driver cannot read: select a
        // constant from it instead.
        let lock = format!(
            "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock({ADVISORY_LOCK_CLASS}, hashtext($1))) AS l"
        );
        sqlx::query(&lock)
            .bind(schema.unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        if let Some(schema) = schema {
            let create = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
            sqlx::query(&create)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
        }
    }
    sqlx::query(CREATE_HISTORY)
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM tte_sync_schema")
        .fetch_all(&mut *tx)
        .await
        .map_err(failed)?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<sqlx::Result<_>>()
        .map_err(failed)?;
    let known = latest(backend);
    if let Some(&found) = applied.iter().max().filter(|&&v| v > known) {
        return Err(StoreError::SchemaTooNew {
            location: location.to_owned(),
            found,
            known,
        });
    }
    let mut ran = 0;
    for migration in migrations(backend) {
        if applied.contains(&migration.version) {
            continue;
        }
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO tte_sync_schema (version, description, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(migration.version)
        .bind(migration.description)
        .bind(to_millis(clock.now()))
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tracing::info!(
            version = migration.version,
            description = migration.description,
            "Applied database migration."
        );
        ran += 1;
    }
    tx.commit().await.map_err(failed)?;
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_know_the_same_versions() {
        let versions = |b| migrations(b).iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(Backend::Sqlite), versions(Backend::Postgres));
        assert!(versions(Backend::Sqlite).windows(2).all(|w| w[0] < w[1]));
    }
}
