//! Raw → validated: every value is checked and converted here, and every
//! problem is reported with its line, key and a fix. Secrets are only
//! located here (environment, files, the systemd credentials directory):
//! the command that uses one reads it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diagnostics::{ConfigError, ConfigIssue, SourceMap, from_toml_error};
use super::raw::{RawConfig, RawSite, RawWordpress, S};
use super::secret::{Secret, SecretCheck, SecretSource, SecretUse, Secrets};
use super::units::{format_duration, parse_duration};
use super::*;

#[path = "validate_alerts.rs"]
mod alerts_rules;
#[path = "validate_llm.rs"]
mod llm_rules;

#[path = "validate_backup.rs"]
mod backup_rules;
#[path = "validate_update.rs"]
mod update_rules;

pub(super) struct Validator<'a> {
    pub(super) map: SourceMap<'a>,
    env: &'a Environment,
    pub(super) issues: Vec<ConfigIssue>,
    /// Directory of the config file: relative paths in it resolve from here.
    base_dir: Option<PathBuf>,
    /// Every secret named so far; read later, by the command that uses it.
    secrets: Secrets,
    /// Providers declared under [llm.providers] that did not validate: a
    /// reference to one is not also "no provider named …".
    invalid_providers: Vec<String>,
}

pub fn parse_and_validate(
    text: &str,
    path: Option<&Path>,
    env: &Environment,
) -> Result<Config, ConfigError> {
    let label = path.map_or_else(|| EMBEDDED_LABEL.to_string(), |p| p.display().to_string());
    let map = SourceMap { file: &label, text };
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| ConfigError::single(from_toml_error(&map, &e)))?;
    let mut v = Validator {
        map,
        env,
        issues: Vec::new(),
        base_dir: path.and_then(|p| p.parent()).map(Path::to_path_buf),
        secrets: Secrets::default(),
        invalid_providers: Vec::new(),
    };
    let config = v.config(raw, path);
    if v.issues.is_empty() {
        config.ok_or_else(|| ConfigError { issues: vec![] })
    } else {
        Err(ConfigError { issues: v.issues })
    }
}

