//! Read-only queries, the same on both databases: sites, runs, jobs,
//! articles, sources, events, and what a site already covers (for topic
//! selection). Each record has one row-mapping function here.

use std::collections::BTreeMap;

use super::{
    Db, Param, Row, collect, get, get_parsed, get_ts, get_ts_opt, get_u32, get_u64, job_status_col,
    params, run_status_col, stage_col,
};
use crate::domain::lifecycle::{ArticleStatus, JobStatus, Stage, WaitKind};
use crate::store::*;

pub(crate) fn list_sites(tx: &mut impl Db) -> StoreResult<Vec<SiteRecord>> {
    let rows = tx.query(
        "SELECT id, name, enabled, paused, pause_reason, max_concurrency, schedule_key, next_run_at, last_run_at
         FROM sites ORDER BY name",
        &[],
    )?;
    collect(rows, |r| {
        Ok(SiteRecord {
            id: SiteId(get(r, 0)?),
            name: get(r, 1)?,
            enabled: get(r, 2)?,
            paused: get(r, 3)?,
            pause_reason: get(r, 4)?,
            max_concurrency: get_u32(r, 5)?,
            schedule_key: get(r, 6)?,
            next_run_at: get_ts_opt(r, 7)?,
            last_run_at: get_ts_opt(r, 8)?,
        })
    })
}

const RUN_COLS: &str = "SELECT r.id, s.name, r.trigger, r.slot_key, r.until_stage, r.status, r.outcome, r.error, r.created_at, r.finished_at
     FROM runs r JOIN sites s ON s.id = r.site_id";

fn run_row(r: &impl Row) -> StoreResult<RunRecord> {
    let trigger: String = get(r, 2)?;
    Ok(RunRecord {
        id: RunId(get(r, 0)?),
        site: get(r, 1)?,
        trigger: RunTrigger::parse(&trigger).unwrap_or(RunTrigger::Manual),
        slot_key: get(r, 3)?,
        until: get::<Option<String>>(r, 4)?
            .as_deref()
            .and_then(Stage::parse),
        status: run_status_col(r, 5)?,
        outcome: get(r, 6)?,
        error: get(r, 7)?,
        created_at: get_ts(r, 8)?,
        finished_at: get_ts_opt(r, 9)?,
    })
}

pub(crate) fn get_run(tx: &mut impl Db, id: RunId) -> StoreResult<RunRecord> {
    match tx.opt(&format!("{RUN_COLS} WHERE r.id = $1"), &[&id.0])? {
        Some(r) => run_row(&r),
        None => Err(StoreError::NotFound {
            what: format!("run {id}"),
        }),
    }
}

pub(crate) fn list_runs(
    tx: &mut impl Db,
    site: Option<&str>,
    limit: u32,
    before: Option<RunId>,
) -> StoreResult<Vec<RunRecord>> {
    let before = before.map_or(i64::MAX, |b| b.0);
    let limit = i64::from(limit);
    let rows = match site {
        Some(site) => tx.query(
            &format!("{RUN_COLS} WHERE s.name = $1 AND r.id < $2 ORDER BY r.id DESC LIMIT $3"),
            &[&site, &before, &limit],
        )?,
        None => tx.query(
            &format!("{RUN_COLS} WHERE r.id < $1 ORDER BY r.id DESC LIMIT $2"),
            &[&before, &limit],
        )?,
    };
    collect(rows, run_row)
}

pub(crate) const JOB_COLS: &str = "SELECT j.id, j.run_id, s.name, j.stage, j.status, j.attempts, j.max_attempts, j.not_before,
         j.lease_owner, j.lease_expires_at, j.last_error, j.wait_reason, j.result_summary, j.created_at, j.started_at, j.finished_at,
         j.wait_kind, j.wait_until
     FROM jobs j JOIN sites s ON s.id = j.site_id";

pub(crate) fn job_row(r: &impl Row) -> StoreResult<JobRecord> {
    Ok(JobRecord {
        id: JobId(get(r, 0)?),
        run_id: RunId(get(r, 1)?),
        site: get(r, 2)?,
        stage: stage_col(r, 3)?,
        status: job_status_col(r, 4)?,
        attempts: get_u32(r, 5)?,
        max_attempts: get_u32(r, 6)?,
        not_before: get_ts(r, 7)?,
        lease_owner: get(r, 8)?,
        lease_expires_at: get_ts_opt(r, 9)?,
        last_error: get(r, 10)?,
        wait_reason: get(r, 11)?,
        result_summary: get(r, 12)?,
        created_at: get_ts(r, 13)?,
        started_at: get_ts_opt(r, 14)?,
        finished_at: get_ts_opt(r, 15)?,
        wait_kind: get::<Option<String>>(r, 16)?
            .as_deref()
            .and_then(WaitKind::parse),
        wait_until: get_ts_opt(r, 17)?,
    })
}

