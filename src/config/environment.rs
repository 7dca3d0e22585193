//! A snapshot of the process environment the config reads (secrets, per-user
//! and systemd directories), so tests pass their own instead of mutating the
//! real one. Never looks up the user database: that crashes static glibc.
//!
//! Directories, in order: systemd's (`$STATE_DIRECTORY`,
//! `$CONFIGURATION_DIRECTORY`, `$CREDENTIALS_DIRECTORY`) when the service
//! manager sets them; otherwise the per-user ones from `directories`'
//! `ProjectDirs` (`~/.config/blog-poster`, `~/.local/share/blog-poster`,
//! honouring `$XDG_CONFIG_HOME` and `$XDG_DATA_HOME`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
    project: Option<ProjectPaths>,
}

/// The per-user directories of blog-poster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPaths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

impl ProjectPaths {
    /// From `directories::ProjectDirs` for this process. Only asked when
    /// `$HOME` is set: without it `directories` falls back to `getpwuid_r`,
    /// which segfaults the static binary for a uid that NSS must look up
    /// (STACK.md §3); then only the `$XDG_*` variables count.
    fn of_process(vars: &HashMap<String, String>) -> Option<ProjectPaths> {
        let home = vars.get("HOME").filter(|h| Path::new(h).is_absolute());
        if home.is_none() {
            return ProjectPaths::by_xdg_rule(vars);
        }
        let dirs = directories::ProjectDirs::from("", "", "blog-poster")?;
        Some(ProjectPaths {
            config_dir: dirs.config_dir().to_path_buf(),
            data_dir: dirs.data_dir().to_path_buf(),
        })
    }

    /// The rule `ProjectDirs` applies on Linux (the XDG base directory
    /// spec: an absolute `$XDG_*_HOME`, else under `$HOME`), over a given
    /// set of variables: for environments that are not this process's
    /// (tests), and for a process without `$HOME`. tests/it/cli.rs checks
    /// that both agree.
    pub fn by_xdg_rule(vars: &HashMap<String, String>) -> Option<ProjectPaths> {
        let abs = |name: &str| {
            vars.get(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        let home = abs("HOME");
        let config = abs("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
        let data = abs("XDG_DATA_HOME").or_else(|| home.as_ref().map(|h| h.join(".local/share")));
        match (config, data) {
            (Some(c), Some(d)) => Some(ProjectPaths {
                config_dir: c.join("blog-poster"),
                data_dir: d.join("blog-poster"),
            }),
            (None, Some(d)) => Some(ProjectPaths {
                // No place for a per-user config: point at one that does not exist.
                config_dir: PathBuf::new(),
                data_dir: d.join("blog-poster"),
            }),
            _ => None,
        }
    }
}

impl Environment {
    /// The real environment of this process.
    pub fn from_process() -> Self {
        let vars: HashMap<String, String> = std::env::vars().collect();
        let project = ProjectPaths::of_process(&vars);
        Environment { vars, project }
    }

    /// An environment made of the given variables only (tests); the
    /// per-user directories follow [`ProjectPaths::by_xdg_rule`].
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let vars: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let project = ProjectPaths::by_xdg_rule(&vars);
        Environment { vars, project }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// The first entry of a systemd directory variable (systemd passes a
    /// colon-separated list when several are configured).
    fn systemd_dir(&self, name: &str) -> Option<PathBuf> {
        self.vars
            .get(name)
            .and_then(|v| v.split(':').next())
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// systemd's `$CREDENTIALS_DIRECTORY` (LoadCredential=).
    pub fn credentials_dir(&self) -> Option<PathBuf> {
        self.systemd_dir("CREDENTIALS_DIRECTORY")
    }

    /// systemd's `$CONFIGURATION_DIRECTORY` (ConfigurationDirectory=).
    pub fn systemd_config_dir(&self) -> Option<PathBuf> {
        self.systemd_dir("CONFIGURATION_DIRECTORY")
    }

    /// The per-user config folder (`ProjectDirs::config_dir`).
    pub fn xdg_config_dir(&self) -> Option<PathBuf> {
        self.project
            .as_ref()
            .map(|p| p.config_dir.clone())
            .filter(|d| !d.as_os_str().is_empty())
    }

    /// Where data lives when the config does not say: systemd's
    /// `$STATE_DIRECTORY` for the service, else `ProjectDirs::data_dir`.
    pub fn default_data_dir(&self) -> Option<PathBuf> {
        self.systemd_dir("STATE_DIRECTORY")
            .or_else(|| self.project.as_ref().map(|p| p.data_dir.clone()))
    }
}
