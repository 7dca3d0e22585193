//! Secrets named by the config and read only when a command uses them.
//!
//! Loading the config records where each secret comes from (a file, an
//! environment variable, a systemd credential) but reads nothing and fails
//! nothing: `db status`, `article list` or `token list` work without the
//! WordPress passwords and API keys, outside the unit's `LoadCredential=`
//! too. A command that does use a secret asks for it up front with
//! [`Secrets::require`]; what is missing is a config error naming the secret,
//! the command that needed it and how to provide it. [`Secret::expose`]
//! resolves on first use as well, so a path no command declared fails with
//! the same error instead of sending an empty credential.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use super::diagnostics::{ConfigError, ConfigIssue};

/// What a secret is for, so a command can ask for the ones it uses only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretUse {
    /// The Application Password of one site's WordPress publisher.
    Wordpress {
        site: String,
    },
    /// The API key of one LLM provider.
    Llm {
        provider: String,
    },
    AlertWebhook,
    AlertEmail,
    BackupS3,
}

impl SecretUse {
    fn describe(&self) -> String {
        match self {
            SecretUse::Wordpress { site } => format!("for the WordPress of site \"{site}\""),
            SecretUse::Llm { provider } => format!("to call the LLM provider \"{provider}\""),
            SecretUse::AlertWebhook => "to send alerts to the webhook".into(),
            SecretUse::AlertEmail => "to send alert email".into(),
            SecretUse::BackupS3 => "for the off-site backup copy ([backup.s3])".into(),
        }
    }
}

/// Checks and normalises a value once it is read (the webhook URL): the
/// error is a message and a fix, and must never contain the value.
pub type SecretCheck = fn(&str) -> Result<String, (String, String)>;

/// Where a secret's value comes from.
#[derive(Debug, Clone)]
pub(super) enum SecretSource {
    /// Known at load: written inline, or an environment variable that was set.
    Known { value: String, origin: String },
    /// `<name>_file`: read on first use.
    File { path: PathBuf },
    /// A systemd credential that may exist; else what follows.
    Credential {
        path: PathBuf,
        name: String,
        otherwise: Box<SecretSource>,
    },
    /// Nothing provides it: the issue says what would.
    Missing(ConfigIssue),
}

/// A secret from the environment, a file or a credential. It has no
/// `Display`, its `Debug` is redacted, and the only way to the value is
/// [`Secret::expose`], so it cannot slip into a log line or an error message
/// by accident; its value is registered with [`crate::redact`] as soon as it
/// is known, so a server echoing it back is masked too. Clones share one
/// resolution.
#[derive(Clone)]
pub struct Secret {
    inner: Arc<Inner>,
}

struct Inner {
    source: SecretSource,
    purpose: Option<SecretUse>,
    /// The config key that named the source, for errors found on reading.
    at: Option<ConfigIssue>,
    check: Option<SecretCheck>,
    /// The command this process runs, shared by every secret of one config.
    command: Arc<OnceLock<String>>,
    resolved: OnceLock<Result<(String, String), Box<ConfigIssue>>>,
}

/// A secret that cannot be read: the config issue (file, line, key, fix)
/// and the command that needed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SecretError {
    /// Boxed: this error travels inside the network clients' error enums.
    pub issue: Box<ConfigIssue>,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.issue.fmt(f)
    }
}

impl From<SecretError> for ConfigError {
    fn from(e: SecretError) -> Self {
        ConfigError::single(*e.issue)
    }
}

impl Secret {
    /// A secret whose value is already known (tests, inline values).
    pub fn new(value: String, origin: impl Into<String>) -> Self {
        Self::from_source(
            SecretSource::Known {
                value,
                origin: origin.into(),
            },
            None,
            None,
            None,
            Arc::default(),
        )
    }

    pub(super) fn from_source(
        source: SecretSource,
        purpose: Option<SecretUse>,
        at: Option<ConfigIssue>,
        check: Option<SecretCheck>,
        command: Arc<OnceLock<String>>,
    ) -> Self {
        // A value known at load (inline, or an environment variable) is
        // registered with the redaction point at once; one read from a file
        // when it is first resolved.
        if let SecretSource::Known { value, .. } = &source {
            crate::redact::register(value);
        }
        Secret {
            inner: Arc::new(Inner {
                source,
                purpose,
                at,
                check,
                command,
                resolved: OnceLock::new(),
            }),
        }
    }

