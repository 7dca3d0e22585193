//! What each stage hands the store to commit with its job's success
//! (`Store::complete_job`): the source states and items a monitor fetched,
//! the topic candidates, the article and its notes, the check's verdict,
//! the publication. Backend-neutral, like `types.rs`.

use serde::{Deserialize, Serialize};

use super::ArticleId;
use crate::domain::lifecycle::{Stage, Timestamp, Verdict};

/// What a stage produced. The engine commits it in the same transaction as
/// the job's success, so a crash either keeps both or neither.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one output per job, moved once into the commit: boxing buys nothing"
)]
pub enum StageOutput {
    Monitor(MonitorOutput),
    Topics(TopicsOutput),
    Generate(GenerateOutput),
    Check(CheckOutput),
    Publish(PublishOutput),
}

impl StageOutput {
    pub fn stage(&self) -> Stage {
        match self {
            StageOutput::Monitor(_) => Stage::Monitor,
            StageOutput::Topics(_) => Stage::Topics,
            StageOutput::Generate(_) => Stage::Generate,
            StageOutput::Check(_) => Stage::Check,
            StageOutput::Publish(_) => Stage::Publish,
        }
    }

    /// How the output steers the run.
    pub fn verdict(&self) -> Verdict {
        match self {
            StageOutput::Topics(t) if t.selected().is_none() => {
                Verdict::Finish("no new topic to write about".into())
            }
            StageOutput::Check(c) => match &c.decision {
                CheckDecision::Publish => Verdict::Continue,
                CheckDecision::Review { .. } => Verdict::Finish("held for review".into()),
                CheckDecision::Reject { .. } => Verdict::Finish("rejected by checks".into()),
            },
            StageOutput::Publish(p) => Verdict::Finish(format!("published to {}", p.location)),
            _ => Verdict::Continue,
        }
    }

    /// One line for progress output and the job row.
    pub fn summary(&self) -> String {
        match self {
            StageOutput::Monitor(m) => {
                let failed = m.sources.iter().filter(|s| s.error.is_some()).count();
                let unchanged = m.sources.iter().filter(|s| s.not_modified).count();
                let skipped: u32 = m.sources.iter().filter_map(|s| s.skipped_entries).sum();
                let skipped = if skipped > 0 {
                    format!(" ({skipped} unreadable entries skipped)")
                } else {
                    String::new()
                };
                format!(
                    "{} sources checked ({failed} failed, {unchanged} unchanged), {} items{skipped}",
                    m.sources.len(),
                    m.items.len()
                )
            }
            StageOutput::Topics(t) => match t.selected() {
                Some(c) => format!(
                    "topic \"{}\" (of {} candidates)",
                    c.keyword,
                    t.candidates.len()
                ),
                None => format!("no topic kept of {} candidates", t.candidates.len()),
            },
            StageOutput::Generate(g) => format!(
                "\"{}\" ({} words)",
                g.article.title,
                g.article.body_markdown.split_whitespace().count()
            ),
            StageOutput::Check(c) => format!("score {} → {}", c.score, c.decision.name()),
            StageOutput::Publish(p) => format!("{} → {}", p.target, p.location),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MonitorOutput {
    /// One entry per source checked this run.
    pub sources: Vec<SourceOutcome>,
    /// Items seen; stored once per site (by `key_hash`).
    pub items: Vec<NewSourceItem>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceOutcome {
    pub url: String,
    /// Validators, saved only when the fetch parsed.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub next_check_at: Option<Timestamp>,
    pub error: Option<String>,
    /// The source answered 304 Not Modified: checked and healthy, nothing new.
    pub not_modified: bool,
    /// Entries of the document that were skipped as unreadable (the others
    /// are stored); `None` keeps the stored count (a 304, or a failure).
    pub skipped_entries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewSourceItem {
    pub source_url: String,
    /// GUID or canonical link, hashed: the dedup key.
    pub key_hash: String,
    pub guid: Option<String>,
    pub url: Option<String>,
    pub title: String,
    /// Plain text, HTML already removed.
    pub summary: String,
    pub published_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicsOutput {
    pub candidates: Vec<TopicCandidate>,
    /// When the topic is reserved at commit, a candidate at least this
    /// similar to a topic another run of the site holds is passed over
    /// (the site's `topics.similarity_threshold`); `None`: only the same
    /// topic is. See `store::topic_reserve`.
    pub similarity_threshold: Option<f64>,
}

impl TopicsOutput {
    /// The kept candidate with the best score.
    pub fn selected(&self) -> Option<&TopicCandidate> {
        self.candidates
            .iter()
            .filter(|c| c.kept)
            .max_by(|a, b| a.score.total_cmp(&b.score))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopicCandidate {
    pub keyword: String,
    pub score: f64,
    pub kept: bool,
    /// Why it was kept or rejected.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOutput {
    pub article: NewArticle,
    /// How the article came about; stored with it for the check stage.
    pub notes: GenerationNotes,
}

/// What the generate stage knew when it wrote an article: the check stage
/// fact-checks against the same source items and holds articles whose links
/// point outside the sources and the site's allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GenerationNotes {
    pub provider: String,
    pub model: String,
    /// The source items the model was given, by id.
    pub source_item_ids: Vec<i64>,
    /// Domains linked from the article that were neither among the sources
    /// nor on the site's allow-list.
    pub unknown_link_domains: Vec<String>,
    /// Fixes made to the model's metadata (a title cut to 60 characters…).
    pub repairs: Vec<String>,
    /// LLM answers it took (2 when the first was malformed).
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NewArticle {
    pub topic: String,
    pub title: String,
    pub slug: String,
    pub meta_description: String,
    pub focus_keyword: String,
    pub excerpt: String,
    pub tags: Vec<String>,
    pub category: Option<String>,
    pub body_markdown: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutput {
    pub article_id: ArticleId,
    /// 0–100.
    pub score: u8,
    pub report: serde_json::Value,
    pub decision: CheckDecision,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckDecision {
    Publish,
    Review { reason: String },
    Reject { reason: String },
}

impl CheckDecision {
    pub fn name(&self) -> &'static str {
        match self {
            CheckDecision::Publish => "publish",
            CheckDecision::Review { .. } => "review",
            CheckDecision::Reject { .. } => "reject",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutput {
    pub article_id: ArticleId,
    /// "outbox" or "wordpress".
    pub target: String,
    pub remote_id: Option<String>,
    /// A file path or a URL.
    pub location: String,
}
