//! The domain records the store reads and writes: ids, sites, runs, jobs,
//! sources, articles, events, migrations, the publish ledger. What stages
//! hand in to commit is in `stage_output.rs`. Backend-neutral: no SQL types
//! here, times are `Timestamp` (UTC), money is `Money`.

use serde::{Deserialize, Serialize};

use super::stage_output::{GenerationNotes, NewArticle};
use crate::domain::lifecycle::{ArticleStatus, JobStatus, RunStatus, Stage, Timestamp, WaitKind};

macro_rules! id_type {
    ($name:ident) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(SiteId);
id_type!(RunId);
id_type!(JobId);
id_type!(ArticleId);

/// What the config says about a site, as synced into the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSpec {
    pub name: String,
    pub enabled: bool,
    pub max_concurrency: u32,
    pub sources: Vec<SourceSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub url: String,
    pub kind: String,
}

/// A site's runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteRecord {
    pub id: SiteId,
    pub name: String,
    pub enabled: bool,
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub max_concurrency: u32,
    pub schedule_key: Option<String>,
    pub next_run_at: Option<Timestamp>,
    pub last_run_at: Option<Timestamp>,
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunTrigger {
    /// A cron slot.
    Schedule,
    /// `run --once`.
    Once,
    /// An operator through the API or TUI.
    Manual,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Schedule => "schedule",
            RunTrigger::Once => "once",
            RunTrigger::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<RunTrigger> {
        [RunTrigger::Schedule, RunTrigger::Once, RunTrigger::Manual]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// A request for a new run of a site's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub site: String,
    pub trigger: RunTrigger,
    /// Unique per (site, slot): enqueueing the same slot twice is a no-op.
    pub slot_key: Option<String>,
    pub first_stage: Stage,
    /// Stop after this stage.
    pub until: Option<Stage>,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Created(RunId),
    /// A run for this slot already exists.
    Existing(RunId),
}

impl Enqueued {
    pub fn run_id(self) -> RunId {
        match self {
            Enqueued::Created(id) | Enqueued::Existing(id) => id,
        }
    }
}

/// A scheduler decision applied atomically: move the site's next slot from
/// `expected_next` to `new_next`, and enqueue `run` if one is due. If another
/// instance moved it first, nothing happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotAdvance {
    pub site: String,
    pub schedule_key: String,
    pub expected_next: Option<Timestamp>,
    pub new_next: Option<Timestamp>,
    pub run: Option<NewRun>,
}

/// Which jobs a worker may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub owner: String,
    pub lease: std::time::Duration,
    /// Jobs running at once across the whole database.
    pub global_limit: u32,
    /// Only jobs of these runs (`run --once`); `None` takes any.
    pub only_runs: Option<Vec<RunId>>,
}

/// A job a worker holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimedJob {
    pub id: JobId,
    pub run_id: RunId,
    pub site: String,
    pub site_id: SiteId,
    pub stage: Stage,
    pub attempts: u32,
    pub max_attempts: u32,
    pub until: Option<Stage>,
    pub lease_expires_at: Timestamp,
}

/// What [`Store::reclaim_leases`](super::Store::reclaim_leases) did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reclaimed {
    /// Jobs put back in the queue.
    pub requeued: u64,
    /// Jobs that ended dead instead: out of attempts, or a poison pill.
    pub dead: Vec<DeadJob>,
}

impl Reclaimed {
    /// Every job taken back, requeued or dead.
    pub fn total(&self) -> u64 {
        self.requeued + self.dead.len() as u64
    }
}

/// A job a reclaim left dead, with the reason kept on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadJob {
    pub id: JobId,
    pub run_id: RunId,
    pub site: String,
    pub stage: Stage,
    pub attempts: u32,
    pub error: String,
    /// It killed the process `engine.poison_after` times in a row.
    pub poison_pill: bool,
}

/// How a stage failed, as far as the engine cares.
#[derive(Debug, Clone, PartialEq)]
pub enum JobFailure {
    /// Try again later (with backoff) unless the attempts are spent.
    Retryable { error: String, jitter: f64 },
    /// Retrying cannot help: the job is dead until an operator acts.
    Permanent { error: String },
    /// Not a failure: wait until `until` with a visible reason; `kind`
    /// says what may end the wait early.
    Deferred {
        kind: WaitKind,
        reason: String,
        until: Timestamp,
    },
}

