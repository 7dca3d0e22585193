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

mod budget;
mod connect;
mod dialect;
mod jobs;
mod outputs;
mod publish;
mod review;
mod topics;
mod waits;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use ::postgres::error::SqlState;
use ::postgres::types::{FromSql, ToSql};
use ::postgres::{Client, Row, Statement};
use chrono::{DateTime, TimeZone, Utc};

pub use connect::redact_url;

use super::migrate::{self, Migration};
use super::sql;
use super::*;
use crate::config::PgOptions;
use crate::domain::lifecycle::{JobStatus, Stage, Timestamp, WaitKind};

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

/// A column, with a decoding failure reported as a store error.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> StoreResult<T> {
    row.try_get(idx).map_err(|e| {
        StoreError::Backend(format!(
            "cannot read column {idx} ({}): {e}",
            row.columns().get(idx).map_or("?", |c| c.name())
        ))
    })
}

/// A non-negative count column (BIGINT) as u32.
pub(crate) fn get_u32(row: &Row, idx: usize) -> StoreResult<u32> {
    let v: i64 = get(row, idx)?;
    Ok(u32::try_from(v.max(0)).unwrap_or(u32::MAX))
}

pub(crate) fn get_ts(row: &Row, idx: usize) -> StoreResult<Timestamp> {
    Ok(ts(get(row, idx)?))
}

