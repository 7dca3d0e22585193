//! Opening the configured database: SQLite or PostgreSQL from the config,
//! the SQLite instance lock, migrations when allowed, and the config's
//! sites as the store keeps them. What the CLI, `serve`, `run --once` and
//! self-update open databases with.

use std::sync::Arc;

use crate::config::{Config, DatabaseBackend};
use crate::domain::lifecycle::Timestamp;
use crate::instance::{InstanceError, InstanceLock};
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{AppliedMigration, SiteSpec, SourceSpec, Store, StoreError};

/// The config's sites as the store keeps them.
pub fn site_specs(config: &Config) -> Vec<SiteSpec> {
    config
        .sites
        .iter()
        .map(|s| SiteSpec {
            name: s.name.clone(),
            enabled: s.enabled,
            max_concurrency: s.max_concurrency,
            sources: s
                .sources
                .iter()
                .map(|src| SourceSpec {
                    url: src.url.to_string(),
                    kind: src.kind.as_str().into(),
                })
                .collect(),
        })
        .collect()
}

/// Applies pending migrations if allowed; otherwise says how to.
pub fn ensure_migrated(
    store: &dyn Store,
    auto_migrate: bool,
    now: Timestamp,
) -> Result<Vec<AppliedMigration>, StoreError> {
    let status = store.schema_status()?;
    if status.pending.is_empty() {
        return Ok(vec![]);
    }
    if !auto_migrate {
        return Err(StoreError::Schema(format!(
            "the database needs {} migration(s) ({}): run `blog-poster db migrate` (database.auto_migrate is off)",
            status.pending.len(),
            status.pending.join(", ")
        )));
    }
    store.migrate(now)
}

/// Opens the SQLite database at the configured path without taking the
/// instance lock (for read-only commands). Refused for PostgreSQL.
pub fn open_sqlite(config: &Config) -> Result<SqliteStore, StoreError> {
    match &config.database.backend {
        DatabaseBackend::Sqlite { path } => SqliteStore::open(path, config.database.busy_timeout),
        DatabaseBackend::Postgres { .. } => Err(StoreError::Conflict(format!(
            "this needs a SQLite database, but database.url is {}",
            config.database.backend.describe()
        ))),
    }
}

/// Opens the configured database, SQLite or PostgreSQL, without any lock.
/// Blocking (PostgreSQL connects here): call it off the async workers.
pub fn open_database(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match &config.database.backend {
        DatabaseBackend::Sqlite { path } => {
            Arc::new(SqliteStore::open(path, config.database.busy_timeout)?)
        }
        DatabaseBackend::Postgres { url } => {
            Arc::new(PgStore::open(url, &config.database.postgres)?)
        }
    })
}

/// The instance lock of a SQLite database (one working process at a time);
/// `None` for PostgreSQL, where several instances may work at once.
pub fn instance_lock(config: &Config) -> Result<Option<InstanceLock>, InstanceError> {
    match &config.database.backend {
        DatabaseBackend::Sqlite { path } => InstanceLock::acquire(path).map(Some),
        DatabaseBackend::Postgres { .. } => Ok(None),
    }
}
