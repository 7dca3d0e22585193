//! The command line: clap definitions and what each command does, with the
//! exit-code contract — 0 ok, 1 runtime failure, 2 usage or config error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Parser, Subcommand};

use crate::clock::SystemClock;
use crate::config::{self, Config, ConfigError, ConfigLocation, Environment, SecretUse};
use crate::domain::lifecycle::Stage;
use crate::pipeline::stage::StageSet;
use crate::{out, outln};

pub use db::{CopyArgs, DbCommand};

pub mod backup;
pub mod config_commands;
pub mod db;
pub mod follow;
pub mod output;
pub mod publishing;
pub mod self_update;
pub mod token;

/// Exit codes, documented in `--help` and docs/operations.md.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    /// stdout was closed by its reader (128 + SIGPIPE, as the shell reports).
    pub const CLOSED_OUTPUT: u8 = super::output::CLOSED_EXIT;
}

#[derive(Debug, Parser)]
#[command(
    name = "blog-poster",
    version,
    about = "Watches competitors, writes articles with an LLM under hard cost caps, and publishes them.",
    after_help = "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 141 output closed by its reader.\n\
                  Config search order: --config, $BLOG_POSTER_CONFIG, $CONFIGURATION_DIRECTORY/config.toml, /etc/blog-poster/config.toml, \
                  $XDG_CONFIG_HOME/blog-poster/config.toml; otherwise the embedded defaults."
)]
pub struct Cli {
    /// Config file to use (otherwise the search order below applies).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write an annotated config file and create the data folder.
    Init(InitArgs),
    /// Run the daemon: scheduler and job engine, until SIGTERM/SIGINT.
    Serve,
    /// Run each site's chain now, in the foreground, and print a summary.
    Run(RunArgs),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Database schema: status and migrations.
    #[command(subcommand)]
    Db(DbCommand),
    /// Backups of the SQLite database: create, list, verify, restore, prune.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// The review queue: list, show, approve, reject or publish articles.
    #[command(subcommand)]
    Article(publishing::ArticleCommand),
    /// Check each site's publishing end to end: TLS, discovery, login,
    /// capabilities, clock. Exits 1 when a check fails.
    Doctor(publishing::DoctorArgs),
    /// API tokens for the status page, the JSON API and the TUI.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The terminal UI (works over SSH): a client of the running daemon's API.
    Tui(TuiArgs),
    /// Install a new release (as root): signature-checked, with a
    /// pre-update backup and automatic rollback.
    SelfUpdate(self_update::SelfUpdateArgs),
    /// Print the version and build details.
    Version(VersionArgs),
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// As JSON: version, the database schema this binary knows, target
    /// (what self-update reads from a new binary).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// API token (else $BLOG_POSTER_TOKEN, else the [tui] token_file).
    #[arg(long, env = "BLOG_POSTER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The API's base URL (default: http://<[http] listen>).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the config (default: --config, else
    /// $XDG_CONFIG_HOME/blog-poster/config.toml, else /etc/blog-poster/config.toml).
    #[arg(long, value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run the chain once and exit (the daemon is `serve`).
    #[arg(long)]
    pub once: bool,
    /// Only this site.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// Stop after this stage: monitor, topics, generate, check or publish.
    #[arg(long, value_name = "STAGE", value_parser = parse_stage)]
    pub until: Option<Stage>,
    /// Wait at most this long for a retry or a job not yet due; what is left
    /// stays queued for `serve`.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration_arg)]
    pub max_wait: Duration,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and show what it means (secrets redacted).
    Check,
    /// Print the annotated default config.
    PrintDefault,
}

impl Command {
    /// The command as the operator typed it ("article approve"), for errors
    /// that say which command needed a secret.
    pub fn label(&self) -> String {
        let sub = match self {
            Command::Init(_) => return "init".into(),
            Command::Serve => return "serve".into(),
            Command::Run(_) => return "run --once".into(),
            Command::Doctor(_) => return "doctor".into(),
            Command::Tui(_) => return "tui".into(),
            Command::Version(_) => return "version".into(),
            Command::SelfUpdate(_) => return "self-update".into(),
            Command::Config(ConfigCommand::Check) => ("config", "check"),
            Command::Config(ConfigCommand::PrintDefault) => ("config", "print-default"),
            Command::Db(DbCommand::Status) => ("db", "status"),
            Command::Db(DbCommand::Migrate) => ("db", "migrate"),
            Command::Db(DbCommand::Copy(_)) => ("db", "copy"),
            Command::Backup(b) => ("backup", b.name()),
            Command::Article(a) => ("article", a.name()),
            Command::Token(t) => ("token", t.name()),
        };
        format!("{} {}", sub.0, sub.1)
    }
}

