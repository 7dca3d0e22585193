//! The steps of the shared store that PostgreSQL answers its own way,
//! because several instances may share one database: which job is due for
//! a claim (under an advisory lock, the row taken `FOR UPDATE SKIP
//! LOCKED`), the budget totals a reservation reads (rows locked in key
//! order), and the locks that make site syncs and topic commits take turns.

use super::Tx;
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::sql::{get, ms};
use crate::store::*;

/// The advisory-lock key claims serialize on ("bp-claim" as ASCII).
const CLAIM_LOCK: i64 = 0x6270_2d63_6c61_696d;

/// The advisory-lock class of topic commits ("topc"); the site id is the
/// second key.
const TOPIC_LOCK: i32 = 0x746f_7063;

pub(super) fn next_claimable_job(
    tx: &mut Tx<'_>,
    req: &ClaimRequest,
    now: Timestamp,
) -> StoreResult<Option<JobId>> {
    let only_runs: Option<Vec<i64>> = req
        .only_runs
        .as_ref()
        .map(|runs| runs.iter().map(|r| r.0).collect());
    // Claims from every instance take turns here (held to commit), so the
    // counts below are exact; the rest of the queue keeps working.
    tx.exec_native("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])?;
    // The running counts are read once, in one small aggregate over the
    // running jobs (the `jobs_running` index), never per pending row: the
    // claim's cost must not hinge on planner statistics, which a bulk
    // enqueue leaves stale until autovacuum analyzes the table. Jobs that
    // finish meanwhile only make these counts conservative; none can start,
    // since starting one takes the lock we hold.
    let counts = tx.one_native(
        "WITH r AS (SELECT site_id, COUNT(*) AS n FROM jobs WHERE status = 'running' GROUP BY site_id)
         SELECT (SELECT COALESCE(SUM(n), 0) FROM r)::BIGINT,
                ARRAY(SELECT s.id FROM sites s LEFT JOIN r ON r.site_id = s.id
                      WHERE s.paused OR NOT s.enabled OR COALESCE(r.n, 0) >= s.max_concurrency)",
        &[],
    )?;
    let running: i64 = get(&counts, 0)?;
    if running >= i64::from(req.global_limit) {
        return Ok(None);
    }
    // Sites that are paused, disabled or at their own limit.
    let closed: Vec<i64> = counts.try_get(1).map_err(super::map_err)?;
    // The oldest due job of any other site. The filters beside the
    // `jobs_pending` index look unselective to the planner whatever its
    // statistics (`<> ALL` over a few sites), so it walks that index in
    // order and stops at the first row. SKIP LOCKED passes over a job
    // another transaction is finishing or cancelling right now.
    let row = match &only_runs {
        None => tx.opt_native(
            "SELECT j.id FROM jobs j
             WHERE j.status IN ('queued', 'waiting') AND j.not_before <= $1
               AND NOT (j.site_id = ANY($2::BIGINT[]))
             ORDER BY j.not_before, j.id LIMIT 1
             FOR UPDATE OF j SKIP LOCKED",
            &[&ms(now), &closed],
        )?,
        // A few named runs: their jobs are found through (run_id, stage).
        Some(runs) => tx.opt_native(
            "SELECT j.id FROM jobs j
             WHERE j.status IN ('queued', 'waiting') AND j.not_before <= $1
               AND NOT (j.site_id = ANY($2::BIGINT[])) AND j.run_id = ANY($3::BIGINT[])
             ORDER BY j.not_before, j.id LIMIT 1
             FOR UPDATE OF j SKIP LOCKED",
            &[&ms(now), &closed, runs],
        )?,
    };
    match row {
        Some(r) => Ok(Some(JobId(get(&r, 0)?))),
        None => Ok(None),
    }
}

/// Serializes with other instances syncing the sites at the same moment.
pub(super) fn lock_sites(tx: &mut Tx<'_>) -> StoreResult<()> {
    tx.exec_native("LOCK TABLE sites IN SHARE ROW EXCLUSIVE MODE", &[])?;
    Ok(())
}

/// Commits of one site's topics take turns on a transaction-scoped
/// advisory lock, so each sees the reservations committed before it.
pub(super) fn lock_topics(tx: &mut Tx<'_>, site: SiteId) -> StoreResult<()> {
    let site_key = i32::try_from(site.0).unwrap_or(i32::MAX);
    tx.exec_native(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&TOPIC_LOCK, &site_key],
    )?;
    Ok(())
}

/// Makes sure the rows exist, then locks them in key order (two
/// reservations can never deadlock) and returns their totals in the order
/// of `keys`.
pub(super) fn budget_totals(tx: &mut Tx<'_>, keys: &[String; 5]) -> StoreResult<[Money; 5]> {
    let list: Vec<&str> = keys.iter().map(String::as_str).collect();
    tx.exec_native(
        "INSERT INTO budget_totals (scope_key, counted_micros)
         SELECT k, 0 FROM unnest($1::TEXT[]) AS k ORDER BY k
         ON CONFLICT (scope_key) DO NOTHING",
        &[&list],
    )?;
    let rows = tx.query_native(
        "SELECT scope_key, counted_micros FROM budget_totals WHERE scope_key = ANY($1::TEXT[])
         ORDER BY scope_key FOR UPDATE",
        &[&list],
    )?;
    let mut out = [Money(0); 5];
    for r in &rows {
        let key: String = get(r, 0)?;
        let value: i64 = get(r, 1)?;
        for (i, k) in keys.iter().enumerate() {
            if *k == key {
                out[i] = Money(value);
            }
        }
    }
    Ok(out)
}
