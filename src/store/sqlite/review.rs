//! The review queue's writes on SQLite: approve, reject and re-publish an
//! article, each one transaction that also fixes up the article's run (a
//! publish job added, revived or cancelled) and records who did it.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{insert_event, job_status_col, jobs, map_err, ms};
use crate::domain::lifecycle::{
    ArticleEvent, ArticleStatus, JobStatus, Stage, Timestamp, article_transition,
};
use crate::store::*;

/// The parts of an article a review action needs.
struct Subject {
    id: ArticleId,
    site: String,
    site_id: SiteId,
    run_id: Option<RunId>,
    status: ArticleStatus,
    title: String,
}

fn subject(tx: &Transaction<'_>, id: ArticleId) -> StoreResult<Subject> {
    let row = tx
        .query_row(
            "SELECT a.id, s.name, a.site_id, a.run_id, a.status, a.title
             FROM articles a JOIN sites s ON s.id = a.site_id WHERE a.id = ?1",
            [id.0],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        )
        .optional()
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("article {id}"),
        })?;
    let status = ArticleStatus::parse(&row.4).ok_or_else(|| {
        StoreError::Backend(format!("article {id} has unknown status \"{}\"", row.4))
    })?;
    Ok(Subject {
        id: ArticleId(row.0),
        site: row.1,
        site_id: SiteId(row.2),
        run_id: row.3.map(RunId),
        status,
        title: row.5,
    })
}

fn run_of(a: &Subject) -> StoreResult<RunId> {
    a.run_id.ok_or_else(|| {
        StoreError::Conflict(format!(
            "article {} belongs to no run, so it cannot be queued for publishing",
            a.id
        ))
    })
}