    /// The secret itself, read on first use: only for the request that
    /// needs it. The error names the secret, the command and the fix.
    pub fn expose(&self) -> Result<&str, SecretError> {
        self.expose_for(self.inner.command.get().map(String::as_str))
    }

    fn expose_for(&self, command: Option<&str>) -> Result<&str, SecretError> {
        match self.resolve() {
            Ok((value, _)) => Ok(value),
            Err(issue) => Err(SecretError {
                issue: Box::new(self.with_command((**issue).clone(), command)),
            }),
        }
    }

    /// Where it comes from ("env BLOG_WP_PASSWORD", "file /run/…",
    /// "credential blog-wp-app-password"), safe to show. Reads nothing.
    pub fn origin(&self) -> String {
        if let Some(Ok((_, origin))) = self.inner.resolved.get() {
            return origin.clone();
        }
        describe_source(&self.inner.source)
    }

    /// What the secret is for, when the config said.
    pub fn purpose(&self) -> Option<&SecretUse> {
        self.inner.purpose.as_ref()
    }

    fn resolve(&self) -> &Result<(String, String), Box<ConfigIssue>> {
        self.inner.resolved.get_or_init(|| {
            let (value, origin) = read_source(&self.inner.source, self.inner.at.as_ref())?;
            // From the moment it is in memory, it is masked wherever it shows.
            crate::redact::register(&value);
            match self.inner.check {
                None => Ok((value, origin)),
                Some(check) => match check(&value) {
                    Ok(v) => {
                        crate::redact::register(&v);
                        Ok((v, origin))
                    }
                    Err((message, fix)) => Err(Box::new(self.issue_at(message, fix))),
                },
            }
        })
    }

    /// An issue at the key that named the source.
    fn issue_at(&self, message: String, fix: String) -> ConfigIssue {
        let mut issue = self.inner.at.clone().unwrap_or(ConfigIssue {
            file: String::new(),
            line: None,
            key: None,
            table: None,
            message: String::new(),
            fix: None,
        });
        issue.message = format!("{}{message}", issue.message);
        issue.fix = Some(fix);
        issue
    }

    /// Adds who needed it: "…; `blog-poster article publish` needs it for
    /// the WordPress of site "blog"".
    fn with_command(&self, mut issue: ConfigIssue, command: Option<&str>) -> ConfigIssue {
        let command = command.map_or_else(
            || "this command".to_string(),
            |c| format!("`blog-poster {c}`"),
        );
        let purpose = self
            .inner
            .purpose
            .as_ref()
            .map_or_else(String::new, |p| format!(" {}", p.describe()));
        issue.message = format!("{}; {command} needs it{purpose}", issue.message);
        issue
    }
}

fn describe_source(source: &SecretSource) -> String {
    match source {
        SecretSource::Known { origin, .. } => origin.clone(),
        SecretSource::File { path } => format!("file {}", path.display()),
        SecretSource::Credential { name, .. } => format!("credential {name}"),
        SecretSource::Missing(_) => "nowhere (not set)".into(),
    }
}

fn read_source(
    source: &SecretSource,
    at: Option<&ConfigIssue>,
) -> Result<(String, String), Box<ConfigIssue>> {
    let at_key = |message: String, fix: &str| {
        let mut issue = at.cloned().unwrap_or(ConfigIssue {
            file: String::new(),
            line: None,
            key: None,
            table: None,
            message: String::new(),
            fix: None,
        });
        issue.message = format!("{}{message}", issue.message);
        issue.fix = Some(fix.to_string());
        Box::new(issue)
    };
    match source {
        SecretSource::Known { value, origin } => Ok((value.clone(), origin.clone())),
        SecretSource::File { path } => match std::fs::read_to_string(path) {
            Ok(s) if !s.trim().is_empty() => Ok((
                s.trim_end_matches(['\n', '\r']).to_string(),
                format!("file {}", path.display()),
            )),
            Ok(_) => Err(at_key(
                format!("secret file {} is empty", path.display()),
                "write the secret into it",
            )),
            Err(e) => Err(at_key(
                format!("cannot read secret file {}: {e}", path.display()),
                "check the path and that the user running blog-poster may read it",
            )),
        },
        SecretSource::Credential {
            path,
            name,
            otherwise,
        } => match std::fs::read_to_string(path) {
            Ok(s) => Ok((
                s.trim_end_matches(['\n', '\r']).to_string(),
                format!("credential {name}"),
            )),
            Err(_) => read_source(otherwise, at),
        },
        SecretSource::Missing(issue) => Err(Box::new(issue.clone())),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted] from {})", self.origin())
    }
}

