//! What self-update leaves on disk under `<data_dir>/updates/`: the record
//! of the last update (`last-update.json`, which `--rollback` and the
//! daemon's status read), the previous .deb, and the staged release the
//! daemon hands to the privileged update service. Files root writes there
//! are given to the owner of the data folder, so the service can read them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::UpdateError;
use crate::backup::BackupRecord;
use crate::domain::lifecycle::Timestamp;

/// How the binary was installed, which decides how it is swapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Layout {
    /// /usr/bin/blog-poster belongs to the blog-poster package: the new
    /// .deb is installed with dpkg, the previous .deb is kept.
    Deb,
    /// A binary no package owns (tarball install, by hand): the new one is
    /// renamed over it in the same folder, the old one kept beside it as
    /// `blog-poster.previous`.
    Binary { exe: PathBuf },
}

/// The outcome of the last update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Swapped; health not judged yet (or this process died meanwhile).
    Installing,
    Installed,
    RolledBack,
    /// `--rollback` by the operator.
    ReturnedToPrevious,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastUpdate {
    pub from: String,
    pub to: String,
    pub layout: Layout,
    /// SQLite's pre-update backup.
    pub backup: Option<BackupRecord>,
    /// Highest migration applied before the update.
    pub schema_before: Option<u32>,
    pub started_at: Timestamp,
    pub outcome: Outcome,
    pub message: Option<String>,
    pub finished_at: Option<Timestamp>,
    /// The daemon raised an alert for this outcome already.
    #[serde(default)]
    pub alerted: bool,
}

pub fn updates_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("updates")
}

fn record_path(data_dir: &Path) -> PathBuf {
    updates_dir(data_dir).join("last-update.json")
}

impl LastUpdate {
    pub fn load(data_dir: &Path) -> Option<LastUpdate> {
        let text = std::fs::read_to_string(record_path(data_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the record atomically (a temporary file, then a rename).
    pub fn save(&self, data_dir: &Path) -> Result<(), UpdateError> {
        let path = record_path(data_dir);
        let dir = updates_dir(data_dir);
        mkdir(&dir)?;
        let tmp = dir.join(".last-update.json.tmp");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| UpdateError::Install(format!("cannot encode the update record: {e}")))?;
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        give_to_owner(data_dir, &path);
        Ok(())
    }
}

pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
    move |source| UpdateError::Io {
        what: format!("cannot write {}", path.display()),
        source,
    }
}

pub fn mkdir(dir: &Path) -> Result<(), UpdateError> {
    std::fs::create_dir_all(dir).map_err(|source| UpdateError::Io {
        what: format!("cannot create {}", dir.display()),
        source,
    })
}

/// Gives `path` (and what is below it) to the owner of `data_dir`: root
/// runs self-update, the service user must still read and prune what it
/// wrote. The ids come from the folder itself, never from the user database
/// (an NSS lookup can crash a static binary). Not root: nothing to do.
pub fn give_to_owner(data_dir: &Path, path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(data_dir) else {
        return;
    };
    let (uid, gid) = (meta.uid(), meta.gid());
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).is_err() {
            continue;
        }
        if p.is_dir()
            && let Ok(entries) = std::fs::read_dir(&p)
        {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
}