/// The secrets `run --once` uses: the LLM keys of the chosen sites' provider
/// chains when the run goes as far as generate, their WordPress passwords
/// when it goes as far as publish.
fn run_once_needs(
    config: &Config,
    site: Option<&str>,
    until: Option<Stage>,
) -> impl Fn(&SecretUse) -> bool + use<> {
    let sites: Vec<&config::SiteConfig> = config
        .sites
        .iter()
        .filter(|s| site.map_or(s.enabled, |name| s.name == name))
        .collect();
    let reaches = |stage: Stage| until.is_none_or(|u| u >= stage);
    let providers: Vec<String> = if reaches(Stage::Generate) {
        sites
            .iter()
            .flat_map(|s| config.llm.chain(s.generate.provider.as_deref()))
            .map(|p| p.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let publishing: Vec<String> = if reaches(Stage::Publish) {
        sites.iter().map(|s| s.name.clone()).collect()
    } else {
        Vec::new()
    };
    move |u: &SecretUse| match u {
        SecretUse::Llm { provider } => providers.contains(provider),
        SecretUse::Wordpress { site } => publishing.contains(site),
        _ => false,
    }
}

fn parse_stage(s: &str) -> Result<Stage, String> {
    Stage::parse(s).ok_or_else(|| {
        format!("unknown stage \"{s}\" (use monitor, topics, generate, check or publish)")
    })
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    config::units::parse_duration(s)
}

/// An error with the exit code it deserves.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> Self {
        let error = e.into();
        let code = if matches!(
            error.downcast_ref::<output::OutputError>(),
            Some(output::OutputError::Closed)
        ) {
            output::CLOSED_EXIT
        } else if error.downcast_ref::<ConfigError>().is_some()
            || error.downcast_ref::<config::SecretError>().is_some()
        {
            exit::USAGE
        } else {
            exit::FAILURE
        };
        CliError { code, error }
    }
}

fn usage(error: anyhow::Error) -> CliError {
    CliError {
        code: exit::USAGE,
        error,
    }
}

/// Runs a parsed command line; returns the exit code on success. A command
/// whose stdout reader went away ends with 141 (see [`output`]), whatever
/// else it returned.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    let result = run_command(cli);
    if output::closed() {
        return Err(CliError {
            code: output::CLOSED_EXIT,
            error: output::OutputError::Closed.into(),
        });
    }
    result
}

