//! Records for the operator surfaces (the HTTP API, the status page,
//! /metrics and `blog-poster token`): API tokens, cap overrides set at run
//! time, paged job lists, cost breakdowns and the aggregates behind the
//! overview and the metrics. Backend-neutral.

use serde::Serialize;

use super::{JobId, NewEvent, RunId, SiteId, StoreError, StoreResult};
use crate::budget::CapScope;
use crate::domain::lifecycle::{JobStatus, Timestamp};
use crate::domain::money::Money;

/// What a token may do: a viewer reads, an admin also writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    Viewer,
    Admin,
}

impl TokenRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Viewer => "viewer",
            TokenRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<TokenRole> {
        match s {
            "viewer" => Some(TokenRole::Viewer),
            "admin" => Some(TokenRole::Admin),
            _ => None,
        }
    }
}

/// A token to store: only the hash of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    pub name: String,
    pub role: TokenRole,
    /// sha256 of the whole token text, hex.
    pub token_hash: String,
}

/// A stored token. `token_hash` never leaves the process (not serialized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenRecord {
    pub id: i64,
    pub name: String,
    pub role: TokenRole,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A cap set through the API, applied on top of the config's caps when a
/// reservation is made. `site` is set for the per-site and per-article
/// scopes and absent for the global ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapOverride {
    pub scope: CapScope,
    pub site: Option<String>,
    pub cap: Money,
    pub updated_by: String,
    pub updated_at: Timestamp,
}

/// A change of one cap override: `cap: None` removes the override (the
/// config's cap applies again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapChange {
    pub scope: CapScope,
    pub site: Option<String>,
    pub cap: Option<Money>,
}

/// The rules of a cap change, the same on every backend; a backend looks up
/// the site, writes the row under [`CapChange::key`] and records
/// [`CapChange::event`].
impl CapChange {
    /// The site to look up: named exactly when the scope is per site.
    pub fn site_to_look_up(&self) -> StoreResult<Option<&str>> {
        match (&self.site, self.scope.per_site()) {
            (Some(name), true) => Ok(Some(name)),
            (None, false) => Ok(None),
            (Some(_), false) => Err(StoreError::Conflict(format!(
                "the {} cap is global: leave \"site\" out",
                self.scope.as_str()
            ))),
            (None, true) => Err(StoreError::Conflict(format!(
                "the {} cap belongs to one site: name it in \"site\"",
                self.scope.as_str()
            ))),
        }
    }

    /// The override's row key: "global_daily", or "site_daily:<site id>".
    pub fn key(&self, site: Option<SiteId>) -> String {
        match site {
            Some(id) => format!("{}:{}", self.scope.as_str(), id.0),
            None => self.scope.as_str().to_string(),
        }
    }

    /// The new cap (`None`: remove the override); a negative one is refused.
    pub fn checked_cap(&self) -> StoreResult<Option<Money>> {
        match self.cap {
            Some(cap) if cap.micros() < 0 => Err(StoreError::Conflict(format!(
                "a cap cannot be negative ({cap})"
            ))),
            cap => Ok(cap),
        }
    }

    /// The audit event of this change, once applied.
    pub fn event(&self, actor: &str) -> NewEvent {
        let what = match &self.site {
            Some(s) => format!("{} cap of site \"{s}\"", self.scope.as_str()),
            None => format!("{} cap", self.scope.as_str()),
        };
        let message = match self.cap {
            Some(cap) => format!("{what} set to {cap}"),
            None => format!("{what} override removed: the config's cap applies"),
        };
        NewEvent {
            site: self.site.clone(),
            run_id: None,
            job_id: None,
            kind: "caps.changed".into(),
            actor: actor.into(),
            message,
        }
    }
}

/// Which jobs to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobFilter {
    pub site: Option<String>,
    pub run: Option<RunId>,
    pub status: Option<JobStatus>,
    pub limit: u32,
    /// Only jobs with a smaller id (paging).
    pub before: Option<JobId>,
}

/// Settled LLM cost of one (day, site, provider, model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostLine {
    /// "2026-11-05" (UTC).
    pub day: String,
    pub site: Option<String>,
    pub provider: String,
    pub model: String,
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: Money,
}

/// A site's queue and its most recent failure, for the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SiteQueue {
    pub site: String,
    pub queued: u64,
    pub waiting: u64,
    pub running: u64,
    pub dead: u64,
    /// The latest job error of the site (any status), with its time.
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
}

/// LLM usage since the database began, per provider, model and outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LlmUsageTotal {
    pub provider: String,
    pub model: String,
    pub outcome: String,
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: Money,
}

/// The database-backed figures /metrics exposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct MetricsSnapshot {
    /// (status, count) of runs.
    pub runs_by_status: Vec<(String, u64)>,
    pub llm: Vec<LlmUsageTotal>,
    /// (status, count) of publish ledger rows.
    pub publish_by_status: Vec<(String, u64)>,
    /// (site, sources whose last check failed).
    pub sources_failing: Vec<(String, u64)>,
    /// (site, sources) registered.
    pub sources_total: Vec<(String, u64)>,
    /// The newest backup that was not found broken on verification.
    pub last_backup_at: Option<Timestamp>,
}
