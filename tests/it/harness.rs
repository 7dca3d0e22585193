//! Shared helpers: the binary under test, temporary configs, waiting for
//! conditions with a deadline (never a fixed sleep before an assertion),
//! children that report the address they bound, fixed timestamps.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use blog_poster::domain::lifecycle::Timestamp;
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

const POLL: Duration = Duration::from_millis(25);

/// Polls `check` until it returns true; fails the test after `timeout`.
/// The deadline guards against a hang, it asserts no speed: pick it
/// generously (tests share two cores).
pub fn wait_for(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    wait_for_value(timeout, what, || check().then_some(()))
}

/// Polls `probe` until it returns `Some`, and returns that value; fails the
/// test after `timeout`.
pub fn wait_for_value<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// [`wait_for`] for async checks (sleeps on the tokio timer between polls).
pub async fn wait_for_async<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        if start.elapsed() >= timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for `child` to exit and returns its status; after `timeout` the
/// child is SIGKILLed and the test fails.
pub fn wait_for_exit(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "timed out after {timeout:?} waiting for {what} (pid {}); killed it",
                child.id()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Points `cmd` (a `serve` or scripted_serve to be spawned) at a fresh
/// ready file in `dir`: once ready, the child writes the address it bound
/// there (see src/ready_file.rs), so configs can say `127.0.0.1:0` and no
/// test ever guesses a free port. Returns the file's path for [`wait_ready`].
pub fn ready_file(cmd: &mut Command, dir: &Path) -> PathBuf {
    let path = dir.join("serve.ready");
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove the stale ready file {}: {e}", path.display()),
    }
    cmd.env(blog_poster::ready_file::ENV, &path);
    path
}

/// Waits until the child spawned with [`ready_file`] reports its address.
/// Fails at once, with the exit status, if the child exits first.
pub fn wait_ready(child: &mut Child, ready: &Path, timeout: Duration) -> SocketAddr {
    wait_for_value(timeout, "the child to write its ready file", || {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "the child (pid {}) exited with {status} before it was ready",
                child.id()
            );
        }
        blog_poster::ready_file::read(ready).unwrap_or_else(|e| panic!("ready file: {e}"))
    })
}

/// A fixed instant plus `secs` seconds: tests never depend on the wall clock.
pub fn t(secs: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

/// Writes `text` as config.toml in `dir` and returns its path. A config
/// without an `[http]` table gets one listening on port 0 of loopback (the
/// kernel picks a free port; [`ready_file`] tells the test which), so tests
/// running side by side never contend for serve's default 8080 (appended,
/// so the line numbers of `text` stay as written).
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

/// A loopback port bound (port 0, SO_REUSEADDR) but not listening, for a
/// child that must be told its port up front. Connections to it are
/// refused, as when nothing runs there; no other program can take it (a
/// plain bind fails, and port-0 binds skip ports in use); the child, if it
/// binds with SO_REUSEADDR as std, tokio and OpenSSL do, may bind it and
/// listen. Drop the hold once the child listens. No free-port race.
pub struct PortHold {
    _socket: socket2::Socket,
    pub addr: SocketAddr,
}

impl PortHold {
    pub fn new() -> PortHold {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        socket.set_reuse_address(true).expect("SO_REUSEADDR");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        socket.bind(&any.into()).expect("bind port 0");
        let addr = socket
            .local_addr()
            .expect("local addr")
            .as_socket()
            .expect("an IP address");
        PortHold {
            _socket: socket,
            addr,
        }
    }
}
