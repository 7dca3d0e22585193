//! How the shared statements (`store::sql`) run on SQLite: the one place
//! where `$N` becomes `?N`, row locks are dropped, parameters are bound and
//! rows are read; the claiming and locking steps are in `locking.rs`.

use std::borrow::Cow;

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, Value as Lv, ValueRef};

use super::map_err;
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::sql::{Arg, Db, Row, Value};
use crate::store::{ClaimRequest, JobId, SiteId, StoreResult};

/// A connection (or a transaction: it derefs to one) running shared SQL.
pub(crate) struct Lite<'c>(pub &'c Connection);

/// The shared statement in SQLite's dialect:
/// - `$N` → `?N`. SQLite reads `$1` as a *named* parameter numbered in
///   order of appearance, which is wrong as soon as `$2` comes before `$1`.
/// - ` FOR UPDATE` (with ` OF x` and ` SKIP LOCKED`) is removed: SQLite has
///   no row locks, and every write here runs in an IMMEDIATE transaction, which
///   holds the database's single write lock — more than a row lock.
pub(crate) fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') && !sql.contains("FOR UPDATE") {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(['$', 'F']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if rest.starts_with('$') && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
            out.push('?');
            rest = &rest[1..];
        } else if let Some(tail) = rest.strip_prefix("FOR UPDATE") {
            while out.ends_with([' ', '\n']) {
                out.pop();
            }
            rest = tail;
            if let Some(of) = rest.strip_prefix(" OF ") {
                let end = of
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(of.len());
                rest = &of[end..];
            }
            if let Some(tail) = rest.strip_prefix(" SKIP LOCKED") {
                rest = tail;
            }
        } else {
            out.push_str(&rest[..1]);
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Value::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(v)),
            // Flags are INTEGER 0/1 in the SQLite schema.
            Value::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(v))),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        })
    }
}

/// A row copied out of the statement (rusqlite rows borrow it).
pub(crate) struct LiteRow(Vec<Lv>);

impl LiteRow {
    fn at(&self, idx: usize) -> StoreResult<&Lv> {
        self.0.get(idx).ok_or_else(|| {
            crate::store::StoreError::Backend(format!("no column {idx} in the result"))
        })
    }
}

fn wrong(idx: usize, want: &str, got: &Lv) -> crate::store::StoreError {
    crate::store::StoreError::Backend(format!(
        "cannot read column {idx}: expected {want}, found {:?}",
        got.data_type()
    ))
}

impl Row for LiteRow {
    fn int(&self, idx: usize) -> StoreResult<Option<i64>> {
        match self.at(idx)? {
            Lv::Null => Ok(None),
            Lv::Integer(v) => Ok(Some(*v)),
            other => Err(wrong(idx, "an integer", other)),
        }
    }

    fn real(&self, idx: usize) -> StoreResult<Option<f64>> {
        match self.at(idx)? {
            Lv::Null => Ok(None),
            Lv::Real(v) => Ok(Some(*v)),
            // REAL affinity stores whole numbers as integers.
            Lv::Integer(v) => Ok(Some(*v as f64)),
            other => Err(wrong(idx, "a number", other)),
        }
    }

    fn text(&self, idx: usize) -> StoreResult<Option<String>> {
        match self.at(idx)? {
            Lv::Null => Ok(None),
            Lv::Text(v) => Ok(Some(v.clone())),
            other => Err(wrong(idx, "text", other)),
        }
    }

    fn flag(&self, idx: usize) -> StoreResult<Option<bool>> {
        match self.at(idx)? {
            Lv::Null => Ok(None),
            Lv::Integer(v) => Ok(Some(*v != 0)),
            other => Err(wrong(idx, "a 0/1 flag", other)),
        }
    }
}

fn bind<'a>(args: &[&'a dyn Arg]) -> Vec<Value<'a>> {
    args.iter().map(|&a| a.value()).collect()
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LiteRow> {
    let n = r.as_ref().column_count();
    (0..n)
        .map(|i| r.get::<_, Lv>(i))
        .collect::<Result<_, _>>()
        .map(LiteRow)
}

impl Db for Lite<'_> {
    type Row = LiteRow;

    fn query(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<Vec<LiteRow>> {
        let mut stmt = self.0.prepare_cached(&sqlite_sql(sql)).map_err(map_err)?;
        let values = bind(args);
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), read_row)
            .map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)
    }

    fn opt(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<Option<LiteRow>> {
        let mut stmt = self.0.prepare_cached(&sqlite_sql(sql)).map_err(map_err)?;
        let values = bind(args);
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values.iter()))
            .map_err(map_err)?;
        match rows.next().map_err(map_err)? {
            Some(r) => Ok(Some(read_row(r).map_err(map_err)?)),
            None => Ok(None),
        }
    }

    fn exec(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<u64> {
        let mut stmt = self.0.prepare_cached(&sqlite_sql(sql)).map_err(map_err)?;
        let values = bind(args);
        if stmt.column_count() > 0 {
            // A statement run for its effect that also returns rows (a
            // SELECT taken for its PostgreSQL row lock): step through them.
            let mut rows = stmt
                .query(rusqlite::params_from_iter(values.iter()))
                .map_err(map_err)?;
            let mut n = 0;
            while rows.next().map_err(map_err)?.is_some() {
                n += 1;
            }
            return Ok(n);
        }
        let n = stmt
            .execute(rusqlite::params_from_iter(values.iter()))
            .map_err(map_err)?;
        Ok(n as u64)
    }

    fn next_claimable_job(
        &mut self,
        req: &ClaimRequest,
        now: Timestamp,
    ) -> StoreResult<Option<JobId>> {
        super::locking::next_claimable_job(self, req, now)
    }

    /// One writer: syncs cannot overlap.
    fn lock_sites(&mut self) -> StoreResult<()> {
        Ok(())
    }

    /// One writer: topic commits cannot overlap.
    fn lock_topics(&mut self, _site: SiteId) -> StoreResult<()> {
        Ok(())
    }

    fn lock_budget_totals(&mut self, keys: &[String; 5]) -> StoreResult<[Money; 5]> {
        super::locking::budget_totals(self, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_sql;

    #[test]
    fn placeholders_become_numbered_question_marks_and_row_locks_go() {
        assert_eq!(
            sqlite_sql("SELECT a FROM t WHERE b = $2 AND c = $10 FOR UPDATE"),
            "SELECT a FROM t WHERE b = ?2 AND c = ?10"
        );
        assert_eq!(
            sqlite_sql("SELECT a.x FROM a JOIN b ON b.id = a.b WHERE a.id = $1\n FOR UPDATE OF a"),
            "SELECT a.x FROM a JOIN b ON b.id = a.b WHERE a.id = ?1"
        );
        assert_eq!(
            sqlite_sql("SELECT id FROM jobs WHERE x = $1 ORDER BY id FOR UPDATE SKIP LOCKED"),
            "SELECT id FROM jobs WHERE x = ?1 ORDER BY id"
        );
        assert_eq!(
            sqlite_sql("SELECT COALESCE(x, 'FOO$') FROM FOO"),
            "SELECT COALESCE(x, 'FOO$') FROM FOO"
        );
    }
}
