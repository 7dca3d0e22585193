//! The validated `[update]` table: whether `serve` looks for new releases
//! and what it does about them, where releases come from, and how an
//! installed update is judged healthy. Parsed in `validate_update.rs`; used
//! by [`crate::update`].

use std::path::PathBuf;
use std::time::Duration;

/// What `serve` does about new releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Never looks (the default): updates are `blog-poster self-update`.
    Off,
    /// Looks every `check_interval` and says so: status page, TUI,
    /// /api/v1/status, an alert.
    Notify,
    /// Also downloads and verifies the release and hands it to the
    /// privileged blog-poster-update service, which installs it.
    Install,
}

impl UpdateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateMode::Off => "off",
            UpdateMode::Notify => "notify",
            UpdateMode::Install => "install",
        }
    }
}

#[derive(Debug, Clone)]
pub struct UpdateConfig {
    pub mode: UpdateMode,
    pub check_interval: Duration,
    /// "owner/name" on GitHub (or the mirror at `api_url`).
    pub repo_owner: String,
    pub repo_name: String,
    /// The GitHub API's base URL, without a trailing slash.
    pub api_url: String,
    pub ready_timeout: Duration,
    pub stable_for: Duration,
    /// The systemd unit that runs `serve`.
    pub service: String,
    /// PEM files of ed25519 public keys trusted besides the built-in one.
    pub trusted_keys: Vec<PathBuf>,
}

pub const DEFAULT_REPOSITORY: &str = "blog-poster/blog-poster";
pub const DEFAULT_API_URL: &str = "https://api.github.com";

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            mode: UpdateMode::Off,
            check_interval: Duration::from_secs(12 * 3600),
            repo_owner: "blog-poster".into(),
            repo_name: "blog-poster".into(),
            api_url: DEFAULT_API_URL.into(),
            ready_timeout: Duration::from_secs(90),
            stable_for: Duration::from_secs(15),
            service: "blog-poster".into(),
            trusted_keys: vec![],
        }
    }
}
