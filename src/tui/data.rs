//! The API's answers as the TUI reads them: only the fields it shows, every
//! one defaulted, so a newer daemon with more fields still works.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Spend {
    pub spent: i64,
    pub reserved: i64,
    pub total: i64,
    pub cap: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Window {
    pub today: Spend,
    pub month: Spend,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Queue {
    pub queued: u64,
    pub waiting: u64,
    pub running: u64,
    pub dead: u64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SiteStatus {
    pub name: String,
    pub enabled: bool,
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub schedule: Option<String>,
    pub last_run_at: Option<String>,
    pub next_run_at: Option<String>,
    pub queue: Queue,
    pub today: Spend,
    pub month: Spend,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Status {
    pub generated_at: Option<String>,
    pub version: Option<String>,
    /// Boxed: keeps the TUI's event enum small (clippy::large_enum_variant).
    pub update: Box<UpdateInfo>,
    pub global: Window,
    pub jobs: std::collections::BTreeMap<String, u64>,
    pub sites: Vec<SiteStatus>,
    /// A running db copy or restore (the daemon's work is paused meanwhile).
    pub operations: Vec<Operation>,
}

/// A long operation of the daemon (`/api/v1/operations`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Operation {
    pub id: u64,
    pub kind: String,
    pub state: String,
    pub description: String,
    pub started_at: Option<String>,
    pub step: String,
}

/// `[update]`: what serve's release check found.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct UpdateInfo {
    pub available: bool,
    pub latest: Option<String>,
    pub staged: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Run {
    pub id: i64,
    pub site: String,
    pub trigger: String,
    pub until: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Job {
    pub id: i64,
    pub run_id: i64,
    pub site: String,
    pub stage: String,
    pub status: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<String>,
    pub wait_reason: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ArticleSummary {
    pub id: i64,
    pub site: String,
    pub status: String,
    pub title: String,
    pub words: u64,
    pub check_score: Option<i64>,
    pub review_reason: Option<String>,
    pub published_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Article {
    pub id: i64,
    pub site: String,
    pub status: String,
    pub title: String,
    pub meta_description: Option<String>,
    pub focus_keyword: Option<String>,
    pub body_markdown: String,
    pub check_score: Option<i64>,
    pub review_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CostRow {
    pub day: Option<String>,
    pub site: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: i64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Costs {
    pub days: u32,
    pub by_day: Vec<CostRow>,
    pub by_site: Vec<CostRow>,
    pub by_model: Vec<CostRow>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct CapValues {
    pub global_daily: Option<i64>,
    pub global_monthly: Option<i64>,
    pub site_daily: Option<i64>,
    pub site_monthly: Option<i64>,
    pub article: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct GlobalCaps {
    pub effective: CapValues,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SiteCaps {
    pub site: String,
    pub effective: CapValues,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Caps {
    pub global: GlobalCaps,
    pub sites: Vec<SiteCaps>,
}

impl Caps {
    /// One row per cap that can be changed: (scope, site, value).
    pub fn rows(&self) -> Vec<(String, Option<String>, Option<i64>)> {
        let mut rows = vec![
            (
                "global_daily".to_string(),
                None,
                self.global.effective.global_daily,
            ),
            (
                "global_monthly".to_string(),
                None,
                self.global.effective.global_monthly,
            ),
        ];
        for s in &self.sites {
            for (scope, v) in [
                ("site_daily", s.effective.site_daily),
                ("site_monthly", s.effective.site_monthly),
                ("article", s.effective.article),
            ] {
                rows.push((scope.to_string(), Some(s.site.clone()), v));
            }
        }
        rows
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Source {
    pub id: i64,
    pub site: String,
    pub url: String,
    pub kind: String,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_checked_at: Option<String>,
    pub last_success_at: Option<String>,
    pub next_check_at: Option<String>,
    pub healthy: bool,
    /// Entries the last read skipped as unreadable.
    pub skipped_entries: u32,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub site: Option<String>,
    pub kind: String,
    pub actor: Option<String>,
    pub message: String,
}

/// Micro-dollars as "$1.23" (rounded down to the cent, like the caps).
pub fn dollars(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    format!("{sign}${}.{:02}", m / 1_000_000, (m % 1_000_000) / 10_000)
}

/// "2026-11-23T06:00:00Z" as "11-23 06:00" (what fits a column).
pub fn short_time(t: &Option<String>) -> String {
    match t {
        Some(t) => match (t.get(5..10), t.get(11..16)) {
            (Some(d), Some(h)) => format!("{d} {h}"),
            _ => t.clone(),
        },
        None => "-".into(),
    }
}