/// The run's jobs that are not finished: (id, stage, status).
fn active_jobs(tx: &Transaction<'_>, run: RunId) -> StoreResult<Vec<(JobId, Stage, JobStatus)>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT id, stage, status FROM jobs WHERE run_id = ?1 AND status IN ('queued', 'waiting', 'running')",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([run.0], |r| {
            Ok((
                JobId(r.get(0)?),
                super::stage_col(r.get(1)?)?,
                job_status_col(r.get(2)?)?,
            ))
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// Makes sure the run has a publish job that will run: adds one (and
/// reopens the run), revives a dead or cancelled one, or keeps a pending one.
fn ensure_publish_job(
    tx: &Transaction<'_>,
    a: &Subject,
    actor: &str,
    now: Timestamp,
) -> StoreResult<(JobId, &'static str)> {
    let run = run_of(a)?;
    let existing: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, status FROM jobs WHERE run_id = ?1 AND stage = 'publish'",
            [run.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(map_err)?;
    match existing {
        Some((id, status)) => {
            let id = JobId(id);
            match JobStatus::parse(&status) {
                Some(JobStatus::Queued | JobStatus::Waiting | JobStatus::Running) => {
                    Ok((id, "its publish job is already queued"))
                }
                Some(JobStatus::Dead | JobStatus::Cancelled) => {
                    jobs::operator_retry(tx, id, actor, now)?;
                    Ok((id, "its publish job is queued again"))
                }
                Some(JobStatus::Succeeded) => Err(StoreError::Conflict(format!(
                    "article {} was already published by job {id}",
                    a.id
                ))),
                None => Err(StoreError::Backend(format!(
                    "job {id} has unknown status \"{status}\""
                ))),
            }
        }
        None => {
            if let Some((job, stage, status)) = active_jobs(tx, run)?.into_iter().next() {
                return Err(StoreError::Conflict(format!(
                    "run {run} is still working on article {} ({stage} job {job} is {status}); wait for it to finish",
                    a.id
                )));
            }
            let max_attempts: Option<u32> = tx
                .query_row(
                    "SELECT MAX(max_attempts) FROM jobs WHERE run_id = ?1",
                    [run.0],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            let job = jobs::insert_job(
                tx,
                run,
                a.site_id,
                Stage::Publish,
                max_attempts.unwrap_or(5),
                now,
            )?;
            tx.execute(
                "UPDATE runs SET status = 'running', outcome = NULL, error = NULL, finished_at = NULL WHERE id = ?1",
                [run.0],
            )
            .map_err(map_err)?;
            super::topics::hold_again(tx, run)?;
            Ok((job, "a publish job is queued"))
        }
    }
}

fn event(
    tx: &Transaction<'_>,
    a: &Subject,
    job: Option<JobId>,
    kind: &str,
    actor: &str,
    message: String,
    now: Timestamp,
) -> StoreResult<()> {
    insert_event(
        tx,
        &NewEvent {
            site: Some(a.site.clone()),
            run_id: a.run_id,
            job_id: job,
            kind: kind.into(),
            actor: actor.into(),
            message,
        },
        now,
    )
}

fn set_status(
    tx: &Transaction<'_>,
    a: &Subject,
    next: ArticleStatus,
    reason: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE articles SET status = ?2, review_reason = COALESCE(?3, review_reason), updated_at = ?4 WHERE id = ?1",
        params![a.id.0, next.as_str(), reason, ms(now)],
    )
    .map_err(map_err)?;
    Ok(())
}

pub(super) fn approve(
    tx: &Transaction<'_>,
    id: ArticleId,
    actor: &str,
    now: Timestamp,
) -> StoreResult<ReviewOutcome> {
    let a = subject(tx, id)?;
    let next = article_transition(a.status, ArticleEvent::Approve).map_err(|_| {
        StoreError::Conflict(match a.status {
            ArticleStatus::Approved => format!(
                "article {id} is already approved; `blog-poster article publish {id}` queues its publishing again"
            ),
            ArticleStatus::Published => format!("article {id} is already published"),
            other => format!(
                "article {id} is {other}: only articles in review (or rejected) can be approved"
            ),
        })
    })?;
    let run = run_of(&a)?;
    set_status(tx, &a, next, None, now)?;
    let (job, what) = ensure_publish_job(tx, &a, actor, now)?;
    let message = format!("article {id} \"{}\" approved by {actor}; {what}", a.title);
    event(
        tx,
        &a,
        Some(job),
        "article.approved",
        actor,
        message.clone(),
        now,
    )?;
    Ok(ReviewOutcome {
        article_id: id,
        run_id: run,
        status: next,
        publish_job: Some(job),
        message,
    })
}

pub(super) fn reject(
    tx: &Transaction<'_>,
    id: ArticleId,
    reason: &str,
    actor: &str,
    now: Timestamp,
) -> StoreResult<ReviewOutcome> {
    let a = subject(tx, id)?;
    let next = article_transition(a.status, ArticleEvent::Reject).map_err(|_| {
        StoreError::Conflict(format!(
            "article {id} is {}: only draft, review or approved articles can be rejected",
            a.status
        ))
    })?;
    let run = run_of(&a)?;
    let mut cancelled = None;
    for (job, stage, status) in active_jobs(tx, run)? {
        match (stage, status) {
            (Stage::Publish, JobStatus::Queued | JobStatus::Waiting) => cancelled = Some(job),
            (Stage::Publish, _) => {
                return Err(StoreError::Conflict(format!(
                    "article {id} is being published right now (job {job}); reject it once that job has finished"
                )));
            }
            _ => {
                return Err(StoreError::Conflict(format!(
                    "run {run} is still working on article {id} ({stage} job {job} is {status}); wait for it to finish"
                )));
            }
        }
    }
    set_status(tx, &a, next, Some(reason), now)?;
    if let Some(job) = cancelled {
        jobs::cancel_with_outcome(tx, job, &format!("rejected by {actor}: {reason}"), now)?;
    }
    let message = format!(
        "article {id} \"{}\" rejected by {actor}: {reason}{}",
        a.title,
        if cancelled.is_some() {
            "; its queued publish job is cancelled"
        } else {
            ""
        }
    );
    event(
        tx,
        &a,
        cancelled,
        "article.rejected",
        actor,
        message.clone(),
        now,
    )?;
    Ok(ReviewOutcome {
        article_id: id,
        run_id: run,
        status: next,
        publish_job: None,
        message,
    })
}

pub(super) fn request_publish(
    tx: &Transaction<'_>,
    id: ArticleId,
    actor: &str,
    now: Timestamp,
) -> StoreResult<ReviewOutcome> {
    let a = subject(tx, id)?;
    match a.status {
        ArticleStatus::Approved => {}
        ArticleStatus::Published => {
            return Err(StoreError::Conflict(format!(
                "article {id} is already published"
            )));
        }
        other => {
            return Err(StoreError::Conflict(format!(
                "article {id} is {other}, not approved: approve it first (`blog-poster article approve {id}`)"
            )));
        }
    }
    let run = run_of(&a)?;
    let (job, what) = ensure_publish_job(tx, &a, actor, now)?;
    let message = format!("article {id} \"{}\": {what} ({actor})", a.title);
    event(
        tx,
        &a,
        Some(job),
        "article.publish_requested",
        actor,
        message.clone(),
        now,
    )?;
    Ok(ReviewOutcome {
        article_id: id,
        run_id: run,
        status: a.status,
        publish_job: Some(job),
        message,
    })
}
