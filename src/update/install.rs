//! Installing a verified release, judging it, and taking it back.
//!
//! Order, so that no committed row is lost and the way back always exists:
//! inspect the new binary (its version and schema) → make sure the
//! previous release can be put back → stop the service → back up the
//! SQLite database (nothing writes it now) → swap (dpkg, or an atomic
//! rename in the binary's folder) → start → wait for `/readyz` to report
//! the new version and stay ready. If it does not: stop, put the previous
//! binary back, restore the backup if the new version migrated the
//! database, start, and check the previous version is serving again.

use std::path::{Path, PathBuf};

use super::release::{self, Verified};
use super::service::Service;
use super::signature::TrustedKeys;
use super::state::{LastUpdate, Layout, Outcome, give_to_owner, mkdir, updates_dir};
use super::{UpdateError, current_version};
use crate::backup::archive::TempFile;
use crate::backup::{BackupKind, BackupRecord, Backups};
use crate::clock::Clock;
use crate::config::{Config, DatabaseBackend, UpdateConfig};

/// What the running binary needs to update itself.
pub struct Updater<'a> {
    pub config: &'a Config,
    pub keys: TrustedKeys,
    pub service: Service,
    pub layout: Layout,
    pub clock: &'a dyn Clock,
    /// Progress lines (stdout for the CLI, the journal for the unit).
    pub out: &'a mut dyn FnMut(&str),
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    pub allow_downgrade: bool,
    /// PostgreSQL: the operator took a dump (the new version migrates).
    pub postgres_backup_taken: bool,
}

/// How blog-poster at `exe` was installed: dpkg owns it, or nobody does.
pub fn detect_layout(exe: &Path) -> Layout {
    let owned = std::process::Command::new("dpkg-query")
        .arg("-S")
        .arg(exe)
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("blog-poster:")
        });
    if owned {
        Layout::Deb
    } else {
        Layout::Binary {
            exe: exe.to_path_buf(),
        }
    }
}

/// What a binary says about itself (`blog-poster version --json`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BinaryFacts {
    pub version: String,
    /// The highest migration it knows.
    pub schema: u32,
}

pub fn inspect_binary(path: &Path) -> Result<BinaryFacts, UpdateError> {
    let out = std::process::Command::new(path)
        .args(["version", "--json"])
        .output()
        .map_err(|e| {
            UpdateError::Refused(format!("cannot run the new binary {}: {e}", path.display()))
        })?;
    if !out.status.success() {
        return Err(UpdateError::Refused(format!(
            "the new binary {} does not run here ({}): {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        UpdateError::Refused(format!(
            "the new binary's `version --json` is not understood ({e}): refusing it"
        ))
    })
}

/// The highest migration applied to the configured database (None: no
/// database yet). Read directly, so it works whichever binary migrated it.
pub fn db_schema(config: &Config) -> Result<Option<u32>, UpdateError> {
    match &config.database.backend {
        DatabaseBackend::Sqlite { path } => {
            if !path.exists() {
                return Ok(None);
            }
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .map_err(|e| UpdateError::Install(format!("cannot open {}: {e}", path.display())))?;
            conn.busy_timeout(config.database.busy_timeout)
                .map_err(|e| UpdateError::Install(e.to_string()))?;
            let v: Option<u32> = conn
                .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                    r.get(0)
                })
                .unwrap_or(None);
            Ok(Some(v.unwrap_or(0)))
        }
        DatabaseBackend::Postgres { .. } => {
            let store = crate::store::open::open_database(config)
                .map_err(|e| UpdateError::Install(format!("cannot open the database: {e}")))?;
            let st = store
                .schema_status()
                .map_err(|e| UpdateError::Install(format!("cannot read the schema: {e}")))?;
            Ok(Some(st.applied.last().map_or(0, |m| m.version)))
        }
    }
}

