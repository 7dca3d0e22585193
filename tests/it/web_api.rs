//! The JSON API against a running `serve`: every write in the route table
//! answers 401 without a token and 403 with a viewer token, and the admin
//! token gets past auth (succeeding, or failing only for domain reasons),
//! each write leaving an audit event that names the token.

use blog_poster::web::api::ROUTES;
use blog_poster::web::auth::Access;

use crate::web_client::{create_token, prepare, request, start};

fn body_for(pattern: &str) -> Option<&'static str> {
    match pattern {
        "/api/v1/articles/{id}/reject" => Some(r#"{"reason":"off topic"}"#),
        "/api/v1/caps" => Some(r#"{"scope":"global_daily","cap":"9.00"}"#),
        "/api/v1/sites/{site}/run" => Some(r#"{"stage":"monitor"}"#),
        // Nothing listens on port 1: the copy fails for that reason (502).
        "/api/v1/db/copy" => Some(r#"{"to":"postgres://postgres@127.0.0.1:1/none"}"#),
        _ => None,
    }
}

#[test]
fn web_api_every_write_needs_an_admin_token() {
    let (dir, config) = prepare("");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    let viewer = create_token(dir.path(), &config, "viewer", "wall-screen");
    let served = start(dir, config);
    let addr = served.addr;

    // A real run gives a real job to retry and cancel.
    let r = request(
        addr,
        "POST",
        "/api/v1/sites/example/run",
        Some(&admin),
        Some(r#"{"stage":"monitor"}"#),
    )
    .expect("run");
    assert_eq!(r.status, 202, "{}", r.body);
    let jobs = request(addr, "GET", "/api/v1/jobs?limit=1", Some(&viewer), None).expect("jobs");
    let job_id = jobs.json()["jobs"][0]["id"].as_i64().expect("a job");

    let writes: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Write)
        .collect();
    assert!(
        writes.len() >= 9,
        "the route table lost writes: {}",
        writes.len()
    );
    for route in writes {
        let path = route
            .pattern
            .replace("{site}", "example")
            .replace(
                "{id}",
                if route.pattern.starts_with("/api/v1/jobs") {
                    "JOB"
                } else {
                    "999999"
                },
            )
            .replace("JOB", &job_id.to_string());
        let body = body_for(route.pattern);

        let none = request(addr, route.method, &path, None, body).expect("request");
        assert_eq!(
            none.status, 401,
            "{} {path} without a token: {}",
            route.method, none.body
        );
        assert_eq!(none.json()["error"], "unauthorized");
        assert!(
            none.header("WWW-Authenticate")
                .is_some_and(|v| v.starts_with("Bearer"))
        );

        let bogus =
            request(addr, route.method, &path, Some("bp_not_a_token"), body).expect("request");
        assert_eq!(
            bogus.status, 401,
            "{} {path} with an unknown token",
            route.method
        );

        let view = request(addr, route.method, &path, Some(&viewer), body).expect("request");
        assert_eq!(
            view.status, 403,
            "{} {path} with a viewer token: {}",
            route.method, view.body
        );
        assert_eq!(view.json()["error"], "forbidden");

        let adm = request(addr, route.method, &path, Some(&admin), body).expect("request");
        assert!(
            (200..300).contains(&adm.status)
                || [404, 409].contains(&adm.status)
                || (route.pattern == "/api/v1/db/copy" && adm.status == 502),
            "{} {path} with the admin token: {} {}",
            route.method,
            adm.status,
            adm.body
        );
        if adm.status >= 400 {
            let e = adm.json();
            assert!(
                e["error"].is_string() && e["message"].is_string(),
                "{}",
                adm.body
            );
        }
    }

    // Every admin write left an audit event naming the token.
    let events =
        request(addr, "GET", "/api/v1/events?limit=200", Some(&viewer), None).expect("events");
    let audits: Vec<_> = events.json()["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "api.write")
        .cloned()
        .collect();
    assert!(audits.iter().all(|e| e["actor"] == "ops"), "{audits:?}");
    // The initial run plus one per write route.
    let expected = 1 + ROUTES.iter().filter(|r| r.access == Access::Write).count();
    assert_eq!(audits.len(), expected, "{audits:?}");
    drop(served);
}

#[test]
fn web_api_reads_need_a_token_unless_public_and_revocation_is_immediate() {
    let (dir, config) = prepare("");
    let viewer = create_token(dir.path(), &config, "viewer", "tv");
    let home = dir.path().to_path_buf();
    let served = start(dir, config.clone());
    let addr = served.addr;
    for route in ROUTES.iter().filter(|r| r.access == Access::Read) {
        let path = route.pattern.replace("{id}", "1");
        let r = request(addr, "GET", &path, None, None).expect("request");
        assert_eq!(r.status, 401, "GET {path} without a token");
        let r = request(addr, "GET", &path, Some(&viewer), None).expect("request");
        // No article 1 and no operation 1 in a fresh daemon: 404, after the token check.
        assert!(
            r.status == 200
                || ((path.contains("/articles/1") || path.contains("/operations/1"))
                    && r.status == 404),
            "GET {path}: {} {}",
            r.status,
            r.body
        );
    }
    let status = request(addr, "GET", "/api/v1/status", Some(&viewer), None)
        .expect("status")
        .json();
    assert_eq!(status["sites"][0]["name"], "example");
    assert!(status["sites"][0]["today"]["cap"].is_i64(), "{status}");

    let (code, _, err) = crate::harness::run(
        crate::harness::command(&home)
            .arg("--config")
            .arg(&config)
            .args(["token", "revoke", "tv"]),
    );
    assert_eq!(code, 0, "{err}");
    let r = request(addr, "GET", "/api/v1/runs", Some(&viewer), None).expect("request");
    assert_eq!(r.status, 401, "a revoked token still works: {}", r.body);
    drop(served);

    // public_status: reads open, writes still closed.
    let (dir, config) = prepare("public_status = true");
    let served = start(dir, config);
    let addr = served.addr;
    let r = request(addr, "GET", "/api/v1/status", None, None).expect("request");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = request(addr, "POST", "/api/v1/sites/example/pause", None, None).expect("request");
    assert_eq!(r.status, 401);
    drop(served);
}

#[test]
fn web_api_limits_are_enforced_by_the_front() {
    use std::io::{Read, Write};
    let (dir, config) = prepare("max_body = \"1KiB\"\nmax_headers = 8\nrequest_timeout = \"1s\"");
    let served = start(dir, config);
    let addr = served.addr;
    let raw = |req: &[u8]| {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(req).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let many = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n",
        "X-A: 1\r\n".repeat(8)
    );
    assert!(raw(many.as_bytes()).starts_with("HTTP/1.1 431"));
    assert!(
        raw(b"PUT /api/v1/caps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2048\r\n\r\n")
            .starts_with("HTTP/1.1 413")
    );
    assert!(
        raw(b"POST /api/v1/caps HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .starts_with("HTTP/1.1 501")
    );
    // Slowloris: half a head, then silence; the front answers 408 and closes.
    assert!(raw(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").starts_with("HTTP/1.1 408"));
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert!(raw(huge.as_bytes()).starts_with("HTTP/1.1 431"));
    // Still serving.
    let r = request(addr, "GET", "/healthz", None, None).expect("healthz");
    assert_eq!(r.status, 200);
    drop(served);
}

#[test]
fn web_api_serve_exits_1_naming_the_address_when_the_port_is_taken() {
    // The port is held by this test from before the config names it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("occupy a port");
    let addr = taken.local_addr().expect("addr");
    let (dir, config) = crate::web_client::prepare_on(&addr.to_string(), "");
    let (code, _, err) = crate::harness::run(
        crate::harness::command(dir.path())
            .arg("--config")
            .arg(&config)
            .arg("serve"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot listen for HTTP on {addr}")),
        "{err}"
    );
    assert!(err.contains("[http] listen"), "{err}");
}

/// A backup restored through the running daemon's API, as an operation
/// followed to its end: the database goes back to the backup's state while
/// `serve` keeps answering; an unknown backup is a 404 at once.
#[test]
fn web_api_restores_a_backup_through_the_running_daemon() {
    let (dir, config) = prepare("");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    let home = dir.path().to_path_buf();
    let served = start(dir, config.clone());
    let addr = served.addr;
    let cli = |args: &[&str]| {
        crate::harness::run(
            crate::harness::command(&home)
                .arg("--config")
                .arg(&config)
                .args(args),
        )
    };
    let paused = || {
        request(addr, "GET", "/api/v1/status", Some(&admin), None)
            .expect("status")
            .json()["sites"][0]["paused"]
            .as_bool()
            .expect("paused flag")
    };

    let r = request(
        addr,
        "POST",
        "/api/v1/sites/example/pause",
        Some(&admin),
        None,
    )
    .expect("pause");
    assert_eq!(r.status, 200, "{}", r.body);
    let (code, out, err) = cli(&["backup", "create"]);
    assert_eq!(code, 0, "backup create while serve runs: {out}{err}");
    let list = request(addr, "GET", "/api/v1/backups", Some(&admin), None).expect("list");
    assert_eq!(list.status, 200, "{}", list.body);
    let id = list.json()["backups"][0]["id"].as_i64().expect("backup id");
    let r = request(
        addr,
        "POST",
        "/api/v1/sites/example/resume",
        Some(&admin),
        None,
    )
    .expect("resume");
    assert_eq!(r.status, 200, "{}", r.body);
    // /status is cached briefly: the resume shows once the cache turns over.
    crate::harness::wait_for(
        std::time::Duration::from_secs(30),
        "the status to show the site resumed",
        || !paused(),
    );

    // The CLI hands a restore under a running serve to the daemon; with
    // [http] listen on port 0 it cannot find it without --url, and says so.
    let (code, out, err) = cli(&["backup", "restore", &id.to_string()]);
    assert_ne!(code, 0, "the CLI restored under a running serve: {out}");
    assert!(
        err.contains("--url"),
        "the refusal says how to reach the daemon: {err}"
    );

    let r = request(
        addr,
        "POST",
        &format!("/api/v1/backups/{id}/restore"),
        Some(&admin),
        None,
    )
    .expect("restore");
    assert_eq!(r.status, 202, "{}", r.body);
    let follow = r.json()["follow"].as_str().expect("follow").to_string();
    let op = crate::harness::wait_for_value(
        std::time::Duration::from_secs(120),
        "the restore to end",
        || {
            let op = request(addr, "GET", &follow, Some(&admin), None)
                .expect("operation")
                .json();
            (op["state"] != "running").then_some(op)
        },
    );
    assert_eq!(op["state"], "done", "{op}");
    let report = &op["result"];
    assert_eq!(report["restored"].as_i64(), Some(id), "{report}");
    assert!(
        report["safety_backup"].as_i64().is_some_and(|s| s > id),
        "{report}"
    );
    assert!(
        paused(),
        "the restored database has the site paused, as when it was backed up"
    );

    let r = request(
        addr,
        "POST",
        "/api/v1/backups/9999/restore",
        Some(&admin),
        None,
    )
    .expect("404");
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["error"], "not_found");
    drop(served);
}
