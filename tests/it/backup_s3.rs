//! The off-site copy against a local S3-compatible server: moto's S3
//! behind scripts/fake_s3.py, a proxy that checks the SigV4 signature of
//! every presigned URL (moto itself does not). Upload after create, list,
//! download for restore (through the CLI, the local file gone), pruning
//! deletes the remote copy too, and a wrong secret is refused with S3's
//! SignatureDoesNotMatch. Needs python3 with moto (scripts/test.sh installs
//! it): without it the tests fail (services.rs), unless a developer opts
//! out with BLOG_POSTER_TEST_SKIP=s3.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use blog_poster::backup::s3::Remote;
use blog_poster::backup::task::{backup_cycle, prune_all};
use blog_poster::backup::{BackupKind, Backups};
use blog_poster::clock::SystemClock;
use blog_poster::config::{BackupConfig, BackupS3Config, Secret};
use blog_poster::store::Store;
use blog_poster::store::sqlite::SqliteStore;

use crate::harness::{command, run, write_config};

const KEY: &str = "AKIDBLOGPOSTERTEST";
const SECRET: &str = "s3cr3t/with+signs=";
const BUCKET: &str = "bp-backups";

struct FakeS3 {
    child: Child,
    port: u16,
}

impl Drop for FakeS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server; fails the test when python3 with moto is missing.
fn fake_s3() -> FakeS3 {
    let python = crate::services::require(crate::services::Service::S3);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fake_s3.py");
    let mut child = Command::new(python)
        .arg(script)
        .args([KEY, SECRET, BUCKET])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 must be installed to run the S3 tests");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // moto prints its own start-up line first.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("ready ") {
                let _ = tx.send(line);
                break;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    let port = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "scripts/fake_s3.py did not start (got {line:?}): install moto with `pip install 'moto[server]'` \
                 (scripts/test.sh does)"
            )
        });
    FakeS3 { child, port }
}

fn s3_config(port: u16, secret: &str) -> BackupS3Config {
    BackupS3Config {
        endpoint: format!("http://127.0.0.1:{port}").parse().expect("url"),
        bucket: BUCKET.into(),
        region: "us-east-1".into(),
        prefix: "site-a/".into(),
        path_style: true,
        access_key: Secret::new(KEY.into(), "test"),
        secret_key: Secret::new(secret.into(), "test"),
    }
}

fn backups(dir: &Path, s3: BackupS3Config, keep_last: u32) -> Backups {
    let store =
        SqliteStore::open(&dir.join("blog-poster.db"), Duration::from_secs(5)).expect("open");
    store.migrate(chrono::Utc::now()).expect("migrate");
    let mut settings = BackupConfig::defaults(dir);
    settings.keep_last = keep_last;
    settings.keep_daily = 0;
    settings.keep_weekly = 0;
    settings.s3 = Some(s3);
    Backups {
        db_path: dir.join("blog-poster.db"),
        busy_timeout: Duration::from_secs(5),
        settings,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn s3_upload_list_download_restore_and_prune() {
    let server = fake_s3();
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backups(dir.path(), s3_config(server.port, SECRET), 1);
    let remote = Remote::new(b.settings.s3.as_ref().expect("s3")).expect("remote");
    let rt = rt();
    let first = rt
        .block_on(backup_cycle(
            &b,
            Some(&remote),
            BackupKind::Manual,
            false,
            &SystemClock,
        ))
        .expect("backup");
    assert!(first.remote_errors.is_empty(), "{:?}", first.remote_errors);
    let key = first.uploaded.clone().expect("uploaded");
    assert_eq!(key, format!("site-a/{}", first.record.file_name));
    assert_eq!(
        b.get(first.record.id).expect("row").remote_key.as_deref(),
        Some(key.as_str())
    );
    let listed = rt.block_on(remote.list()).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    assert_eq!(listed[0].size, first.record.size_bytes);

    // Restore from the off-site copy, through the CLI: the local file is gone.
    std::fs::remove_file(b.file_path(&first.record)).expect("remove local copy");
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"data_dir = "{d}"
[backup.s3]
endpoint = "http://127.0.0.1:{port}"
bucket = "{BUCKET}"
prefix = "site-a/"
path_style = true
access_key_env = "TEST_S3_KEY"
secret_key_file = "{d}/s3-secret"
"#,
            d = dir.path().display(),
            port = server.port
        ),
    );
    std::fs::write(dir.path().join("s3-secret"), format!("{SECRET}\n")).expect("secret file");
    let (code, out, err) = run(command(dir.path())
        .arg("--config")
        .arg(&cfg)
        .env("TEST_S3_KEY", KEY)
        .args(["backup", "restore", &first.record.id.to_string()]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&format!("downloaded {key}")), "{out}");
    assert!(
        out.contains(&format!("restored backup {}", first.record.id)),
        "{out}"
    );
    assert!(!err.contains(SECRET) && !out.contains(SECRET));

    // A second backup with keep_last = 1: pruning deletes the first one's
    // remote copy as well (the restore's safety copy is pruned too).
    let second = rt
        .block_on(backup_cycle(
            &b,
            Some(&remote),
            BackupKind::Manual,
            false,
            &SystemClock,
        ))
        .expect("second backup");
    let mut errors = Vec::new();
    let pruned = rt
        .block_on(prune_all(&b, Some(&remote), &mut errors))
        .expect("prune");
    assert!(errors.is_empty(), "{errors:?}");
    assert!(pruned.iter().any(|p| p.id == first.record.id));
    let keys: Vec<String> = rt
        .block_on(remote.list())
        .expect("list")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, [second.uploaded.expect("uploaded")]);
}

#[test]
fn s3_wrong_secret_is_refused_by_the_signature_check_and_the_local_backup_stays() {
    let server = fake_s3();
    let dir = tempfile::tempdir().expect("tempdir");
    let b = backups(dir.path(), s3_config(server.port, "not-the-secret"), 5);
    let remote = Remote::new(b.settings.s3.as_ref().expect("s3")).expect("remote");
    let rt = rt();
    let cycle = rt
        .block_on(backup_cycle(
            &b,
            Some(&remote),
            BackupKind::Manual,
            false,
            &SystemClock,
        ))
        .expect("the local backup works");
    assert!(cycle.uploaded.is_none());
    let error = cycle.remote_errors.join("\n");
    assert!(error.contains("HTTP 403"), "{error}");
    assert!(error.contains("SignatureDoesNotMatch"), "{error}");
    assert!(
        error.contains("check the access key"),
        "the message says what to fix: {error}"
    );
    assert!(
        !error.contains("X-Amz-Signature"),
        "no presigned URL in errors: {error}"
    );
    assert!(b.file_path(&cycle.record).exists());
    let err = rt.block_on(remote.list()).expect_err("listing refused too");
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
}
