//! Secrets injected into every error path a running `serve` can reach, and
//! then looked for everywhere they could surface (issue 11, deliverable 3).
//!
//! The secrets, each through the error path that echoes it:
//! - the WordPress application password: a WordPress-like server answers
//!   every authenticated request with a 500 that echoes the request head
//!   (`Authorization: Basic …`) and, like a phpinfo() page, `PHP_AUTH_PW`
//!   in clear — alternately as an HTML page and as WordPress's JSON error;
//! - the LLM API key: an OpenAI-compatible proxy answers 401 in OpenAI's
//!   error format, quoting the key it was sent;
//! - the alert webhook's secret URL: the listener answers 500 quoting the
//!   request line (the secret path);
//! - the SMTP password: the mail server refuses `AUTH PLAIN`, quoting the
//!   token and the password it decoded;
//! - a PostgreSQL password given as `?password=`: `POST /api/v1/db/copy` to
//!   a server that is not there (the answer and its audit event), and
//!   `config check` / `db status` of a config holding such a URL;
//! - the admin API token, used for every API call.
//!
//! The places searched (nothing may be found, in clear or in the encodings
//! a server may echo: base64 of `user:password`, the SMTP AUTH token,
//! percent-encoding, and a fragment of each secret for cut-off echoes):
//! 1. every file under the data dir — the SQLite database, its -wal and
//!    -shm files, the outbox — and the backup archive made afterwards by
//!    `backup create`, decompressed;
//! 2. serve's log (stderr, `blog_poster=debug`);
//! 3. the answers of every GET route of the API (`ROUTES`, parameters filled
//!    in with the test's site, jobs, runs, article and the copy's
//!    operation), the `db/copy` answer (202) and its failed operation, and
//!    /metrics;
//! 4. every alert payload the webhook listener received;
//! 5. the output of `config check`, `db status` and `backup create`.
//!
//! The test also proves that each secret did reach its error path (the
//! servers saw and echoed it; the stored errors carry a mask where the
//! echo was), so it cannot pass because nothing was injected. Mutation
//! check: with `redact::text` returning its input unchanged the test fails
//! (recorded in docs/testing.md).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use blog_poster::config::{self, Environment};
use blog_poster::domain::lifecycle::JobStatus;
use blog_poster::store::CheckDecision;
use blog_poster::web::api::ROUTES;

use crate::fake_http::{Respond, Seen, header, http_server};
use crate::harness::{command, ready_file, run, wait_for, wait_ready, write_config};
use crate::web_client::request;

const WP_USER: &str = "secret-editor";
const WP_PASSWORD: &str = "Wq7x Lp3z Nb8m Tt2k Hv6r Jd9s";
const LLM_KEY: &str = "llmkey-Zr4T9wQ2mX7pL0sNv5Bc";
const WEBHOOK_TOKEN: &str = "wh-Q8sT2vX9zK4mP7rNd3Fg";
const SMTP_USER: &str = "alerts";
const SMTP_PASSWORD: &str = "smtp-Pw-7Hq2Lx9Zr4Yk";
const DB_PASSWORD: &str = "pgpw-Y6tR3eW1qA9zUo2";

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// What must appear nowhere, with a name for the failure message.
fn needles(admin_token: &str) -> Vec<(String, String)> {
    let basic = b64(format!("{WP_USER}:{WP_PASSWORD}").as_bytes());
    let smtp_plain = b64(format!("\0{SMTP_USER}\0{SMTP_PASSWORD}").as_bytes());
    let mut out = vec![
        (
            "the WordPress password".to_string(),
            WP_PASSWORD.to_string(),
        ),
        (
            "the WordPress password without spaces".into(),
            WP_PASSWORD.replace(' ', ""),
        ),
        (
            "the WordPress password, form-encoded".into(),
            WP_PASSWORD.replace(' ', "+"),
        ),
        (
            "the WordPress password, percent-encoded".into(),
            WP_PASSWORD.replace(' ', "%20"),
        ),
        ("base64(user:password) of WordPress".into(), basic.clone()),
        (
            "the start of base64(user:password) (a cut-off echo)".into(),
            basic[..20].to_string(),
        ),
        ("the LLM API key".into(), LLM_KEY.to_string()),
        ("the webhook URL's token".into(), WEBHOOK_TOKEN.to_string()),
        ("the SMTP password".into(), SMTP_PASSWORD.to_string()),
        ("the SMTP AUTH PLAIN token".into(), smtp_plain),
        ("the database password".into(), DB_PASSWORD.to_string()),
        ("the admin API token".into(), admin_token.to_string()),
    ];
    // A fragment of each raw secret, for echoes cut in the middle.
    for s in [
        WP_PASSWORD,
        LLM_KEY,
        WEBHOOK_TOKEN,
        SMTP_PASSWORD,
        DB_PASSWORD,
    ] {
        let mid = s.len() / 2;
        out.push((
            format!("a fragment of {s:?}"),
            s[mid - 5..mid + 5].to_string(),
        ));
    }
    out
}

