//! What goes wrong with WordPress, and what the operator is told: a wrong
//! password, a contributor who may not publish, a server that strips the
//! Authorization header, TLS failures, timeouts, a firewall's challenge
//! page — through the client, the publish stage and `doctor`.
//!
//! Real WordPress throughout. Stand-ins only for what cannot run here: a
//! proxy that strips the Authorization header (as a misconfigured
//! Apache/FastCGI does), a Cloudflare-style challenge, a silent server, and
//! a TLS server with a self-signed certificate (`openssl s_server`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use blog_poster::domain::lifecycle::{JobStatus, RunStatus, Stage};
use blog_poster::store::*;
use blog_poster::wordpress::{WpClient, WpError};

use crate::harness::{command, run};
use crate::wp_env::{self, TestSite, admin, article, prepare, wordpress_config};

fn client_for(wp: &wp_env::WpSite, user: &str, password: &str, url: &str, extra: &str) -> WpClient {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = wp_env::WpSite {
        url: url.to_string(),
        ..wp.clone()
    };
    let c = wp_env::config(
        dir.path(),
        &[TestSite {
            name: "t",
            wp: &site,
            user,
            password,
            extra,
        }],
    );
    WpClient::new("t", wordpress_config(&c, "t")).expect("client")
}

#[tokio::test]
async fn wrong_password_is_named_as_such_and_the_job_dies_at_once() {
    let wp = wp_env::pretty();
    let client = client_for(&wp, &wp.user, "abcd efgh ijkl mnop qrst uvwx", &wp.url, "");
    let err = client.me().await.expect_err("wrong password");
    assert!(matches!(err, WpError::BadCredentials { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.contains("does not accept the application password of user \"admin\""),
        "{text}"
    );
    assert!(
        text.contains("XML-RPC confirms: Incorrect username or password."),
        "{text}"
    );
    assert!(text.contains("Application Passwords"), "the fix: {text}");
    assert!(
        !text.contains("abcd efgh"),
        "the password never appears: {text}"
    );

    // Through the pipeline: one attempt, a dead job, the reason kept, no post.
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    let config = wp_env::config(
        dir.path(),
        &[TestSite {
            name: "wrong",
            wp: &wp,
            user: &wp.user,
            password: "abcd efgh ijkl mnop qrst uvwx",
            extra: "",
        }],
    );
    let ws = wp_env::open(&config);
    let store = ws.store.clone();
    let slug = format!("never-{n}");
    let (run, id) = prepare(
        store.as_ref(),
        "wrong",
        article("Never", &slug),
        CheckDecision::Publish,
    );
    let summary = wp_env::work(ws, &config, vec![run], Duration::from_secs(10)).await;
    let (r, jobs) = &summary.runs[0];
    assert_eq!(r.status, RunStatus::Failed);
    let job = jobs
        .iter()
        .find(|j| j.stage == Stage::Publish)
        .expect("publish job");
    assert_eq!(
        (job.status, job.attempts),
        (JobStatus::Dead, 1),
        "no retries: {job:?}"
    );
    assert!(
        job.last_error
            .as_deref()
            .unwrap_or("")
            .contains("does not accept the application password"),
        "{job:?}"
    );
    let entry = store.publish_entry(id).expect("ledger").expect("row");
    assert_eq!(entry.last_error, job.last_error);
    let posts = wp_env::admin_client(&wp)
        .posts_by_slug(&slug)
        .await
        .expect("lookup");
    assert!(posts.is_empty(), "{posts:?}");
}

#[tokio::test]
async fn contributor_may_not_publish_but_may_submit_for_review() {
    let wp = wp_env::pretty();
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    let contributor = |name, extra| TestSite {
        name,
        wp: &wp,
        user: &wp.contributor_user,
        password: &wp.contributor_password,
        extra,
    };
    let config = wp_env::config(
        dir.path(),
        &[
            contributor("publishing", "post_status = \"publish\""),
            contributor("reviewing", "post_status = \"pending\""),
        ],
    );
    let ws = wp_env::open(&config);
    let store = ws.store.clone();
    let (run1, a1) = prepare(
        store.as_ref(),
        "publishing",
        article("Contributor publish", &format!("contrib-pub-{n}")),
        CheckDecision::Publish,
    );
    let (run2, a2) = prepare(
        store.as_ref(),
        "reviewing",
        article("Contributor pending", &format!("contrib-pending-{n}")),
        CheckDecision::Publish,
    );
    let summary = wp_env::work(ws, &config, vec![run1, run2], Duration::from_secs(10)).await;
    let (r1, jobs1) = &summary.runs[0];
    assert_eq!(r1.status, RunStatus::Failed);
    let job = jobs1
        .iter()
        .find(|j| j.stage == Stage::Publish)
        .expect("job");
    assert_eq!((job.status, job.attempts), (JobStatus::Dead, 1));
    let error = job.last_error.clone().unwrap_or_default();
    assert!(error.contains("403 rest_cannot_publish"), "{error}");
    assert!(
        error.contains("give it the Author or Editor role"),
        "{error}"
    );
    assert!(error.contains("post_status = \"pending\""), "{error}");
    assert_eq!(
        store.get_article(a1).expect("a").status,
        blog_poster::domain::lifecycle::ArticleStatus::Approved
    );

    assert_eq!(
        summary.runs[1].0.status,
        RunStatus::Succeeded,
        "{summary:?}"
    );
    let post_id = store
        .publish_entry(a2)
        .expect("ledger")
        .expect("row")
        .remote_id
        .expect("id");
    let post = wp_env::wp_get(
        &wp,
        &format!("wp/v2/posts/{post_id}"),
        &[("context", "edit")],
    )
    .await;
    assert_eq!(post["status"], "pending");
}

/// A proxy in front of the real site that drops the Authorization header,
/// as Apache with PHP over CGI/FastCGI does without the HTTP_AUTHORIZATION
/// rule. URLs of the site in answers are rewritten to the proxy's.
fn stripping_proxy(upstream: &str) -> String {
    let upstream_host = upstream.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let me = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let proxy = me.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (up, me) = (upstream_host.clone(), proxy.clone());
            std::thread::spawn(move || {
                let _ = forward(conn, &up, &me);
            });
        }
    });
    format!("http://{me}")
}