pub(crate) fn get_job(tx: &mut impl Db, id: JobId) -> StoreResult<JobRecord> {
    match tx.opt(&format!("{JOB_COLS} WHERE j.id = $1"), &[&id.0])? {
        Some(r) => job_row(&r),
        None => Err(StoreError::NotFound {
            what: format!("job {id}"),
        }),
    }
}

pub(crate) fn list_jobs(
    tx: &mut impl Db,
    run: Option<RunId>,
    status: Option<JobStatus>,
    limit: u32,
) -> StoreResult<Vec<JobRecord>> {
    let filter = JobFilter {
        site: None,
        run,
        status,
        limit,
        before: None,
    };
    list_jobs_page(tx, &filter)
}

/// Jobs matching the filter, newest first (paged with `before`).
pub(crate) fn list_jobs_page(tx: &mut impl Db, f: &JobFilter) -> StoreResult<Vec<JobRecord>> {
    let mut w = Conditions::<Param>::new();
    if let Some(site) = &f.site {
        w.and("s.name =", Box::new(site.clone()));
    }
    if let Some(run) = f.run {
        w.and("j.run_id =", Box::new(run.0));
    }
    if let Some(status) = f.status {
        w.and("j.status =", Box::new(status.as_str().to_string()));
    }
    if let Some(before) = f.before {
        w.and("j.id <", Box::new(before.0));
    }
    let (sql, values) = w.query(JOB_COLS, "j.id DESC", Box::new(i64::from(f.limit)));
    collect(tx.query(&sql, &params(&values))?, job_row)
}

pub(crate) fn job_counts(tx: &mut impl Db) -> StoreResult<BTreeMap<JobStatus, u64>> {
    let mut out = BTreeMap::new();
    for r in tx.query("SELECT status, COUNT(*) FROM jobs GROUP BY status", &[])? {
        out.insert(job_status_col(&r, 0)?, get_u64(&r, 1)?);
    }
    Ok(out)
}

const ARTICLE_COLS: &str = "SELECT a.id, s.name, a.run_id, a.status, a.topic, a.title, a.slug, a.meta_description, a.focus_keyword,
        a.excerpt, a.tags, a.category, a.body_markdown, a.check_score, a.check_report, a.review_reason, a.published_url,
        a.created_at, a.published_at, a.generation_notes
     FROM articles a JOIN sites s ON s.id = a.site_id";

