//! The operator surfaces, the same on both databases: API tokens, cap
//! overrides, cost breakdowns, per-site queues and the counts behind
//! /metrics. Writes that another PostgreSQL instance could race rely on the
//! database: a token name is claimed by `INSERT … ON CONFLICT DO NOTHING`
//! on its UNIQUE column, an override is an upsert on its key, and a
//! revocation locks its row (SQLite has one writer anyway).

use super::sites::{insert_event, site_id};
use super::{Db, Row, collect, get, get_ts, get_ts_opt, get_u64, ms};
use crate::budget::{BudgetCaps, CapScope};
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::*;

const TOKEN_COLS: &str =
    "SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at FROM api_tokens";

fn token_row(r: &impl Row) -> StoreResult<ApiTokenRecord> {
    let role: String = get(r, 2)?;
    Ok(ApiTokenRecord {
        id: get(r, 0)?,
        name: get(r, 1)?,
        role: TokenRole::parse(&role)
            .ok_or_else(|| StoreError::Backend(format!("unknown token role \"{role}\"")))?,
        token_hash: get(r, 3)?,
        created_at: get_ts(r, 4)?,
        last_used_at: get_ts_opt(r, 5)?,
        revoked_at: get_ts_opt(r, 6)?,
    })
}

fn tokens_where(tx: &mut impl Db, filter: &str) -> StoreResult<Vec<ApiTokenRecord>> {
    collect(
        tx.query(&format!("{TOKEN_COLS} {filter} ORDER BY name"), &[])?,
        token_row,
    )
}

pub(crate) fn list_tokens(tx: &mut impl Db) -> StoreResult<Vec<ApiTokenRecord>> {
    tokens_where(tx, "")
}

pub(crate) fn active_tokens(tx: &mut impl Db) -> StoreResult<Vec<ApiTokenRecord>> {
    tokens_where(tx, "WHERE revoked_at IS NULL")
}

pub(crate) fn create_token(
    tx: &mut impl Db,
    t: &NewApiToken,
    now: Timestamp,
) -> StoreResult<ApiTokenRecord> {
    // The UNIQUE name decides between two instances creating the same name:
    // the second one waits for the first's commit, then inserts nothing.
    let inserted = tx.opt(
        "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING RETURNING id",
        &[&t.name, &t.role.as_str(), &t.token_hash, &ms(now)],
    )?;
    let Some(row) = inserted else {
        return Err(StoreError::Conflict(format!(
            "a token named \"{}\" already exists (names stay taken after revocation); choose another name",
            t.name
        )));
    };
    let id: i64 = get(&row, 0)?;
    insert_event(
        tx,
        &NewEvent {
            site: None,
            run_id: None,
            job_id: None,
            kind: "token.created".into(),
            actor: "cli".into(),
            message: format!("API token \"{}\" created ({})", t.name, t.role.as_str()),
        },
        now,
    )?;
    Ok(ApiTokenRecord {
        id,
        name: t.name.clone(),
        role: t.role,
        token_hash: t.token_hash.clone(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    })
}

pub(crate) fn revoke_token(
    tx: &mut impl Db,
    name: &str,
    actor: &str,
    now: Timestamp,
) -> StoreResult<()> {
    // The UPDATE locks the row: of two concurrent revocations the second
    // sees the first's time and keeps it.
    let n = tx.exec(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE name = $1",
        &[&name, &ms(now)],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound {
            what: format!("API token \"{name}\""),
        });
    }
    insert_event(
        tx,
        &NewEvent {
            site: None,
            run_id: None,
            job_id: None,
            kind: "token.revoked".into(),
            actor: actor.into(),
            message: format!("API token \"{name}\" revoked"),
        },
        now,
    )
}

pub(crate) fn touch_token(tx: &mut impl Db, id: i64, now: Timestamp) -> StoreResult<()> {
    tx.exec(
        "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
        &[&id, &ms(now)],
    )?;
    Ok(())
}

fn cap_scope(value: &str) -> StoreResult<CapScope> {
    CapScope::parse(value)
        .ok_or_else(|| StoreError::Backend(format!("unknown cap scope \"{value}\"")))
}

