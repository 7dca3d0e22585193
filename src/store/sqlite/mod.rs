//! The SQLite store: one file, WAL, foreign keys on, a busy timeout, and one
//! connection behind a mutex — SQLite allows one writer, and every write
//! here is a short transaction. Owns the SQLite dialect; the meaning of each
//! method is the `Store` trait's.

mod budget;
mod dialect;
mod jobs;
mod outputs;
mod publish;
mod review;
mod topics;
mod waits;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::migrate::{self, Migration};
use super::sql;
use super::*;
use crate::domain::lifecycle::{JobStatus, Stage, Timestamp, WaitKind};
use dialect::Lite;

pub struct SqliteStore {
    path: PathBuf,
    busy_timeout: Duration,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and checks its
    /// schema against this binary: an edited migration or a newer database
    /// is refused here, before anything is written. Pending migrations are
    /// not applied; call [`Store::migrate`].
    pub fn open(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        // Folder 0700 and file 0600 before SQLite, which would make it 0644.
        crate::private_files::prepare_sqlite(path).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create the database {} (owner-only): {e}",
                path.display()
            ))
        })?;
        let conn = open_connection(path, busy_timeout)?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            busy_timeout,
            conn: Mutex::new(conn),
        };
        migrate::plan(&store.applied()?, Self::migrations())?;
        Ok(store)
    }

    /// Closes the connection, lets `swap` replace the database file, and
    /// opens the file again — while every other caller of this store waits
    /// on the connection lock. The WAL is checkpointed and truncated first,
    /// so `swap` finds the whole database in the main file and may delete
    /// the `-wal`/`-shm` files. Used by the daemon's restore; the caller
    /// must have stopped its workers and must migrate afterwards.
    pub fn replace_database<T>(
        &self,
        swap: impl FnOnce(&Path) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(map_err)?;
        let placeholder = Connection::open_in_memory().map_err(map_err)?;
        // Dropping the old connection closes the file.
        drop(std::mem::replace(&mut *conn, placeholder));
        let swapped = swap(&self.path);
        // Open again whatever happened: on failure the old file is still there.
        let _ = crate::private_files::prepare_sqlite(&self.path);
        *conn = open_connection(&self.path, self.busy_timeout)?;
        swapped
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn migrations() -> &'static [Migration] {
        migrate::SQLITE
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open
        // (rusqlite rolls back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in an IMMEDIATE transaction (takes the write lock up front,
    /// so two writers never deadlock upgrading a read lock).
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let out = f(&tx)?;
        tx.commit().map_err(map_err)?;
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.conn();
        f(&conn)
    }

    fn applied(&self) -> StoreResult<Vec<AppliedMigration>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
                .map_err(map_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(AppliedMigration {
                        version: r.get(0)?,
                        name: r.get(1)?,
                        checksum: r.get(2)?,
                        applied_at: ts(r.get(3)?),
                    })
                })
                .map_err(map_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
        })
    }

    /// A consistent copy of the live database (SQLite's online backup API).
    pub fn backup_to(&self, dest: &Path) -> StoreResult<()> {
        let conn = self.conn();
        conn.backup(rusqlite::MAIN_DB, dest, None).map_err(map_err)
    }
}

/// Opens the file with our settings (WAL, foreign keys, busy timeout) and
/// makes sure the migrations table exists.
fn open_connection(path: &Path, busy_timeout: Duration) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(|e| {
        StoreError::Backend(format!("cannot open the database {}: {e}", path.display()))
    })?;
    conn.busy_timeout(busy_timeout).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(256);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         -- Checkpoint every 4,000 WAL pages (16 MB) instead of 1,000: the
         -- same hot pages (jobs, budget totals) are copied back once, not
         -- four times, and checkpoints fsync a quarter as often.
         PRAGMA wal_autocheckpoint = 4000;
         PRAGMA cache_size = -16000; -- 16 MB of pages: the working set of a busy site
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             checksum   TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         );",
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::Schema(format!(
            "{} is not a SQLite database (or it is encrypted or damaged); point database.url elsewhere or restore a backup",
            path.display()
        )),
        _ => map_err(e),
    })?;
    Ok(conn)
}

