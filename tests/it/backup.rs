//! Backups against real processes and files: a backup taken while `serve`
//! (scripted stages, no delay) and a writer process both write at full
//! speed restores to a sound database holding every committed row; a
//! damaged backup (one flipped byte) is refused by verify and by restore;
//! offline restore refuses while serve runs; the daemon restores through
//! its handle and keeps working.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use blog_poster::backup::{BackupError, BackupKind, Backups};
use blog_poster::clock::SystemClock;
use blog_poster::config::{self, BackupConfig, Environment};
use blog_poster::pipeline::stage::StageSet;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{NewEvent, Store};

use crate::crash::scripted_serve;
use crate::harness::{wait_for, write_config};

fn backup_writer() -> PathBuf {
    scripted_serve().with_file_name("backup_writer")
}

fn config_text(dir: &Path) -> String {
    format!(
        r#"data_dir = "{}"
[log]
level = "warn"
[engine]
workers = 4
per_site_concurrency = 4
poll_interval = "10ms"
retry_base = "100ms"
retry_max = "1s"
[scheduler]
tick = "1s"
[sites.load]
max_concurrency = 4
"#,
        dir.display()
    )
}

fn backups_for(dir: &Path) -> Backups {
    Backups {
        db_path: dir.join("blog-poster.db"),
        busy_timeout: Duration::from_secs(10),
        settings: BackupConfig::defaults(dir),
    }
}

fn fresh_db(dir: &Path) -> SqliteStore {
    let store =
        SqliteStore::open(&dir.join("blog-poster.db"), Duration::from_secs(5)).expect("open");
    store.migrate(chrono::Utc::now()).expect("migrate");
    store
}

fn marker(store: &SqliteStore, text: &str) {
    store
        .record_event(
            &NewEvent {
                site: None,
                run_id: None,
                job_id: None,
                kind: "test.marker".into(),
                actor: "test".into(),
                message: text.into(),
            },
            chrono::Utc::now(),
        )
        .expect("event");
}

fn markers(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare("SELECT message FROM events WHERE kind = 'test.marker' ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<String>, _>>()
        .expect("rows")
}

/// Run ids the writer logged as committed (complete lines only).
fn logged(log: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    complete
        .lines()
        .map(|l| l.trim().parse().expect("run id"))
        .collect()
}

fn succeeded_jobs(db: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open(db) else {
        return 0;
    };
    let _ = conn.busy_timeout(Duration::from_secs(5));
    conn.query_row(
        "SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

fn kill9(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

fn flip_one_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read backup");
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(path, bytes).expect("write backup");
}

#[test]
fn backup_during_full_speed_writes_restores_every_committed_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &config_text(dir.path()));
    let db = dir.path().join("blog-poster.db");
    let mut serve = Command::new(scripted_serve())
        .arg(&cfg)
        .env("SCRIPT_DELAY_MS", "0")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    // serve migrates and registers the site before it starts working.
    wait_for(Duration::from_secs(30), "serve to set up the site", || {
        SqliteStore::open(&db, Duration::from_secs(5))
            .and_then(|s| s.list_sites())
            .map(|sites| sites.iter().any(|s| s.name == "load"))
            .unwrap_or(false)
    });
    let log = dir.path().join("writer.log");
    let mut writer = Command::new(backup_writer())
        .arg(&db)
        .arg("load")
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer");
    wait_for(
        Duration::from_secs(30),
        "the writer to commit 300 runs",
        || logged(&log).len() >= 300,
    );
    wait_for(Duration::from_secs(60), "serve to finish 20 jobs", || {
        succeeded_jobs(&db) >= 20
    });

    let backups = backups_for(dir.path());
    let committed_before = logged(&log);
    let record = backups
        .create(BackupKind::Manual, chrono::Utc::now())
        .expect("backup while both write");
    // The backup left no lock behind: the writer goes on committing.
    wait_for(
        Duration::from_secs(30),
        "the writer to commit after the backup",
        || logged(&log).len() > committed_before.len(),
    );

    // While serve holds the database, an offline restore is refused.
    let err = backups
        .restore_offline(record.id, chrono::Utc::now())
        .expect_err("serve is running");
    assert!(matches!(err, BackupError::DaemonRunning { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("POST /api/v1/backups/{}/restore", record.id)),
        "{err}"
    );

    kill9(&mut writer);
    kill9(&mut serve);
    let committed_all = logged(&log);
    let last_before = *committed_before.last().expect("some ids");
    let last_all = *committed_all.last().expect("some ids");

    let report = backups
        .verify(Some(record.id), chrono::Utc::now())
        .expect("verify");
    assert!(report.ok, "{report:?}");

    let restored = backups
        .restore_offline(record.id, chrono::Utc::now())
        .expect("restore");
    assert_eq!(restored.restored, record.id);

    let conn = rusqlite::Connection::open(&db).expect("open restored");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM runs ORDER BY id")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("ids");
    let k = *ids.last().expect("runs restored");
    assert_eq!(
        ids,
        (1..=k).collect::<Vec<_>>(),
        "runs are a gap-free prefix: one consistent commit"
    );
    assert!(
        k >= last_before,
        "every run committed before the backup started is in it ({k} < {last_before})"
    );
    assert!(k <= last_all, "nothing the writer did not commit");
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM runs r WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.run_id = r.id)",
            [],
            |r| r.get(0),
        )
        .expect("orphans");
    assert_eq!(orphans, 0, "each run came with its job, in one commit");
    let worked: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'",
            [],
            |r| r.get(0),
        )
        .expect("succeeded");
    assert!(worked > 0, "serve was working when the backup was taken");
    eprintln!(
        "backup of {} bytes: {k} runs (logged before {last_before}, by the end {last_all}), {worked} jobs done by serve",
        record.size_bytes
    );
    drop(conn);

    // The catalog survived the swap: the backup and the safety copy.
    let list = backups.list().expect("list");
    assert!(list.iter().any(|r| r.id == record.id));
    let safety = list
        .iter()
        .find(|r| r.id == restored.safety_backup)
        .expect("safety copy listed");
    assert_eq!(safety.kind, BackupKind::PreRestore);
    assert!(
        safety.row_counts["runs"] as i64 >= last_all,
        "the safety copy holds the database as it was before the restore"
    );
}