/// A job as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub run_id: RunId,
    pub site: String,
    pub stage: Stage,
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub not_before: Timestamp,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub wait_reason: Option<String>,
    /// Why a waiting job waits (cap, provider, target), and until when that
    /// reason holds; a cap wait woken by a cap change keeps its deadline
    /// here while `not_before` says it is due now.
    pub wait_kind: Option<WaitKind>,
    pub wait_until: Option<Timestamp>,
    pub result_summary: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    pub id: RunId,
    pub site: String,
    pub trigger: RunTrigger,
    pub slot_key: Option<String>,
    pub until: Option<Stage>,
    pub status: RunStatus,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// A stored competitor item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceItemRecord {
    pub id: i64,
    pub site: String,
    pub source_url: Option<String>,
    pub key_hash: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: String,
    pub summary: String,
    pub published_at: Option<Timestamp>,
    pub fetched_at: Timestamp,
    /// The run whose monitor stage stored it first.
    pub run_id: Option<RunId>,
}

/// A source and its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRecord {
    pub id: i64,
    pub site: String,
    pub url: String,
    pub kind: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub next_check_at: Option<Timestamp>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_checked_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    /// Entries the last successful read skipped as unreadable.
    pub skipped_entries: u32,
}

/// A topic the topics stage stored for a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicRecord {
    pub keyword: String,
    pub score: f64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArticleRecord {
    pub id: ArticleId,
    pub site: String,
    pub run_id: Option<RunId>,
    pub status: ArticleStatus,
    #[serde(flatten)]
    pub content: NewArticle,
    pub check_score: Option<u8>,
    pub check_report: Option<serde_json::Value>,
    pub review_reason: Option<String>,
    pub published_url: Option<String>,
    pub created_at: Timestamp,
    pub published_at: Option<Timestamp>,
    /// `None` for articles written before generation notes existed.
    pub generation: Option<GenerationNotes>,
}

/// What topic selection needs to know of an article of ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArticleTitle {
    pub id: ArticleId,
    pub title: String,
    pub focus_keyword: String,
    pub topic: String,
    pub status: ArticleStatus,
}

/// Something an operator should be able to see later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub site: Option<String>,
    pub run_id: Option<RunId>,
    pub job_id: Option<JobId>,
    pub kind: String,
    /// "engine", "scheduler", "cli", or an API token name.
    pub actor: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    pub id: i64,
    pub at: Timestamp,
    pub site: Option<String>,
    pub run_id: Option<RunId>,
    pub job_id: Option<JobId>,
    pub kind: String,
    pub actor: String,
    pub message: String,
}

/// Migration state, for `db status` and /readyz.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaStatus {
    pub applied: Vec<AppliedMigration>,
    /// Known to the binary, not yet applied.
    pub pending: Vec<String>,
    pub latest_known: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMigration {
    pub version: u32,
    pub name: String,
    pub checksum: String,
    pub applied_at: Timestamp,
}

/// Where an article's publication stands in the publish ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerStatus {
    /// Recorded before the request that creates the post: the post may or
    /// may not exist remotely. Ask the target before creating again.
    Intent,
    /// The publish stage's output is committed.
    Published,
}

impl LedgerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerStatus::Intent => "intent",
            LedgerStatus::Published => "published",
        }
    }

    pub fn parse(s: &str) -> Option<LedgerStatus> {
        match s {
            "intent" => Some(LedgerStatus::Intent),
            "published" => Some(LedgerStatus::Published),
            _ => None,
        }
    }
}

/// The publish stage asks to post an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishIntent {
    pub article_id: ArticleId,
    /// "wordpress" or "outbox".
    pub target: String,
    /// Stable per article; travels with the post. An existing row keeps its key.
    pub idempotency_key: String,
    /// The site takes at most one post attempt per this interval.
    pub min_interval: std::time::Duration,
}

/// The answer to a [`PublishIntent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishBegin {
    /// The intent is committed: go ahead (after asking the target whether the
    /// post already exists).
    Go(PublishEntry),
    /// The site's rate limit: try again at `until`. Nothing was written.
    Wait { until: Timestamp },
}

/// One article's row in the publish ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishEntry {
    pub article_id: ArticleId,
    pub site: String,
    pub target: String,
    pub idempotency_key: String,
    pub status: LedgerStatus,
    pub remote_id: Option<String>,
    pub remote_url: Option<String>,
    /// Post attempts begun (each one committed before its request).
    pub attempts: u32,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An article's featured image: a local file or an http(s) URL, uploaded to
/// the site's media library when the article is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArticleImage {
    pub source: String,
    pub alt_text: String,
}

/// Which articles to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArticleFilter {
    pub site: Option<String>,
    pub status: Option<ArticleStatus>,
    pub limit: u32,
    /// Only articles with a smaller id (paging).
    pub before: Option<ArticleId>,
}

/// What an operator's review action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewOutcome {
    pub article_id: ArticleId,
    pub run_id: RunId,
    pub status: ArticleStatus,
    /// The publish job that will post the article, when there is one.
    pub publish_job: Option<JobId>,
    /// One line for the operator.
    pub message: String,
}
