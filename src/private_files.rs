//! Owner-only permissions for what blog-poster keeps on disk, whatever the
//! umask: folders 0700, files 0600. Under systemd `UMask=0077` and
//! `StateDirectory=` already do this; from a shell, cron or a container
//! with umask 000 (or 022) the database, backups, outbox and token files
//! would otherwise be readable by every user of the machine.
//!
//! Modes are set with `fchmod`/`chmod` after creation, which the umask does
//! not touch. SQLite creates its files 0644 itself, so the database file is
//! made here (0600) before SQLite opens it; its -wal and -shm files take
//! the database file's mode (SQLite's rule), and [`restrict`] narrows those
//! left by older versions.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Folders: the owner only.
pub const DIR_MODE: u32 = 0o700;
/// Files: the owner reads and writes.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents (0700). An existing folder keeps
/// its mode: it may be shared with something else (a backup mount).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    // DirBuilder's mode passes through the umask; 0700 & !umask can only be
    // narrower, but say it exactly.
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// [`create_dir_all`], and an existing `dir` narrowed to 0700 too: for the
/// data dir, which is ours alone.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    create_dir_all(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Creates (or truncates) `path` for writing, 0600; an existing file is
/// narrowed to 0600 as well.
pub fn create_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Opens (creating if needed) `path` for reading and writing without
/// truncating it, 0600: lock files, and database files before SQLite opens
/// them.
pub fn open_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Writes `bytes` to a new (or truncated) 0600 file.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = create_file(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Narrows an existing file to 0600; a missing one is fine.
pub fn restrict(path: &Path) -> io::Result<()> {
    match std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A SQLite database file and its side files, 0600 before SQLite opens
/// them (the side files that exist: older versions left them 0644).
pub fn prepare_sqlite(db: &Path) -> io::Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir_all(dir)?;
    }
    open_file(db)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        restrict(Path::new(&side))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn files_and_folders_are_owner_only_and_wider_ones_are_narrowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a/b/c");
        create_dir_all(&nested).expect("create");
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);

        let wide = dir.path().join("wide");
        std::fs::create_dir(&wide).expect("mkdir");
        std::fs::set_permissions(&wide, Permissions::from_mode(0o777)).expect("chmod");
        create_dir_all(&wide).expect("exists");
        assert_eq!(mode(&wide), 0o777, "an existing folder keeps its mode");
        private_dir(&wide).expect("private");
        assert_eq!(mode(&wide), 0o700);

        let f = dir.path().join("f");
        std::fs::write(&f, b"x").expect("write");
        std::fs::set_permissions(&f, Permissions::from_mode(0o666)).expect("chmod");
        write(&f, b"y").expect("write");
        assert_eq!(mode(&f), 0o600);
        assert_eq!(std::fs::read(&f).expect("read"), b"y");

        let db = dir.path().join("x.db");
        let wal = dir.path().join("x.db-wal");
        std::fs::write(&wal, b"").expect("write");
        std::fs::set_permissions(&wal, Permissions::from_mode(0o644)).expect("chmod");
        prepare_sqlite(&db).expect("prepare");
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        restrict(&dir.path().join("missing")).expect("a missing file is fine");
    }
}
