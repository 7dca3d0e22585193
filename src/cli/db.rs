//! `blog-poster db status|migrate|copy`: the schema and the move to
//! PostgreSQL. While `serve` holds the SQLite database, `db copy` hands the
//! copy to the daemon and follows it (see `follow`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};

use super::{CliError, Origin, exit, follow, usage};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::{out, outln};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show applied and pending migrations and job counts.
    Status,
    /// Apply pending migrations.
    Migrate,
    /// Copy the SQLite database into PostgreSQL and verify it: row counts
    /// and a checksum of every table on both sides. While serve runs, the
    /// daemon does it (through its API) and this follows it to the end.
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The target, e.g. postgres://user:password@host:25060/blog?sslmode=require
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Empty the target's tables first (otherwise a non-empty target is refused).
    #[arg(long)]
    pub replace: bool,
    /// PEM file with the CA that signed the server's certificate (managed
    /// providers publish theirs).
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (only for a server you cannot give a
    /// proper one).
    #[arg(long)]
    pub tls_insecure: bool,
    #[command(flatten)]
    pub daemon: follow::DaemonArgs,
}

pub(super) fn db(config: &Config, cmd: DbCommand, origin: Origin<'_>) -> Result<u8, CliError> {
    let clock = SystemClock;
    match cmd {
        DbCommand::Status => {
            let store = crate::store::open::open_database(config)?;
            let status = store.schema_status()?;
            outln!("database: {}", config.database.backend.describe())?;
            outln!(
                "schema: version {} of {} known to this binary",
                status.applied.last().map_or(0, |m| m.version),
                status.latest_known
            )?;
            for m in &status.applied {
                outln!(
                    "  applied {:04}_{}  {}  sha256 {}",
                    m.version,
                    m.name,
                    m.applied_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    &m.checksum[..16]
                )?;
            }
            for p in &status.pending {
                outln!("  pending {p}")?;
            }
            if status.applied.is_empty() {
                outln!(
                    "  (a new database: `blog-poster db migrate` or `serve` creates the schema)"
                )?;
            } else {
                let counts = store.job_counts()?;
                let shown: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
                outln!(
                    "jobs: {}",
                    if shown.is_empty() {
                        "none".to_string()
                    } else {
                        shown.join(", ")
                    }
                )?;
            }
            Ok(exit::OK)
        }
        DbCommand::Copy(args) => db_copy(config, args, origin),
        DbCommand::Migrate => {
            if let crate::config::DatabaseBackend::Sqlite { .. } = &config.database.backend {
                // Owner-only, whatever the umask (the store makes the file 0600).
                crate::private_files::private_dir(&config.data_dir).with_context(|| {
                    format!("cannot create the folder {}", config.data_dir.display())
                })?;
            }
            let _lock = crate::store::open::instance_lock(config)?;
            let store = crate::store::open::open_database(config)?;
            let applied = store.migrate(clock.now())?;
            if applied.is_empty() {
                outln!("schema is up to date")?;
            }
            for m in applied {
                outln!("applied {:04}_{}", m.version, m.name)?;
            }
            Ok(exit::OK)
        }
    }
}

fn db_copy(config: &Config, args: CopyArgs, origin: Origin<'_>) -> Result<u8, CliError> {
    let crate::config::DatabaseBackend::Sqlite { path } = &config.database.backend else {
        return Err(usage(anyhow!(
            "db copy reads the SQLite database; database.url already points elsewhere"
        )));
    };
    if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
        return Err(usage(anyhow!(
            "--to must be a postgres:// URL, like postgres://user:password@host:5432/blog?sslmode=require"
        )));
    }
    if !path.exists() {
        return Err(usage(anyhow!("there is no database at {}", path.display())));
    }
    let _lock = match crate::instance::InstanceLock::acquire(path) {
        Ok(lock) => lock,
        Err(crate::instance::InstanceError::Held { .. }) => {
            return db_copy_through_daemon(&args, origin);
        }
        Err(e) => return Err(e.into()),
    };
    let request = crate::dbcopy::CopyRequest {
        source: path,
        url: &args.to,
        options: crate::config::PgOptions {
            ca_file: args.ca_file,
            tls_insecure: args.tls_insecure,
            pool_size: 2,
            statement_timeout: Duration::from_secs(3600),
            ..Default::default()
        },
        replace: args.replace,
    };
    let report = crate::dbcopy::copy(&request, SystemClock.now(), &mut |line| {
        // A closed stdout does not stop the copy: the command ends with 141 after it.
        let _ = outln!("{line}");
    })?;
    out!("{}", crate::dbcopy::render(&report))?;
    Ok(exit::OK)
}

/// `db copy` while serve holds the database: the daemon pauses its workers
/// and copies; this follows the operation and prints the same report.
fn db_copy_through_daemon(args: &CopyArgs, origin: Origin<'_>) -> Result<u8, CliError> {
    if args.ca_file.is_some() || args.tls_insecure {
        return Err(usage(anyhow!(
            "serve is running, so the daemon does the copy, with the TLS settings of [database] \
             in the config (ca_file, tls_insecure): set them there and drop --ca-file/--tls-insecure, \
             or stop serve first"
        )));
    }
    let api = follow::DaemonApi::connect(origin.0, origin.1, &args.daemon)?;
    let result = api.run_operation(
        "/api/v1/db/copy",
        &serde_json::json!({ "to": args.to, "replace": args.replace }),
    )?;
    let report: crate::dbcopy::CopyReport = serde_json::from_value(result)
        .map_err(|e| anyhow!("the daemon's copy report is not what this version reads: {e}"))?;
    out!("{}", crate::dbcopy::render(&report))?;
    Ok(exit::OK)
}
