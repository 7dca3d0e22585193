//! Budget reservations and LLM calls, the same on both databases. A
//! reservation reads the `budget_totals` rows of the five scopes it falls
//! in through `Db::lock_budget_totals` (the one step that differs: row locks
//! in key order on PostgreSQL, SQLite's single writer), and inserts itself
//! before the locks are released at commit: two reservations can never both
//! see room that only one of them fits in. Spend counts `actual_micros` once
//! settled, else the reserved worst case.

use super::sites::site_id;
use super::{Arg, Db, get, get_u64, ms, ts};
use crate::budget::{ScopeSpend, check_caps, window_keys};
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::*;

/// The `budget_totals` keys of the five scopes a reservation falls in, in
/// the order of [`ScopeSpend`]'s fields.
pub(crate) fn scope_keys(site: SiteId, day: &str, month: &str, article_key: &str) -> [String; 5] {
    [
        format!("global:day:{day}"),
        format!("global:month:{month}"),
        format!("site:{}:day:{day}", site.0),
        format!("site:{}:month:{month}", site.0),
        format!("article:{article_key}"),
    ]
}

/// Adds `delta` to each scope, in key order (the order the locks are taken).
fn add(tx: &mut impl Db, keys: &[String; 5], delta: i64) -> StoreResult<()> {
    if delta == 0 {
        return Ok(());
    }
    let mut sorted: Vec<&str> = keys.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    for k in sorted {
        tx.exec(
            "INSERT INTO budget_totals (scope_key, counted_micros) VALUES ($1, $2)
             ON CONFLICT (scope_key) DO UPDATE SET counted_micros = budget_totals.counted_micros + excluded.counted_micros",
            &[&k, &delta],
        )?;
    }
    Ok(())
}

pub(crate) fn reserve(
    tx: &mut impl Db,
    req: &BudgetRequest,
    now: Timestamp,
) -> StoreResult<Reservation> {
    if req.amount.micros() < 0 {
        return Err(StoreError::Conflict(format!(
            "a reservation cannot be negative ({})",
            req.amount
        )));
    }
    let site = site_id(tx, &req.site)?;
    let (day, month) = window_keys(now);
    let keys = scope_keys(site, &day, &month, &req.article_key);
    let totals = tx.lock_budget_totals(&keys)?;
    let spent = ScopeSpend {
        global_daily: totals[0],
        global_monthly: totals[1],
        site_daily: totals[2],
        site_monthly: totals[3],
        article: totals[4],
    };
    // Caps set through the API (cap_overrides) win over the config's.
    let caps = crate::store::sql::operator::apply_overrides(tx, site, &req.caps)?;
    if let Err(refusal) = check_caps(&caps, &spent, req.amount, &req.site, now) {
        return Ok(Reservation::Refused(refusal));
    }
    let row = tx.one(
        "INSERT INTO budget_reservations (site_id, job_id, run_id, article_key, day, month, reserved_micros,
             status, provider, model, purpose, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'reserved', $8, $9, $10, $11) RETURNING id",
        &[
            &site.0,
            &req.job.map(|j| j.0),
            &req.run.map(|r| r.0),
            &req.article_key,
            &day,
            &month,
            &req.amount.micros(),
            &req.provider,
            &req.model,
            &req.purpose,
            &ms(now),
        ],
    )?;
    let id = ReservationId(get(&row, 0)?);
    add(tx, &keys, req.amount.micros())?;
    Ok(Reservation::Granted(id))
}

pub(crate) fn record_call(tx: &mut impl Db, call: &NewLlmCall, now: Timestamp) -> StoreResult<i64> {
    let site: Option<i64> = match tx.opt("SELECT id FROM sites WHERE name = $1", &[&call.site])? {
        Some(r) => Some(get(&r, 0)?),
        None => None,
    };
    let cost = call.cost.micros().max(0);
    let row = tx.one(
        "INSERT INTO llm_calls (site_id, job_id, run_id, reservation_id, provider, model, purpose, input_tokens,
             output_tokens, cost_micros, latency_ms, outcome, error, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        &[
            &site,
            &call.job.map(|j| j.0),
            &call.run.map(|r| r.0),
            &call.reservation.map(|r| r.0),
            &call.provider,
            &call.model,
            &call.purpose,
            &i64::try_from(call.input_tokens).unwrap_or(i64::MAX),
            &i64::try_from(call.output_tokens).unwrap_or(i64::MAX),
            &cost,
            &i64::try_from(call.latency_ms).unwrap_or(i64::MAX),
            &call.outcome.as_str(),
            &call.error,
            &ms(now),
        ],
    )?;
    let id: i64 = get(&row, 0)?;
    if let Some(r) = call.reservation {
        // Locked, so a reservation is settled once even if two calls race.
        let open = tx.opt(
            "SELECT reserved_micros, day, month, site_id, COALESCE(article_key, '')
             FROM budget_reservations WHERE id = $1 AND status = 'reserved' FOR UPDATE",
            &[&r.0],
        )?;
        if let Some(row) = open {
            let reserved: i64 = get(&row, 0)?;
            let day: String = get(&row, 1)?;
            let month: String = get(&row, 2)?;
            let site: Option<i64> = get(&row, 3)?;
            let article: String = get(&row, 4)?;
            tx.exec(
                "UPDATE budget_reservations SET actual_micros = $2, status = 'settled', settled_at = $3 WHERE id = $1",
                &[&r.0, &cost, &ms(now)],
            )?;
            let keys = scope_keys(SiteId(site.unwrap_or(0)), &day, &month, &article);
            add(tx, &keys, cost - reserved)?;
        }
    }
    Ok(id)
}

