//! The HTTP surface under hostile input, against a running `serve`: the
//! front's own errors carry the security headers; a DNS-rebinding Host is
//! refused even with `public_status = true`; 401/403 are counted in
//! /metrics and logged at a bounded rate; an undecodable query parameter
//! is a 400; a panicking handler costs its request only.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::web_client::{create_token, prepare, request, start, start_with_env};

const SECURITY_HEADERS: [&str; 6] = [
    "content-security-policy: default-src 'self'",
    "x-content-type-options: nosniff",
    "x-frame-options: deny",
    "referrer-policy: no-referrer",
    "cross-origin-opener-policy: same-origin",
    "cache-control: no-store",
];

/// Sends raw bytes, returns everything the server sent until it closed.
fn raw(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(req).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(addr: SocketAddr, host: &str, path: &str, token: Option<&str>) -> String {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

#[test]
fn web_security_front_errors_carry_the_security_headers() {
    let (dir, config) = prepare("max_body = \"1KiB\"\nmax_headers = 8\nrequest_timeout = \"1s\"");
    let served = start(dir, config);
    let addr = served.addr;
    let h = format!("Host: {addr}\r\n");
    let cases: Vec<(u16, String)> = vec![
        (400, "GET /\r\n\r\n".into()),
        (400, format!("GET / HTTP/1.1\r\n{h}Bad Header\r\n\r\n")),
        (408, format!("GET /healthz HTTP/1.1\r\n{h}")),
        (
            413,
            format!("PUT /api/v1/caps HTTP/1.1\r\n{h}Content-Length: 4096\r\n\r\n"),
        ),
        (
            417,
            format!("GET /healthz HTTP/1.1\r\n{h}Expect: magic\r\n\r\n"),
        ),
        (
            421,
            "GET /healthz HTTP/1.1\r\nHost: rebind.attacker.example\r\n\r\n".into(),
        ),
        (
            431,
            format!("GET /healthz HTTP/1.1\r\n{h}{}\r\n", "X-A: 1\r\n".repeat(9)),
        ),
        (
            501,
            format!("POST /api/v1/caps HTTP/1.1\r\n{h}Transfer-Encoding: chunked\r\n\r\n"),
        ),
        (505, format!("GET /healthz HTTP/2.0\r\n{h}\r\n")),
    ];
    for (status, req) in &cases {
        let out = raw(addr, req.as_bytes());
        assert!(
            out.starts_with(&format!("HTTP/1.1 {status} ")),
            "expected {status} for {req:?}: {out}"
        );
        let lower = out.to_lowercase();
        for header in SECURITY_HEADERS {
            assert!(lower.contains(header), "{status}: {header} missing: {out}");
        }
        let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let json: serde_json::Value = serde_json::from_str(body).expect("a JSON error");
        assert!(
            json["error"].is_string() && json["message"].is_string(),
            "{json}"
        );
    }
    // The API's own 404 and 405 carry them too.
    for out in [
        get(addr, &addr.to_string(), "/nope", None),
        raw(
            addr,
            format!("DELETE /healthz HTTP/1.1\r\n{h}Connection: close\r\n\r\n").as_bytes(),
        ),
    ] {
        let lower = out.to_lowercase();
        for header in SECURITY_HEADERS {
            assert!(lower.contains(header), "{header} missing: {out}");
        }
    }
    drop(served);
}

#[test]
fn web_security_dns_rebinding_host_is_refused_with_public_status() {
    let (dir, config) = prepare("public_status = true\nallowed_hosts = [\"status.example.com\"]");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    let served = start(dir, config);
    let addr = served.addr;
    let port = addr.port();
    for host in [
        addr.to_string(),
        "127.0.0.1".to_string(),
        format!("localhost:{port}"),
        "status.example.com".to_string(),
        format!("STATUS.example.com.:{port}"),
    ] {
        let out = get(addr, &host, "/api/v1/status", None);
        assert!(out.starts_with("HTTP/1.1 200"), "Host {host}: {out}");
    }
    // A page at rebind.attacker.example whose name now resolves to
    // 127.0.0.1: the browser sends that name as Host.
    for host in [
        format!("rebind.attacker.example:{port}"),
        "rebind.attacker.example".to_string(),
        "status.example.com.attacker.example".to_string(),
        "127.0.0.2".to_string(),
    ] {
        for (path, token) in [
            ("/api/v1/status", None),
            ("/api/v1/events", None),
            ("/metrics", Some(admin.as_str())),
            ("/", None),
        ] {
            let out = get(addr, &host, path, token);
            assert!(out.starts_with("HTTP/1.1 421"), "Host {host} {path}: {out}");
            assert!(
                out.contains("unknown_host") && out.contains("allowed_hosts"),
                "{out}"
            );
            assert!(!out.contains("\"sites\""), "data leaked: {out}");
        }
    }
    let metrics = request(addr, "GET", "/metrics", Some(&admin), None).expect("metrics");
    assert!(
        metrics
            .body
            .contains("blog_poster_http_refused_total{reason=\"unknown_host\",code=\"421\"} 16"),
        "{}",
        metrics.body
    );
    drop(served);
}

#[test]
fn web_security_refusals_are_counted_and_logged_at_a_bounded_rate() {
    let (dir, config) = prepare("");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    let viewer = create_token(dir.path(), &config, "viewer", "tv");
    let served = start(dir, config);
    let addr = served.addr;
    for _ in 0..10 {
        let r = request(addr, "GET", "/api/v1/status", None, None).expect("request");
        assert_eq!(r.status, 401);
        let r = request(addr, "GET", "/api/v1/status", Some("bp_guess"), None).expect("request");
        assert_eq!(r.status, 401);
        let r = request(
            addr,
            "POST",
            "/api/v1/sites/example/pause",
            Some(&viewer),
            None,
        )
        .expect("request");
        assert_eq!(r.status, 403);
    }
    let m = request(addr, "GET", "/metrics", Some(&admin), None).expect("metrics");
    for line in [
        "blog_poster_http_auth_refused_total{route=\"/api/v1/status\",reason=\"missing_token\"} 10",
        "blog_poster_http_auth_refused_total{route=\"/api/v1/status\",reason=\"unknown_token\"} 10",
        "blog_poster_http_auth_refused_total{route=\"/api/v1/sites/{site}/pause\",reason=\"forbidden\"} 10",
    ] {
        assert!(m.body.contains(line), "{line} not in:\n{}", m.body);
    }
    // 30 refusals within a minute: 10 log lines, the rest counted.
    let log = served.dir.path().join("serve.log");
    let lines = crate::harness::wait_for_value(
        Duration::from_secs(30),
        "the refusals in serve.log",
        || {
            let text = std::fs::read_to_string(&log).ok()?;
            let n = text.matches("refused an HTTP request").count();
            (n >= 10).then_some(text)
        },
    );
    let refused: Vec<&str> = lines
        .lines()
        .filter(|l| l.contains("refused an HTTP request"))
        .collect();
    assert_eq!(refused.len(), 10, "{refused:#?}");
    assert!(
        refused
            .iter()
            .any(|l| l.contains("unknown_token") && l.contains("127.0.0.1")),
        "{refused:#?}"
    );
    assert!(!lines.contains("bp_guess"), "a presented token was logged");
    drop(served);
}

#[test]
fn web_security_undecodable_query_parameters_are_400() {
    let (dir, config) = prepare("");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    let served = start(dir, config);
    let addr = served.addr;
    let ok = request(
        addr,
        "GET",
        "/api/v1/source-items?site=example",
        Some(&admin),
        None,
    )
    .expect("request");
    assert_eq!(ok.status, 200, "{}", ok.body);
    for path in [
        "/api/v1/source-items?site=%ff",
        "/api/v1/source-items?site=%zz",
        "/api/v1/events?before=%ff",
        "/api/v1/runs?%ff=1",
    ] {
        let r = request(addr, "GET", path, Some(&admin), None).expect("request");
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.json()["error"], "bad_request", "{}", r.body);
        assert!(r.body.contains("percent-encoded"), "{}", r.body);
    }
    drop(served);
}

#[test]
fn web_security_a_panicking_handler_answers_500_and_serve_goes_on() {
    let (dir, config) = prepare("workers = 2");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    let served = start_with_env(
        dir,
        config,
        &[("BLOG_POSTER_TEST_INJECT_PANIC", "http:/api/v1/costs")],
    );
    let addr = served.addr;
    // More panics than handler threads: each thread survives its panics.
    for _ in 0..6 {
        let r = request(addr, "GET", "/api/v1/costs", Some(&admin), None).expect("request");
        assert_eq!(r.status, 500, "{}", r.body);
        assert_eq!(r.json()["error"], "internal");
        assert!(
            !r.body.contains("test hook"),
            "the panic text reached the client"
        );
        let r = request(addr, "GET", "/api/v1/status", Some(&admin), None).expect("request");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = request(addr, "GET", "/healthz", None, None).expect("healthz");
    assert_eq!(r.status, 200);
    let log = served.dir.path().join("serve.log");
    crate::harness::wait_for(Duration::from_secs(30), "the panic in serve.log", || {
        std::fs::read_to_string(&log).is_ok_and(|t| {
            t.contains("a panic was contained") && t.contains("HTTP request GET /api/v1/costs")
        })
    });
    drop(served);
}