/// Fails, naming the place and the secret, when `text` holds a needle.
fn assert_clean(place: &str, text: &str, needles: &[(String, String)], found: &mut Vec<String>) {
    for (what, needle) in needles {
        if let Some(at) = text.find(needle.as_str()) {
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(80)
                .map_or(0, |(i, _)| i);
            let to = (at + needle.len() + 40).min(text.len());
            let to = (to..=text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            found.push(format!("{place}: {what} in …{}…", &text[from..to]));
        }
    }
}

/// A WordPress-like server behind a proxy that leaks: discovery works, every
/// authenticated request fails with a 500 echoing what it was sent.
fn leaky_wordpress() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let addr_cell: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
    let cell = addr_cell.clone();
    let respond: Arc<Respond> = Arc::new(move |i, req| {
        let addr = cell.lock().expect("lock").expect("address set");
        let first = req.head.lines().next().unwrap_or_default().to_string();
        if first.starts_with("GET / ") {
            return (
                200,
                "text/html; charset=UTF-8",
                vec![(
                    "Link".into(),
                    format!("<http://{addr}/wp-json/>; rel=\"https://api.w.org/\""),
                )],
                "<html><body>Echo blog</body></html>".into(),
            );
        }
        if first.starts_with("GET /wp-json/ ") {
            return (
                200,
                "application/json",
                vec![],
                r#"{"name":"Echo","namespaces":["oembed/1.0","wp/v2"],"authentication":{"application-passwords":{"endpoints":{}}}}"#.into(),
            );
        }
        // What PHP decoded from the Authorization header, as phpinfo() shows it.
        let auth = header(&req.head, "authorization").unwrap_or_default();
        let decoded = auth
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let pw = decoded
            .split_once(':')
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
        if i % 2 == 0 {
            let message = format!(
                "Fatal error. Request was: {} PHP_AUTH_PW={pw}",
                req.head.replace("\r\n", " | ")
            );
            let body = serde_json::json!({
                "code": "internal_server_error",
                "message": message,
                "data": { "status": 500 }
            });
            (500, "application/json", vec![], body.to_string())
        } else {
            (
                500,
                "text/html",
                vec![],
                format!(
                    "<html><head><title>500 Internal Server Error</title></head><body>\
                     <h1>Internal Server Error</h1><pre>{}</pre>\
                     <table><tr><td>PHP_AUTH_USER</td><td>{WP_USER}</td></tr>\
                     <tr><td>PHP_AUTH_PW</td><td>{pw}</td></tr></table></body></html>",
                    req.head
                ),
            )
        }
    });
    let (addr, seen) = http_server(respond);
    *addr_cell.lock().expect("lock") = Some(addr);
    (addr, seen)
}

/// An OpenAI-compatible proxy that quotes the key it was sent in its 401.
fn leaky_llm() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    http_server(Arc::new(|_, req| {
        let key = header(&req.head, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string();
        let body = serde_json::json!({
            "error": {
                "message": format!("Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."),
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key"
            }
        });
        (401, "application/json", vec![], body.to_string())
    }))
}

/// A webhook receiver that records every payload and fails, quoting the
/// request line (the secret path).
fn leaky_webhook() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    http_server(Arc::new(|_, req| {
        let line = req.head.lines().next().unwrap_or_default().to_string();
        (500, "text/plain", vec![], format!("no route for {line}"))
    }))
}

/// An SMTP server that refuses AUTH PLAIN, quoting the token and the
/// password it decoded. Returns the port and how many AUTH attempts it saw.
fn leaky_smtp() -> (u16, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
    let port = listener.local_addr().expect("addr").port();
    let auths = Arc::new(Mutex::new(0usize));
    let count = auths.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let _ = smtp_session(stream, &count);
            });
        }
    });
    (port, auths)
}

