//! The serde mirror of config.toml: every table denies unknown keys, and
//! values that need checking keep their span so errors can name the line.
//! Only `validate.rs` reads these types.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<S<String>>,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub engine: RawEngine,
    #[serde(default)]
    pub scheduler: RawScheduler,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub outbox: RawOutbox,
    #[serde(default)]
    pub monitor: RawMonitor,
    #[serde(default)]
    pub llm: RawLlm,
    #[serde(default)]
    pub prices: BTreeMap<String, S<RawPrice>>,
    #[serde(default)]
    pub budget: RawBudget,
    #[serde(default)]
    pub sites: BTreeMap<String, S<RawSite>>,
    pub alerts: Option<S<RawAlerts>>,
    #[serde(default)]
    pub tui: RawTui,
    #[serde(default)]
    pub backup: RawBackup,
    #[serde(default)]
    pub update: RawUpdate,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpdate {
    pub mode: Option<S<String>>,
    pub check_interval: Option<S<String>>,
    pub repository: Option<S<String>>,
    pub api_url: Option<S<String>>,
    pub ready_timeout: Option<S<String>>,
    pub stable_for: Option<S<String>>,
    pub service: Option<S<String>>,
    pub trusted_keys: Option<Vec<S<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackup {
    pub dir: Option<S<String>>,
    pub schedule: Option<S<String>>,
    pub drill_schedule: Option<S<String>>,
    pub keep_last: Option<S<u32>>,
    pub keep_daily: Option<S<u32>>,
    pub keep_weekly: Option<S<u32>>,
    pub compression_level: Option<S<i32>>,
    pub s3: Option<S<RawBackupS3>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackupS3 {
    pub endpoint: S<String>,
    pub bucket: S<String>,
    pub region: Option<S<String>>,
    pub prefix: Option<S<String>>,
    pub path_style: Option<bool>,
    pub access_key_env: Option<S<String>>,
    pub access_key_file: Option<S<String>>,
    pub secret_key_env: Option<S<String>>,
    pub secret_key_file: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<S<String>>,
    pub format: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Option<S<String>>,
    pub busy_timeout: Option<S<String>>,
    pub auto_migrate: Option<bool>,
    // PostgreSQL only.
    pub ca_file: Option<S<String>>,
    pub tls_insecure: Option<S<bool>>,
    pub pool_size: Option<S<u32>>,
    pub pool_timeout: Option<S<String>>,
    pub connect_timeout: Option<S<String>>,
    pub statement_timeout: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    pub workers: Option<S<u32>>,
    pub per_site_concurrency: Option<S<u32>>,
    pub lease: Option<S<String>>,
    pub heartbeat: Option<S<String>>,
    pub max_attempts: Option<S<u32>>,
    pub retry_base: Option<S<String>>,
    pub retry_max: Option<S<String>>,
    pub poll_interval: Option<S<String>>,
    pub shutdown_grace: Option<S<String>>,
    pub poison_after: Option<S<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScheduler {
    pub tick: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<S<String>>,
    pub public_status: Option<bool>,
    pub workers: Option<S<u32>>,
    pub max_connections: Option<S<u32>>,
    pub max_connections_per_client: Option<S<u32>>,
    #[serde(default)]
    pub allowed_hosts: Vec<S<String>>,
    pub max_body: Option<S<String>>,
    pub max_header_bytes: Option<S<String>>,
    pub max_headers: Option<S<u32>>,
    pub request_timeout: Option<S<String>>,
    pub keepalive_timeout: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    pub dir: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    pub body_limit: Option<S<String>>,
    pub connect_timeout: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub concurrency: Option<S<u32>>,
    pub per_host_concurrency: Option<S<u32>>,
    pub max_redirects: Option<S<u32>>,
    pub check_interval: Option<S<String>>,
    pub min_check_interval: Option<S<String>>,
    pub max_check_interval: Option<S<String>>,
    pub backoff_base: Option<S<String>>,
    pub backoff_max: Option<S<String>>,
    pub max_items_per_source: Option<S<u32>>,
    pub max_child_sitemaps: Option<S<u32>>,
    pub sitemap_page_fetches: Option<S<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopics {
    pub lookback: Option<S<String>>,
    pub recency_half_life: Option<S<String>>,
    pub similarity_threshold: Option<S<f64>>,
    pub min_mentions: Option<S<u32>>,
    pub max_candidates: Option<S<u32>>,
    #[serde(default)]
    pub pinned_keywords: Vec<String>,
    #[serde(default)]
    pub banned_keywords: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    pub enabled: Option<bool>,
    pub schedule: Option<S<String>>,
    pub timezone: Option<S<String>>,
    pub publisher: Option<S<String>>,
    pub max_concurrency: Option<S<u32>>,
    #[serde(default)]
    pub seed_keywords: Vec<String>,
    #[serde(default)]
    pub sources: Vec<S<RawSource>>,
    pub topics: Option<S<RawTopics>>,
    pub wordpress: Option<S<RawWordpress>>,
    pub generate: Option<S<RawGenerate>>,
    pub check: Option<S<RawCheck>>,
    pub budget: Option<S<RawSiteBudget>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub url: S<String>,
    pub kind: Option<S<String>>,
    pub allow_private: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWordpress {
    pub url: S<String>,
    pub username: S<String>,
    pub app_password_env: Option<S<String>>,
    pub app_password_file: Option<S<String>>,
    pub post_status: Option<S<String>>,
    pub schedule_delay: Option<S<String>>,
    pub default_category: Option<S<String>>,
    pub min_interval: Option<S<String>>,
    pub request_timeout: Option<S<String>>,
    pub seo_plugin: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLlm {
    pub provider: Option<S<String>>,
    pub fallback: Option<S<Vec<String>>>,
    pub max_retries: Option<S<u32>>,
    pub retry_base: Option<S<String>>,
    pub retry_max: Option<S<String>>,
    pub breaker_failures: Option<S<u32>>,
    pub breaker_cooldown: Option<S<String>>,
    #[serde(default)]
    pub providers: BTreeMap<String, S<RawProvider>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub kind: S<String>,
    pub model: Option<S<String>>,
    pub base_url: Option<S<String>>,
    pub api_key_env: Option<S<String>>,
    pub api_key_file: Option<S<String>>,
    pub max_tokens: Option<S<u32>>,
    pub timeout: Option<S<String>>,
    pub connect_timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub input: Option<S<String>>,
    pub output: Option<S<String>>,
    pub free: Option<S<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    pub global_daily: Option<S<String>>,
    pub global_monthly: Option<S<String>>,
    pub site_daily: Option<S<String>>,
    pub site_monthly: Option<S<String>>,
    pub per_article: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerate {
    pub target_words: Option<S<u32>>,
    pub tone: Option<S<String>>,
    pub language: Option<S<String>>,
    pub audience: Option<S<String>>,
    pub source_items: Option<S<u32>>,
    pub max_tokens: Option<S<u32>>,
    pub provider: Option<S<String>>,
    #[serde(default)]
    pub link_allowlist: Vec<S<String>>,
    pub system_prompt_file: Option<S<String>>,
    pub prompt_file: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub fact_check: Option<bool>,
    pub fact_check_prompt_file: Option<S<String>>,
    pub max_tokens: Option<S<u32>>,
    pub min_score: Option<S<u32>>,
    pub reject_below: Option<S<u32>>,
    pub auto_publish: Option<bool>,
    pub min_words: Option<S<u32>>,
    pub max_words: Option<S<u32>>,
    pub min_reading_ease: Option<S<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSiteBudget {
    pub daily: Option<S<String>>,
    pub monthly: Option<S<String>>,
    pub per_article: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub webhook_url: Option<S<String>>,
    pub webhook_url_env: Option<S<String>>,
    pub webhook_url_file: Option<S<String>>,
    pub format: Option<S<String>>,
    pub webhook_timeout: Option<S<String>>,
    pub min_interval: Option<S<String>>,
    pub max_per_hour: Option<S<u32>>,
    pub source_failing_after: Option<S<String>>,
    pub check_interval: Option<S<String>>,
    pub smtp: Option<S<RawSmtp>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: S<String>,
    pub port: Option<S<u16>>,
    pub tls: Option<S<String>>,
    pub username: Option<S<String>>,
    pub password_env: Option<S<String>>,
    pub password_file: Option<S<String>>,
    pub from: S<String>,
    pub to: S<Vec<String>>,
    pub timeout: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTui {
    pub token_file: Option<S<String>>,
}
