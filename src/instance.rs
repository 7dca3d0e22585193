//! One daemon per SQLite database: an exclusive lock on `<db>.lock`, held
//! for the life of the process (the kernel drops it when the process dies,
//! even by SIGKILL). A second `serve` or `run --once` on the same database is
//! refused with the holder's pid.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error(
        "another blog-poster (pid {pid}) is already using the database {db}: stop it first \
         (systemctl stop blog-poster), or ask the running daemon through its API"
    )]
    Held { pid: String, db: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl InstanceLock {
    /// Takes the lock for the database at `db`, or says who holds it.
    pub fn acquire(db: &Path) -> Result<InstanceLock, InstanceError> {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let io = |source| InstanceError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = crate::private_files::open_file(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = if pid.trim().is_empty() {
                    "unknown".to_string()
                } else {
                    pid.trim().to_string()
                };
                return Err(InstanceError::Held {
                    pid,
                    db: db.display().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(InstanceLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_database_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("x.db");
        let first = InstanceLock::acquire(&db).expect("first");
        let err = InstanceLock::acquire(&db).expect_err("second");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        InstanceLock::acquire(&db).expect("free again after drop");
    }
}
