//! `blog-poster self-update`: look for a release, install one (root), go
//! back to the previous one. The work is in [`crate::update`].

use anyhow::anyhow;
use clap::Args;

use super::{CliError, exit};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::update::check::{StageRequest, request_path, staged_dir};
use crate::update::install::{Options, Updater, detect_layout, releases_dir};
use crate::update::release;
use crate::update::service::Service;
use crate::update::signature::TrustedKeys;
use crate::update::state::{Layout, Outcome};
use crate::update::{UpdateError, current_version};

#[derive(Debug, Args)]
pub struct SelfUpdateArgs {
    /// Say what is available and what changed; install nothing.
    #[arg(long)]
    pub check: bool,
    /// Install this version instead of the newest.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Allow a version older than the running one.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Go back to the version before the last update (and to its database
    /// if that update migrated it).
    #[arg(long, conflicts_with_all = ["check", "version", "staged"])]
    pub rollback: bool,
    /// PostgreSQL: you took a dump (needed when the new version migrates).
    #[arg(long)]
    pub postgres_backup_taken: bool,
    /// Install the release `serve` staged (`[update] mode = "install"`);
    /// what blog-poster-update.service runs.
    #[arg(long, conflicts_with_all = ["check", "version"])]
    pub staged: bool,
}

fn failure(e: UpdateError) -> CliError {
    CliError {
        code: exit::FAILURE,
        error: anyhow!(e),
    }
}

pub fn self_update(config: &Config, args: SelfUpdateArgs) -> Result<u8, CliError> {
    let keys = TrustedKeys::load(&config.update.trusted_keys).map_err(failure)?;
    if args.check {
        return check(config);
    }
    let exe =
        std::env::current_exe().map_err(|e| anyhow!("cannot tell where this binary is: {e}"))?;
    let layout = detect_layout(&exe);
    let with_deb = layout == Layout::Deb;
    let clock = SystemClock;
    let mut print = |line: &str| println!("{line}");
    let mut updater = Updater {
        config,
        keys: keys.clone(),
        service: Service {
            name: config.update.service.clone(),
        },
        layout: layout.clone(),
        clock: &clock,
        out: &mut print,
    };
    if args.rollback {
        let record = updater.roll_back_last().map_err(failure)?;
        println!(
            "back on {} ({})",
            record.from,
            record.message.unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    let verified = if args.staged {
        let request = request_path(&config.data_dir);
        let text = std::fs::read_to_string(&request).map_err(|e| {
            anyhow!(
                "no staged release ({}: {e}); serve stages one with [update] mode = \"install\"",
                request.display()
            )
        })?;
        // Take the request first, so the .path unit does not start us again.
        let _ = std::fs::remove_file(&request);
        let req: StageRequest = serde_json::from_str(&text)
            .map_err(|e| anyhow!("{} is not a stage request: {e}", request.display()))?;
        let dir = staged_dir(&config.data_dir).join(&req.version);
        // Written by the unprivileged daemon: trusted through signatures only.
        release::verify_dir(&dir, &req.version, &keys, with_deb).map_err(failure)?
    } else {
        let list = release::list(&config.update).map_err(failure)?;
        let info = release::pick(&list, args.version.as_deref()).map_err(failure)?;
        if info.version == current_version() {
            println!("blog-poster {} is installed and current", current_version());
            return Ok(exit::OK);
        }
        println!(
            "downloading {} from {}",
            info.version, config.update.api_url
        );
        let dir = releases_dir(config).join(&info.version);
        release::download_verified(info, &dir, &keys, with_deb).map_err(failure)?
    };
    println!(
        "verified {} (SHA256SUMS and every file's signature, by {})",
        verified.version, verified.signer
    );
    let opts = Options {
        allow_downgrade: args.allow_downgrade,
        postgres_backup_taken: args.postgres_backup_taken,
    };
    match updater.install(&verified, opts) {
        Ok(record) => {
            println!(
                "updated {} → {}: {}",
                record.from,
                record.to,
                record.message.unwrap_or_default()
            );
            Ok(exit::OK)
        }
        Err(UpdateError::Current(msg)) => {
            println!("{msg}");
            Ok(exit::OK)
        }
        Err(e @ UpdateError::RolledBack { .. }) => {
            if let UpdateError::RolledBack { record, .. } = &e
                && record.outcome == Outcome::RolledBack
            {
                eprintln!("{}", record.message.as_deref().unwrap_or(""));
            }
            Err(failure(e))
        }
        Err(e) => Err(failure(e)),
    }
}

/// `--check`: current, latest, and the notes of every release between.
fn check(config: &Config) -> Result<u8, CliError> {
    let list = release::list(&config.update).map_err(failure)?;
    let latest = release::pick(&list, None).map_err(failure)?;
    let current = current_version();
    println!("current: {current}");
    println!("latest:  {} ({})", latest.version, latest.date);
    let newer = release::between(&list, current, &latest.version);
    if newer.is_empty() {
        println!("up to date");
        return Ok(exit::OK);
    }
    println!("what changed:");
    for r in &newer {
        println!("\n## {} ({})", r.version, r.date);
        let notes = r.notes.as_deref().unwrap_or("(no release notes)");
        for line in notes.lines() {
            println!("  {line}");
        }
    }
    println!(
        "\ninstall it with: sudo blog-poster self-update{}",
        if newer.len() > 1 {
            "   (or --version X for another)"
        } else {
            ""
        }
    );
    Ok(exit::OK)
}
