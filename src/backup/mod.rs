//! Backups of the SQLite database: create (a consistent online copy while
//! `serve` runs, zstd-compressed, sha256 over the compressed file, written
//! under a temporary name and renamed), verify (decompress, integrity check,
//! schema version, row counts — the result is kept), restore (checksum and
//! full check before anything is touched, a safety copy first, an atomic
//! swap), retention, and the optional S3 off-site copy.
//!
//! Files: [`archive`] moves bytes (snapshot, compress, hash); [`catalog`]
//! is the backups table; [`retention`] decides what pruning keeps (pure);
//! [`s3`] talks to the bucket; [`task`] is what `serve` schedules. This
//! file ties them together. Everything here is blocking except [`s3`] and
//! [`task`]; async code calls it through `spawn_blocking`.
//!
//! Backups hold the database only. Secrets never live in it (they come from
//! the environment, files or systemd credentials), so a backup holds none.

pub mod archive;
pub mod catalog;
pub mod restore;
pub mod retention;
pub mod s3;
pub mod task;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{BackupConfig, Config, DatabaseBackend};
use crate::domain::lifecycle::Timestamp;
use crate::instance::InstanceError;
use crate::store::StoreError;

pub use restore::RestoreReport;

pub type BackupId = i64;

/// Why a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKind {
    /// `blog-poster backup create` or the API.
    Manual,
    /// `[backup] schedule`, run by `serve`.
    Scheduled,
    /// The safety copy of the database taken just before a restore.
    PreRestore,
    /// Taken by `self-update` with the service stopped, just before the
    /// new binary; restored if the new version migrated and then failed.
    PreUpdate,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Manual => "manual",
            BackupKind::Scheduled => "scheduled",
            BackupKind::PreRestore => "pre-restore",
            BackupKind::PreUpdate => "pre-update",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(BackupKind::Manual),
            "scheduled" => Some(BackupKind::Scheduled),
            "pre-restore" => Some(BackupKind::PreRestore),
            "pre-update" => Some(BackupKind::PreUpdate),
            _ => None,
        }
    }
}

/// One row of the backups table.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct BackupRecord {
    pub id: BackupId,
    pub kind: BackupKind,
    pub file_name: String,
    /// Of the compressed file.
    pub size_bytes: u64,
    /// Of the database inside.
    pub db_size_bytes: Option<u64>,
    /// sha256 of the compressed file, hex.
    pub sha256: String,
    pub schema_version: u32,
    /// Rows per table at the moment of the copy.
    pub row_counts: BTreeMap<String, u64>,
    pub created_at: Timestamp,
    pub verified_at: Option<Timestamp>,
    pub verify_ok: Option<bool>,
    /// What the last verification checked (or found wrong).
    pub verify_message: Option<String>,
    /// Object key of the off-site copy.
    pub remote_key: Option<String>,
    pub remote_uploaded_at: Option<Timestamp>,
}

impl BackupRecord {
    pub fn total_rows(&self) -> u64 {
        self.row_counts.values().sum()
    }
}

/// The outcome of a verification (also stored on the backup's row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub id: BackupId,
    pub ok: bool,
    /// Empty when ok.
    pub problems: Vec<String>,
    pub message: String,
    #[serde(skip)]
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backups cover the SQLite database; with PostgreSQL use the provider's backups (or pg_dump)"
    )]
    NotSqlite,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Sqlite(String),
    #[error("backup {0} not found: `blog-poster backup list` shows the ids")]
    NotFound(BackupId),
    #[error("there are no backups yet: `blog-poster backup create` takes one")]
    NoBackups,
    #[error(
        "backup {id} ({file}) is damaged: its sha256 {actual} does not match the recorded {expected}; \
         nothing was changed — use another backup (or the off-site copy)"
    )]
    Checksum {
        id: BackupId,
        file: String,
        expected: String,
        actual: String,
    },
    #[error("backup {id} failed its checks ({problems}); nothing was changed — use another backup")]
    Invalid { id: BackupId, problems: String },
    #[error("{0}")]
    Schema(String),
    #[error(
        "serve is running on this database (pid {pid}): restore through it \
         (POST /api/v1/backups/{id}/restore), or stop it first (systemctl stop blog-poster)"
    )]
    DaemonRunning { pid: String, id: BackupId },
    #[error(transparent)]
    Instance(#[from] InstanceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("S3 off-site copy: {0}")]
    Remote(String),
    #[error("the daemon cannot restore now: {0}")]
    Daemon(String),
}

