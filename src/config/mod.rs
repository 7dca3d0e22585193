//! Configuration: find the file, parse the raw TOML mirror, validate it into
//! the typed [`Config`] below. Durations, URLs, money, cron schedules and
//! secrets are parsed here once; nothing downstream touches raw strings.
//!
//! Search order: `--config`, `$BLOG_POSTER_CONFIG`, `/etc/blog-poster/config.toml`,
//! the XDG config dir; with no file the embedded defaults
//! (`config/blog-poster.example.toml`) apply.

mod alerts;
mod backup;
mod diagnostics;
mod environment;
mod feeds;
mod llm;
mod postgres;
mod raw;
mod secret;
pub mod units;
mod update;
mod validate;
mod validate_feeds;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use alerts::{AlertsConfig, SmtpConfig, SmtpTls, WebhookConfig, WebhookFormat};
pub use backup::{BackupConfig, BackupS3Config};
pub use diagnostics::{ConfigError, ConfigIssue};
pub use environment::{Environment, ProjectPaths};
pub use feeds::{MonitorConfig, TopicsConfig};
pub use llm::*;
pub use postgres::PgOptions;
pub use secret::{Secret, SecretCheck, SecretError, SecretUse, Secrets};
pub use update::{UpdateConfig, UpdateMode};

/// The annotated example config; also the embedded defaults.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/blog-poster.example.toml");

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from; `None` means the embedded defaults.
    pub source: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub database: DatabaseConfig,
    pub engine: EngineConfig,
    pub scheduler: SchedulerConfig,
    pub http: HttpConfig,
    pub outbox: OutboxConfig,
    pub monitor: MonitorConfig,
    pub llm: LlmConfig,
    /// The default caps; sites carry their own resolved caps.
    pub budget: BudgetConfig,
    /// Sorted by name.
    pub sites: Vec<SiteConfig>,
    pub alerts: AlertsConfig,
    pub tui: TuiConfig,
    pub backup: BackupConfig,
    pub update: UpdateConfig,
    /// Every secret the config names, read only by the command that uses it.
    pub secrets: Secrets,
}

impl Config {
    pub fn site(&self, name: &str) -> Option<&SiteConfig> {
        self.sites.iter().find(|s| s.name == name)
    }

    /// Every cap that applies to an LLM call for `site`.
    pub fn caps_for(&self, site: &SiteConfig) -> crate::budget::BudgetCaps {
        self.budget.caps_for(&site.budget)
    }

    /// "config.toml" or "<embedded defaults>", for messages.
    pub fn source_label(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => EMBEDDED_LABEL.to_string(),
        }
    }
}

pub const EMBEDDED_LABEL: &str = "<embedded defaults>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human on a TTY, plain otherwise (journald adds its own timestamps).
    Auto,
    Human,
    Plain,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// A tracing filter directive like "info" or "blog_poster=debug,info".
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub backend: DatabaseBackend,
    pub busy_timeout: Duration,
    /// Apply pending migrations at start (`serve`, `run`). `db migrate` always does.
    pub auto_migrate: bool,
    /// TLS, pool and timeouts of the PostgreSQL backend (unused with SQLite).
    pub postgres: crate::config::PgOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseBackend {
    /// One file; one working process at a time (the instance lock).
    Sqlite { path: PathBuf },
    /// A PostgreSQL server; several instances may share it. The URL may
    /// hold a password: print `describe()`, never the URL.
    Postgres { url: String },
}

impl DatabaseBackend {
    /// The location, safe to print (a password is masked).
    pub fn describe(&self) -> String {
        match self {
            DatabaseBackend::Sqlite { path } => format!("sqlite {}", path.display()),
            DatabaseBackend::Postgres { url } => {
                format!("postgres {}", crate::redact::url(url))
            }
        }
    }
}

