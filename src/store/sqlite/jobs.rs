//! The durable queue on SQLite: claim with a lease, complete with the stage
//! output, fail with backoff, release, reclaim expired leases, operator
//! retry and cancel. Each is one transaction; every status change is decided
//! by `lifecycle::job_transition`.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{CachedExt, insert_event, map_err, ms, outputs, stage_col, ts};
use crate::domain::lifecycle::{
    Effect, JobEvent, JobState, JobStatus, RetryPolicy, RunStatus, Stage, Timestamp, Transition,
    after_stage, is_poison_pill, job_transition,
};
use crate::store::*;

/// The columns of a job that transitions need.
struct JobRow {
    id: JobId,
    run_id: RunId,
    site_id: SiteId,
    site: String,
    stage: Stage,
    state: JobState,
    owner: Option<String>,
}

/// Policy for transitions where no retry delay is computed.
const NO_RETRY: RetryPolicy = RetryPolicy {
    base: std::time::Duration::ZERO,
    max: std::time::Duration::ZERO,
};

pub(super) fn insert_job(
    tx: &Transaction<'_>,
    run: RunId,
    site: SiteId,
    stage: Stage,
    max_attempts: u32,
    now: Timestamp,
) -> StoreResult<JobId> {
    tx.exec_cached(
        "INSERT INTO jobs (run_id, site_id, stage, status, attempts, max_attempts, not_before, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?5, ?5, ?5)",
        params![run.0, site.0, stage.as_str(), max_attempts, ms(now)],
    )
    .map_err(map_err)?;
    Ok(JobId(tx.last_insert_rowid()))
}

fn load(tx: &Transaction<'_>, id: JobId) -> StoreResult<JobRow> {
    tx.query_row_cached(
        "SELECT j.id, j.run_id, j.site_id, s.name, j.stage, j.status, j.attempts, j.max_attempts, j.not_before, j.lease_owner
         FROM jobs j JOIN sites s ON s.id = j.site_id WHERE j.id = ?1",
        [id.0],
        |r| {
            Ok(JobRow {
                id: JobId(r.get(0)?),
                run_id: RunId(r.get(1)?),
                site_id: SiteId(r.get(2)?),
                site: r.get(3)?,
                stage: stage_col(r.get(4)?)?,
                state: JobState {
                    status: super::job_status_col(r.get(5)?)?,
                    attempts: r.get(6)?,
                    max_attempts: r.get(7)?,
                    not_before: ts(r.get(8)?),
                },
                owner: r.get(9)?,
            })
        },
    )
    .optional()
    .map_err(map_err)?
    .ok_or_else(|| StoreError::NotFound { what: format!("job {id}") })
}

fn load_owned(tx: &Transaction<'_>, id: JobId, owner: &str) -> StoreResult<JobRow> {
    let row = load(tx, id)?;
    if row.state.status != JobStatus::Running || row.owner.as_deref() != Some(owner) {
        return Err(StoreError::LeaseLost {
            job: id,
            owner: owner.to_string(),
        });
    }
    Ok(row)
}

/// Writes the transition's job state; running jobs keep their lease, others
/// drop it.
fn write_state(
    tx: &Transaction<'_>,
    id: JobId,
    tr: &Transition,
    now: Timestamp,
) -> StoreResult<()> {
    let s = &tr.state;
    let finished = s.status.is_terminal().then(|| ms(now));
    tx.exec_cached(
        "UPDATE jobs SET status = ?2, attempts = ?3, not_before = ?4, updated_at = ?5, finished_at = ?6,
             lease_owner = CASE WHEN ?2 = 'running' THEN lease_owner ELSE NULL END,
             lease_expires_at = CASE WHEN ?2 = 'running' THEN lease_expires_at ELSE NULL END
         WHERE id = ?1",
        params![id.0, s.status.as_str(), s.attempts, ms(s.not_before), ms(now), finished],
    )
    .map_err(map_err)?;
    Ok(())
}

