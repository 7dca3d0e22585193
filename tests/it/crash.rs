//! Crash safety with real processes: `serve` (with scripted slow stages, see
//! examples/scripted_serve.rs) is SIGKILLed at several points, each observed
//! in the database rather than timed, and restarted; every run must still
//! complete exactly once. Also: SIGTERM stops it gracefully, releasing jobs
//! the grace period cannot finish.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use blog_poster::domain::lifecycle::{ArticleStatus, JobStatus, RunStatus, Stage};
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{NewRun, RunId, RunTrigger, SiteSpec, Store};

use crate::harness::{wait_for, wait_for_exit, write_config};

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

/// Where a round of the SIGKILL test strikes: each is a state observed in
/// the database (or the lock file), never a number of milliseconds.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// The process holds the database lock: start-up, before or while it
    /// reclaims and claims.
    StartUp,
    /// At least `n` jobs are running (mid-stage, leases held).
    Running(usize),
    /// A job of a stage after Topics is running.
    RunningLater,
    /// A stage committed since this process started: between stages.
    AfterCommit,
    /// An article was published since this process started.
    AfterPublish,
}

fn jobs(store: &SqliteStore, status: JobStatus) -> Vec<blog_poster::store::JobRecord> {
    store.list_jobs(None, Some(status), 1000).expect("jobs")
}

/// The running jobs whose lease `pid` holds (not ones a dead predecessor
/// left behind, which are still "running" until reclaimed).
fn held_by(store: &SqliteStore, pid: u32) -> Vec<blog_poster::store::JobRecord> {
    let tag = format!(":{pid}:");
    jobs(store, JobStatus::Running)
        .into_iter()
        .filter(|j| j.lease_owner.as_deref().is_some_and(|o| o.contains(&tag)))
        .collect()
}

/// Waits for `point` while `child` works; returns once it is reached.
fn reach(store: &SqliteStore, dir: &Path, child: &mut Child, point: KillPoint) {
    let succeeded = jobs(store, JobStatus::Succeeded);
    let published = |s: &[blog_poster::store::JobRecord]| {
        s.iter().filter(|j| j.stage == Stage::Publish).count()
    };
    let (done_at_spawn, published_at_spawn) = (succeeded.len(), published(&succeeded));
    let what = format!("{point:?}");
    wait_for(Duration::from_secs(90), &what, || {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("scripted_serve exited ({status}) before {point:?}");
        }
        match point {
            KillPoint::StartUp => lock_holder(dir) == Some(child.id()),
            KillPoint::Running(n) => held_by(store, child.id()).len() >= n,
            KillPoint::RunningLater => held_by(store, child.id())
                .iter()
                .any(|j| j.stage > Stage::Topics),
            KillPoint::AfterCommit => jobs(store, JobStatus::Succeeded).len() > done_at_spawn,
            KillPoint::AfterPublish => {
                published(&jobs(store, JobStatus::Succeeded)) > published_at_spawn
            }
        }
    });
}

fn lock_holder(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("blog-poster.db.lock"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

#[test]
fn sigkill_at_several_points_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "1s");
    let store = open(dir.path());
    let runs = enqueue(&store, 12);

    // Kill at different moments: at start-up, mid-stage (stages slowed to
    // 5 s so the kill surely lands inside one), between stages, right after
    // a publish. Each point is observed, then the process is SIGKILLed.
    let rounds = [
        (KillPoint::StartUp, 120),
        (KillPoint::Running(1), 5_000),
        (KillPoint::AfterCommit, 120),
        (KillPoint::Running(3), 5_000),
        (KillPoint::AfterPublish, 120),
        (KillPoint::RunningLater, 5_000),
    ];
    let mut orphaned = 0;
    for (round, (point, delay_ms)) in rounds.into_iter().enumerate() {
        let mut child = spawn(&cfg, delay_ms);
        let pid = child.id();
        reach(&store, dir.path(), &mut child, point);
        kill9(&mut child);
        // Jobs the dead process still holds: its successor must reclaim them.
        let held = held_by(&store, pid).len();
        orphaned += held;
        let done = finished(&store, &runs);
        eprintln!(
            "round {round}: killed at {point:?} holding {held} job(s), {done}/12 runs finished"
        );
    }
    assert!(orphaned > 0, "the mid-stage kills left running jobs behind");
    let mut child = spawn(&cfg, 120);
    wait_for(Duration::from_secs(120), "all runs to finish", || {
        finished(&store, &runs) == runs.len()
    });
    wait_until_locked(dir.path(), &child);
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill -TERM");
    let status = wait_for_exit(
        &mut child,
        Duration::from_secs(60),
        "serve to stop on SIGTERM",
    );
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
        reclaimed >= orphaned,
        "the kills left {orphaned} running job(s) behind; {reclaimed} were reclaimed"
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
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill -TERM");
    // The stages would take 30 s; the jobs below show they were released,
    // not finished. The deadline only guards against a hang.
    let status = wait_for_exit(
        &mut child,
        Duration::from_secs(60),
        "serve to stop on SIGTERM",
    );
    assert!(status.success(), "exit 0 on SIGTERM: {status}");
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
