//! Crash safety with real processes: `serve` (with scripted slow stages, see
//! examples/scripted_serve.rs) is SIGKILLed at several points and restarted;
//! every run must still complete exactly once. Also: SIGTERM stops it
//! gracefully within the grace period.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use blog_poster::pipeline::lifecycle::{ArticleStatus, JobStatus, RunStatus, Stage};
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{NewRun, RunId, RunTrigger, SiteSpec, Store};

use crate::harness::{wait_for, write_config};

/// The example binary cargo builds next to this test binary.
pub(crate) fn scripted_serve() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join("examples").join("scripted_serve");
    assert!(
        p.exists(),
        "{} is missing: `cargo test` builds examples; run `cargo build --examples`",
        p.display()
    );
    p
}

fn config(dir: &Path, grace: &str) -> PathBuf {
    write_config(
        dir,
        &format!(
            r#"data_dir = "{}"
[log]
level = "warn"
[engine]
workers = 4
per_site_concurrency = 4
lease = "2s"
heartbeat = "400ms"
max_attempts = 10
# Kills land mid-stage at will here: a job may die with the process several
# times in a row without being a poison pill.
poison_after = 100
retry_base = "100ms"
retry_max = "1s"
poll_interval = "50ms"
shutdown_grace = "{grace}"
[scheduler]
tick = "1s"
[sites.crash]
"#,
            dir.display()
        ),
    )
}

fn spawn(config: &Path, delay_ms: u64) -> Child {
    Command::new(scripted_serve())
        .arg(config)
        .env("SCRIPT_DELAY_MS", delay_ms.to_string())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scripted_serve")
}

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("blog-poster.db"), Duration::from_secs(5)).expect("open")
}

fn enqueue(store: &SqliteStore, n: usize) -> Vec<RunId> {
    let now = chrono::Utc::now();
    store.migrate(now).expect("migrate");
    store
        .sync_sites(
            &[SiteSpec {
                name: "crash".into(),
                enabled: true,
                max_concurrency: 4,
                sources: vec![],
            }],
            now,
        )
        .expect("sync");
    (0..n)
        .map(|_| {
            let run = NewRun {
                site: "crash".into(),
                trigger: RunTrigger::Manual,
                slot_key: None,
                first_stage: Stage::Monitor,
                until: None,
                max_attempts: 10,
            };
            store.enqueue_run(&run, now).expect("enqueue").run_id()
        })
        .collect()
}

fn finished(store: &SqliteStore, runs: &[RunId]) -> usize {
    runs.iter()
        .filter(|r| store.get_run(**r).expect("run").status != RunStatus::Running)
        .count()
}

/// The child holds the database lock, so its signal handlers are in place.
fn wait_until_locked(dir: &Path, child: &Child) {
    let lock = dir.join("blog-poster.db.lock");
    wait_for(
        Duration::from_secs(20),
        "serve to take the database lock",
        || {
            std::fs::read_to_string(&lock)
                .map(|s| s.trim() == child.id().to_string())
                .unwrap_or(false)
        },
    );
}

fn kill9(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[test]
fn sigkill_at_several_points_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "1s");
    let store = open(dir.path());
    let runs = enqueue(&store, 12);

    // Kill at different moments: mid-stage, between stages, at start-up.
    for (round, after_ms) in [350u64, 90, 620, 30, 1000, 210].into_iter().enumerate() {
        let mut child = spawn(&cfg, 120);
        std::thread::sleep(Duration::from_millis(after_ms));
        kill9(&mut child);
        let done = finished(&store, &runs);
        eprintln!("round {round}: killed after {after_ms} ms, {done}/12 runs finished");
    }
    let mut child = spawn(&cfg, 120);
    wait_for(Duration::from_secs(60), "all runs to finish", || {
        finished(&store, &runs) == runs.len()
    });
    wait_until_locked(dir.path(), &child);
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill -TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");

    let mut html = 0;
    for run in &runs {
        let r = store.get_run(*run).expect("run");
        assert_eq!(r.status, RunStatus::Succeeded, "run {run}: {r:?}");
        let jobs = store.list_jobs(Some(*run), None, 100).expect("jobs");
        let mut stages: Vec<Stage> = jobs.iter().map(|j| j.stage).collect();
        stages.sort();
        assert_eq!(
            stages,
            Stage::ALL.to_vec(),
            "run {run}: exactly one job per stage"
        );
        assert!(
            jobs.iter().all(|j| j.status == JobStatus::Succeeded),
            "run {run}: {jobs:?}"
        );
        let article = store.article_for_run(*run).expect("read").expect("article");
        assert_eq!(article.status, ArticleStatus::Published);
        html += 1;
    }
    // Stage outputs were committed exactly once per run.
    let items = store.list_source_items("crash", None, 1000).expect("items");
    assert_eq!(items.len(), 12, "one item per run");
    let outbox = dir.path().join("outbox").join("crash");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .expect("outbox")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        files
            .iter()
            .filter(|f| f.to_string_lossy().ends_with(".html"))
            .count(),
        html,
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.to_string_lossy().ends_with(".tmp")),
        "no half-written files: {files:?}"
    );
    let reclaimed = store
        .list_events(10_000, None)
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == "job.reclaimed")
        .count();
    assert!(
        reclaimed > 0,
        "the kills interrupted running jobs, which were reclaimed"
    );
}

#[test]
fn sigterm_releases_running_jobs_within_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "300ms");
    let store = open(dir.path());
    let runs = enqueue(&store, 2);
    // Stages take 30 s: longer than the grace period, so they get released.
    let mut child = spawn(&cfg, 30_000);
    wait_for(Duration::from_secs(20), "a running job", || {
        store
            .list_jobs(None, Some(JobStatus::Running), 10)
            .expect("jobs")
            .len()
            == 2
    });
    let start = std::time::Instant::now();
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill -TERM");
    let status = child.wait().expect("wait");
    let took = start.elapsed();
    assert!(status.success(), "exit 0 on SIGTERM: {status}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    for run in runs {
        let jobs = store.list_jobs(Some(run), None, 10).expect("jobs");
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].status, jobs[0].attempts),
            (JobStatus::Queued, 0),
            "released without charging an attempt"
        );
        assert_eq!(jobs[0].lease_owner, None);
    }
}

#[test]
fn second_serve_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "1s");
    let mut first = spawn(&cfg, 100);
    wait_until_locked(dir.path(), &first);
    let second = Command::new(scripted_serve())
        .arg(&cfg)
        .output()
        .expect("second");
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "another blog-poster (pid {}) is already using the database",
            first.id()
        )),
        "{err}"
    );
    kill9(&mut first);
}
