//! The daemon's side of long operations: the API asks through a
//! [`DaemonHandle`]; `serve`'s main loop pauses the workers, copies the
//! database into PostgreSQL or restores a backup (telling a [`Progress`]
//! each step), and resumes. The watchdog is fed meanwhile by its own thread
//! (see `watchdog`); the HTTP side (202 and the operation) is
//! `web::operations`.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{WorkerParts, Workers};
use crate::backup::{BackupError, BackupId, BackupKind, RestoreReport};
use crate::dbcopy::{CopyError, CopyReport};
use crate::domain::BoxFuture;
use crate::pipeline::workspace::Workspace;
use crate::store::open::site_specs;
use crate::store::{Store, StoreError};

/// Asks the running daemon to do what needs its workers paused. Cheap to
/// clone; give one to the HTTP API.
#[derive(Debug, Clone)]
pub struct DaemonHandle {
    tx: mpsc::Sender<ControlRequest>,
}

/// The daemon's end of [`DaemonHandle`]; pass it to [`serve_with_control`].
#[derive(Debug)]
pub struct DaemonControl {
    pub(super) rx: mpsc::Receiver<ControlRequest>,
    /// Given to the HTTP API, so `POST /api/v1/backups/{id}/restore` reaches us.
    pub(super) handle: DaemonHandle,
}

/// Hears an operation's progress, one line at a time (any thread).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// A [`Progress`] that only logs.
pub fn log_progress() -> Progress {
    Arc::new(|line: &str| tracing::info!("{line}"))
}

pub(super) enum ControlRequest {
    Restore {
        id: BackupId,
        progress: Progress,
        reply: oneshot::Sender<Result<RestoreReport, BackupError>>,
    },
    Copy {
        url: String,
        options: crate::config::PgOptions,
        replace: bool,
        progress: Progress,
        reply: oneshot::Sender<Result<CopyReport, CopyError>>,
    },
}

impl std::fmt::Debug for ControlRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlRequest::Restore { id, .. } => write!(f, "Restore({id})"),
            ControlRequest::Copy { replace, .. } => write!(f, "Copy(replace: {replace})"),
        }
    }
}

/// The API's narrow view of the daemon.
impl crate::web::DaemonOps for DaemonHandle {
    fn restore_backup(
        &self,
        id: BackupId,
        progress: crate::web::OperationProgress,
    ) -> BoxFuture<'static, Result<RestoreReport, BackupError>> {
        let handle = self.clone();
        Box::pin(async move { handle.restore_backup_with(id, progress).await })
    }

    fn copy_database(
        &self,
        url: String,
        options: crate::config::PgOptions,
        replace: bool,
        progress: crate::web::OperationProgress,
    ) -> BoxFuture<'static, Result<CopyReport, CopyError>> {
        let handle = self.clone();
        Box::pin(async move {
            handle
                .copy_database_with(url, options, replace, progress)
                .await
        })
    }
}

pub fn control_channel() -> (DaemonHandle, DaemonControl) {
    let (tx, rx) = mpsc::channel(4);
    let handle = DaemonHandle { tx };
    (handle.clone(), DaemonControl { rx, handle })
}

impl DaemonHandle {
    /// Restores backup `id` into the running daemon: checks the backup fully
    /// while work goes on (sha256, integrity, schema, row counts), then
    /// pauses the engine, the scheduler and the backup task (running jobs get
    /// `engine.shutdown_grace` to finish, the rest go back to the queue),
    /// takes a safety copy, swaps the database file atomically, reopens and
    /// migrates it, puts the backup catalog back, requeues jobs the backup
    /// had running, and resumes. A damaged backup is refused before
    /// anything stops. What `POST /api/v1/backups/{id}/restore` calls.
    pub async fn restore_backup(&self, id: BackupId) -> Result<RestoreReport, BackupError> {
        self.restore_backup_with(id, log_progress()).await
    }

    /// [`Self::restore_backup`], telling `progress` each step.
    pub async fn restore_backup_with(
        &self,
        id: BackupId,
        progress: Progress,
    ) -> Result<RestoreReport, BackupError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ControlRequest::Restore {
                id,
                progress,
                reply,
            })
            .await
            .map_err(|_| BackupError::Daemon("the daemon is stopping".into()))?;
        rx.await
            .map_err(|_| BackupError::Daemon("the daemon stopped before finishing".into()))?
    }
}

impl DaemonHandle {
    /// `db copy` while the daemon runs: pauses its workers (as for a
    /// restore) so the SQLite file holds still, copies and verifies it into
    /// PostgreSQL (see [`crate::dbcopy::copy`]), and resumes on SQLite.
    /// Switching to PostgreSQL is then a config change and a restart.
    pub async fn copy_database(
        &self,
        url: String,
        options: crate::config::PgOptions,
        replace: bool,
    ) -> Result<CopyReport, CopyError> {
        self.copy_database_with(url, options, replace, log_progress())
            .await
    }

