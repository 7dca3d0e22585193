//! `blog-poster db copy --to postgres://…`: moves a SQLite database into
//! PostgreSQL. The target schema is created with PgStore's migrations; every
//! table is streamed with `COPY … FROM STDIN` (text format) in foreign-key
//! order, ids and timestamps exactly as they are, values mapped explicitly
//! ([`values`]); identity sequences are moved past the highest id. Then,
//! still inside the same PostgreSQL transaction, each table's row count and
//! the sha256 of its rows' canonical encoding (rows in primary-key order)
//! are read back from PostgreSQL and compared with what was read from
//! SQLite. Only a full match commits: a failed or interrupted copy leaves
//! the target as it was, and the source is only ever read.

pub mod schema;
pub mod values;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::PgOptions;
use crate::domain::lifecycle::Timestamp;
use crate::store::Store;
use crate::store::postgres::{PgStore, redact_url};
use schema::{Table, ident};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("reading the SQLite database: {0}")]
    Source(String),
    #[error("writing to PostgreSQL: {0}")]
    Target(String),
    #[error("the two schemas differ: {0}; nothing was copied")]
    Schema(String),
    #[error(
        "{table}.{column}, row {row}: {problem}; nothing was copied (the value needs fixing in SQLite first)"
    )]
    Value {
        table: String,
        column: String,
        row: String,
        problem: String,
    },
    #[error(
        "the PostgreSQL database already holds data (table {0} is not empty); pass --replace to \
         overwrite it, or point --to at an empty database"
    )]
    NotEmpty(String),
    #[error("verification failed for {0}; the copy was rolled back and PostgreSQL is unchanged")]
    Mismatch(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub type CopyResult<T> = Result<T, CopyError>;

fn target(e: postgres::Error) -> CopyError {
    CopyError::Target(match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    })
}

/// One table's result, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableReport {
    pub table: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub source_sha256: String,
    pub target_sha256: String,
    pub copy_ms: u64,
}

impl TableReport {
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows && self.source_sha256 == self.target_sha256
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyReport {
    pub source: PathBuf,
    /// The target URL, password redacted.
    pub target: String,
    pub schema_version: u32,
    pub tables: Vec<TableReport>,
    pub rows: u64,
    pub elapsed: Duration,
    /// Rows per second for the copy itself (verification excluded).
    pub rows_per_sec: f64,
    pub copy_elapsed: Duration,
}

/// What the caller chose.
#[derive(Debug, Clone)]
pub struct CopyRequest<'a> {
    pub source: &'a Path,
    pub url: &'a str,
    pub options: PgOptions,
    /// Empty the target's tables first (otherwise a non-empty target is refused).
    pub replace: bool,
}

