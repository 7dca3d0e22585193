//! Topic reservations on SQLite: the run's topic is chosen among the
//! candidates other runs of the site do not hold and reserved, in the
//! transaction that commits the topics stage (SQLite's single writer
//! serializes them); released when the run fails for good or is
//! cancelled, held again when it is revived. The choice is
//! `store::topic_reserve::choose`, shared with PostgreSQL.

use rusqlite::{Transaction, params};

use super::{CachedExt, map_err, ms};
use crate::domain::lifecycle::Timestamp;
use crate::store::topic_reserve::{HeldTopic, choose, topic_key};
use crate::store::*;

/// Held reservations compared per commit, newest first.
const HELD_LIMIT: i64 = 1000;

/// The candidates as committed (those other runs hold passed over), with
/// the chosen one reserved for `run`.
pub(super) fn reserve(
    tx: &Transaction<'_>,
    site: SiteId,
    run: RunId,
    output: &TopicsOutput,
    now: Timestamp,
) -> StoreResult<TopicsOutput> {
    // A revived topics job chooses afresh: its run's old hold goes first.
    release(tx, run, now)?;
    let mut stmt = tx
        .prepare_cached(
            "SELECT run_id, keyword FROM topic_reservations
             WHERE site_id = ?1 AND released_at IS NULL ORDER BY id DESC LIMIT ?2",
        )
        .map_err(map_err)?;
    let held: Vec<HeldTopic> = stmt
        .query_map(params![site.0, HELD_LIMIT], |r| {
            Ok(HeldTopic {
                run: RunId(r.get(0)?),
                keyword: r.get(1)?,
            })
        })
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    let (committed, chosen) = choose(output, &held);
    if let Some(keyword) = chosen {
        tx.exec_cached(
            "INSERT INTO topic_reservations (site_id, run_id, topic_key, keyword, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![site.0, run.0, topic_key(&keyword), keyword, ms(now)],
        )
        .map_err(map_err)?;
    }
    Ok(committed)
}

/// The run failed for good or was cancelled: its topic is free again.
pub(super) fn release(tx: &Transaction<'_>, run: RunId, now: Timestamp) -> StoreResult<()> {
    tx.exec_cached(
        "UPDATE topic_reservations SET released_at = ?2 WHERE run_id = ?1 AND released_at IS NULL",
        params![run.0, ms(now)],
    )
    .map_err(map_err)?;
    Ok(())
}

/// The run is revived: it holds its topic again, unless another run took
/// it meanwhile (then it goes on with it anyway: its article is on its way).
pub(super) fn hold_again(tx: &Transaction<'_>, run: RunId) -> StoreResult<()> {
    tx.exec_cached(
        "UPDATE topic_reservations SET released_at = NULL
         WHERE id = (SELECT MAX(id) FROM topic_reservations WHERE run_id = ?1)
           AND released_at IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM topic_reservations h
                           WHERE h.site_id = topic_reservations.site_id
                             AND h.topic_key = topic_reservations.topic_key
                             AND h.released_at IS NULL)",
        [run.0],
    )
    .map_err(map_err)?;
    Ok(())
}
