//! Sites, runs and the audit log, the same on both databases: the helpers
//! every write uses (`site_id`, `insert_event`), the config sync, pausing,
//! run creation and the scheduler's compare-and-set.

use super::{Db, get, ms};
use crate::domain::lifecycle::{Stage, Timestamp};
use crate::store::*;

/// The id of a site in the config; an unknown name is a `Conflict`.
pub(crate) fn site_id(tx: &mut impl Db, name: &str) -> StoreResult<SiteId> {
    match tx.opt("SELECT id FROM sites WHERE name = $1", &[&name])? {
        Some(r) => Ok(SiteId(get(&r, 0)?)),
        None => Err(StoreError::Conflict(format!(
            "unknown site \"{name}\": it is not in the config"
        ))),
    }
}

/// Appends to the audit log (message redacted); an unknown site name is
/// recorded without a site.
pub(crate) fn insert_event(tx: &mut impl Db, e: &NewEvent, now: Timestamp) -> StoreResult<()> {
    let site: Option<i64> = match &e.site {
        Some(name) => match tx.opt("SELECT id FROM sites WHERE name = $1", &[name])? {
            Some(r) => Some(get(&r, 0)?),
            None => None,
        },
        None => None,
    };
    let message = crate::redact::text(&e.message);
    tx.exec(
        "INSERT INTO events (at, site_id, run_id, job_id, kind, actor, message) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&ms(now), &site, &e.run_id.map(|r| r.0), &e.job_id.map(|j| j.0), &e.kind, &e.actor, &message.as_ref()],
    )?;
    Ok(())
}

/// Makes the sites table match the config (see `Store::sync_sites`).
pub(crate) fn sync_sites(tx: &mut impl Db, sites: &[SiteSpec], now: Timestamp) -> StoreResult<()> {
    // Serialize with other instances syncing at the same moment.
    tx.lock_sites()?;
    tx.exec(
        "UPDATE sites SET enabled = FALSE, updated_at = $1 WHERE enabled = TRUE",
        &[&ms(now)],
    )?;
    for s in sites {
        tx.exec(
            "INSERT INTO sites (name, enabled, max_concurrency, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled,
                 max_concurrency = excluded.max_concurrency, updated_at = excluded.updated_at",
            &[&s.name, &s.enabled, &s.max_concurrency, &ms(now)],
        )?;
        let id = site_id(tx, &s.name)?;
        for src in &s.sources {
            tx.exec(
                "INSERT INTO sources (site_id, url, kind, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (site_id, url) DO UPDATE SET kind = excluded.kind",
                &[&id.0, &src.url, &src.kind, &ms(now)],
            )?;
        }
    }
    Ok(())
}

pub(crate) fn set_site_paused(
    tx: &mut impl Db,
    site: &str,
    paused: bool,
    reason: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    site_id(tx, site)?;
    tx.exec(
        "UPDATE sites SET paused = $2, pause_reason = $3, updated_at = $4 WHERE name = $1",
        &[
            &site,
            &paused,
            &if paused { reason } else { None },
            &ms(now),
        ],
    )?;
    Ok(())
}

/// The scheduler's compare-and-set on the site's next slot.
pub(crate) fn advance_schedule(
    tx: &mut impl Db,
    a: &SlotAdvance,
    now: Timestamp,
) -> StoreResult<Option<Enqueued>> {
    // The site row stays locked until commit: the compare-and-set below
    // cannot interleave with another instance's.
    let row = tx
        .opt(
            "SELECT next_run_at FROM sites WHERE name = $1 FOR UPDATE",
            &[&a.site],
        )?
        .ok_or_else(|| StoreError::Conflict(format!("unknown site \"{}\"", a.site)))?;
    let current: Option<i64> = get(&row, 0)?;
    if current != a.expected_next.map(ms) {
        return Ok(None);
    }
    let enqueued = match &a.run {
        Some(run) => Some(insert_run(tx, run, now)?),
        None => None,
    };
    tx.exec(
        "UPDATE sites SET next_run_at = $2, schedule_key = $3, updated_at = $4,
             last_run_at = CASE WHEN $5 THEN $4 ELSE last_run_at END
         WHERE name = $1",
        &[
            &a.site,
            &a.new_next.map(ms),
            &a.schedule_key,
            &ms(now),
            &enqueued.is_some(),
        ],
    )?;
    Ok(enqueued)
}

pub(crate) fn insert_run(tx: &mut impl Db, run: &NewRun, now: Timestamp) -> StoreResult<Enqueued> {
    let site = site_id(tx, &run.site)?;
    // ON CONFLICT on the UNIQUE slot key: a second instance enqueueing the
    // same slot waits for the first one's commit, then inserts nothing.
    let inserted = tx.opt(
        "INSERT INTO runs (site_id, trigger, slot_key, until_stage, status, created_at)
         VALUES ($1, $2, $3, $4, 'running', $5)
         ON CONFLICT (slot_key) DO NOTHING RETURNING id",
        &[
            &site.0,
            &run.trigger.as_str(),
            &run.slot_key,
            &run.until.map(Stage::as_str),
            &ms(now),
        ],
    )?;
    let run_id = match inserted {
        Some(r) => RunId(get(&r, 0)?),
        None => {
            let row = tx.one("SELECT id FROM runs WHERE slot_key = $1", &[&run.slot_key])?;
            return Ok(Enqueued::Existing(RunId(get(&row, 0)?)));
        }
    };
    super::jobs::insert_job(tx, run_id, site, run.first_stage, run.max_attempts, now)?;
    insert_event(
        tx,
        &NewEvent {
            site: Some(run.site.clone()),
            run_id: Some(run_id),
            job_id: None,
            kind: "run.created".into(),
            actor: match run.trigger {
                RunTrigger::Schedule => "scheduler".into(),
                RunTrigger::Once => "cli".into(),
                RunTrigger::Manual => "operator".into(),
            },
            message: format!("{} run created ({})", run.site, run.trigger.as_str()),
        },
        now,
    )?;
    Ok(Enqueued::Created(run_id))
}
