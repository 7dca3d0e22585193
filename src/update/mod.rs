//! Releases and self-update: where releases come from and who signed them
//! ([`release`], [`signature`]), installing one with a pre-update backup
//! and automatic rollback ([`install`], judged by [`service`]), what is
//! left on disk for `--rollback` and the status page ([`state`]), and the
//! scheduled check inside `serve` ([`check`]).
//!
//! Where the binary lives (docs/architecture.md): a .deb install keeps
//! /usr/bin/blog-poster under dpkg, and self-update installs the next .deb
//! with dpkg; any other install keeps the binary where it is and swaps it
//! by a rename in its folder. Either way the swap runs as root — the CLI,
//! or the blog-poster-update oneshot unit the daemon hands a staged,
//! verified release to — never inside the sandboxed daemon.

pub mod check;
pub mod install;
pub mod release;
pub mod service;
pub mod signature;
pub mod state;

use crate::backup::BackupError;

/// The version of this binary.
pub fn current_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The release server could not be reached or answered badly: trying
    /// again later can help.
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    NotFound(String),
    /// Unsigned, tampered, signed by an unknown key, older, or otherwise
    /// not acceptable: nothing was changed.
    #[error("refused: {0}")]
    Refused(String),
    /// Already running the version asked for.
    #[error("{0}")]
    Current(String),
    #[error("{0}")]
    Install(String),
    #[error(
        "update to {} failed: {reason}; rolled back to {}{}",
        record.to,
        record.from,
        if *restored_backup { " and restored the pre-update backup" } else { "" }
    )]
    RolledBack {
        reason: String,
        restored_backup: bool,
        record: Box<state::LastUpdate>,
    },
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}
