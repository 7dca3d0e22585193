//! Benchmark: the CPU the pipeline spends per article outside the LLM and
//! the network. N runs (monitor and topics outputs already stored, as those
//! stages would leave them) go through generate → check → publish on the
//! real engine, SQLite store and outbox, with an in-process provider that
//! answers at once with a fixed article and fact check. The process's CPU
//! time (user + system, all threads, from /proc/self/stat) over the whole
//! batch, divided by N, is the overhead per article: prompt building,
//! budget reservations and call records, parsing, repairs, link audits,
//! checks, scoring, job claims and commits, the outbox files.
//!
//!     cargo run --release --example bench_overhead -- 300

use std::sync::Arc;
use std::time::{Duration, Instant};

use blog_poster::clock::SystemClock;
use blog_poster::config::{self, Environment};
use blog_poster::content::checks::run_checks;
use blog_poster::content::draft::{finalize, parse_draft};
use blog_poster::content::gate::{FactCheck, decide, parse_fact_check};
use blog_poster::domain::BoxFuture;
use blog_poster::domain::lifecycle::{RunStatus, Stage};
use blog_poster::llm::service::LlmService;
use blog_poster::llm::{ChatRequest, Completion, Finish, Provider, ProviderError, Usage};
use blog_poster::pipeline::engine::{Engine, Observer};
use blog_poster::pipeline::stage::StageSet;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::*;

/// Answers instantly: the LLM's time is not the pipeline's.
struct InstantProvider {
    article: String,
    fact_check: String,
}

impl Provider for InstantProvider {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        "claude-sonnet-5-5"
    }

    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let text = if req.system.contains("fact-checker") {
                self.fact_check.clone()
            } else {
                self.article.clone()
            };
            Ok(Completion {
                text,
                usage: Some(Usage {
                    input_tokens: 3000,
                    output_tokens: 1500,
                }),
                finish: Finish::Complete,
            })
        })
    }
}

struct Quiet;
impl Observer for Quiet {}

fn article() -> String {
    let para = "Rust SQLite setups are simple and fast for small teams. You open one file and you write rows, \
                and the database keeps your data safe on disk. Readers do not block the writer in WAL mode, \
                so a small server can serve many pages while it stores new ones.";
    let mut body = String::from(
        "Rust SQLite is a calm way to store data for a small site. See [the source](https://comp.example/rust-sqlite-wal).\n\n",
    );
    for (i, h) in [
        "Why rust sqlite works",
        "The WAL file",
        "Backups",
        "Getting started",
    ]
    .iter()
    .enumerate()
    {
        body.push_str(&format!("## {h}\n\n"));
        for j in 0..4 {
            body.push_str(&format!("{para} Point {i}.{j} matters here.\n\n"));
        }
    }
    format!(
        "---\ntitle: Rust SQLite in WAL mode\nslug: rust-sqlite-wal\nmeta_description: How Rust SQLite setups use WAL mode so readers and one writer work at once, and what to watch for.\nfocus_keyword: rust sqlite\nexcerpt: WAL mode in short.\ntags: rust, sqlite, databases\ncategory: Engineering\n---\n{body}"
    )
}

fn fact_check() -> String {
    serde_json::json!({"claims": (0..12).map(|i| serde_json::json!({
        "claim": format!("Claim number {i} about WAL mode"), "verdict": if i % 4 == 0 { "unsupported" } else { "supported" },
        "source": 1, "note": "Source 1 says so."
    })).collect::<Vec<_>>()})
    .to_string()
}

/// (user, system) CPU seconds of this process, all threads (live and ended).
fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After "pid (comm)": state is field 3, utime 14, stime 15 (1-based),
    // in USER_HZ ticks (100 per second on Linux).
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) / 100.0, ticks(15) / 100.0)
}

fn cpu_seconds() -> f64 {
    let (u, s) = cpu_times();
    u + s
}