pub(crate) fn list_calls(
    tx: &mut impl Db,
    run: Option<RunId>,
    limit: u32,
) -> StoreResult<Vec<LlmCallRecord>> {
    let rows = tx.query(
        "SELECT l.id, s.name, l.job_id, l.run_id, l.provider, l.model, l.purpose, l.input_tokens, l.output_tokens,
                l.cost_micros, l.latency_ms, l.outcome, l.error, l.reservation_id, l.created_at
         FROM llm_calls l LEFT JOIN sites s ON s.id = l.site_id
         WHERE (CAST($1 AS BIGINT) IS NULL OR l.run_id = $1) ORDER BY l.id DESC LIMIT $2",
        &[&run.map(|r| r.0), &i64::from(limit)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(LlmCallRecord {
                id: get(r, 0)?,
                site: get(r, 1)?,
                job_id: get::<Option<i64>>(r, 2)?.map(JobId),
                run_id: get::<Option<i64>>(r, 3)?.map(RunId),
                provider: get(r, 4)?,
                model: get(r, 5)?,
                purpose: get(r, 6)?,
                input_tokens: get_u64(r, 7)?,
                output_tokens: get_u64(r, 8)?,
                cost: Money(get(r, 9)?),
                latency_ms: get_u64(r, 10)?,
                outcome: get(r, 11)?,
                error: get(r, 12)?,
                reservation_id: get::<Option<i64>>(r, 13)?.map(ReservationId),
                created_at: ts(get(r, 14)?),
            })
        })
        .collect()
}

/// Sums over reservations: settled cost, and the worst case of unsettled
/// ones. SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
const SPEND_SUMS: &str = "SELECT CAST(COALESCE(SUM(CASE WHEN actual_micros IS NULL THEN 0 ELSE actual_micros END), 0) AS BIGINT),
        CAST(COALESCE(SUM(CASE WHEN actual_micros IS NULL THEN reserved_micros ELSE 0 END), 0) AS BIGINT)
     FROM budget_reservations";

fn spend_line(tx: &mut impl Db, sql: &str, args: &[&dyn Arg]) -> StoreResult<SpendLine> {
    let r = tx.one(sql, args)?;
    Ok(SpendLine {
        settled: Money(get(&r, 0)?),
        unsettled: Money(get(&r, 1)?),
    })
}

pub(crate) fn report(tx: &mut impl Db, now: Timestamp) -> StoreResult<SpendReport> {
    let (day, month) = window_keys(now);
    let global_today = spend_line(tx, &format!("{SPEND_SUMS} WHERE day = $1"), &[&day])?;
    let global_month = spend_line(tx, &format!("{SPEND_SUMS} WHERE month = $1"), &[&month])?;
    let site_rows: Vec<(i64, String)> = tx
        .query(
            "SELECT DISTINCT s.id, s.name FROM budget_reservations b JOIN sites s ON s.id = b.site_id
             WHERE b.month = $1 ORDER BY s.name",
            &[&month],
        )?
        .iter()
        .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
        .collect::<StoreResult<_>>()?;
    let mut sites = Vec::new();
    for (id, name) in site_rows {
        sites.push(SiteSpend {
            site: name,
            today: spend_line(
                tx,
                &format!("{SPEND_SUMS} WHERE day = $1 AND site_id = $2"),
                &[&day, &id],
            )?,
            month: spend_line(
                tx,
                &format!("{SPEND_SUMS} WHERE month = $1 AND site_id = $2"),
                &[&month, &id],
            )?,
        });
    }
    let day_start = ms(crate::budget::next_day_start(now)) - 86_400_000;
    let month_start = ms(month_start(now));
    let models = tx
        .query(
            "SELECT provider, model,
                    CAST(SUM(CASE WHEN created_at >= $2 THEN 1 ELSE 0 END) AS BIGINT),
                    CAST(SUM(CASE WHEN created_at >= $2 THEN cost_micros ELSE 0 END) AS BIGINT),
                    COUNT(*), CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
                    CAST(SUM(cost_micros) AS BIGINT)
             FROM llm_calls WHERE created_at >= $1 GROUP BY provider, model ORDER BY provider, model",
            &[&month_start, &day_start],
        )?
        .iter()
        .map(|r| {
            Ok(ModelSpend {
                provider: get(r, 0)?,
                model: get(r, 1)?,
                calls_today: get_u64(r, 2)?,
                cost_today: Money(get(r, 3)?),
                calls_month: get_u64(r, 4)?,
                input_tokens_month: get_u64(r, 5)?,
                output_tokens_month: get_u64(r, 6)?,
                cost_month: Money(get(r, 7)?),
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(SpendReport {
        day,
        month,
        global_today,
        global_month,
        sites,
        models,
    })
}

fn month_start(now: Timestamp) -> Timestamp {
    use chrono::{Datelike, TimeZone};
    chrono::Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}