fn smtp_session(stream: TcpStream, auths: &Mutex<usize>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    w.write_all(b"220 sink ESMTP\r\n")?;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            "250-sink\r\n250 AUTH PLAIN LOGIN\r\n".to_string()
        } else if let Some(token) = cmd.strip_prefix("AUTH PLAIN ") {
            *auths.lock().expect("lock") += 1;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(token)
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            format!("535 5.7.8 Authentication failed for {token} ({decoded})\r\n")
        } else if upper == "QUIT" {
            w.write_all(b"221 Bye\r\n")?;
            return Ok(());
        } else {
            "502 5.5.2 not here\r\n".to_string()
        };
        w.write_all(reply.as_bytes())?;
    }
}

fn env_pairs(webhook: SocketAddr) -> Vec<(String, String)> {
    vec![
        ("TEST_WP_PW".into(), WP_PASSWORD.into()),
        ("TEST_LLM_KEY".into(), LLM_KEY.into()),
        (
            "TEST_WEBHOOK_URL".into(),
            format!("http://{webhook}/hooks/{WEBHOOK_TOKEN}"),
        ),
        ("TEST_SMTP_PW".into(), SMTP_PASSWORD.into()),
    ]
}

fn config_text(data: &Path, wp: SocketAddr, llm: SocketAddr, smtp: u16) -> String {
    format!(
        "data_dir = \"{data}\"\n\
         [log]\nformat = \"plain\"\n\
         [engine]\npoll_interval = \"50ms\"\nretry_base = \"100ms\"\nretry_max = \"200ms\"\nmax_attempts = 2\n\
         [http]\nlisten = \"127.0.0.1:0\"\n\
         [alerts]\nwebhook_url_env = \"TEST_WEBHOOK_URL\"\nmin_interval = \"0s\"\n\
         [alerts.smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"none\"\nusername = \"{SMTP_USER}\"\n\
         password_env = \"TEST_SMTP_PW\"\nfrom = \"blog-poster@example.com\"\nto = [\"ops@example.com\"]\n\
         [llm]\nmax_retries = 0\n\
         [llm.providers.proxy]\nkind = \"openai\"\nbase_url = \"http://{llm}/v1\"\napi_key_env = \"TEST_LLM_KEY\"\n\
         max_tokens = 1000\ntimeout = \"5s\"\n\
         [sites.wp]\npublisher = \"wordpress\"\n\
         [sites.wp.wordpress]\nurl = \"http://{wp}/\"\nusername = \"{WP_USER}\"\napp_password_env = \"TEST_WP_PW\"\n\
         min_interval = \"0s\"\nrequest_timeout = \"5s\"\n\
         [sites.llm]\npublisher = \"outbox\"\n",
        data = data.display()
    )
}

/// Every file under `dir`, recursively; `.zst` files decompressed.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if p.extension().is_some_and(|e| e == "zst") {
                    let plain = zstd::decode_all(&bytes[..]).expect("a readable backup archive");
                    out.push((p.with_extension("zst (decompressed)"), plain));
                }
                out.push((p, bytes));
            }
        }
    }
    out
}

