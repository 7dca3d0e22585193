//! The HTTP front against a running `serve`: answers of any size reach the
//! client whole (the status page's data after a feed with long items, a
//! multi-megabyte events page, on kept-alive and HTTP/1.0 connections), and
//! the connection limits: idle and slow connections from many addresses
//! (slowloris) do not keep /healthz and /readyz from answering, a client
//! over its limit loses its longest-waiting connection, and a connection
//! that sends nothing is closed at `request_timeout` counted from accept.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::*;

use crate::harness::wait_for;
use crate::web_client::{
    create_token, feed_server, monitor_now, prepare, prepare_with_feed, request, start,
};

/// One answer read off a kept-alive connection by its framing.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

fn read_line(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<String> {
    loop {
        if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..p + 2).collect();
            return Ok(String::from_utf8_lossy(&line[..p]).into_owned());
        }
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::other("closed mid-line"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn read_exact_buf(s: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> std::io::Result<Vec<u8>> {
    while buf.len() < n {
        let mut chunk = [0u8; 65536];
        let got = s.read(&mut chunk)?;
        if got == 0 {
            return Err(std::io::Error::other(format!(
                "closed after {} of {n} body bytes",
                buf.len()
            )));
        }
        buf.extend_from_slice(&chunk[..got]);
    }
    Ok(buf.drain(..n).collect())
}

/// Reads one answer: Content-Length, chunked, or (HTTP/1.0) until close.
pub fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Answer> {
    let status_line = read_line(s, buf)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut head = status_line.clone();
    let (mut len, mut chunked) = (None, false);
    loop {
        let line = read_line(s, buf)?;
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        head.push('\n');
        head.push_str(&line);
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let size =
                usize::from_str_radix(read_line(s, buf)?.split(';').next().unwrap_or(""), 16)
                    .map_err(|e| std::io::Error::other(format!("bad chunk size: {e}")))?;
            if size == 0 {
                while !read_line(s, buf)?.is_empty() {}
                break;
            }
            body.extend(read_exact_buf(s, buf, size)?);
            read_line(s, buf)?;
        }
        body
    } else if let Some(n) = len {
        read_exact_buf(s, buf, n)?
    } else {
        s.read_to_end(buf)?;
        std::mem::take(buf)
    };
    Ok(Answer { status, head, body })
}

fn get(s: &mut TcpStream, buf: &mut Vec<u8>, addr: SocketAddr, path: &str, token: &str) -> Answer {
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(req.as_bytes()).expect("send");
    read_answer(s, buf).expect("answer")
}

#[test]
fn web_front_answers_of_any_size_reach_the_client() {
    // The case: one competitor feed with ten long items.
    let mut rss = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Rival</title><link>https://rival.example/</link><description>d</description>",
    );
    for i in 0..10 {
        let words = format!("paragraph {i} about caching and latency budgets ").repeat(120);
        rss.push_str(&format!(
            "<item><title>Long item {i}: {}</title><link>https://rival.example/{i}</link><guid>https://rival.example/{i}</guid><description>{words}</description></item>",
            "a very long title ".repeat(10)
        ));
    }
    rss.push_str("</channel></rss>");
    let feed = feed_server(rss);
    let (dir, config) = prepare_with_feed(feed, "");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    // 500 events of 10 KB each: the largest events page is about 5 MB.
    {
        let store = SqliteStore::open(
            &dir.path().join("data/blog-poster.db"),
            Duration::from_secs(5),
        )
        .expect("open");
        store.migrate(chrono::Utc::now()).expect("migrate");
        for i in 0..500 {
            store
                .record_event(
                    &NewEvent {
                        site: None,
                        run_id: None,
                        job_id: None,
                        kind: "test.large".into(),
                        actor: "test".into(),
                        message: format!("event {i} ") + &"x".repeat(10_000),
                    },
                    chrono::Utc::now(),
                )
                .expect("event");
        }
    }
    let served = start(dir, config);
    let addr = served.addr;
    monitor_now(addr, &admin);

    // Every request of the status page, on one kept-alive connection.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut buf = Vec::new();
    let mut biggest = 0;
    for path in [
        "/",
        "/api/v1/status",
        "/api/v1/runs?limit=50",
        "/api/v1/articles?status=all&limit=10",
        "/api/v1/source-items?limit=10",
    ] {
        let a = get(&mut s, &mut buf, addr, path, &admin);
        assert_eq!(a.status, 200, "{path}: {}", a.head);
        if path != "/" {
            serde_json::from_slice::<serde_json::Value>(&a.body)
                .unwrap_or_else(|e| panic!("{path}: not whole JSON ({e})"));
        }
        biggest = biggest.max(a.body.len());
    }
    assert!(
        biggest > 32 << 10,
        "the status page's data should pass 32 KiB for this test to mean anything: {biggest} bytes"
    );
    println!("largest status-page answer: {biggest} bytes");

    // The multi-megabyte events page, twice on the same connection (the
    // framing must leave the connection usable), then over HTTP/1.0.
    for _ in 0..2 {
        let a = get(&mut s, &mut buf, addr, "/api/v1/events?limit=500", &admin);
        assert_eq!(a.status, 200, "{}", a.head);
        assert!(a.body.len() > 4 << 20, "{} bytes", a.body.len());
        let v: serde_json::Value = serde_json::from_slice(&a.body).expect("whole JSON");
        assert_eq!(v["events"].as_array().map(Vec::len), Some(500));
        for h in [
            "content-security-policy:",
            "x-content-type-options: nosniff",
        ] {
            assert!(a.head.to_lowercase().contains(h), "{h} missing: {}", a.head);
        }
        println!("events page: {} bytes", a.body.len());
    }
    let mut s10 = TcpStream::connect(addr).expect("connect");
    s10.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s10.write_all(
        format!("GET /api/v1/events?limit=500 HTTP/1.0\r\nAuthorization: Bearer {admin}\r\n\r\n")
            .as_bytes(),
    )
    .expect("send");
    let mut buf10 = Vec::new();
    let a = read_answer(&mut s10, &mut buf10).expect("HTTP/1.0 answer");
    assert_eq!(a.status, 200, "{}", a.head);
    assert!(!a.head.to_lowercase().contains("chunked"), "{}", a.head);
    serde_json::from_slice::<serde_json::Value>(&a.body).expect("whole JSON over HTTP/1.0");
    drop(served);
}

/// Opens a connection to `to` from the loopback address `from`.
fn connect_from(rt: &tokio::runtime::Runtime, from: [u8; 4], to: SocketAddr) -> TcpStream {
    rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind(SocketAddr::from((from, 0))).expect("bind source");
        let s = sock.connect(to).await.expect("connect");
        let s = s.into_std().expect("std");
        s.set_nonblocking(false).expect("blocking");
        s
    })
}