pub(crate) fn overrides(tx: &mut impl Db) -> StoreResult<Vec<CapOverride>> {
    tx.query(
        "SELECT o.scope, s.name, o.cap_micros, o.updated_by, o.updated_at
         FROM cap_overrides o LEFT JOIN sites s ON s.id = o.site_id ORDER BY o.scope_key",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(CapOverride {
            scope: cap_scope(&get::<String>(r, 0)?)?,
            site: get(r, 1)?,
            cap: Money(get(r, 2)?),
            updated_by: get(r, 3)?,
            updated_at: get_ts(r, 4)?,
        })
    })
    .collect()
}

/// The caps of a reservation with the overrides for its site applied. Read
/// in the reservation's transaction, after its scope rows are locked, so it
/// sees every override committed before the reservation could proceed.
pub(crate) fn apply_overrides(
    tx: &mut impl Db,
    site: SiteId,
    caps: &BudgetCaps,
) -> StoreResult<BudgetCaps> {
    let mut out = *caps;
    let rows = tx.query(
        "SELECT scope, cap_micros FROM cap_overrides WHERE site_id IS NULL OR site_id = $1",
        &[&site.0],
    )?;
    for r in &rows {
        let scope: String = get(r, 0)?;
        if let Some(scope) = CapScope::parse(&scope) {
            out.set(scope, Some(Money(get(r, 1)?)));
        }
    }
    Ok(out)
}

pub(crate) fn set_overrides(
    tx: &mut impl Db,
    changes: &[CapChange],
    actor: &str,
    now: Timestamp,
) -> StoreResult<Vec<CapOverride>> {
    for ch in changes {
        let site = match ch.site_to_look_up()? {
            Some(name) => Some(site_id(tx, name)?),
            None => None,
        };
        let key = ch.key(site);
        match ch.checked_cap()? {
            Some(cap) => {
                tx.exec(
                    "INSERT INTO cap_overrides (scope_key, scope, site_id, cap_micros, updated_by, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (scope_key) DO UPDATE SET cap_micros = excluded.cap_micros,
                         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    &[
                        &key,
                        &ch.scope.as_str(),
                        &site.map(|s| s.0),
                        &cap.micros(),
                        &actor,
                        &ms(now),
                    ],
                )?;
            }
            None => {
                tx.exec("DELETE FROM cap_overrides WHERE scope_key = $1", &[&key])?;
            }
        }
        insert_event(tx, &ch.event(actor), now)?;
    }
    overrides(tx)
}

fn count(r: &impl Row, idx: usize) -> StoreResult<u64> {
    get_u64(r, idx)
}

pub(crate) fn cost_lines(tx: &mut impl Db, since: Timestamp) -> StoreResult<Vec<CostLine>> {
    // Days are UTC: created_at is unix milliseconds, and whole days since
    // the epoch are the same integer division in both databases (no date
    // function is common to both). SUM of BIGINT is NUMERIC on PostgreSQL:
    // cast.
    let rows = tx.query(
        "SELECT l.created_at / 86400000 AS day, s.name, l.provider, l.model,
                COUNT(*), CAST(SUM(l.input_tokens) AS BIGINT), CAST(SUM(l.output_tokens) AS BIGINT),
                CAST(SUM(l.cost_micros) AS BIGINT)
         FROM llm_calls l LEFT JOIN sites s ON s.id = l.site_id
         WHERE l.created_at >= $1
         GROUP BY day, s.name, l.provider, l.model
         ORDER BY day DESC, s.name, l.provider, l.model",
        &[&ms(since)],
    )?;
    collect(rows, |r| {
        Ok(CostLine {
            day: utc_day(get(r, 0)?),
            site: get(r, 1)?,
            provider: get(r, 2)?,
            model: get(r, 3)?,
            calls: count(r, 4)?,
            input_tokens: count(r, 5)?,
            output_tokens: count(r, 6)?,
            cost: Money(get(r, 7)?),
        })
    })
}