fn article_row(r: &impl Row) -> StoreResult<ArticleRecord> {
    let tags: String = get(r, 10)?;
    let report: Option<String> = get(r, 14)?;
    let notes: Option<String> = get(r, 19)?;
    Ok(ArticleRecord {
        id: ArticleId(get(r, 0)?),
        site: get(r, 1)?,
        run_id: get::<Option<i64>>(r, 2)?.map(RunId),
        status: article_status_col(r, 3)?,
        content: NewArticle {
            topic: get(r, 4)?,
            title: get(r, 5)?,
            slug: get(r, 6)?,
            meta_description: get(r, 7)?,
            focus_keyword: get(r, 8)?,
            excerpt: get(r, 9)?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            category: get(r, 11)?,
            body_markdown: get(r, 12)?,
        },
        check_score: get::<Option<i64>>(r, 13)?.map(|s| s.clamp(0, 255) as u8),
        check_report: report.and_then(|s| serde_json::from_str(&s).ok()),
        review_reason: get(r, 15)?,
        published_url: get(r, 16)?,
        created_at: get_ts(r, 17)?,
        published_at: get_ts_opt(r, 18)?,
        generation: notes.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

/// An unknown status is an error, as for jobs and runs: the database holds
/// something this binary does not understand (a newer version wrote it).
fn article_status_col(r: &impl Row, idx: usize) -> StoreResult<ArticleStatus> {
    get_parsed(r, idx, ArticleStatus::parse, "article status")
}

/// One article by `condition` on `$1` (`a.id = $1`, `a.run_id = $1`).
pub(crate) fn article_where(
    tx: &mut impl Db,
    condition: &str,
    value: i64,
) -> StoreResult<Option<ArticleRecord>> {
    match tx.opt(&format!("{ARTICLE_COLS} WHERE {condition}"), &[&value])? {
        Some(r) => Ok(Some(article_row(&r)?)),
        None => Ok(None),
    }
}

pub(crate) fn list_articles(
    tx: &mut impl Db,
    f: &ArticleFilter,
) -> StoreResult<Vec<ArticleRecord>> {
    let mut w = Conditions::<Param>::new();
    if let Some(site) = &f.site {
        w.and("s.name =", Box::new(site.clone()));
    }
    if let Some(status) = f.status {
        w.and("a.status =", Box::new(status.as_str().to_string()));
    }
    if let Some(before) = f.before {
        w.and("a.id <", Box::new(before.0));
    }
    let (sql, values) = w.query(ARTICLE_COLS, "a.id DESC", Box::new(i64::from(f.limit)));
    collect(tx.query(&sql, &params(&values))?, article_row)
}

pub(crate) fn list_article_titles(
    tx: &mut impl Db,
    site: &str,
    limit: u32,
) -> StoreResult<Vec<ArticleTitle>> {
    let rows = tx.query(
        "SELECT a.id, a.title, a.focus_keyword, a.topic, a.status
         FROM articles a JOIN sites s ON s.id = a.site_id
         WHERE s.name = $1 ORDER BY a.id DESC LIMIT $2",
        &[&site, &i64::from(limit)],
    )?;
    collect(rows, |r| {
        Ok(ArticleTitle {
            id: ArticleId(get(r, 0)?),
            title: get(r, 1)?,
            focus_keyword: get(r, 2)?,
            topic: get(r, 3)?,
            status: article_status_col(r, 4)?,
        })
    })
}

pub(crate) fn selected_topic(tx: &mut impl Db, run: RunId) -> StoreResult<Option<TopicRecord>> {
    match tx.opt(
        "SELECT keyword, score, reason FROM topics WHERE run_id = $1 AND status = 'selected' ORDER BY id LIMIT 1",
        &[&run.0],
    )? {
        Some(r) => Ok(Some(TopicRecord {
            keyword: get(&r, 0)?,
            score: get(&r, 1)?,
            reason: get(&r, 2)?,
        })),
        None => Ok(None),
    }
}

pub(crate) fn list_events(
    tx: &mut impl Db,
    limit: u32,
    before: Option<i64>,
) -> StoreResult<Vec<EventRecord>> {
    let rows = tx.query(
        "SELECT e.id, e.at, s.name, e.run_id, e.job_id, e.kind, e.actor, e.message
         FROM events e LEFT JOIN sites s ON s.id = e.site_id
         WHERE e.id < $1 ORDER BY e.id DESC LIMIT $2",
        &[&before.unwrap_or(i64::MAX), &i64::from(limit)],
    )?;
    collect(rows, |r| {
        Ok(EventRecord {
            id: get(r, 0)?,
            at: get_ts(r, 1)?,
            site: get(r, 2)?,
            run_id: get::<Option<i64>>(r, 3)?.map(RunId),
            job_id: get::<Option<i64>>(r, 4)?.map(JobId),
            kind: get(r, 5)?,
            actor: get(r, 6)?,
            message: get(r, 7)?,
        })
    })
}

pub(crate) fn list_sources(tx: &mut impl Db, site: &str) -> StoreResult<Vec<SourceRecord>> {
    let rows = tx.query(
        "SELECT o.id, s.name, o.url, o.kind, o.etag, o.last_modified, o.next_check_at, o.consecutive_failures,
                o.last_error, o.last_checked_at, o.last_success_at, o.skipped_entries
         FROM sources o JOIN sites s ON s.id = o.site_id WHERE s.name = $1 ORDER BY o.id",
        &[&site],
    )?;
    collect(rows, |r| {
        Ok(SourceRecord {
            id: get(r, 0)?,
            site: get(r, 1)?,
            url: get(r, 2)?,
            kind: get(r, 3)?,
            etag: get(r, 4)?,
            last_modified: get(r, 5)?,
            next_check_at: get_ts_opt(r, 6)?,
            consecutive_failures: get_u32(r, 7)?,
            last_error: get(r, 8)?,
            last_checked_at: get_ts_opt(r, 9)?,
            last_success_at: get_ts_opt(r, 10)?,
            skipped_entries: get_u32(r, 11)?,
        })
    })
}

const ITEM_COLS: &str = "SELECT i.id, s.name, o.url, i.key_hash, i.guid, i.url, i.title, i.summary, i.published_at, i.fetched_at, i.run_id
     FROM source_items i JOIN sites s ON s.id = i.site_id LEFT JOIN sources o ON o.id = i.source_id";

fn item_row(r: &impl Row) -> StoreResult<SourceItemRecord> {
    Ok(SourceItemRecord {
        id: get(r, 0)?,
        site: get(r, 1)?,
        source_url: get(r, 2)?,
        key_hash: get(r, 3)?,
        guid: get(r, 4)?,
        url: get(r, 5)?,
        title: get(r, 6)?,
        summary: get(r, 7)?,
        published_at: get_ts_opt(r, 8)?,
        fetched_at: get_ts(r, 9)?,
        run_id: get::<Option<i64>>(r, 10)?.map(RunId),
    })
}

pub(crate) fn get_source_items(
    tx: &mut impl Db,
    ids: &[i64],
) -> StoreResult<Vec<SourceItemRecord>> {
    let sql = format!("{ITEM_COLS} WHERE i.id = $1");
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = tx.opt(&sql, &[id])? {
            out.push(item_row(&r)?);
        }
    }
    Ok(out)
}

pub(crate) fn list_source_items(
    tx: &mut impl Db,
    site: &str,
    since: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<SourceItemRecord>> {
    let rows = tx.query(
        &format!(
            "{ITEM_COLS} WHERE s.name = $1 AND i.fetched_at >= $2
             ORDER BY i.fetched_at DESC, i.id DESC LIMIT $3"
        ),
        &[&site, &since.unwrap_or(i64::MIN), &i64::from(limit)],
    )?;
    collect(rows, item_row)
}