#[test]
fn a_backup_with_one_flipped_byte_is_refused_by_verify_and_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fresh_db(dir.path());
    marker(&store, "before the backup");
    let backups = backups_for(dir.path());
    let record = backups
        .create(BackupKind::Manual, chrono::Utc::now())
        .expect("backup");
    marker(&store, "after the backup");
    drop(store);
    flip_one_byte(&backups.file_path(&record));

    let report = backups
        .verify(Some(record.id), chrono::Utc::now())
        .expect("verify runs");
    assert!(!report.ok);
    assert!(report.message.contains("is damaged"), "{}", report.message);
    let stored = backups.get(record.id).expect("row");
    assert_eq!(stored.verify_ok, Some(false), "the result is kept");

    let before = backups.list().expect("list").len();
    let err = backups
        .restore_offline(record.id, chrono::Utc::now())
        .expect_err("damaged");
    assert!(matches!(err, BackupError::Checksum { .. }), "{err}");
    let db = dir.path().join("blog-poster.db");
    assert_eq!(
        markers(&db),
        ["before the backup", "after the backup"],
        "the database was not touched"
    );
    assert_eq!(
        backups.list().expect("list").len(),
        before,
        "no safety copy either: the refusal came first"
    );
}

#[test]
fn the_daemon_restores_through_its_handle_and_keeps_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), &config_text(dir.path()));
    let env = Environment::from_pairs([("HOME", dir.path().to_str().expect("utf8"))]);
    let text = std::fs::read_to_string(&path).expect("config text");
    let config = Arc::new(config::parse(&text, Some(&path), &env).expect("config"));
    let db = dir.path().join("blog-poster.db");
    let store = fresh_db(dir.path());
    marker(&store, "in the backup");
    drop(store);
    let backups = Backups::from_config(&config).expect("sqlite");
    let record = backups
        .create(BackupKind::Manual, chrono::Utc::now())
        .expect("backup");
    let store = fresh_db(dir.path());
    marker(&store, "after the backup");
    drop(store);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (handle, control) = blog_poster::daemon::control_channel();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let daemon = tokio::spawn(blog_poster::daemon::serve_with_control(
            config.clone(),
            StageSet::standard(),
            Arc::new(SystemClock),
            shutdown,
            control,
        ));
        let lock = dir.path().join("blog-poster.db.lock");
        crate::harness::wait_for_async(
            Duration::from_secs(30),
            "the daemon to take the lock",
            || {
                let held = std::fs::read_to_string(&lock)
                    .is_ok_and(|s| s.trim() == std::process::id().to_string());
                async move { held }
            },
        )
        .await;
        let report = handle.restore_backup(record.id).await.expect("restore");
        assert_eq!(report.restored, record.id);
        assert_eq!(markers(&db), ["in the backup"], "the backup's data is live");

        // The daemon works on the restored database: its store sees the
        // swap (a run enqueued now is stored in the restored file).
        let damaged = handle.restore_backup(9999).await.expect_err("unknown id");
        assert!(matches!(damaged, BackupError::NotFound(9999)), "{damaged}");

        let _ = stop.send(true);
        daemon.await.expect("join").expect("serve stopped cleanly");
    });
    let list = backups.list().expect("catalog");
    let safety = list
        .iter()
        .find(|r| r.kind == BackupKind::PreRestore)
        .expect("safety copy");
    // The safety copy holds what the restore replaced.
    let restored_safety = backups
        .verify(Some(safety.id), chrono::Utc::now())
        .expect("verify safety");
    assert!(restored_safety.ok, "{restored_safety:?}");
    let events: Vec<String> = {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.prepare("SELECT kind FROM events WHERE kind = 'backup.restored'")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert_eq!(
        events,
        ["backup.restored"],
        "the restore is in the audit log"
    );
}