pub type BackupResult<T> = Result<T, BackupError>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

pub(crate) fn sql(context: &str) -> impl FnOnce(rusqlite::Error) -> BackupError + '_ {
    move |e| BackupError::Sqlite(format!("{context}: {e}"))
}

/// Backups of one SQLite database, with the settings from `[backup]`.
#[derive(Debug, Clone)]
pub struct Backups {
    pub db_path: PathBuf,
    pub busy_timeout: Duration,
    pub settings: BackupConfig,
}

impl Backups {
    /// The backups of the configured database (SQLite only).
    pub fn from_config(config: &Config) -> BackupResult<Self> {
        let DatabaseBackend::Sqlite { path } = &config.database.backend else {
            return Err(BackupError::NotSqlite);
        };
        Ok(Backups {
            db_path: path.clone(),
            busy_timeout: config.database.busy_timeout,
            settings: config.backup.clone(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    pub fn file_path(&self, record: &BackupRecord) -> PathBuf {
        self.settings.dir.join(&record.file_name)
    }

    fn catalog(&self) -> BackupResult<rusqlite::Connection> {
        catalog::open(&self.db_path, self.busy_timeout)
    }

    pub fn list(&self) -> BackupResult<Vec<BackupRecord>> {
        catalog::list(&self.catalog()?)
    }

    pub fn get(&self, id: BackupId) -> BackupResult<BackupRecord> {
        catalog::get(&self.catalog()?, id)
    }

    /// Takes a backup of the live database (safe while `serve` writes) and
    /// records it.
    pub fn create(&self, kind: BackupKind, now: Timestamp) -> BackupResult<BackupRecord> {
        if !self.db_path.exists() {
            return Err(BackupError::Schema(format!(
                "there is no database at {} yet: start serve or run `blog-poster db migrate` first",
                self.db_path.display()
            )));
        }
        let conn = self.catalog()?;
        let dir = &self.settings.dir;
        crate::private_files::create_dir_all(dir).map_err(io(format!(
            "cannot create the backup folder {}",
            dir.display()
        )))?;
        let file_name = format!(
            "blog-poster-{}-{}.sqlite.zst",
            now.format("%Y%m%dT%H%M%S%3fZ"),
            kind.as_str()
        );
        let snapshot = archive::TempFile::new(dir.join(format!(".{file_name}.snapshot")));
        archive::snapshot(&self.db_path, snapshot.path(), self.busy_timeout)?;
        let facts = archive::inspect(snapshot.path())?;
        let db_size = std::fs::metadata(snapshot.path())
            .map_err(io("cannot read the snapshot's size"))?
            .len();
        let partial = archive::TempFile::new(dir.join(format!(".{file_name}.partial")));
        let (size, sha256) = archive::compress(
            snapshot.path(),
            partial.path(),
            self.settings.compression_level,
        )?;
        drop(snapshot);
        let final_path = dir.join(&file_name);
        partial.persist(&final_path)?;
        let record = BackupRecord {
            id: 0,
            kind,
            file_name,
            size_bytes: size,
            db_size_bytes: Some(db_size),
            sha256,
            schema_version: facts.schema_version,
            row_counts: facts.row_counts,
            created_at: now,
            verified_at: None,
            verify_ok: None,
            verify_message: None,
            remote_key: None,
            remote_uploaded_at: None,
        };
        let id = catalog::insert(&conn, &record)?;
        Ok(BackupRecord { id, ..record })
    }

    /// The newest backup, if any.
    pub fn newest(&self) -> BackupResult<Option<BackupRecord>> {
        Ok(self.list()?.into_iter().next())
    }

    /// Checks a backup end to end (or the newest with `None`) and keeps the
    /// result on its row. A damaged backup is a report with `ok: false`,
    /// not an error; errors are for when the check itself could not run.
    pub fn verify(&self, id: Option<BackupId>, now: Timestamp) -> BackupResult<VerifyReport> {
        let started = Instant::now();
        let conn = self.catalog()?;
        let record = match id {
            Some(id) => catalog::get(&conn, id)?,
            None => catalog::list(&conn)?
                .into_iter()
                .next()
                .ok_or(BackupError::NoBackups)?,
        };
        let temp = archive::TempFile::new(
            self.settings
                .dir
                .join(format!(".verify-{}.sqlite", record.id)),
        );
        let problems = match self.check_into(&record, temp.path()) {
            Ok(()) => vec![],
            Err(BackupError::Invalid { problems, .. }) => vec![problems],
            Err(e @ BackupError::Checksum { .. }) => vec![e.to_string()],
            Err(e @ BackupError::Io { .. }) => vec![e.to_string()],
            Err(e) => return Err(e),
        };
        drop(temp);
        let ok = problems.is_empty();
        let message = if ok {
            format!(
                "ok: sha256 matches, integrity_check ok, schema version {}, {} rows in {} tables match",
                record.schema_version,
                record.total_rows(),
                record.row_counts.len()
            )
        } else {
            problems.join("; ")
        };
        catalog::record_verify(&conn, record.id, ok, &message, now)?;
        Ok(VerifyReport {
            id: record.id,
            ok,
            problems,
            message,
            elapsed: started.elapsed(),
        })
    }

    /// Decompresses `record` into `dest` (checking the sha256 as it reads)
    /// and checks the result: integrity, schema version, row counts.
    pub(crate) fn check_into(&self, record: &BackupRecord, dest: &Path) -> BackupResult<()> {
        let path = self.file_path(record);
        if !path.exists() {
            return Err(BackupError::Invalid {
                id: record.id,
                problems: format!("the file {} is missing", path.display()),
            });
        }
        archive::decompress_checked(&path, dest, &record.sha256).map_err(|e| match e {
            archive::Unpack::Checksum(actual) => BackupError::Checksum {
                id: record.id,
                file: record.file_name.clone(),
                expected: record.sha256.clone(),
                actual,
            },
            archive::Unpack::Other(e) => e,
        })?;
        let mut problems = archive::integrity_problems(dest)?;
        match archive::inspect(dest) {
            Ok(facts) => {
                let known = crate::store::sqlite::SqliteStore::migrations()
                    .last()
                    .map_or(0, |m| m.version);
                if facts.schema_version != record.schema_version {
                    problems.push(format!(
                        "schema version {} inside, {} recorded",
                        facts.schema_version, record.schema_version
                    ));
                }
                if facts.schema_version > known {
                    problems.push(format!(
                        "schema version {} is newer than this blog-poster knows ({known}): restore it with the newer version",
                        facts.schema_version
                    ));
                }
                for (table, want) in &record.row_counts {
                    match facts.row_counts.get(table) {
                        Some(got) if got == want => {}
                        Some(got) => problems.push(format!("{table}: {got} rows, {want} recorded")),
                        None => problems.push(format!("table {table} is missing")),
                    }
                }
            }
            Err(e) => problems.push(format!("cannot read the tables: {e}")),
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackupError::Invalid {
                id: record.id,
                problems: problems.join("; "),
            })
        }
    }

    /// Deletes the backups retention does not keep (files and rows);
    /// returns them (their off-site copies are for the caller to delete).
    pub fn prune(&self) -> BackupResult<Vec<BackupRecord>> {
        let conn = self.catalog()?;
        let all = catalog::list(&conn)?;
        let policy = retention::Policy {
            keep_last: self.settings.keep_last,
            keep_daily: self.settings.keep_daily,
            keep_weekly: self.settings.keep_weekly,
        };
        let doomed = retention::to_delete(&all, &policy);
        let mut deleted = Vec::new();
        for record in all.into_iter().filter(|r| doomed.contains(&r.id)) {
            let path = self.file_path(&record);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("cannot delete {}", path.display()))(e)),
            }
            catalog::delete(&conn, record.id)?;
            deleted.push(record);
        }
        Ok(deleted)
    }

    /// Notes the off-site copy of a backup.
    pub fn set_remote(&self, id: BackupId, key: &str, now: Timestamp) -> BackupResult<()> {
        catalog::set_remote(&self.catalog()?, id, key, now)
    }
}