/// Where verified releases are kept: the previous one is the way back.
pub fn releases_dir(config: &Config) -> PathBuf {
    updates_dir(&config.data_dir).join("releases")
}

impl Updater<'_> {
    fn say(&mut self, line: &str) {
        (self.out)(line);
    }

    fn with_deb(&self) -> bool {
        self.layout == Layout::Deb
    }

    /// The verified release of the running version, for a .deb rollback:
    /// kept by install.sh or the last update, else downloaded now.
    fn previous_release(&mut self) -> Result<Verified, UpdateError> {
        let current = current_version();
        let dir = releases_dir(self.config).join(current);
        if let Ok(v) = release::verify_dir(&dir, current, &self.keys, true) {
            return Ok(v);
        }
        self.say(&format!(
            "fetching release {current} (the running version) to keep the way back"
        ));
        let list = release::list(&self.config.update)?;
        let info = release::pick(&list, Some(current)).map_err(|_| {
            UpdateError::Refused(format!(
                "the running version {current} is not on the release server and not in {}: \
                 without its .deb there is no way back, so nothing was installed",
                dir.display()
            ))
        })?;
        release::download_verified(info, &dir, &self.keys, true)
    }

    /// Installs `new` and judges it; on failure puts the previous version
    /// back and returns [`UpdateError::RolledBack`].
    pub fn install(&mut self, new: &Verified, opts: Options) -> Result<LastUpdate, UpdateError> {
        let current = current_version().to_string();
        let target = new.version.clone();
        match release::cmp_versions(&target, &current) {
            std::cmp::Ordering::Equal => {
                return Err(UpdateError::Current(format!(
                    "{current} is already installed"
                )));
            }
            std::cmp::Ordering::Less if !opts.allow_downgrade => {
                return Err(UpdateError::Refused(format!(
                    "{target} is older than the running {current}: pass --allow-downgrade to install it"
                )));
            }
            _ => {}
        }
        let new_bin = new.dir.join("blog-poster.bin");
        new.extract_binary(&new_bin)?;
        let facts = inspect_binary(&new_bin)?;
        if facts.version != target {
            return Err(UpdateError::Refused(format!(
                "the binary in release {target} says it is {}: refusing it",
                facts.version
            )));
        }
        let schema_before = db_schema(self.config)?;
        let migrates = schema_before.is_some_and(|s| facts.schema > s);
        if migrates
            && matches!(
                self.config.database.backend,
                DatabaseBackend::Postgres { .. }
            )
            && !opts.postgres_backup_taken
        {
            return Err(UpdateError::Refused(format!(
                "{target} migrates the PostgreSQL schema (to version {}); blog-poster cannot back \
                 PostgreSQL up itself. Take a dump first (pg_dump -Fc -f blog-poster-{current}.dump \
                 \"$DATABASE_URL\"), then run self-update again with --postgres-backup-taken",
                facts.schema
            )));
        }
        if self.with_deb() {
            self.previous_release()?;
        }
        let active = self.service.is_active();
        if active {
            self.say(&format!("stopping {}", self.service.name));
            self.service.stop()?;
        }
        let backup = self.pre_update_backup()?;
        let mut record = LastUpdate {
            from: current.clone(),
            to: target.clone(),
            layout: self.layout.clone(),
            backup,
            schema_before,
            started_at: self.clock.now(),
            outcome: Outcome::Installing,
            message: None,
            finished_at: None,
            alerted: false,
        };
        record.save(&self.config.data_dir)?;
        if let Err(e) = self.swap_in(new, &new_bin) {
            self.say(&format!("installing {target} failed: {e}"));
            if matches!(self.layout, Layout::Binary { .. }) {
                // The rename is the swap's last step: nothing was replaced.
                if active && let Err(s) = self.service.start() {
                    self.say(&format!("starting {} again failed: {s}", self.service.name));
                }
                record.outcome = Outcome::RolledBack;
                record.message = Some(format!("not installed: {e}"));
                record.finished_at = Some(self.clock.now());
                let _ = record.save(&self.config.data_dir);
                return Err(e);
            }
            return Err(self.roll_back(record, e.to_string(), active));
        }
        self.keep_release(new);
        if !active {
            record.outcome = Outcome::Installed;
            record.message = Some(format!(
                "{} was not running: start it to use {target}",
                self.service.name
            ));
            record.finished_at = Some(self.clock.now());
            record.save(&self.config.data_dir)?;
            return Ok(record);
        }
        self.say(&format!("starting {} on {target}", self.service.name));
        let health = self.start_and_judge(&target);
        match health {
            Ok(took) => {
                record.outcome = Outcome::Installed;
                record.message = Some(format!(
                    "{target} ready after {:.1}s and stayed ready for {}s",
                    took.as_secs_f64(),
                    self.config.update.stable_for.as_secs()
                ));
                record.finished_at = Some(self.clock.now());
                record.save(&self.config.data_dir)?;
                Ok(record)
            }
            Err(reason) => Err(self.roll_back(record, reason, true)),
        }
    }

    fn start_and_judge(&mut self, version: &str) -> Result<std::time::Duration, String> {
        if let Err(e) = self.service.start() {
            // A unit whose binary exits at once fails to start; systemd may
            // still retry it. The health check decides.
            self.say(&format!("start reported: {e}"));
        }
        let u: &UpdateConfig = &self.config.update;
        self.service.wait_healthy(
            readyz_addr(self.config),
            version,
            u.ready_timeout,
            u.stable_for,
        )
    }

    /// The operator's `--rollback`: back to the version before the last update.
    pub fn roll_back_last(&mut self) -> Result<LastUpdate, UpdateError> {
        let record = LastUpdate::load(&self.config.data_dir).ok_or_else(|| {
            UpdateError::NotFound(format!(
                "no update recorded in {}: nothing to roll back",
                updates_dir(&self.config.data_dir).display()
            ))
        })?;
        if record.outcome != Outcome::Installed || record.to != current_version() {
            return Err(UpdateError::Refused(format!(
                "the last update ({} → {}) ended {:?}; this binary is {}: nothing to roll back",
                record.from,
                record.to,
                record.outcome,
                current_version()
            )));
        }
        let active = self.service.is_active();
        match self.roll_back(record, "asked for by the operator".into(), active) {
            UpdateError::RolledBack { record, .. } => Ok(*record),
            e => Err(e),
        }
    }

    /// Puts the previous version back (and its database if the failed one
    /// migrated it); returns the error to report.
    fn roll_back(&mut self, mut record: LastUpdate, reason: String, active: bool) -> UpdateError {
        let manual = reason == "asked for by the operator";
        self.say(&format!("rolling back to {}: {reason}", record.from));
        let mut notes = vec![reason.clone()];
        if (active || self.service.is_active())
            && let Err(e) = self.service.stop()
        {
            notes.push(format!("stop failed: {e}"));
        }
        if let Err(e) = self.swap_back(&record) {
            notes.push(format!("putting {} back failed: {e}", record.from));
            record.outcome = Outcome::RolledBack;
            record.message = Some(notes.join("; "));
            let _ = record.save(&self.config.data_dir);
            return UpdateError::Install(format!(
                "update to {} failed and so did the rollback: {}",
                record.to,
                notes.join("; ")
            ));
        }
        let mut restored = false;
        match self.restore_if_migrated(&record) {
            Ok(r) => restored = r,
            Err(e) => notes.push(format!("restoring the pre-update backup failed: {e}")),
        }
        if active {
            match self.start_and_judge(&record.from) {
                Ok(_) => notes.push(format!("{} is serving again", record.from)),
                Err(e) => notes.push(format!("{} did not come back: {e}", record.from)),
            }
        }
        record.outcome = if manual {
            Outcome::ReturnedToPrevious
        } else {
            Outcome::RolledBack
        };
        record.message = Some(notes.join("; "));
        record.finished_at = Some(self.clock.now());
        let _ = record.save(&self.config.data_dir);
        UpdateError::RolledBack {
            reason,
            restored_backup: restored,
            record: Box::new(record),
        }
    }

    fn pre_update_backup(&mut self) -> Result<Option<BackupRecord>, UpdateError> {
        let Ok(backups) = Backups::from_config(self.config) else {
            self.say("PostgreSQL: no pre-update backup is taken (see docs/operations.md#upgrade)");
            return Ok(None);
        };
        if !backups.db_path.exists() {
            return Ok(None);
        }
        let record = backups
            .create(BackupKind::PreUpdate, self.clock.now())
            .map_err(UpdateError::Backup)?;
        // The folder too: root may have created it just now.
        give_to_owner(&self.config.data_dir, backups.dir());
        self.say(&format!(
            "pre-update backup {} ({}, {} rows)",
            record.id,
            record.file_name,
            record.total_rows()
        ));
        Ok(Some(record))
    }

    fn swap_in(&mut self, new: &Verified, new_bin: &Path) -> Result<(), UpdateError> {
        match self.layout.clone() {
            Layout::Deb => {
                let deb = new.deb.as_ref().ok_or_else(|| {
                    UpdateError::Install("the release was fetched without its .deb".into())
                })?;
                self.say(&format!("dpkg -i {}", deb.display()));
                dpkg_install(deb)
            }
            Layout::Binary { exe } => {
                self.say(&format!(
                    "replacing {} (previous kept as blog-poster.previous)",
                    exe.display()
                ));
                swap_binary(&exe, new_bin)
            }
        }
    }

    fn swap_back(&mut self, record: &LastUpdate) -> Result<(), UpdateError> {
        match &record.layout {
            Layout::Deb => {
                let dir = releases_dir(self.config).join(&record.from);
                let prev = release::verify_dir(&dir, &record.from, &self.keys, true)?;
                let deb = prev.deb.unwrap_or_default();
                self.say(&format!("dpkg -i {}", deb.display()));
                dpkg_install(&deb)
            }
            Layout::Binary { exe } => {
                self.say(&format!(
                    "putting blog-poster.previous back at {}",
                    exe.display()
                ));
                restore_previous_binary(exe)
            }
        }
    }

    /// Restores the pre-update backup when the database's schema moved
    /// past what the previous version knows. True if it did.
    fn restore_if_migrated(&mut self, record: &LastUpdate) -> Result<bool, UpdateError> {
        let now = db_schema(self.config)?;
        if now <= record.schema_before {
            return Ok(false);
        }
        let Some(backup) = &record.backup else {
            self.say(&format!(
                "the schema moved from {:?} to {:?} and there is no pre-update backup: restore your \
                 PostgreSQL dump (pg_restore --clean -d \"$DATABASE_URL\" FILE) before starting {}",
                record.schema_before, now, record.from
            ));
            return Err(UpdateError::Install(
                "PostgreSQL was migrated by the new version: restore the dump".into(),
            ));
        };
        let backups = Backups::from_config(self.config).map_err(UpdateError::Backup)?;
        let _lock = crate::instance::InstanceLock::acquire(&backups.db_path)
            .map_err(|e| UpdateError::Install(e.to_string()))?;
        let dir = backups
            .db_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let tmp = TempFile::new(dir.join(".restore-pre-update.sqlite"));
        backups
            .check_into(backup, tmp.path())
            .map_err(UpdateError::Backup)?;
        // Keep what the failed version left, for a post-mortem.
        let mut kept = backups.db_path.as_os_str().to_owned();
        kept.push(format!(".failed-update-{}", record.to));
        let _ = std::fs::copy(&backups.db_path, &kept);
        crate::backup::restore::install(tmp, &backups.db_path).map_err(UpdateError::Backup)?;
        let conn = crate::backup::catalog::open(&backups.db_path, backups.busy_timeout)
            .map_err(UpdateError::Backup)?;
        crate::backup::catalog::put_back(&conn, std::slice::from_ref(backup))
            .map_err(UpdateError::Backup)?;
        drop(conn);
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let mut p = backups.db_path.as_os_str().to_owned();
            p.push(suffix);
            give_to_owner(&self.config.data_dir, Path::new(&p));
        }
        give_to_owner(&self.config.data_dir, Path::new(&kept));
        self.say(&format!(
            "restored pre-update backup {} (schema {} → {}); the migrated database is kept as {}",
            backup.id,
            now.unwrap_or(0),
            record.schema_before.unwrap_or(0),
            Path::new(&kept).display()
        ));
        Ok(true)
    }

    /// Keeps the verified release under releases/ (the way back for the
    /// next update) and drops all but it and the previous one.
    fn keep_release(&mut self, new: &Verified) {
        let root = releases_dir(self.config);
        let dest = root.join(&new.version);
        if new.dir != dest {
            let _ = mkdir(&root);
            let _ = std::fs::remove_dir_all(&dest);
            if std::fs::rename(&new.dir, &dest).is_err() {
                let _ = copy_dir(&new.dir, &dest);
            }
        }
        let keep = [new.version.as_str(), current_version()];
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !keep.contains(&name.as_str()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Where the daemon answers /readyz (an unspecified listen address means
/// loopback).
pub fn readyz_addr(config: &Config) -> std::net::SocketAddr {
    let mut addr = config.http.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

fn dpkg_install(deb: &Path) -> Result<(), UpdateError> {
    let out = std::process::Command::new("dpkg")
        .args(["-i", "--force-confold"])
        .arg(deb)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| UpdateError::Install(format!("cannot run dpkg: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(UpdateError::Install(format!(
            "dpkg -i {} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> UpdateError {
    move |source| UpdateError::Io { what, source }
}

fn sibling(exe: &Path, name: &str) -> PathBuf {
    exe.parent()
        .map_or_else(|| PathBuf::from(name), |d| d.join(name))
}

/// Keeps the running binary as `blog-poster.previous` (a hard link: the
/// same file) and renames the new one over it: one rename in one folder,
/// so the path always holds a whole binary, old or new.
pub fn swap_binary(exe: &Path, new_bin: &Path) -> Result<(), UpdateError> {
    let staged = sibling(exe, ".blog-poster.new");
    let previous = sibling(exe, "blog-poster.previous");
    std::fs::copy(new_bin, &staged).map_err(io_err(format!(
        "cannot write {} (self-update needs write access to the binary's folder; run it as root)",
        staged.display()
    )))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err(format!("cannot chmod {}", staged.display())))?;
    let _ = std::fs::remove_file(&previous);
    if std::fs::hard_link(exe, &previous).is_err() {
        std::fs::copy(exe, &previous)
            .map_err(io_err(format!("cannot keep {}", previous.display())))?;
    }
    std::fs::rename(&staged, exe).map_err(io_err(format!("cannot replace {}", exe.display())))?;
    crate::backup::archive::sync_dir(exe).map_err(UpdateError::Backup)
}

/// Puts `blog-poster.previous` back in place (it stays, too).
pub fn restore_previous_binary(exe: &Path) -> Result<(), UpdateError> {
    let previous = sibling(exe, "blog-poster.previous");
    if !previous.is_file() {
        return Err(UpdateError::NotFound(format!(
            "{} is missing: there is no previous binary to put back",
            previous.display()
        )));
    }
    let staged = sibling(exe, ".blog-poster.rollback");
    std::fs::copy(&previous, &staged)
        .map_err(io_err(format!("cannot write {}", staged.display())))?;
    std::fs::rename(&staged, exe).map_err(io_err(format!("cannot replace {}", exe.display())))?;
    crate::backup::archive::sync_dir(exe).map_err(UpdateError::Backup)
}
