//! Engine throughput: enqueue + claim + complete, measured two ways —
//! straight through the Store (one thread, the database's share) and
//! through the real async engine with a stage that does no work (the
//! engine's own overhead: spawn_blocking, leases, notification). On SQLite
//! always; on PostgreSQL too when `BLOG_POSTER_TEST_POSTGRES_URL` is set
//! (in a fresh schema of that database, dropped afterwards).
//!
//! Run: `cargo bench --bench engine` (release profile). Figures go to
//! docs/performance.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use blog_poster::clock::SystemClock;
use blog_poster::config::PgOptions;
use blog_poster::config::{self, Environment};
use blog_poster::domain::BoxFuture;
use blog_poster::domain::lifecycle::{RunStatus, Stage};
use blog_poster::pipeline::engine::{Engine, Observer};
use blog_poster::pipeline::stage::{StageContext, StageError, StageRunner, StageSet};
use blog_poster::store::postgres::PgStore;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::*;

/// Jobs per measurement: 20,000, or `BLOG_POSTER_BENCH_JOBS` (PostgreSQL's
/// store level runs at commit-flush speed, so a smaller count keeps it short).
fn jobs() -> usize {
    std::env::var("BLOG_POSTER_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

const PG_URL: &str = "BLOG_POSTER_TEST_POSTGRES_URL";

/// A PostgreSQL schema that is dropped with this value.
struct PgSchema {
    url: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = ::postgres::Client::connect(&self.url, ::postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", self.name));
        }
    }
}

fn open(backend: Backend, dir: &std::path::Path) -> (Arc<dyn Store>, Option<PgSchema>) {
    match backend {
        Backend::Sqlite => {
            let store =
                SqliteStore::open(&dir.join("bench.db"), Duration::from_secs(5)).expect("open");
            (Arc::new(store), None)
        }
        Backend::Postgres => {
            let url = std::env::var(PG_URL).expect("PostgreSQL URL");
            let name = format!("bp_bench_{}_{}", std::process::id(), fastrand::u32(..));
            ::postgres::Client::connect(&url, ::postgres::NoTls)
                .expect("connect")
                .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
                .expect("schema");
            let options = PgOptions {
                schema: Some(name.clone()),
                pool_size: 20,
                ..PgOptions::default()
            };
            let store = PgStore::open(&url, &options).expect("open");
            (Arc::new(store), Some(PgSchema { url, name }))
        }
    }
}

fn new_store(backend: Backend, dir: &std::path::Path) -> (Arc<dyn Store>, Option<PgSchema>) {
    let (store, schema) = open(backend, dir);
    let now = chrono::Utc::now();
    store.migrate(now).expect("migrate");
    store
        .sync_sites(
            &[SiteSpec {
                name: "bench".into(),
                enabled: true,
                max_concurrency: 64,
                sources: vec![],
            }],
            now,
        )
        .expect("sync");
    (store, schema)
}

fn label(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

fn run_request() -> NewRun {
    NewRun {
        site: "bench".into(),
        trigger: RunTrigger::Manual,
        slot_key: None,
        first_stage: Stage::Monitor,
        until: Some(Stage::Monitor),
        max_attempts: 3,
    }
}

fn empty_output() -> StageOutput {
    StageOutput::Monitor(MonitorOutput::default())
}

fn store_level(backend: Backend) {
    let n = jobs();
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _schema) = new_store(backend, dir.path());
    let req = ClaimRequest {
        owner: "bench".into(),
        lease: Duration::from_secs(60),
        global_limit: 64,
        only_runs: None,
    };
    let start = Instant::now();
    for _ in 0..n {
        let now = chrono::Utc::now();
        store.enqueue_run(&run_request(), now).expect("enqueue");
        let job = store
            .claim_next_job(&req, now)
            .expect("claim")
            .expect("job");
        store
            .complete_job(&job, "bench", &empty_output(), now)
            .expect("complete");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<8} store-level  : {n} jobs (enqueue + claim + complete) in {secs:.2} s = {:.0} jobs/s",
        label(backend),
        n as f64 / secs
    );
}

struct Noop;

impl StageRunner for Noop {
    fn run<'a>(&'a self, _ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(async { Ok(empty_output()) })
    }
}

struct Quiet;
impl Observer for Quiet {}

/// A stage the bench never reaches: it fails permanently if it ever runs.
struct NotInBench(Stage);

impl StageRunner for NotInBench {
    fn run<'a>(&'a self, _ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(async move {
            Err(StageError::Permanent(format!(
                "the {} stage is not part of the bench",
                self.0
            )))
        })
    }
}

fn engine_level(backend: Backend, workers: u32) {
    let n = jobs();
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _schema) = new_store(backend, dir.path());
    let text = format!(
        "data_dir = \"{}\"\n[engine]\nworkers = {workers}\nper_site_concurrency = 64\npoll_interval = \"5ms\"\n[sites.bench]\nmax_concurrency = 64\n",
        dir.path().display()
    );
    let cfg = Arc::new(
        config::parse(&text, None, &Environment::from_pairs([("HOME", "/tmp")])).expect("config"),
    );
    let not_built = |stage| -> Arc<dyn StageRunner> { Arc::new(NotInBench(stage)) };
    let stages = StageSet {
        monitor: Arc::new(Noop),
        topics: not_built(Stage::Topics),
        generate: not_built(Stage::Generate),
        check: not_built(Stage::Check),
        publish: not_built(Stage::Publish),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let start = Instant::now();
    let mut last = RunId(0);
    for _ in 0..n {
        last = store
            .enqueue_run(&run_request(), chrono::Utc::now())
            .expect("enqueue")
            .run_id();
    }
    let enqueued = start.elapsed();
    let engine = Arc::new(Engine {
        store: store.clone(),
        stages,
        config: cfg,
        clock: Arc::new(SystemClock),
        owner: "bench".into(),
        observer: Arc::new(Quiet),
    });
    let (stop, rx) = tokio::sync::watch::channel(false);
    let worker = rt.spawn(engine.run(rx, None));
    let check = store.clone();
    rt.block_on(async {
        loop {
            let s = check.clone();
            let done = tokio::task::spawn_blocking(move || {
                s.get_run(last).expect("run").status == RunStatus::Succeeded
            })
            .await
            .expect("join");
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = rt.block_on(worker);
    let succeeded = store
        .job_counts()
        .expect("counts")
        .get(&blog_poster::domain::lifecycle::JobStatus::Succeeded)
        .copied();
    assert_eq!(succeeded, Some(n as u64), "every job ran exactly once");
    println!(
        "{:<8} engine-level : {n} jobs through the engine ({workers} workers) in {secs:.2} s = {:.0} jobs/s (enqueue {:.2} s of it)",
        label(backend),
        n as f64 / secs,
        enqueued.as_secs_f64()
    );
}

fn main() {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var(PG_URL).is_ok_and(|u| !u.is_empty()) {
        backends.push(Backend::Postgres);
    } else {
        println!("{PG_URL} not set: SQLite only");
    }
    for backend in backends {
        store_level(backend);
        engine_level(backend, 4);
        engine_level(backend, 16);
    }
}