fn run_command(cli: Cli) -> Result<u8, CliError> {
    let env = Environment::from_process();
    let label = cli.command.label();
    match cli.command {
        Command::Version(args) => {
            if args.json {
                outln!("{}", version_json())?;
            } else {
                outln!("{}", version_text())?;
            }
            Ok(exit::OK)
        }
        Command::SelfUpdate(args) => {
            let (config, _) = load_config(cli.config.as_deref(), &env, &label)?;
            self_update::self_update(&config, args)
        }
        Command::Config(ConfigCommand::PrintDefault) => {
            out!("{}", config::DEFAULT_CONFIG)?;
            Ok(exit::OK)
        }
        Command::Init(args) => config_commands::init(cli.config.as_deref(), &args, &env),
        Command::Config(ConfigCommand::Check) => {
            let (config, location) = load_config(cli.config.as_deref(), &env, &label)?;
            // The check is for what `serve` will need: every secret.
            config.secrets.require(&label, |_| true)?;
            out!("{}", config_commands::describe_config(&config, &location))?;
            Ok(exit::OK)
        }
        Command::Article(cmd) => publishing::article(cli.config.as_deref(), cmd, &env, &label),
        Command::Doctor(args) => publishing::doctor(cli.config.as_deref(), args, &env, &label),
        Command::Token(cmd) => token::token(cli.config.as_deref(), cmd, &env, &label),
        Command::Tui(args) => {
            let location =
                config::locate(cli.config.as_deref(), &env).map_err(|e| usage(anyhow!(e)))?;
            let endpoint =
                crate::tui::endpoint(&location, &env, args.url.as_deref(), args.token.as_deref())
                    .map_err(|e| usage(anyhow!(e)))?;
            crate::tui::run(endpoint).map_err(|e| match e {
                crate::tui::TuiError::NotATerminal => usage(anyhow!(e)),
                e => CliError {
                    code: exit::FAILURE,
                    error: anyhow!(e),
                },
            })?;
            Ok(exit::OK)
        }
        Command::Backup(cmd) => {
            let (config, location) = load_config(cli.config.as_deref(), &env, &label)?;
            backup::backup(&config, cmd, &label, (&location, &env))
        }
        Command::Db(cmd) => {
            let (config, location) = load_config(cli.config.as_deref(), &env, &label)?;
            db::db(&config, cmd, (&location, &env))
        }
        Command::Serve => {
            let (config, location) = load_config(cli.config.as_deref(), &env, &label)?;
            config.secrets.require(&label, |_| true)?;
            crate::logging::init(&config.log);
            if location == ConfigLocation::Embedded {
                tracing::info!(
                    "no config file found; using the embedded defaults (`blog-poster init` writes one)"
                );
            }
            let rt = runtime()?;
            rt.block_on(async {
                let shutdown = crate::daemon::shutdown_on_signals()?;
                crate::daemon::serve(
                    Arc::new(config),
                    StageSet::standard(),
                    Arc::new(SystemClock),
                    shutdown,
                )
                .await
            })?;
            Ok(exit::OK)
        }
        Command::Run(args) => {
            if !args.once {
                return Err(usage(anyhow!(
                    "`run` needs --once (the continuous mode is `blog-poster serve`)"
                )));
            }
            let (config, _) = load_config(cli.config.as_deref(), &env, &label)?;
            config.secrets.require(
                &label,
                run_once_needs(&config, args.site.as_deref(), args.until),
            )?;
            crate::logging::init(&config.log);
            run_once(config, args)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?)
}

/// Finds and validates the config for `command` (the label later secret
/// errors name). Reads no secret: the command asks for those it uses.
fn load_config(
    explicit: Option<&Path>,
    env: &Environment,
    command: &str,
) -> Result<(Config, ConfigLocation), CliError> {
    let location = config::locate(explicit, env)?;
    let config = config::load(&location, env)?;
    config.secrets.set_command(command);
    Ok((config, location))
}

fn run_once(config: Config, args: RunArgs) -> Result<u8, CliError> {
    use crate::run_once::{OnceError, OnceOptions, ProgressPrinter, render_summary, run_once};
    let rt = runtime()?;
    let options = OnceOptions {
        site: args.site,
        until: args.until,
        max_wait: args.max_wait,
    };
    let summary = rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stop = tx.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
        });
        // Nobody reads the progress any more: stop the run as Ctrl-C would.
        let printer = Arc::new(
            ProgressPrinter::new(output::Stdout).on_write_error(move || {
                let _ = stop.send(true);
            }),
        );
        run_once(
            Arc::new(config),
            StageSet::standard(),
            Arc::new(SystemClock),
            options,
            printer,
            rx,
        )
        .await
    });
    let summary = match summary {
        Ok(s) => s,
        Err(OnceError::Usage(msg)) => return Err(usage(anyhow!(msg))),
        Err(e) => return Err(e.into()),
    };
    out!("{}", render_summary(&summary))?;
    Ok(if summary.all_succeeded() && !summary.interrupted {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// Where the config came from and the environment: enough to reach the
/// running daemon's API.
type Origin<'a> = (&'a ConfigLocation, &'a Environment);

/// `version --json`: what self-update asks a downloaded binary.
pub fn version_json() -> String {
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "schema": crate::store::migrate::SQLITE.last().map_or(0, |m| m.version),
        "target": crate::update::release::TARGET,
        "sqlite": rusqlite::version(),
    })
    .to_string()
}

pub fn version_text() -> String {
    format!(
        "blog-poster {} ({}-{}, SQLite {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        rusqlite::version()
    )
}
