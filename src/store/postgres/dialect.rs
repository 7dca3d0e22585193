//! How the shared statements (`store::sql`) run on PostgreSQL: parameters
//! are converted to the type the server inferred for each placeholder, and
//! rows are read by their column type. The statements themselves are
//! already in PostgreSQL's `$N` style. The claiming and locking steps are
//! in `locking.rs`.

use std::error::Error;

use ::postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use bytes::BytesMut;

use super::{P, Tx};
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::sql::{Arg, Db, Row, Value};
use crate::store::{ClaimRequest, JobId, SiteId, StoreError, StoreResult};

type BoxError = Box<dyn Error + Sync + Send>;

/// Type mapping: the schemas differ only in how they spell types (SQLite's
/// INTEGER is BIGINT here, its 0/1 flags BOOLEAN, REAL DOUBLE PRECISION),
/// and the server tells each placeholder's type, so one `Value` fits both.
impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                _ => Err(mismatch(self, ty)),
            },
            Value::Real(v) => match *ty {
                Type::FLOAT8 => v.to_sql(ty, out),
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                _ => Err(mismatch(self, ty)),
            },
            Value::Bool(v) => match *ty {
                Type::BOOL => v.to_sql(ty, out),
                Type::INT8 => i64::from(v).to_sql(ty, out),
                _ => Err(mismatch(self, ty)),
            },
            Value::Text(v) => {
                if <&str as ToSql>::accepts(ty) {
                    v.to_sql(ty, out)
                } else {
                    Err(mismatch(self, ty))
                }
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn mismatch(v: &Value<'_>, ty: &Type) -> BoxError {
    format!("cannot bind {v:?} to a parameter of type {ty}").into()
}

fn read<'a, T: ::postgres::types::FromSql<'a>>(
    row: &'a ::postgres::Row,
    idx: usize,
) -> StoreResult<T> {
    row.try_get(idx).map_err(|e| {
        StoreError::Backend(format!(
            "cannot read column {idx} ({}): {e}",
            row.columns().get(idx).map_or("?", |c| c.name())
        ))
    })
}

fn column_type(row: &::postgres::Row, idx: usize) -> StoreResult<&Type> {
    row.columns()
        .get(idx)
        .map(|c| c.type_())
        .ok_or_else(|| StoreError::Backend(format!("no column {idx} in the result")))
}

fn wrong(row: &::postgres::Row, idx: usize, want: &str) -> StoreError {
    let col = &row.columns()[idx];
    StoreError::Backend(format!(
        "cannot read column {idx} ({}): expected {want}, found {}",
        col.name(),
        col.type_()
    ))
}

impl Row for ::postgres::Row {
    fn int(&self, idx: usize) -> StoreResult<Option<i64>> {
        match *column_type(self, idx)? {
            Type::INT8 => read(self, idx),
            Type::INT4 => Ok(read::<Option<i32>>(self, idx)?.map(i64::from)),
            Type::INT2 => Ok(read::<Option<i16>>(self, idx)?.map(i64::from)),
            _ => Err(wrong(self, idx, "an integer")),
        }
    }

    fn real(&self, idx: usize) -> StoreResult<Option<f64>> {
        match *column_type(self, idx)? {
            Type::FLOAT8 => read(self, idx),
            Type::FLOAT4 => Ok(read::<Option<f32>>(self, idx)?.map(f64::from)),
            Type::INT8 => Ok(read::<Option<i64>>(self, idx)?.map(|v| v as f64)),
            _ => Err(wrong(self, idx, "a number")),
        }
    }

    fn text(&self, idx: usize) -> StoreResult<Option<String>> {
        read(self, idx)
    }

    fn flag(&self, idx: usize) -> StoreResult<Option<bool>> {
        match *column_type(self, idx)? {
            Type::BOOL => read(self, idx),
            Type::INT8 => Ok(read::<Option<i64>>(self, idx)?.map(|v| v != 0)),
            _ => Err(wrong(self, idx, "a flag")),
        }
    }
}

fn bind<'a>(args: &[&'a dyn Arg]) -> Vec<Value<'a>> {
    args.iter().map(|&a| a.value()).collect()
}

fn refs<'a>(values: &'a [Value<'a>]) -> Vec<P<'a>> {
    values.iter().map(|v| v as P<'a>).collect()
}

impl Db for Tx<'_> {
    type Row = ::postgres::Row;

    fn query(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<Vec<::postgres::Row>> {
        let values = bind(args);
        self.query_native(sql, &refs(&values))
    }

    fn opt(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<Option<::postgres::Row>> {
        let values = bind(args);
        self.opt_native(sql, &refs(&values))
    }

    fn one(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<::postgres::Row> {
        let values = bind(args);
        self.one_native(sql, &refs(&values))
    }

    fn exec(&mut self, sql: &str, args: &[&dyn Arg]) -> StoreResult<u64> {
        let values = bind(args);
        self.exec_native(sql, &refs(&values))
    }

    fn next_claimable_job(
        &mut self,
        req: &ClaimRequest,
        now: Timestamp,
    ) -> StoreResult<Option<JobId>> {
        super::locking::next_claimable_job(self, req, now)
    }

    fn lock_sites(&mut self) -> StoreResult<()> {
        super::locking::lock_sites(self)
    }

    fn lock_topics(&mut self, site: SiteId) -> StoreResult<()> {
        super::locking::lock_topics(self, site)
    }

    fn lock_budget_totals(&mut self, keys: &[String; 5]) -> StoreResult<[Money; 5]> {
        super::locking::budget_totals(self, keys)
    }
}
