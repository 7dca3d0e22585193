//! The PostgreSQL store: the same `Store` meaning as SQLite, for one or
//! several instances sharing a database. A small pool of synchronous
//! `postgres` clients (each owns its own tiny runtime, so call this only
//! from blocking threads), statements prepared once per connection, every
//! method one transaction. Transient failures (a dropped connection before
//! commit, a deadlock or serialization failure) are retried here instead of
//! surfacing as errors; what is left is `StoreError::Unavailable`.
//!
//! Concurrency between instances: job claims serialize on an advisory lock
//! and take the row `FOR UPDATE SKIP LOCKED`; job transitions lock their row;
//! budget reservations lock their scope rows in key order; the schedule's
//! compare-and-set locks the site row; slot keys are UNIQUE.

mod connect;
mod dialect;
mod locking;

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use ::postgres::error::SqlState;
use ::postgres::types::ToSql;
use ::postgres::{Client, Row, Statement};

pub use connect::redact_url;

use super::migrate::{self, Migration};
use super::sql;
use super::sql::backend::Backend;
use super::*;
use crate::config::PgOptions;
use crate::domain::lifecycle::Timestamp;

/// A parameter list for one statement.
pub(crate) type P<'a> = &'a (dyn ToSql + Sync);

/// The advisory-lock key of schema migrations ("bp-migr" as ASCII).
const MIGRATE_LOCK: i64 = 0x0062_702d_6d69_6772;

pub struct PgStore {
    pool: Pool,
    described: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.described)
            .finish()
    }
}

/// One pooled connection and its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

struct Pool {
    connector: connect::Connector,
    max: usize,
    checkout_timeout: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections that exist (idle or checked out).
    open: usize,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, a new one while under the limit, or waits for
    /// one to come back (up to the checkout timeout).
    fn checkout(&self) -> StoreResult<Conn> {
        let deadline = Instant::now() + self.checkout_timeout;
        let mut state = self.lock();
        loop {
            while let Some(conn) = state.idle.pop() {
                if conn.client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(conn);
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connector.connect() {
                    Ok(client) => Ok(Conn {
                        client,
                        statements: HashMap::new(),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "all {} database connections are busy after waiting {:?}; raise database.pool_size \
                     or look for slow queries",
                    self.max, self.checkout_timeout
                )));
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn checkin(&self, conn: Conn) {
        let mut state = self.lock();
        if conn.client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(conn);
        }
        drop(state);
        self.freed.notify_one();
    }

    /// A connection that failed is closed rather than reused.
    fn discard(&self, conn: Conn) {
        drop(conn);
        self.lock().open -= 1;
        self.freed.notify_one();
    }
}

impl Drop for Pool {
    /// Each client owns a small runtime, and dropping a runtime on an async
    /// worker panics; the store's last owner may well be async code (the
    /// daemon at shutdown). So the connections are closed on a thread of
    /// their own.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        if idle.is_empty() {
            return;
        }
        let _ = std::thread::spawn(move || drop(idle)).join();
    }
}

/// A transaction with the connection's statement cache.
pub(crate) struct Tx<'a> {
    inner: ::postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
    /// Set when the server aborted the transaction for a conflict with
    /// another one (deadlock, serialization): running it again can succeed.
    conflict: bool,
}

impl Tx<'_> {
    fn fail(&mut self, e: ::postgres::Error) -> StoreError {
        if matches!(
            e.code(),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE | &SqlState::T_R_DEADLOCK_DETECTED)
        ) {
            self.conflict = true;
        }
        map_err(e)
    }

    fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = match self.inner.prepare(sql) {
            Ok(s) => s,
            Err(e) => return Err(self.fail(e)),
        };
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub fn query_native(&mut self, sql: &str, params: &[P<'_>]) -> StoreResult<Vec<Row>> {
        let s = self.statement(sql)?;
        self.inner.query(&s, params).map_err(|e| self.fail(e))
    }

    pub fn opt_native(&mut self, sql: &str, params: &[P<'_>]) -> StoreResult<Option<Row>> {
        let s = self.statement(sql)?;
        self.inner.query_opt(&s, params).map_err(|e| self.fail(e))
    }

    pub fn one_native(&mut self, sql: &str, params: &[P<'_>]) -> StoreResult<Row> {
        let s = self.statement(sql)?;
        self.inner.query_one(&s, params).map_err(|e| self.fail(e))
    }

    pub fn exec_native(&mut self, sql: &str, params: &[P<'_>]) -> StoreResult<u64> {
        let s = self.statement(sql)?;
        self.inner.execute(&s, params).map_err(|e| self.fail(e))
    }

    fn batch(&mut self, sql: &str) -> StoreResult<()> {
        self.inner.batch_execute(sql).map_err(|e| self.fail(e))
    }
}

pub(crate) fn map_err(e: ::postgres::Error) -> StoreError {
    let unavailable = e.is_closed()
        || match e.code() {
            None => true, // I/O, TLS or protocol trouble: the connection
            Some(code) => matches!(
                *code,
                SqlState::T_R_SERIALIZATION_FAILURE
                    | SqlState::T_R_DEADLOCK_DETECTED
                    | SqlState::LOCK_NOT_AVAILABLE
                    | SqlState::QUERY_CANCELED
                    | SqlState::ADMIN_SHUTDOWN
                    | SqlState::CRASH_SHUTDOWN
                    | SqlState::CANNOT_CONNECT_NOW
                    | SqlState::TOO_MANY_CONNECTIONS
                    | SqlState::CONNECTION_FAILURE
                    | SqlState::CONNECTION_EXCEPTION
            ),
        };
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            // "error connecting to server" alone says little: add the causes.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let c_text = c.to_string();
                if !text.contains(&c_text) {
                    text.push_str(": ");
                    text.push_str(&c_text);
                }
                cause = c.source();
            }
            text
        }
    };
    if unavailable {
        StoreError::Unavailable(text)
    } else {
        StoreError::Backend(text)
    }
}