pub(crate) fn get_ts_opt(row: &Row, idx: usize) -> StoreResult<Option<Timestamp>> {
    Ok(get::<Option<i64>>(row, idx)?.map(ts))
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

/// Milliseconds since the epoch → timestamp.
pub(crate) fn ts(ms: i64) -> Timestamp {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

fn parse_col<T>(value: &str, parse: fn(&str) -> Option<T>, what: &str) -> StoreResult<T> {
    parse(value).ok_or_else(|| StoreError::Backend(format!("unknown {what} \"{value}\"")))
}

pub(crate) fn stage_col(row: &Row, idx: usize) -> StoreResult<Stage> {
    parse_col(get::<&str>(row, idx)?, Stage::parse, "stage")
}

pub(crate) fn job_status_col(row: &Row, idx: usize) -> StoreResult<JobStatus> {
    parse_col(get::<&str>(row, idx)?, JobStatus::parse, "job status")
}

pub(crate) fn site_id(tx: &mut Tx<'_>, name: &str) -> StoreResult<SiteId> {
    match tx.opt_native("SELECT id FROM sites WHERE name = $1", &[&name])? {
        Some(r) => Ok(SiteId(get(&r, 0)?)),
        None => Err(StoreError::Conflict(format!(
            "unknown site \"{name}\": it is not in the config"
        ))),
    }
}

pub(crate) fn insert_event(tx: &mut Tx<'_>, e: &NewEvent, now: Timestamp) -> StoreResult<()> {
    let site: Option<i64> = match &e.site {
        Some(name) => match tx.opt_native("SELECT id FROM sites WHERE name = $1", &[name])? {
            Some(r) => Some(get(&r, 0)?),
            None => None,
        },
        None => None,
    };
    let message = crate::redact::string(&e.message);
    tx.exec_native(
        "INSERT INTO events (at, site_id, run_id, job_id, kind, actor, message) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&ms(now), &site, &e.run_id.map(|r| r.0), &e.job_id.map(|j| j.0), &e.kind, &e.actor, &message],
    )?;
    Ok(())
}

fn insert_run(tx: &mut Tx<'_>, run: &NewRun, now: Timestamp) -> StoreResult<Enqueued> {
    let site = site_id(tx, &run.site)?;
    // ON CONFLICT on the UNIQUE slot key: a second instance enqueueing the
    // same slot waits for the first one's commit, then inserts nothing.
    let inserted = tx.opt_native(
        "INSERT INTO runs (site_id, trigger, slot_key, until_stage, status, created_at)
         VALUES ($1, $2, $3, $4, 'running', $5)
         ON CONFLICT (slot_key) DO NOTHING RETURNING id",
        &[
            &site.0,
            &run.trigger.as_str(),
            &run.slot_key,
            &run.until.map(Stage::as_str),
            &ms(now),
        ],
    )?;
    let run_id = match inserted {
        Some(r) => RunId(get(&r, 0)?),
        None => {
            let row = tx.one_native("SELECT id FROM runs WHERE slot_key = $1", &[&run.slot_key])?;
            return Ok(Enqueued::Existing(RunId(get(&row, 0)?)));
        }
    };
    jobs::insert_job(tx, run_id, site, run.first_stage, run.max_attempts, now)?;
    insert_event(
        tx,
        &NewEvent {
            site: Some(run.site.clone()),
            run_id: Some(run_id),
            job_id: None,
            kind: "run.created".into(),
            actor: match run.trigger {
                RunTrigger::Schedule => "scheduler".into(),
                RunTrigger::Once => "cli".into(),
                RunTrigger::Manual => "operator".into(),
            },
            message: format!("{} run created ({})", run.site, run.trigger.as_str()),
        },
        now,
    )?;
    Ok(Enqueued::Created(run_id))
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
        migrate::plan(&store.applied()?, Self::migrations())?;
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

    fn applied(&self) -> StoreResult<Vec<AppliedMigration>> {
        self.run(applied)
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

fn applied(tx: &mut Tx<'_>) -> StoreResult<Vec<AppliedMigration>> {
    tx.query_native(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(AppliedMigration {
            version: get_u32(r, 0)?,
            name: get(r, 1)?,
            checksum: get(r, 2)?,
            applied_at: get_ts(r, 3)?,
        })
    })
    .collect()
}

impl Store for PgStore {
    fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let applied = self.applied()?;
        let pending = migrate::plan(&applied, Self::migrations())?
            .iter()
            .map(|m| m.file_stem())
            .collect();
        Ok(SchemaStatus {
            applied,
            pending,
            latest_known: Self::migrations().last().map_or(0, |m| m.version),
        })
    }

    fn migrate(&self, now: Timestamp) -> StoreResult<Vec<AppliedMigration>> {
        // One transaction under an advisory lock: several instances starting
        // at once migrate once; the others find nothing left to do. DDL is
        // transactional on PostgreSQL, so a failed migration leaves nothing.
        self.run(|tx| {
            tx.exec_native("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
            let plan = migrate::plan(&applied(tx)?, Self::migrations())?;
            let mut done = Vec::new();
            for m in plan {
                tx.batch(m.sql).map_err(|e| {
                    StoreError::Schema(format!("migration {} failed: {e}", m.file_stem()))
                })?;
                tx.exec_native(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                    &[&i64::from(m.version), &m.name, &m.checksum(), &ms(now)],
                )?;
                done.push(AppliedMigration {
                    version: m.version,
                    name: m.name.to_string(),
                    checksum: m.checksum(),
                    applied_at: now,
                });
            }
            Ok(done)
        })
    }

    fn sync_sites(&self, sites: &[SiteSpec], now: Timestamp) -> StoreResult<()> {
        self.run(|tx| {
            // Serialize with other instances syncing at the same moment.
            tx.exec_native("LOCK TABLE sites IN SHARE ROW EXCLUSIVE MODE", &[])?;
            tx.exec_native(
                "UPDATE sites SET enabled = FALSE, updated_at = $1 WHERE enabled",
                &[&ms(now)],
            )?;
            for s in sites {
                tx.exec_native(
                    "INSERT INTO sites (name, enabled, max_concurrency, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
                     ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled,
                         max_concurrency = excluded.max_concurrency, updated_at = excluded.updated_at",
                    &[&s.name, &s.enabled, &i64::from(s.max_concurrency), &ms(now)],
                )?;
                let id = site_id(tx, &s.name)?;
                for src in &s.sources {
                    tx.exec_native(
                        "INSERT INTO sources (site_id, url, kind, created_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (site_id, url) DO UPDATE SET kind = excluded.kind",
                        &[&id.0, &src.url, &src.kind, &ms(now)],
                    )?;
                }
            }
            Ok(())
        })
    }

    fn list_sites(&self) -> StoreResult<Vec<SiteRecord>> {
        self.run(|tx| sql::reads::list_sites(tx))
    }

    fn set_site_paused(
        &self,
        site: &str,
        paused: bool,
        reason: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let reason = crate::redact::option(reason);
        let reason = reason.as_deref();
        self.run(|tx| {
            site_id(tx, site)?;
            tx.exec_native(
                "UPDATE sites SET paused = $2, pause_reason = $3, updated_at = $4 WHERE name = $1",
                &[
                    &site,
                    &paused,
                    &if paused { reason } else { None },
                    &ms(now),
                ],
            )?;
            Ok(())
        })
    }

    fn enqueue_run(&self, run: &NewRun, now: Timestamp) -> StoreResult<Enqueued> {
        self.run(|tx| insert_run(tx, run, now))
    }

    fn advance_schedule(&self, a: &SlotAdvance, now: Timestamp) -> StoreResult<Option<Enqueued>> {
        self.run(|tx| {
            // The site row stays locked until commit: the compare-and-set
            // below cannot interleave with another instance's.
            let row = tx
                .opt_native(
                    "SELECT next_run_at FROM sites WHERE name = $1 FOR UPDATE",
                    &[&a.site],
                )?
                .ok_or_else(|| StoreError::Conflict(format!("unknown site \"{}\"", a.site)))?;
            let current: Option<i64> = get(&row, 0)?;
            if current != a.expected_next.map(ms) {
                return Ok(None);
            }
            let enqueued = match &a.run {
                Some(run) => Some(insert_run(tx, run, now)?),
                None => None,
            };
            tx.exec_native(
                "UPDATE sites SET next_run_at = $2, schedule_key = $3, updated_at = $4,
                     last_run_at = CASE WHEN $5 THEN $4 ELSE last_run_at END
                 WHERE name = $1",
                &[
                    &a.site,
                    &a.new_next.map(ms),
                    &a.schedule_key,
                    &ms(now),
                    &enqueued.is_some(),
                ],
            )?;
            Ok(enqueued)
        })
    }

    fn get_run(&self, id: RunId) -> StoreResult<RunRecord> {
        self.run(|tx| sql::reads::get_run(tx, id))
    }

    fn list_runs(
        &self,
        site: Option<&str>,
        limit: u32,
        before: Option<RunId>,
    ) -> StoreResult<Vec<RunRecord>> {
        self.run(|tx| sql::reads::list_runs(tx, site, limit, before))
    }

    fn claim_next_job(
        &self,
        req: &ClaimRequest,
        now: Timestamp,
    ) -> StoreResult<Option<ClaimedJob>> {
        self.run(|tx| jobs::claim(tx, req, now))
    }

    fn heartbeat_job(&self, job: JobId, owner: &str, lease_until: Timestamp) -> StoreResult<bool> {
        self.run(|tx| {
            let n = tx.exec_native(
                "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
                &[&job.0, &owner, &ms(lease_until)],
            )?;
            Ok(n == 1)
        })
    }

    fn complete_job(
        &self,
        job: &ClaimedJob,
        owner: &str,
        output: &StageOutput,
        now: Timestamp,
    ) -> StoreResult<()> {
        let output = output.redacted();
        self.run(|tx| jobs::complete(tx, job, owner, &output, now))
    }

    fn fail_job(
        &self,
        job: &ClaimedJob,
        owner: &str,
        failure: &JobFailure,
        policy: &RetryPolicy,
        now: Timestamp,
    ) -> StoreResult<JobStatus> {
        let failure = failure.redacted();
        self.run(|tx| jobs::fail(tx, job, owner, &failure, policy, now))
    }

    fn release_job(&self, job: JobId, owner: &str, now: Timestamp) -> StoreResult<()> {
        self.run(|tx| jobs::release(tx, job, owner, now))
    }

    fn reclaim_leases(
        &self,
        all_running: bool,
        poison_after: u32,
        now: Timestamp,
    ) -> StoreResult<Reclaimed> {
        self.run(|tx| jobs::reclaim(tx, all_running, poison_after, now))
    }

    fn retry_job(&self, job: JobId, actor: &str, now: Timestamp) -> StoreResult<()> {
        self.run(|tx| jobs::operator_retry(tx, job, actor, now))
    }

    fn cancel_job(&self, job: JobId, actor: &str, now: Timestamp) -> StoreResult<()> {
        self.run(|tx| jobs::operator_cancel(tx, job, actor, now))
    }

    fn get_job(&self, job: JobId) -> StoreResult<JobRecord> {
        self.run(|tx| sql::reads::get_job(tx, job))
    }

    fn list_jobs(
        &self,
        run: Option<RunId>,
        status: Option<JobStatus>,
        limit: u32,
    ) -> StoreResult<Vec<JobRecord>> {
        self.run(|tx| sql::reads::list_jobs(tx, run, status, limit))
    }

    fn job_counts(&self) -> StoreResult<BTreeMap<JobStatus, u64>> {
        self.run(|tx| sql::reads::job_counts(tx))
    }

    fn list_sources(&self, site: &str) -> StoreResult<Vec<SourceRecord>> {
        self.run(|tx| sql::reads::list_sources(tx, site))
    }

    fn list_source_items(
        &self,
        site: &str,
        since: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<SourceItemRecord>> {
        self.run(|tx| sql::reads::list_source_items(tx, site, since.map(ms), limit))
    }

    fn get_source_items(&self, ids: &[i64]) -> StoreResult<Vec<SourceItemRecord>> {
        self.run(|tx| sql::reads::get_source_items(tx, ids))
    }

    fn selected_topic(&self, run: RunId) -> StoreResult<Option<TopicRecord>> {
        self.run(|tx| sql::reads::selected_topic(tx, run))
    }

    fn reserve_budget(&self, req: &BudgetRequest, now: Timestamp) -> StoreResult<Reservation> {
        self.run(|tx| budget::reserve(tx, req, now))
    }

    fn record_llm_call(&self, call: &NewLlmCall, now: Timestamp) -> StoreResult<i64> {
        let call = call.redacted();
        self.run(|tx| budget::record_call(tx, &call, now))
    }

    fn list_llm_calls(&self, run: Option<RunId>, limit: u32) -> StoreResult<Vec<LlmCallRecord>> {
        self.run(|tx| budget::list_calls(tx, run, limit))
    }

    fn spend_report(&self, now: Timestamp) -> StoreResult<SpendReport> {
        self.run(|tx| budget::report(tx, now))
    }

    fn wake_waiting_jobs(&self, kind: WaitKind, now: Timestamp) -> StoreResult<u64> {
        self.run(|tx| waits::wake(tx, kind, now))
    }

    fn wake_cap_waits_if_caps_changed(&self, caps: &str, now: Timestamp) -> StoreResult<u64> {
        self.run(|tx| waits::wake_cap_waits_if_changed(tx, caps, now))
    }

    fn daemon_state(&self, key: &str) -> StoreResult<Option<String>> {
        self.run(|tx| waits::get(tx, key))
    }

    fn set_daemon_state(&self, key: &str, value: &str, now: Timestamp) -> StoreResult<()> {
        self.run(|tx| waits::set(tx, key, value, now))
    }

    fn article_for_run(&self, run: RunId) -> StoreResult<Option<ArticleRecord>> {
        self.run(|tx| sql::reads::article_where(tx, "a.run_id = $1", run.0))
    }

    fn get_article(&self, id: ArticleId) -> StoreResult<ArticleRecord> {
        self.run(|tx| sql::reads::article_where(tx, "a.id = $1", id.0))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("article {id}"),
            })
    }

    fn list_article_titles(&self, site: &str, limit: u32) -> StoreResult<Vec<ArticleTitle>> {
        self.run(|tx| sql::reads::list_article_titles(tx, site, limit))
    }

    fn list_articles(&self, filter: &ArticleFilter) -> StoreResult<Vec<ArticleRecord>> {
        self.run(|tx| sql::reads::list_articles(tx, filter))
    }

    fn set_article_image(
        &self,
        article: ArticleId,
        image: &ArticleImage,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.run(|tx| publish::set_image(tx, article, image, now))
    }

    fn article_image(&self, article: ArticleId) -> StoreResult<Option<ArticleImage>> {
        self.run(|tx| publish::image(tx, article))
    }

    fn approve_article(
        &self,
        article: ArticleId,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome> {
        self.run(|tx| review::approve(tx, article, actor, now))
    }

    fn reject_article(
        &self,
        article: ArticleId,
        reason: &str,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome> {
        let reason = crate::redact::text(reason);
        self.run(|tx| review::reject(tx, article, &reason, actor, now))
    }

    fn request_publish(
        &self,
        article: ArticleId,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome> {
        self.run(|tx| review::request_publish(tx, article, actor, now))
    }

    fn begin_publish(&self, intent: &PublishIntent, now: Timestamp) -> StoreResult<PublishBegin> {
        self.run(|tx| publish::begin(tx, intent, now))
    }

    fn publish_entry(&self, article: ArticleId) -> StoreResult<Option<PublishEntry>> {
        self.run(|tx| publish::entry(tx, article))
    }

    fn record_publish_error(
        &self,
        article: ArticleId,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let error = crate::redact::text(error);
        self.run(|tx| publish::record_error(tx, article, &error, now))
    }

    fn record_event(&self, event: &NewEvent, now: Timestamp) -> StoreResult<()> {
        self.run(|tx| insert_event(tx, event, now))
    }

    fn list_events(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<EventRecord>> {
        self.run(|tx| sql::reads::list_events(tx, limit, before))
    }

    fn create_api_token(&self, token: &NewApiToken, now: Timestamp) -> StoreResult<ApiTokenRecord> {
        self.run(|tx| sql::operator::create_token(tx, token, now))
    }

    fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>> {
        self.run(|tx| sql::operator::list_tokens(tx))
    }

    fn revoke_api_token(&self, name: &str, actor: &str, now: Timestamp) -> StoreResult<()> {
        self.run(|tx| sql::operator::revoke_token(tx, name, actor, now))
    }

    fn active_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>> {
        self.run(|tx| sql::operator::active_tokens(tx))
    }

    fn touch_api_token(&self, id: i64, now: Timestamp) -> StoreResult<()> {
        self.run(|tx| sql::operator::touch_token(tx, id, now))
    }

    fn cap_overrides(&self) -> StoreResult<Vec<CapOverride>> {
        self.run(|tx| sql::operator::overrides(tx))
    }

    fn set_cap_overrides(
        &self,
        changes: &[CapChange],
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<CapOverride>> {
        self.run(|tx| sql::operator::set_overrides(tx, changes, actor, now))
    }

    fn list_jobs_page(&self, filter: &JobFilter) -> StoreResult<Vec<JobRecord>> {
        self.run(|tx| sql::reads::list_jobs_page(tx, filter))
    }

    fn cost_lines(&self, since: Timestamp) -> StoreResult<Vec<CostLine>> {
        self.run(|tx| sql::operator::cost_lines(tx, since))
    }

    fn site_queues(&self) -> StoreResult<Vec<SiteQueue>> {
        self.run(|tx| sql::operator::site_queues(tx))
    }

    fn metrics_snapshot(&self) -> StoreResult<MetricsSnapshot> {
        self.run(|tx| sql::operator::metrics_snapshot(tx))
    }

    fn ping(&self) -> StoreResult<()> {
        self.run(|tx| {
            tx.one_native("SELECT 1", &[])?;
            Ok(())
        })
    }
}
