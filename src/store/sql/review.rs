//! The review queue's writes, the same on both databases: approve, reject and re-publish an
//! article, each one transaction that also fixes up the article's run (a
//! publish job added, revived or cancelled) and records who did it.

use super::sites::insert_event;
use super::{Db, get, jobs, ms};
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

fn subject(tx: &mut impl Db, id: ArticleId) -> StoreResult<Subject> {
    // The article row stays locked until commit: two operators (or an
    // operator and a publish job on another instance) act one at a time.
    let r = tx
        .opt(
            "SELECT a.id, s.name, a.site_id, a.run_id, a.status, a.title
             FROM articles a JOIN sites s ON s.id = a.site_id WHERE a.id = $1 FOR UPDATE OF a",
            &[&id.0],
        )?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("article {id}"),
        })?;
    let status_text: String = get(&r, 4)?;
    let status = ArticleStatus::parse(&status_text).ok_or_else(|| {
        StoreError::Backend(format!("article {id} has unknown status \"{status_text}\""))
    })?;
    Ok(Subject {
        id: ArticleId(get(&r, 0)?),
        site: get(&r, 1)?,
        site_id: SiteId(get(&r, 2)?),
        run_id: get::<Option<i64>>(&r, 3)?.map(RunId),
        status,
        title: get(&r, 5)?,
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
fn active_jobs(tx: &mut impl Db, run: RunId) -> StoreResult<Vec<(JobId, Stage, JobStatus)>> {
    tx.query(
        "SELECT id, stage, status FROM jobs WHERE run_id = $1 AND status IN ('queued', 'waiting', 'running') ORDER BY id",
        &[&run.0],
    )?
    .iter()
    .map(|r| {
        Ok((
            JobId(get(r, 0)?),
            super::stage_col(r, 1)?,
            super::job_status_col(r, 2)?,
        ))
    })
    .collect()
}

/// Makes sure the run has a publish job that will run: adds one (and
/// reopens the run), revives a dead or cancelled one, or keeps a pending one.
fn ensure_publish_job(
    tx: &mut impl Db,
    a: &Subject,
    actor: &str,
    now: Timestamp,
) -> StoreResult<(JobId, &'static str)> {
    let run = run_of(a)?;
    let existing: Option<(i64, String)> = match tx.opt(
        "SELECT id, status FROM jobs WHERE run_id = $1 AND stage = 'publish'",
        &[&run.0],
    )? {
        Some(r) => Some((get(&r, 0)?, get(&r, 1)?)),
        None => None,
    };
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
            let max_attempts: Option<i64> = get(
                &tx.one(
                    "SELECT MAX(max_attempts) FROM jobs WHERE run_id = $1",
                    &[&run.0],
                )?,
                0,
            )?;
            let job = jobs::insert_job(
                tx,
                run,
                a.site_id,
                Stage::Publish,
                max_attempts.map_or(5, |m| u32::try_from(m.max(1)).unwrap_or(u32::MAX)),
                now,
            )?;
            tx.exec(
                "UPDATE runs SET status = 'running', outcome = NULL, error = NULL, finished_at = NULL WHERE id = $1",
                &[&run.0],
            )?;
            super::topics::hold_again(tx, run)?;
            Ok((job, "a publish job is queued"))
        }
    }
}

fn event(
    tx: &mut impl Db,
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
    tx: &mut impl Db,
    a: &Subject,
    next: ArticleStatus,
    reason: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    tx.exec(
        "UPDATE articles SET status = $2, review_reason = COALESCE($3, review_reason), updated_at = $4 WHERE id = $1",
        &[&a.id.0, &next.as_str(), &reason, &ms(now)],
    )?;
    Ok(())
}

pub(crate) fn approve(
    tx: &mut impl Db,
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

pub(crate) fn reject(
    tx: &mut impl Db,
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

pub(crate) fn request_publish(
    tx: &mut impl Db,
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
