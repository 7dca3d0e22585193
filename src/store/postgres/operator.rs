//! The operator surfaces on PostgreSQL: API tokens, cap overrides, paged
//! jobs, cost breakdowns, per-site queues and the counts behind /metrics.
//! Same meaning as `sqlite/operator.rs`. Writes that another instance could
//! race rely on the database: a token name is claimed by `INSERT … ON
//! CONFLICT DO NOTHING` on its UNIQUE column, an override is an upsert on
//! its key, and a revocation locks its row.

use ::postgres::Row;

use super::reads::{JOB_COLS, job_row};
use super::{Param, Tx, get, get_ts, get_ts_opt, insert_event, ms, params, site_id};
use crate::budget::{BudgetCaps, CapScope};
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::*;

const TOKEN_COLS: &str =
    "SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at FROM api_tokens";

fn token_row(r: &Row) -> StoreResult<ApiTokenRecord> {
    let role: &str = get(r, 2)?;
    Ok(ApiTokenRecord {
        id: get(r, 0)?,
        name: get(r, 1)?,
        role: TokenRole::parse(role)
            .ok_or_else(|| StoreError::Backend(format!("unknown token role \"{role}\"")))?,
        token_hash: get(r, 3)?,
        created_at: get_ts(r, 4)?,
        last_used_at: get_ts_opt(r, 5)?,
        revoked_at: get_ts_opt(r, 6)?,
    })
}

fn tokens_where(tx: &mut Tx<'_>, filter: &str) -> StoreResult<Vec<ApiTokenRecord>> {
    tx.query(&format!("{TOKEN_COLS} {filter} ORDER BY name"), &[])?
        .iter()
        .map(token_row)
        .collect()
}

pub(super) fn list_tokens(tx: &mut Tx<'_>) -> StoreResult<Vec<ApiTokenRecord>> {
    tokens_where(tx, "")
}

pub(super) fn active_tokens(tx: &mut Tx<'_>) -> StoreResult<Vec<ApiTokenRecord>> {
    tokens_where(tx, "WHERE revoked_at IS NULL")
}

