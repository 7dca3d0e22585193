//! Budget reservations and LLM calls on SQLite. A reservation reads the
//! spend of every scope it falls in and inserts itself inside one IMMEDIATE
//! transaction (SQLite has one writer, so two reservations cannot both see
//! the same room). Spend counts `actual_micros` once settled, else the
//! reserved worst case.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{map_err, ms, site_id, ts};
use crate::budget::{ScopeSpend, check_caps, window_keys};
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::*;

/// The `budget_totals` keys of the five scopes a reservation falls in, in
/// the order of [`ScopeSpend`]'s fields.
fn scope_keys(site: SiteId, day: &str, month: &str, article_key: &str) -> [String; 5] {
    [
        format!("global:day:{day}"),
        format!("global:month:{month}"),
        format!("site:{}:day:{day}", site.0),
        format!("site:{}:month:{month}", site.0),
        format!("article:{article_key}"),
    ]
}

fn total(tx: &Connection, key: &str) -> StoreResult<Money> {
    tx.query_row(
        "SELECT counted_micros FROM budget_totals WHERE scope_key = ?1",
        [key],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map_err(map_err)
    .map(|v| Money(v.unwrap_or(0)))
}

fn add(tx: &Connection, keys: &[String; 5], delta: i64) -> StoreResult<()> {
    if delta == 0 {
        return Ok(());
    }
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO budget_totals (scope_key, counted_micros) VALUES (?1, ?2)
             ON CONFLICT (scope_key) DO UPDATE SET counted_micros = budget_totals.counted_micros + excluded.counted_micros",
        )
        .map_err(map_err)?;
    for k in keys {
        stmt.execute(params![k, delta]).map_err(map_err)?;
    }
    Ok(())
}

pub(super) fn reserve(
    tx: &Transaction<'_>,
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
    let spent = ScopeSpend {
        global_daily: total(tx, &keys[0])?,
        global_monthly: total(tx, &keys[1])?,
        site_daily: total(tx, &keys[2])?,
        site_monthly: total(tx, &keys[3])?,
        article: total(tx, &keys[4])?,
    };
    // Caps set through the API (cap_overrides) win over the config's.
    let caps = crate::store::sql::operator::apply_overrides(&mut super::Lite(tx), site, &req.caps)?;
    let c = &caps;
    if let Err(refusal) = check_caps(c, &spent, req.amount, &req.site, now) {
        return Ok(Reservation::Refused(refusal));
    }
    tx.execute(
        "INSERT INTO budget_reservations (site_id, job_id, run_id, article_key, day, month, reserved_micros,
             status, provider, model, purpose, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'reserved', ?8, ?9, ?10, ?11)",
        params![
            site.0,
            req.job.map(|j| j.0),
            req.run.map(|r| r.0),
            req.article_key,
            day,
            month,
            req.amount.micros(),
            req.provider,
            req.model,
            req.purpose,
            ms(now)
        ],
    )
    .map_err(map_err)?;
    let id = ReservationId(tx.last_insert_rowid());
    add(tx, &keys, req.amount.micros())?;
    Ok(Reservation::Granted(id))
}

pub(super) fn record_call(
    tx: &Transaction<'_>,
    call: &NewLlmCall,
    now: Timestamp,
) -> StoreResult<i64> {
    let site: Option<i64> = tx
        .query_row("SELECT id FROM sites WHERE name = ?1", [&call.site], |r| {
            r.get(0)
        })
        .optional()
        .map_err(map_err)?;
    let cost = call.cost.micros().max(0);
    tx.execute(
        "INSERT INTO llm_calls (site_id, job_id, run_id, reservation_id, provider, model, purpose, input_tokens,
             output_tokens, cost_micros, latency_ms, outcome, error, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            site,
            call.job.map(|j| j.0),
            call.run.map(|r| r.0),
            call.reservation.map(|r| r.0),
            call.provider,
            call.model,
            call.purpose,
            i64::try_from(call.input_tokens).unwrap_or(i64::MAX),
            i64::try_from(call.output_tokens).unwrap_or(i64::MAX),
            cost,
            i64::try_from(call.latency_ms).unwrap_or(i64::MAX),
            call.outcome.as_str(),
            call.error,
            ms(now)
        ],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
    if let Some(r) = call.reservation {
        let open: Option<(i64, String, String, Option<i64>, String)> = tx
            .query_row(
                "SELECT reserved_micros, day, month, site_id, COALESCE(article_key, '')
                 FROM budget_reservations WHERE id = ?1 AND status = 'reserved'",
                [r.0],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )
            .optional()
            .map_err(map_err)?;
        if let Some((reserved, day, month, site, article)) = open {
            tx.execute(
                "UPDATE budget_reservations SET actual_micros = ?2, status = 'settled', settled_at = ?3 WHERE id = ?1",
                params![r.0, cost, ms(now)],
            )
            .map_err(map_err)?;
            let keys = scope_keys(SiteId(site.unwrap_or(0)), &day, &month, &article);
            add(tx, &keys, cost - reserved)?;
        }
    }
    Ok(id)
}

