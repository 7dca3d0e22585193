//! The scheduled look for releases inside `serve` (`[update] mode`):
//! "notify" records what is available for the status page, the TUI and
//! /api/v1/status and raises an alert; "install" also downloads and
//! verifies the release into `<data_dir>/updates/staged/` and writes a
//! request file, which starts the privileged blog-poster-update unit (a
//! .path unit watches for it). The daemon itself never swaps its binary.
//! At start it also reports how the last update ended.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::watch;

use super::release::{self, ReleaseInfo};
use super::signature::TrustedKeys;
use super::state::{LastUpdate, Layout, Outcome, updates_dir};
use super::{UpdateError, current_version};
use crate::alerts::{Alert, Alerts};
use crate::clock::Clock;
use crate::config::{Config, UpdateMode};
use crate::domain::lifecycle::Timestamp;

/// What the status page, the TUI and /api/v1/status show.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UpdateStatus {
    pub mode: &'static str,
    pub current: String,
    pub latest: Option<String>,
    pub available: bool,
    pub checked_at: Option<Timestamp>,
    pub error: Option<String>,
    /// "install": the release handed to the update service.
    pub staged: Option<String>,
    pub last_update: Option<LastUpdateSummary>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastUpdateSummary {
    pub from: String,
    pub to: String,
    pub outcome: Outcome,
    pub message: Option<String>,
    pub finished_at: Option<Timestamp>,
}

pub type SharedStatus = Arc<Mutex<UpdateStatus>>;

impl UpdateStatus {
    pub fn initial(config: &Config) -> UpdateStatus {
        UpdateStatus {
            mode: config.update.mode.as_str(),
            current: current_version().to_string(),
            latest: None,
            available: false,
            checked_at: None,
            error: None,
            staged: None,
            last_update: LastUpdate::load(&config.data_dir).map(|r| LastUpdateSummary {
                from: r.from,
                to: r.to,
                outcome: r.outcome,
                message: r.message,
                finished_at: r.finished_at,
            }),
        }
    }
}

pub fn staged_dir(data_dir: &Path) -> PathBuf {
    updates_dir(data_dir).join("staged")
}

/// The file whose appearance starts blog-poster-update.service.
pub fn request_path(data_dir: &Path) -> PathBuf {
    staged_dir(data_dir).join("request.json")
}

#[derive(Debug, serde::Deserialize, Serialize)]
pub struct StageRequest {
    pub version: String,
}

/// One look: the newest release, and in "install" mode the staged copy.
fn check_once(
    config: &Config,
    keys: &TrustedKeys,
) -> Result<(ReleaseInfo, Option<String>), UpdateError> {
    let list = release::list(&config.update)?;
    let latest = release::pick(&list, None)?.clone();
    let newer =
        release::cmp_versions(&latest.version, current_version()) == std::cmp::Ordering::Greater;
    if !newer || config.update.mode != UpdateMode::Install {
        return Ok((latest, None));
    }
    let request = request_path(&config.data_dir);
    if let Ok(text) = std::fs::read_to_string(&request)
        && serde_json::from_str::<StageRequest>(&text).is_ok_and(|r| r.version == latest.version)
    {
        return Ok((latest.clone(), Some(latest.version)));
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/bin/blog-poster"));
    let with_deb = super::install::detect_layout(&exe) == Layout::Deb;
    let dir = staged_dir(&config.data_dir).join(&latest.version);
    release::download_verified(&latest, &dir, keys, with_deb)?;
    let body = serde_json::to_vec(&StageRequest {
        version: latest.version.clone(),
    })
    .map_err(|e| UpdateError::Install(e.to_string()))?;
    let tmp = staged_dir(&config.data_dir).join(".request.json.tmp");
    std::fs::write(&tmp, body).map_err(super::state::io(&tmp))?;
    std::fs::rename(&tmp, &request).map_err(super::state::io(&request))?;
    Ok((latest.clone(), Some(latest.version)))
}

/// Runs until `stop`: reports the last update's outcome, then (unless
/// mode is "off") looks every `check_interval`.
pub async fn run(
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    alerts: Alerts,
    status: SharedStatus,
    mut stop: watch::Receiver<bool>,
) {
    report_last_update(&config, &alerts);
    if config.update.mode == UpdateMode::Off {
        return;
    }
    let keys = match TrustedKeys::load(&config.update.trusted_keys) {
        Ok(k) => Arc::new(k),
        Err(e) => {
            set(&status, |s| s.error = Some(e.to_string()));
            return;
        }
    };
    let mut alerted_for: Option<String> = None;
    loop {
        let (cfg, k) = (config.clone(), keys.clone());
        let result = tokio::task::spawn_blocking(move || check_once(&cfg, &k))
            .await
            .unwrap_or_else(|e| Err(UpdateError::Install(format!("update check failed: {e}"))));
        let now = clock.now();
        match result {
            Ok((latest, staged)) => {
                let available = release::cmp_versions(&latest.version, current_version())
                    == std::cmp::Ordering::Greater;
                if available && alerted_for.as_deref() != Some(latest.version.as_str()) {
                    tracing::info!(current = current_version(), latest = %latest.version, "update available");
                    alerts.raise(Alert::UpdateAvailable {
                        current: current_version().to_string(),
                        latest: latest.version.clone(),
                        staged: staged.is_some(),
                    });
                    alerted_for = Some(latest.version.clone());
                }
                set(&status, |s| {
                    s.latest = Some(latest.version);
                    s.available = available;
                    s.checked_at = Some(now);
                    s.error = None;
                    s.staged = staged;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "update check failed");
                set(&status, |s| {
                    s.checked_at = Some(now);
                    s.error = Some(e.to_string());
                });
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.update.check_interval) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

fn set(status: &SharedStatus, f: impl FnOnce(&mut UpdateStatus)) {
    f(&mut status.lock().unwrap_or_else(|p| p.into_inner()));
}

/// An update that was rolled back gets one alert, from the version that
/// serves after it.
fn report_last_update(config: &Config, alerts: &Alerts) {
    let Some(mut record) = LastUpdate::load(&config.data_dir) else {
        return;
    };
    if record.alerted || record.outcome != Outcome::RolledBack {
        return;
    }
    alerts.raise(Alert::UpdateFailed {
        from: record.from.clone(),
        to: record.to.clone(),
        error: record.message.clone().unwrap_or_default(),
    });
    record.alerted = true;
    if let Err(e) = record.save(&config.data_dir) {
        tracing::warn!(error = %e, "cannot mark the update record as alerted");
    }
}
