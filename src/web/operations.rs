//! Long operations through the API — `db copy` and a restore — run in the
//! background: the request answers 202 with an operation the API
//! (`GET /api/v1/operations[/{id}]`), the CLI and the TUI follow to its end,
//! with progress, result or error. Before, the request itself waited, and a
//! copy longer than the front's 60 s request limit ended in a 502 while the
//! work went on. One operation runs at a time (each pauses the workers);
//! the last [`KEPT`] are kept in memory, and each end is an event in the
//! audit log. Owns the registry and its routes, not the work itself (the
//! daemon does that, see `DaemonHandle`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Value, json};

use serde::Deserialize;

use super::actions::{backup_error, backups};
use super::api::Ctx;
use super::reply::{ApiError, Reply};
use crate::clock::Clock;
use crate::domain::lifecycle::Timestamp;
use crate::store::{NewEvent, Store};

/// Finished operations kept for `GET /api/v1/operations`.
pub const KEPT: usize = 20;
/// Progress lines kept per operation (the first ones and the latest).
const PROGRESS_LINES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    DbCopy,
    Restore,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::DbCopy => "db_copy",
            OperationKind::Restore => "restore",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    Running,
    Done,
    Failed,
}

/// The error of a failed operation: what the request would have answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// One operation as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub id: u64,
    pub kind: OperationKind,
    pub state: OperationState,
    /// What it does, for people ("copy into postgres://…@db:5432/blog").
    pub description: String,
    /// The token that started it.
    pub actor: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// The latest progress line.
    pub step: String,
    pub progress: Vec<String>,
    /// The operation's report once done (the copy report, the restore report).
    pub result: Option<Value>,
    pub error: Option<OperationError>,
}

/// The registry: shared by the API handlers and the tasks doing the work.
#[derive(Debug, Default)]
pub struct Operations {
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    list: VecDeque<Operation>,
}

impl Operations {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new running operation, unless one is running already
    /// (then its id is the error).
    pub fn begin(
        self: &Arc<Self>,
        kind: OperationKind,
        description: String,
        actor: &str,
        now: Timestamp,
    ) -> Result<OperationHandle, u64> {
        let mut r = self.lock();
        if let Some(running) = r.list.iter().find(|o| o.state == OperationState::Running) {
            return Err(running.id);
        }
        r.next_id += 1;
        let id = r.next_id;
        r.list.push_back(Operation {
            id,
            kind,
            state: OperationState::Running,
            description,
            actor: actor.to_string(),
            started_at: now,
            finished_at: None,
            step: "starting".into(),
            progress: Vec::new(),
            result: None,
            error: None,
        });
        while r.list.len() > KEPT {
            match r
                .list
                .iter()
                .position(|o| o.state != OperationState::Running)
            {
                Some(i) => {
                    r.list.remove(i);
                }
                None => break,
            }
        }
        Ok(OperationHandle {
            ops: self.clone(),
            id,
            finished: false,
        })
    }

    pub fn get(&self, id: u64) -> Option<Operation> {
        self.lock().list.iter().find(|o| o.id == id).cloned()
    }

    /// Newest first.
    pub fn list(&self) -> Vec<Operation> {
        self.lock().list.iter().rev().cloned().collect()
    }

    /// The running operation, if any.
    pub fn running(&self) -> Option<Operation> {
        self.lock()
            .list
            .iter()
            .find(|o| o.state == OperationState::Running)
            .cloned()
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Operation)) {
        if let Some(o) = self.lock().list.iter_mut().find(|o| o.id == id) {
            f(o);
        }
    }
}

/// The running operation's end, held by the task doing the work. Dropped
/// without [`OperationHandle::finish`] (the task panicked), the operation
/// fails with that said.
#[derive(Debug)]
pub struct OperationHandle {
    ops: Arc<Operations>,
    id: u64,
    finished: bool,
}

impl OperationHandle {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A progress callback for the work (cheap to clone, any thread).
    pub fn progress(&self) -> Arc<dyn Fn(&str) + Send + Sync> {
        let (ops, id) = (self.ops.clone(), self.id);
        Arc::new(move |line: &str| {
            let line = crate::redact::string(line);
            ops.update(id, |o| {
                if o.progress.len() >= PROGRESS_LINES {
                    // Keep the start; drop the oldest of the rest.
                    o.progress.remove(PROGRESS_LINES / 2);
                }
                o.progress.push(line.clone());
                o.step = line;
            });
        })
    }

