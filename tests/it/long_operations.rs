//! Long operations through the running daemon, under systemd's watchdog as
//! a test harness plays it: a fake `NOTIFY_SOCKET` (a Unix datagram socket
//! that records every `WATCHDOG=1`) and `WATCHDOG_USEC` of 2 s. A `db copy`
//! of a database that takes longer than that answers 202, the API caller
//! follows the operation to "done", and the pings never stop for as long
//! as WatchdogSec (before the fix, only the scheduler pinged, and the copy
//! pauses it). The CLI follows a copy and a restore through the daemon the
//! same way, and a second operation while one runs is refused.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dbcopy::fill;
use crate::harness::{
    command, ready_file, run, wait_for_exit, wait_for_value, wait_ready, write_config,
};
use crate::pg_env;
use crate::web_client::{create_token, request};

/// systemd's WatchdogSec for these tests.
const WATCHDOG: Duration = Duration::from_secs(2);

/// What systemd would hear on `NOTIFY_SOCKET`: each datagram's lines with
/// the moment they arrived.
struct NotifyListener {
    path: PathBuf,
    heard: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifyListener {
    fn bind(dir: &Path) -> NotifyListener {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let heard: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (heard.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while !s.load(Ordering::SeqCst) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let at = Instant::now();
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let mut heard = h.lock().expect("lock");
                    for line in text.lines() {
                        heard.push((at, line.to_string()));
                    }
                }
            }
        });
        NotifyListener {
            path,
            heard,
            stop,
            thread: Some(thread),
        }
    }

    /// When each `WATCHDOG=1` arrived.
    fn pings(&self) -> Vec<Instant> {
        self.heard
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, l)| l == "WATCHDOG=1")
            .map(|(at, _)| *at)
            .collect()
    }

    fn heard(&self, line: &str) -> bool {
        self.heard
            .lock()
            .expect("lock")
            .iter()
            .any(|(_, l)| l == line)
    }
}

impl Drop for NotifyListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Daemon {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path) -> PathBuf {
    write_config(
        dir,
        &format!(
            "data_dir = \"{}\"\n[log]\nformat = \"plain\"\n[sites.bench]\npublisher = \"outbox\"\n",
            dir.join("data").display()
        ),
    )
}

/// `serve` under the fake watchdog (`notify` None: no watchdog).
fn serve(dir: &Path, cfg: &Path, notify: Option<&NotifyListener>) -> Daemon {
    let mut cmd = command(dir);
    cmd.arg("--config")
        .arg(cfg)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("serve.log")).expect("log file"));
    if let Some(n) = notify {
        cmd.env("NOTIFY_SOCKET", &n.path)
            .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string());
    }
    let ready = ready_file(&mut cmd, dir);
    let mut child = cmd.spawn().expect("start serve");
    let addr = wait_ready(&mut child, &ready, Duration::from_secs(60));
    Daemon { child, addr }
}

/// Follows an operation until it is no longer running; returns its last
/// state and whether it was seen running with progress.
fn follow(addr: std::net::SocketAddr, token: &str, path: &str) -> (Value, bool) {
    let mut seen_running_with_progress = false;
    let done = wait_for_value(Duration::from_secs(600), "the operation to end", || {
        let r = request(addr, "GET", path, Some(token), None).expect("GET operation");
        assert_eq!(r.status, 200, "{}", r.body);
        let op = r.json();
        if op["state"] == "running" {
            if op["progress"].as_array().is_some_and(|p| !p.is_empty()) {
                seen_running_with_progress = true;
            }
            None
        } else {
            Some(op)
        }
    });
    (done, seen_running_with_progress)
}

fn seconds(v: &Value) -> f64 {
    v["secs"].as_f64().unwrap_or(0.0) + v["nanos"].as_f64().unwrap_or(0.0) / 1e9
}

