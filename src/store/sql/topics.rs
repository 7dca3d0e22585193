//! Topic reservations, the same on both databases: the run's topic is
//! chosen among the candidates other runs of the site do not hold and
//! reserved, in the transaction that commits the topics stage. Commits of
//! one site's topics take turns (`Db::lock_topics`), so each sees the
//! reservations committed before it; the partial unique index is the
//! backstop. Released when the run fails for good or is cancelled, held
//! again when it is revived. The choice is `store::topic_reserve::choose`.

use super::{Db, get, ms};
use crate::domain::lifecycle::Timestamp;
use crate::store::topic_reserve::{HeldTopic, choose, topic_key};
use crate::store::*;

/// Held reservations compared per commit, newest first.
const HELD_LIMIT: i64 = 1000;

/// The candidates as committed (those other runs hold passed over), with
/// the chosen one reserved for `run`.
pub(crate) fn reserve(
    tx: &mut impl Db,
    site: SiteId,
    run: RunId,
    output: &TopicsOutput,
    now: Timestamp,
) -> StoreResult<TopicsOutput> {
    tx.lock_topics(site)?;
    // A revived topics job chooses afresh: its run's old hold goes first.
    release(tx, run, now)?;
    let held: Vec<HeldTopic> = tx
        .query(
            "SELECT run_id, keyword FROM topic_reservations
             WHERE site_id = $1 AND released_at IS NULL ORDER BY id DESC LIMIT $2",
            &[&site.0, &HELD_LIMIT],
        )?
        .iter()
        .map(|r| {
            Ok(HeldTopic {
                run: RunId(get(r, 0)?),
                keyword: get(r, 1)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    let (committed, chosen) = choose(output, &held);
    if let Some(keyword) = chosen {
        tx.exec(
            "INSERT INTO topic_reservations (site_id, run_id, topic_key, keyword, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&site.0, &run.0, &topic_key(&keyword), &keyword, &ms(now)],
        )?;
    }
    Ok(committed)
}

/// The run failed for good or was cancelled: its topic is free again.
pub(crate) fn release(tx: &mut impl Db, run: RunId, now: Timestamp) -> StoreResult<()> {
    tx.exec(
        "UPDATE topic_reservations SET released_at = $2 WHERE run_id = $1 AND released_at IS NULL",
        &[&run.0, &ms(now)],
    )?;
    Ok(())
}

/// The run is revived: it holds its topic again, unless another run took
/// it meanwhile (then it goes on with it anyway: its article is on its way).
pub(crate) fn hold_again(tx: &mut impl Db, run: RunId) -> StoreResult<()> {
    tx.exec(
        "UPDATE topic_reservations AS r SET released_at = NULL
         WHERE r.id = (SELECT MAX(id) FROM topic_reservations WHERE run_id = $1)
           AND r.released_at IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM topic_reservations h
                           WHERE h.site_id = r.site_id AND h.topic_key = r.topic_key
                             AND h.released_at IS NULL)",
        &[&run.0],
    )?;
    Ok(())
}
