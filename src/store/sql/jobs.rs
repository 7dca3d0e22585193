//! The durable queue's transitions, the same on both databases: complete
//! with the stage output, fail with backoff, release, reclaim expired
//! leases, operator retry and cancel. Each is one transaction; every status
//! change is decided by `lifecycle::job_transition`. Claiming differs per
//! database and lives in `sqlite/claim.rs` and `postgres/claim.rs`; it uses
//! the helpers here.
//!
//! Several PostgreSQL instances: every transition locks its job row first
//! (`FOR UPDATE`; SQLite's single writer needs nothing), so a reclaim and a
//! late completion cannot both win.

use super::sites::insert_event;
use super::{Db, get, get_u32, job_status_col, ms, outputs, stage_col, ts};
use crate::domain::lifecycle::{
    Effect, JobEvent, JobState, JobStatus, RetryPolicy, RunStatus, Stage, Timestamp, Transition,
    after_stage, is_poison_pill, job_transition,
};
use crate::store::*;

/// The columns of a job that transitions need.
pub(crate) struct JobRow {
    pub id: JobId,
    pub run_id: RunId,
    pub site_id: SiteId,
    pub site: String,
    pub stage: Stage,
    pub state: JobState,
    pub owner: Option<String>,
}

/// Policy for transitions where no retry delay is computed.
pub(crate) const NO_RETRY: RetryPolicy = RetryPolicy {
    base: std::time::Duration::ZERO,
    max: std::time::Duration::ZERO,
};

pub(crate) fn insert_job(
    tx: &mut impl Db,
    run: RunId,
    site: SiteId,
    stage: Stage,
    max_attempts: u32,
    now: Timestamp,
) -> StoreResult<JobId> {
    let row = tx.one(
        "INSERT INTO jobs (run_id, site_id, stage, status, attempts, max_attempts, not_before, created_at, updated_at)
         VALUES ($1, $2, $3, 'queued', 0, $4, $5, $5, $5) RETURNING id",
        &[&run.0, &site.0, &stage.as_str(), &i64::from(max_attempts), &ms(now)],
    )?;
    Ok(JobId(get(&row, 0)?))
}

/// Loads the job and locks its row until the transaction ends.
pub(crate) fn load(tx: &mut impl Db, id: JobId) -> StoreResult<JobRow> {
    let r = tx
        .opt(
            "SELECT j.id, j.run_id, j.site_id, s.name, j.stage, j.status, j.attempts, j.max_attempts, j.not_before, j.lease_owner
             FROM jobs j JOIN sites s ON s.id = j.site_id WHERE j.id = $1 FOR UPDATE OF j",
            &[&id.0],
        )?
        .ok_or_else(|| StoreError::NotFound { what: format!("job {id}") })?;
    Ok(JobRow {
        id: JobId(get(&r, 0)?),
        run_id: RunId(get(&r, 1)?),
        site_id: SiteId(get(&r, 2)?),
        site: get(&r, 3)?,
        stage: stage_col(&r, 4)?,
        state: JobState {
            status: job_status_col(&r, 5)?,
            attempts: get_u32(&r, 6)?,
            max_attempts: get_u32(&r, 7)?,
            not_before: ts(get(&r, 8)?),
        },
        owner: get(&r, 9)?,
    })
}

