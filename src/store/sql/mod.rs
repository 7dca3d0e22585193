//! SQL written once for both databases. Statements use PostgreSQL's `$N`
//! placeholders; the SQLite driver rewrites them to `?N` (and drops
//! `FOR UPDATE`, see `sqlite::dialect`) at the one point where a statement
//! is prepared. Rows are read through [`Row`], which `rusqlite` rows and
//! `postgres` rows both implement, so each record has one mapping function.
//!
//! This module owns the shared statements and their row mapping; it does
//! not own connections, transactions, job claiming, budget locking or
//! migrations: those differ between the databases and stay in `sqlite/` and
//! `postgres/`. Where a new store method goes: docs/architecture.md, "Store:
//! one SQL, two dialects".

pub(crate) mod backend;
pub(crate) mod budget;
pub(crate) mod jobs;
pub(crate) mod operator;
pub(crate) mod outputs;
pub(crate) mod publish;
pub(crate) mod reads;
pub(crate) mod review;
pub(crate) mod schema;
pub(crate) mod sites;
pub(crate) mod topics;
pub(crate) mod waits;

use crate::domain::lifecycle::{JobStatus, RunStatus, Stage, Timestamp};
use crate::domain::money::Money;
use crate::store::{ClaimRequest, JobId, SiteId, StoreError, StoreResult};
use chrono::{DateTime, TimeZone, Utc};

/// A statement parameter, as both drivers bind it. The PostgreSQL driver
/// converts it to the type the server inferred for the placeholder (all
/// integers are BIGINT there, flags BOOLEAN); SQLite stores flags as 0/1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(&'a str),
}

/// Something that can be bound to a placeholder.
pub(crate) trait Arg {
    fn value(&self) -> Value<'_>;
}

impl Arg for Value<'_> {
    fn value(&self) -> Value<'_> {
        *self
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn value(&self) -> Value<'_> {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u8);

impl Arg for u64 {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Arg for bool {
    fn value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
}

impl Arg for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl Arg for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Arg for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl<T: Arg + ?Sized> Arg for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Arg> Arg for Option<T> {
    fn value(&self) -> Value<'_> {
        match self {
            Some(v) => v.value(),
            None => Value::Null,
        }
    }
}

/// An owned parameter, for statements built at run time (see `Conditions`).
pub(crate) type Param = Box<dyn Arg>;

/// Borrows owned parameters for [`Db::query`].
pub(crate) fn params(values: &[Param]) -> Vec<&dyn Arg> {
    values.iter().map(|v| v.as_ref()).collect()
}

/// One result row. Each method returns `None` for NULL and an error when
/// the column holds another kind of value.
pub(crate) trait Row {
    fn int(&self, idx: usize) -> StoreResult<Option<i64>>;
    fn real(&self, idx: usize) -> StoreResult<Option<f64>>;
    fn text(&self, idx: usize) -> StoreResult<Option<String>>;
    fn flag(&self, idx: usize) -> StoreResult<Option<bool>>;
}

