//! The backups table: one row per backup file, with what it held and what
//! its last verification found. Opened on its own connection to the live
//! database (WAL: safe next to a running `serve`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{BackupError, BackupId, BackupKind, BackupRecord, BackupResult, sql};
use crate::domain::lifecycle::Timestamp;
use crate::store::sqlite::{ms, ts};

/// The migration that gave the backups table its current columns.
const NEEDS_VERSION: u32 = 5;

/// Opens the database for catalog work; refuses a database not yet
/// migrated to the backups schema.
pub fn open(db: &Path, busy_timeout: Duration) -> BackupResult<Connection> {
    if !db.exists() {
        return Err(BackupError::Schema(format!(
            "there is no database at {} yet: start serve or run `blog-poster db migrate` first",
            db.display()
        )));
    }
    let conn = Connection::open(db).map_err(sql("cannot open the database"))?;
    conn.busy_timeout(busy_timeout)
        .map_err(sql("cannot set the busy timeout"))?;
    let has: Option<i64> = conn
        .query_row(
            "SELECT version FROM schema_migrations WHERE version = ?1",
            [NEEDS_VERSION],
            |r| r.get(0),
        )
        .optional()
        .unwrap_or(None);
    if has.is_none() {
        return Err(BackupError::Schema(format!(
            "the database {} is not migrated to 0005_backups yet: run `blog-poster db migrate` (or start serve once)",
            db.display()
        )));
    }
    Ok(conn)
}

const COLUMNS: &str = "id, kind, file_name, size_bytes, db_size_bytes, sha256, schema_version, row_counts, \
     created_at, verified_at, verify_ok, verify_message, verify_error, remote_key, remote_uploaded_at";

fn record(r: &Row<'_>) -> rusqlite::Result<BackupRecord> {
    let kind: String = r.get(1)?;
    let counts: String = r.get(7)?;
    let message: Option<String> = r.get(11)?;
    let error: Option<String> = r.get(12)?;
    Ok(BackupRecord {
        id: r.get(0)?,
        kind: BackupKind::parse(&kind).unwrap_or(BackupKind::Manual),
        file_name: r.get(2)?,
        size_bytes: r.get::<_, i64>(3)?.max(0) as u64,
        db_size_bytes: r.get::<_, Option<i64>>(4)?.map(|n| n.max(0) as u64),
        sha256: r.get(5)?,
        schema_version: r.get::<_, i64>(6)?.max(0) as u32,
        row_counts: serde_json::from_str(&counts).unwrap_or_default(),
        created_at: ts(r.get(8)?),
        verified_at: r.get::<_, Option<i64>>(9)?.map(ts),
        verify_ok: r.get::<_, Option<i64>>(10)?.map(|v| v != 0),
        verify_message: message.or(error),
        remote_key: r.get(13)?,
        remote_uploaded_at: r.get::<_, Option<i64>>(14)?.map(ts),
    })
}

/// Newest first.
pub fn list(conn: &Connection) -> BackupResult<Vec<BackupRecord>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM backups ORDER BY created_at DESC, id DESC"
        ))
        .map_err(sql("cannot list backups"))?;
    stmt.query_map([], record)
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(sql("cannot list backups"))
}

pub fn get(conn: &Connection, id: BackupId) -> BackupResult<BackupRecord> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM backups WHERE id = ?1"),
        [id],
        record,
    )
    .optional()
    .map_err(sql("cannot read the backup"))?
    .ok_or(BackupError::NotFound(id))
}

fn counts_json(r: &BackupRecord) -> String {
    serde_json::to_string(&r.row_counts).unwrap_or_else(|_| "{}".into())
}

/// Inserts a new backup; returns its id.
pub fn insert(conn: &Connection, r: &BackupRecord) -> BackupResult<BackupId> {
    conn.execute(
        "INSERT INTO backups (kind, file_name, size_bytes, db_size_bytes, sha256, schema_version, row_counts, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            r.kind.as_str(),
            r.file_name,
            r.size_bytes as i64,
            r.db_size_bytes.map(|n| n as i64),
            r.sha256,
            r.schema_version,
            counts_json(r),
            ms(r.created_at)
        ],
    )
    .map_err(sql("cannot record the backup"))?;
    Ok(conn.last_insert_rowid())
}

/// Writes `records` back with their ids (after a restore put an older
/// catalog in place): rows are replaced, none is dropped.
pub fn put_back(conn: &Connection, records: &[BackupRecord]) -> BackupResult<()> {
    for r in records {
        conn.execute(
            "INSERT OR REPLACE INTO backups (id, kind, file_name, size_bytes, db_size_bytes, sha256, schema_version,
                 row_counts, created_at, verified_at, verify_ok, verify_message, verify_error, remote_key, remote_uploaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                r.id,
                r.kind.as_str(),
                r.file_name,
                r.size_bytes as i64,
                r.db_size_bytes.map(|n| n as i64),
                r.sha256,
                r.schema_version,
                counts_json(r),
                ms(r.created_at),
                r.verified_at.map(ms),
                r.verify_ok.map(i64::from),
                r.verify_message,
                r.verify_ok.filter(|ok| !ok).and(r.verify_message.clone()),
                r.remote_key,
                r.remote_uploaded_at.map(ms),
            ],
        )
        .map_err(sql("cannot write the backup catalog back"))?;
    }
    Ok(())
}

pub fn record_verify(
    conn: &Connection,
    id: BackupId,
    ok: bool,
    message: &str,
    now: Timestamp,
) -> BackupResult<()> {
    conn.execute(
        "UPDATE backups SET verified_at = ?2, verify_ok = ?3, verify_message = ?4,
             verify_error = CASE WHEN ?3 = 1 THEN NULL ELSE ?4 END
         WHERE id = ?1",
        params![id, ms(now), i64::from(ok), crate::redact::text(message)],
    )
    .map_err(sql("cannot record the verification"))?;
    Ok(())
}

pub fn set_remote(conn: &Connection, id: BackupId, key: &str, now: Timestamp) -> BackupResult<()> {
    conn.execute(
        "UPDATE backups SET remote_key = ?2, remote_uploaded_at = ?3 WHERE id = ?1",
        params![id, key, ms(now)],
    )
    .map_err(sql("cannot record the off-site copy"))?;
    Ok(())
}

pub fn delete(conn: &Connection, id: BackupId) -> BackupResult<()> {
    conn.execute("DELETE FROM backups WHERE id = ?1", [id])
        .map_err(sql("cannot delete the backup row"))?;
    Ok(())
}
