//! Waiting jobs and the facts the daemon keeps between starts, on SQLite:
//! waking the waits of one kind, waking cap waits only when the caps in
//! force changed since they were last seen, and the `daemon_state` table.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{CachedExt, map_err, ms};
use crate::domain::lifecycle::{Timestamp, WaitKind};
use crate::store::*;

/// The `daemon_state` key of the caps fingerprint last seen.
const CAPS_SEEN: &str = "caps_seen";

pub(super) fn wake(tx: &Transaction<'_>, kind: WaitKind, now: Timestamp) -> StoreResult<u64> {
    let n = tx
        .exec_cached(
            "UPDATE jobs SET not_before = ?1, updated_at = ?1
             WHERE status = 'waiting' AND wait_kind = ?2 AND not_before > ?1",
            params![ms(now), kind.as_str()],
        )
        .map_err(map_err)?;
    Ok(n as u64)
}

pub(super) fn wake_cap_waits_if_changed(
    tx: &Transaction<'_>,
    caps: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    let seen: Option<String> = tx
        .query_row_cached(
            "SELECT value FROM daemon_state WHERE key = ?1",
            [CAPS_SEEN],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_err)?;
    if seen.as_deref() == Some(caps) {
        return Ok(0);
    }
    set(tx, CAPS_SEEN, caps, now)?;
    wake(tx, WaitKind::Cap, now)
}

pub(super) fn get(c: &Connection, key: &str) -> StoreResult<Option<String>> {
    c.query_row_cached(
        "SELECT value FROM daemon_state WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
    .map_err(map_err)
}

pub(super) fn set(tx: &Transaction<'_>, key: &str, value: &str, now: Timestamp) -> StoreResult<()> {
    tx.exec_cached(
        "INSERT INTO daemon_state (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value, ms(now)],
    )
    .map_err(map_err)?;
    Ok(())
}