/// Carries out the transition's effects on the run.
fn apply_effects(
    tx: &Transaction<'_>,
    row: &JobRow,
    tr: &Transition,
    outcome: Option<&str>,
    error: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    for effect in &tr.effects {
        match effect {
            Effect::EnqueueStage(stage) => {
                super::jobs::insert_job(
                    tx,
                    row.run_id,
                    row.site_id,
                    *stage,
                    row.state.max_attempts,
                    now,
                )?;
            }
            Effect::FinishRun(status) => {
                tx.exec_cached(
                    "UPDATE runs SET status = ?2, outcome = ?3, error = ?4, finished_at = ?5 WHERE id = ?1",
                    params![row.run_id.0, status.as_str(), outcome, error, ms(now)],
                )
                .map_err(map_err)?;
                if matches!(status, RunStatus::Failed | RunStatus::Cancelled) {
                    super::topics::release(tx, row.run_id, now)?;
                }
                let kind = match status {
                    RunStatus::Succeeded => "run.succeeded",
                    RunStatus::Failed => "run.failed",
                    RunStatus::Cancelled => "run.cancelled",
                    RunStatus::Running => "run.running",
                };
                let message = match (outcome, error) {
                    (Some(o), _) => format!("run {} of {}: {o}", row.run_id, row.site),
                    (None, Some(e)) => format!(
                        "run {} of {} failed at {}: {e}",
                        row.run_id, row.site, row.stage
                    ),
                    (None, None) => format!("run {} of {}: {status}", row.run_id, row.site),
                };
                event(tx, row, kind, "engine", message, now)?;
            }
            Effect::ReopenRun => {
                tx.exec_cached(
                    "UPDATE runs SET status = 'running', outcome = NULL, error = NULL, finished_at = NULL WHERE id = ?1",
                    [row.run_id.0],
                )
                .map_err(map_err)?;
                super::topics::hold_again(tx, row.run_id)?;
            }
        }
    }
    Ok(())
}

fn event(
    tx: &Transaction<'_>,
    row: &JobRow,
    kind: &str,
    actor: &str,
    message: String,
    now: Timestamp,
) -> StoreResult<()> {
    insert_event(
        tx,
        &NewEvent {
            site: Some(row.site.clone()),
            run_id: Some(row.run_id),
            job_id: Some(row.id),
            kind: kind.into(),
            actor: actor.into(),
            message,
        },
        now,
    )
}

