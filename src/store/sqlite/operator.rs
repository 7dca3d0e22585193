//! The operator surfaces on SQLite: API tokens, cap overrides, paged jobs,
//! cost breakdowns, per-site queues and the counts behind /metrics.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::reads::{JOB_COLS, job_row};
use super::{CachedExt, insert_event, map_err, ms, site_id, ts};
use crate::budget::{BudgetCaps, CapScope};
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::*;
use rusqlite::types::Value;

const TOKEN_COLS: &str =
    "SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at FROM api_tokens";

fn token_row(r: &Row<'_>) -> rusqlite::Result<ApiTokenRecord> {
    let role: String = r.get(2)?;
    Ok(ApiTokenRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: TokenRole::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown token role \"{role}\"").into(),
            )
        })?,
        token_hash: r.get(3)?,
        created_at: ts(r.get(4)?),
        last_used_at: r.get::<_, Option<i64>>(5)?.map(ts),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(ts),
    })
}

fn tokens_where(c: &Connection, filter: &str) -> StoreResult<Vec<ApiTokenRecord>> {
    let mut stmt = c
        .prepare_cached(&format!("{TOKEN_COLS} {filter} ORDER BY name"))
        .map_err(map_err)?;
    let rows = stmt.query_map([], token_row).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub(super) fn list_tokens(c: &Connection) -> StoreResult<Vec<ApiTokenRecord>> {
    tokens_where(c, "")
}

pub(super) fn active_tokens(c: &Connection) -> StoreResult<Vec<ApiTokenRecord>> {
    tokens_where(c, "WHERE revoked_at IS NULL")
}

pub(super) fn create_token(
    tx: &Transaction<'_>,
    t: &NewApiToken,
    now: Timestamp,
) -> StoreResult<ApiTokenRecord> {
    let taken: Option<i64> = tx
        .query_row_cached(
            "SELECT id FROM api_tokens WHERE name = ?1",
            [&t.name],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "a token named \"{}\" already exists (names stay taken after revocation); choose another name",
            t.name
        )));
    }
    tx.exec_cached(
        "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![t.name, t.role.as_str(), t.token_hash, ms(now)],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
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
    tx: &Transaction<'_>,
    name: &str,
    actor: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let n = tx
        .exec_cached(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE name = ?1",
            params![name, ms(now)],
        )
        .map_err(map_err)?;
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

pub(super) fn touch_token(tx: &Transaction<'_>, id: i64, now: Timestamp) -> StoreResult<()> {
    tx.exec_cached(
        "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id, ms(now)],
    )
    .map_err(map_err)?;
    Ok(())
}

fn override_row(r: &Row<'_>) -> rusqlite::Result<CapOverride> {
    let scope: String = r.get(0)?;
    Ok(CapOverride {
        scope: CapScope::parse(&scope).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("unknown cap scope \"{scope}\"").into(),
            )
        })?,
        site: r.get(1)?,
        cap: Money(r.get(2)?),
        updated_by: r.get(3)?,
        updated_at: ts(r.get(4)?),
    })
}

pub(super) fn overrides(c: &Connection) -> StoreResult<Vec<CapOverride>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT o.scope, s.name, o.cap_micros, o.updated_by, o.updated_at
             FROM cap_overrides o LEFT JOIN sites s ON s.id = o.site_id ORDER BY o.scope_key",
        )
        .map_err(map_err)?;
    let rows = stmt.query_map([], override_row).map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// The caps of a reservation with the overrides for its site applied.
pub(super) fn apply_overrides(
    c: &Connection,
    site: SiteId,
    caps: &BudgetCaps,
) -> StoreResult<BudgetCaps> {
    let mut out = *caps;
    let mut stmt = c
        .prepare_cached(
            "SELECT scope, cap_micros FROM cap_overrides WHERE site_id IS NULL OR site_id = ?1",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([site.0], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(map_err)?;
    for row in rows {
        let (scope, micros) = row.map_err(map_err)?;
        if let Some(scope) = CapScope::parse(&scope) {
            out.set(scope, Some(Money(micros)));
        }
    }
    Ok(out)
}

pub(super) fn set_overrides(
    tx: &Transaction<'_>,
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
                tx.exec_cached(
                    "INSERT INTO cap_overrides (scope_key, scope, site_id, cap_micros, updated_by, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (scope_key) DO UPDATE SET cap_micros = excluded.cap_micros,
                         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    params![key, ch.scope.as_str(), site.map(|s| s.0), cap.micros(), actor, ms(now)],
                )
                .map_err(map_err)?;
            }
            None => {
                tx.exec_cached("DELETE FROM cap_overrides WHERE scope_key = ?1", [&key])
                    .map_err(map_err)?;
            }
        }
        insert_event(tx, &ch.event(actor), now)?;
    }
    overrides(tx)
}

