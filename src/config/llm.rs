//! The validated LLM, price, budget and per-site writing settings. Parsed
//! and checked in `validate_llm.rs`; nothing here touches raw strings.

use std::path::PathBuf;
use std::time::Duration;

use super::units::Secret;
use crate::budget::BudgetCaps;
use crate::domain::money::Money;
use crate::domain::pricing::Price;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Anthropic,
    OpenAi,
    /// Any server speaking Chat Completions: Ollama, vLLM, LiteLLM, OpenRouter.
    OpenAiCompatible,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
        }
    }
}

/// One model behind one API.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The table name in `[llm.providers.NAME]`, or "anthropic"/"openai"
    /// when picked from the environment.
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: reqwest::Url,
    pub model: String,
    /// `None` for servers that need no key (a local Ollama).
    pub api_key: Option<Secret>,
    /// Default answer length cap; also the output side of the worst case.
    pub max_tokens: u32,
    /// The whole call; generations take minutes.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub price: Price,
}

#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Every configured provider, by name.
    pub providers: Vec<ProviderConfig>,
    /// The provider that writes unless a site names another.
    pub primary: Option<String>,
    /// Tried in order when the primary fails in a way another provider can
    /// help with (down, rate limited past the retries, bad key, no quota).
    pub fallback: Vec<String>,
    /// Retries of one call on a retryable failure, per provider.
    pub max_retries: u32,
    pub retry_base: Duration,
    /// Longest wait between retries; a provider asking for more (retry-after)
    /// hands the job back to the queue instead.
    pub retry_max: Duration,
    /// Failures in a row that open a provider's circuit breaker.
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// How the providers came to be: "config", or the variables they were
    /// picked up from.
    pub origin: String,
}

impl LlmConfig {
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The providers to try, in order: the site's choice (or the primary),
    /// then the fallbacks. Empty when no LLM is configured.
    pub fn chain(&self, site_choice: Option<&str>) -> Vec<&ProviderConfig> {
        let first = site_choice.or(self.primary.as_deref());
        let mut names: Vec<&str> = first.into_iter().collect();
        for f in &self.fallback {
            if !names.contains(&f.as_str()) {
                names.push(f);
            }
        }
        names.iter().filter_map(|n| self.provider(n)).collect()
    }

    pub fn is_configured(&self) -> bool {
        self.primary.is_some()
    }
}

/// The default caps; a site may override its own (see [`SiteBudget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    pub global_daily: Option<Money>,
    pub global_monthly: Option<Money>,
    pub site_daily: Option<Money>,
    pub site_monthly: Option<Money>,
    pub per_article: Option<Money>,
}

/// A site's own caps, already defaulted from `[budget]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteBudget {
    pub daily: Option<Money>,
    pub monthly: Option<Money>,
    pub per_article: Option<Money>,
}

impl BudgetConfig {
    /// Every cap that applies to a call for a site with these caps.
    pub fn caps_for(&self, site: &SiteBudget) -> BudgetCaps {
        BudgetCaps {
            global_daily: self.global_daily,
            global_monthly: self.global_monthly,
            site_daily: site.daily,
            site_monthly: site.monthly,
            per_article: site.per_article,
        }
    }
}

/// A prompt template read from a file named in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptOverride {
    pub path: PathBuf,
    pub text: String,
}

/// How a site's articles are written.
#[derive(Debug, Clone)]
pub struct GenerateSettings {
    pub target_words: u32,
    pub tone: String,
    /// A language name or tag the model understands ("en", "German").
    pub language: String,
    pub audience: String,
    /// Competitor items handed to the model, at most.
    pub source_items: u32,
    /// Overrides the provider's max_tokens for articles.
    pub max_tokens: Option<u32>,
    /// Overrides `llm.provider` for this site.
    pub provider: Option<String>,
    /// Domains articles may link to besides the sources' (subdomains too).
    pub link_allowlist: Vec<String>,
    pub system_prompt: Option<PromptOverride>,
    pub prompt: Option<PromptOverride>,
}

/// How a site's articles are checked and gated.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// Ask the LLM to list and judge the article's claims against its sources.
    pub fact_check: bool,
    pub fact_check_prompt: Option<PromptOverride>,
    /// Answer cap for the fact-check call.
    pub max_tokens: u32,
    /// At or above: may publish (if `auto_publish`); below: held for review.
    pub min_score: u8,
    /// Below this score the article is rejected outright.
    pub reject_below: u8,
    /// Publish articles that pass the gate without a person approving them.
    pub auto_publish: bool,
    pub min_words: u32,
    pub max_words: u32,
    /// Flesch reading ease at least this (English articles only).
    pub min_reading_ease: f64,
}
