//! Several instances on one PostgreSQL database, with real processes: two
//! `serve`s (examples/scripted_serve.rs: fast scripted stages, the real
//! outbox publisher, a fake model call under a per-site daily cap) share
//! 250 runs (over 1,000 jobs). One is SIGKILLed midway while it holds jobs;
//! its leases run out and the other finishes them. Every run's stages are
//! committed exactly once, every article is published once, and the cap is
//! not overshot. Needs PostgreSQL (services.rs).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use blog_poster::config::PgOptions;
use blog_poster::domain::lifecycle::{ArticleStatus, JobStatus, RunStatus, Stage};
use blog_poster::store::postgres::PgStore;
use blog_poster::store::{NewRun, RunId, RunTrigger, SiteSpec, Store};

use crate::crash::scripted_serve;
use crate::harness::{wait_for, wait_for_exit, write_config};

const RUNS: usize = 250;
const PRICE: i64 = 1_000;
const CAP: i64 = 200_000; // 200 generate calls fit; 50 runs meet the cap

/// A fresh database next to the test database (dropped at the end).
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    fn create(admin_url: &str) -> TestDatabase {
        let name = format!("bp_instances_{}_{}", std::process::id(), fastrand::u32(..));
        let mut admin = postgres::Client::connect(admin_url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("PostgreSQL unreachable at {admin_url}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let mut url = url::Url::parse(admin_url).expect("test URL");
        url.set_path(&format!("/{name}"));
        TestDatabase {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn config(dir: &Path, url: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            r#"data_dir = "{}"
[log]
level = "warn"
[database]
url = "{url}"
pool_size = 6
[engine]
workers = 8
per_site_concurrency = 8
lease = "2s"
heartbeat = "300ms"
max_attempts = 10
retry_base = "100ms"
retry_max = "1s"
poll_interval = "20ms"
shutdown_grace = "2s"
[scheduler]
tick = "1s"
[sites.multi]
"#,
            dir.display()
        ),
    )
}

fn spawn(config: &Path) -> Child {
    Command::new(scripted_serve())
        .arg(config)
        .env("SCRIPT_DELAY_MS", "5")
        .env("SCRIPT_RESERVE_MICROS", PRICE.to_string())
        .env("SCRIPT_CAP_MICROS", CAP.to_string())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn scripted_serve")
}

fn enqueue(store: &PgStore) -> Vec<RunId> {
    let now = chrono::Utc::now();
    store.migrate(now).expect("migrate");
    store
        .sync_sites(
            &[SiteSpec {
                name: "multi".into(),
                enabled: true,
                max_concurrency: 8,
                sources: vec![],
            }],
            now,
        )
        .expect("sync");
    (0..RUNS)
        .map(|_| {
            let run = NewRun {
                site: "multi".into(),
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

fn succeeded_jobs(store: &PgStore) -> u64 {
    store
        .job_counts()
        .expect("counts")
        .get(&JobStatus::Succeeded)
        .copied()
        .unwrap_or(0)
}

fn held_by(store: &PgStore, pid: u32) -> usize {
    let tag = format!(":{pid}:");
    store
        .list_jobs(None, Some(JobStatus::Running), 1000)
        .expect("jobs")
        .iter()
        .filter(|j| j.lease_owner.as_deref().is_some_and(|o| o.contains(&tag)))
        .count()
}

/// The local ports of `pid`'s TCP connections to `server_port` (its
/// PostgreSQL sessions): socket inodes from /proc/PID/fd, ports from
/// /proc/net/tcp*.
fn client_ports(pid: u32, server_port: u16) -> Vec<i32> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |addr: &str| {
                i32::from_str_radix(addr.rsplit(':').next().unwrap_or(""), 16).expect("hex port")
            };
            if f.len() > 9 && inodes.contains(f[9]) && port(f[2]) == i32::from(server_port) {
                ports.push(port(f[1]));
            }
        }
    }
    ports
}

#[test]
fn two_serves_on_postgres_share_the_queue_and_survive_a_sigkill() {
    let admin_url = crate::pg_env::url();
    let db = TestDatabase::create(&admin_url);
    let store = PgStore::open(&db.url, &PgOptions::default()).expect("open");
    let runs = enqueue(&store);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &db.url);

    let mut a = spawn(&cfg);
    let mut b = spawn(&cfg);
    // Midway, and while A holds jobs: SIGKILL it.
    wait_for(Duration::from_secs(120), "a third of the jobs done", || {
        succeeded_jobs(&store) >= 400
    });
    wait_for(Duration::from_secs(30), "A to hold running jobs", || {
        held_by(&store, a.id()) > 0
    });
    let a_pid = a.id();
    let pg_port = url::Url::parse(&db.url)
        .expect("url")
        .port()
        .unwrap_or(5432);
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).expect("admin");
    // Server time, so sessions opened after the kill (by B, perhaps on a
    // port A had) do not count as A's.
    let before_kill: i64 = admin
        .query_one(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::BIGINT",
            &[],
        )
        .expect("server clock")
        .get(0);
    let a_ports = client_ports(a_pid, pg_port);
    assert!(!a_ports.is_empty(), "A has connections to PostgreSQL");
    a.kill().expect("SIGKILL A");
    a.wait().expect("reap A");
    // A COMMIT that A sent just before it died still completes on the
    // server: count A's jobs once its sessions are gone, not before.
    wait_for(Duration::from_secs(60), "A's sessions to end", || {
        let left: i64 = admin
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE client_port = ANY($1)
                 AND (extract(epoch FROM backend_start) * 1e6)::BIGINT <= $2",
                &[&a_ports, &before_kill],
            )
            .expect("sessions")
            .get(0);
        left == 0
    });
    // Its leases (2 s) may run out meanwhile and B take some back: those
    // are no longer A's here, and the check below stays a lower bound.
    let orphaned = held_by(&store, a_pid);
    let done_at_kill = succeeded_jobs(&store);
    eprintln!("SIGKILLed A holding {orphaned} running job(s), {done_at_kill} jobs done");

    let finished = |s: &PgStore| {
        runs.iter()
            .filter(|r| s.get_run(**r).expect("run").status != RunStatus::Running)
            .count()
    };
    wait_for(Duration::from_secs(180), "every run to finish", || {
        finished(&store) == RUNS
    });
    Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status()
        .expect("kill -TERM");
    let b_exit = wait_for_exit(&mut b, Duration::from_secs(60), "B to stop on SIGTERM");
    assert!(b_exit.success(), "B exits 0 on SIGTERM: {b_exit}");

    // A's jobs were taken back from it, by B (A is dead).
    let reclaimed: Vec<_> = store
        .list_events(100_000, None)
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == "job.reclaimed")
        .collect();
    assert!(
        reclaimed.len() >= orphaned,
        "A's {orphaned} running job(s) were reclaimed: {reclaimed:?}"
    );
    let tag = format!(":{}:", a.id());
    assert!(
        reclaimed.iter().all(|e| e.message.contains(&tag)),
        "{reclaimed:?}"
    );

    // Every run: one job per stage it reached, each committed once.
    let mut published = 0;
    let mut capped = 0;
    let mut jobs_total = 0;
    for run in &runs {
        let r = store.get_run(*run).expect("run");
        let jobs = store.list_jobs(Some(*run), None, 100).expect("jobs");
        jobs_total += jobs.len();
        let mut stages: Vec<Stage> = jobs.iter().map(|j| j.stage).collect();
        stages.sort();
        let mut unique = stages.clone();
        unique.dedup();
        assert_eq!(stages, unique, "run {run}: one job per stage");
        match r.status {
            RunStatus::Succeeded => {
                assert_eq!(stages, Stage::ALL.to_vec(), "run {run}");
                assert!(jobs.iter().all(|j| j.status == JobStatus::Succeeded));
                let article = store.article_for_run(*run).expect("read").expect("article");
                assert_eq!(article.status, ArticleStatus::Published);
                published += 1;
            }
            RunStatus::Failed => {
                assert_eq!(
                    stages,
                    vec![Stage::Monitor, Stage::Topics, Stage::Generate],
                    "run {run}: only the cap stops a run here"
                );
                let generate = jobs
                    .iter()
                    .find(|j| j.stage == Stage::Generate)
                    .expect("generate");
                assert!(
                    generate
                        .last_error
                        .as_deref()
                        .unwrap_or("")
                        .contains("cap reached"),
                    "run {run}: {generate:?}"
                );
                assert!(store.article_for_run(*run).expect("read").is_none());
                capped += 1;
            }
            other => panic!("run {run} ended {other}"),
        }
    }
    assert_eq!(published + capped, RUNS);
    assert!(jobs_total >= 1_000, "{jobs_total} jobs ran");
    // Stage outputs were committed exactly once per run.
    let items = store
        .list_source_items("multi", None, 10_000)
        .expect("items");
    assert_eq!(items.len(), RUNS, "one source item per run");
    // The outbox (shared folder): one page per published article, no more.
    let outbox = dir.path().join("outbox").join("multi");
    let pages = std::fs::read_dir(&outbox)
        .expect("outbox")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".html"))
        .count();
    assert_eq!(pages, published, "one outbox page per published article");
    // The cap held across both processes, counting A's unsettled
    // reservations at their worst case.
    let report = store.spend_report(chrono::Utc::now()).expect("spend");
    let site = report
        .sites
        .iter()
        .find(|s| s.site == "multi")
        .expect("site");
    let counted = site.today.settled.micros() + site.today.unsettled.micros();
    assert!(counted <= CAP, "spent {counted} > cap {CAP}");
    assert!(published as i64 * PRICE <= CAP);
    assert!(capped > 0, "the cap was reached (250 runs, room for 200)");
    eprintln!(
        "{jobs_total} jobs, {published} published, {capped} stopped by the cap, {} reclaimed, spend {counted}/{CAP}",
        reclaimed.len()
    );
}
