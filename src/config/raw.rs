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
    pub outbox: RawOutbox,
    #[serde(default)]
    pub sites: BTreeMap<String, S<RawSite>>,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScheduler {
    pub tick: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    pub dir: Option<S<String>>,
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
    pub wordpress: Option<S<RawWordpress>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub url: S<String>,
    pub kind: Option<S<String>>,
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
