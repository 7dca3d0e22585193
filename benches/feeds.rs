//! Benchmarks of competitor monitoring, recorded in docs/performance.md:
//!
//! - `parse`: parser throughput (MB/s) over a mixed corpus — RSS 2.0, RSS
//!   1.0, Atom, JSON Feed, sitemaps and article pages — generated here with
//!   realistic sizes and HTML;
//! - `monitor`: the real monitor stage over N sources (default 1,000) served
//!   from loopback by a fake feed server in a child process (so the figures
//!   are the monitor's own), a real SQLite store, the default `[monitor]`
//!   settings; wall time to the committed output, and the process RSS. A
//!   second run after the sources are due again shows conditional GETs (304).
//!
//!   cargo bench --bench feeds                 # both
//!   cargo bench --bench feeds -- parse
//!   cargo bench --bench feeds -- monitor 1000

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blog_poster::clock::{Clock, ManualClock};
use blog_poster::config::{self, Environment, SourceKind};
use blog_poster::domain::lifecycle::Stage;
use blog_poster::feeds::source::parse_document;
use blog_poster::pipeline::monitor::Monitor;
use blog_poster::pipeline::stage::{StageContext, StageRunner};
use blog_poster::store::open::site_specs;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{ClaimRequest, NewRun, RunTrigger, StageOutput, Store};
use reqwest::Url;

const ITEMS_PER_FEED: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if std::env::var_os("FEEDS_BENCH_SERVE").is_some() {
        serve();
        return;
    }
    let what = args.first().map(String::as_str).unwrap_or("all");
    if matches!(what, "all" | "parse") {
        bench_parse();
    }
    if matches!(what, "all" | "monitor") {
        let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        bench_monitor(n);
    }
}

// ---- corpus ---------------------------------------------------------------

const WORDS: &[&str] = &[
    "wordpress",
    "backup",
    "hosting",
    "droplet",
    "cache",
    "nginx",
    "uptime",
    "monitoring",
    "security",
    "plugin",
    "theme",
    "performance",
    "database",
    "small",
    "business",
    "website",
    "email",
    "deliverability",
    "server",
    "static",
    "site",
    "generator",
    "cdn",
    "latency",
    "restore",
    "strategy",
    "update",
    "php",
    "tls",
    "dns",
];

