//! Restore: check the backup fully before touching anything (sha256 while
//! decompressing, integrity, schema version, row counts), take a safety
//! copy of the current database, then swap the files atomically (rename on
//! one filesystem) and put the backup catalog back, so the restored
//! database still lists every backup — including the safety copy.
//!
//! Offline (`blog-poster backup restore`) this takes the instance lock, so
//! it refuses while `serve` runs; the daemon's own restore
//! ([`crate::daemon::DaemonHandle::restore_backup`]) pauses its workers and
//! swaps through [`SqliteStore::replace_database`] instead.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::archive::{self, TempFile};
use super::{BackupError, BackupId, BackupKind, BackupRecord, BackupResult, Backups, catalog, io};
use crate::domain::lifecycle::Timestamp;
use crate::instance::{InstanceError, InstanceLock};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreReport {
    pub restored: BackupId,
    /// The copy of the database as it was just before the swap.
    pub safety_backup: BackupId,
    pub safety_file: String,
    pub database: PathBuf,
    pub rows: u64,
    /// Migrations applied to bring the restored database up to this binary.
    pub migrated: Vec<String>,
}

/// A backup unpacked next to the database and fully checked.
#[derive(Debug)]
pub struct Prepared {
    pub record: BackupRecord,
    file: TempFile,
}

impl Backups {
    /// Unpacks and checks backup `id` next to the database; nothing of the
    /// database is touched. Safe while `serve` runs.
    pub fn prepare_restore(&self, id: BackupId) -> BackupResult<Prepared> {
        let record = self.get(id)?;
        let dir = self
            .db_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file = TempFile::new(dir.join(format!(".restore-{id}.sqlite")));
        self.check_into(&record, file.path())?;
        Ok(Prepared { record, file })
    }

    /// `blog-poster backup restore ID`: refuses while another process (serve)
    /// holds the database.
    pub fn restore_offline(&self, id: BackupId, now: Timestamp) -> BackupResult<RestoreReport> {
        let _lock = InstanceLock::acquire(&self.db_path).map_err(|e| match e {
            InstanceError::Held { pid, .. } => BackupError::DaemonRunning { pid, id },
            e => BackupError::Instance(e),
        })?;
        let prepared = self.prepare_restore(id)?;
        let safety = self.create(BackupKind::PreRestore, now)?;
        let catalog_rows = self.list()?;
        // Bring the whole database into the main file so nothing of it is
        // left in a WAL that would outlive the swap.
        {
            let conn = rusqlite::Connection::open(&self.db_path)
                .map_err(super::sql("cannot open the database"))?;
            conn.busy_timeout(self.busy_timeout)
                .map_err(super::sql("cannot set the busy timeout"))?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(super::sql("cannot checkpoint the database"))?;
        }
        install(prepared.file, &self.db_path)?;
        self.finish_restore(&prepared.record, &safety, &catalog_rows, None, now)
    }

    /// After the swap: migrate the restored database and put the catalog back.
    pub(crate) fn finish_restore(
        &self,
        restored: &BackupRecord,
        safety: &BackupRecord,
        catalog_rows: &[BackupRecord],
        store: Option<&SqliteStore>,
        now: Timestamp,
    ) -> BackupResult<RestoreReport> {
        let migrated = match store {
            Some(s) => s.migrate(now)?,
            None => SqliteStore::open(&self.db_path, self.busy_timeout)?.migrate(now)?,
        };
        let conn = catalog::open(&self.db_path, self.busy_timeout)?;
        catalog::put_back(&conn, catalog_rows)?;
        Ok(RestoreReport {
            restored: restored.id,
            safety_backup: safety.id,
            safety_file: safety.file_name.clone(),
            database: self.db_path.clone(),
            rows: restored.total_rows(),
            migrated: migrated
                .iter()
                .map(|m| format!("{:04}_{}", m.version, m.name))
                .collect(),
        })
    }
}

impl Prepared {
    pub fn into_file(self) -> TempFile {
        self.file
    }
}

/// Puts the checked copy in place of the database: the stale `-wal` and
/// `-shm` files go first (a WAL left beside another database would be
/// replayed into it), then one rename, then the folder is synced. The
/// caller has checkpointed the old database and holds it closed.
pub fn install(file: TempFile, db: &Path) -> BackupResult<()> {
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(io(format!("cannot remove {}", Path::new(&side).display()))(
                    e,
                ));
            }
        }
    }
    file.persist(db)?;
    archive::sync_dir(db)
}
