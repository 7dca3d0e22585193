//! The publish ledger on SQLite: the intent row written (and committed)
//! before a post request, the per-site rate limit read from it, failures
//! kept on it; plus articles' featured images. The row is marked published
//! by the job-completion transaction (`outputs.rs`), never here.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{map_err, ms, ts};
use crate::domain::lifecycle::Timestamp;
use crate::store::*;

const ENTRY_COLS: &str =
    "SELECT l.article_id, s.name, l.target, l.idempotency_key, l.status, l.remote_id, l.remote_url,
        l.attempts, l.last_error, l.last_attempt_at, l.created_at, l.updated_at
     FROM publish_ledger l JOIN sites s ON s.id = l.site_id";

fn entry_row(r: &Row<'_>) -> rusqlite::Result<PublishEntry> {
    let status: String = r.get(4)?;
    Ok(PublishEntry {
        article_id: ArticleId(r.get(0)?),
        site: r.get(1)?,
        target: r.get(2)?,
        idempotency_key: r.get(3)?,
        status: LedgerStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                format!("unknown ledger status \"{status}\"").into(),
            )
        })?,
        remote_id: r.get(5)?,
        remote_url: r.get(6)?,
        attempts: r.get(7)?,
        last_error: r.get(8)?,
        last_attempt_at: r.get::<_, Option<i64>>(9)?.map(ts),
        created_at: ts(r.get(10)?),
        updated_at: ts(r.get(11)?),
    })
}

pub(super) fn entry(c: &Connection, article: ArticleId) -> StoreResult<Option<PublishEntry>> {
    c.query_row(
        &format!("{ENTRY_COLS} WHERE l.article_id = ?1"),
        [article.0],
        entry_row,
    )
    .optional()
    .map_err(map_err)
}

pub(super) fn begin(
    tx: &Transaction<'_>,
    intent: &PublishIntent,
    now: Timestamp,
) -> StoreResult<PublishBegin> {
    let site_id: i64 = tx
        .query_row(
            "SELECT site_id FROM articles WHERE id = ?1",
            [intent.article_id.0],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?
        .ok_or_else(|| StoreError::NotFound {
            what: format!("article {}", intent.article_id),
        })?;
    // The site's last attempt by another article: one post per interval.
    let last: Option<i64> = tx
        .query_row(
            "SELECT MAX(last_attempt_at) FROM publish_ledger WHERE site_id = ?1 AND article_id <> ?2",
            params![site_id, intent.article_id.0],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if let Some(last) = last {
        let interval =
            chrono::Duration::from_std(intent.min_interval).unwrap_or(chrono::Duration::MAX);
        let until = ts(last) + interval;
        if now < until {
            return Ok(PublishBegin::Wait { until });
        }
    }
    tx.execute(
        "INSERT INTO publish_ledger (article_id, site_id, target, idempotency_key, status, attempts, last_attempt_at,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'intent', 1, ?5, ?5, ?5)
         ON CONFLICT (article_id) DO UPDATE SET attempts = publish_ledger.attempts + 1,
             last_attempt_at = excluded.last_attempt_at, updated_at = excluded.updated_at,
             target = CASE WHEN publish_ledger.status = 'intent' THEN excluded.target ELSE publish_ledger.target END",
        params![
            intent.article_id.0,
            site_id,
            intent.target,
            intent.idempotency_key,
            ms(now)
        ],
    )
    .map_err(map_err)?;
    let entry = entry(tx, intent.article_id)?.ok_or_else(|| {
        StoreError::Backend(format!(
            "publish ledger row of article {} vanished",
            intent.article_id
        ))
    })?;
    Ok(PublishBegin::Go(entry))
}

pub(super) fn record_error(
    tx: &Transaction<'_>,
    article: ArticleId,
    error: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let n = tx
        .execute(
            "UPDATE publish_ledger SET last_error = ?2, updated_at = ?3 WHERE article_id = ?1",
            params![article.0, error, ms(now)],
        )
        .map_err(map_err)?;
    if n == 0 {
        return Err(StoreError::NotFound {
            what: format!("publish ledger row of article {article}"),
        });
    }
    Ok(())
}

/// Inside the job-completion transaction: the post exists and we know it.
pub(super) fn mark_published(
    tx: &Transaction<'_>,
    p: &PublishOutput,
    now: Timestamp,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE publish_ledger SET status = 'published', remote_id = ?2, remote_url = ?3, last_error = NULL,
             target = ?4, updated_at = ?5
         WHERE article_id = ?1",
        params![p.article_id.0, p.remote_id, p.location, p.target, ms(now)],
    )
    .map_err(map_err)?;
    Ok(())
}

pub(super) fn set_image(
    tx: &Transaction<'_>,
    article: ArticleId,
    image: &ArticleImage,
    now: Timestamp,
) -> StoreResult<()> {
    let exists: Option<i64> = tx
        .query_row("SELECT id FROM articles WHERE id = ?1", [article.0], |r| {
            r.get(0)
        })
        .optional()
        .map_err(map_err)?;
    if exists.is_none() {
        return Err(StoreError::NotFound {
            what: format!("article {article}"),
        });
    }
    tx.execute(
        "INSERT INTO article_images (article_id, source, alt_text, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (article_id) DO UPDATE SET source = excluded.source, alt_text = excluded.alt_text,
             updated_at = excluded.updated_at",
        params![article.0, image.source, image.alt_text, ms(now)],
    )
    .map_err(map_err)?;
    Ok(())
}

pub(super) fn image(c: &Connection, article: ArticleId) -> StoreResult<Option<ArticleImage>> {
    c.query_row(
        "SELECT source, alt_text FROM article_images WHERE article_id = ?1",
        [article.0],
        |r| {
            Ok(ArticleImage {
                source: r.get(0)?,
                alt_text: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(map_err)
}