/// Copies and verifies; the caller holds the instance lock (or has paused
/// the daemon). `progress` hears one line per table.
pub fn copy(
    req: &CopyRequest<'_>,
    now: Timestamp,
    progress: &mut dyn FnMut(&str),
) -> CopyResult<CopyReport> {
    let started = Instant::now();
    // The target's password is masked in every error, log line and event
    // from here on, whatever form the URL gives it.
    crate::redact::register_database_url(req.url);
    let src = Connection::open_with_flags(req.source, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| CopyError::Source(format!("{}: {e}", req.source.display())))?;
    src.execute_batch("PRAGMA cache_size = -65536")
        .map_err(|e| CopyError::Source(e.to_string()))?;
    let source_version = check_source_schema(&src)?;

    let store = PgStore::open(req.url, &req.options)?;
    let migrated = store.migrate(now)?;
    for m in &migrated {
        progress(&format!(
            "target: applied migration {:04}_{}",
            m.version, m.name
        ));
    }
    let target_version = store
        .schema_status()?
        .applied
        .last()
        .map_or(0, |m| m.version);
    if target_version != source_version {
        return Err(CopyError::Schema(format!(
            "SQLite is at schema version {source_version}, PostgreSQL at {target_version}"
        )));
    }
    let described = redact_url(req.url);
    let outcome = store.with_client(|client| -> CopyResult<(Vec<TableReport>, Duration)> {
        // One read transaction on SQLite: every table as of one moment.
        src.execute_batch("BEGIN")
            .map_err(|e| CopyError::Source(e.to_string()))?;
        let mut tx = client.transaction().map_err(target)?;
        tx.batch_execute("SET LOCAL statement_timeout = 0")
            .map_err(target)?;
        let tables = schema::plan(&src, &mut tx)?;
        prepare_target(&mut tx, &tables, req.replace)?;
        let copy_started = Instant::now();
        let mut reports = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let table_started = Instant::now();
            let (rows, sha) = copy_table(&src, &mut tx, t)?;
            move_sequences(&mut tx, t)?;
            progress(&format!(
                "copied {:<20} {:>10} rows in {:.1}s ({}/{} tables)",
                t.name,
                rows,
                table_started.elapsed().as_secs_f64(),
                i + 1,
                tables.len()
            ));
            reports.push(TableReport {
                table: t.name.clone(),
                source_rows: rows,
                target_rows: 0,
                source_sha256: sha,
                target_sha256: String::new(),
                copy_ms: table_started.elapsed().as_millis() as u64,
            });
        }
        let copy_elapsed = copy_started.elapsed();
        progress("verifying: reading every table back from PostgreSQL");
        for (t, r) in tables.iter().zip(reports.iter_mut()) {
            let (rows, sha) = target_digest(&mut tx, t)?;
            r.target_rows = rows;
            r.target_sha256 = sha;
        }
        let bad: Vec<&str> = reports
            .iter()
            .filter(|r| !r.matches())
            .map(|r| r.table.as_str())
            .collect();
        if !bad.is_empty() {
            return Err(CopyError::Mismatch(bad.join(", ")));
        }
        tx.commit().map_err(target)?;
        let _ = src.execute_batch("COMMIT");
        Ok((reports, copy_elapsed))
    })??;
    let (tables, copy_elapsed) = outcome;
    let rows = tables.iter().map(|t| t.source_rows).sum();
    Ok(CopyReport {
        source: req.source.to_path_buf(),
        target: described,
        schema_version: source_version,
        rows,
        rows_per_sec: rows as f64 / copy_elapsed.as_secs_f64().max(1e-9),
        copy_elapsed,
        tables,
        elapsed: started.elapsed(),
    })
}

/// The source must be fully migrated: the target gets the same version.
fn check_source_schema(src: &Connection) -> CopyResult<u32> {
    let versions: Vec<u32> = src
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| {
            CopyError::Source(format!(
                "{e}: is this a blog-poster database? (`blog-poster db status` tells)"
            ))
        })?;
    let known: Vec<u32> = PgStore::migrations().iter().map(|m| m.version).collect();
    if versions != known {
        return Err(CopyError::Schema(format!(
            "the SQLite database has migrations {versions:?}, this blog-poster knows {known:?}: \
             run `blog-poster db migrate` first"
        )));
    }
    Ok(versions.last().copied().unwrap_or(0))
}

fn prepare_target(
    tx: &mut postgres::Transaction<'_>,
    tables: &[Table],
    replace: bool,
) -> CopyResult<()> {
    if replace {
        let list: Vec<String> = tables.iter().map(|t| ident(&t.name)).collect();
        tx.batch_execute(&format!("TRUNCATE {} RESTART IDENTITY", list.join(", ")))
            .map_err(target)?;
        return Ok(());
    }
    for t in tables {
        let row = tx
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {})", ident(&t.name)),
                &[],
            )
            .map_err(target)?;
        if row.get::<_, bool>(0) {
            return Err(CopyError::NotEmpty(t.name.clone()));
        }
    }
    Ok(())
}