/// How the job engine claims and retries work.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Jobs running at once in this process (and, as a database-wide check,
    /// across all processes).
    pub workers: u32,
    /// Jobs of one site running at once, unless the site says otherwise.
    pub per_site_concurrency: u32,
    /// How long a claim holds a job without a heartbeat.
    pub lease: Duration,
    pub heartbeat: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How often an idle worker looks for due jobs.
    pub poll_interval: Duration,
    /// How long a stop waits for running jobs before releasing them.
    pub shutdown_grace: Duration,
    /// A job whose attempts killed the process this many times in a row is
    /// quarantined as dead (a poison pill) instead of being claimed again.
    pub poison_after: u32,
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How often the scheduler looks for due slots.
    pub tick: Duration,
}

/// The status page and JSON API (`serve`). tiny_http has no limits of its
/// own, so every limit here is enforced by `web::front`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: std::net::SocketAddr,
    /// GET of the status page and the read routes without a token.
    pub public_status: bool,
    /// Threads answering requests.
    pub workers: u32,
    /// Client connections open at once. At the limit the connection that
    /// waited longest without a complete request is closed for a newcomer.
    pub max_connections: u32,
    /// The same, per client address.
    pub max_connections_per_client: u32,
    /// Host names (or addresses) the server is reached by, besides the
    /// listen address and `localhost`; lowercase, without port.
    pub allowed_hosts: Vec<String>,
    pub max_body: u64,
    /// The request line and headers together.
    pub max_header_bytes: u64,
    pub max_headers: u32,
    /// Time to receive one whole request once its first byte arrived.
    pub request_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub keepalive_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_status: false,
            workers: 4,
            max_connections: 512,
            max_connections_per_client: 64,
            allowed_hosts: Vec::new(),
            max_body: 64 << 10,
            max_header_bytes: 16 << 10,
            max_headers: 64,
            request_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(15),
        }
    }
}

/// `blog-poster tui`: where its API token is read from when neither
/// `--token` nor `$BLOG_POSTER_TOKEN` gives one.
#[derive(Debug, Clone)]
pub struct TuiConfig {
    pub token_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SiteConfig {
    pub name: String,
    pub enabled: bool,
    pub schedule: Option<Schedule>,
    pub publisher: PublisherConfig,
    pub max_concurrency: u32,
    pub seed_keywords: Vec<String>,
    pub sources: Vec<SourceConfig>,
    pub topics: TopicsConfig,
    pub generate: GenerateSettings,
    pub check: CheckSettings,
    pub budget: SiteBudget,
}

/// A parsed cron schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// As written, for display and to notice a changed schedule.
    pub expr: String,
    pub cron: croner::Cron,
    pub tz: chrono_tz::Tz,
}

impl Schedule {
    /// The first slot strictly after `after`.
    pub fn next_after(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let local = after.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The schedule's identity: expression plus zone.
    pub fn key(&self) -> String {
        format!("{} {}", self.expr, self.tz.name())
    }
}

#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per config; boxing would only complicate every match"
)]
pub enum PublisherConfig {
    Outbox,
    Wordpress(WordpressConfig),
}

impl PublisherConfig {
    pub fn name(&self) -> &'static str {
        match self {
            PublisherConfig::Outbox => "outbox",
            PublisherConfig::Wordpress(_) => "wordpress",
        }
    }
}

/// One WordPress target: where, as whom, and how posts are made there.
#[derive(Debug, Clone)]
pub struct WordpressConfig {
    /// The site's home URL; the REST API root is discovered from it.
    pub url: reqwest::Url,
    pub username: String,
    /// An Application Password; only ever sent in the Authorization header.
    pub app_password: Secret,
    /// The status new posts get.
    pub post_status: PostStatus,
    /// For `PostStatus::Future`: how far after publishing the post goes live.
    pub schedule_delay: Duration,
    /// Used when an article names no category.
    pub default_category: Option<String>,
    /// At least this long between two posts to this site (0 = no limit).
    pub min_interval: Duration,
    /// Per request to WordPress (uploads get four times as long).
    pub request_timeout: Duration,
    pub seo_plugin: SeoPreference,
}

