//! Raw → validated: every value is checked and converted here, and every
//! problem is reported with its line, key and a fix. This file holds the
//! [`Validator`], its shared checks (durations, sizes, paths) and the
//! top-level sections (log, database, http, engine); each other section has
//! a `validate_*.rs` beside it (sites, llm, alerts, backup, update, and
//! secrets, which are only located: the command that uses one reads it).

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

#[path = "validate_secrets.rs"]
mod secret_rules;
#[path = "validate_sites.rs"]
mod site_rules;

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
}