    /// Records the outcome and an event in the audit log.
    pub fn finish(
        mut self,
        outcome: Result<Value, ApiError>,
        store: &dyn Store,
        clock: &dyn Clock,
    ) {
        self.finished = true;
        let now = clock.now();
        let mut event = None;
        self.ops.update(self.id, |o| {
            o.finished_at = Some(now);
            match outcome {
                Ok(result) => {
                    o.state = OperationState::Done;
                    o.step = "done".into();
                    o.result = Some(result);
                }
                Err(e) => {
                    o.state = OperationState::Failed;
                    o.step = format!("failed: {}", e.message);
                    o.error = Some(OperationError {
                        status: e.status,
                        code: e.code,
                        message: e.message,
                    });
                }
            }
            event = Some(NewEvent {
                site: None,
                run_id: None,
                job_id: None,
                kind: format!(
                    "operation.{}",
                    if o.state == OperationState::Done {
                        "done"
                    } else {
                        "failed"
                    }
                ),
                actor: o.actor.clone(),
                message: format!("operation {} ({}): {}", o.id, o.description, o.step),
            });
        });
        if let Some(e) = event
            && let Err(err) = store.record_event(&e, now)
        {
            tracing::warn!(error = %err, "cannot record the end of an operation in the events");
        }
    }
}

impl Drop for OperationHandle {
    fn drop(&mut self) {
        if !self.finished {
            self.ops.update(self.id, |o| {
                o.state = OperationState::Failed;
                o.step = "failed: the operation stopped unexpectedly".into();
                o.error = Some(OperationError {
                    status: 500,
                    code: "internal",
                    message: "the operation stopped unexpectedly (see the log)".into(),
                });
            });
        }
    }
}

/// The 202 answer for a started operation: where to follow it.
pub fn accepted(ops: &Operations, id: u64) -> Reply {
    let path = format!("/api/v1/operations/{id}");
    Reply::json(
        202,
        &json!({ "operation": ops.get(id), "follow": path.clone() }),
    )
    .with_header("Location", path)
}

/// The 409 for a second operation while one runs.
pub fn busy(running: u64) -> ApiError {
    ApiError::new(
        409,
        "operation_running",
        format!(
            "operation {running} is still running; follow GET /api/v1/operations/{running} and try again when it is done"
        ),
    )
}

/// `GET /api/v1/operations`: newest first.
pub fn list(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::json(
        200,
        &json!({ "operations": ctx.state.operations.list() }),
    ))
}

/// `GET /api/v1/operations/{id}`.
pub fn show(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.id()?;
    let id = u64::try_from(id).map_err(|_| ApiError::not_found(format!("no operation {id}")))?;
    match ctx.state.operations.get(id) {
        Some(o) => Ok(Reply::json(200, &o)),
        None => Err(ApiError::not_found(format!(
            "no operation {id} (operations are kept in memory: the last {KEPT} since serve started)"
        ))),
    }
}

