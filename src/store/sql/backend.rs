//! The `Store` trait, implemented once for every database: each method is
//! one transaction (`Backend::read` or `Backend::write`) around the shared
//! statements of this module's siblings. A backend supplies transactions,
//! its migrations and, through `Db`, the few steps that differ (claiming,
//! locking).

use std::collections::BTreeMap;

use super::{Db, budget, jobs, ms, operator, publish, reads, review, schema, sites, waits};
use crate::domain::lifecycle::{JobStatus, RetryPolicy, Timestamp, WaitKind};
use crate::store::migrate::{self, Migration};
use crate::store::*;

/// What a database gives the shared store.
pub(crate) trait Backend: Send + Sync {
    /// A transaction (or, for SQLite reads, the connection) running shared SQL.
    type Db<'a>: Db;

    /// Runs `f` for a read. PostgreSQL: a transaction like any other;
    /// SQLite: on the connection, without a write lock.
    fn read<T>(&self, f: impl FnMut(&mut Self::Db<'_>) -> StoreResult<T>) -> StoreResult<T>;

    /// Runs `f` in one write transaction and commits. PostgreSQL may run
    /// it again after a conflict with another instance (so `f` is `FnMut`
    /// and must not keep effects outside the transaction); SQLite takes the
    /// write lock up front (IMMEDIATE).
    fn write<T>(&self, f: impl FnMut(&mut Self::Db<'_>) -> StoreResult<T>) -> StoreResult<T>;

    /// This binary's migrations for the database (own folder, own DDL).
    fn known_migrations(&self) -> &'static [Migration];

    /// Applies the pending migrations: how differs per database (one
    /// transaction each on SQLite, all under an advisory lock on PostgreSQL).
    fn apply_migrations(&self, now: Timestamp) -> StoreResult<Vec<AppliedMigration>>;

    fn applied_migrations(&self) -> StoreResult<Vec<AppliedMigration>> {
        self.read(|db| schema::applied(db))
    }

    fn migration_status(&self) -> StoreResult<SchemaStatus> {
        let applied = self.applied_migrations()?;
        let known = self.known_migrations();
        let pending = migrate::plan(&applied, known)?
            .iter()
            .map(|m| m.file_stem())
            .collect();
        Ok(SchemaStatus {
            applied,
            pending,
            latest_known: known.last().map_or(0, |m| m.version),
        })
    }
}

impl<B: Backend> Store for B {
    fn schema_status(&self) -> StoreResult<SchemaStatus> {
        self.migration_status()
    }

    fn migrate(&self, now: Timestamp) -> StoreResult<Vec<AppliedMigration>> {
        self.apply_migrations(now)
    }

    fn sync_sites(&self, sites: &[SiteSpec], now: Timestamp) -> StoreResult<()> {
        self.write(|tx| sites::sync_sites(tx, sites, now))
    }

    fn list_sites(&self) -> StoreResult<Vec<SiteRecord>> {
        self.read(|tx| reads::list_sites(tx))
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
        self.write(|tx| sites::set_site_paused(tx, site, paused, reason, now))
    }

    fn enqueue_run(&self, run: &NewRun, now: Timestamp) -> StoreResult<Enqueued> {
        self.write(|tx| sites::insert_run(tx, run, now))
    }

    fn advance_schedule(&self, a: &SlotAdvance, now: Timestamp) -> StoreResult<Option<Enqueued>> {
        self.write(|tx| sites::advance_schedule(tx, a, now))
    }

    fn get_run(&self, id: RunId) -> StoreResult<RunRecord> {
        self.read(|tx| reads::get_run(tx, id))
    }

    fn list_runs(
        &self,
        site: Option<&str>,
        limit: u32,
        before: Option<RunId>,
    ) -> StoreResult<Vec<RunRecord>> {
        self.read(|tx| reads::list_runs(tx, site, limit, before))
    }

    fn claim_next_job(
        &self,
        req: &ClaimRequest,
        now: Timestamp,
    ) -> StoreResult<Option<ClaimedJob>> {
        self.write(|tx| jobs::claim(tx, req, now))
    }

    fn heartbeat_job(&self, job: JobId, owner: &str, lease_until: Timestamp) -> StoreResult<bool> {
        self.write(|tx| jobs::heartbeat(tx, job, owner, lease_until))
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
        self.read(|tx| reads::get_job(tx, job))
    }

    fn list_jobs(
        &self,
        run: Option<RunId>,
        status: Option<JobStatus>,
        limit: u32,
    ) -> StoreResult<Vec<JobRecord>> {
        self.read(|tx| reads::list_jobs(tx, run, status, limit))
    }

    fn job_counts(&self) -> StoreResult<BTreeMap<JobStatus, u64>> {
        self.read(|tx| reads::job_counts(tx))
    }

    fn list_sources(&self, site: &str) -> StoreResult<Vec<SourceRecord>> {
        self.read(|tx| reads::list_sources(tx, site))
    }

    fn list_source_items(
        &self,
        site: &str,
        since: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<SourceItemRecord>> {
        self.read(|tx| reads::list_source_items(tx, site, since.map(ms), limit))
    }

    fn get_source_items(&self, ids: &[i64]) -> StoreResult<Vec<SourceItemRecord>> {
        self.read(|tx| reads::get_source_items(tx, ids))
    }

    fn selected_topic(&self, run: RunId) -> StoreResult<Option<TopicRecord>> {
        self.read(|tx| reads::selected_topic(tx, run))
    }

    fn reserve_budget(&self, req: &BudgetRequest, now: Timestamp) -> StoreResult<Reservation> {
        self.write(|tx| budget::reserve(tx, req, now))
    }

    fn record_llm_call(&self, call: &NewLlmCall, now: Timestamp) -> StoreResult<i64> {
        let call = call.redacted();
        self.write(|tx| budget::record_call(tx, &call, now))
    }

    fn list_llm_calls(&self, run: Option<RunId>, limit: u32) -> StoreResult<Vec<LlmCallRecord>> {
        self.read(|tx| budget::list_calls(tx, run, limit))
    }

    fn spend_report(&self, now: Timestamp) -> StoreResult<SpendReport> {
        self.read(|tx| budget::report(tx, now))
    }

    fn wake_waiting_jobs(&self, kind: WaitKind, now: Timestamp) -> StoreResult<u64> {
        self.write(|tx| waits::wake(tx, kind, now))
    }

    fn wake_cap_waits_if_caps_changed(&self, caps: &str, now: Timestamp) -> StoreResult<u64> {
        self.write(|tx| waits::wake_cap_waits_if_changed(tx, caps, now))
    }

    fn daemon_state(&self, key: &str) -> StoreResult<Option<String>> {
        self.read(|tx| waits::get(tx, key))
    }

    fn set_daemon_state(&self, key: &str, value: &str, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| waits::set(tx, key, value, now))
    }

    fn article_for_run(&self, run: RunId) -> StoreResult<Option<ArticleRecord>> {
        self.read(|tx| reads::article_where(tx, "a.run_id = $1", run.0))
    }

    fn get_article(&self, id: ArticleId) -> StoreResult<ArticleRecord> {
        self.read(|tx| reads::article_where(tx, "a.id = $1", id.0))?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("article {id}"),
            })
    }

    fn list_article_titles(&self, site: &str, limit: u32) -> StoreResult<Vec<ArticleTitle>> {
        self.read(|tx| reads::list_article_titles(tx, site, limit))
    }

    fn list_articles(&self, filter: &ArticleFilter) -> StoreResult<Vec<ArticleRecord>> {
        self.read(|tx| reads::list_articles(tx, filter))
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
        self.read(|tx| publish::image(tx, article))
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
        self.read(|tx| publish::entry(tx, article))
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
        self.write(|tx| sites::insert_event(tx, event, now))
    }

    fn list_events(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<EventRecord>> {
        self.read(|tx| reads::list_events(tx, limit, before))
    }

    fn create_api_token(&self, token: &NewApiToken, now: Timestamp) -> StoreResult<ApiTokenRecord> {
        self.write(|tx| operator::create_token(tx, token, now))
    }

    fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>> {
        self.read(|tx| operator::list_tokens(tx))
    }

    fn revoke_api_token(&self, name: &str, actor: &str, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| operator::revoke_token(tx, name, actor, now))
    }

    fn active_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>> {
        self.read(|tx| operator::active_tokens(tx))
    }

    fn touch_api_token(&self, id: i64, now: Timestamp) -> StoreResult<()> {
        self.write(|tx| operator::touch_token(tx, id, now))
    }

    fn cap_overrides(&self) -> StoreResult<Vec<CapOverride>> {
        self.read(|tx| operator::overrides(tx))
    }

    fn set_cap_overrides(
        &self,
        changes: &[CapChange],
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<CapOverride>> {
        self.write(|tx| operator::set_overrides(tx, changes, actor, now))
    }

    fn list_jobs_page(&self, filter: &JobFilter) -> StoreResult<Vec<JobRecord>> {
        self.read(|tx| reads::list_jobs_page(tx, filter))
    }

    fn cost_lines(&self, since: Timestamp) -> StoreResult<Vec<CostLine>> {
        self.read(|tx| operator::cost_lines(tx, since))
    }

    fn site_queues(&self) -> StoreResult<Vec<SiteQueue>> {
        self.read(|tx| operator::site_queues(tx))
    }

    fn metrics_snapshot(&self) -> StoreResult<MetricsSnapshot> {
        self.read(|tx| operator::metrics_snapshot(tx))
    }

    fn ping(&self) -> StoreResult<()> {
        self.read(|tx| {
            tx.one("SELECT 1", &[])?;
            Ok(())
        })
    }
}
