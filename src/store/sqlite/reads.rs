//! Read-only queries for operators: sites, runs, jobs, articles, events.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{CachedExt, job_status_col, map_err, run_status_col, stage_col, ts};
use crate::domain::lifecycle::{ArticleStatus, JobStatus, Stage, WaitKind};
use crate::store::*;
use rusqlite::types::Value;

pub(super) fn list_sites(c: &Connection) -> StoreResult<Vec<SiteRecord>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, name, enabled, paused, pause_reason, max_concurrency, schedule_key, next_run_at, last_run_at
             FROM sites ORDER BY name",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SiteRecord {
                id: SiteId(r.get(0)?),
                name: r.get(1)?,
                enabled: r.get(2)?,
                paused: r.get(3)?,
                pause_reason: r.get(4)?,
                max_concurrency: r.get(5)?,
                schedule_key: r.get(6)?,
                next_run_at: r.get::<_, Option<i64>>(7)?.map(ts),
                last_run_at: r.get::<_, Option<i64>>(8)?.map(ts),
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

const RUN_COLS: &str = "SELECT r.id, s.name, r.trigger, r.slot_key, r.until_stage, r.status, r.outcome, r.error, r.created_at, r.finished_at
     FROM runs r JOIN sites s ON s.id = r.site_id";

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let trigger: String = r.get(2)?;
    Ok(RunRecord {
        id: RunId(r.get(0)?),
        site: r.get(1)?,
        trigger: RunTrigger::parse(&trigger).unwrap_or(RunTrigger::Manual),
        slot_key: r.get(3)?,
        until: r
            .get::<_, Option<String>>(4)?
            .as_deref()
            .and_then(Stage::parse),
        status: run_status_col(r.get(5)?)?,
        outcome: r.get(6)?,
        error: r.get(7)?,
        created_at: ts(r.get(8)?),
        finished_at: r.get::<_, Option<i64>>(9)?.map(ts),
    })
}

pub(super) fn get_run(c: &Connection, id: RunId) -> StoreResult<RunRecord> {
    c.query_row_cached(&format!("{RUN_COLS} WHERE r.id = ?1"), [id.0], run_row)
        .optional()
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("run {id}"),
        })
}

pub(super) fn list_runs(
    c: &Connection,
    site: Option<&str>,
    limit: u32,
    before: Option<RunId>,
) -> StoreResult<Vec<RunRecord>> {
    // Plain conditions (no "?1 IS NULL OR …"), so SQLite can use the indexes.
    let before = before.map_or(i64::MAX, |b| b.0);
    let mut stmt;
    let rows = match site {
        Some(site) => {
            stmt = c
                .prepare_cached(&format!(
                    "{RUN_COLS} WHERE s.name = ?1 AND r.id < ?2 ORDER BY r.id DESC LIMIT ?3"
                ))
                .map_err(map_err)?;
            stmt.query_map(params![site, before, limit], run_row)
        }
        None => {
            stmt = c
                .prepare_cached(&format!(
                    "{RUN_COLS} WHERE r.id < ?1 ORDER BY r.id DESC LIMIT ?2"
                ))
                .map_err(map_err)?;
            stmt.query_map(params![before, limit], run_row)
        }
    }
    .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub(super) const JOB_COLS: &str = "SELECT j.id, j.run_id, s.name, j.stage, j.status, j.attempts, j.max_attempts, j.not_before,
         j.lease_owner, j.lease_expires_at, j.last_error, j.wait_reason, j.result_summary, j.created_at, j.started_at, j.finished_at,
         j.wait_kind, j.wait_until
     FROM jobs j JOIN sites s ON s.id = j.site_id";

pub(super) fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: JobId(r.get(0)?),
        run_id: RunId(r.get(1)?),
        site: r.get(2)?,
        stage: stage_col(r.get(3)?)?,
        status: job_status_col(r.get(4)?)?,
        attempts: r.get(5)?,
        max_attempts: r.get(6)?,
        not_before: ts(r.get(7)?),
        lease_owner: r.get(8)?,
        lease_expires_at: r.get::<_, Option<i64>>(9)?.map(ts),
        last_error: r.get(10)?,
        wait_reason: r.get(11)?,
        result_summary: r.get(12)?,
        created_at: ts(r.get(13)?),
        started_at: r.get::<_, Option<i64>>(14)?.map(ts),
        finished_at: r.get::<_, Option<i64>>(15)?.map(ts),
        wait_kind: r
            .get::<_, Option<String>>(16)?
            .as_deref()
            .and_then(WaitKind::parse),
        wait_until: r.get::<_, Option<i64>>(17)?.map(ts),
    })
}