/// Restores a backup through the running daemon, in the background: 202
/// with the operation to follow. The daemon checks the backup first, pauses
/// work, takes a safety copy, swaps the database and resumes.
pub fn restore_backup(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.id()?;
    let Some((daemon, runtime)) = ctx.state.daemon() else {
        return Err(ApiError::new(
            503,
            "unavailable",
            "this server has no daemon to restore through",
        ));
    };
    if !matches!(
        ctx.state.config.database.backend,
        crate::config::DatabaseBackend::Sqlite { .. }
    ) {
        return Err(backup_error(crate::backup::BackupError::NotSqlite));
    }
    // An unknown backup is refused now, not as a failed operation.
    backups(ctx)?.get(id).map_err(backup_error)?;
    let state = ctx.state;
    let op = state
        .operations
        .begin(
            OperationKind::Restore,
            format!("restore backup {id}"),
            &ctx.actor,
            state.clock.now(),
        )
        .map_err(busy)?;
    let op_id = op.id();
    let (daemon, store, clock) = (daemon.clone(), state.store.clone(), state.clock.clone());
    let progress = op.progress();
    runtime.spawn(async move {
        let outcome = daemon
            .restore_backup(id, progress)
            .await
            .map_err(backup_error)
            .and_then(|r| serde_json::to_value(r).map_err(|e| ApiError::internal(e.to_string())));
        op.finish(outcome, store.as_ref(), clock.as_ref());
    });
    state.invalidate_status();
    Ok(accepted(&state.operations, op_id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyBody {
    to: String,
    #[serde(default)]
    replace: bool,
}

fn copy_error(e: crate::dbcopy::CopyError) -> ApiError {
    use crate::dbcopy::CopyError as C;
    let message = e.to_string();
    match e {
        C::NotEmpty(_) => ApiError::new(409, "target_not_empty", message),
        C::Source(_) => ApiError::new(409, "conflict", message),
        C::Target(_) => ApiError::new(502, "target_unreachable", message),
        C::Store(s) if s.is_transient() => ApiError::new(502, "target_unreachable", message),
        _ => ApiError::new(500, "copy_failed", message),
    }
}

/// `db copy` through the running daemon, in the background: 202 with the
/// operation to follow. The daemon pauses its workers, copies the SQLite
/// database into PostgreSQL and verifies it, and resumes on SQLite.
pub fn copy_database(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: CopyBody = ctx.json_body()?.ok_or_else(|| {
        ApiError::bad_request("send {\"to\": \"postgres://user@host:5432/db\"} (and \"replace\": true to overwrite a non-empty target)")
    })?;
    if !(body.to.starts_with("postgres://") || body.to.starts_with("postgresql://")) {
        return Err(ApiError::bad_request("\"to\" must be a postgres:// URL"));
    }
    let Some((daemon, runtime)) = ctx.state.daemon() else {
        return Err(ApiError::new(
            503,
            "unavailable",
            "this server has no daemon to copy through",
        ));
    };
    if !matches!(
        ctx.state.config.database.backend,
        crate::config::DatabaseBackend::Sqlite { .. }
    ) {
        return Err(ApiError::new(
            409,
            "conflict",
            "db copy reads a SQLite database; this daemon runs on PostgreSQL",
        ));
    }
    // The password is masked in the description, the progress and the
    // answers from here on.
    crate::redact::register_database_url(&body.to);
    let state = ctx.state;
    let op = state
        .operations
        .begin(
            OperationKind::DbCopy,
            format!("copy into {}", crate::store::postgres::redact_url(&body.to)),
            &ctx.actor,
            state.clock.now(),
        )
        .map_err(busy)?;
    let op_id = op.id();
    let options = state.config.database.postgres.clone();
    let (daemon, store, clock) = (daemon.clone(), state.store.clone(), state.clock.clone());
    let progress = op.progress();
    runtime.spawn(async move {
        let outcome = daemon
            .copy_database(body.to, options, body.replace, progress)
            .await
            .map_err(copy_error)
            .and_then(|r| serde_json::to_value(r).map_err(|e| ApiError::internal(e.to_string())));
        op.finish(outcome, store.as_ref(), clock.as_ref());
    });
    state.invalidate_status();
    Ok(accepted(&state.operations, op_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn store() -> (tempfile::TempDir, crate::store::sqlite::SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = crate::store::sqlite::SqliteStore::open(
            &dir.path().join("db"),
            std::time::Duration::from_secs(5),
        )
        .expect("open");
        s.migrate(chrono::Utc::now()).expect("migrate");
        (dir, s)
    }

    #[test]
    fn one_operation_at_a_time_with_progress_result_and_an_event() {
        let (_dir, store) = store();
        let ops = Arc::new(Operations::default());
        let now = chrono::Utc::now();
        let op = ops
            .begin(OperationKind::DbCopy, "copy".into(), "admin", now)
            .expect("first");
        assert_eq!(
            ops.begin(OperationKind::Restore, "r".into(), "admin", now)
                .map(|h| h.id())
                .expect_err("busy"),
            op.id()
        );
        let progress = op.progress();
        progress("copied jobs 10 rows");
        let shown = ops.get(op.id()).expect("listed");
        assert_eq!(shown.state, OperationState::Running);
        assert_eq!(shown.step, "copied jobs 10 rows");
        let id = op.id();
        op.finish(Ok(json!({"rows": 10})), &store, &SystemClock);
        let done = ops.get(id).expect("kept");
        assert_eq!(done.state, OperationState::Done);
        assert_eq!(done.result, Some(json!({"rows": 10})));
        assert!(ops.running().is_none());
        let events = store.list_events(50, None).expect("events");
        assert!(
            events
                .iter()
                .any(|e| e.kind == "operation.done" && e.message.contains("operation 1 (copy)")),
            "{events:?}"
        );
        // The next one may start now.
        let next = ops
            .begin(OperationKind::Restore, "r".into(), "admin", now)
            .expect("free again");
        drop(next);
        let lost = ops.list().into_iter().next().expect("newest first");
        assert_eq!(lost.state, OperationState::Failed, "dropped = failed");
        assert_eq!(lost.error.map(|e| e.status), Some(500));
    }

    #[test]
    fn only_the_last_operations_are_kept() {
        let (_dir, store) = store();
        let ops = Arc::new(Operations::default());
        for _ in 0..KEPT + 5 {
            let op = ops
                .begin(OperationKind::DbCopy, "c".into(), "a", chrono::Utc::now())
                .expect("begin");
            op.finish(
                Err(ApiError::new(502, "target_unreachable", "no")),
                &store,
                &SystemClock,
            );
        }
        let list = ops.list();
        assert_eq!(list.len(), KEPT);
        assert_eq!(list[0].id, (KEPT + 5) as u64);
        assert_eq!(
            list[0].error.as_ref().map(|e| e.code),
            Some("target_unreachable")
        );
    }
}