fn metric(addr: SocketAddr, token: &str, name: &str) -> f64 {
    let r = request(addr, "GET", "/metrics", Some(token), None).expect("metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// One probe on a fresh connection: (status, seconds).
fn probe(addr: SocketAddr, path: &str) -> (u16, f64) {
    let started = Instant::now();
    let status = request(addr, "GET", path, None, None).map_or(0, |r| r.status);
    (status, started.elapsed().as_secs_f64())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Slowloris: 500 connections from 20 addresses, half idle, half sending
/// a request head a byte at a time, all held open by the server; then 250
/// more from the prober's own address (as when everything comes through
/// one reverse proxy). /healthz and /readyz must answer every probe; the
/// latency figures are printed for docs/performance.md.
#[test]
fn web_front_probes_answer_while_500_slow_connections_are_open() {
    let (dir, config) = prepare("request_timeout = \"300s\"\nkeepalive_timeout = \"300s\"");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    let served = start(dir, config);
    let addr = served.addr;
    wait_for(Duration::from_secs(60), "/readyz to answer 200", || {
        probe(addr, "/readyz").0 == 200
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let mut idle = Vec::new();
    let mut slow = Vec::new();
    for i in 0..500u32 {
        let from = [127, 0, 0, 2 + (i % 20) as u8];
        let mut s = connect_from(&rt, from, addr);
        if i % 2 == 0 {
            idle.push(s);
        } else {
            s.write_all(b"GET /api/v1/status HTTP/1.1\r\n")
                .expect("start a head");
            slow.push(s);
        }
    }
    // The attacker's side: one more header byte per connection per second.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for s in &mut slow {
                    let _ = s.write_all(b"X");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            slow
        })
    };
    wait_for(
        Duration::from_secs(30),
        "the server to hold 500 connections",
        || metric(addr, &admin, "blog_poster_http_connections_open") >= 500.0,
    );

    let mut times = Vec::new();
    let mut failed = Vec::new();
    let mut run_probes = |n: usize| {
        for i in 0..n {
            let path = if i % 2 == 0 { "/healthz" } else { "/readyz" };
            let (status, took) = probe(addr, path);
            if status != 200 {
                failed.push((path, status));
            }
            times.push(took);
        }
    };
    run_probes(100);
    let held = metric(addr, &admin, "blog_poster_http_connections_open");

    // 250 more from 127.0.0.1, the prober's own address: over the
    // per-client limit (64) they push out that address's oldest idle ones.
    let mut same = Vec::new();
    for _ in 0..250 {
        same.push(connect_from(&rt, [127, 0, 0, 1], addr));
    }
    run_probes(100);
    let evicted = metric(addr, &admin, "blog_poster_http_connections_evicted_total");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let slow = trickle.join().expect("trickler");

    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "slowloris: {} probes; server held {held} connections; {evicted} evicted; \
         latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        percentile(&times, 0.5) * 1e3,
        percentile(&times, 0.99) * 1e3,
        percentile(&times, 1.0) * 1e3,
    );
    assert!(failed.is_empty(), "probes not answered 200: {failed:?}");
    assert!(held >= 500.0, "the server let attackers go: held {held}");
    assert!(
        evicted >= 1.0,
        "250 connections over the per-client limit evicted nobody"
    );
    drop((idle, slow, same));
    drop(served);
}

/// Over `max_connections_per_client` the client's longest-waiting
/// connection is closed for the newcomer; a connection that sends nothing
/// is closed at `request_timeout` from accept, even though the keep-alive
/// timeout is far longer.
#[test]
fn web_front_per_client_limit_and_deadline_from_accept() {
    let (dir, config) = prepare(
        "max_connections_per_client = 4\nrequest_timeout = \"2s\"\nkeepalive_timeout = \"600s\"",
    );
    let served = start(dir, config);
    let addr = served.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let from = [127, 0, 0, 9];
    let mut first = connect_from(&rt, from, addr);
    let _others: Vec<_> = (0..3).map(|_| connect_from(&rt, from, addr)).collect();
    let mut newcomer = connect_from(&rt, from, addr);
    newcomer
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .expect("send");
    newcomer
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut buf = Vec::new();
    let a = read_answer(&mut newcomer, &mut buf).expect("the newcomer is answered");
    assert_eq!(a.status, 200, "{}", a.head);
    // The oldest was closed without an answer (it had sent nothing).
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut rest = Vec::new();
    let n = first.read_to_end(&mut rest);
    assert!(
        matches!(n, Ok(0)),
        "the oldest idle connection was not closed: {n:?} {rest:?}"
    );

    // Nothing sent at all: closed at request_timeout (2 s) from accept,
    // well before keepalive_timeout (600 s) or this read's 60 s.
    let mut quiet = TcpStream::connect(addr).expect("connect");
    quiet
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut out = Vec::new();
    let r = quiet.read_to_end(&mut out);
    assert!(
        matches!(r, Ok(0)),
        "an idle connection was held past request_timeout: {r:?}"
    );
    drop(served);
}
