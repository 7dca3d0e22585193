//! The command line of publishing: `article list|show|image|approve|reject|publish`
//! (the review queue, through `crate::review`) and `doctor`. Approving or
//! publishing works the article's run in the foreground when no daemon
//! holds the database, otherwise leaves it to the daemon.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, Subcommand};

use super::{CliError, exit, load_config, runtime, usage};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Environment, PublisherConfig, SecretUse};
use crate::domain::lifecycle::ArticleStatus;
use crate::instance::InstanceError;
use crate::pipeline::stage::StageSet;
use crate::pipeline::workspace::{WorkspaceError, open_for_work};
use crate::review::{self, ReviewError};
use crate::run_once::{ProgressPrinter, render_summary, work_runs};
use crate::store::open::{ensure_migrated, instance_lock, open_database};
use crate::store::{ArticleFilter, ArticleId, ReviewOutcome, Store, StoreError};
use crate::wordpress::doctor;
use crate::{out, outln};

#[derive(Debug, Subcommand)]
pub enum ArticleCommand {
    /// List articles, newest first (default: those waiting for review).
    List(ListArgs),
    /// Show one article: content, check score, review reason, publishing.
    Show { id: i64 },
    /// Approve an article held for review (or rejected) and publish it.
    Approve {
        id: i64,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Reject an article; the reason is kept with it.
    Reject {
        id: i64,
        /// Why (kept with the article and shown by `article show`).
        #[arg(long)]
        reason: String,
    },
    /// Set an article's featured image: a PNG/JPEG/GIF/WebP file (relative
    /// to the data folder) or an http(s) URL.
    Image {
        id: i64,
        source: String,
        /// The image's alt text.
        #[arg(long, default_value = "")]
        alt: String,
    },
    /// Publish an approved article again (after its publish job failed).
    Publish {
        id: i64,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

impl ArticleCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ArticleCommand::List(_) => "list",
            ArticleCommand::Show { .. } => "show",
            ArticleCommand::Approve { .. } => "approve",
            ArticleCommand::Reject { .. } => "reject",
            ArticleCommand::Image { .. } => "image",
            ArticleCommand::Publish { .. } => "publish",
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this site.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// review, approved, rejected, published, draft or all.
    #[arg(long, default_value = "review")]
    pub status: String,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Only queue the publish job; do not publish in the foreground.
    #[arg(long)]
    pub no_wait: bool,
    /// Wait at most this long for a retry in the foreground.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = super::parse_duration_arg)]
    pub max_wait: Duration,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Only this site (default: every enabled site).
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
}

/// Who did it, for the events: "cli", or "cli:<login>" from $USER (never
/// looked up in the user database).
fn actor() -> String {
    match std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")) {
        Ok(u) if !u.is_empty() => format!("cli:{}", review::printable(&u)),
        _ => "cli".into(),
    }
}

fn review_error(e: ReviewError) -> CliError {
    match e {
        ReviewError::Invalid(m) => usage(anyhow!(m)),
        ReviewError::Store(e @ (StoreError::NotFound { .. } | StoreError::Conflict(_))) => {
            usage(anyhow!(e))
        }
        ReviewError::Store(e) => e.into(),
    }
}

/// The store, migrated if this binary brought new migrations (under the
/// instance lock; a running daemon of this version has migrated already).
pub(crate) fn open_store(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    let store = open_database(config)?;
    if !store.schema_status()?.pending.is_empty() {
        let _lock = instance_lock(config)?;
        ensure_migrated(
            store.as_ref(),
            config.database.auto_migrate,
            SystemClock.now(),
        )?;
    }
    Ok(store)
}

pub fn article(
    explicit: Option<&Path>,
    cmd: ArticleCommand,
    env: &Environment,
    label: &str,
) -> Result<u8, CliError> {
    let (config, _) = load_config(explicit, env, label)?;
    let store = open_store(&config)?;
    let now = SystemClock.now();
    match cmd {
        ArticleCommand::List(args) => {
            let status = match args.status.as_str() {
                "all" => None,
                s => Some(ArticleStatus::parse(s).ok_or_else(|| {
                    usage(anyhow!(
                        "unknown status \"{s}\": use review, approved, rejected, published, draft or all"
                    ))
                })?),
            };
            let filter = ArticleFilter {
                site: args.site,
                status,
                limit: args.limit,
                before: None,
            };
            let articles = review::list(store.as_ref(), &filter).map_err(review_error)?;
            out!("{}", review::render_list(&articles))?;
            Ok(exit::OK)
        }
        ArticleCommand::Show { id } => {
            let detail = review::show(store.as_ref(), ArticleId(id)).map_err(review_error)?;
            out!("{}", review::render_detail(&detail))?;
            Ok(exit::OK)
        }
        ArticleCommand::Reject { id, reason } => {
            let outcome = review::reject(store.as_ref(), ArticleId(id), &reason, &actor(), now)
                .map_err(review_error)?;
            outln!("{}", review::printable(&outcome.message))?;
            Ok(exit::OK)
        }
        ArticleCommand::Image { id, source, alt } => {
            let image = crate::store::ArticleImage {
                source,
                alt_text: alt,
            };
            review::set_image(
                store.as_ref(),
                ArticleId(id),
                &image,
                &config.data_dir,
                &actor(),
                now,
            )
            .map_err(review_error)?;
            outln!(
                "article {id}: featured image set; it is uploaded when the article is published"
            )?;
            Ok(exit::OK)
        }
        ArticleCommand::Approve { id, wait } => {
            let outcome = review::approve(store.as_ref(), ArticleId(id), &actor(), now)
                .map_err(review_error)?;
            let site = store.get_article(ArticleId(id))?.site;
            drop(store);
            publish_now(config, outcome, &site, &wait, label)
        }
        ArticleCommand::Publish { id, wait } => {
            let outcome = review::publish(store.as_ref(), ArticleId(id), &actor(), now)
                .map_err(review_error)?;
            let site = store.get_article(ArticleId(id))?.site;
            drop(store);
            publish_now(config, outcome, &site, &wait, label)
        }
    }
}

/// Works the article's run in the foreground unless a daemon holds the
/// database (then the daemon publishes it). Publishing here needs the
/// site's WordPress password; without it the article stays queued.
fn publish_now(
    config: Config,
    outcome: ReviewOutcome,
    site: &str,
    wait: &WaitArgs,
    label: &str,
) -> Result<u8, CliError> {
    outln!("{}", review::printable(&outcome.message))?;
    if wait.no_wait {
        outln!("queued: `blog-poster serve` publishes it")?;
        return Ok(exit::OK);
    }
    let config = Arc::new(config);
    let rt = runtime()?;
    let summary = rt.block_on(async {
        let cfg = config.clone();
        let ws = tokio::task::spawn_blocking(move || open_for_work(&cfg, SystemClock.now()))
            .await
            .map_err(|e| anyhow!("start-up task failed: {e}"))?;
        let ws = match ws {
            Ok(ws) => ws,
            Err(WorkspaceError::Instance(InstanceError::Held { pid, .. })) => {
                outln!("the running blog-poster (pid {pid}) publishes it")?;
                return Ok::<_, anyhow::Error>(None);
            }
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = config.secrets.require(
            label,
            |u| matches!(u, SecretUse::Wordpress { site: s } if s == site),
        ) {
            return Err(anyhow::Error::new(e).context(format!(
                "article {}: queued for publishing, but not published now",
                outcome.article_id.0
            )));
        }
        let (tx, rx) = tokio::sync::watch::channel(false);
        let printer = Arc::new(ProgressPrinter::new(super::output::Stdout).on_write_error(
            move || {
                let _ = tx.send(true);
            },
        ));
        let summary = work_runs(
            ws,
            config.clone(),
            StageSet::standard(),
            Arc::new(SystemClock),
            vec![outcome.run_id],
            printer,
            rx,
            wait.max_wait,
        )
        .await?;
        Ok(Some(summary))
    })?;
    match summary {
        None => Ok(exit::OK),
        Some(s) => {
            out!("{}", render_summary(&s))?;
            Ok(if s.all_succeeded() {
                exit::OK
            } else {
                exit::FAILURE
            })
        }
    }
}

pub fn doctor(
    explicit: Option<&Path>,
    args: DoctorArgs,
    env: &Environment,
    label: &str,
) -> Result<u8, CliError> {
    let (config, _) = load_config(explicit, env, label)?;
    let sites: Vec<_> = match &args.site {
        Some(name) => vec![config.site(name).ok_or_else(|| {
            let known: Vec<&str> = config.sites.iter().map(|s| s.name.as_str()).collect();
            usage(anyhow!(
                "no site \"{name}\" in {} (sites: {})",
                config.source_label(),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ))
        })?],
        None => config.sites.iter().filter(|s| s.enabled).collect(),
    };
    if sites.is_empty() {
        return Err(usage(anyhow!(
            "{} has no enabled site to check",
            config.source_label()
        )));
    }
    let checked: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
    config.secrets.require(
        label,
        |u| matches!(u, SecretUse::Wordpress { site } if checked.contains(&site.as_str())),
    )?;
    let rt = runtime()?;
    let mut failures = 0;
    for site in sites {
        let report = match &site.publisher {
            PublisherConfig::Wordpress(wp) => rt.block_on(doctor::check_wordpress(&site.name, wp)),
            PublisherConfig::Outbox => {
                doctor::check_outbox(&site.name, &config.outbox.dir.join(&site.name))
            }
        };
        failures += report.failures();
        out!("{}", report.render())?;
    }
    if failures == 0 {
        outln!("all checks passed")?;
        Ok(exit::OK)
    } else {
        outln!("{failures} check(s) failed")?;
        Ok(exit::FAILURE)
    }
}
