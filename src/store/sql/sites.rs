//! Sites, runs and the audit log, the same on both databases: the helpers
//! every write uses (`site_id`, `insert_event`) and run creation.

use super::{Db, get, ms};
use crate::domain::lifecycle::Timestamp;
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
