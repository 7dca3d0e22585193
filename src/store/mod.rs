//! The domain-level store: one synchronous trait with methods named for what
//! the pipeline needs, implemented once (`sql/`) over two databases
//! (`sqlite/`, `postgres/`: connections, migrations, claiming, locking).
//! SQL lives in `sql/`, the dialects' few own statements and
//! `migrations/<backend>/`; callers never see it.
//!
//! The trait is synchronous on purpose (rusqlite and postgres are): async
//! code calls it through `spawn_blocking`. Every state change of a job goes
//! through `domain::lifecycle`, so backends cannot disagree on semantics.

mod conditions;
pub mod migrate;
pub mod open;
mod operator;
pub mod postgres;
mod redacted;
mod spend;
pub(crate) mod sql;
pub mod sqlite;
mod stage_output;
pub mod topic_reserve;
mod types;

use std::collections::BTreeMap;

pub(crate) use conditions::Conditions;
pub use operator::*;
pub use spend::*;
pub use stage_output::*;
pub use types::*;

use crate::domain::lifecycle::{InvalidTransition, JobStatus, RetryPolicy, Timestamp, WaitKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be used by this binary (edited migration, schema
    /// newer than the binary): the message says what to do.
    #[error("{0}")]
    Schema(String),
    /// Locked or unreachable for now; retrying later can help.
    #[error("database busy or unavailable: {0}")]
    Unavailable(String),
    #[error("{what} not found")]
    NotFound { what: String },
    /// The job was taken from this worker (lease expired, cancelled).
    #[error("job {job} is no longer held by {owner}")]
    LeaseLost { job: JobId, owner: String },
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// A request that contradicts the data (unknown site in a run request…).
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether trying the same call again later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The reason kept on a job a lease expiry left dead: both backends word it
/// the same way, and the operator reads what to do.
pub fn lease_death_reason(owner: &str, died_in_a_row: u32, poison_pill: bool) -> String {
    if poison_pill {
        format!(
            "poison pill: the process died {died_in_a_row} times in a row while running this job \
             (last holder {owner}), so it is quarantined instead of being claimed again; find the \
             crash in the log before each restart (an abort, the OOM killer), fix it, then retry \
             the job"
        )
    } else {
        format!("the worker {owner} holding it stopped (lease expired) and its attempts are spent")
    }
}

/// Everything the daemon, the CLI, the API and the TUI persist. Implemented
/// once in `sql::backend` for `sqlite::SqliteStore` and
/// `postgres::PgStore`, checked by one contract test suite on both.
pub trait Store: Send + Sync {
    /// Which migrations are applied, which are pending.
    fn schema_status(&self) -> StoreResult<SchemaStatus>;

    /// Applies pending migrations; returns those it applied.
    fn migrate(&self, now: Timestamp) -> StoreResult<Vec<AppliedMigration>>;

    // ---- sites -------------------------------------------------------------

    /// Makes the sites table match the config: inserts new sites, updates
    /// config-owned columns, and registers their sources. Runtime state
    /// (paused, next run) is kept. Sites removed from the config are disabled,
    /// never deleted: their history stays.
    fn sync_sites(&self, sites: &[SiteSpec], now: Timestamp) -> StoreResult<()>;

    fn list_sites(&self) -> StoreResult<Vec<SiteRecord>>;

    fn set_site_paused(
        &self,
        site: &str,
        paused: bool,
        reason: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;

    // ---- runs and scheduling ----------------------------------------------

    /// Creates a run and its first job in one transaction. With a slot key
    /// that already exists, returns the existing run and creates nothing.
    fn enqueue_run(&self, run: &NewRun, now: Timestamp) -> StoreResult<Enqueued>;

    /// Applies a scheduler decision atomically (compare-and-set on the site's
    /// next slot). Returns the run enqueued, if any; `None` also when another
    /// instance advanced the slot first.
    fn advance_schedule(
        &self,
        advance: &SlotAdvance,
        now: Timestamp,
    ) -> StoreResult<Option<Enqueued>>;

    fn get_run(&self, id: RunId) -> StoreResult<RunRecord>;

    fn list_runs(
        &self,
        site: Option<&str>,
        limit: u32,
        before: Option<RunId>,
    ) -> StoreResult<Vec<RunRecord>>;

    // ---- jobs --------------------------------------------------------------

    /// Takes the next due job, honouring paused sites, each site's
    /// concurrency and the global limit. Sets the lease.
    fn claim_next_job(&self, req: &ClaimRequest, now: Timestamp)
    -> StoreResult<Option<ClaimedJob>>;

    /// Extends the lease; `false` when the job is no longer this owner's.
    fn heartbeat_job(&self, job: JobId, owner: &str, lease_until: Timestamp) -> StoreResult<bool>;

    /// Commits a stage's output, marks the job succeeded and queues the next
    /// stage (or finishes the run) — all in one transaction. Fails with
    /// `LeaseLost` (and writes nothing) if the job is no longer this owner's.
    fn complete_job(
        &self,
        job: &ClaimedJob,
        owner: &str,
        output: &StageOutput,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Records a failure or deferral; returns the job's new status.
    fn fail_job(
        &self,
        job: &ClaimedJob,
        owner: &str,
        failure: &JobFailure,
        policy: &RetryPolicy,
        now: Timestamp,
    ) -> StoreResult<JobStatus>;

    /// Gives a held job back to the queue without charging an attempt.
    fn release_job(&self, job: JobId, owner: &str, now: Timestamp) -> StoreResult<()>;

    /// Requeues running jobs whose lease ran out (or, with `all_running`,
    /// every running job: only when this process is known to be the only one).
    /// A job whose lease ran out `poison_after` times in a row without its
    /// attempt ending (the process died with it each time) is made dead as
    /// a poison pill instead, as is one out of attempts.
    fn reclaim_leases(
        &self,
        all_running: bool,
        poison_after: u32,
        now: Timestamp,
    ) -> StoreResult<Reclaimed>;

    /// Operator: revive a dead or cancelled job.
    fn retry_job(&self, job: JobId, actor: &str, now: Timestamp) -> StoreResult<()>;

    /// Operator: cancel a queued, waiting or running job (and its run).
    fn cancel_job(&self, job: JobId, actor: &str, now: Timestamp) -> StoreResult<()>;

    fn get_job(&self, job: JobId) -> StoreResult<JobRecord>;

    fn list_jobs(
        &self,
        run: Option<RunId>,
        status: Option<JobStatus>,
        limit: u32,
    ) -> StoreResult<Vec<JobRecord>>;

    fn job_counts(&self) -> StoreResult<BTreeMap<JobStatus, u64>>;

    // ---- sources -----------------------------------------------------------

    /// A site's sources with their health (validators, errors, next check).
    fn list_sources(&self, site: &str) -> StoreResult<Vec<SourceRecord>>;

    /// A site's stored items, newest first; `since` limits to items fetched
    /// at or after that time.
    fn list_source_items(
        &self,
        site: &str,
        since: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<SourceItemRecord>>;

    /// Source items by id (those handed to the model for an article), in
    /// the order asked; unknown ids are skipped.
    fn get_source_items(&self, ids: &[i64]) -> StoreResult<Vec<SourceItemRecord>>;

    // ---- topics --------------------------------------------------------------

    /// The topic the topics stage selected for a run, if it chose one.
    fn selected_topic(&self, run: RunId) -> StoreResult<Option<TopicRecord>>;

    // ---- budget and LLM calls ------------------------------------------------

    /// Reserves the worst case of one LLM call against every cap in
    /// `req.caps`, in ONE transaction that also reads the spend: two
    /// reservations can never both see room that only one of them fits in.
    /// (SQLite: an IMMEDIATE transaction serializes writers; PostgreSQL must
    /// lock as well, e.g. a row per budget scope `FOR UPDATE`.) Refusals
    /// reserve nothing.
    fn reserve_budget(&self, req: &BudgetRequest, now: Timestamp) -> StoreResult<Reservation>;

    /// Records a finished LLM call and settles its reservation to the call's
    /// cost, in one transaction. A reservation never settled (the process
    /// died mid-call) keeps counting at its reserved worst case.
    fn record_llm_call(&self, call: &NewLlmCall, now: Timestamp) -> StoreResult<i64>;

    /// LLM calls, newest first; `run` limits to one run's calls.
    fn list_llm_calls(&self, run: Option<RunId>, limit: u32) -> StoreResult<Vec<LlmCallRecord>>;

    /// Spend today and this month (UTC) as of `now`: global, per site, per model.
    fn spend_report(&self, now: Timestamp) -> StoreResult<SpendReport>;

    /// Makes the jobs waiting for `kind` due now, keeping their reason and
    /// deadline until they are claimed (a job whose reason still holds
    /// waits again). Other kinds are left alone.
    fn wake_waiting_jobs(&self, kind: WaitKind, now: Timestamp) -> StoreResult<u64>;

    /// Wakes the jobs waiting for a cost cap — only those — when `caps` (a
    /// fingerprint of every cap in force: the config's and the overrides,
    /// see `pipeline::cap_waits::caps_fingerprint`) differs from the one recorded at the
    /// last start or cap change, and records it; one transaction. Returns
    /// how many jobs it woke. Provider and target waits are never woken:
    /// a restart must not discard a Retry-After.
    fn wake_cap_waits_if_caps_changed(&self, caps: &str, now: Timestamp) -> StoreResult<u64>;

    /// A fact the daemon keeps between starts (`daemon_state`), by key.
    fn daemon_state(&self, key: &str) -> StoreResult<Option<String>>;

    fn set_daemon_state(&self, key: &str, value: &str, now: Timestamp) -> StoreResult<()>;

    // ---- articles ----------------------------------------------------------

    fn article_for_run(&self, run: RunId) -> StoreResult<Option<ArticleRecord>>;

    fn get_article(&self, id: ArticleId) -> StoreResult<ArticleRecord>;

    /// A site's newest `limit` articles, whatever their status, newest
    /// first: what topic selection compares candidates with, so the site
    /// does not cover one topic twice. Unknown site: empty.
    fn list_article_titles(&self, site: &str, limit: u32) -> StoreResult<Vec<ArticleTitle>>;

    /// Articles matching the filter, newest first.
    fn list_articles(&self, filter: &ArticleFilter) -> StoreResult<Vec<ArticleRecord>>;

    /// Sets (or replaces) the article's featured image.
    fn set_article_image(
        &self,
        article: ArticleId,
        image: &ArticleImage,
        now: Timestamp,
    ) -> StoreResult<()>;

    fn article_image(&self, article: ArticleId) -> StoreResult<Option<ArticleImage>>;

    // ---- review queue (operator actions; each records an event) -----------

    /// Review|Rejected → Approved, and in the same transaction makes sure
    /// the article's run has a publish job (adding one and reopening the
    /// run, or reviving a dead one).
    fn approve_article(
        &self,
        article: ArticleId,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome>;

    /// → Rejected, keeping `reason`. A queued publish job is cancelled; a
    /// running one makes this fail with `Conflict`.
    fn reject_article(
        &self,
        article: ArticleId,
        reason: &str,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome>;

    /// For an approved article: queues its publish job again (a dead or
    /// cancelled one is revived; a queued one is left alone).
    fn request_publish(
        &self,
        article: ArticleId,
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<ReviewOutcome>;

    // ---- publish ledger ----------------------------------------------------

    /// Records the intent to post (its own committed transaction, before
    /// any request to the target), or says when the site's rate limit lets
    /// the next post go. Counts an attempt.
    fn begin_publish(&self, intent: &PublishIntent, now: Timestamp) -> StoreResult<PublishBegin>;

    fn publish_entry(&self, article: ArticleId) -> StoreResult<Option<PublishEntry>>;

    /// Keeps the last failure of a post attempt on the ledger row.
    fn record_publish_error(
        &self,
        article: ArticleId,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<()>;

    // ---- events ------------------------------------------------------------

    fn record_event(&self, event: &NewEvent, now: Timestamp) -> StoreResult<()>;

    fn list_events(&self, limit: u32, before: Option<i64>) -> StoreResult<Vec<EventRecord>>;

    // ---- operator surfaces: API tokens, cap overrides, overview reads -----

    /// Stores a new token; a name already used (even revoked) is a `Conflict`.
    fn create_api_token(&self, token: &NewApiToken, now: Timestamp) -> StoreResult<ApiTokenRecord>;

    /// Every token, revoked ones included, by name.
    fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>>;

    /// Revokes a token by name (`NotFound` if there is none; revoking twice
    /// keeps the first time). Records an event.
    fn revoke_api_token(&self, name: &str, actor: &str, now: Timestamp) -> StoreResult<()>;

    /// Tokens not revoked: the API compares a presented token's hash with
    /// each in constant time.
    fn active_api_tokens(&self) -> StoreResult<Vec<ApiTokenRecord>>;

    fn touch_api_token(&self, id: i64, now: Timestamp) -> StoreResult<()>;

    /// Cap overrides set through the API. `reserve_budget` applies them on
    /// top of the caps in the request, in its own transaction.
    fn cap_overrides(&self) -> StoreResult<Vec<CapOverride>>;

    /// Sets or removes cap overrides in one transaction, with an event naming
    /// `actor`. An unknown site is a `Conflict`.
    fn set_cap_overrides(
        &self,
        changes: &[CapChange],
        actor: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<CapOverride>>;

    /// Jobs matching the filter, newest first (paged with `before`).
    fn list_jobs_page(&self, filter: &JobFilter) -> StoreResult<Vec<JobRecord>>;

    /// Settled LLM cost per (UTC day, site, provider, model) for calls at or
    /// after `since`, newest day first.
    fn cost_lines(&self, since: Timestamp) -> StoreResult<Vec<CostLine>>;

    /// Per site: jobs queued, waiting, running and dead, and its last error.
    fn site_queues(&self) -> StoreResult<Vec<SiteQueue>>;

    /// Counts for /metrics.
    fn metrics_snapshot(&self) -> StoreResult<MetricsSnapshot>;

    /// Cheapest query that proves the database answers (for /readyz).
    fn ping(&self) -> StoreResult<()>;
}