/// What status a new WordPress post gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostStatus {
    Draft,
    /// Submitted for review inside WordPress.
    Pending,
    Publish,
    /// Scheduled: goes live `schedule_delay` after publishing.
    Future,
}

impl PostStatus {
    /// The REST API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Draft => "draft",
            PostStatus::Pending => "pending",
            PostStatus::Publish => "publish",
            PostStatus::Future => "future",
        }
    }

    pub fn parse(s: &str) -> Option<PostStatus> {
        [
            PostStatus::Draft,
            PostStatus::Pending,
            PostStatus::Publish,
            PostStatus::Future,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Which SEO plugin's fields to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeoPreference {
    /// Whichever of Yoast or Rank Math the site exposes to the REST API.
    Auto,
    Yoast,
    RankMath,
    /// Never send SEO fields.
    None,
}

impl SeoPreference {
    pub fn as_str(self) -> &'static str {
        match self {
            SeoPreference::Auto => "auto",
            SeoPreference::Yoast => "yoast",
            SeoPreference::RankMath => "rankmath",
            SeoPreference::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    pub url: reqwest::Url,
    pub kind: SourceKind,
    /// The source's host name may resolve to loopback, private or
    /// link-local addresses (a feed on the operator's own network). Without
    /// it a host name is judged after resolution like any URL from remote
    /// content; an IP literal in `url` is allowed either way.
    pub allow_private: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Decided from the response: feed, sitemap or page.
    Auto,
    Feed,
    Sitemap,
    Page,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Auto => "auto",
            SourceKind::Feed => "feed",
            SourceKind::Sitemap => "sitemap",
            SourceKind::Page => "page",
        }
    }
}

/// Where the config was found, for `config check` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigLocation {
    File(PathBuf),
    Embedded,
}

/// Finds the config file by the documented search order. An explicit path
/// (flag or `$BLOG_POSTER_CONFIG`) must exist; the standard places are tried
/// quietly.
pub fn locate(explicit: Option<&Path>, env: &Environment) -> Result<ConfigLocation, ConfigError> {
    if let Some(p) = explicit {
        return existing(p, "--config");
    }
    if let Some(p) = env.get("BLOG_POSTER_CONFIG").filter(|v| !v.is_empty()) {
        return existing(Path::new(&p), "$BLOG_POSTER_CONFIG");
    }
    if let Some(dir) = env.systemd_config_dir() {
        let p = dir.join("config.toml");
        if p.is_file() {
            return Ok(ConfigLocation::File(p));
        }
    }
    let system = Path::new("/etc/blog-poster/config.toml");
    if system.is_file() {
        return Ok(ConfigLocation::File(system.to_path_buf()));
    }
    if let Some(dir) = env.xdg_config_dir() {
        let p = dir.join("config.toml");
        if p.is_file() {
            return Ok(ConfigLocation::File(p));
        }
    }
    Ok(ConfigLocation::Embedded)
}

fn existing(p: &Path, via: &str) -> Result<ConfigLocation, ConfigError> {
    if p.is_file() {
        Ok(ConfigLocation::File(p.to_path_buf()))
    } else {
        Err(ConfigError::file(
            &p.display().to_string(),
            format!("config file named by {via} does not exist"),
            Some("create it with `blog-poster init`, or fix the path".into()),
        ))
    }
}

/// Reads and validates the config at `location`.
pub fn load(location: &ConfigLocation, env: &Environment) -> Result<Config, ConfigError> {
    match location {
        ConfigLocation::Embedded => parse(DEFAULT_CONFIG, None, env),
        ConfigLocation::File(path) => {
            let label = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::file(
                    &label,
                    format!("cannot read config: {e}"),
                    Some("check the path and its permissions".into()),
                )
            })?;
            parse(&text, Some(path), env)
        }
    }
}

/// Parses and validates config text. `path` is `None` for the embedded defaults.
pub fn parse(text: &str, path: Option<&Path>, env: &Environment) -> Result<Config, ConfigError> {
    validate::parse_and_validate(text, path, env)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_llm;