/// Days since the epoch as `YYYY-MM-DD` (UTC).
fn utc_day(days: i64) -> String {
    chrono::DateTime::from_timestamp(days.saturating_mul(86_400), 0)
        .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
}

pub(crate) fn site_queues(tx: &mut impl Db) -> StoreResult<Vec<SiteQueue>> {
    let mut sites: Vec<(i64, SiteQueue)> = tx
        .query("SELECT id, name FROM sites ORDER BY name", &[])?
        .iter()
        .map(|r| {
            Ok((
                get(r, 0)?,
                SiteQueue {
                    site: get(r, 1)?,
                    ..Default::default()
                },
            ))
        })
        .collect::<StoreResult<_>>()?;
    // Pending and running jobs come from the partial indexes; dead jobs are
    // few (an operator retries or cancels them).
    let counts = tx.query(
        "SELECT site_id, status, COUNT(*) FROM jobs
         WHERE status IN ('queued', 'waiting', 'running', 'dead') GROUP BY site_id, status",
        &[],
    )?;
    for r in &counts {
        let site: i64 = get(r, 0)?;
        let status: String = get(r, 1)?;
        let n = count(r, 2)?;
        if let Some((_, q)) = sites.iter_mut().find(|(id, _)| *id == site) {
            match status.as_str() {
                "queued" => q.queued = n,
                "waiting" => q.waiting = n,
                "running" => q.running = n,
                _ => q.dead = n,
            }
        }
    }
    // The latest failed run of each site: one indexed lookup per site (a
    // handful), the same statement on both databases.
    for (id, q) in &mut sites {
        let last = tx.opt(
            "SELECT error, finished_at, created_at FROM runs
             WHERE site_id = $1 AND error IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&*id],
        )?;
        if let Some(r) = last {
            q.last_error = Some(get(&r, 0)?);
            q.last_error_at = Some(match get_ts_opt(&r, 1)? {
                Some(at) => at,
                None => get_ts(&r, 2)?,
            });
        }
    }
    Ok(sites.into_iter().map(|(_, q)| q).collect())
}

fn pairs(tx: &mut impl Db, sql: &str) -> StoreResult<Vec<(String, u64)>> {
    collect(tx.query(sql, &[])?, |r| Ok((get(r, 0)?, count(r, 1)?)))
}

pub(crate) fn metrics_snapshot(tx: &mut impl Db) -> StoreResult<MetricsSnapshot> {
    let llm = tx
        .query(
            "SELECT provider, model, outcome, COUNT(*), CAST(SUM(input_tokens) AS BIGINT),
                    CAST(SUM(output_tokens) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT)
             FROM llm_calls GROUP BY provider, model, outcome ORDER BY provider, model, outcome",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(LlmUsageTotal {
                provider: get(r, 0)?,
                model: get(r, 1)?,
                outcome: get(r, 2)?,
                calls: count(r, 3)?,
                input_tokens: count(r, 4)?,
                output_tokens: count(r, 5)?,
                cost: Money(get(r, 6)?),
            })
        })
        .collect::<StoreResult<_>>()?;
    let row = tx.one(
        "SELECT MAX(created_at) FROM backups WHERE verify_ok IS NULL OR verify_ok = TRUE",
        &[],
    )?;
    let last_backup_at = get_ts_opt(&row, 0)?;
    Ok(MetricsSnapshot {
        runs_by_status: pairs(
            tx,
            "SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status",
        )?,
        llm,
        publish_by_status: pairs(
            tx,
            "SELECT status, COUNT(*) FROM publish_ledger GROUP BY status ORDER BY status",
        )?,
        sources_failing: pairs(
            tx,
            "SELECT s.name, COUNT(*) FROM sources x JOIN sites s ON s.id = x.site_id
             WHERE x.consecutive_failures > 0 GROUP BY s.name ORDER BY s.name",
        )?,
        sources_total: pairs(
            tx,
            "SELECT s.name, COUNT(*) FROM sources x JOIN sites s ON s.id = x.site_id
             GROUP BY s.name ORDER BY s.name",
        )?,
        last_backup_at,
    })
}
