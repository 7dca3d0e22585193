//! Requests on fresh connections through the HTTP front, measured on the
//! release `serve`: each request opens a TCP connection, sends one request
//! with `Connection: close`, reads the whole answer and closes — what a
//! health checker, a script with curl, or a browser's first request does.
//! Then the same probes while 500 slow connections are held open
//! (slowloris: from 20 loopback addresses, half idle, half sending a head
//! one byte per second).
//!
//! Run: `cargo bench --bench http_front [-- REQUESTS]` (default 2,000 per
//! path). Figures go to docs/performance.md (target: median under 2 ms).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn start(config: &std::path::Path) -> (std::process::Child, SocketAddr) {
    let ready = config.with_file_name("serve.ready");
    let mut child = Command::new(env!("CARGO_BIN_EXE_blog-poster"))
        .args(["--config", config.to_str().expect("utf8"), "serve"])
        .env_remove("RUST_LOG")
        // As systemd/blog-poster.service sets it.
        .env("MALLOC_ARENA_MAX", "2")
        .env(blog_poster::ready_file::ENV, &ready)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(addr) = blog_poster::ready_file::read(&ready).expect("ready file") {
            return (child, addr);
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("serve exited with {status} before it was ready");
        }
        assert!(Instant::now() < deadline, "serve was not ready in 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One request on a fresh connection; returns (status, milliseconds).
fn fresh(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, f64) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .expect("write");
    let mut out = Vec::with_capacity(8192);
    s.read_to_end(&mut out).expect("read");
    let status = std::str::from_utf8(&out[..out.len().min(12)])
        .ok()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, t.elapsed().as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn measure(label: &str, addr: SocketAddr, path: &str, token: Option<&str>, n: usize) {
    for _ in 0..50 {
        fresh(addr, path, token);
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0;
    for _ in 0..n {
        let (status, ms) = fresh(addr, path, token);
        if status != 200 {
            errors += 1;
        }
        lat.push(ms);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "{label} GET {path}: {n} fresh connections ({errors} non-200): median {:.3} ms, p90 {:.3}, p99 {:.3}, max {:.3}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| a != "--bench")
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[log]\nformat = \"plain\"\n[http]\nlisten = \"127.0.0.1:0\"\nrequest_timeout = \"600s\"\nkeepalive_timeout = \"600s\"\n\
             [sites.example]\nschedule = \"0 6 * * *\"\n[[sites.example.sources]]\nurl = \"https://example.com/feed.xml\"\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_blog-poster"))
        .args(["--config", config.to_str().expect("utf8")])
        .args(["token", "create", "--role", "admin", "bench"])
        .output()
        .expect("token create");
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string();
    let (mut child, addr) = start(&config);

    measure("idle server:", addr, "/healthz", None, n);
    measure("idle server:", addr, "/api/v1/status", Some(&token), n);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut idle = Vec::new();
    let mut slow = Vec::new();
    for i in 0..500u32 {
        let from = SocketAddr::from(([127, 0, 0, 2 + (i % 20) as u8], 0));
        let mut s = rt.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().expect("socket");
            sock.bind(from).expect("bind");
            let s = sock.connect(addr).await.expect("connect");
            let s = s.into_std().expect("std");
            s.set_nonblocking(false).expect("blocking");
            s
        });
        if i % 2 == 0 {
            idle.push(s);
        } else {
            s.write_all(b"GET /api/v1/status HTTP/1.1\r\n")
                .expect("head");
            slow.push(s);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in &mut slow {
                    let _ = s.write_all(b"X");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            slow
        })
    };
    let metrics = |addr| {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.lines()
            .find_map(|l| l.strip_prefix("blog_poster_http_connections_open "))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while metrics(addr).parse::<f64>().unwrap_or(0.0) < 500.0 {
        assert!(
            Instant::now() < deadline,
            "the server did not take 500 connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "500 slow connections held (connections open: {})",
        metrics(addr)
    );
    measure("under slowloris:", addr, "/healthz", None, n);
    measure("under slowloris:", addr, "/readyz", None, n);
    let threads = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    println!("serve under slowloris: {threads} threads, VmRSS {rss}");
    stop.store(true, Ordering::Relaxed);
    drop(trickle.join());
    drop(idle);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