/// A transaction (or, for SQLite reads, a connection) that runs shared
/// statements. `opt` expects at most one row, `one` exactly one.
pub(crate) trait Db {
    type Row: Row;
    fn query(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<Vec<Self::Row>>;
    fn opt(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<Option<Self::Row>>;
    fn exec(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<u64>;

    fn one(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<Self::Row> {
        self.opt(sql, args)?
            .ok_or_else(|| StoreError::Backend(format!("the statement returned no row: {sql}")))
    }

    // ---- claiming and locking: where the databases differ ----------------
    // SQLite runs every write in an IMMEDIATE transaction, which holds the
    // database's single write lock: nothing more to take. Several PostgreSQL
    // instances share one database, so they lock explicitly. Implemented in
    // `sqlite/locking.rs` and `postgres/locking.rs`.

    /// The oldest due job of a site that is enabled, not paused and below
    /// its own limit, while the global limit allows (`req.only_runs`, never
    /// empty here, narrows it to some runs). PostgreSQL also locks the row,
    /// skipping rows other instances hold.
    fn next_claimable_job(
        &mut self,
        req: &ClaimRequest,
        now: Timestamp,
    ) -> StoreResult<Option<JobId>>;

    /// Syncs of the sites table with the config take turns.
    fn lock_sites(&mut self) -> StoreResult<()>;

    /// Commits of one site's topics take turns until this transaction ends.
    fn lock_topics(&mut self, site: SiteId) -> StoreResult<()>;

    /// The totals of the five budget scopes `keys`, in that order (0 for a
    /// scope with no row yet), none of which another reservation can change
    /// before this transaction ends.
    fn lock_budget_totals(&mut self, keys: &[String; 5]) -> StoreResult<[Money; 5]>;
}

/// A column type [`get`] can read.
pub(crate) trait Column: Sized {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self>;
}

fn null(idx: usize) -> StoreError {
    StoreError::Backend(format!("column {idx} is NULL where a value is required"))
}

impl Column for i64 {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self> {
        row.int(idx)?.ok_or_else(|| null(idx))
    }
}

impl Column for f64 {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self> {
        row.real(idx)?.ok_or_else(|| null(idx))
    }
}

impl Column for String {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self> {
        row.text(idx)?.ok_or_else(|| null(idx))
    }
}

impl Column for bool {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self> {
        row.flag(idx)?.ok_or_else(|| null(idx))
    }
}

impl Column for Option<i64> {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self> {
        row.int(idx)
    }
}

impl Column for Option<f64> {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self> {
        row.real(idx)
    }
}

impl Column for Option<String> {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self> {
        row.text(idx)
    }
}

impl Column for Option<bool> {
    fn read(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Self> {
        row.flag(idx)
    }
}

/// Column `idx` of `row`, typed by the caller.
pub(crate) fn get<T: Column>(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<T> {
    T::read(row, idx)
}

/// A non-negative count column as u32 (saturating).
pub(crate) fn get_u32(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<u32> {
    let v: i64 = get(row, idx)?;
    Ok(u32::try_from(v.max(0)).unwrap_or(u32::MAX))
}

/// A count column as u64 (negative reads as 0).
pub(crate) fn get_u64(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<u64> {
    let v: i64 = get(row, idx)?;
    Ok(v.max(0).unsigned_abs())
}

/// Times are unix milliseconds (BIGINT / INTEGER) in both databases.
pub(crate) fn get_ts(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Timestamp> {
    Ok(ts(get(row, idx)?))
}

pub(crate) fn get_ts_opt(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Option<Timestamp>> {
    Ok(get::<Option<i64>>(row, idx)?.map(ts))
}

/// A text column parsed into an enum; an unknown value is an error, never
/// a silent default (the database holds something this binary does not
/// understand: say so).
pub(crate) fn get_parsed<T>(
    row: &(impl Row + ?Sized),
    idx: usize,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> StoreResult<T> {
    let value: String = get(row, idx)?;
    parse(&value).ok_or_else(|| StoreError::Backend(format!("unknown {what} \"{value}\"")))
}

pub(crate) fn stage_col(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<Stage> {
    get_parsed(row, idx, Stage::parse, "stage")
}

pub(crate) fn job_status_col(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<JobStatus> {
    get_parsed(row, idx, JobStatus::parse, "job status")
}

pub(crate) fn run_status_col(row: &(impl Row + ?Sized), idx: usize) -> StoreResult<RunStatus> {
    get_parsed(row, idx, RunStatus::parse, "run status")
}

/// Milliseconds since the epoch → timestamp.
pub(crate) fn ts(ms: i64) -> Timestamp {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// Rows mapped by `f`, stopping at the first error.
pub(crate) fn collect<R, T>(rows: Vec<R>, f: impl Fn(&R) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}
