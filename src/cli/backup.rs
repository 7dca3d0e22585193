//! `blog-poster backup create|list|verify|restore|prune`: the operator's
//! side of [`crate::backup`]. Restore refuses while `serve` runs (the
//! daemon restores through its API instead).

use anyhow::anyhow;
use clap::Subcommand;

use super::{CliError, exit, runtime};
use crate::backup::s3::Remote;
use crate::backup::task::{backup_cycle, prune_all};
use crate::backup::{BackupError, BackupKind, BackupRecord, Backups};
use crate::clock::{Clock, SystemClock};
use crate::config::units::format_size;
use crate::config::{Config, SecretUse};
use crate::outln;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a backup now (safe while serve runs) and upload it if
    /// [backup.s3] is set.
    Create,
    /// List backups, newest first, with their last verification.
    List {
        /// Also list the objects in the S3 bucket.
        #[arg(long)]
        remote: bool,
    },
    /// Check a backup end to end (default: the newest): sha256,
    /// decompression, integrity_check, schema version, row counts. Exits 1
    /// when it fails.
    Verify { id: Option<i64> },
    /// Replace the database with a backup. A safety backup of the current
    /// database is taken first. While serve runs, the daemon does it
    /// (through its API) and this follows it to the end.
    Restore {
        id: i64,
        #[command(flatten)]
        daemon: super::follow::DaemonArgs,
    },
    /// Delete the backups retention does not keep (keep_last, keep_daily,
    /// keep_weekly); never the only verified one.
    Prune,
}

impl BackupCommand {
    pub fn name(&self) -> &'static str {
        match self {
            BackupCommand::Create => "create",
            BackupCommand::List { .. } => "list",
            BackupCommand::Verify { .. } => "verify",
            BackupCommand::Restore { .. } => "restore",
            BackupCommand::Prune => "prune",
        }
    }
}

/// The bucket, when [backup.s3] is set: its keys are read here, so only the
/// commands that talk to the bucket need them.
fn remote(config: &Config, backups: &Backups, label: &str) -> Result<Option<Remote>, CliError> {
    if backups.settings.s3.is_none() {
        return Ok(None);
    }
    config
        .secrets
        .require(label, |u| matches!(u, SecretUse::BackupS3))?;
    Ok(backups.settings.s3.as_ref().map(Remote::new).transpose()?)
}

fn verified(r: &BackupRecord) -> String {
    match (r.verify_ok, r.verified_at) {
        (Some(true), Some(at)) => format!("ok {}", at.format("%Y-%m-%d %H:%M")),
        (Some(false), Some(at)) => format!("FAILED {}", at.format("%Y-%m-%d %H:%M")),
        _ => "never".into(),
    }
}

