//! The steps of the shared store that SQLite answers its own way: which job
//! is due for a claim, and the budget totals a reservation reads. Nothing
//! here locks: every write runs in an IMMEDIATE transaction, which holds
//! the database's only write lock until commit, so what is read cannot
//! change before the transaction ends.

use super::dialect::Lite;
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::sql::{Db, get, ms};
use crate::store::*;

/// The oldest due job of a site that is enabled, not paused and below its
/// own limit, while the global limit allows. Counting running jobs per
/// pending row is cheap here (one process, the partial index on pending
/// jobs keeps the scan short); `only_runs` is passed as a JSON array, as
/// SQLite has no array parameters.
pub(super) fn next_claimable_job(
    db: &mut Lite<'_>,
    req: &ClaimRequest,
    now: Timestamp,
) -> StoreResult<Option<JobId>> {
    let running: i64 = get(
        &db.one("SELECT COUNT(*) FROM jobs WHERE status = 'running'", &[])?,
        0,
    )?;
    if running >= i64::from(req.global_limit) {
        return Ok(None);
    }
    let only_runs = match &req.only_runs {
        Some(runs) => Some(
            serde_json::to_string(&runs.iter().map(|r| r.0).collect::<Vec<_>>())
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        ),
        None => None,
    };
    let row = db.opt(
        "SELECT j.id FROM jobs j JOIN sites s ON s.id = j.site_id
         WHERE j.status IN ('queued', 'waiting') AND j.not_before <= $1
           AND s.paused = 0 AND s.enabled = 1
           AND (SELECT COUNT(*) FROM jobs r WHERE r.site_id = j.site_id AND r.status = 'running') < s.max_concurrency
           AND ($2 IS NULL OR j.run_id IN (SELECT value FROM json_each($2)))
         ORDER BY j.not_before, j.id LIMIT 1",
        &[&ms(now), &only_runs],
    )?;
    match row {
        Some(r) => Ok(Some(JobId(get(&r, 0)?))),
        None => Ok(None),
    }
}

/// The totals of the scopes, 0 where a scope has no row yet.
pub(super) fn budget_totals(db: &mut Lite<'_>, keys: &[String; 5]) -> StoreResult<[Money; 5]> {
    let mut out = [Money(0); 5];
    for (i, key) in keys.iter().enumerate() {
        if let Some(r) = db.opt(
            "SELECT counted_micros FROM budget_totals WHERE scope_key = $1",
            &[key],
        )? {
            out[i] = Money(get(&r, 0)?);
        }
    }
    Ok(out)
}