pub(super) fn create_token(
    tx: &mut Tx<'_>,
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

pub(super) fn revoke_token(
    tx: &mut Tx<'_>,
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

pub(super) fn touch_token(tx: &mut Tx<'_>, id: i64, now: Timestamp) -> StoreResult<()> {
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

pub(super) fn overrides(tx: &mut Tx<'_>) -> StoreResult<Vec<CapOverride>> {
    tx.query(
        "SELECT o.scope, s.name, o.cap_micros, o.updated_by, o.updated_at
         FROM cap_overrides o LEFT JOIN sites s ON s.id = o.site_id ORDER BY o.scope_key",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(CapOverride {
            scope: cap_scope(get(r, 0)?)?,
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
pub(super) fn apply_overrides(
    tx: &mut Tx<'_>,
    site: SiteId,
    caps: &BudgetCaps,
) -> StoreResult<BudgetCaps> {
    let mut out = *caps;
    let rows = tx.query(
        "SELECT scope, cap_micros FROM cap_overrides WHERE site_id IS NULL OR site_id = $1",
        &[&site.0],
    )?;
    for r in &rows {
        let scope: &str = get(r, 0)?;
        if let Some(scope) = CapScope::parse(scope) {
            out.set(scope, Some(Money(get(r, 1)?)));
        }
    }
    Ok(out)
}

pub(super) fn set_overrides(
    tx: &mut Tx<'_>,
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

pub(super) fn list_jobs_page(tx: &mut Tx<'_>, f: &JobFilter) -> StoreResult<Vec<JobRecord>> {
    let mut w = Conditions::<Param>::new('$');
    if let Some(site) = &f.site {
        w.and("s.name =", Box::new(site.clone()));
    }
    if let Some(run) = f.run {
        w.and("j.run_id =", Box::new(run.0));
    }
    if let Some(status) = f.status {
        w.and("j.status =", Box::new(status.as_str()));
    }
    if let Some(before) = f.before {
        w.and("j.id <", Box::new(before.0));
    }
    let (sql, values) = w.query(JOB_COLS, "j.id DESC", Box::new(i64::from(f.limit)));
    tx.query(&sql, &params(&values))?
        .iter()
        .map(job_row)
        .collect()
}

fn count(r: &Row, idx: usize) -> StoreResult<u64> {
    Ok(get::<i64>(r, idx)?.max(0) as u64)
}

pub(super) fn cost_lines(tx: &mut Tx<'_>, since: Timestamp) -> StoreResult<Vec<CostLine>> {
    // Days are UTC: created_at is unix milliseconds, and a TIMESTAMP without
    // time zone ignores the session's zone. SUM of BIGINT is NUMERIC: cast.
    tx.query(
        "SELECT to_char(TIMESTAMP 'epoch' + (l.created_at / 1000) * INTERVAL '1 second', 'YYYY-MM-DD') AS day,
                s.name, l.provider, l.model,
                COUNT(*), SUM(l.input_tokens)::BIGINT, SUM(l.output_tokens)::BIGINT, SUM(l.cost_micros)::BIGINT
         FROM llm_calls l LEFT JOIN sites s ON s.id = l.site_id
         WHERE l.created_at >= $1
         GROUP BY day, s.name, l.provider, l.model
         ORDER BY day DESC, s.name, l.provider, l.model",
        &[&ms(since)],
    )?
    .iter()
    .map(|r| {
        Ok(CostLine {
            day: get(r, 0)?,
            site: get(r, 1)?,
            provider: get(r, 2)?,
            model: get(r, 3)?,
            calls: count(r, 4)?,
            input_tokens: count(r, 5)?,
            output_tokens: count(r, 6)?,
            cost: Money(get(r, 7)?),
        })
    })
    .collect()
}

pub(super) fn site_queues(tx: &mut Tx<'_>) -> StoreResult<Vec<SiteQueue>> {
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
        let status: &str = get(r, 1)?;
        let n = count(r, 2)?;
        if let Some((_, q)) = sites.iter_mut().find(|(id, _)| *id == site) {
            match status {
                "queued" => q.queued = n,
                "waiting" => q.waiting = n,
                "running" => q.running = n,
                _ => q.dead = n,
            }
        }
    }
    // The latest failed run of each site, in one statement.
    let last = tx.query(
        "SELECT DISTINCT ON (site_id) site_id, error, finished_at, created_at FROM runs
         WHERE error IS NOT NULL ORDER BY site_id, created_at DESC, id DESC",
        &[],
    )?;
    for r in &last {
        let site: i64 = get(r, 0)?;
        if let Some((_, q)) = sites.iter_mut().find(|(id, _)| *id == site) {
            let finished: Option<Timestamp> = get_ts_opt(r, 2)?;
            q.last_error = Some(get(r, 1)?);
            q.last_error_at = Some(match finished {
                Some(at) => at,
                None => get_ts(r, 3)?,
            });
        }
    }
    Ok(sites.into_iter().map(|(_, q)| q).collect())
}

fn pairs(tx: &mut Tx<'_>, sql: &str) -> StoreResult<Vec<(String, u64)>> {
    tx.query(sql, &[])?
        .iter()
        .map(|r| Ok((get(r, 0)?, count(r, 1)?)))
        .collect()
}

pub(super) fn metrics_snapshot(tx: &mut Tx<'_>) -> StoreResult<MetricsSnapshot> {
    let llm = tx
        .query(
            "SELECT provider, model, outcome, COUNT(*), SUM(input_tokens)::BIGINT,
                    SUM(output_tokens)::BIGINT, SUM(cost_micros)::BIGINT
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
        "SELECT MAX(created_at) FROM backups WHERE verify_ok IS NULL OR verify_ok",
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