/// Conflicts (deadlock, serialization) are retried this many times.
const CONFLICT_RETRIES: u32 = 8;

impl PgStore {
    /// Connects (one connection, to fail early with a clear message) and
    /// checks the schema against this binary. Pending migrations are not
    /// applied; call [`Store::migrate`]. Blocking: never call it on an async
    /// worker thread.
    pub fn open(url: &str, options: &PgOptions) -> StoreResult<Self> {
        let connector = connect::Connector::new(url, options)?;
        let described = connector.describe();
        let store = PgStore {
            pool: Pool {
                connector,
                max: options.pool_size.max(1) as usize,
                checkout_timeout: options.pool_timeout,
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
            },
            described,
        };
        store.run(|tx| {
            tx.batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version    BIGINT PRIMARY KEY,
                     name       TEXT NOT NULL,
                     checksum   TEXT NOT NULL,
                     applied_at BIGINT NOT NULL
                 )",
            )
        })?;
        migrate::plan(&store.applied_migrations()?, Self::migrations())?;
        Ok(store)
    }

    pub fn migrations() -> &'static [Migration] {
        migrate::POSTGRES
    }

    /// The database, password removed: safe to print.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// Runs `f` in one transaction and commits. A conflict with another
    /// transaction is retried (with a short growing pause); a connection
    /// lost before the commit is retried once on a new connection. A
    /// connection lost during the commit is not retried (the outcome is
    /// unknown): the caller gets `Unavailable`.
    pub(crate) fn run<T>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conflicts = 0;
        let mut reconnected = false;
        loop {
            let mut conn = self.pool.checkout()?;
            let (result, conflict, at_commit) = {
                let Conn { client, statements } = &mut conn;
                match client.transaction() {
                    Err(e) => (Err(map_err(e)), false, false),
                    Ok(inner) => {
                        let mut tx = Tx {
                            inner,
                            statements,
                            conflict: false,
                        };
                        match f(&mut tx) {
                            Ok(out) => match tx.inner.commit() {
                                Ok(()) => (Ok(out), false, false),
                                Err(e) => {
                                    let conflict = matches!(
                                        e.code(),
                                        Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                                    );
                                    (Err(map_err(e)), conflict, !conflict)
                                }
                            },
                            Err(e) => {
                                let conflict = tx.conflict;
                                drop(tx); // rolls back
                                (Err(e), conflict, false)
                            }
                        }
                    }
                }
            };
            let lost = conn.client.is_closed();
            match result {
                Ok(out) => {
                    self.pool.checkin(conn);
                    return Ok(out);
                }
                Err(e) => {
                    if lost {
                        self.pool.discard(conn);
                    } else {
                        self.pool.checkin(conn);
                    }
                    if conflict && conflicts < CONFLICT_RETRIES {
                        conflicts += 1;
                        std::thread::sleep(Duration::from_millis(
                            2 * u64::from(conflicts) + fastrand::u64(0..5),
                        ));
                        continue;
                    }
                    if lost && !at_commit && !reconnected {
                        reconnected = true;
                        tracing::warn!(database = %self.described, error = %e,
                            "database connection lost; reconnecting and trying again");
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// A pooled connection for bulk work outside the Store trait (`db
    /// copy`): `f` gets the raw client; the connection goes back to the
    /// pool afterwards (or is dropped if it broke).
    pub fn with_client<T>(&self, f: impl FnOnce(&mut Client) -> T) -> StoreResult<T> {
        let mut conn = self.pool.checkout()?;
        let out = f(&mut conn.client);
        if conn.client.is_closed() {
            self.pool.discard(conn);
        } else {
            self.pool.checkin(conn);
        }
        Ok(out)
    }

    /// Drops every pooled connection (tests use it to simulate a server
    /// restart; operators never need it).
    pub fn close_idle_connections(&self) {
        let idle = {
            let mut state = self.pool.lock();
            state.open -= state.idle.len();
            std::mem::take(&mut state.idle)
        };
        let _ = std::thread::spawn(move || drop(idle)).join();
    }
}

impl Backend for PgStore {
    type Db<'a> = Tx<'a>;

    fn read<T>(&self, f: impl FnMut(&mut Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.run(f)
    }

    fn write<T>(&self, f: impl FnMut(&mut Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.run(f)
    }

    fn known_migrations(&self) -> &'static [Migration] {
        Self::migrations()
    }

    /// One transaction under an advisory lock: several instances starting
    /// at once migrate once; the others find nothing left to do. DDL is
    /// transactional on PostgreSQL, so a failed migration leaves nothing.
    fn apply_migrations(&self, now: Timestamp) -> StoreResult<Vec<AppliedMigration>> {
        self.run(|tx| {
            tx.exec_native("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
            let plan = migrate::plan(&sql::schema::applied(tx)?, Self::migrations())?;
            let mut done = Vec::new();
            for m in plan {
                tx.batch(m.sql).map_err(|e| {
                    StoreError::Schema(format!("migration {} failed: {e}", m.file_stem()))
                })?;
                done.push(sql::schema::record(tx, m, now)?);
            }
            Ok(done)
        })
    }
}
