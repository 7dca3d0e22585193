//! /api/v1/status under load: `serve` (release build) with 10,000 articles
//! (and their runs, 50,000 jobs, 20,000 LLM calls) stored, and a load
//! generator on loopback — keep-alive connections, one thread each — that
//! asks for /api/v1/status with an admin token for a fixed time. Reports
//! requests/s, latency percentiles, and the serve process's RSS (VmRSS
//! sampled during the load, VmHWM at the end).
//!
//! Run: `cargo bench --bench api [-- CONNECTIONS SECONDS PATH]`
//! (defaults: 4 connections, 10 s, /api/v1/status). Figures go to
//! docs/performance.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{NewApiToken, SiteSpec, SourceSpec, Store, TokenRole};
use blog_poster::web::auth::{generate_token, hash_token};
use rusqlite::params;

const ARTICLES: i64 = 10_000;

fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Fills the database the way a busy year would: articles with their runs,
/// five jobs per run, two LLM calls per article, a few sources.
fn seed(db: &std::path::Path) -> String {
    let store = SqliteStore::open(db, Duration::from_secs(5)).expect("open");
    let now = chrono::Utc::now();
    store.migrate(now).expect("migrate");
    let sites: Vec<SiteSpec> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| SiteSpec {
            name: (*n).into(),
            enabled: true,
            max_concurrency: 2,
            sources: (0..5)
                .map(|i| SourceSpec {
                    url: format!("https://{n}-rival{i}.example/feed.xml"),
                    kind: "feed".into(),
                })
                .collect(),
        })
        .collect();
    store.sync_sites(&sites, now).expect("sync");
    let token = generate_token().expect("token");
    store
        .create_api_token(
            &NewApiToken {
                name: "bench".into(),
                role: TokenRole::Admin,
                token_hash: hash_token(&token),
            },
            now,
        )
        .expect("token");
    drop(store);

    let mut conn = rusqlite::Connection::open(db).expect("open");
    let tx = conn.transaction().expect("tx");
    let base = now.timestamp_millis() - ARTICLES * 60_000;
    for i in 0..ARTICLES {
        let at = base + i * 60_000;
        let site = 1 + i % 3;
        tx.execute(
            "INSERT INTO runs (site_id, trigger, status, outcome, created_at, finished_at) VALUES (?1, 'schedule', 'succeeded', 'published', ?2, ?3)",
            params![site, at, at + 30_000],
        )
        .expect("run");
        let run = tx.last_insert_rowid();
        for stage in ["monitor", "topics", "generate", "check", "publish"] {
            tx.execute(
                "INSERT INTO jobs (run_id, site_id, stage, status, attempts, max_attempts, not_before, created_at, updated_at, started_at, finished_at)
                 VALUES (?1, ?2, ?3, 'succeeded', 1, 5, ?4, ?4, ?5, ?4, ?5)",
                params![run, site, stage, at, at + 5_000],
            )
            .expect("job");
        }
        let body = format!(
            "# Article {i}\n\n{}",
            "Some words about the topic. ".repeat(150)
        );
        tx.execute(
            "INSERT INTO articles (site_id, run_id, topic, status, title, slug, body_markdown, check_score, created_at, updated_at, published_at)
             VALUES (?1, ?2, ?3, 'published', ?4, ?5, ?6, 82, ?7, ?7, ?7)",
            params![site, run, format!("topic {i}"), format!("Article number {i}"), format!("article-{i}"), body, at],
        )
        .expect("article");
        let article = tx.last_insert_rowid();
        for purpose in ["generate", "check"] {
            tx.execute(
                "INSERT INTO llm_calls (site_id, article_id, run_id, provider, model, purpose, input_tokens, output_tokens, cost_micros, latency_ms, outcome, created_at)
                 VALUES (?1, ?2, ?3, 'anthropic', 'claude-sonnet', ?4, 3000, 1500, 31000, 9000, 'ok', ?5)",
                params![site, article, run, purpose, at],
            )
            .expect("call");
        }
    }
    tx.commit().expect("commit");
    token
}

fn start(config: &std::path::Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blog-poster"))
        .args(["--config", config.to_str().expect("utf8"), "serve"])
        .env_remove("RUST_LOG")
        // As systemd/blog-poster.service sets it.
        .env("MALLOC_ARENA_MAX", "2")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("blog-poster ready") => break,
            Some(Ok(_)) => {}
            other => panic!("serve ended before ready: {other:?}"),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

/// One keep-alive connection: sends the request, reads one response.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    request: Vec<u8>,
}

impl Conn {
    fn new(addr: SocketAddr, path: &str, token: &str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Conn {
            stream,
            buf: Vec::with_capacity(16 << 10),
            request: format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .into_bytes(),
        }
    }

    /// Returns the status code.
    fn get(&mut self) -> u16 {
        self.stream.write_all(&self.request).expect("write");
        let mut chunk = [0u8; 16384];
        loop {
            if let Some(end) = self
                .buf
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + 4)
            {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("status");
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .expect("content-length");
                while self.buf.len() < end + len {
                    let n = self.stream.read(&mut chunk).expect("read");
                    assert!(n > 0, "server closed");
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                self.buf.drain(..end + len);
                return status;
            }
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "server closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let conns: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(4);
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let path = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/api/v1/status".into());

    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let db = dir.path().join("blog-poster.db");
    let t0 = Instant::now();
    let token = seed(&db);
    println!(
        "seeded {ARTICLES} articles in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let mut cfg = format!(
        "data_dir = \"{}\"\n[log]\nformat = \"plain\"\n[http]\nlisten = \"{addr}\"\n",
        dir.path().display()
    );
    for n in ["alpha", "beta", "gamma"] {
        cfg.push_str(&format!("[sites.{n}]\nschedule = \"0 6 * * *\"\n"));
        for i in 0..5 {
            cfg.push_str(&format!("[[sites.{n}.sources]]\nurl = \"https://{n}-rival{i}.example/feed.xml\"\nkind = \"feed\"\n"));
        }
    }
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).expect("config");
    let mut child = start(&config);
    let pid = child.id();
    println!(
        "serve ready: VmRSS {} KiB before load",
        proc_kb(pid, "VmRSS:")
    );

    // Warm-up, then the measured window.
    let mut warm = Conn::new(addr, &path, &token);
    for _ in 0..200 {
        assert_eq!(warm.get(), 200);
    }
    drop(warm);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, path, token) = (stop.clone(), path.clone(), token.clone());
            std::thread::spawn(move || {
                let mut c = Conn::new(addr, &path, &token);
                let mut lat = Vec::with_capacity(200_000);
                let mut errors = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if c.get() != 200 {
                        errors += 1;
                    }
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                (lat, errors)
            })
        })
        .collect();
    let mut rss_max = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(200));
        rss_max = rss_max.max(proc_kb(pid, "VmRSS:"));
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (lat, e) = w.join().expect("worker");
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let hwm = proc_kb(pid, "VmHWM:");
    let threads = proc_kb(pid, "Threads:");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();

    println!("GET {path}: {conns} keep-alive connections, {elapsed:.1} s");
    println!(
        "  requests {} ({errors} non-200), {:.0} requests/s",
        all.len(),
        all.len() as f64 / elapsed
    );
    println!(
        "  latency ms: p50 {:.3}, p90 {:.3}, p99 {:.3}, p99.9 {:.3}, max {:.3}",
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        percentile(&all, 0.999),
        all.last().copied().unwrap_or(0.0)
    );
    println!("  serve: VmRSS max during load {rss_max} KiB, VmHWM {hwm} KiB, threads {threads}");
}