impl Validator<'_> {
    pub(super) fn push(
        &mut self,
        span: std::ops::Range<usize>,
        key: &str,
        message: String,
        fix: impl Into<Option<String>>,
    ) {
        let in_table = self.map.in_table(span.start);
        let issue = self.map.issue(
            span,
            key,
            format!("key \"{key}\"{in_table}: {message}"),
            fix.into(),
        );
        self.issues.push(issue);
    }

    pub(super) fn duration(
        &mut self,
        value: &Option<S<String>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let Some(v) = value else { return default };
        match parse_duration(v.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                self.push(
                    v.span(),
                    key,
                    format!("invalid duration \"{}\": {e}", v.get_ref()),
                    Some(format!("write it like \"{}\"", format_duration(default))),
                );
                default
            }
        }
    }

    pub(super) fn positive(&mut self, value: &Option<S<u32>>, key: &str, default: u32) -> u32 {
        match value {
            Some(v) if *v.get_ref() == 0 => {
                self.push(
                    v.span(),
                    key,
                    "0 is not allowed".into(),
                    Some(format!("use 1 or more (default {default})")),
                );
                default
            }
            Some(v) => *v.get_ref(),
            None => default,
        }
    }

    pub(super) fn path(&self, p: &str) -> PathBuf {
        let path = PathBuf::from(p);
        match (&self.base_dir, path.is_relative()) {
            (Some(base), true) => base.join(path),
            _ => path,
        }
    }

    fn config(&mut self, raw: RawConfig, path: Option<&Path>) -> Option<Config> {
        let data_dir = match &raw.data_dir {
            Some(d) => Some(self.path(d.get_ref())),
            None => self.env.default_data_dir(),
        };
        let data_dir = match data_dir {
            Some(d) => d,
            None => {
                self.issues.push(ConfigIssue {
                    file: self.map.file.to_string(),
                    line: None,
                    key: Some("data_dir".into()),
                    table: None,
                    message: "no data directory: data_dir is not set and neither $STATE_DIRECTORY, $XDG_DATA_HOME nor $HOME is".into(),
                    fix: Some("set data_dir = \"/var/lib/blog-poster\" at the top of the config".into()),
                });
                PathBuf::from("/var/lib/blog-poster")
            }
        };

        let log = self.log(&raw);
        let database = self.database(&raw, &data_dir);
        let engine = self.engine(&raw);
        let scheduler = SchedulerConfig {
            tick: self.duration(&raw.scheduler.tick, "tick", Duration::from_secs(5)),
        };
        let http = self.http(&raw);
        let outbox = OutboxConfig {
            dir: raw
                .outbox
                .dir
                .as_ref()
                .map_or_else(|| data_dir.join("outbox"), |d| self.path(d.get_ref())),
        };
        let monitor = self.monitor(&raw.monitor);
        let prices = self.prices(&raw);
        let llm = self.llm(&raw, &prices);
        let budget = self.budget(&raw);
        let mut sites = Vec::new();
        for (name, site) in &raw.sites {
            if let Some(s) = self.site(name, site, &engine, &llm, &budget) {
                sites.push(s);
            }
        }
        sites.sort_by(|a, b| a.name.cmp(&b.name));
        let alerts = self.alerts(&raw);
        let tui = TuiConfig {
            token_file: raw
                .tui
                .token_file
                .as_ref()
                .map_or_else(|| data_dir.join("tui.token"), |f| self.path(f.get_ref())),
        };
        let backup = self.backup(&raw, &data_dir);
        let update = self.update(&raw);
        Some(Config {
            source: path.map(Path::to_path_buf),
            data_dir,
            log,
            database,
            engine,
            scheduler,
            http,
            outbox,
            monitor,
            llm,
            budget,
            sites,
            alerts,
            tui,
            backup,
            update,
            secrets: self.secrets.clone(),
        })
    }

    fn log(&mut self, raw: &RawConfig) -> LogConfig {
        let level = raw
            .log
            .level
            .as_ref()
            .map_or_else(|| "info".to_string(), |l| l.get_ref().clone());
        if let Some(l) = &raw.log.level
            && tracing_subscriber::EnvFilter::try_new(l.get_ref()).is_err()
        {
            self.push(
                l.span(),
                "level",
                format!("invalid log filter \"{}\"", l.get_ref()),
                Some("use error, warn, info, debug or trace (or a filter like \"blog_poster=debug,info\")".into()),
            );
        }
        let format = match raw
            .log
            .format
            .as_ref()
            .map(|f| (f.get_ref().as_str(), f.span()))
        {
            None | Some(("auto", _)) => LogFormat::Auto,
            Some(("human", _)) => LogFormat::Human,
            Some(("plain", _)) => LogFormat::Plain,
            Some(("json", _)) => LogFormat::Json,
            Some((other, span)) => {
                self.push(
                    span,
                    "format",
                    format!("unknown log format \"{other}\""),
                    Some("use auto, human, plain or json".into()),
                );
                LogFormat::Auto
            }
        };
        LogConfig { level, format }
    }

    fn database(&mut self, raw: &RawConfig, data_dir: &Path) -> DatabaseConfig {
        let busy_timeout = self.duration(
            &raw.database.busy_timeout,
            "busy_timeout",
            Duration::from_secs(5),
        );
        let default_path = data_dir.join("blog-poster.db");
        let backend = match &raw.database.url {
            None => DatabaseBackend::Sqlite { path: default_path },
            Some(u) => {
                let url = u.get_ref();
                if let Some(p) = url.strip_prefix("sqlite://") {
                    DatabaseBackend::Sqlite { path: self.path(p) }
                } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                    crate::redact::register_database_url(url);
                    DatabaseBackend::Postgres { url: url.clone() }
                } else {
                    self.push(
                        u.span(),
                        "url",
                        format!("unsupported database URL \"{url}\""),
                        Some("use sqlite:///path/to/blog-poster.db, or remove the key for the default".into()),
                    );
                    DatabaseBackend::Sqlite { path: default_path }
                }
            }
        };
        DatabaseConfig {
            backend,
            busy_timeout,
            auto_migrate: raw.database.auto_migrate.unwrap_or(true),
            postgres: self.postgres_options(&raw.database),
        }
    }

    fn postgres_options(&mut self, d: &super::raw::RawDatabase) -> crate::config::PgOptions {
        let defaults = crate::config::PgOptions::default();
        let ca_file = d.ca_file.as_ref().map(|p| {
            let path = self.path(p.get_ref());
            if !path.is_file() {
                self.push(
                    p.span(),
                    "ca_file",
                    format!("no such file: {}", path.display()),
                    Some(
                        "download your provider's CA certificate (PEM) and point ca_file at it"
                            .into(),
                    ),
                );
            }
            path
        });
        crate::config::PgOptions {
            ca_file,
            tls_insecure: d.tls_insecure.as_ref().is_some_and(|v| *v.get_ref()),
            pool_size: self.positive(&d.pool_size, "pool_size", defaults.pool_size),
            pool_timeout: self.duration(&d.pool_timeout, "pool_timeout", defaults.pool_timeout),
            connect_timeout: self.duration(
                &d.connect_timeout,
                "connect_timeout",
                defaults.connect_timeout,
            ),
            statement_timeout: self.duration(
                &d.statement_timeout,
                "statement_timeout",
                defaults.statement_timeout,
            ),
            schema: None,
            application_name: defaults.application_name,
        }
    }

    fn size(&mut self, value: &Option<S<String>>, key: &str, default: u64) -> u64 {
        let Some(v) = value else { return default };
        match super::units::parse_size(v.get_ref()) {
            Ok(0) => {
                self.push(
                    v.span(),
                    key,
                    "0 is not allowed".into(),
                    Some(format!(
                        "use at least 1 KiB (default {})",
                        super::units::format_size(default)
                    )),
                );
                default
            }
            Ok(n) => n,
            Err(e) => {
                self.push(
                    v.span(),
                    key,
                    format!("invalid size \"{}\": {e}", v.get_ref()),
                    Some(format!(
                        "write it like \"{}\"",
                        super::units::format_size(default)
                    )),
                );
                default
            }
        }
    }

    fn http(&mut self, raw: &RawConfig) -> HttpConfig {
        let h = &raw.http;
        let d = HttpConfig::default();
        let listen = match &h.listen {
            None => d.listen,
            Some(v) => match v.get_ref().parse::<std::net::SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    self.push(
                        v.span(),
                        "listen",
                        format!("\"{}\" is not an IP address and port", v.get_ref()),
                        Some(
                            "write it like \"127.0.0.1:8080\" (a host name is not accepted)".into(),
                        ),
                    );
                    d.listen
                }
            },
        };
        HttpConfig {
            listen,
            public_status: h.public_status.unwrap_or(d.public_status),
            workers: self.positive(&h.workers, "workers", d.workers),
            max_connections: self.positive(
                &h.max_connections,
                "max_connections",
                d.max_connections,
            ),
            max_connections_per_client: self.positive(
                &h.max_connections_per_client,
                "max_connections_per_client",
                d.max_connections_per_client,
            ),
            allowed_hosts: self.allowed_hosts(&h.allowed_hosts),
            max_body: self.size(&h.max_body, "max_body", d.max_body),
            max_header_bytes: self.size(
                &h.max_header_bytes,
                "max_header_bytes",
                d.max_header_bytes,
            ),
            max_headers: self.positive(&h.max_headers, "max_headers", d.max_headers),
            request_timeout: self.duration(
                &h.request_timeout,
                "request_timeout",
                d.request_timeout,
            ),
            keepalive_timeout: self.duration(
                &h.keepalive_timeout,
                "keepalive_timeout",
                d.keepalive_timeout,
            ),
        }
    }

    /// `[http] allowed_hosts`: bare names or addresses, as a Host header
    /// names them (the port is not compared).
    fn allowed_hosts(&mut self, raw: &[S<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for h in raw {
            let text = h
                .get_ref()
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let bare_v6 = text.starts_with('[') && text.ends_with(']');
            let ip = text.parse::<std::net::IpAddr>().is_ok();
            let name_ok = !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if bare_v6 || ip || name_ok {
                out.push(text);
            } else {
                self.push(
                    h.span(),
                    "allowed_hosts",
                    format!("\"{}\" is not a host name or IP address", h.get_ref()),
                    Some(
                        "write the name clients use, without scheme, port or path, like \"status.example.com\""
                            .into(),
                    ),
                );
            }
        }
        out
    }

    fn engine(&mut self, raw: &RawConfig) -> EngineConfig {
        let e = &raw.engine;
        let lease = self.duration(&e.lease, "lease", Duration::from_secs(300));
        let heartbeat = self.duration(&e.heartbeat, "heartbeat", Duration::from_secs(30));
        if heartbeat.saturating_mul(2) > lease
            && let Some(h) = e.heartbeat.as_ref().or(e.lease.as_ref())
        {
            self.push(
                h.span(),
                "heartbeat",
                format!(
                    "heartbeat {} must be at most half the lease {}",
                    format_duration(heartbeat),
                    format_duration(lease)
                ),
                Some("a lease would expire between two heartbeats; shorten heartbeat or lengthen lease".into()),
            );
        }
        let retry_base = self.duration(&e.retry_base, "retry_base", Duration::from_secs(30));
        let retry_max = self.duration(&e.retry_max, "retry_max", Duration::from_secs(3600));
        if retry_max < retry_base
            && let Some(m) = &e.retry_max
        {
            self.push(
                m.span(),
                "retry_max",
                "retry_max is shorter than retry_base".into(),
                Some("make retry_max ≥ retry_base".into()),
            );
        }
        EngineConfig {
            workers: self.positive(&e.workers, "workers", 4),
            per_site_concurrency: self.positive(&e.per_site_concurrency, "per_site_concurrency", 2),
            lease,
            heartbeat,
            max_attempts: self.positive(&e.max_attempts, "max_attempts", 5),
            retry_base,
            retry_max,
            poll_interval: self.duration(&e.poll_interval, "poll_interval", Duration::from_secs(1)),
            shutdown_grace: self.duration(
                &e.shutdown_grace,
                "shutdown_grace",
                Duration::from_secs(20),
            ),
            poison_after: self.positive(&e.poison_after, "poison_after", 3),
        }
    }

    fn site(
        &mut self,
        name: &str,
        site: &S<RawSite>,
        engine: &EngineConfig,
        llm: &LlmConfig,
        budget: &BudgetConfig,
    ) -> Option<SiteConfig> {
        let span = site.span();
        let raw = site.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.push(
                span.clone(),
                "sites",
                format!("site name \"{name}\" is not allowed"),
                Some("use letters, digits, '-' and '_' only: it names folders and URLs".into()),
            );
        }
        let tz = match &raw.timezone {
            None => chrono_tz::UTC,
            Some(t) => match t.get_ref().parse::<chrono_tz::Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    self.push(
                        t.span(),
                        "timezone",
                        format!("unknown time zone \"{}\"", t.get_ref()),
                        Some("use an IANA name like \"Europe/Berlin\" or \"UTC\"".into()),
                    );
                    chrono_tz::UTC
                }
            },
        };
        let schedule = raw.schedule.as_ref().and_then(|s| self.schedule(s, tz));
        let publisher = self.publisher(name, raw);
        let mut sources = Vec::new();
        for src in &raw.sources {
            let r = src.get_ref();
            let url = match reqwest::Url::parse(r.url.get_ref()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => u,
                Ok(_) | Err(_) => {
                    self.push(
                        r.url.span(),
                        "url",
                        format!("invalid source URL \"{}\"", r.url.get_ref()),
                        Some("use a full http:// or https:// URL".into()),
                    );
                    continue;
                }
            };
            let kind = match r.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
                None | Some(("auto", _)) => SourceKind::Auto,
                Some(("feed", _)) => SourceKind::Feed,
                Some(("sitemap", _)) => SourceKind::Sitemap,
                Some(("page", _)) => SourceKind::Page,
                Some((other, span)) => {
                    self.push(
                        span,
                        "kind",
                        format!("unknown source kind \"{other}\""),
                        Some("use auto, feed, sitemap or page".into()),
                    );
                    SourceKind::Auto
                }
            };
            sources.push(SourceConfig {
                url,
                kind,
                allow_private: r.allow_private.as_ref().is_some_and(|a| *a.get_ref()),
            });
        }
        let generate = self.generate_settings(raw, llm);
        let check = self.check_settings(raw, generate.target_words);
        let site_budget = self.site_budget(raw, budget);
        Some(SiteConfig {
            name: name.to_string(),
            enabled: raw.enabled.unwrap_or(true),
            schedule,
            publisher: publisher?,
            max_concurrency: self.positive(
                &raw.max_concurrency,
                "max_concurrency",
                engine.per_site_concurrency,
            ),
            seed_keywords: raw
                .seed_keywords
                .iter()
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
            sources,
            topics: self.topics(raw.topics.as_ref()),
            generate,
            check,
            budget: site_budget,
        })
    }

    fn schedule(&mut self, s: &S<String>, tz: chrono_tz::Tz) -> Option<Schedule> {
        self.cron_schedule(s, tz, "schedule")
    }

    /// A cron expression in `tz`; problems are reported under `key`.
    pub(super) fn cron_schedule(
        &mut self,
        s: &S<String>,
        tz: chrono_tz::Tz,
        key: &str,
    ) -> Option<Schedule> {
        let expr = s.get_ref().trim();
        let fields = expr.split_whitespace().count();
        let parsed = if (5..=7).contains(&fields) {
            croner::parser::CronParser::new()
                .parse(expr)
                .map_err(|e| explain_cron(expr).unwrap_or_else(|| e.to_string()))
        } else {
            Err(format!("{fields} fields"))
        };
        match parsed {
            Ok(cron) => Some(Schedule {
                expr: expr.to_string(),
                cron,
                tz,
            }),
            Err(e) => {
                self.push(
                    s.span(),
                    key,
                    format!("invalid cron schedule \"{expr}\": {e}"),
                    Some(
                        "use 5 fields \"min hour day month weekday\" (e.g. \"0 6 * * *\" for 06:00 daily) or 6 with seconds first"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    fn publisher(&mut self, site: &str, raw: &RawSite) -> Option<PublisherConfig> {
        let kind = raw
            .publisher
            .as_ref()
            .map(|p| (p.get_ref().as_str(), p.span()));
        match kind {
            None if raw.wordpress.is_some() => self.wordpress(site, raw.wordpress.as_ref()?),
            None | Some(("outbox", _)) => Some(PublisherConfig::Outbox),
            Some(("wordpress", span)) => {
                match &raw.wordpress {
                    Some(wp) => self.wordpress(site, wp),
                    None => {
                        self.push(
                        span,
                        "publisher",
                        "publisher is \"wordpress\" but there is no wordpress table".into(),
                        Some(format!("add [sites.{site}.wordpress] with url, username and app_password_env")),
                    );
                        None
                    }
                }
            }
            Some((other, span)) => {
                self.push(
                    span,
                    "publisher",
                    format!("unknown publisher \"{other}\""),
                    Some("use outbox or wordpress".into()),
                );
                None
            }
        }
    }

    fn wordpress(&mut self, site: &str, wp: &S<RawWordpress>) -> Option<PublisherConfig> {
        let raw = wp.get_ref();
        let url = match reqwest::Url::parse(raw.url.get_ref()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            _ => {
                self.push(
                    raw.url.span(),
                    "url",
                    format!("invalid WordPress URL \"{}\"", raw.url.get_ref()),
                    Some("use the site's home URL, like \"https://example.com\"".into()),
                );
                None
            }
        };
        let default_env = format!(
            "BLOG_POSTER_{}_WP_APP_PASSWORD",
            site.to_ascii_uppercase().replace('-', "_")
        );
        let credential = format!("{site}-wp-app-password");
        let secret = self.secret(
            &raw.app_password_env,
            &raw.app_password_file,
            "app_password",
            &default_env,
            &credential,
            wp.span(),
            SecretUse::Wordpress {
                site: site.to_string(),
            },
        );
        let post_status = match raw.post_status.as_ref() {
            None => PostStatus::Publish,
            Some(p) => PostStatus::parse(p.get_ref()).unwrap_or_else(|| {
                self.push(
                    p.span(),
                    "post_status",
                    format!("unknown post status \"{}\"", p.get_ref()),
                    Some("use draft, pending, publish or future".into()),
                );
                PostStatus::Publish
            }),
        };
        let schedule_delay = self.duration(
            &raw.schedule_delay,
            "schedule_delay",
            Duration::from_secs(3600),
        );
        if post_status == PostStatus::Future
            && schedule_delay < Duration::from_secs(60)
            && let Some(d) = &raw.schedule_delay
        {
            self.push(
                d.span(),
                "schedule_delay",
                format!(
                    "schedule_delay {} is too short for scheduled posts",
                    format_duration(schedule_delay)
                ),
                Some(
                    "use at least \"1m\": WordPress publishes a post dated in the past at once"
                        .into(),
                ),
            );
        }
        let request_timeout = self.duration(
            &raw.request_timeout,
            "request_timeout",
            Duration::from_secs(30),
        );
        if request_timeout < Duration::from_secs(1)
            && let Some(t) = &raw.request_timeout
        {
            self.push(
                t.span(),
                "request_timeout",
                format!(
                    "request_timeout {} is too short",
                    format_duration(request_timeout)
                ),
                Some("use at least \"1s\" (default \"30s\")".into()),
            );
        }
        let seo_plugin = match raw.seo_plugin.as_ref() {
            None => SeoPreference::Auto,
            Some(p) => match p.get_ref().as_str() {
                "auto" => SeoPreference::Auto,
                "yoast" => SeoPreference::Yoast,
                "rankmath" => SeoPreference::RankMath,
                "none" => SeoPreference::None,
                other => {
                    self.push(
                        p.span(),
                        "seo_plugin",
                        format!("unknown SEO plugin \"{other}\""),
                        Some("use auto, yoast, rankmath or none".into()),
                    );
                    SeoPreference::Auto
                }
            },
        };
        let default_category = raw
            .default_category
            .as_ref()
            .map(|c| c.get_ref().trim().to_string())
            .filter(|c| !c.is_empty());
        Some(PublisherConfig::Wordpress(WordpressConfig {
            url: url?,
            username: raw.username.get_ref().clone(),
            app_password: secret,
            post_status,
            schedule_delay,
            default_category,
            min_interval: self.duration(&raw.min_interval, "min_interval", Duration::from_secs(60)),
            request_timeout,
            seo_plugin,
        }))
    }

    /// Where a secret comes from: `<name>_file`, else `<name>_env`, else the
    /// systemd credential `credential`, else the environment variable
    /// `default_env`. Nothing is read and nothing fails here: the command
    /// that uses the secret reads it (see [`super::secret`]).
    #[allow(
        clippy::too_many_arguments,
        reason = "each is one of the documented ways to name a secret"
    )]
    pub(super) fn secret(
        &mut self,
        env_key: &Option<S<String>>,
        file_key: &Option<S<String>>,
        name: &str,
        default_env: &str,
        credential: &str,
        table_span: std::ops::Range<usize>,
        purpose: SecretUse,
    ) -> Secret {
        self.secret_checked(
            env_key,
            file_key,
            name,
            default_env,
            credential,
            table_span,
            purpose,
            None,
        )
    }

    /// [`Self::secret`] with a check of the value once it is read.
    #[allow(
        clippy::too_many_arguments,
        reason = "each is one of the documented ways to name a secret"
    )]
    pub(super) fn secret_checked(
        &mut self,
        env_key: &Option<S<String>>,
        file_key: &Option<S<String>>,
        name: &str,
        default_env: &str,
        credential: &str,
        table_span: std::ops::Range<usize>,
        purpose: SecretUse,
        check: Option<SecretCheck>,
    ) -> Secret {
        let at = |v: &Self, span: std::ops::Range<usize>, key: &str| {
            let in_table = v.map.in_table(span.start);
            v.map
                .issue(span, key, format!("key \"{key}\"{in_table}: "), None)
        };
        let (source, at) = if let Some(f) = file_key {
            let path = self.path(f.get_ref());
            (
                SecretSource::File { path },
                Some(at(self, f.span(), &format!("{name}_file"))),
            )
        } else if let Some(e) = env_key {
            let var = e.get_ref();
            let key = format!("{name}_env");
            let source = match self.env.get(var).filter(|v| !v.is_empty()) {
                Some(value) => SecretSource::Known {
                    value,
                    origin: format!("env {var}"),
                },
                None => {
                    let in_table = self.map.in_table(e.span().start);
                    SecretSource::Missing(self.map.issue(
                        e.span(),
                        &key,
                        format!("key \"{key}\"{in_table}: environment variable {var} is not set"),
                        Some(format!(
                            "export {var}=… (for the service: put it in /etc/blog-poster/env), or use {name}_file = \"/path\""
                        )),
                    ))
                }
            };
            (source, Some(at(self, e.span(), &key)))
        } else {
            let fallback = match self.env.get(default_env).filter(|v| !v.is_empty()) {
                Some(value) => SecretSource::Known {
                    value,
                    origin: format!("env {default_env}"),
                },
                None => {
                    let line = self.map.line_of(table_span.start);
                    SecretSource::Missing(ConfigIssue {
                        file: self.map.file.to_string(),
                        line: Some(line),
                        key: Some(format!("{name}_env")),
                        table: self.map.table_at(table_span.start),
                        message: format!(
                            "missing secret \"{name}\"{}: none of {name}_env, {name}_file, the systemd credential \"{credential}\" or ${default_env} is set",
                            self.map.in_table(table_span.start)
                        ),
                        fix: Some(format!(
                            "export {default_env}=…, or set {name}_env = \"VAR\" or {name}_file = \"/path\""
                        )),
                    })
                }
            };
            let source = match self.env.credentials_dir() {
                Some(dir) => SecretSource::Credential {
                    path: dir.join(credential),
                    name: credential.to_string(),
                    otherwise: Box::new(fallback),
                },
                None => fallback,
            };
            let in_table = self.map.in_table(table_span.start);
            let at = self.map.issue(
                table_span,
                &format!("{name}_env"),
                format!("secret \"{name}\"{in_table}: "),
                None,
            );
            (source, Some(at))
        };
        self.new_secret(source, purpose, at, check)
    }

    /// A secret of this config: every one shares the command label and is
    /// listed in [`Config::secrets`].
    pub(super) fn new_secret(
        &mut self,
        source: SecretSource,
        purpose: SecretUse,
        at: Option<ConfigIssue>,
        check: Option<SecretCheck>,
    ) -> Secret {
        let secret = Secret::from_source(
            source,
            Some(purpose),
            at,
            check,
            self.secrets.command_cell(),
        );
        self.secrets.add(&secret);
        secret
    }
}

/// Names the field of a cron expression that is out of range, which the cron
/// parser's own message does not.
fn explain_cron(expr: &str) -> Option<String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let names: &[(&str, u32, u32)] = match fields.len() {
        5 => &[
            ("minute", 0, 59),
            ("hour", 0, 23),
            ("day of month", 1, 31),
            ("month", 1, 12),
            ("weekday", 0, 7),
        ],
        6 | 7 => &[
            ("second", 0, 59),
            ("minute", 0, 59),
            ("hour", 0, 23),
            ("day of month", 1, 31),
            ("month", 1, 12),
            ("weekday", 0, 7),
        ],
        _ => return None,
    };
    for (field, (name, lo, hi)) in fields.iter().zip(names.iter()) {
        for part in field.split(',') {
            let range = part.split('/').next().unwrap_or(part);
            for value in range.split('-') {
                if let Ok(n) = value.parse::<u32>()
                    && (n < *lo || n > *hi)
                {
                    return Some(format!("{name} {n} is out of range {lo}–{hi}"));
                }
            }
        }
    }
    None
}