fn order_by(t: &Table, pg: bool) -> String {
    t.key
        .iter()
        .map(|k| {
            let text = t.columns.iter().any(|c| &c.name == k && c.is_text);
            if pg && text {
                format!("{} COLLATE \"C\"", ident(k))
            } else {
                ident(k)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn column_list(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

const FLUSH_AT: usize = 1 << 20;

/// Streams one table into COPY; returns its row count and the sha256 of
/// the canonical encoding of what was read.
fn copy_table(
    src: &Connection,
    tx: &mut postgres::Transaction<'_>,
    t: &Table,
) -> CopyResult<(u64, String)> {
    let cols = column_list(t);
    let mut stmt = src
        .prepare(&format!(
            "SELECT {cols} FROM {} ORDER BY {}",
            ident(&t.name),
            order_by(t, false)
        ))
        .map_err(|e| CopyError::Source(e.to_string()))?;
    let mut rows = stmt
        .query([])
        .map_err(|e| CopyError::Source(e.to_string()))?;
    let mut writer = tx
        .copy_in(&format!("COPY {} ({cols}) FROM STDIN", ident(&t.name)))
        .map_err(target)?;
    let mut hash = Sha256::new();
    let mut buf = Vec::with_capacity(FLUSH_AT + 64 * 1024);
    let mut n = 0u64;
    while let Some(row) = rows.next().map_err(|e| CopyError::Source(e.to_string()))? {
        for (i, c) in t.columns.iter().enumerate() {
            let raw = row
                .get_ref(i)
                .map_err(|e| CopyError::Source(e.to_string()))?;
            let v = values::from_sqlite(raw, c.pg).map_err(|m| CopyError::Value {
                table: t.name.clone(),
                column: c.name.clone(),
                row: row_label(row, t),
                problem: m.0,
            })?;
            values::canonical(&v, &mut hash);
            if i > 0 {
                buf.push(b'\t');
            }
            values::copy_text(&v, &mut buf);
        }
        hash.update(b"\n");
        buf.push(b'\n');
        n += 1;
        if buf.len() >= FLUSH_AT {
            writer
                .write_all(&buf)
                .map_err(|e| CopyError::Target(e.to_string()))?;
            buf.clear();
        }
    }
    writer
        .write_all(&buf)
        .map_err(|e| CopyError::Target(e.to_string()))?;
    let written = writer.finish().map_err(target)?;
    if written != n {
        return Err(CopyError::Mismatch(format!(
            "{} (COPY took {written} rows of {n})",
            t.name
        )));
    }
    Ok((n, hex::encode(hash.finalize())))
}

/// The key of a row, for error messages.
fn row_label(row: &rusqlite::Row<'_>, t: &Table) -> String {
    t.key
        .iter()
        .filter_map(|k| {
            let i = t.columns.iter().position(|c| &c.name == k)?;
            let v: rusqlite::types::Value = row.get(i).ok()?;
            Some(format!("{k}={v:?}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Identity sequences continue after the highest copied id.
fn move_sequences(tx: &mut postgres::Transaction<'_>, t: &Table) -> CopyResult<()> {
    for col in &t.identity {
        tx.query_one(
            &format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), GREATEST(COALESCE(MAX({c}), 0), 1), MAX({c}) IS NOT NULL) FROM {t}",
                c = ident(col),
                t = ident(&t.name)
            ),
            &[&ident(&t.name), &col],
        )
        .map_err(target)?;
    }
    Ok(())
}

/// Row count and canonical sha256 of a table as PostgreSQL has it.
fn target_digest(tx: &mut postgres::Transaction<'_>, t: &Table) -> CopyResult<(u64, String)> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        column_list(t),
        ident(&t.name),
        order_by(t, true)
    );
    let mut rows = tx
        .query_raw(
            sql.as_str(),
            std::iter::empty::<&(dyn postgres::types::ToSql + Sync)>(),
        )
        .map_err(target)?;
    let mut hash = Sha256::new();
    let mut n = 0u64;
    while let Some(row) = rows.next().map_err(target)? {
        for (i, c) in t.columns.iter().enumerate() {
            let v = values::from_pg(&row, i, c.pg).map_err(target)?;
            values::canonical(&v, &mut hash);
        }
        hash.update(b"\n");
        n += 1;
    }
    Ok((n, hex::encode(hash.finalize())))
}

/// The verification table and the config change, as `db copy` prints them.
pub fn render(report: &CopyReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<22} {:>12} {:>12}  {:<16}  {:<16}  result\n",
        "table", "sqlite rows", "pg rows", "sqlite sha256", "pg sha256"
    ));
    for t in &report.tables {
        out.push_str(&format!(
            "{:<22} {:>12} {:>12}  {:<16}  {:<16}  {}\n",
            t.table,
            t.source_rows,
            t.target_rows,
            &t.source_sha256[..16],
            &t.target_sha256[..16],
            if t.matches() { "ok" } else { "MISMATCH" }
        ));
    }
    out.push_str(&format!(
        "verified: {} tables, {} rows, schema version {}; copy {:.1}s ({:.0} rows/s), total {:.1}s\n",
        report.tables.len(),
        report.rows,
        report.schema_version,
        report.copy_elapsed.as_secs_f64(),
        report.rows_per_sec,
        report.elapsed.as_secs_f64()
    ));
    out.push_str(&format!(
        "\nnext: point blog-poster at PostgreSQL. In the config file set\n\n    [database]\n    url = \"{}\"\n\n\
         (put the real password back, or read it from the environment), then `blog-poster config check` \
         and start serve. {} stays as it was; keep it until you are happy.\n",
        report.target,
        report.source.display()
    ));
    out
}
