//! Writes a stage's output inside the job-completion transaction: source
//! state and items (stored once per site), topic candidates, the article,
//! its check report and its publication (article and publish ledger).

use super::{Db, get, ms};
use crate::domain::lifecycle::{ArticleEvent, ArticleStatus, Timestamp, article_transition};
use crate::store::*;

pub(crate) struct Context {
    pub site_id: SiteId,
    pub run_id: RunId,
}

pub(crate) fn persist(
    tx: &mut impl Db,
    ctx: &Context,
    output: &StageOutput,
    now: Timestamp,
) -> StoreResult<()> {
    match output {
        StageOutput::Monitor(m) => monitor(tx, ctx, m, now),
        StageOutput::Topics(t) => topics(tx, ctx, t, now),
        StageOutput::Generate(g) => generate(tx, ctx, g, now),
        StageOutput::Check(c) => check(tx, c, now),
        StageOutput::Publish(p) => publish(tx, p, now),
    }
}

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))
}

fn source_id(tx: &mut impl Db, ctx: &Context, url: &str, now: Timestamp) -> StoreResult<i64> {
    tx.exec(
        "INSERT INTO sources (site_id, url, created_at) VALUES ($1, $2, $3) ON CONFLICT (site_id, url) DO NOTHING",
        &[&ctx.site_id.0, &url, &ms(now)],
    )?;
    get(
        &tx.one(
            "SELECT id FROM sources WHERE site_id = $1 AND url = $2",
            &[&ctx.site_id.0, &url],
        )?,
        0,
    )
}

fn monitor(tx: &mut impl Db, ctx: &Context, m: &MonitorOutput, now: Timestamp) -> StoreResult<()> {
    for s in &m.sources {
        let id = source_id(tx, ctx, &s.url, now)?;
        match &s.error {
            None => tx.exec(
                "UPDATE sources SET etag = $2, last_modified = $3, next_check_at = $4, consecutive_failures = 0,
                     last_error = NULL, last_checked_at = $5, last_success_at = $5,
                     skipped_entries = COALESCE($6, skipped_entries) WHERE id = $1",
                &[
                    &id,
                    &s.etag,
                    &s.last_modified,
                    &s.next_check_at.map(ms),
                    &ms(now),
                    &s.skipped_entries.map(i64::from),
                ],
            ),
            Some(err) => tx.exec(
                "UPDATE sources SET next_check_at = $2, consecutive_failures = consecutive_failures + 1,
                     last_error = $3, last_checked_at = $4 WHERE id = $1",
                &[&id, &s.next_check_at.map(ms), err, &ms(now)],
            ),
        }?;
    }
    for item in &m.items {
        let src = source_id(tx, ctx, &item.source_url, now)?;
        tx.exec(
            "INSERT INTO source_items (site_id, source_id, key_hash, guid, url, title, summary, published_at, fetched_at, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (site_id, key_hash) DO NOTHING",
            &[
                &ctx.site_id.0,
                &src,
                &item.key_hash,
                &item.guid,
                &item.url,
                &item.title,
                &item.summary,
                &item.published_at.map(ms),
                &ms(now),
                &ctx.run_id.0,
            ],
        )?;
    }
    Ok(())
}

fn topics(tx: &mut impl Db, ctx: &Context, t: &TopicsOutput, now: Timestamp) -> StoreResult<()> {
    let selected = t.selected().map(|c| c.keyword.clone());
    for c in &t.candidates {
        let status = match (c.kept, selected.as_deref() == Some(c.keyword.as_str())) {
            (true, true) => "selected",
            (true, false) => "kept",
            (false, _) => "rejected",
        };
        tx.exec(
            "INSERT INTO topics (site_id, run_id, keyword, score, status, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&ctx.site_id.0, &ctx.run_id.0, &c.keyword, &c.score, &status, &c.reason, &ms(now)],
        )?;
    }
    Ok(())
}

fn generate(
    tx: &mut impl Db,
    ctx: &Context,
    g: &GenerateOutput,
    now: Timestamp,
) -> StoreResult<()> {
    let a = &g.article;
    let tags = json(&a.tags)?;
    let notes = json(&g.notes)?;
    let row = tx.one(
        "INSERT INTO articles (site_id, run_id, topic, status, title, slug, meta_description, focus_keyword, excerpt,
             tags, category, body_markdown, created_at, updated_at, generation_notes)
         VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) RETURNING id",
        &[
            &ctx.site_id.0,
            &ctx.run_id.0,
            &a.topic,
            &a.title,
            &a.slug,
            &a.meta_description,
            &a.focus_keyword,
            &a.excerpt,
            &tags,
            &a.category,
            &a.body_markdown,
            &ms(now),
            &notes,
        ],
    )?;
    let id: i64 = get(&row, 0)?;
    tx.exec(
        "INSERT INTO article_revisions (article_id, revision, title, body_markdown, reason, created_at)
         VALUES ($1, 1, $2, $3, 'generated', $4)",
        &[&id, &a.title, &a.body_markdown, &ms(now)],
    )?;
    Ok(())
}

/// The article's status, its row locked until commit.
pub(crate) fn article_status(tx: &mut impl Db, id: ArticleId) -> StoreResult<ArticleStatus> {
    let row = tx
        .opt(
            "SELECT status FROM articles WHERE id = $1 FOR UPDATE",
            &[&id.0],
        )?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("article {id}"),
        })?;
    let s: String = get(&row, 0)?;
    ArticleStatus::parse(&s)
        .ok_or_else(|| StoreError::Backend(format!("article {id} has unknown status \"{s}\"")))
}

fn check(tx: &mut impl Db, c: &CheckOutput, now: Timestamp) -> StoreResult<()> {
    let current = article_status(tx, c.article_id)?;
    let (event, reason) = match &c.decision {
        CheckDecision::Publish => (ArticleEvent::PassedChecks, None),
        CheckDecision::Review { reason } => (ArticleEvent::HeldForReview, Some(reason.as_str())),
        CheckDecision::Reject { reason } => (ArticleEvent::Reject, Some(reason.as_str())),
    };
    let next = article_transition(current, event)?;
    let report = json(&c.report)?;
    tx.exec(
        "UPDATE articles SET status = $2, check_score = $3, check_report = $4, review_reason = $5, updated_at = $6 WHERE id = $1",
        &[&c.article_id.0, &next.as_str(), &i64::from(c.score), &report, &reason, &ms(now)],
    )?;
    Ok(())
}

fn publish(tx: &mut impl Db, p: &PublishOutput, now: Timestamp) -> StoreResult<()> {
    let current = article_status(tx, p.article_id)?;
    let next = article_transition(current, ArticleEvent::Published)?;
    tx.exec(
        "UPDATE articles SET status = $2, published_url = $3, published_at = $4, updated_at = $4 WHERE id = $1",
        &[&p.article_id.0, &next.as_str(), &p.location, &ms(now)],
    )?;
    super::publish::mark_published(tx, p, now)
}