fn load_owned(tx: &mut impl Db, id: JobId, owner: &str) -> StoreResult<JobRow> {
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
pub(crate) fn write_state(
    tx: &mut impl Db,
    id: JobId,
    tr: &Transition,
    now: Timestamp,
) -> StoreResult<()> {
    let s = &tr.state;
    let finished = s.status.is_terminal().then(|| ms(now));
    tx.exec(
        "UPDATE jobs SET status = $2, attempts = $3, not_before = $4, updated_at = $5, finished_at = $6,
             lease_owner = CASE WHEN $2 = 'running' THEN lease_owner ELSE NULL END,
             lease_expires_at = CASE WHEN $2 = 'running' THEN lease_expires_at ELSE NULL END
         WHERE id = $1",
        &[
            &id.0,
            &s.status.as_str(),
            &i64::from(s.attempts),
            &ms(s.not_before),
            &ms(now),
            &finished,
        ],
    )?;
    Ok(())
}

/// Carries out the transition's effects on the run.
fn apply_effects(
    tx: &mut impl Db,
    row: &JobRow,
    tr: &Transition,
    outcome: Option<&str>,
    error: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    for effect in &tr.effects {
        match effect {
            Effect::EnqueueStage(stage) => {
                insert_job(
                    tx,
                    row.run_id,
                    row.site_id,
                    *stage,
                    row.state.max_attempts,
                    now,
                )?;
            }
            Effect::FinishRun(status) => {
                tx.exec(
                    "UPDATE runs SET status = $2, outcome = $3, error = $4, finished_at = $5 WHERE id = $1",
                    &[&row.run_id.0, &status.as_str(), &outcome, &error, &ms(now)],
                )?;
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
                tx.exec(
                    "UPDATE runs SET status = 'running', outcome = NULL, error = NULL, finished_at = NULL WHERE id = $1",
                    &[&row.run_id.0],
                )?;
                super::topics::hold_again(tx, row.run_id)?;
            }
        }
    }
    Ok(())
}

fn event(
    tx: &mut impl Db,
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

/// Takes the next due job (see `Store::claim_next_job`). Which job is due
/// is the one question the databases answer differently
/// (`Db::next_claimable_job`); the lease is taken here.
pub(crate) fn claim(
    tx: &mut impl Db,
    req: &ClaimRequest,
    now: Timestamp,
) -> StoreResult<Option<ClaimedJob>> {
    if req.only_runs.as_ref().is_some_and(Vec::is_empty) {
        return Ok(None);
    }
    let Some(id) = tx.next_claimable_job(req, now)? else {
        return Ok(None);
    };
    let row = load(tx, id)?;
    let tr = job_transition(&row.state, &JobEvent::Claim { now }, &NO_RETRY)?;
    let lease_until = now + chrono::Duration::from_std(req.lease).unwrap_or(chrono::Duration::MAX);
    write_state(tx, row.id, &tr, now)?;
    tx.exec(
        "UPDATE jobs SET lease_owner = $2, lease_expires_at = $3, wait_reason = NULL, wait_kind = NULL, wait_until = NULL,
             started_at = COALESCE(started_at, $4), unfinished_starts = unfinished_starts + 1
         WHERE id = $1",
        &[&row.id.0, &req.owner, &ms(lease_until), &ms(now)],
    )?;
    let until: Option<String> = get(
        &tx.one(
            "SELECT until_stage FROM runs WHERE id = $1",
            &[&row.run_id.0],
        )?,
        0,
    )?;
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

/// Extends the lease; `false` when the job is no longer this owner's.
pub(crate) fn heartbeat(
    tx: &mut impl Db,
    job: JobId,
    owner: &str,
    lease_until: Timestamp,
) -> StoreResult<bool> {
    let n = tx.exec(
        "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        &[&job.0, &owner, &ms(lease_until)],
    )?;
    Ok(n == 1)
}

pub(crate) fn complete(
    tx: &mut impl Db,
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
    let ctx = outputs::Context {
        site_id: row.site_id,
        run_id: row.run_id,
    };
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
    outputs::persist(tx, &ctx, output, now)?;
    let (next, outcome) = match after_stage(row.stage, &output.verdict(), job.until) {
        Ok(Some(next)) => (Some(next), None),
        Ok(None) => (None, Some("completed".to_string())),
        Err(outcome) => (None, Some(outcome)),
    };
    let tr = job_transition(&row.state, &JobEvent::Succeed { next }, &NO_RETRY)?;
    write_state(tx, row.id, &tr, now)?;
    tx.exec(
        "UPDATE jobs SET result_summary = $2, last_error = NULL, wait_reason = NULL, wait_kind = NULL,
             wait_until = NULL, unfinished_starts = 0
         WHERE id = $1",
        &[&row.id.0, &output.summary()],
    )?;
    apply_effects(tx, &row, &tr, outcome.as_deref(), None, now)
}

pub(crate) fn fail(
    tx: &mut impl Db,
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
            tx.exec(
                "UPDATE jobs SET last_error = $2, wait_reason = NULL, wait_kind = NULL, wait_until = NULL,
                     unfinished_starts = 0
                 WHERE id = $1",
                &[&row.id.0, error],
            )?;
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
            tx.exec(
                "UPDATE jobs SET wait_reason = $2, wait_kind = $3, wait_until = $4, unfinished_starts = 0
                 WHERE id = $1",
                &[&row.id.0, reason, &kind.as_str(), &ms(*until)],
            )?;
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
    tx: &mut impl Db,
    row: &JobRow,
    kind: &str,
    message: String,
    now: Timestamp,
) -> StoreResult<()> {
    event(tx, row, kind, "engine", message, now)
}

pub(crate) fn release(
    tx: &mut impl Db,
    job: JobId,
    owner: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let row = load_owned(tx, job, owner)?;
    let tr = job_transition(&row.state, &JobEvent::Release { now }, &NO_RETRY)?;
    write_state(tx, row.id, &tr, now)?;
    // A release is an attempt that ended: it did not kill the process.
    tx.exec(
        "UPDATE jobs SET unfinished_starts = 0 WHERE id = $1",
        &[&row.id.0],
    )?;
    Ok(())
}

pub(crate) fn reclaim(
    tx: &mut impl Db,
    all_running: bool,
    poison_after: u32,
    now: Timestamp,
) -> StoreResult<Reclaimed> {
    // Rows another transaction holds (a completion in flight) are skipped:
    // if their lease really ran out, the next reclaim takes them.
    let found: Vec<(i64, u32)> = tx
        .query(
            "SELECT id, unfinished_starts FROM jobs WHERE status = 'running' AND ($1 OR lease_expires_at < $2)
             ORDER BY id FOR UPDATE SKIP LOCKED",
            &[&all_running, &ms(now)],
        )?
        .iter()
        .map(|r| Ok((get(r, 0)?, get_u32(r, 1)?)))
        .collect::<StoreResult<_>>()?;
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
        let dead = (tr.state.status == JobStatus::Dead).then(|| {
            let poison_pill = is_poison_pill(died_in_a_row, poison_after);
            DeadJob {
                id: row.id,
                run_id: row.run_id,
                site: row.site.clone(),
                stage: row.stage,
                attempts: tr.state.attempts,
                error: crate::store::lease_death_reason(&owner, died_in_a_row, poison_pill),
                poison_pill,
            }
        });
        let error = match &dead {
            Some(d) => {
                tx.exec(
                    "UPDATE jobs SET last_error = $2 WHERE id = $1",
                    &[&row.id.0, &d.error],
                )?;
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

pub(crate) fn operator_retry(
    tx: &mut impl Db,
    job: JobId,
    actor: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let row = load(tx, job)?;
    let tr = job_transition(&row.state, &JobEvent::OperatorRetry { now }, &NO_RETRY)?;
    write_state(tx, row.id, &tr, now)?;
    tx.exec(
        "UPDATE jobs SET unfinished_starts = 0 WHERE id = $1",
        &[&row.id.0],
    )?;
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

pub(crate) fn operator_cancel(
    tx: &mut impl Db,
    job: JobId,
    actor: &str,
    now: Timestamp,
) -> StoreResult<()> {
    cancel_with_outcome(tx, job, &format!("cancelled by {actor}"), now)
}

/// Cancels a queued, waiting or running job; its run ends cancelled with
/// `outcome` (a rejected article's publish job, say).
pub(crate) fn cancel_with_outcome(
    tx: &mut impl Db,
    job: JobId,
    outcome: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let row = load(tx, job)?;
    let tr = job_transition(&row.state, &JobEvent::OperatorCancel, &NO_RETRY)?;
    write_state(tx, row.id, &tr, now)?;
    apply_effects(tx, &row, &tr, Some(outcome), None, now)
}
