//! Shared helpers: the binary under test, temporary configs, waiting for
//! conditions, fixed timestamps.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use blog_poster::pipeline::lifecycle::Timestamp;
use chrono::TimeZone;

/// The blog-poster binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_blog-poster"))
}

/// A command for the binary with a clean environment: no config search
/// outside the test's folder, no inherited RUST_LOG.
pub fn command(home: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info");
    c
}

pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run binary");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Polls `check` until it returns true or `timeout` passes.
pub fn wait_for(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A fixed instant plus `secs` seconds: tests never depend on the wall clock.
pub fn t(secs: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

/// Writes `text` as config.toml in `dir` and returns its path. A config
/// without an `[http]` table gets one listening on a free loopback port, so
/// tests running side by side never contend for serve's default 8080
/// (appended, so the line numbers of `text` stay as written).
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("config.toml");
    let text = if text.lines().any(|l| l.trim() == "[http]") {
        text.to_string()
    } else {
        format!("{text}\n[http]\nlisten = \"127.0.0.1:0\"\n")
    };
    std::fs::write(&p, text).expect("write config");
    p
}
