//! `blog-poster token create|list|revoke`: the API's bearer tokens. A token
//! is shown once, at creation; only its sha256 is stored.

use std::path::Path;

use anyhow::anyhow;
use clap::Subcommand;

use super::{CliError, exit, load_config, usage};
use crate::clock::{Clock, SystemClock};
use crate::config::Environment;
use crate::outln;
use crate::store::{NewApiToken, StoreError, TokenRole};
use crate::web::auth;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: only its hash is kept).
    Create {
        /// admin (reads and writes) or viewer (reads only).
        #[arg(long, value_parser = parse_role)]
        role: TokenRole,
        /// A name for the token: who or what uses it ("tui", "prometheus").
        name: String,
        /// Write the token to this new file (owner-only, 0600, whatever the
        /// umask) instead of printing it: for `[tui] token_file`.
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
    },
    /// List tokens: name, role, created, last used, revoked.
    List,
    /// Revoke a token by name; it stops working at once.
    Revoke { name: String },
}

impl TokenCommand {
    pub fn name(&self) -> &'static str {
        match self {
            TokenCommand::Create { .. } => "create",
            TokenCommand::List => "list",
            TokenCommand::Revoke { .. } => "revoke",
        }
    }
}

/// Writes a new token file, 0600 whatever the umask; an existing file is
/// refused rather than replaced (it may hold a token still in use).
fn write_token_file(path: &Path, token: &str) -> Result<(), CliError> {
    if path.exists() {
        return Err(usage(anyhow!(
            "{} already exists; remove it first (and revoke the token it holds), or pick another path",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_files::create_dir_all(dir)
            .map_err(|e| anyhow!("cannot create the folder {}: {e}", dir.display()))?;
    }
    crate::private_files::write(path, format!("{token}\n").as_bytes())
        .map_err(|e| anyhow!("cannot write the token file {}: {e}", path.display()))?;
    Ok(())
}

fn parse_role(s: &str) -> Result<TokenRole, String> {
    TokenRole::parse(s).ok_or_else(|| format!("unknown role \"{s}\" (use admin or viewer)"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

pub fn token(
    explicit: Option<&Path>,
    cmd: TokenCommand,
    env: &Environment,
    label: &str,
) -> Result<u8, CliError> {
    let (config, _) = load_config(explicit, env, label)?;
    let store = super::publishing::open_store(&config)?;
    let now = SystemClock.now();
    match cmd {
        TokenCommand::Create { role, name, file } => {
            if !valid_name(&name) {
                return Err(usage(anyhow!(
                    "token name \"{name}\" is not allowed: use 1-64 letters, digits, '-', '_', '.' or '@'"
                )));
            }
            let secret = auth::generate_token()?;
            // The file first: if it cannot be written, no token exists.
            if let Some(path) = &file {
                write_token_file(path, &secret)?;
            }
            let created = store
                .create_api_token(
                    &NewApiToken {
                        name: name.clone(),
                        role,
                        token_hash: auth::hash_token(&secret),
                    },
                    now,
                )
                .map_err(|e| match e {
                    StoreError::Conflict(m) => usage(anyhow!(m)),
                    e => e.into(),
                });
            let record = match created {
                Ok(r) => r,
                Err(e) => {
                    if let Some(path) = &file {
                        let _ = std::fs::remove_file(path);
                    }
                    return Err(e);
                }
            };
            if let Some(path) = &file {
                crate::errln!(
                    "Created {} token \"{}\" and wrote it to {} (owner-only); point [tui] token_file at it.",
                    record.role.as_str(),
                    record.name,
                    path.display()
                );
                return Ok(exit::OK);
            }
            crate::errln!(
                "Created {} token \"{}\". It is shown only now; keep it somewhere safe:",
                record.role.as_str(),
                record.name
            );
            outln!("{secret}")?;
            Ok(exit::OK)
        }
        TokenCommand::List => {
            let tokens = store.list_api_tokens()?;
            if tokens.is_empty() {
                outln!("No API tokens. Create one: blog-poster token create --role admin NAME")?;
                return Ok(exit::OK);
            }
            outln!(
                "{:<24} {:<7} {:<17} {:<17} REVOKED",
                "NAME",
                "ROLE",
                "CREATED",
                "LAST USED"
            )?;
            let fmt = |t: Option<crate::domain::lifecycle::Timestamp>| {
                t.map_or_else(
                    || "-".to_string(),
                    |t| t.format("%Y-%m-%d %H:%M").to_string(),
                )
            };
            for t in tokens {
                outln!(
                    "{:<24} {:<7} {:<17} {:<17} {}",
                    t.name,
                    t.role.as_str(),
                    fmt(Some(t.created_at)),
                    fmt(t.last_used_at),
                    fmt(t.revoked_at)
                )?;
            }
            Ok(exit::OK)
        }
        TokenCommand::Revoke { name } => {
            match store.revoke_api_token(&name, "cli", now) {
                Ok(()) => {}
                Err(StoreError::NotFound { .. }) => {
                    return Err(usage(anyhow!(
                        "there is no token named \"{name}\" (see `blog-poster token list`)"
                    )));
                }
                Err(e) => return Err(e.into()),
            }
            outln!("Revoked token \"{name}\".")?;
            Ok(exit::OK)
        }
    }
}
