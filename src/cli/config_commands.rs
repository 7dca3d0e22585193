//! `init` (write the annotated example config and the data folder) and
//! what `config check` prints: the meaning of the loaded config, secrets
//! redacted.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use super::{CliError, InitArgs, exit, usage};
use crate::config::units::format_duration;
use crate::config::{self, Config, ConfigLocation, Environment, PublisherConfig};
use crate::outln;

pub(super) fn init(
    explicit: Option<&Path>,
    args: &InitArgs,
    env: &Environment,
) -> Result<u8, CliError> {
    let path = match (&args.path, explicit) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.to_path_buf(),
        (None, None) => env
            .xdg_config_dir()
            .map(|d| d.join("config.toml"))
            .unwrap_or_else(|| PathBuf::from("/etc/blog-poster/config.toml")),
    };
    if path.exists() && !args.force {
        return Err(usage(anyhow!(
            "{} already exists; use --force to overwrite it",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, config::DEFAULT_CONFIG)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let config = config::parse(config::DEFAULT_CONFIG, Some(&path), env)?;
    crate::private_files::private_dir(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    outln!("wrote {}", path.display())?;
    outln!("data folder {}", config.data_dir.display())?;
    outln!(
        "next: edit the [sites.*] tables, then `blog-poster config check` and `blog-poster run --once`"
    )?;
    Ok(exit::OK)
}

/// What `config check` prints: the meaning of the config, secrets redacted.
pub fn describe_config(c: &Config, location: &ConfigLocation) -> String {
    let mut out = String::new();
    let source = match location {
        ConfigLocation::File(p) => p.display().to_string(),
        ConfigLocation::Embedded => config::EMBEDDED_LABEL.to_string(),
    };
    out.push_str(&format!("config OK: {source}\n"));
    out.push_str(&format!("data_dir: {}\n", c.data_dir.display()));
    out.push_str(&format!("database: {}\n", c.database.backend.describe()));
    out.push_str(&format!("outbox: {}\n", c.outbox.dir.display()));
    let e = &c.engine;
    out.push_str(&format!(
        "engine: {} workers, {} per site, lease {}, heartbeat {}, {} attempts, retry {}..{}\n",
        e.workers,
        e.per_site_concurrency,
        format_duration(e.lease),
        format_duration(e.heartbeat),
        e.max_attempts,
        format_duration(e.retry_base),
        format_duration(e.retry_max)
    ));
    let m = &c.monitor;
    out.push_str(&format!(
        "monitor: body limit {}, timeouts {}/{}, {} at once ({} per host), next check {} ({}..{}), backoff {}..{}\n",
        config::units::format_size(m.body_limit),
        format_duration(m.connect_timeout),
        format_duration(m.timeout),
        m.concurrency,
        m.per_host_concurrency,
        format_duration(m.check_interval),
        format_duration(m.min_check_interval),
        format_duration(m.max_check_interval),
        format_duration(m.backoff_base),
        format_duration(m.backoff_max)
    ));
    out.push_str(&describe_llm(c));
    out.push_str(&crate::alerts::describe(&c.alerts));
    let b = &c.backup;
    let cron = |s: &Option<config::Schedule>| {
        s.as_ref().map_or_else(
            || "by hand only".to_string(),
            |s| format!("\"{}\" UTC", s.expr),
        )
    };
    out.push_str(&format!(
        "backup: {} (schedule {}, drill {}), keep last {} + {} daily + {} weekly, zstd {}{}\n",
        b.dir.display(),
        cron(&b.schedule),
        cron(&b.drill_schedule),
        b.keep_last,
        b.keep_daily,
        b.keep_weekly,
        b.compression_level,
        b.s3.as_ref().map_or_else(String::new, |s3| format!(
            ", off-site s3 bucket {} at {} (keys from {} and {}, redacted)",
            s3.bucket,
            s3.endpoint,
            s3.access_key.origin(),
            s3.secret_key.origin()
        ))
    ));
    out.push_str(&format!("sites: {}\n", c.sites.len()));
    for s in &c.sites {
        let schedule = s.schedule.as_ref().map_or_else(
            || "on demand only".to_string(),
            |sch| format!("\"{}\" ({})", sch.expr, sch.tz.name()),
        );
        out.push_str(&format!(
            "  {}{}: schedule {schedule}, {} sources, publisher {}",
            s.name,
            if s.enabled { "" } else { " (disabled)" },
            s.sources.len(),
            s.publisher.name()
        ));
        let t = &s.topics;
        out.push_str(&format!(
            ", topics from the last {} (rejected at similarity ≥ {}, {} pinned, {} banned)",
            format_duration(t.lookback),
            t.similarity_threshold,
            t.pinned_keywords.len(),
            t.banned_keywords.len()
        ));
        if let PublisherConfig::Wordpress(wp) = &s.publisher {
            out.push_str(&format!(
                " {} as {} (app password from {}, redacted)",
                wp.url,
                wp.username,
                wp.app_password.origin()
            ));
        }
        let (g, k) = (&s.generate, &s.check);
        out.push_str(&format!(
            "\n    writes ~{} words in {}; gate: publish at {}+ ({}), reject below {}; fact check {}\n",
            g.target_words,
            g.language,
            k.min_score,
            if k.auto_publish { "automatically" } else { "after review" },
            k.reject_below,
            if k.fact_check { "on" } else { "off" }
        ));
    }
    out
}

fn cap(m: Option<crate::domain::money::Money>) -> String {
    m.map_or_else(|| "unlimited".to_string(), |m| m.to_string())
}

/// The LLM chain and the caps, for `config check`.
fn describe_llm(c: &Config) -> String {
    let mut out = String::new();
    let chain = c.llm.chain(None);
    if chain.is_empty() {
        out.push_str("llm: none configured: the generate stage will fail; set ANTHROPIC_API_KEY or OPENAI_API_KEY, or add [llm.providers.NAME]\n");
    } else {
        let parts: Vec<String> = chain
            .iter()
            .map(|p| {
                let key = p.api_key.as_ref().map_or_else(
                    || "no key".to_string(),
                    |k| format!("key from {}, redacted", k.origin()),
                );
                let price = if p.price.is_free() {
                    "free".to_string()
                } else {
                    format!(
                        "{}/{} per M tokens",
                        p.price.input_per_mtok, p.price.output_per_mtok
                    )
                };
                format!(
                    "{} ({} {} at {}, {key}, {price})",
                    p.name,
                    p.kind.as_str(),
                    p.model,
                    p.base_url
                )
            })
            .collect();
        out.push_str(&format!(
            "llm: {} [from {}]\n",
            parts.join(", then "),
            c.llm.origin
        ));
    }
    let b = &c.budget;
    out.push_str(&format!(
        "budget: global {}/day, {}/month; per site {}/day, {}/month; per article {}\n",
        cap(b.global_daily),
        cap(b.global_monthly),
        cap(b.site_daily),
        cap(b.site_monthly),
        cap(b.per_article)
    ));
    out
}