    /// [`Self::copy_database`], telling `progress` each table copied.
    pub async fn copy_database_with(
        &self,
        url: String,
        options: crate::config::PgOptions,
        replace: bool,
        progress: Progress,
    ) -> Result<CopyReport, CopyError> {
        let (reply, rx) = oneshot::channel();
        let gone = || CopyError::Source("the daemon is stopping".into());
        self.tx
            .send(ControlRequest::Copy {
                url,
                options,
                replace,
                progress,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// A `db copy` the daemon was asked for.
pub(super) struct CopyInDaemon {
    pub(super) url: String,
    pub(super) options: crate::config::PgOptions,
    pub(super) replace: bool,
    pub(super) progress: Progress,
}

pub(super) async fn copy_in_daemon(
    request: CopyInDaemon,
    workers: &mut Workers,
    parts: &WorkerParts,
    ws: &Workspace,
) -> Result<CopyReport, CopyError> {
    let CopyInDaemon {
        url,
        options,
        replace,
        progress,
    } = request;
    let Some(sqlite) = ws.sqlite.clone() else {
        return Err(CopyError::Source(
            "db copy reads a SQLite database; this daemon runs on PostgreSQL".into(),
        ));
    };
    tracing::info!("db copy requested: pausing work while the database is copied");
    progress("pausing work (running jobs get engine.shutdown_grace to finish)");
    workers.stop().await;
    progress("work paused; copying");
    let now = parts.clock.now();
    let result = tokio::task::spawn_blocking(move || {
        let req = crate::dbcopy::CopyRequest {
            source: sqlite.path(),
            url: &url,
            options,
            replace,
        };
        crate::dbcopy::copy(&req, now, &mut |line| {
            tracing::info!("db copy: {line}");
            progress(line);
        })
    })
    .await
    .map_err(|e| CopyError::Source(format!("copy task failed: {e}")))
    .and_then(|r| r);
    *workers = Workers::start(parts, ws);
    match &result {
        Ok(r) => tracing::info!(rows = r.rows, "db copy verified; work resumed on SQLite"),
        Err(e) => tracing::error!(error = %e, "db copy failed; work resumed on SQLite"),
    }
    result
}

pub(super) async fn restore_in_daemon(
    id: BackupId,
    progress: &Progress,
    workers: &mut Workers,
    parts: &WorkerParts,
    ws: &Workspace,
) -> Result<RestoreReport, BackupError> {
    let (config, clock) = (&parts.config, &parts.clock);
    let (Some(backups), Some(sqlite)) = (parts.backups.as_ref(), ws.sqlite.clone()) else {
        return Err(BackupError::NotSqlite);
    };
    tracing::info!(backup = id, "restore requested: checking the backup");
    progress(&format!(
        "checking backup {id} (sha256, integrity, schema, row counts) while work goes on"
    ));
    // Check everything before stopping anything.
    let b = backups.clone();
    let prepared = tokio::task::spawn_blocking(move || b.prepare_restore(id))
        .await
        .map_err(|e| BackupError::Daemon(format!("restore task failed: {e}")))??;
    tracing::info!(backup = id, "backup checked; pausing work for the swap");
    progress("backup checked; pausing work for the swap");
    workers.stop().await;
    let (b, cfg, now) = (backups.clone(), config.clone(), clock.now());
    let step = progress.clone();
    let result = tokio::task::spawn_blocking(move || {
        step("taking a safety backup of the current database");
        let safety = b.create(BackupKind::PreRestore, now)?;
        step("swapping the database file");
        let catalog_rows = b.list()?;
        let record = prepared.record.clone();
        let file = prepared.into_file();
        let mut install_error = None;
        sqlite
            .replace_database(|path| {
                crate::backup::restore::install(file, path).map_err(|e| {
                    let msg = e.to_string();
                    install_error = Some(e);
                    StoreError::Backend(msg)
                })
            })
            .map_err(|e| install_error.take().unwrap_or(BackupError::Store(e)))?;
        let report = b.finish_restore(&record, &safety, &catalog_rows, Some(&sqlite), now)?;
        // This process is the database's only worker: whatever the backup
        // had running is requeued, and the config's sites are synced again.
        sqlite.sync_sites(&site_specs(&cfg), now)?;
        // Not crashes: the backup was taken while they ran.
        sqlite.reclaim_leases(true, u32::MAX, now)?;
        crate::pipeline::cap_waits::wake_cap_waits_if_caps_changed(sqlite.as_ref(), &cfg, now)?;
        sqlite.record_event(
            &crate::store::NewEvent {
                site: None,
                run_id: None,
                job_id: None,
                kind: "backup.restored".into(),
                actor: "api".into(),
                message: format!(
                    "backup {} restored ({} rows); the database before it is backup {}",
                    report.restored, report.rows, report.safety_backup
                ),
            },
            now,
        )?;
        Ok(report)
    })
    .await
    .map_err(|e| BackupError::Daemon(format!("restore task failed: {e}")));
    // Resume whatever happened: on failure the old database is still in place.
    *workers = Workers::start(parts, ws);
    let result = result.and_then(|r| r);
    match &result {
        Ok(r) => tracing::info!(
            backup = r.restored,
            safety = r.safety_backup,
            "restore done; work resumed"
        ),
        Err(e) => tracing::error!(error = %e, "restore failed; work resumed"),
    }
    result
}
