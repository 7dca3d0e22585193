//! Backups on a schedule, run by `serve`: take a backup when
//! `[backup] schedule` says (then prune, then upload the off-site copy), and
//! verify the newest one when `drill_schedule` says. The database is the
//! truth for "when was the last one": a slot missed while the daemon was
//! down runs once at start.

use crate::alerts::Alert;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::s3::Remote;
use super::{BackupError, BackupKind, BackupRecord, BackupResult, Backups, VerifyReport};
use crate::clock::Clock;
use crate::config::Schedule;
use crate::domain::lifecycle::Timestamp;
use crate::store::{NewEvent, Store};

/// What one backup cycle did.
#[derive(Debug)]
pub struct Cycle {
    pub record: BackupRecord,
    /// The off-site key, when uploaded.
    pub uploaded: Option<String>,
    pub pruned: Vec<BackupRecord>,
    /// Off-site problems: the local backup is still good.
    pub remote_errors: Vec<String>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> BackupResult<T> + Send + 'static,
) -> BackupResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| match crate::fence::join_error(e) {
            // The blocking task is the fence of the backup's file work.
            Ok(panic) => {
                crate::fence::report(None, "a backup", &panic);
                BackupError::Sqlite(format!("the backup {panic}"))
            }
            Err(e) => BackupError::Sqlite(format!("backup task failed: {e}")),
        })?
}

/// Create and upload; with `prune`, then apply retention (deleting pruned
/// off-site copies too).
pub async fn backup_cycle(
    backups: &Backups,
    remote: Option<&Remote>,
    kind: BackupKind,
    prune: bool,
    clock: &dyn Clock,
) -> BackupResult<Cycle> {
    let b = backups.clone();
    let now = clock.now();
    let record = blocking(move || b.create(kind, now)).await?;
    let mut remote_errors = Vec::new();
    let mut uploaded = None;
    if let Some(r) = remote {
        let key = r.key_for(&record.file_name);
        match r.upload(&backups.file_path(&record), &key).await {
            Ok(()) => {
                let (b, id, k, now) = (backups.clone(), record.id, key.clone(), clock.now());
                blocking(move || b.set_remote(id, &k, now)).await?;
                uploaded = Some(key);
            }
            Err(e) => remote_errors.push(e.to_string()),
        }
    }
    let pruned = if prune {
        prune_all(backups, remote, &mut remote_errors).await?
    } else {
        vec![]
    };
    Ok(Cycle {
        record,
        uploaded,
        pruned,
        remote_errors,
    })
}

/// Applies retention locally and deletes the pruned backups' off-site copies.
pub async fn prune_all(
    backups: &Backups,
    remote: Option<&Remote>,
    remote_errors: &mut Vec<String>,
) -> BackupResult<Vec<BackupRecord>> {
    let b = backups.clone();
    let pruned = blocking(move || b.prune()).await?;
    if let Some(r) = remote {
        for key in pruned.iter().filter_map(|p| p.remote_key.as_deref()) {
            if let Err(e) = r.delete(key).await {
                remote_errors.push(e.to_string());
            }
        }
    }
    Ok(pruned)
}

/// Verifies the newest backup (the restore drill).
pub async fn drill(backups: &Backups, clock: &dyn Clock) -> BackupResult<VerifyReport> {
    let (b, now) = (backups.clone(), clock.now());
    blocking(move || b.verify(None, now)).await
}

/// Whether a slot of `schedule` fell between `since` and `now`.
pub fn due(schedule: &Schedule, since: Timestamp, now: Timestamp) -> bool {
    schedule.next_after(since).is_some_and(|slot| slot <= now)
}

fn event(store: &dyn Store, kind: &str, message: String, now: Timestamp) {
    let e = NewEvent {
        site: None,
        run_id: None,
        job_id: None,
        kind: kind.into(),
        actor: "backup".into(),
        message,
    };
    if let Err(err) = store.record_event(&e, now) {
        tracing::warn!(error = %err, "cannot record the backup event");
    }
}

