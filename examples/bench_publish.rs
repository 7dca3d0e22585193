//! Benchmark: blog-poster's own overhead per WordPress publish, without the
//! time spent waiting for WordPress.
//!
//! Publishes N approved articles (as drafts, with a category and two tags,
//! SEO probe on) to a real WordPress through the real publish stage, one
//! after another, each as the engine does it: claim the job, run the stage,
//! commit the output. For every publish it measures
//!   wall     — claim + stage + commit, on the monotonic clock;
//!   network  — time inside HTTP requests to WordPress (request sent →
//!              answer read), summed by the client itself;
//!   overhead — wall − network: our code, the SQLite writes (ledger intent
//!              and commit), Markdown → HTML, JSON, scheduling.
//! and the process CPU time (utime + stime from /proc/self/stat; WordPress
//! runs in other processes, so all of it is ours).
//!
//! Usage (a site from ../shared/wordpress/wp.sh):
//!   eval "$(../shared/wordpress/wp.sh start --name bp-pretty --port 18181)"
//!   cargo run --release --example bench_publish -- 200

use std::sync::Arc;
use std::time::{Duration, Instant};

use blog_poster::clock::{Clock, SystemClock};
use blog_poster::config::{self, Environment, PublisherConfig};
use blog_poster::domain::lifecycle::Stage;
use blog_poster::pipeline::publish::Publisher;
use blog_poster::pipeline::stage::{StageContext, StageRunner};
use blog_poster::pipeline::workspace::open_for_work;
use blog_poster::store::*;