pub(super) fn list_calls(
    c: &Connection,
    run: Option<RunId>,
    limit: u32,
) -> StoreResult<Vec<LlmCallRecord>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT l.id, s.name, l.job_id, l.run_id, l.provider, l.model, l.purpose, l.input_tokens, l.output_tokens,
                    l.cost_micros, l.latency_ms, l.outcome, l.error, l.reservation_id, l.created_at
             FROM llm_calls l LEFT JOIN sites s ON s.id = l.site_id
             WHERE (?1 IS NULL OR l.run_id = ?1) ORDER BY l.id DESC LIMIT ?2",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map(params![run.map(|r| r.0), limit], |r| {
            Ok(LlmCallRecord {
                id: r.get(0)?,
                site: r.get(1)?,
                job_id: r.get::<_, Option<i64>>(2)?.map(JobId),
                run_id: r.get::<_, Option<i64>>(3)?.map(RunId),
                provider: r.get(4)?,
                model: r.get(5)?,
                purpose: r.get(6)?,
                input_tokens: r.get::<_, i64>(7)?.max(0) as u64,
                output_tokens: r.get::<_, i64>(8)?.max(0) as u64,
                cost: Money(r.get(9)?),
                latency_ms: r.get::<_, i64>(10)?.max(0) as u64,
                outcome: r.get(11)?,
                error: r.get(12)?,
                reservation_id: r.get::<_, Option<i64>>(13)?.map(ReservationId),
                created_at: ts(r.get(14)?),
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

fn spend_line(
    c: &Connection,
    condition: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<SpendLine> {
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN actual_micros IS NULL THEN 0 ELSE actual_micros END), 0),
                COALESCE(SUM(CASE WHEN actual_micros IS NULL THEN reserved_micros ELSE 0 END), 0)
         FROM budget_reservations WHERE {condition}"
    );
    c.query_row(&sql, args, |r| {
        Ok(SpendLine {
            settled: Money(r.get(0)?),
            unsettled: Money(r.get(1)?),
        })
    })
    .map_err(map_err)
}

pub(super) fn report(c: &Connection, now: Timestamp) -> StoreResult<SpendReport> {
    let (day, month) = window_keys(now);
    let global_today = spend_line(c, "day = ?1", &[&day])?;
    let global_month = spend_line(c, "month = ?1", &[&month])?;
    let mut stmt = c
        .prepare_cached(
            "SELECT DISTINCT s.id, s.name FROM budget_reservations b JOIN sites s ON s.id = b.site_id
             WHERE b.month = ?1 ORDER BY s.name",
        )
        .map_err(map_err)?;
    let site_rows: Vec<(i64, String)> = stmt
        .query_map([&month], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    let mut sites = Vec::new();
    for (id, name) in site_rows {
        sites.push(SiteSpend {
            site: name,
            today: spend_line(c, "day = ?1 AND site_id = ?2", &[&day, &id])?,
            month: spend_line(c, "month = ?1 AND site_id = ?2", &[&month, &id])?,
        });
    }
    let day_start = ms(crate::budget::next_day_start(now)) - 86_400_000;
    let month_start = ms(month_start(now));
    let mut stmt = c
        .prepare_cached(
            "SELECT provider, model,
                    SUM(CASE WHEN created_at >= ?2 THEN 1 ELSE 0 END),
                    SUM(CASE WHEN created_at >= ?2 THEN cost_micros ELSE 0 END),
                    COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_micros)
             FROM llm_calls WHERE created_at >= ?1 GROUP BY provider, model ORDER BY provider, model",
        )
        .map_err(map_err)?;
    let models = stmt
        .query_map(params![month_start, day_start], |r| {
            Ok(ModelSpend {
                provider: r.get(0)?,
                model: r.get(1)?,
                calls_today: r.get::<_, i64>(2)?.max(0) as u64,
                cost_today: Money(r.get(3)?),
                calls_month: r.get::<_, i64>(4)?.max(0) as u64,
                input_tokens_month: r.get::<_, i64>(5)?.max(0) as u64,
                output_tokens_month: r.get::<_, i64>(6)?.max(0) as u64,
                cost_month: Money(r.get(7)?),
            })
        })
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
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