#[test]
fn postgres_db_copy_through_the_api_outlives_watchdog_sec_and_the_pings_never_stop() {
    let target = pg_env::FreshDb::create("watchdog_copy");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    // Large enough that the copy takes longer than WatchdogSec (checked below).
    let articles: u64 = std::env::var("BLOG_POSTER_TEST_COPY_ARTICLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    let filled = fill::fill(
        &dir.path().join("data").join("blog-poster.db"),
        articles,
        400,
        None,
        7,
    );
    let admin = create_token(dir.path(), &cfg, "admin", "ops");
    let notify = NotifyListener::bind(dir.path());
    let daemon = serve(dir.path(), &cfg, Some(&notify));
    wait_for_value(
        Duration::from_secs(30),
        "READY=1 and a first WATCHDOG=1",
        || (notify.heard("READY=1") && !notify.pings().is_empty()).then_some(()),
    );

    let started = Instant::now();
    let body = format!(r#"{{"to":"{}"}}"#, target.url);
    let r = request(
        daemon.addr,
        "POST",
        "/api/v1/db/copy",
        Some(&admin),
        Some(&body),
    )
    .expect("POST db/copy");
    assert_eq!(r.status, 202, "{}", r.body);
    let accepted = r.json();
    let path = accepted["follow"].as_str().expect("follow").to_string();
    assert_eq!(r.header("Location"), Some(path.as_str()));
    assert_eq!(accepted["operation"]["state"], "running", "{accepted}");
    assert_eq!(accepted["operation"]["kind"], "db_copy");

    // A second long operation is refused while this one runs.
    let second = request(
        daemon.addr,
        "POST",
        "/api/v1/db/copy",
        Some(&admin),
        Some(&body),
    )
    .expect("second POST");
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(second.json()["error"], "operation_running");
    // The probes still answer: the scheduler is paused, not stuck.
    let ready = request(daemon.addr, "GET", "/readyz", None, None).expect("readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);

    let (op, seen_progress) = follow(daemon.addr, &admin, &path);
    let finished = Instant::now();
    assert_eq!(op["state"], "done", "{op}");
    assert!(
        seen_progress,
        "the operation showed no progress while it ran"
    );
    let report = &op["result"];
    let rows = report["rows"].as_u64().expect("rows");
    // The filled rows, plus what serve itself wrote (its token, events).
    assert!(
        rows >= filled.rows,
        "{rows} < {} rows filled: {report}",
        filled.rows
    );
    let tables = report["tables"].as_array().expect("tables");
    assert_eq!(
        tables
            .iter()
            .filter_map(|t| t["source_rows"].as_u64())
            .sum::<u64>(),
        rows
    );
    assert!(
        tables
            .iter()
            .all(|t| t["source_rows"] == t["target_rows"]
                && t["source_sha256"] == t["target_sha256"]),
        "{report}"
    );
    let copy_seconds = seconds(&report["elapsed"]);
    assert!(
        copy_seconds > WATCHDOG.as_secs_f64(),
        "the copy took {copy_seconds:.1}s, not longer than WatchdogSec: make the database larger (BLOG_POSTER_TEST_COPY_ARTICLES)"
    );
    let listed = request(daemon.addr, "GET", "/api/v1/operations", Some(&admin), None)
        .expect("list")
        .json();
    assert_eq!(listed["operations"][0]["state"], "done", "{listed}");

    // The pings went on through the copy: never a gap of WatchdogSec.
    let pings = notify.pings();
    // From the first ping to the end of the copy, the end itself included:
    // pings that stopped before it count as a gap up to it.
    let mut window: Vec<Instant> = pings.iter().copied().filter(|p| *p <= finished).collect();
    window.push(finished);
    let mut widest = Duration::ZERO;
    for pair in window.windows(2) {
        widest = widest.max(pair[1] - pair[0]);
    }
    let during = pings
        .iter()
        .filter(|p| **p >= started && **p <= finished)
        .count();
    eprintln!(
        "db copy through the API: {rows} rows ({articles} articles) in {copy_seconds:.1}s (operation {:.1}s); \
         {during} WATCHDOG=1 during it, {} in all; widest gap {} ms (WatchdogSec {} ms)",
        (finished - started).as_secs_f64(),
        pings.len(),
        widest.as_millis(),
        WATCHDOG.as_millis()
    );
    assert!(
        widest < WATCHDOG,
        "the pings stopped for {} ms: systemd would have killed serve",
        widest.as_millis()
    );
    assert!(
        during as f64 >= copy_seconds / WATCHDOG.as_secs_f64(),
        "only {during} pings during a {copy_seconds:.1}s copy"
    );

    // Still serving, and it stops cleanly on SIGTERM.
    let mut daemon = daemon;
    let status = {
        let pid = daemon.child.id().to_string();
        let (code, _, err) = run(std::process::Command::new("kill").args(["-TERM", &pid]));
        assert_eq!(code, 0, "{err}");
        wait_for_exit(&mut daemon.child, Duration::from_secs(60), "serve to stop")
    };
    assert!(status.success(), "serve exited {status}");
    assert!(notify.heard("STOPPING=1"));
}

#[test]
fn postgres_the_cli_follows_a_copy_and_a_restore_through_the_running_daemon() {
    let target = pg_env::FreshDb::create("cli_follow");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    fill::fill(
        &dir.path().join("data").join("blog-poster.db"),
        200,
        200,
        None,
        3,
    );
    let admin = create_token(dir.path(), &cfg, "admin", "ops");
    let (code, out, err) = run(command(dir.path())
        .arg("--config")
        .arg(&cfg)
        .args(["backup", "create"]));
    assert_eq!(code, 0, "{out}{err}");
    let daemon = serve(dir.path(), &cfg, None);
    let url = format!("http://{}", daemon.addr);

    let (code, out, err) = run(command(dir.path())
        .env("BLOG_POSTER_TOKEN", &admin)
        .arg("--config")
        .arg(&cfg)
        .args(["db", "copy", "--to", &target.url, "--url", &url]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("the running daemon does it: operation 1"),
        "{out}"
    );
    assert!(
        out.contains("copied jobs"),
        "progress lines are shown: {out}"
    );
    assert!(out.contains("verified:"), "the report is shown: {out}");

    // The same target again is refused (not empty), as the offline copy does.
    let (code, out, err) = run(command(dir.path())
        .env("BLOG_POSTER_TOKEN", &admin)
        .arg("--config")
        .arg(&cfg)
        .args(["db", "copy", "--to", &target.url, "--url", &url]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("operation 2 failed"), "{err}");
    assert!(
        err.contains("not empty") || err.contains("--replace"),
        "{err}"
    );

    // --ca-file cannot reach the daemon's copy: said so, exit 2.
    let (code, _, err) = run(command(dir.path())
        .env("BLOG_POSTER_TOKEN", &admin)
        .arg("--config")
        .arg(&cfg)
        .args([
            "db",
            "copy",
            "--to",
            &target.url,
            "--url",
            &url,
            "--tls-insecure",
        ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("[database]"), "{err}");

    let (code, out, err) = run(command(dir.path())
        .env("BLOG_POSTER_TOKEN", &admin)
        .arg("--config")
        .arg(&cfg)
        .args(["backup", "restore", "1", "--url", &url]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("the running daemon does it: operation 3"),
        "{out}"
    );
    assert!(out.contains("swapping the database file"), "{out}");
    assert!(out.contains("restored backup 1"), "{out}");

    // Without a token the API refuses, and the CLI says how to pass one.
    let (code, _, err) = run(command(dir.path())
        .arg("--config")
        .arg(&cfg)
        .args(["backup", "restore", "1", "--url", &url]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--token"), "{err}");
    drop(daemon);
}
