//! The SQLite store: one file, WAL, foreign keys on, a busy timeout, and one
//! connection behind a mutex — SQLite allows one writer, and every write
//! here is a short transaction. Owns the SQLite dialect; the meaning of each
//! method is the `Store` trait's.

mod dialect;
mod locking;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::migrate::{self, Migration};
use super::sql;
use super::sql::backend::Backend;
/// Unix milliseconds, as both schemas store times (the backup catalog
/// reads them too).
pub(crate) use super::sql::{ms, ts};
use super::*;
use crate::domain::lifecycle::Timestamp;
pub(crate) use dialect::Lite;

pub struct SqliteStore {
    path: PathBuf,
    busy_timeout: Duration,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and checks its
    /// schema against this binary: an edited migration or a newer database
    /// is refused here, before anything is written. Pending migrations are
    /// not applied; call [`Store::migrate`].
    pub fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        // Folder 0700 and file 0600 before SQLite, which would make it 0644.
        crate::private_files::prepare_sqlite(path).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create the database {} (owner-only): {e}",
                path.display()
            ))
        })?;
        let conn = open_connection(path, busy_timeout)?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            busy_timeout,
            conn: Mutex::new(conn),
        };
        migrate::plan(&store.applied_migrations()?, Self::migrations())?;
        Ok(store)
    }

    /// Closes the connection, lets `swap` replace the database file, and
    /// opens the file again — while every other caller of this store waits
    /// on the connection lock. The WAL is checkpointed and truncated first,
    /// so `swap` finds the whole database in the main file and may delete
    /// the `-wal`/`-shm` files. Used by the daemon's restore; the caller
    /// must have stopped its workers and must migrate afterwards.
    pub fn replace_database<T>(
        &self,
        swap: impl FnOnce(&Path) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(map_err)?;
        let placeholder = Connection::open_in_memory().map_err(map_err)?;
        // Dropping the old connection closes the file.
        drop(std::mem::replace(&mut *conn, placeholder));
        let swapped = swap(&self.path);
        // Open again whatever happened: on failure the old file is still there.
        let _ = crate::private_files::prepare_sqlite(&self.path);
        *conn = open_connection(&self.path, self.busy_timeout)?;
        swapped
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn migrations() -> &'static [Migration] {
        migrate::SQLITE
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open
        // (rusqlite rolls back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A consistent copy of the live database (SQLite's online backup API).
    pub fn backup_to(&self, dest: &Path) -> StoreResult<()> {
        let conn = self.conn();
        conn.backup(rusqlite::MAIN_DB, dest, None).map_err(map_err)
    }
}

/// Opens the file with our settings (WAL, foreign keys, busy timeout) and
/// makes sure the migrations table exists.
fn open_connection(path: &Path, busy_timeout: Duration) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(|e| {
        StoreError::Backend(format!("cannot open the database {}: {e}", path.display()))
    })?;
    conn.busy_timeout(busy_timeout).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(256);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         -- Checkpoint every 4,000 WAL pages (16 MB) instead of 1,000: the
         -- same hot pages (jobs, budget totals) are copied back once, not
         -- four times, and checkpoints fsync a quarter as often.
         PRAGMA wal_autocheckpoint = 4000;
         PRAGMA cache_size = -16000; -- 16 MB of pages: the working set of a busy site
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             checksum   TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         );",
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::Schema(format!(
            "{} is not a SQLite database (or it is encrypted or damaged); point database.url elsewhere or restore a backup",
            path.display()
        )),
        _ => map_err(e),
    })?;
    Ok(conn)
}

pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

impl Backend for SqliteStore {
    type Db<'a> = Lite<'a>;

    fn read<T>(&self, mut f: impl FnMut(&mut Lite<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.conn();
        f(&mut Lite(&conn))
    }

    /// An IMMEDIATE transaction: it takes the write lock up front, so two
    /// writers never deadlock upgrading a read lock, and it is the lock
    /// every `FOR UPDATE` of the shared SQL stands for on SQLite.
    fn write<T>(&self, mut f: impl FnMut(&mut Lite<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let out = f(&mut Lite(&tx))?;
        tx.commit().map_err(map_err)?;
        Ok(out)
    }

    fn known_migrations(&self) -> &'static [Migration] {
        Self::migrations()
    }

    /// Each migration in its own IMMEDIATE transaction (one writer: no
    /// other instance can race).
    fn apply_migrations(&self, now: Timestamp) -> StoreResult<Vec<AppliedMigration>> {
        let applied = self.applied_migrations()?;
        let plan = migrate::plan(&applied, Self::migrations())?;
        let mut done = Vec::new();
        for m in plan {
            done.push(self.write(|db| {
                db.0.execute_batch(m.sql).map_err(|e| {
                    StoreError::Schema(format!("migration {} failed: {e}", m.file_stem()))
                })?;
                sql::schema::record(db, m, now)
            })?);
        }
        Ok(done)
    }
}