pub(super) fn list_jobs_page(c: &Connection, f: &JobFilter) -> StoreResult<Vec<JobRecord>> {
    let mut w = Conditions::<Value>::new('?');
    if let Some(site) = &f.site {
        w.and("s.name =", site.clone().into());
    }
    if let Some(run) = f.run {
        w.and("j.run_id =", run.0.into());
    }
    if let Some(status) = f.status {
        w.and("j.status =", status.as_str().to_string().into());
    }
    if let Some(before) = f.before {
        w.and("j.id <", before.0.into());
    }
    let (sql, values) = w.query(JOB_COLS, "j.id DESC", i64::from(f.limit).into());
    let mut stmt = c.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(values), job_row)
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub(super) fn cost_lines(c: &Connection, since: Timestamp) -> StoreResult<Vec<CostLine>> {
    // Days are UTC: created_at is unix milliseconds.
    let mut stmt = c
        .prepare_cached(
            "SELECT date(l.created_at / 1000, 'unixepoch') AS day, s.name, l.provider, l.model,
                    COUNT(*), SUM(l.input_tokens), SUM(l.output_tokens), SUM(l.cost_micros)
             FROM llm_calls l LEFT JOIN sites s ON s.id = l.site_id
             WHERE l.created_at >= ?1
             GROUP BY day, s.name, l.provider, l.model
             ORDER BY day DESC, s.name, l.provider, l.model",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([ms(since)], |r| {
            Ok(CostLine {
                day: r.get(0)?,
                site: r.get(1)?,
                provider: r.get(2)?,
                model: r.get(3)?,
                calls: r.get::<_, i64>(4)?.max(0) as u64,
                input_tokens: r.get::<_, i64>(5)?.max(0) as u64,
                output_tokens: r.get::<_, i64>(6)?.max(0) as u64,
                cost: Money(r.get(7)?),
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub(super) fn site_queues(c: &Connection) -> StoreResult<Vec<SiteQueue>> {
    let mut sites: Vec<(i64, SiteQueue)> = {
        let mut stmt = c
            .prepare_cached("SELECT id, name FROM sites ORDER BY name")
            .map_err(map_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    SiteQueue {
                        site: r.get(1)?,
                        ..Default::default()
                    },
                ))
            })
            .map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)?
    };
    // Pending and running jobs come from the partial indexes; dead jobs are
    // few (an operator retries or cancels them).
    let mut stmt = c
        .prepare_cached(
            "SELECT site_id, status, COUNT(*) FROM jobs
             WHERE status IN ('queued', 'waiting', 'running', 'dead') GROUP BY site_id, status",
        )
        .map_err(map_err)?;
    let counts = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(map_err)?;
    for row in counts {
        let (site, status, n) = row.map_err(map_err)?;
        if let Some((_, q)) = sites.iter_mut().find(|(id, _)| *id == site) {
            let n = n.max(0) as u64;
            match status.as_str() {
                "queued" => q.queued = n,
                "waiting" => q.waiting = n,
                "running" => q.running = n,
                _ => q.dead = n,
            }
        }
    }
    for (id, q) in &mut sites {
        let last: Option<(String, Option<i64>, i64)> = c
            .query_row_cached(
                "SELECT error, finished_at, created_at FROM runs
                 WHERE site_id = ?1 AND error IS NOT NULL ORDER BY created_at DESC LIMIT 1",
                [*id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(map_err)?;
        if let Some((error, finished, created)) = last {
            q.last_error = Some(error);
            q.last_error_at = Some(ts(finished.unwrap_or(created)));
        }
    }
    Ok(sites.into_iter().map(|(_, q)| q).collect())
}

fn pairs(c: &Connection, sql: &str) -> StoreResult<Vec<(String, u64)>> {
    let mut stmt = c.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub(super) fn metrics_snapshot(c: &Connection) -> StoreResult<MetricsSnapshot> {
    let mut stmt = c
        .prepare_cached(
            "SELECT provider, model, outcome, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_micros)
             FROM llm_calls GROUP BY provider, model, outcome ORDER BY provider, model, outcome",
        )
        .map_err(map_err)?;
    let llm = stmt
        .query_map([], |r| {
            Ok(LlmUsageTotal {
                provider: r.get(0)?,
                model: r.get(1)?,
                outcome: r.get(2)?,
                calls: r.get::<_, i64>(3)?.max(0) as u64,
                input_tokens: r.get::<_, i64>(4)?.max(0) as u64,
                output_tokens: r.get::<_, i64>(5)?.max(0) as u64,
                cost: Money(r.get(6)?),
            })
        })
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    let last_backup: Option<i64> = c
        .query_row_cached(
            "SELECT MAX(created_at) FROM backups WHERE verify_ok IS NULL OR verify_ok = 1",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    Ok(MetricsSnapshot {
        runs_by_status: pairs(
            c,
            "SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status",
        )?,
        llm,
        publish_by_status: pairs(
            c,
            "SELECT status, COUNT(*) FROM publish_ledger GROUP BY status ORDER BY status",
        )?,
        sources_failing: pairs(
            c,
            "SELECT s.name, COUNT(*) FROM sources x JOIN sites s ON s.id = x.site_id
             WHERE x.consecutive_failures > 0 GROUP BY s.name ORDER BY s.name",
        )?,
        sources_total: pairs(
            c,
            "SELECT s.name, COUNT(*) FROM sources x JOIN sites s ON s.id = x.site_id
             GROUP BY s.name ORDER BY s.name",
        )?,
        last_backup_at: last_backup.map(ts),
    })
}