/// Runs until `stop` turns true. Does nothing without schedules.
pub async fn run(
    backups: Backups,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
    every: Duration,
    alerts: crate::alerts::Alerts,
) {
    let (schedule, drill_schedule) = (
        backups.settings.schedule.clone(),
        backups.settings.drill_schedule.clone(),
    );
    if schedule.is_none() && drill_schedule.is_none() {
        return;
    }
    let remote = match backups.settings.s3.as_ref().map(Remote::new).transpose() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "off-site backups disabled");
            None
        }
    };
    let started = clock.now();
    loop {
        let now = clock.now();
        let history = {
            let b = backups.clone();
            blocking(move || b.list()).await
        };
        match history {
            Ok(history) => {
                let last_scheduled = history
                    .iter()
                    .filter(|r| r.kind == BackupKind::Scheduled)
                    .map(|r| r.created_at)
                    .max();
                if let Some(s) = &schedule
                    && due(s, last_scheduled.unwrap_or(started), now)
                {
                    let cycle = crate::fence::catch_async(take(
                        &backups,
                        remote.as_ref(),
                        store.as_ref(),
                        clock.as_ref(),
                        &alerts,
                    ))
                    .await;
                    if let Err(panic) = cycle {
                        contained(
                            store.as_ref(),
                            clock.as_ref(),
                            &alerts,
                            "scheduled backup",
                            &panic,
                        );
                    }
                }
                let last_drill = history.iter().filter_map(|r| r.verified_at).max();
                if let Some(s) = &drill_schedule
                    && due(s, last_drill.unwrap_or(started), now)
                {
                    let drill = crate::fence::catch_async(verify_newest(
                        &backups,
                        store.as_ref(),
                        clock.as_ref(),
                        &alerts,
                    ))
                    .await;
                    if let Err(panic) = drill {
                        contained(
                            store.as_ref(),
                            clock.as_ref(),
                            &alerts,
                            "restore drill",
                            &panic,
                        );
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the backup history; will try again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
    }
}

/// A backup or drill panicked outside its blocking work: the fence in
/// [`run`] caught it; record it like a failed backup and keep the schedule.
fn contained(
    store: &dyn Store,
    clock: &dyn Clock,
    alerts: &crate::alerts::Alerts,
    what: &str,
    panic: &crate::fence::Panicked,
) {
    crate::fence::report(None, &format!("the {what}"), panic);
    let error = format!("{what} {panic}");
    alerts.raise(Alert::BackupFailed {
        error: error.clone(),
    });
    event(store, "backup.failed", error, clock.now());
}

async fn take(
    backups: &Backups,
    remote: Option<&Remote>,
    store: &dyn Store,
    clock: &dyn Clock,
    alerts: &crate::alerts::Alerts,
) {
    crate::fence::inject::point("backup", "scheduled");
    match backup_cycle(backups, remote, BackupKind::Scheduled, true, clock).await {
        Ok(c) => {
            tracing::info!(
                id = c.record.id,
                file = %c.record.file_name,
                bytes = c.record.size_bytes,
                pruned = c.pruned.len(),
                uploaded = c.uploaded.is_some(),
                "scheduled backup taken"
            );
            let mut message = format!(
                "backup {} taken: {} ({} bytes, {} rows)",
                c.record.id,
                c.record.file_name,
                c.record.size_bytes,
                c.record.total_rows()
            );
            for e in &c.remote_errors {
                tracing::warn!(error = %e, "off-site copy failed; the local backup is fine");
                message.push_str(&format!("; off-site: {e}"));
                alerts.raise(Alert::BackupFailed {
                    error: format!("off-site copy of backup {} failed: {e}", c.record.id),
                });
            }
            event(store, "backup.created", message, clock.now());
        }
        Err(e) => {
            tracing::error!(error = %e, "scheduled backup failed");
            alerts.raise(Alert::BackupFailed {
                error: format!("scheduled backup failed: {e}"),
            });
            event(
                store,
                "backup.failed",
                format!("scheduled backup failed: {e}"),
                clock.now(),
            );
        }
    }
}

async fn verify_newest(
    backups: &Backups,
    store: &dyn Store,
    clock: &dyn Clock,
    alerts: &crate::alerts::Alerts,
) {
    match drill(backups, clock).await {
        Ok(r) if r.ok => {
            tracing::info!(
                id = r.id,
                ms = r.elapsed.as_millis() as u64,
                "restore drill passed"
            );
            event(
                store,
                "backup.verified",
                format!("restore drill: backup {} {}", r.id, r.message),
                clock.now(),
            );
        }
        Ok(r) => {
            tracing::error!(id = r.id, problems = %r.message, "restore drill FAILED");
            alerts.raise(Alert::BackupFailed {
                error: format!("restore drill: backup {} failed: {}", r.id, r.message),
            });
            event(
                store,
                "backup.verify_failed",
                format!("restore drill: backup {} failed: {}", r.id, r.message),
                clock.now(),
            );
        }
        Err(BackupError::NoBackups) => {}
        Err(e) => {
            tracing::error!(error = %e, "restore drill could not run");
            alerts.raise(Alert::BackupFailed {
                error: format!("restore drill could not run: {e}"),
            });
        }
    }
}