fn cpu_time() -> Duration {
    // Fields 14 and 15 (utime, stime) in clock ticks of 1/100 s (USER_HZ).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // After "(comm)": state ppid pgrp session tty_nr tpgid flags minflt
    // cminflt majflt cmajflt utime stime …
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn prepare(store: &dyn Store, i: usize, nonce: &str) -> RunId {
    let now = chrono::Utc::now();
    let run = store
        .enqueue_run(
            &NewRun {
                site: "bench".into(),
                trigger: RunTrigger::Manual,
                slot_key: None,
                first_stage: Stage::Monitor,
                until: None,
                max_attempts: 3,
            },
            now,
        )
        .expect("enqueue")
        .run_id();
    let req = ClaimRequest {
        owner: "prepare".into(),
        lease: Duration::from_secs(60),
        global_limit: 100,
        only_runs: Some(vec![run]),
    };
    let body = (0..12)
        .map(|p| format!("## Part {p}\n\nSome **bold** text, a [link](https://example.com/{p}) and a list:\n\n- one\n- two\n"))
        .collect::<String>();
    let outputs = [
        StageOutput::Monitor(MonitorOutput::default()),
        StageOutput::Topics(TopicsOutput {
            candidates: vec![TopicCandidate {
                keyword: format!("bench {i}"),
                score: 1.0,
                kept: true,
                reason: "bench".into(),
            }],
            ..Default::default()
        }),
        StageOutput::Generate(GenerateOutput {
            notes: Default::default(),
            article: NewArticle {
                topic: format!("bench {i}"),
                title: format!("Benchmark article {i}"),
                slug: format!("bench-{nonce}-{i}"),
                meta_description: "A benchmark article.".into(),
                focus_keyword: "benchmark".into(),
                excerpt: "Benchmark.".into(),
                tags: vec!["Benchmark".into(), "Überprüfung".into()],
                category: Some("Benchmarks".into()),
                body_markdown: body,
            },
        }),
    ];
    for out in outputs {
        let job = store
            .claim_next_job(&req, chrono::Utc::now())
            .expect("claim")
            .expect("job");
        store
            .complete_job(&job, "prepare", &out, chrono::Utc::now())
            .expect("complete");
    }
    let id = store
        .article_for_run(run)
        .expect("read")
        .expect("article")
        .id;
    let job = store
        .claim_next_job(&req, chrono::Utc::now())
        .expect("claim")
        .expect("check job");
    let check = StageOutput::Check(CheckOutput {
        article_id: id,
        score: 90,
        report: serde_json::json!({}),
        decision: CheckDecision::Publish,
    });
    store
        .complete_job(&job, "prepare", &check, chrono::Utc::now())
        .expect("complete");
    run
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let (Ok(url), Ok(user), Ok(password)) = (
        std::env::var("WP_URL"),
        std::env::var("WP_USER"),
        std::env::var("WP_APP_PASSWORD"),
    ) else {
        eprintln!(
            "set WP_URL, WP_USER and WP_APP_PASSWORD: eval \"$(../shared/wordpress/wp.sh start --name bp-pretty --port 18181)\""
        );
        std::process::exit(2);
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "data_dir = \"{}\"\n[log]\nlevel = \"warn\"\n[sites.bench]\npublisher = \"wordpress\"\n\
         [sites.bench.wordpress]\nurl = \"{url}\"\nusername = \"{user}\"\napp_password_env = \"BENCH_PW\"\n\
         post_status = \"draft\"\nmin_interval = \"0s\"\n",
        dir.path().display()
    );
    let home = dir.path().display().to_string();
    let env = Environment::from_pairs([("HOME", home.as_str()), ("BENCH_PW", password.as_str())]);
    let config = Arc::new(config::parse(&text, None, &env).expect("config"));
    let site = Arc::new(config.site("bench").expect("site").clone());
    let PublisherConfig::Wordpress(wp) = &site.publisher else {
        unreachable!("the bench site publishes to WordPress")
    };
    let ws = open_for_work(&config, chrono::Utc::now()).expect("open");
    let store = ws.store.clone();
    let nonce = format!("{:x}", chrono::Utc::now().timestamp_millis());
    let runs: Vec<RunId> = (0..=n)
        .map(|i| prepare(store.as_ref(), i, &nonce))
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let publisher = Publisher::new();
    let client = publisher.client("bench", wp).expect("client");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut rows = Vec::new();
    let mut cpu_start = cpu_time();
    for (i, run) in runs.iter().enumerate() {
        let (net0, req0) = client.network_time();
        let started = Instant::now();
        let req = ClaimRequest {
            owner: "bench".into(),
            lease: Duration::from_secs(60),
            global_limit: 100,
            only_runs: Some(vec![*run]),
        };
        let s = store.clone();
        let job = rt
            .block_on(async {
                tokio::task::spawn_blocking(move || s.claim_next_job(&req, chrono::Utc::now()))
                    .await
            })
            .expect("task")
            .expect("claim")
            .expect("publish job");
        let ctx = StageContext {
            job: job.clone(),
            site: site.clone(),
            config: config.clone(),
            store: store.clone(),
            clock: clock.clone(),
        };
        let output = rt.block_on(publisher.run(&ctx)).expect("publish");
        let s = store.clone();
        rt.block_on(async {
            tokio::task::spawn_blocking(move || {
                s.complete_job(&job, "bench", &output, chrono::Utc::now())
            })
            .await
        })
        .expect("task")
        .expect("commit");
        let wall = started.elapsed();
        let (net1, req1) = client.network_time();
        let network = net1 - net0;
        if i == 0 {
            println!(
                "first publish (discovery, login, SEO probe): wall {}, network {} in {} requests, overhead {}",
                ms(wall),
                ms(network),
                req1 - req0,
                ms(wall.saturating_sub(network))
            );
            cpu_start = cpu_time();
            continue;
        }
        rows.push((wall, network, wall.saturating_sub(network), req1 - req0));
    }
    let cpu = cpu_time().saturating_sub(cpu_start);
    let mut walls: Vec<Duration> = rows.iter().map(|r| r.0).collect();
    let mut nets: Vec<Duration> = rows.iter().map(|r| r.1).collect();
    let mut overheads: Vec<Duration> = rows.iter().map(|r| r.2).collect();
    walls.sort();
    nets.sort();
    overheads.sort();
    let requests: u64 = rows.iter().map(|r| r.3).sum();
    println!(
        "{} publishes after the first, {} requests each on average",
        rows.len(),
        requests / rows.len().max(1) as u64
    );
    println!(
        "wall      median {}  p95 {}",
        ms(percentile(&walls, 0.5)),
        ms(percentile(&walls, 0.95))
    );
    println!(
        "network   median {}  p95 {}",
        ms(percentile(&nets, 0.5)),
        ms(percentile(&nets, 0.95))
    );
    println!(
        "overhead  median {}  p95 {}  max {}",
        ms(percentile(&overheads, 0.5)),
        ms(percentile(&overheads, 0.95)),
        ms(overheads.last().copied().unwrap_or_default())
    );
    println!(
        "CPU       {} per publish ({} total for {})",
        ms(cpu / rows.len().max(1) as u32),
        ms(cpu),
        rows.len()
    );
}