pub(super) fn claim(
    tx: &Transaction<'_>,
    req: &ClaimRequest,
    now: Timestamp,
) -> StoreResult<Option<ClaimedJob>> {
    let running: u32 = tx
        .query_row_cached(
            "SELECT COUNT(*) FROM jobs WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if running >= req.global_limit {
        return Ok(None);
    }
    // The oldest due job of a site that is enabled, not paused and below its
    // own limit; `only_runs` (a JSON array) narrows it to some runs. The
    // partial index on pending jobs keeps this a short scan.
    let only_runs = match &req.only_runs {
        Some(runs) if runs.is_empty() => return Ok(None),
        Some(runs) => Some(
            serde_json::to_string(&runs.iter().map(|r| r.0).collect::<Vec<_>>())
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        ),
        None => None,
    };
    let id: Option<i64> = tx
        .query_row_cached(
            "SELECT j.id FROM jobs j JOIN sites s ON s.id = j.site_id
             WHERE j.status IN ('queued', 'waiting') AND j.not_before <= ?1
               AND s.paused = 0 AND s.enabled = 1
               AND (SELECT COUNT(*) FROM jobs r WHERE r.site_id = j.site_id AND r.status = 'running') < s.max_concurrency
               AND (?2 IS NULL OR j.run_id IN (SELECT value FROM json_each(?2)))
             ORDER BY j.not_before, j.id LIMIT 1",
            params![ms(now), only_runs],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?;
    let Some(id) = id else { return Ok(None) };

    let row = load(tx, JobId(id))?;
    let tr = job_transition(&row.state, &JobEvent::Claim { now }, &NO_RETRY)?;
    let lease_until = now + chrono::Duration::from_std(req.lease).unwrap_or(chrono::Duration::MAX);
    write_state(tx, row.id, &tr, now)?;
    tx.exec_cached(
        "UPDATE jobs SET lease_owner = ?2, lease_expires_at = ?3, wait_reason = NULL, wait_kind = NULL, wait_until = NULL,
             started_at = COALESCE(started_at, ?4), unfinished_starts = unfinished_starts + 1
         WHERE id = ?1",
        params![row.id.0, req.owner, ms(lease_until), ms(now)],
    )
    .map_err(map_err)?;
    let until: Option<String> = tx
        .query_row_cached(
            "SELECT until_stage FROM runs WHERE id = ?1",
            [row.run_id.0],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    Ok(Some(ClaimedJob {
        id: row.id,
        run_id: row.run_id,
        site: row.site,
        site_id: row.site_id,
        stage: row.stage,
        attempts: tr.state.attempts,
        max_attempts: tr.state.max_attempts,
        until: until.as_deref().and_then(Stage::parse),
        lease_expires_at: lease_until,
    }))
}

pub(super) fn complete(
    tx: &Transaction<'_>,
    job: &ClaimedJob,
    owner: &str,
    output: &StageOutput,
    now: Timestamp,
) -> StoreResult<()> {
    let row = load_owned(tx, job.id, owner)?;
    if output.stage() != row.stage {
        return Err(StoreError::Conflict(format!(
            "job {} is a {} job but got {} output",
            row.id,
            row.stage,
            output.stage()
        )));
    }
    // The run's topic is chosen among those no other run holds, and
    // reserved, in this transaction.
    let reserved;
    let output = match output {
        StageOutput::Topics(t) => {
            reserved =
                StageOutput::Topics(super::topics::reserve(tx, row.site_id, row.run_id, t, now)?);
            &reserved
        }
        other => other,
    };
    outputs::persist(tx, &row_context(&row), output, now)?;
    let (next, outcome) = match after_stage(row.stage, &output.verdict(), job.until) {
        Ok(Some(next)) => (Some(next), None),
        Ok(None) => (None, Some("completed".to_string())),
        Err(outcome) => (None, Some(outcome)),
    };
    let tr = job_transition(&row.state, &JobEvent::Succeed { next }, &NO_RETRY)?;
    write_state(tx, row.id, &tr, now)?;
    tx.exec_cached(
        "UPDATE jobs SET result_summary = ?2, last_error = NULL, wait_reason = NULL, wait_kind = NULL,
             wait_until = NULL, unfinished_starts = 0
         WHERE id = ?1",
        params![row.id.0, output.summary()],
    )
    .map_err(map_err)?;
    apply_effects(tx, &row, &tr, outcome.as_deref(), None, now)
}

fn row_context(row: &JobRow) -> outputs::Context {
    outputs::Context {
        site_id: row.site_id,
        run_id: row.run_id,
    }
}

pub(super) fn fail(
    tx: &Transaction<'_>,
    job: &ClaimedJob,
    owner: &str,
    failure: &JobFailure,
    policy: &RetryPolicy,
    now: Timestamp,
) -> StoreResult<JobStatus> {
    let row = load_owned(tx, job.id, owner)?;
    let event = match failure {
        JobFailure::Retryable { jitter, .. } => JobEvent::Fail {
            retryable: true,
            now,
            jitter: *jitter,
        },
        JobFailure::Permanent { .. } => JobEvent::Fail {
            retryable: false,
            now,
            jitter: 0.0,
        },
        JobFailure::Deferred { until, .. } => JobEvent::Defer { until: *until },
    };
    let tr = job_transition(&row.state, &event, policy)?;
    write_state(tx, row.id, &tr, now)?;
    match failure {
        JobFailure::Retryable { error, .. } | JobFailure::Permanent { error } => {
            tx.exec_cached(
                "UPDATE jobs SET last_error = ?2, wait_reason = NULL, wait_kind = NULL, wait_until = NULL,
                     unfinished_starts = 0
                 WHERE id = ?1",
                params![row.id.0, error],
            )
            .map_err(map_err)?;
            let (kind, message) = if tr.state.status == JobStatus::Dead {
                (
                    "job.dead",
                    format!(
                        "{} job {} is dead after {} attempt(s): {error}",
                        row.stage, row.id, tr.state.attempts
                    ),
                )
            } else {
                (
                    "job.retry",
                    format!(
                        "{} job {} failed (attempt {}), retrying: {error}",
                        row.stage, row.id, tr.state.attempts
                    ),
                )
            };
            event_row(tx, &row, kind, message, now)?;
            apply_effects(tx, &row, &tr, None, Some(error), now)?;
        }
        JobFailure::Deferred {
            kind,
            reason,
            until,
        } => {
            tx.exec_cached(
                "UPDATE jobs SET wait_reason = ?2, wait_kind = ?3, wait_until = ?4, unfinished_starts = 0
                 WHERE id = ?1",
                params![row.id.0, reason, kind.as_str(), ms(*until)],
            )
            .map_err(map_err)?;
            event_row(
                tx,
                &row,
                "job.waiting",
                format!("{} job {} waits: {reason}", row.stage, row.id),
                now,
            )?;
        }
    }
    Ok(tr.state.status)
}

fn event_row(
    tx: &Transaction<'_>,
    row: &JobRow,
    kind: &str,
    message: String,
    now: Timestamp,
) -> StoreResult<()> {
    event(tx, row, kind, "engine", message, now)
}

pub(super) fn release(
    tx: &Transaction<'_>,
    job: JobId,
    owner: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let row = load_owned(tx, job, owner)?;
    let tr = job_transition(&row.state, &JobEvent::Release { now }, &NO_RETRY)?;
    write_state(tx, row.id, &tr, now)?;
    // A release is an attempt that ended: it did not kill the process.
    tx.exec_cached(
        "UPDATE jobs SET unfinished_starts = 0 WHERE id = ?1",
        [row.id.0],
    )
    .map_err(map_err)?;
    Ok(())
}

pub(super) fn reclaim(
    tx: &Transaction<'_>,
    all_running: bool,
    poison_after: u32,
    now: Timestamp,
) -> StoreResult<Reclaimed> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT id, unfinished_starts FROM jobs WHERE status = 'running' AND (?1 OR lease_expires_at < ?2)",
        )
        .map_err(map_err)?;
    let found: Vec<(i64, u32)> = stmt
        .query_map(params![all_running, ms(now)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    let mut reclaimed = Reclaimed::default();
    for (id, died_in_a_row) in found {
        let row = load(tx, JobId(id))?;
        let event = JobEvent::LeaseExpired {
            now,
            died_in_a_row,
            poison_after,
        };
        let tr = job_transition(&row.state, &event, &NO_RETRY)?;
        write_state(tx, row.id, &tr, now)?;
        let owner = row.owner.clone().unwrap_or_default();
        let dead = lease_expired_death(&row, &tr, &owner, died_in_a_row, poison_after);
        let error = match &dead {
            Some(d) => {
                tx.exec_cached(
                    "UPDATE jobs SET last_error = ?2 WHERE id = ?1",
                    params![row.id.0, d.error],
                )
                .map_err(map_err)?;
                d.error.clone()
            }
            None => format!("the worker {owner} holding it stopped (lease expired)"),
        };
        let (kind, message) = match &dead {
            Some(d) if d.poison_pill => (
                "job.poison_pill",
                format!("{} job {} quarantined: {}", row.stage, row.id, d.error),
            ),
            _ => (
                "job.reclaimed",
                format!("{} job {} reclaimed from {owner}", row.stage, row.id),
            ),
        };
        event_row(tx, &row, kind, message, now)?;
        apply_effects(tx, &row, &tr, None, Some(&error), now)?;
        match dead {
            Some(d) => reclaimed.dead.push(d),
            None => reclaimed.requeued += 1,
        }
    }
    Ok(reclaimed)
}

/// The dead job a lease expiry left, if it left one, with its reason.
fn lease_expired_death(
    row: &JobRow,
    tr: &Transition,
    owner: &str,
    died_in_a_row: u32,
    poison_after: u32,
) -> Option<DeadJob> {
    (tr.state.status == JobStatus::Dead).then(|| {
        let poison_pill = is_poison_pill(died_in_a_row, poison_after);
        DeadJob {
            id: row.id,
            run_id: row.run_id,
            site: row.site.clone(),
            stage: row.stage,
            attempts: tr.state.attempts,
            error: crate::store::lease_death_reason(owner, died_in_a_row, poison_pill),
            poison_pill,
        }
    })
}

pub(super) fn operator_retry(
    tx: &Transaction<'_>,
    job: JobId,
    actor: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let row = load(tx, job)?;
    let tr = job_transition(&row.state, &JobEvent::OperatorRetry { now }, &NO_RETRY)?;
    write_state(tx, row.id, &tr, now)?;
    tx.exec_cached(
        "UPDATE jobs SET unfinished_starts = 0 WHERE id = ?1",
        [row.id.0],
    )
    .map_err(map_err)?;
    apply_effects(tx, &row, &tr, None, None, now)?;
    event(
        tx,
        &row,
        "job.retried",
        actor,
        format!("{} job {} queued again by {actor}", row.stage, row.id),
        now,
    )
}

pub(super) fn operator_cancel(
    tx: &Transaction<'_>,
    job: JobId,
    actor: &str,
    now: Timestamp,
) -> StoreResult<()> {
    cancel_with_outcome(tx, job, &format!("cancelled by {actor}"), now)
}

/// Cancels a queued, waiting or running job; its run ends cancelled with
/// `outcome` (a rejected article's publish job, say).
pub(super) fn cancel_with_outcome(
    tx: &Transaction<'_>,
    job: JobId,
    outcome: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let row = load(tx, job)?;
    let tr = job_transition(&row.state, &JobEvent::OperatorCancel, &NO_RETRY)?;
    write_state(tx, row.id, &tr, now)?;
    apply_effects(tx, &row, &tr, Some(outcome), None, now)
}