fn seed(store: &dyn Store, n: usize, until: Option<Stage>) -> Vec<RunId> {
    let now = chrono::Utc::now();
    let mut runs = Vec::with_capacity(n);
    for r in 0..n {
        let run = store
            .enqueue_run(
                &NewRun {
                    site: "bench".into(),
                    trigger: RunTrigger::Manual,
                    slot_key: None,
                    first_stage: Stage::Monitor,
                    until,
                    max_attempts: 3,
                },
                now,
            )
            .expect("enqueue")
            .run_id();
        let req = ClaimRequest {
            owner: "seed".into(),
            lease: Duration::from_secs(600),
            global_limit: 100_000,
            only_runs: Some(vec![run]),
        };
        let items = (0..5)
            .map(|i| NewSourceItem {
                source_url: "https://comp.example/feed.xml".into(),
                key_hash: format!("item-{r}-{i}"),
                guid: None,
                url: Some(format!("https://comp.example/rust-sqlite-wal-{r}-{i}")),
                title: format!("Running SQLite from Rust, part {i}"),
                summary: "WAL mode lets readers and one writer work at the same time. ".repeat(8),
                published_at: None,
            })
            .collect();
        for output in [
            StageOutput::Monitor(MonitorOutput {
                sources: vec![],
                items,
            }),
            StageOutput::Topics(TopicsOutput {
                candidates: vec![TopicCandidate {
                    keyword: "rust sqlite".into(),
                    score: 1.0,
                    kept: true,
                    reason: "bench".into(),
                }],
                ..Default::default()
            }),
        ] {
            let job = store
                .claim_next_job(&req, now)
                .expect("claim")
                .expect("job");
            store
                .complete_job(&job, "seed", &output, now)
                .expect("complete");
        }
        runs.push(run);
    }
    runs
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    // `--until-check`: generate and check only, without the outbox publisher.
    let until = std::env::args()
        .any(|a| a == "--until-check")
        .then_some(Stage::Check);
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "data_dir = \"{}\"\n[engine]\nworkers = 4\nper_site_concurrency = 4\npoll_interval = \"50ms\"\n\
         [llm.providers.anthropic]\nkind = \"anthropic\"\napi_key_env = \"BENCH_KEY\"\n\
         [budget]\nglobal_daily = \"unlimited\"\nglobal_monthly = \"unlimited\"\nsite_daily = \"unlimited\"\nsite_monthly = \"unlimited\"\n\
         [sites.bench]\n[sites.bench.generate]\ntarget_words = 1000\n\
         [sites.bench.check]\nauto_publish = true\nmin_score = 50\nmin_reading_ease = 0.0\n",
        dir.path().display()
    );
    let env = Environment::from_pairs([("HOME", "/nonexistent"), ("BENCH_KEY", "bench")]);
    let config = Arc::new(config::parse(&text, None, &env).expect("config"));
    let store: Arc<dyn Store> = {
        let s =
            SqliteStore::open(&dir.path().join("bench.db"), Duration::from_secs(10)).expect("open");
        s.migrate(chrono::Utc::now()).expect("migrate");
        s.sync_sites(
            &blog_poster::store::open::site_specs(&config),
            chrono::Utc::now(),
        )
        .expect("sync");
        Arc::new(s)
    };
    let runs = seed(store.as_ref(), n, until);
    let provider = Arc::new(InstantProvider {
        article: article(),
        fact_check: fact_check(),
    });
    let stages = StageSet::with_llm(Arc::new(LlmService::with_providers(vec![provider])));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let (times0, wall0) = (cpu_times(), Instant::now());
    rt.block_on(async {
        let engine = Arc::new(Engine {
            store: store.clone(),
            stages,
            config: config.clone(),
            clock: Arc::new(SystemClock),
            owner: "bench".into(),
            observer: Arc::new(Quiet),
        });
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(engine.run(stop_rx, None));
        let last = *runs.last().expect("runs");
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let s = store.clone();
            let counts = tokio::task::spawn_blocking(move || s.job_counts())
                .await
                .expect("join")
                .expect("counts");
            let busy = counts.iter().any(|(status, count)| {
                *count > 0
                    && matches!(
                        status,
                        blog_poster::domain::lifecycle::JobStatus::Queued
                            | blog_poster::domain::lifecycle::JobStatus::Running
                            | blog_poster::domain::lifecycle::JobStatus::Waiting
                    )
            });
            if !busy {
                break;
            }
        }
        let _ = stop.send(true);
        worker.await.expect("engine");
        let _ = last;
    });
    let times1 = cpu_times();
    let (user, sys) = (times1.0 - times0.0, times1.1 - times0.1);
    let (cpu, wall) = (user + sys, wall0.elapsed());

    let published = runs
        .iter()
        .filter(|r| {
            store
                .get_run(**r)
                .map(|x| x.status == RunStatus::Succeeded)
                .unwrap_or(false)
        })
        .count();
    assert_eq!(published, n, "every run should succeed");
    let calls = store.list_llm_calls(None, 100_000).expect("calls").len();

    // The pure content work alone (parse, repair, checks, score), for scale.
    let site = config.site("bench").expect("site");
    let reps = 2000;
    let c0 = cpu_seconds();
    for _ in 0..reps {
        let (a, _) = finalize(parse_draft(&article()).expect("parse"), "rust sqlite");
        let checks = run_checks(&a, &site.check, "en", &[]);
        let claims = parse_fact_check(&fact_check()).expect("claims");
        let _ = decide(
            &checks,
            &FactCheck::Done(claims),
            &site.check,
            serde_json::Value::Null,
        );
    }
    let content_ms = (cpu_seconds() - c0) * 1000.0 / reps as f64;

    let chain = if until.is_some() {
        "generate → check"
    } else {
        "generate → check → publish"
    };
    println!("articles: {n} ({chain}), LLM calls: {calls}");
    println!(
        "CPU total: {cpu:.2} s (user {user:.2} s, system {sys:.2} s), wall: {:.2} s",
        wall.as_secs_f64()
    );
    println!(
        "CPU per article: {:.2} ms (target ≤ 5 ms)",
        cpu * 1000.0 / n as f64
    );
    println!(
        "wall per article: {:.2} ms (4 workers; includes SQLite and outbox fsyncs)",
        wall.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "of which pure content work (parse, repair, checks, score): {content_ms:.2} ms CPU per article"
    );
}
