//! The bookkeeping of applied migrations (`schema_migrations`), the same on
//! both databases. The migrations themselves, and how they are run (one
//! transaction each on SQLite, all under an advisory lock on PostgreSQL),
//! stay per database: `migrations/<backend>/`, `sqlite/mod.rs`,
//! `postgres/mod.rs`.

use super::{Db, collect, get, get_ts, get_u32, ms};
use crate::domain::lifecycle::Timestamp;
use crate::store::migrate::Migration;
use crate::store::{AppliedMigration, StoreResult};

pub(crate) fn applied(tx: &mut impl Db) -> StoreResult<Vec<AppliedMigration>> {
    let rows = tx.query(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
        &[],
    )?;
    collect(rows, |r| {
        Ok(AppliedMigration {
            version: get_u32(r, 0)?,
            name: get(r, 1)?,
            checksum: get(r, 2)?,
            applied_at: get_ts(r, 3)?,
        })
    })
}

/// Records `m` as applied at `now`, in the transaction that ran it.
pub(crate) fn record(
    tx: &mut impl Db,
    m: &Migration,
    now: Timestamp,
) -> StoreResult<AppliedMigration> {
    tx.exec(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        &[&m.version, &m.name, &m.checksum(), &ms(now)],
    )?;
    Ok(AppliedMigration {
        version: m.version,
        name: m.name.to_string(),
        checksum: m.checksum(),
        applied_at: now,
    })
}