#[test]
fn secret_injection_no_secret_reaches_storage_logs_api_alerts_or_backups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (wp, wp_seen) = leaky_wordpress();
    let (llm, llm_seen) = leaky_llm();
    let (webhook, webhook_seen) = leaky_webhook();
    let (smtp, smtp_auths) = leaky_smtp();
    let env = env_pairs(webhook);
    let text = config_text(&data, wp, llm, smtp);
    let config_path = write_config(dir.path(), &text);

    // The work, queued before serve starts: an article ready to publish to
    // the leaky WordPress, and a run whose next stage calls the leaky LLM.
    let (wp_run, article_id, llm_run) = {
        let mut pairs: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let home = dir.path().to_str().expect("utf8");
        pairs.push(("HOME", home));
        let cfg = config::parse(&text, Some(&config_path), &Environment::from_pairs(pairs))
            .unwrap_or_else(|e| panic!("config: {e}"));
        let ws = crate::wp_env::open(&cfg);
        let (wp_run, article_id) = crate::wp_env::prepare(
            ws.store.as_ref(),
            "wp",
            crate::wp_env::article("Hardening checklist", "hardening-checklist"),
            CheckDecision::Publish,
        );
        let llm_run = crate::fake_llm::seed_run(ws.store.as_ref(), "llm", None, "sqlite wal mode");
        (wp_run, article_id, llm_run)
    };
    let admin = {
        let mut c = command(dir.path());
        c.arg("--config")
            .arg(&config_path)
            .args(["token", "create", "--role", "admin", "ops"]);
        for (k, v) in &env {
            c.env(k, v);
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "token create: {err}");
        out.trim().to_string()
    };
    let needles = needles(&admin);
    let mut found = Vec::new();

    // 5. The CLI: a config with a PostgreSQL URL carrying ?password=.
    let pg_dir = dir.path().join("pg");
    std::fs::create_dir_all(&pg_dir).expect("mkdir");
    let pg_config = write_config(
        &pg_dir,
        &format!(
            "data_dir = \"{}\"\n[database]\nurl = \"postgres://postgres@127.0.0.1:1/none?sslmode=disable&password={DB_PASSWORD}\"\n\
             [sites.example]\npublisher = \"outbox\"\n",
            pg_dir.join("data").display()
        ),
    );
    let (code, out, err) = run(command(&pg_dir)
        .arg("--config")
        .arg(&pg_config)
        .args(["config", "check"]));
    assert_eq!(code, 0, "config check: {out}{err}");
    assert!(
        out.contains("password=***"),
        "config check shows the URL masked: {out}"
    );
    assert_clean(
        "`config check` output",
        &format!("{out}{err}"),
        &needles,
        &mut found,
    );
    let (code, out, err) = run(command(&pg_dir)
        .arg("--config")
        .arg(&pg_config)
        .args(["db", "status"]));
    assert_ne!(code, 0, "nothing listens on port 1: {out}{err}");
    assert_clean(
        "`db status` output",
        &format!("{out}{err}"),
        &needles,
        &mut found,
    );

    // serve, with the secrets in its environment.
    let log_path = dir.path().join("serve.log");
    let mut cmd = command(dir.path());
    cmd.arg("--config")
        .arg(&config_path)
        .arg("serve")
        .env("RUST_LOG", "info,blog_poster=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"));
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let ready = ready_file(&mut cmd, dir.path());
    let mut child = cmd.spawn().expect("spawn serve");
    let addr = wait_ready(&mut child, &ready, Duration::from_secs(60));
    let get = |path: &str| {
        request(addr, "GET", path, Some(&admin), None).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    };

    // Both jobs die of their echoing servers; both alerts go out.
    let job_of = |run: i64, stage: &str| -> Option<serde_json::Value> {
        get(&format!("/api/v1/jobs?run={run}&limit=20")).json()["jobs"]
            .as_array()?
            .iter()
            .find(|j| j["stage"] == stage)
            .cloned()
    };
    let dead = JobStatus::Dead.as_str();
    wait_for(
        Duration::from_secs(90),
        "the publish and generate jobs to die",
        || {
            job_of(wp_run.0, "publish").is_some_and(|j| j["status"] == dead)
                && job_of(llm_run.0, "generate").is_some_and(|j| j["status"] == dead)
        },
    );
    wait_for(
        Duration::from_secs(60),
        "alerts at the webhook and the SMTP server",
        || webhook_seen.lock().expect("lock").len() >= 2 && *smtp_auths.lock().expect("lock") >= 1,
    );

    // The secrets did reach their error paths: the servers saw them, and
    // the stored errors show a mask where the echo was.
    let basic = b64(format!("{WP_USER}:{WP_PASSWORD}").as_bytes());
    assert!(
        wp_seen
            .lock()
            .expect("lock")
            .iter()
            .any(|r| header(&r.head, "authorization") == Some(&format!("Basic {basic}"))),
        "WordPress was sent the password"
    );
    assert!(
        llm_seen
            .lock()
            .expect("lock")
            .iter()
            .any(|r| header(&r.head, "authorization") == Some(&format!("Bearer {LLM_KEY}"))),
        "the LLM proxy was sent the key"
    );
    let publish_error = job_of(wp_run.0, "publish").expect("publish job")["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        publish_error.contains("500")
            && (publish_error.contains("Internal Server Error")
                || publish_error.contains("Request was")),
        "the publish error quotes the echo: {publish_error}"
    );
    let generate_error = job_of(llm_run.0, "generate").expect("generate job")["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        generate_error.contains("Incorrect API key provided: "),
        "the generate error quotes the echo: {generate_error}"
    );

    // The database URL path: db/copy to a server that is not there.
    let copy = request(
        addr,
        "POST",
        "/api/v1/db/copy",
        Some(&admin),
        Some(&format!(
            r#"{{"to":"postgres://postgres@127.0.0.1:1/none?sslmode=disable&password={DB_PASSWORD}"}}"#
        )),
    )
    .expect("db copy");
    // An operation (202), which fails when the copy cannot reach the target.
    assert_eq!(copy.status, 202, "{}", copy.body);
    assert_clean("the db/copy answer", &copy.body, &needles, &mut found);
    let follow = copy.json()["follow"]
        .as_str()
        .expect("an operation to follow")
        .to_string();
    let operation_id = copy.json()["operation"]["id"].to_string();
    let failed = crate::harness::wait_for_value(
        Duration::from_secs(60),
        "the copy operation to fail",
        || {
            let r = get(&follow);
            (r.json()["state"] != "running").then_some(r)
        },
    );
    assert_eq!(failed.json()["state"], "failed", "{}", failed.body);
    assert_eq!(failed.json()["error"]["status"], 502, "{}", failed.body);
    assert_clean("the db/copy operation", &failed.body, &needles, &mut found);

    // 3. Every GET route of the API, and /metrics.
    let ids = [("{site}", "wp".to_string()), ("{name}", "wp".to_string())];
    // (Static assets hold no data: /assets/{file} is left out.)
    for route in ROUTES
        .iter()
        .filter(|r| r.method == "GET" && !r.pattern.contains("{file}"))
    {
        let mut path = route.pattern.to_string();
        for (param, value) in &ids {
            path = path.replace(param, value);
        }
        let id = if path.starts_with("/api/v1/jobs") {
            job_of(wp_run.0, "publish").expect("job")["id"].to_string()
        } else if path.starts_with("/api/v1/runs") {
            wp_run.0.to_string()
        } else if path.starts_with("/api/v1/operations") {
            operation_id.clone()
        } else {
            article_id.0.to_string()
        };
        path = path.replace("{id}", &id);
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = get(&format!("{path}{sep}limit=500"));
        assert!(r.status < 300, "GET {path}: {} {}", r.status, r.body);
        assert_clean(&format!("GET {path}"), &r.body, &needles, &mut found);
    }
    let events = get("/api/v1/events?limit=500");
    assert!(
        events.body.contains("/api/v1/db/copy"),
        "the audit event of the copy is there: {}",
        events.body
    );

    // 4. Alert payloads.
    for (i, r) in webhook_seen.lock().expect("lock").iter().enumerate() {
        assert_clean(
            &format!("webhook payload {i}"),
            &r.body,
            &needles,
            &mut found,
        );
    }

    // Stop serve (SIGTERM: a graceful stop), then back it up.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    crate::harness::wait_for_exit(&mut child, Duration::from_secs(30), "serve to stop");
    let mut backup = command(dir.path());
    backup
        .arg("--config")
        .arg(&config_path)
        .args(["backup", "create"]);
    for (k, v) in &env {
        backup.env(k, v);
    }
    let (code, out, err) = run(&mut backup);
    assert_eq!(code, 0, "backup create: {out}{err}");
    assert_clean(
        "`backup create` output",
        &format!("{out}{err}"),
        &needles,
        &mut found,
    );

    // 2. The log.
    let log = std::fs::read_to_string(&log_path).expect("serve log");
    assert!(
        log.contains("webhook") && log.contains("535"),
        "the failed deliveries were logged: {log}"
    );
    assert_clean("serve's log", &log, &needles, &mut found);

    // 1. Every file under the data dir, the backup archive decompressed.
    let files = files_under(&data);
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("decompressed")),
        "a backup archive was made: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let mut searched_db = false;
    for (path, bytes) in &files {
        searched_db |= path.extension().is_some_and(|e| e == "db");
        assert_clean(
            &path.display().to_string(),
            &String::from_utf8_lossy(bytes),
            &needles,
            &mut found,
        );
    }
    assert!(searched_db, "the SQLite database was searched");

    assert!(found.is_empty(), "secrets found:\n{}", found.join("\n"));
    // Masked where the echo was, not dropped.
    assert!(
        publish_error.contains("[redacted]") || publish_error.contains("***"),
        "{publish_error}"
    );
    assert!(
        generate_error.contains("Incorrect API key provided: [redacted]"),
        "{generate_error}"
    );
}