pub fn backup(
    config: &Config,
    cmd: BackupCommand,
    label: &str,
    origin: super::Origin<'_>,
) -> Result<u8, CliError> {
    let backups = Backups::from_config(config)?;
    let clock = SystemClock;
    match cmd {
        BackupCommand::Create => {
            let remote = remote(config, &backups, label)?;
            let c = runtime()?.block_on(backup_cycle(
                &backups,
                remote.as_ref(),
                BackupKind::Manual,
                false,
                &clock,
            ))?;
            let r = &c.record;
            outln!(
                "backup {} created: {} ({}, database {}, {} rows in {} tables, schema {})",
                r.id,
                backups.file_path(r).display(),
                format_size(r.size_bytes),
                format_size(r.db_size_bytes.unwrap_or(0)),
                r.total_rows(),
                r.row_counts.len(),
                r.schema_version
            )?;
            outln!("sha256 {}", r.sha256)?;
            if let Some(key) = &c.uploaded {
                outln!("off-site copy: {key}")?;
            }
            for e in &c.remote_errors {
                crate::errln!("warning: off-site copy failed (the local backup is fine): {e}");
            }
            Ok(exit::OK)
        }
        BackupCommand::List {
            remote: with_remote,
        } => {
            let list = backups.list()?;
            if list.is_empty() {
                outln!("no backups yet in {}", backups.dir().display())?;
            } else {
                outln!(
                    "{:>5}  {:<11}  {:<20}  {:>10}  {:>9}  {:<22}  {:<8}  file",
                    "id",
                    "kind",
                    "created (UTC)",
                    "size",
                    "rows",
                    "verified",
                    "off-site"
                )?;
            }
            for r in &list {
                outln!(
                    "{:>5}  {:<11}  {:<20}  {:>10}  {:>9}  {:<22}  {:<8}  {}",
                    r.id,
                    r.kind.as_str(),
                    r.created_at.format("%Y-%m-%d %H:%M:%S"),
                    format_size(r.size_bytes),
                    r.total_rows(),
                    verified(r),
                    if r.remote_key.is_some() { "yes" } else { "-" },
                    r.file_name
                )?;
            }
            if with_remote {
                let Some(remote) = remote(config, &backups, label)? else {
                    return Err(CliError {
                        code: exit::USAGE,
                        error: anyhow!("--remote needs [backup.s3] in the config"),
                    });
                };
                let objects = runtime()?.block_on(remote.list())?;
                outln!("off-site: {} object(s)", objects.len())?;
                for o in objects {
                    outln!(
                        "  {}  {}  {}",
                        o.key,
                        format_size(o.size),
                        o.last_modified.unwrap_or_default()
                    )?;
                }
            }
            Ok(exit::OK)
        }
        BackupCommand::Verify { id } => {
            let report = backups.verify(id, clock.now())?;
            if report.ok {
                outln!(
                    "backup {} verified in {:.1}s: {}",
                    report.id,
                    report.elapsed.as_secs_f64(),
                    report.message
                )?;
                Ok(exit::OK)
            } else {
                outln!("backup {} FAILED verification:", report.id)?;
                for p in &report.problems {
                    outln!("  {p}")?;
                }
                Ok(exit::FAILURE)
            }
        }
        BackupCommand::Restore { id, daemon } => {
            let record = backups.get(id)?;
            let path = backups.file_path(&record);
            if !path.exists() {
                match (remote(config, &backups, label)?, &record.remote_key) {
                    (Some(remote), Some(key)) => {
                        crate::private_files::create_dir_all(backups.dir()).map_err(|e| {
                            anyhow!("cannot create {}: {e}", backups.dir().display())
                        })?;
                        let n = runtime()?.block_on(remote.download(key, &path))?;
                        outln!("downloaded {key} ({})", format_size(n))?;
                    }
                    _ => {
                        return Err(BackupError::Invalid {
                            id,
                            problems: format!(
                                "the file {} is missing and there is no off-site copy",
                                path.display()
                            ),
                        }
                        .into());
                    }
                }
            }
            let report = match backups.restore_offline(id, clock.now()) {
                Ok(report) => report,
                Err(BackupError::DaemonRunning { .. }) => {
                    return restore_through_daemon(id, &daemon, origin);
                }
                Err(e) => return Err(e.into()),
            };
            outln!(
                "restored backup {} into {} ({} rows)",
                report.restored,
                report.database.display(),
                report.rows
            )?;
            outln!(
                "the database as it was before is backup {} ({})",
                report.safety_backup,
                report.safety_file
            )?;
            for m in &report.migrated {
                outln!("applied migration {m}")?;
            }
            Ok(exit::OK)
        }
        BackupCommand::Prune => {
            let remote = remote(config, &backups, label)?;
            let mut errors = Vec::new();
            let pruned = runtime()?.block_on(prune_all(&backups, remote.as_ref(), &mut errors))?;
            if pruned.is_empty() {
                outln!("nothing to prune")?;
            }
            for r in &pruned {
                outln!("deleted backup {} ({})", r.id, r.file_name)?;
            }
            for e in &errors {
                crate::errln!("warning: {e}");
            }
            Ok(exit::OK)
        }
    }
}

/// `backup restore` while serve runs: the daemon checks the backup, pauses,
/// swaps and resumes; this follows the operation and prints the outcome.
fn restore_through_daemon(
    id: i64,
    daemon: &super::follow::DaemonArgs,
    origin: super::Origin<'_>,
) -> Result<u8, CliError> {
    let api = super::follow::DaemonApi::connect(origin.0, origin.1, daemon)?;
    let r = api.run_operation(
        &format!("/api/v1/backups/{id}/restore"),
        &serde_json::json!({}),
    )?;
    outln!(
        "restored backup {} into {} ({} rows)",
        r["restored"],
        r["database"].as_str().unwrap_or_default(),
        r["rows"]
    )?;
    outln!(
        "the database as it was before is backup {} ({})",
        r["safety_backup"],
        r["safety_file"].as_str().unwrap_or_default()
    )?;
    for m in r["migrated"].as_array().into_iter().flatten() {
        outln!("applied migration {}", m.as_str().unwrap_or_default())?;
    }
    Ok(exit::OK)
}