pub(super) fn get_job(c: &Connection, id: JobId) -> StoreResult<JobRecord> {
    c.query_row_cached(&format!("{JOB_COLS} WHERE j.id = ?1"), [id.0], job_row)
        .optional()
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("job {id}"),
        })
}

pub(super) fn list_jobs(
    c: &Connection,
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
    super::operator::list_jobs_page(c, &filter)
}

pub(super) fn job_counts(c: &Connection) -> StoreResult<BTreeMap<JobStatus, u64>> {
    let mut stmt = c
        .prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((job_status_col(r.get(0)?)?, r.get::<_, i64>(1)?))
        })
        .map_err(map_err)?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (status, n) = row.map_err(map_err)?;
        out.insert(status, n as u64);
    }
    Ok(out)
}

const ARTICLE_COLS: &str = "SELECT a.id, s.name, a.run_id, a.status, a.topic, a.title, a.slug, a.meta_description, a.focus_keyword,
        a.excerpt, a.tags, a.category, a.body_markdown, a.check_score, a.check_report, a.review_reason, a.published_url,
        a.created_at, a.published_at, a.generation_notes
     FROM articles a JOIN sites s ON s.id = a.site_id";

fn article_row(r: &Row<'_>) -> rusqlite::Result<ArticleRecord> {
    let status: String = r.get(3)?;
    let tags: String = r.get(10)?;
    let report: Option<String> = r.get(14)?;
    let notes: Option<String> = r.get(19)?;
    Ok(ArticleRecord {
        id: ArticleId(r.get(0)?),
        site: r.get(1)?,
        run_id: r.get::<_, Option<i64>>(2)?.map(RunId),
        status: ArticleStatus::parse(&status).unwrap_or(ArticleStatus::Draft),
        content: NewArticle {
            topic: r.get(4)?,
            title: r.get(5)?,
            slug: r.get(6)?,
            meta_description: r.get(7)?,
            focus_keyword: r.get(8)?,
            excerpt: r.get(9)?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            category: r.get(11)?,
            body_markdown: r.get(12)?,
        },
        check_score: r.get(13)?,
        check_report: report.and_then(|s| serde_json::from_str(&s).ok()),
        review_reason: r.get(15)?,
        published_url: r.get(16)?,
        created_at: ts(r.get(17)?),
        published_at: r.get::<_, Option<i64>>(18)?.map(ts),
        generation: notes.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

pub(super) fn article_where(
    c: &Connection,
    condition: &str,
    value: i64,
) -> StoreResult<Option<ArticleRecord>> {
    let sql = format!("{ARTICLE_COLS} WHERE {condition}");
    c.query_row_cached(&sql, [value], article_row)
        .optional()
        .map_err(map_err)
}

pub(super) fn list_articles(c: &Connection, f: &ArticleFilter) -> StoreResult<Vec<ArticleRecord>> {
    let mut w = Conditions::<Value>::new('?');
    if let Some(site) = &f.site {
        w.and("s.name =", site.clone().into());
    }
    if let Some(status) = f.status {
        w.and("a.status =", status.as_str().to_string().into());
    }
    if let Some(before) = f.before {
        w.and("a.id <", before.0.into());
    }
    let (sql, values) = w.query(ARTICLE_COLS, "a.id DESC", i64::from(f.limit).into());
    let mut stmt = c.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(values), article_row)
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub(super) fn selected_topic(c: &Connection, run: RunId) -> StoreResult<Option<TopicRecord>> {
    c.query_row(
        "SELECT keyword, score, reason FROM topics WHERE run_id = ?1 AND status = 'selected' ORDER BY id LIMIT 1",
        [run.0],
        |r| {
            Ok(TopicRecord {
                keyword: r.get(0)?,
                score: r.get(1)?,
                reason: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(map_err)
}

pub(super) fn list_events(
    c: &Connection,
    limit: u32,
    before: Option<i64>,
) -> StoreResult<Vec<EventRecord>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT e.id, e.at, s.name, e.run_id, e.job_id, e.kind, e.actor, e.message
             FROM events e LEFT JOIN sites s ON s.id = e.site_id
             WHERE e.id < ?1 ORDER BY e.id DESC LIMIT ?2",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
            Ok(EventRecord {
                id: r.get(0)?,
                at: ts(r.get(1)?),
                site: r.get(2)?,
                run_id: r.get::<_, Option<i64>>(3)?.map(RunId),
                job_id: r.get::<_, Option<i64>>(4)?.map(JobId),
                kind: r.get(5)?,
                actor: r.get(6)?,
                message: r.get(7)?,
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub(super) fn list_sources(c: &Connection, site: &str) -> StoreResult<Vec<SourceRecord>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT o.id, s.name, o.url, o.kind, o.etag, o.last_modified, o.next_check_at, o.consecutive_failures,
                    o.last_error, o.last_checked_at, o.last_success_at, o.skipped_entries
             FROM sources o JOIN sites s ON s.id = o.site_id WHERE s.name = ?1 ORDER BY o.id",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([site], |r| {
            Ok(SourceRecord {
                id: r.get(0)?,
                site: r.get(1)?,
                url: r.get(2)?,
                kind: r.get(3)?,
                etag: r.get(4)?,
                last_modified: r.get(5)?,
                next_check_at: r.get::<_, Option<i64>>(6)?.map(ts),
                consecutive_failures: r.get(7)?,
                last_error: r.get(8)?,
                last_checked_at: r.get::<_, Option<i64>>(9)?.map(ts),
                last_success_at: r.get::<_, Option<i64>>(10)?.map(ts),
                skipped_entries: r.get(11)?,
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

const ITEM_COLS: &str = "SELECT i.id, s.name, o.url, i.key_hash, i.guid, i.url, i.title, i.summary, i.published_at, i.fetched_at, i.run_id
     FROM source_items i JOIN sites s ON s.id = i.site_id LEFT JOIN sources o ON o.id = i.source_id";

fn item_row(r: &Row<'_>) -> rusqlite::Result<SourceItemRecord> {
    Ok(SourceItemRecord {
        id: r.get(0)?,
        site: r.get(1)?,
        source_url: r.get(2)?,
        key_hash: r.get(3)?,
        guid: r.get(4)?,
        url: r.get(5)?,
        title: r.get(6)?,
        summary: r.get(7)?,
        published_at: r.get::<_, Option<i64>>(8)?.map(ts),
        fetched_at: ts(r.get(9)?),
        run_id: r.get::<_, Option<i64>>(10)?.map(RunId),
    })
}

pub(super) fn get_source_items(c: &Connection, ids: &[i64]) -> StoreResult<Vec<SourceItemRecord>> {
    let mut stmt = c
        .prepare_cached(&format!("{ITEM_COLS} WHERE i.id = ?1"))
        .map_err(map_err)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(item) = stmt.query_row([id], item_row).optional().map_err(map_err)? {
            out.push(item);
        }
    }
    Ok(out)
}

pub(super) fn list_source_items(
    c: &Connection,
    site: &str,
    since: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<SourceItemRecord>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "{ITEM_COLS} WHERE s.name = ?1 AND i.fetched_at >= ?2
             ORDER BY i.fetched_at DESC, i.id DESC LIMIT ?3"
        ))
        .map_err(map_err)?;
    let rows = stmt
        .query_map(params![site, since.unwrap_or(i64::MIN), limit], item_row)
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}
