//! The publish ledger, the same on both databases: the intent row written
//! (and committed) before a post request, the per-site rate limit read from
//! it (under the site row's lock on PostgreSQL, so two instances cannot both
//! take the same slot; SQLite has one writer),
//! failures kept on it; plus articles' featured images.

use super::{Db, Row, get, get_ts, get_ts_opt, get_u32, ms, ts};
use crate::domain::lifecycle::Timestamp;
use crate::store::*;

const ENTRY_COLS: &str =
    "SELECT l.article_id, s.name, l.target, l.idempotency_key, l.status, l.remote_id, l.remote_url,
        l.attempts, l.last_error, l.last_attempt_at, l.created_at, l.updated_at
     FROM publish_ledger l JOIN sites s ON s.id = l.site_id";

fn entry_row(r: &impl Row) -> StoreResult<PublishEntry> {
    let status: String = get(r, 4)?;
    Ok(PublishEntry {
        article_id: ArticleId(get(r, 0)?),
        site: get(r, 1)?,
        target: get(r, 2)?,
        idempotency_key: get(r, 3)?,
        status: LedgerStatus::parse(&status)
            .ok_or_else(|| StoreError::Backend(format!("unknown ledger status \"{status}\"")))?,
        remote_id: get(r, 5)?,
        remote_url: get(r, 6)?,
        attempts: get_u32(r, 7)?,
        last_error: get(r, 8)?,
        last_attempt_at: get_ts_opt(r, 9)?,
        created_at: get_ts(r, 10)?,
        updated_at: get_ts(r, 11)?,
    })
}

pub(crate) fn entry(tx: &mut impl Db, article: ArticleId) -> StoreResult<Option<PublishEntry>> {
    match tx.opt(
        &format!("{ENTRY_COLS} WHERE l.article_id = $1"),
        &[&article.0],
    )? {
        Some(r) => Ok(Some(entry_row(&r)?)),
        None => Ok(None),
    }
}

pub(crate) fn begin(
    tx: &mut impl Db,
    intent: &PublishIntent,
    now: Timestamp,
) -> StoreResult<PublishBegin> {
    let row = tx
        .opt(
            "SELECT site_id FROM articles WHERE id = $1",
            &[&intent.article_id.0],
        )?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("article {}", intent.article_id),
        })?;
    let site_id: i64 = get(&row, 0)?;
    // The site's row is the lock of its publishing slot: one begin at a time.
    tx.exec("SELECT id FROM sites WHERE id = $1 FOR UPDATE", &[&site_id])?;
    // The site's last attempt by another article: one post per interval.
    let last: Option<i64> = get(
        &tx.one(
            "SELECT MAX(last_attempt_at) FROM publish_ledger WHERE site_id = $1 AND article_id <> $2",
            &[&site_id, &intent.article_id.0],
        )?,
        0,
    )?;
    if let Some(last) = last {
        let interval =
            chrono::Duration::from_std(intent.min_interval).unwrap_or(chrono::Duration::MAX);
        let until = ts(last) + interval;
        if now < until {
            return Ok(PublishBegin::Wait { until });
        }
    }
    tx.exec(
        "INSERT INTO publish_ledger (article_id, site_id, target, idempotency_key, status, attempts, last_attempt_at,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'intent', 1, $5, $5, $5)
         ON CONFLICT (article_id) DO UPDATE SET attempts = publish_ledger.attempts + 1,
             last_attempt_at = excluded.last_attempt_at, updated_at = excluded.updated_at,
             target = CASE WHEN publish_ledger.status = 'intent' THEN excluded.target ELSE publish_ledger.target END",
        &[
            &intent.article_id.0,
            &site_id,
            &intent.target,
            &intent.idempotency_key,
            &ms(now),
        ],
    )?;
    let entry = entry(tx, intent.article_id)?.ok_or_else(|| {
        StoreError::Backend(format!(
            "publish ledger row of article {} vanished",
            intent.article_id
        ))
    })?;
    Ok(PublishBegin::Go(entry))
}

pub(crate) fn record_error(
    tx: &mut impl Db,
    article: ArticleId,
    error: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let n = tx.exec(
        "UPDATE publish_ledger SET last_error = $2, updated_at = $3 WHERE article_id = $1",
        &[&article.0, &error, &ms(now)],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound {
            what: format!("publish ledger row of article {article}"),
        });
    }
    Ok(())
}

/// Inside the job-completion transaction: the post exists and we know it.
pub(crate) fn mark_published(
    tx: &mut impl Db,
    p: &PublishOutput,
    now: Timestamp,
) -> StoreResult<()> {
    tx.exec(
        "UPDATE publish_ledger SET status = 'published', remote_id = $2, remote_url = $3, last_error = NULL,
             target = $4, updated_at = $5
         WHERE article_id = $1",
        &[&p.article_id.0, &p.remote_id, &p.location, &p.target, &ms(now)],
    )?;
    Ok(())
}

pub(crate) fn set_image(
    tx: &mut impl Db,
    article: ArticleId,
    image: &ArticleImage,
    now: Timestamp,
) -> StoreResult<()> {
    if tx
        .opt("SELECT id FROM articles WHERE id = $1", &[&article.0])?
        .is_none()
    {
        return Err(StoreError::NotFound {
            what: format!("article {article}"),
        });
    }
    tx.exec(
        "INSERT INTO article_images (article_id, source, alt_text, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (article_id) DO UPDATE SET source = excluded.source, alt_text = excluded.alt_text,
             updated_at = excluded.updated_at",
        &[&article.0, &image.source, &image.alt_text, &ms(now)],
    )?;
    Ok(())
}

pub(crate) fn image(tx: &mut impl Db, article: ArticleId) -> StoreResult<Option<ArticleImage>> {
    match tx.opt(
        "SELECT source, alt_text FROM article_images WHERE article_id = $1",
        &[&article.0],
    )? {
        Some(r) => Ok(Some(ArticleImage {
            source: get(&r, 0)?,
            alt_text: get(&r, 1)?,
        })),
        None => Ok(None),
    }
}