fn read_head(s: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            break;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok((head, body))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = body.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[i + 2..i + 2 + size]);
        body = &body[i + 2 + size + 2..];
    }
    out
}

fn forward(mut client: TcpStream, upstream: &str, me: &str) -> std::io::Result<()> {
    let (head, body) = read_head(&mut client)?;
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let mut request = format!("{}\r\n", lines.next().unwrap_or(""));
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("authorization:")
            || lower.starts_with("connection:")
            || lower.starts_with("host:")
        {
            continue;
        }
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Host: {upstream}\r\nConnection: close\r\n\r\n"));
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(request.as_bytes())?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 4);
    let (head, body) = answer.split_at(split);
    let head = String::from_utf8_lossy(head);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    let body = String::from_utf8_lossy(&body)
        .replace(upstream, me)
        .replace(&upstream.replace('/', "\\/"), &me.replace('/', "\\/"));
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-length:") || lower.starts_with("transfer-encoding:") {
            continue;
        }
        out.push_str(&line.replace(upstream, me));
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    client.write_all(out.as_bytes())?;
    client.write_all(body.as_bytes())?;
    Ok(())
}

#[tokio::test]
async fn stripped_authorization_header_is_told_apart_from_a_wrong_password() {
    let wp = wp_env::pretty();
    let proxy = stripping_proxy(&wp.url);
    let client = client_for(&wp, &wp.user, &wp.app_password, &proxy, "");
    let d = client
        .discovery()
        .await
        .expect("discovery through the proxy");
    assert!(
        d.root.as_url().as_str().starts_with(&proxy),
        "{}",
        d.root.as_url()
    );
    let err = client.me().await.expect_err("header stripped");
    assert!(matches!(err, WpError::AuthHeaderStripped { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("strips the Authorization header"), "{text}");
    assert!(
        text.contains("SetEnvIf Authorization"),
        "the Apache fix: {text}"
    );
    assert!(
        text.contains("fastcgi_param HTTP_AUTHORIZATION"),
        "the nginx fix: {text}"
    );
    // With a wrong password behind the same proxy, it is the password.
    let wrong = client_for(&wp, &wp.user, "wrong wrong wrong", &proxy, "");
    let err = wrong.me().await.expect_err("wrong password");
    assert!(matches!(err, WpError::BadCredentials { .. }), "{err:?}");
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_error_with_the_fix() {
    let wp = wp_env::pretty();
    let https = wp.url.replace("http://", "https://");
    let client = client_for(&wp, &wp.user, &wp.app_password, &https, "");
    let err = client.discovery().await.expect_err("no TLS there");
    assert!(matches!(err, WpError::Tls { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("speak TLS on this port"), "{err}");
}

#[tokio::test]
async fn self_signed_certificate_is_a_tls_error_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (wp.sh needs it too)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // openssl takes its port on the command line: hold one for it.
    let hold = crate::harness::PortHold::new();
    let port = hold.addr.port();
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &hold.addr.to_string(),
        ])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    crate::harness::wait_for(Duration::from_secs(60), "s_server to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    drop(hold);
    let wp = wp_env::pretty();
    let client = client_for(
        &wp,
        &wp.user,
        &wp.app_password,
        &format!("https://127.0.0.1:{port}"),
        "",
    );
    let err = client.discovery().await.expect_err("untrusted certificate");
    let _ = server.kill();
    let _ = server.wait();
    assert!(matches!(err, WpError::Tls { .. }), "{err:?}");
    assert!(
        err.to_string().contains("the certificate is self-signed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_and_that_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn); // accept, never answer
        }
    });
    let wp = wp_env::pretty();
    let client = client_for(
        &wp,
        &wp.user,
        &wp.app_password,
        &url,
        "request_timeout = \"1s\"",
    );
    let err = client.discovery().await.expect_err("timeout");
    // The configured timeout applied (not a default): the error says which.
    assert!(
        matches!(err, WpError::Timeout { after, .. } if after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("raise request_timeout"), "{err}");
}

#[tokio::test]
async fn a_firewall_challenge_page_is_named_not_parsed() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head>\
                        <body><noscript>Enable JavaScript and cookies to continue</noscript></body></html>";
            let _ = write!(
                conn,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html; charset=UTF-8\r\ncf-mitigated: challenge\r\n\
                 Server: cloudflare\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let wp = wp_env::pretty();
    let client = client_for(&wp, &wp.user, &wp.app_password, &url, "");
    let err = client.discovery().await.expect_err("blocked");
    assert!(
        matches!(err, WpError::Blocked { status: 403, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with("a Cloudflare challenge page answered"),
        "{text}"
    );
    assert!(text.contains("allow this server's IP address"), "{text}");
}

fn doctor(wp: &wp_env::WpSite, password: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    wp_env::config(dir.path(), &[admin("blog", wp, "")]);
    let (code, out, err) = run(command(dir.path()).env("TEST_WP_PW_BLOG", password).args([
        "--config",
        dir.path().join("config.toml").to_str().expect("utf8"),
        "doctor",
        "--site",
        "blog",
    ]));
    eprintln!("$ blog-poster doctor --site blog\n{out}{err}(exit {code})");
    (code, out)
}

#[test]
fn doctor_passes_a_healthy_wordpress_site() {
    let wp = wp_env::pretty();
    let (code, out) = doctor(&wp, &wp.app_password);
    assert_eq!(code, 0, "{out}");
    for line in [
        "ok    tls",
        "ok    discovery     REST API at http://127.0.0.1:18181/wp-json/ (pretty permalinks, from the Link header)",
        "ok    auth          logged in as \"admin\"",
        "ok    create-posts  may create and publish posts",
        "ok    upload-media",
        "ok    create-terms",
        "ok    clock         skew",
        "all checks passed",
    ] {
        let line = line.replace("http://127.0.0.1:18181/wp-json/", &wp.api_root);
        assert!(out.contains(&line), "missing \"{line}\" in\n{out}");
    }
}

#[test]
fn doctor_fails_on_a_wrong_password_with_the_fix() {
    let wp = wp_env::plain();
    let (code, out) = doctor(&wp, "not the password");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ok    discovery"), "{out}");
    assert!(out.contains("FAIL  auth          WordPress at"), "{out}");
    assert!(
        out.contains("fix: in WordPress (Users → Profile → Application Passwords)"),
        "{out}"
    );
    assert!(out.contains("skip  create-posts"), "{out}");
    assert!(out.contains("1 check(s) failed"), "{out}");
    assert!(
        !out.contains("not the password"),
        "the password is never shown"
    );
}
