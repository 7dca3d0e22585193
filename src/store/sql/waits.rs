//! Waiting jobs and the facts the daemon keeps between starts, the same on
//! both databases: waking the waits of one kind, waking cap waits only when the
//! caps in force changed since they were last seen, and the `daemon_state`
//! table.

use super::{Db, get as col, ms};
use crate::domain::lifecycle::{Timestamp, WaitKind};
use crate::store::*;

/// The `daemon_state` key of the caps fingerprint last seen.
const CAPS_SEEN: &str = "caps_seen";

pub(crate) fn wake(tx: &mut impl Db, kind: WaitKind, now: Timestamp) -> StoreResult<u64> {
    tx.exec(
        "UPDATE jobs SET not_before = $1, updated_at = $1
         WHERE status = 'waiting' AND wait_kind = $2 AND not_before > $1",
        &[&ms(now), &kind.as_str()],
    )
}

pub(crate) fn wake_cap_waits_if_changed(
    tx: &mut impl Db,
    caps: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    // Two instances starting at once: the row lock makes one of them see
    // the other's fingerprint (and wake nothing more).
    tx.exec(
        "INSERT INTO daemon_state (key, value, updated_at) VALUES ($1, '', $2) ON CONFLICT (key) DO NOTHING",
        &[&CAPS_SEEN, &ms(now)],
    )?;
    let row = tx.one(
        "SELECT value FROM daemon_state WHERE key = $1 FOR UPDATE",
        &[&CAPS_SEEN],
    )?;
    let seen: String = col(&row, 0)?;
    if seen == caps {
        return Ok(0);
    }
    set(tx, CAPS_SEEN, caps, now)?;
    wake(tx, WaitKind::Cap, now)
}

pub(crate) fn get(tx: &mut impl Db, key: &str) -> StoreResult<Option<String>> {
    match tx.opt("SELECT value FROM daemon_state WHERE key = $1", &[&key])? {
        Some(row) => Ok(Some(col(&row, 0)?)),
        None => Ok(None),
    }
}

pub(crate) fn set(tx: &mut impl Db, key: &str, value: &str, now: Timestamp) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO daemon_state (key, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
        &[&key, &value, &ms(now)],
    )?;
    Ok(())
}