/// Every secret of one config and the command this process runs.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    command: Arc<OnceLock<String>>,
    all: Vec<Secret>,
}

impl Secrets {
    /// The label every secret of this config shares.
    pub(super) fn command_cell(&self) -> Arc<OnceLock<String>> {
        self.command.clone()
    }

    pub(super) fn add(&mut self, secret: &Secret) {
        self.all.push(secret.clone());
    }

    /// Names the command for errors of secrets read on first use ("article
    /// approve"). The first name given sticks.
    pub fn set_command(&self, command: &str) {
        let _ = self.command.set(command.to_string());
    }

    /// Reads the secrets `command` uses (those `wanted` picks by purpose) and
    /// reports every one that cannot be read, naming the command.
    pub fn require(
        &self,
        command: &str,
        wanted: impl Fn(&SecretUse) -> bool,
    ) -> Result<(), ConfigError> {
        self.set_command(command);
        let mut issues: Vec<ConfigIssue> = self
            .all
            .iter()
            .filter(|s| s.purpose().is_some_and(&wanted))
            .filter_map(|s| s.expose_for(Some(command)).err().map(|e| *e.issue))
            .collect();
        if issues.is_empty() {
            return Ok(());
        }
        issues.sort_by_key(|i| i.line);
        issues.dedup();
        Err(ConfigError { issues })
    }

    /// Every secret of the config (for a redaction list, say).
    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        self.all.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(message: &str) -> ConfigIssue {
        ConfigIssue {
            file: "config.toml".into(),
            line: Some(7),
            key: Some("app_password_env".into()),
            table: Some("sites.blog.wordpress".into()),
            message: message.into(),
            fix: Some("export X=…".into()),
        }
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2".into(), "env PW");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("env PW"));
    }

    #[test]
    fn a_missing_secret_fails_only_when_used_and_names_the_command() {
        let mut secrets = Secrets::default();
        let s = Secret::from_source(
            SecretSource::Missing(issue("key \"app_password_env\": X is not set")),
            Some(SecretUse::Wordpress {
                site: "blog".into(),
            }),
            None,
            None,
            secrets.command_cell(),
        );
        secrets.add(&s);
        // A command that wants no WordPress secret is fine.
        secrets
            .require("db status", |u| matches!(u, SecretUse::BackupS3))
            .expect("nothing wanted");
        let err = secrets
            .require("article publish", |u| {
                matches!(u, SecretUse::Wordpress { .. })
            })
            .expect_err("missing");
        let shown = err.to_string();
        assert!(
            shown.starts_with("config.toml:7: key \"app_password_env\": X is not set; `blog-poster article publish` needs it for the WordPress of site \"blog\""),
            "{shown}"
        );
        // Read on first use elsewhere, it names the process's command.
        let shown = s.expose().expect_err("missing").to_string();
        assert!(
            shown.contains("`blog-poster db status` needs it"),
            "{shown}"
        );
        assert!(shown.ends_with("(export X=…)"), "{shown}");
    }

    #[test]
    fn a_secret_file_is_read_on_first_use_not_at_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        let s = Secret::from_source(
            SecretSource::File { path: path.clone() },
            None,
            Some(issue("key \"app_password_file\": ")),
            None,
            Arc::default(),
        );
        // Written after the config was loaded: still found.
        std::fs::write(&path, "from-file\n").expect("write");
        assert_eq!(s.expose().expect("readable"), "from-file");
        assert_eq!(s.origin(), format!("file {}", path.display()));
    }

    #[test]
    fn a_check_failure_names_the_key_and_never_the_value() {
        let s = Secret::from_source(
            SecretSource::Known {
                value: "ftp://secret-token@hooks".into(),
                origin: "env HOOK".into(),
            },
            Some(SecretUse::AlertWebhook),
            Some(issue("key \"webhook_url_env\": ")),
            Some(|v| {
                if v.starts_with("https://") {
                    Ok(v.to_string())
                } else {
                    Err(("not an https URL".into(), "use https".into()))
                }
            }),
            Arc::default(),
        );
        let shown = s.expose().expect_err("bad").to_string();
        assert!(shown.contains("not an https URL"), "{shown}");
        assert!(shown.contains("this command needs it"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
    }
}
