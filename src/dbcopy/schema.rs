//! Which tables `db copy` moves, in which order, and how each column maps:
//! read from the SQLite file (tables, columns, primary keys, foreign keys)
//! and the migrated PostgreSQL schema (column types, identity columns).
//! The two must have the same tables and columns, or the copy stops before
//! writing anything.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;

use super::values::PgType;
use super::{CopyError, CopyResult};

/// One table to copy.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    /// In SQLite's order; the same names exist in PostgreSQL.
    pub columns: Vec<Column>,
    /// Primary-key columns, in key order: rows are read and hashed in this
    /// order on both sides.
    pub key: Vec<String>,
    /// Identity columns whose sequence must move past the copied ids.
    pub identity: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub pg: PgType,
    /// Text key columns compare bytewise (SQLite's BINARY) only with
    /// `COLLATE "C"` on the PostgreSQL side.
    pub is_text: bool,
}

/// Quotes an identifier for either database.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Tables not copied: SQLite internals and the migrations record (each
/// backend keeps its own, with its own checksums).
fn skipped(name: &str) -> bool {
    name.starts_with("sqlite_") || name == "schema_migrations"
}

fn sqlite_err(e: rusqlite::Error) -> CopyError {
    CopyError::Source(e.to_string())
}

/// The tables in an order that respects foreign keys (parents first).
pub fn plan(src: &Connection, pg: &mut impl postgres::GenericClient) -> CopyResult<Vec<Table>> {
    let names: Vec<String> = src
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(sqlite_err)?;
    let names: Vec<String> = names.into_iter().filter(|n| !skipped(n)).collect();

    let mut pg_columns: BTreeMap<String, BTreeMap<String, (String, bool)>> = BTreeMap::new();
    for row in pg
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_identity::text = 'YES'
             FROM information_schema.columns WHERE table_schema = current_schema()",
            &[],
        )
        .map_err(|e| CopyError::Target(e.to_string()))?
    {
        pg_columns
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1), (row.get(2), row.get(3)));
    }

    let mut tables = BTreeMap::new();
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let Some(target) = pg_columns.get(name) else {
            return Err(CopyError::Schema(format!(
                "table {name} exists in SQLite but not in PostgreSQL"
            )));
        };
        let info: Vec<(String, String, i64)> = src
            .prepare(&format!("PRAGMA table_info({})", ident(name)))
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(5)?)))?
                    .collect()
            })
            .map_err(sqlite_err)?;
        let mut columns = Vec::new();
        let mut key: Vec<(i64, String)> = Vec::new();
        let mut identity = Vec::new();
        for (col, decl, pk) in &info {
            let Some((data_type, is_identity)) = target.get(col) else {
                return Err(CopyError::Schema(format!(
                    "column {name}.{col} exists in SQLite but not in PostgreSQL"
                )));
            };
            let pg_type = PgType::parse(data_type).ok_or_else(|| {
                CopyError::Schema(format!(
                    "column {name}.{col} has PostgreSQL type {data_type}, which db copy does not map"
                ))
            })?;
            if *pk > 0 {
                key.push((*pk, col.clone()));
            }
            if *is_identity {
                identity.push(col.clone());
            }
            columns.push(Column {
                name: col.clone(),
                pg: pg_type,
                is_text: decl.to_ascii_uppercase().contains("TEXT"),
            });
        }
        if let Some(extra) = target
            .keys()
            .find(|c| !info.iter().any(|(n, _, _)| n == *c))
        {
            return Err(CopyError::Schema(format!(
                "column {name}.{extra} exists in PostgreSQL but not in SQLite: migrate both to the same version"
            )));
        }
        key.sort();
        let key: Vec<String> = if key.is_empty() {
            vec!["rowid".into()]
        } else {
            key.into_iter().map(|(_, c)| c).collect()
        };
        let fks: Vec<String> = src
            .prepare(&format!("PRAGMA foreign_key_list({})", ident(name)))
            .and_then(|mut s| s.query_map([], |r| r.get(2))?.collect())
            .map_err(sqlite_err)?;
        parents.insert(
            name.clone(),
            fks.into_iter().filter(|p| p != name).collect(),
        );
        tables.insert(
            name.clone(),
            Table {
                name: name.clone(),
                columns,
                key,
                identity,
            },
        );
    }
    if let Some(extra) = pg_columns
        .keys()
        .find(|t| !skipped(t) && !tables.contains_key(*t))
    {
        return Err(CopyError::Schema(format!(
            "table {extra} exists in PostgreSQL but not in SQLite: migrate both to the same version"
        )));
    }
    // Parents first.
    let mut ordered = Vec::new();
    let mut done = BTreeSet::new();
    while ordered.len() < tables.len() {
        let ready: Vec<String> = tables
            .keys()
            .filter(|t| !done.contains(*t))
            .filter(|t| {
                parents[*t]
                    .iter()
                    .all(|p| done.contains(p) || !tables.contains_key(p))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(CopyError::Schema(
                "the foreign keys between tables form a cycle".into(),
            ));
        }
        for t in ready {
            done.insert(t.clone());
            ordered.push(tables[&t].clone());
        }
    }
    Ok(ordered)
}