fn words(seed: usize, n: usize) -> String {
    (0..n)
        .map(|i| WORDS[(seed * 31 + i * 7 + i * i) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn html_paragraphs(seed: usize, n: usize) -> String {
    (0..n)
        .map(|p| {
            format!(
                "<p>{} <a href=\"https://x.example/{p}\">{}</a> <strong>{}</strong>.</p>",
                words(seed + p, 40),
                words(p, 3),
                words(seed, 2)
            )
        })
        .collect()
}

pub fn rss2(feed: usize, items: usize) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><channel><title>Feed {feed}</title><link>https://c{feed}.example/</link><description>d</description><ttl>60</ttl>\n"
    );
    for i in 0..items {
        s.push_str(&format!(
            "<item><title>{}</title><link>https://c{feed}.example/p/{i}</link><guid isPermaLink=\"false\">c{feed}-{i}</guid><pubDate>Mon, 02 Mar 2026 09:{:02}:00 GMT</pubDate><description><![CDATA[{}]]></description></item>\n",
            words(feed * 100 + i, 6),
            i % 60,
            html_paragraphs(feed + i, 3)
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

fn atom(feed: usize, items: usize) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>A{feed}</title><id>urn:a{feed}</id><updated>2026-03-02T10:00:00Z</updated>\n"
    );
    for i in 0..items {
        s.push_str(&format!(
            "<entry><title>{}</title><link href=\"https://a{feed}.example/{i}\"/><id>urn:a{feed}:{i}</id><updated>2026-03-02T10:00:00Z</updated><content type=\"html\">{}</content></entry>\n",
            words(i, 5),
            html_paragraphs(i, 3).replace('<', "&lt;").replace('>', "&gt;")
        ));
    }
    s.push_str("</feed>\n");
    s
}

fn rss1(feed: usize, items: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\"?>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\"><channel rdf:about=\"https://r.example/\"><title>R</title><link>https://r.example/</link><description>d</description></channel>\n",
    );
    for i in 0..items {
        s.push_str(&format!(
            "<item rdf:about=\"https://r{feed}.example/{i}\"><title>{}</title><link>https://r{feed}.example/{i}</link><description>{}</description></item>\n",
            words(i, 6),
            words(i + 1, 60)
        ));
    }
    s.push_str("</rdf:RDF>\n");
    s
}

fn json_feed(feed: usize, items: usize) -> String {
    let items: Vec<serde_json::Value> = (0..items)
        .map(|i| {
            serde_json::json!({
                "id": format!("j{feed}-{i}"),
                "url": format!("https://j{feed}.example/{i}"),
                "title": words(i, 6),
                "content_html": html_paragraphs(i, 3),
                "date_published": "2026-03-02T10:00:00Z"
            })
        })
        .collect();
    serde_json::json!({"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": items})
        .to_string()
}

fn sitemap(urls: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for i in 0..urls {
        s.push_str(&format!(
            "<url><loc>https://s.example/blog/{}-{i}</loc><lastmod>2026-02-{:02}</lastmod></url>\n",
            words(i, 4).replace(' ', "-"),
            i % 28 + 1
        ));
    }
    s.push_str("</urlset>\n");
    s
}

fn article_page(seed: usize) -> String {
    format!(
        "<!doctype html><html><head><title>{}</title><link rel=\"canonical\" href=\"https://p.example/{seed}\"><script>var t = {seed};</script></head>\
         <body><nav>{}</nav><article><h1>{}</h1>{}</article><aside>{}</aside><footer>© p.example</footer></body></html>",
        words(seed, 6),
        (0..20)
            .map(|i| format!("<a href=\"/{i}\">{}</a>", words(i, 2)))
            .collect::<String>(),
        words(seed, 6),
        html_paragraphs(seed, 60),
        words(seed + 3, 50)
    )
}

fn corpus() -> Vec<(&'static str, SourceKind, Vec<u8>)> {
    let mut c = Vec::new();
    for f in 0..10 {
        c.push(("rss2", SourceKind::Auto, rss2(f, 30).into_bytes()));
        c.push(("atom", SourceKind::Auto, atom(f, 30).into_bytes()));
        c.push(("rss1", SourceKind::Auto, rss1(f, 30).into_bytes()));
        c.push(("jsonfeed", SourceKind::Auto, json_feed(f, 30).into_bytes()));
        c.push(("page", SourceKind::Page, article_page(f).into_bytes()));
    }
    for _ in 0..3 {
        c.push(("sitemap", SourceKind::Sitemap, sitemap(5000).into_bytes()));
    }
    c
}

fn bench_parse() {
    let corpus = corpus();
    let url = Url::parse("https://bench.example/feed").expect("url");
    let total_bytes: usize = corpus.iter().map(|(_, _, b)| b.len()).sum();
    println!(
        "parse: corpus of {} documents, {:.1} MB",
        corpus.len(),
        total_bytes as f64 / 1e6
    );
    let mut per_kind: std::collections::BTreeMap<&str, (usize, Duration)> = Default::default();
    let rounds = 5;
    let started = Instant::now();
    for _ in 0..rounds {
        for (kind, source_kind, bytes) in &corpus {
            let t = Instant::now();
            let doc = parse_document(bytes, None, &url, *source_kind, 64 << 20);
            let e = t.elapsed();
            assert!(doc.is_ok(), "{kind}: {:?}", doc.err());
            let slot = per_kind.entry(kind).or_default();
            slot.0 += bytes.len();
            slot.1 += e;
        }
    }
    let all = started.elapsed();
    for (kind, (bytes, time)) in &per_kind {
        println!(
            "  {kind:<9} {:>8.1} MB/s",
            *bytes as f64 / 1e6 / time.as_secs_f64()
        );
    }
    println!(
        "  all       {:>8.1} MB/s ({} MB parsed in {:.2} s)",
        (total_bytes * rounds) as f64 / 1e6 / all.as_secs_f64(),
        total_bytes * rounds / 1_000_000,
        all.as_secs_f64()
    );
}

// ---- monitor ----------------------------------------------------------------

/// The child: a fake feed server on loopback answering /feed/N.xml with an
/// RSS feed (ETag, Cache-Control; 304 for a matching If-None-Match).
fn serve() {
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
    struct Feeds;
    impl Respond for Feeds {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let n: usize = req
                .url
                .path()
                .trim_start_matches("/feed/")
                .trim_end_matches(".xml")
                .parse()
                .unwrap_or(0);
            let etag = format!("\"f{n}\"");
            if req
                .headers
                .get("if-none-match")
                .and_then(|v| v.to_str().ok())
                == Some(etag.as_str())
            {
                return ResponseTemplate::new(304).insert_header("etag", etag.as_str());
            }
            ResponseTemplate::new(200)
                .set_body_raw(
                    rss2(n, ITEMS_PER_FEED),
                    "application/rss+xml; charset=utf-8",
                )
                .insert_header("etag", etag.as_str())
                .insert_header("cache-control", "max-age=600")
        }
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("GET"))
            .respond_with(Feeds)
            .mount(&server)
            .await;
        println!("{}", server.uri());
        // Serve until the parent closes our stdin.
        let mut line = String::new();
        let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
    });
}

fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn bench_monitor(n: usize) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .env("FEEDS_BENCH_SERVE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the fake feed server");
    let mut uri = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut uri)
        .expect("server address");
    let uri = uri.trim().to_string();

    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = format!(
        "data_dir = \"{}\"\n[sites.bench]\npublisher = \"outbox\"\n",
        dir.path().display()
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[sites.bench.sources]]\nurl = \"{uri}/feed/{i}.xml\"\nkind = \"feed\"\n"
        ));
    }
    let env = Environment::from_pairs([("HOME", dir.path().to_str().expect("utf8"))]);
    let config = Arc::new(config::parse(&text, None, &env).expect("config"));
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("bench.db"), Duration::from_secs(5)).expect("store"),
    );
    let start = chrono::Utc::now();
    store.migrate(start).expect("migrate");
    store.sync_sites(&site_specs(&config), start).expect("sync");
    let clock = Arc::new(ManualClock::new(start));
    let (rss_before, _) = rss_kib();
    println!(
        "monitor: {n} sources on {uri}, {ITEMS_PER_FEED} items each; monitor.concurrency {}, per_host_concurrency {}",
        config.monitor.concurrency, config.monitor.per_host_concurrency
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for round in ["first run (200s)", "second run (304s)"] {
        let now = clock.now();
        store
            .enqueue_run(
                &NewRun {
                    site: "bench".into(),
                    trigger: RunTrigger::Manual,
                    slot_key: None,
                    first_stage: Stage::Monitor,
                    until: Some(Stage::Monitor),
                    max_attempts: 1,
                },
                now,
            )
            .expect("enqueue");
        let job = store
            .claim_next_job(
                &ClaimRequest {
                    owner: "bench".into(),
                    lease: Duration::from_secs(600),
                    global_limit: 4,
                    only_runs: None,
                },
                now,
            )
            .expect("claim")
            .expect("job");
        let ctx = StageContext {
            job: job.clone(),
            site: Arc::new(config.sites[0].clone()),
            config: config.clone(),
            store: store.clone(),
            clock: clock.clone(),
        };
        let t = Instant::now();
        let output = rt.block_on(Monitor.run(&ctx)).expect("monitor");
        let fetched = t.elapsed();
        store
            .complete_job(&job, "bench", &output, clock.now())
            .expect("commit");
        let total = t.elapsed();
        let StageOutput::Monitor(m) = &output else {
            unreachable!("monitor output")
        };
        let failed = m.sources.iter().filter(|s| s.error.is_some()).count();
        let unchanged = m.sources.iter().filter(|s| s.not_modified).count();
        let (rss, peak) = rss_kib();
        println!(
            "  {round}: {} sources ({failed} failed, {unchanged} unchanged), {} items; fetch+parse {:.2} s, with commit {:.2} s; RSS {:.1} MiB (peak {:.1} MiB, {:.1} MiB before)",
            m.sources.len(),
            m.items.len(),
            fetched.as_secs_f64(),
            total.as_secs_f64(),
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
            rss_before as f64 / 1024.0
        );
        assert_eq!(
            failed,
            0,
            "{:?}",
            m.sources.iter().find(|s| s.error.is_some())
        );
        clock.advance(Duration::from_secs(3600));
    }
    let stored = store
        .list_source_items("bench", None, u32::MAX)
        .expect("items")
        .len();
    println!("  stored items: {stored}");
    drop(child.stdin.take());
    let _ = child.wait();
}
