//! What a working process (`serve`, `run --once`, a foreground publish)
//! does before its first job: the data folder, the instance lock, the
//! schema, the sites, orphaned jobs and cap waits. Opening the database
//! itself is the store's (`store::open`).

use std::sync::Arc;

use crate::config::{Config, DatabaseBackend};
use crate::domain::lifecycle::Timestamp;
use crate::instance::{InstanceError, InstanceLock};
use crate::store::sqlite::SqliteStore;
use crate::store::{AppliedMigration, Reclaimed, Store, StoreError, open};

/// Why a process could not get ready to work.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Instance(#[from] InstanceError),
    #[error("{0}")]
    Io(String),
}

/// An opened database this process may work on.
pub struct Workspace {
    pub store: Arc<dyn Store>,
    /// The same store when it is SQLite (backups and restore need the file).
    pub sqlite: Option<Arc<SqliteStore>>,
    /// Held while the process lives: one worker process per SQLite database.
    /// None with PostgreSQL, where several instances share the work.
    _lock: Option<InstanceLock>,
    /// Jobs found running at start (their process died): requeued, or dead
    /// (out of attempts, or a poison pill).
    pub reclaimed: Reclaimed,
    pub migrated: Vec<AppliedMigration>,
}

/// Everything a working process does before its first job: data dir, lock,
/// schema, sites, and orphaned jobs. Blocking; call it off the async workers.
pub fn open_for_work(config: &Config, now: Timestamp) -> Result<Workspace, WorkspaceError> {
    crate::private_files::private_dir(&config.data_dir).map_err(|e| {
        WorkspaceError::Io(format!(
            "cannot create the data folder {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let lock = open::instance_lock(config)?;
    // The SQLite store is kept by its type as well: backups and restore
    // need its file.
    let (store, sqlite): (Arc<dyn Store>, Option<Arc<SqliteStore>>) = match &config.database.backend
    {
        DatabaseBackend::Sqlite { path } => {
            let s = Arc::new(SqliteStore::open(path, config.database.busy_timeout)?);
            (s.clone(), Some(s))
        }
        DatabaseBackend::Postgres { .. } => (open::open_database(config)?, None),
    };
    let migrated = open::ensure_migrated(store.as_ref(), config.database.auto_migrate, now)?;
    store.sync_sites(&open::site_specs(config), now)?;
    // With the only lock on a SQLite database, every job still marked
    // running belongs to a process that died: requeue them now instead of
    // waiting for their leases to run out. On PostgreSQL other instances
    // may hold running jobs: only expired leases are taken back.
    // A job that died with the process `engine.poison_after` times in a
    // row is quarantined here (a poison pill) instead of killing us again.
    let reclaimed = store.reclaim_leases(lock.is_some(), config.engine.poison_after, now)?;
    // Jobs waiting for a cost cap are looked at again now if the caps
    // changed since the last start (a cap raised in the config takes effect
    // with this start). Provider cooldowns, Retry-After deadlines and a
    // site's rate limit keep their time: a restart is not a reason to call
    // a rate-limiting server again.
    super::cap_waits::wake_cap_waits_if_caps_changed(store.as_ref(), config, now)?;
    Ok(Workspace {
        store,
        sqlite,
        _lock: lock,
        reclaimed,
        migrated,
    })
}
