//! `serve` start-up and idle footprint, measured on the real binary: time
//! from exec to the "ready" log line (database open, migrations applied,
//! sites synced, scheduler and engine started), and the resident memory
//! after it has idled for a few seconds.
//!
//! Run: `cargo bench --bench serve` (release profile). Figures go to
//! docs/performance.md.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("config.toml");
    let text = format!(
        "data_dir = \"{}\"\n[log]\nformat = \"plain\"\n[sites.example]\nschedule = \"0 6 * * *\"\n[[sites.example.sources]]\nurl = \"https://example.com/feed.xml\"\n",
        dir.display()
    );
    std::fs::write(&p, text).expect("write config");
    p
}

fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Starts serve, returns (ms to ready, child).
fn start(cfg: &std::path::Path) -> (f64, std::process::Child) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blog-poster"))
        .args(["--config", cfg.to_str().expect("utf8"), "serve"])
        .env_remove("RUST_LOG")
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
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (ms, child)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..10 {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = config(dir.path());
        let (ms, child) = start(&cfg);
        cold.push(ms);
        stop(child);
        let (ms, child) = start(&cfg);
        warm.push(ms);
        stop(child);
    }
    println!(
        "ready, fresh database (migrations run): median {:.1} ms, max {:.1} ms",
        median(cold.clone()),
        cold.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "ready, existing database:               median {:.1} ms, max {:.1} ms",
        median(warm.clone()),
        warm.iter().cloned().fold(0.0, f64::max)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let (_, child) = start(&cfg);
    std::thread::sleep(Duration::from_secs(10));
    let pid = child.id();
    println!(
        "idle serve after 10 s: VmRSS {} KiB, VmHWM {} KiB, threads {}",
        proc_kb(pid, "VmRSS:"),
        proc_kb(pid, "VmHWM:"),
        proc_kb(pid, "Threads:")
    );
    stop(child);
}
