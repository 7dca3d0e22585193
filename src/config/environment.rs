//! A snapshot of the process environment the config reads (secrets, XDG and
//! systemd directories), so tests pass their own instead of mutating the
//! real one. Never looks up the user database: that crashes static glibc.

use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
}

impl Environment {
    /// The real environment of this process.
    pub fn from_process() -> Self {
        Environment {
            vars: std::env::vars().collect(),
        }
    }

    /// An environment made of the given variables only (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn dir(&self, name: &str) -> Option<PathBuf> {
        self.get(name).filter(|v| !v.is_empty()).map(PathBuf::from)
    }

    /// systemd's `$CREDENTIALS_DIRECTORY` (LoadCredential=).
    pub fn credentials_dir(&self) -> Option<PathBuf> {
        self.dir("CREDENTIALS_DIRECTORY")
    }

    /// `$XDG_CONFIG_HOME/blog-poster`, else `$HOME/.config/blog-poster`.
    pub fn xdg_config_dir(&self) -> Option<PathBuf> {
        self.dir("XDG_CONFIG_HOME")
            .or_else(|| self.dir("HOME").map(|h| h.join(".config")))
            .map(|d| d.join("blog-poster"))
    }

    /// Where data lives when the config does not say: systemd's
    /// `$STATE_DIRECTORY` for the service, else `$XDG_DATA_HOME/blog-poster`,
    /// else `$HOME/.local/share/blog-poster`.
    pub fn default_data_dir(&self) -> Option<PathBuf> {
        if let Some(state) = self.get("STATE_DIRECTORY").filter(|v| !v.is_empty()) {
            // systemd passes a colon-separated list when several are configured.
            return state.split(':').next().map(PathBuf::from);
        }
        self.dir("XDG_DATA_HOME")
            .or_else(|| self.dir("HOME").map(|h| h.join(".local").join("share")))
            .map(|d| d.join("blog-poster"))
    }
}