/// Statement caching for every query: parsing SQL costs more than running
/// these small statements.
pub(crate) trait CachedExt {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn query_row_cached<
        T,
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    >(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T>;
}

impl CachedExt for Connection {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<
        T,
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    >(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
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

fn parse_col<T>(value: String, parse: fn(&str) -> Option<T>, what: &str) -> rusqlite::Result<T> {
    parse(&value).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown {what} \"{value}\"").into(),
        )
    })
}

pub(crate) fn stage_col(v: String) -> rusqlite::Result<Stage> {
    parse_col(v, Stage::parse, "stage")
}

pub(crate) fn job_status_col(v: String) -> rusqlite::Result<JobStatus> {
    parse_col(v, JobStatus::parse, "job status")
}

fn site_id(tx: &Connection, name: &str) -> StoreResult<SiteId> {
    tx.query_row_cached("SELECT id FROM sites WHERE name = ?1", [name], |r| r.get(0))
        .optional()
        .map_err(map_err)?
        .map(SiteId)
        .ok_or_else(|| {
            StoreError::Conflict(format!("unknown site \"{name}\": it is not in the config"))
        })
}

fn insert_event(tx: &Connection, e: &NewEvent, now: Timestamp) -> StoreResult<()> {
    let site: Option<i64> = match &e.site {
        Some(name) => tx
            .query_row_cached("SELECT id FROM sites WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(map_err)?,
        None => None,
    };
    tx.exec_cached(
        "INSERT INTO events (at, site_id, run_id, job_id, kind, actor, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![ms(now), site, e.run_id.map(|r| r.0), e.job_id.map(|j| j.0), e.kind, e.actor, crate::redact::text(&e.message)],
    )
    .map_err(map_err)?;
    Ok(())
}

fn insert_run(tx: &Transaction<'_>, run: &NewRun, now: Timestamp) -> StoreResult<Enqueued> {
    let site = site_id(tx, &run.site)?;
    if let Some(slot) = &run.slot_key {
        let existing: Option<i64> = tx
            .query_row_cached("SELECT id FROM runs WHERE slot_key = ?1", [slot], |r| {
                r.get(0)
            })
            .optional()
            .map_err(map_err)?;
        if let Some(id) = existing {
            return Ok(Enqueued::Existing(RunId(id)));
        }
    }
    tx.exec_cached(
        "INSERT INTO runs (site_id, trigger, slot_key, until_stage, status, created_at) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
        params![site.0, run.trigger.as_str(), run.slot_key, run.until.map(Stage::as_str), ms(now)],
    )
    .map_err(map_err)?;
    let run_id = RunId(tx.last_insert_rowid());
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

impl Store for SqliteStore {
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
        let applied = self.applied()?;
        let plan = migrate::plan(&applied, Self::migrations())?;
        let mut done = Vec::new();
        for m in plan {
            self.write(|tx| {
                tx.execute_batch(m.sql).map_err(|e| StoreError::Schema(format!("migration {} failed: {e}", m.file_stem())))?;
                tx.exec_cached(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                    params![m.version, m.name, m.checksum(), ms(now)],
                )
                .map_err(map_err)?;
                Ok(())
            })?;
            done.push(AppliedMigration {
                version: m.version,
                name: m.name.to_string(),
                checksum: m.checksum(),
                applied_at: now,
            });
        }
        Ok(done)
    }

    fn sync_sites(&self, sites: &[SiteSpec], now: Timestamp) -> StoreResult<()> {
        self.write(|tx| {
            tx.exec_cached("UPDATE sites SET enabled = 0, updated_at = ?1 WHERE enabled = 1", [ms(now)]).map_err(map_err)?;
            for s in sites {
                tx.exec_cached(
                    "INSERT INTO sites (name, enabled, max_concurrency, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
                     ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled,
                         max_concurrency = excluded.max_concurrency, updated_at = excluded.updated_at",
                    params![s.name, s.enabled, s.max_concurrency, ms(now)],
                )
                .map_err(map_err)?;
                let id = site_id(tx, &s.name)?;
                for src in &s.sources {
                    tx.exec_cached(
                        "INSERT INTO sources (site_id, url, kind, created_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (site_id, url) DO UPDATE SET kind = excluded.kind",
                        params![id.0, src.url, src.kind, ms(now)],
                    )
                    .map_err(map_err)?;
                }
            }
            Ok(())
        })
    }

    fn list_sites(&self) -> StoreResult<Vec<SiteRecord>> {
        self.read(|c| sql::reads::list_sites(&mut Lite(c)))
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
        self.write(|tx| {
            site_id(tx, site)?;
            tx.exec_cached(
                "UPDATE sites SET paused = ?2, pause_reason = ?3, updated_at = ?4 WHERE name = ?1",
                params![site, paused, if paused { reason } else { None }, ms(now)],
            )
            .map_err(map_err)?;
            Ok(())
        })
    }

    fn enqueue_run(&self, run: &NewRun, now: Timestamp) -> StoreResult<Enqueued> {
        self.write(|tx| insert_run(tx, run, now))
    }

    fn advance_schedule(&self, a: &SlotAdvance, now: Timestamp) -> StoreResult<Option<Enqueued>> {
        self.write(|tx| {
            let current: Option<i64> = tx
                .query_row_cached(
                    "SELECT next_run_at FROM sites WHERE name = ?1",
                    [&a.site],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?
                .ok_or_else(|| StoreError::Conflict(format!("unknown site \"{}\"", a.site)))?;
            if current != a.expected_next.map(ms) {
                return Ok(None);
            }
            let enqueued = match &a.run {
                Some(run) => Some(insert_run(tx, run, now)?),
                None => None,
            };
            tx.exec_cached(
                "UPDATE sites SET next_run_at = ?2, schedule_key = ?3, updated_at = ?4,
                     last_run_at = CASE WHEN ?5 THEN ?4 ELSE last_run_at END
                 WHERE name = ?1",
                params![
                    a.site,
                    a.new_next.map(ms),
                    a.schedule_key,
                    ms(now),
                    enqueued.is_some()
                ],
            )
            .map_err(map_err)?;
            Ok(enqueued)
        })
    }

    fn get_run(&self, id: RunId) -> StoreResult<RunRecord> {
        self.read(|c| sql::reads::get_run(&mut Lite(c), id))
    }

    fn list_runs(
        &self,
        site: Option<&str>,
        limit: u32,
        before: Option<RunId>,
    ) -> StoreResult<Vec<RunRecord>> {
        self.read(|c| sql::reads::list_runs(&mut Lite(c), site, limit, before))
    }

    fn claim_next_job(
        &self,
        req: &ClaimRequest,
        now: Timestamp,
    ) -> StoreResult<Option<ClaimedJob>> {
        self.write(|tx| jobs::claim(tx, req, now))
    }

    fn heartbeat_job(&self, job: JobId, owner: &str, lease_until: Timestamp) -> StoreResult<bool> {
        self.write(|tx| {
            let n = tx
                .exec_cached(
                    "UPDATE jobs SET lease_expires_at = ?3 WHERE id = ?1 AND lease_owner = ?2 AND status = 'running'",
                    params![job.0, owner, ms(lease_until)],
                )
                .map_err(map_err)?;
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
        self.write(|tx| jobs::complete(tx, job, owner, &output, now))
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
        self.write(|tx| jobs::fail(tx, job, owner, &failure, policy, now))
    }

    fn release_job(&self, job: JobId, owner: &str, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| jobs::release(tx, job, owner, now))
    }

    fn reclaim_leases(
        &self,
        all_running: bool,
        poison_after: u32,
        now: Timestamp,
    ) -> StoreResult<Reclaimed> {
        self.write(|tx| jobs::reclaim(tx, all_running, poison_after, now))
    }

    fn retry_job(&self, job: JobId, actor: &str, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| jobs::operator_retry(tx, job, actor, now))
    }

    fn cancel_job(&self, job: JobId, actor: &str, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| jobs::operator_cancel(tx, job, actor, now))
    }

    fn get_job(&self, job: JobId) -> StoreResult<JobRecord> {
        self.read(|c| sql::reads::get_job(&mut Lite(c), job))
    }

    fn list_jobs(
        &self,
        run: Option<RunId>,
        status: Option<JobStatus>,
        limit: u32,
    ) -> StoreResult<Vec<JobRecord>> {
        self.read(|c| sql::reads::list_jobs(&mut Lite(c), run, status, limit))
    }

    fn job_counts(&self) -> StoreResult<BTreeMap<JobStatus, u64>> {
        self.read(|c| sql::reads::job_counts(&mut Lite(c)))
    }

    fn list_sources(&self, site: &str) -> StoreResult<Vec<SourceRecord>> {
        self.read(|c| sql::reads::list_sources(&mut Lite(c), site))
    }

    fn list_source_items(
        &self,
        site: &str,
        since: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<SourceItemRecord>> {
        self.read(|c| sql::reads::list_source_items(&mut Lite(c), site, since.map(ms), limit))
    }

    fn get_source_items(&self, ids: &[i64]) -> StoreResult<Vec<SourceItemRecord>> {
        self.read(|c| sql::reads::get_source_items(&mut Lite(c), ids))
    }

    fn selected_topic(&self, run: RunId) -> StoreResult<Option<TopicRecord>> {
        self.read(|c| sql::reads::selected_topic(&mut Lite(c), run))
    }

    fn reserve_budget(&self, req: &BudgetRequest, now: Timestamp) -> StoreResult<Reservation> {
        self.write(|tx| budget::reserve(tx, req, now))
    }

    fn record_llm_call(&self, call: &NewLlmCall, now: Timestamp) -> StoreResult<i64> {
        let call = call.redacted();
        self.write(|tx| budget::record_call(tx, &call, now))
    }

    fn list_llm_calls(&self, run: Option<RunId>, limit: u32) -> StoreResult<Vec<LlmCallRecord>> {
        self.read(|c| budget::list_calls(c, run, limit))
    }

    fn spend_report(&self, now: Timestamp) -> StoreResult<SpendReport> {
        self.read(|c| budget::report(c, now))
    }

    fn wake_waiting_jobs(&self, kind: WaitKind, now: Timestamp) -> StoreResult<u64> {
        self.write(|tx| waits::wake(tx, kind, now))
    }

    fn wake_cap_waits_if_caps_changed(&self, caps: &str, now: Timestamp) -> StoreResult<u64> {
        self.write(|tx| waits::wake_cap_waits_if_changed(tx, caps, now))
    }

    fn daemon_state(&self, key: &str) -> StoreResult<Option<String>> {
        self.read(|c| waits::get(c, key))
    }

    fn set_daemon_state(&self, key: &str, value: &str, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| waits::set(tx, key, value, now))
    }

    fn article_for_run(&self, run: RunId) -> StoreResult<Option<ArticleRecord>> {
        self.read(|c| sql::reads::article_where(&mut Lite(c), "a.run_id = $1", run.0))
    }

    fn get_article(&self, id: ArticleId) -> StoreResult<ArticleRecord> {
        self.read(|c| sql::reads::article_where(&mut Lite(c), "a.id = $1", id.0))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("article {id}"),
            })
    }

    fn list_article_titles(&self, site: &str, limit: u32) -> StoreResult<Vec<ArticleTitle>> {
        self.read(|c| sql::reads::list_article_titles(&mut Lite(c), site, limit))
    }

    fn list_articles(&self, filter: &ArticleFilter) -> StoreResult<Vec<ArticleRecord>> {
        self.read(|c| sql::reads::list_articles(&mut Lite(c), filter))
    }

    fn set_article_image(
        &self,
        article: ArticleId,
        image: &ArticleImage,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.write(|tx| publish::set_image(tx, article, image, now))
    }

    fn article_image(&self, article: ArticleId) -> StoreResult<Option<ArticleImage>> {
        self.read(|c| publish::image(c, article))
    }

    fn approve_article(
        &self,
        article: ArticleId,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome> {
        self.write(|tx| review::approve(tx, article, actor, now))
    }

    fn reject_article(
        &self,
        article: ArticleId,
        reason: &str,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome> {
        let reason = crate::redact::text(reason);
        self.write(|tx| review::reject(tx, article, &reason, actor, now))
    }

    fn request_publish(
        &self,
        article: ArticleId,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome> {
        self.write(|tx| review::request_publish(tx, article, actor, now))
    }

    fn begin_publish(&self, intent: &PublishIntent, now: Timestamp) -> StoreResult<PublishBegin> {
        self.write(|tx| publish::begin(tx, intent, now))
    }

    fn publish_entry(&self, article: ArticleId) -> StoreResult<Option<PublishEntry>> {
        self.read(|c| publish::entry(c, article))
    }

    fn record_publish_error(
        &self,
        article: ArticleId,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let error = crate::redact::text(error);
        self.write(|tx| publish::record_error(tx, article, &error, now))
    }

    fn record_event(&self, event: &NewEvent, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| insert_event(tx, event, now))
    }

    fn list_events(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<EventRecord>> {
        self.read(|c| sql::reads::list_events(&mut Lite(c), limit, before))
    }

    fn create_api_token(&self, token: &NewApiToken, now: Timestamp) -> StoreResult<ApiTokenRecord> {
        self.write(|tx| sql::operator::create_token(&mut Lite(tx), token, now))
    }

    fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>> {
        self.read(|c| sql::operator::list_tokens(&mut Lite(c)))
    }

    fn revoke_api_token(&self, name: &str, actor: &str, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| sql::operator::revoke_token(&mut Lite(tx), name, actor, now))
    }

    fn active_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>> {
        self.read(|c| sql::operator::active_tokens(&mut Lite(c)))
    }

    fn touch_api_token(&self, id: i64, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| sql::operator::touch_token(&mut Lite(tx), id, now))
    }

    fn cap_overrides(&self) -> StoreResult<Vec<CapOverride>> {
        self.read(|c| sql::operator::overrides(&mut Lite(c)))
    }

    fn set_cap_overrides(
        &self,
        changes: &[CapChange],
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<CapOverride>> {
        self.write(|tx| sql::operator::set_overrides(&mut Lite(tx), changes, actor, now))
    }

    fn list_jobs_page(&self, filter: &JobFilter) -> StoreResult<Vec<JobRecord>> {
        self.read(|c| sql::reads::list_jobs_page(&mut Lite(c), filter))
    }

    fn cost_lines(&self, since: Timestamp) -> StoreResult<Vec<CostLine>> {
        self.read(|c| sql::operator::cost_lines(&mut Lite(c), since))
    }

    fn site_queues(&self) -> StoreResult<Vec<SiteQueue>> {
        self.read(|c| sql::operator::site_queues(&mut Lite(c)))
    }

    fn metrics_snapshot(&self) -> StoreResult<MetricsSnapshot> {
        self.read(|c| sql::operator::metrics_snapshot(&mut Lite(c)))
    }

    fn ping(&self) -> StoreResult<()> {
        self.read(|c| {
            c.query_row_cached("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map_err(map_err)?;
            Ok(())
        })
    }
}
