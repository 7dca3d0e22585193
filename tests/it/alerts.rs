//! Alerts against real receivers on loopback: a webhook (wiremock) in both
//! formats with the rate limits applied end to end, an SMTP sink written
//! here that speaks real SMTP (EHLO, AUTH, MAIL, RCPT, DATA, QUIT), and the
//! daemon raising an alert for a failing source through the real binary.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use blog_poster::alerts::{self, Alert, smtp};
use blog_poster::clock::{Clock, ManualClock};
use blog_poster::config::{self, AlertsConfig, Environment, SmtpConfig, SmtpTls};
use blog_poster::domain::lifecycle::Stage;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{command, t, write_config};

fn alerts_config(extra: &str) -> AlertsConfig {
    let text = format!("data_dir = \"/tmp/unused\"\n[alerts]\n{extra}");
    config::parse(&text, None, &Environment::from_pairs([]))
        .unwrap_or_else(|e| panic!("{e}"))
        .alerts
}

fn dead(site: &str, stage: Stage) -> Alert {
    Alert::JobDead {
        site: site.into(),
        stage,
        job: 9,
        run: 4,
        attempts: 5,
        error: "HTTP 401 from <b>WordPress</b>".into(),
    }
}

async fn webhook_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("json body"))
        .collect()
}

#[tokio::test]
async fn alerts_webhook_json_is_rate_limited_per_key_and_globally() {
    let server = webhook_server().await;
    let cfg = alerts_config(&format!(
        "webhook_url = \"{}/hook\"\nmin_interval = \"1h\"\nmax_per_hour = 3\n",
        server.uri()
    ));
    let clock = Arc::new(ManualClock::new(t(0)));
    let (handle, task) = alerts::start(&cfg, clock.clone()).expect("start");
    // A storm: the same failure 20 times, then 10 different sites.
    for _ in 0..20 {
        handle.raise(dead("blog", Stage::Publish));
    }
    for i in 0..10 {
        handle.raise(dead(&format!("site{i}"), Stage::Check));
    }
    // An hour later there is room again; the first alert then reports what
    // was held back.
    clock.set(t(3601));
    handle.raise(dead("blog", Stage::Publish));
    task.expect("task").drain(Duration::from_secs(10)).await;

    let got = bodies(&server).await;
    assert_eq!(got.len(), 4, "{got:#?}");
    assert_eq!(got[0]["kind"], "job_dead");
    assert_eq!(got[0]["site"], "blog");
    assert_eq!(got[0]["severity"], "error");
    assert_eq!(got[0]["suppressed"], 0);
    assert!(
        got[0]["message"]
            .as_str()
            .expect("message")
            .contains("HTTP 401"),
        "{}",
        got[0]
    );
    // Each alert sent counts what was held back since the one before:
    // the 19 repeats, then the 8 sites over the hourly maximum.
    assert_eq!(got[1]["site"], "site0");
    assert_eq!(got[1]["suppressed"], 19);
    assert_eq!(got[2]["site"], "site1");
    assert_eq!(got[2]["suppressed"], 0);
    assert_eq!(got[3]["site"], "blog");
    assert_eq!(got[3]["suppressed"], 8);
}

#[tokio::test]
async fn alerts_webhook_slack_format_posts_only_text() {
    let server = webhook_server().await;
    let cfg = alerts_config(&format!(
        "webhook_url = \"{}/hook\"\nformat = \"slack\"\n",
        server.uri()
    ));
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(t(0)));
    let (handle, task) = alerts::start(&cfg, clock).expect("start");
    handle.raise(Alert::BackupFailed {
        error: "upload to s3 failed: 403 <Forbidden>".into(),
    });
    task.expect("task").drain(Duration::from_secs(10)).await;
    let got = bodies(&server).await;
    assert_eq!(got.len(), 1);
    let obj = got[0].as_object().expect("object");
    assert_eq!(obj.len(), 1, "{obj:?}");
    let text = obj["text"].as_str().expect("text");
    assert!(text.starts_with("*[blog-poster] backup failed*"), "{text}");
    assert!(text.contains("403 &lt;Forbidden&gt;"), "{text}");
}

#[tokio::test]
async fn alerts_webhook_errors_never_show_the_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such hook"))
        .mount(&server)
        .await;
    let cfg = alerts_config(&format!(
        "webhook_url = \"{}/services/T000/B000/SECRETTOKEN\"\n",
        server.uri()
    ));
    let errors = alerts::send_now(&cfg, &dead("blog", Stage::Generate), t(0)).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("HTTP 404"), "{errors:?}");
    assert!(errors[0].contains("no such hook"), "{errors:?}");
    assert!(!errors[0].contains("SECRETTOKEN"), "{errors:?}");

    // Unreachable: still no URL in the message.
    let cfg = alerts_config("webhook_url = \"http://127.0.0.1:9/services/SECRETTOKEN\"\n");
    let errors = alerts::send_now(&cfg, &dead("blog", Stage::Generate), t(0)).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(!errors[0].contains("SECRETTOKEN"), "{errors:?}");
}

/// What the SMTP sink saw: the command lines and the DATA payload.
#[derive(Debug, Default, Clone)]
struct Transcript {
    commands: Vec<String>,
    data: String,
}

/// A one-connection SMTP server on loopback. `ehlo` lists the capabilities
/// it advertises; `reject_rcpt` answers 550 to RCPT TO for that address.
async fn smtp_sink(
    ehlo: &'static [&'static str],
    reject_rcpt: Option<&'static str>,
) -> (u16, Arc<Mutex<Transcript>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Transcript::default()));
    let out = seen.clone();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let _ = w.write_all(b"220 sink.test ESMTP ready\r\n").await;
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let cmd = line.trim_end().to_string();
            seen.lock().expect("lock").commands.push(cmd.clone());
            let upper = cmd.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") {
                let mut s = String::from("250-sink.test greets you\r\n");
                for (i, c) in ehlo.iter().enumerate() {
                    let sep = if i + 1 == ehlo.len() { ' ' } else { '-' };
                    s.push_str(&format!("250{sep}{c}\r\n"));
                }
                if ehlo.is_empty() {
                    s = "250 sink.test\r\n".into();
                }
                s
            } else if upper.starts_with("AUTH PLAIN") {
                "235 2.7.0 Authentication successful\r\n".into()
            } else if upper.starts_with("MAIL FROM:") {
                "250 2.1.0 Ok\r\n".into()
            } else if upper.starts_with("RCPT TO:") {
                match reject_rcpt {
                    Some(bad) if cmd.contains(bad) => "550 5.1.1 No such user\r\n".into(),
                    _ => "250 2.1.5 Ok\r\n".into(),
                }
            } else if upper == "DATA" {
                let _ = w
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(&l);
                }
                seen.lock().expect("lock").data = data;
                "250 2.0.0 Ok: queued as 1234\r\n".into()
            } else if upper == "QUIT" {
                let _ = w.write_all(b"221 2.0.0 Bye\r\n").await;
                return;
            } else {
                "502 5.5.2 Error: command not recognized\r\n".into()
            };
            let _ = w.write_all(reply.as_bytes()).await;
        }
    });
    (port, out)
}

fn smtp_config(port: u16, tls: SmtpTls, login: bool) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls,
        username: login.then(|| "alerts".to_string()),
        password: login.then(|| config::Secret::new("s3cret pw".into(), "test")),
        from: "blog-poster@example.com".into(),
        to: vec!["ops@example.com".into(), "oncall@example.com".into()],
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn alerts_email_goes_through_a_real_smtp_conversation() {
    let (port, seen) = smtp_sink(&["PIPELINING", "AUTH PLAIN LOGIN", "8BITMIME"], None).await;
    let cfg = smtp_config(port, SmtpTls::None, true);
    let alert = Alert::SourceFailing {
        site: "blog".into(),
        url: "https://feeds.example/a.xml".into(),
        since: t(0),
        failures: 12,
        error: Some("HTTP 503\n.\nRCPT TO:<evil@example.com>".into()),
    };
    smtp::send_alert(&cfg, &alert, t(7 * 3600), 3)
        .await
        .expect("sent");
    let seen = seen.lock().expect("lock").clone();
    let c = &seen.commands;
    assert!(c[0].starts_with("EHLO "), "{c:?}");
    // AUTH PLAIN base64("\0alerts\0s3cret pw")
    assert_eq!(c[1], "AUTH PLAIN AGFsZXJ0cwBzM2NyZXQgcHc=", "{c:?}");
    assert_eq!(c[2], "MAIL FROM:<blog-poster@example.com>");
    assert_eq!(c[3], "RCPT TO:<ops@example.com>");
    assert_eq!(c[4], "RCPT TO:<oncall@example.com>");
    assert_eq!(c[5], "DATA");
    assert_eq!(c.last().map(String::as_str), Some("QUIT"));
    assert_eq!(
        c.len(),
        7,
        "no command smuggled in through the error text: {c:?}"
    );
    let d = &seen.data;
    assert!(
        d.contains(
            "Subject: [blog-poster] site blog: source https://feeds.example/a.xml keeps failing\r\n"
        ),
        "{d}"
    );
    assert!(
        d.contains("To: ops@example.com, oncall@example.com\r\n"),
        "{d}"
    );
    assert!(
        d.contains("Failing since 2027-01-15 08:00 UTC (12 failed check(s) in a row)"),
        "{d}"
    );
    // The lone "." line of the error was dot-stuffed, so DATA did not end early.
    assert!(d.contains("\r\n..\r\nRCPT TO:<evil@example.com>"), "{d}");
    assert!(d.contains("3 more alert(s) were held back"), "{d}");
}

#[tokio::test]
async fn alerts_email_requires_starttls_when_configured() {
    let (port, seen) = smtp_sink(&["AUTH PLAIN"], None).await;
    let cfg = smtp_config(port, SmtpTls::StartTls, true);
    let err = smtp::send_alert(&cfg, &dead("blog", Stage::Publish), t(0), 0)
        .await
        .expect_err("no STARTTLS offered");
    let msg = err.to_string();
    assert!(msg.contains("does not offer STARTTLS"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    // The password never went out.
    let seen = seen.lock().expect("lock").clone();
    assert!(
        seen.commands.iter().all(|c| !c.starts_with("AUTH")),
        "{seen:?}"
    );
}

/// A man in the middle appends a forged reply to the server's STARTTLS
/// answer, hoping it is read after the handshake as if it came encrypted:
/// the client refuses to start TLS over it and never logs in.
#[tokio::test]
async fn alerts_email_refuses_a_reply_injected_before_starttls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let _ = w.write_all(b"220 sink.test ESMTP ready\r\n").await;
        let mut line = String::new();
        while r.read_line(&mut line).await.unwrap_or(0) > 0 {
            let cmd = line.trim_end().to_ascii_uppercase();
            seen.lock().expect("lock").push(cmd.clone());
            let reply: &[u8] = if cmd.starts_with("EHLO") {
                b"250-sink.test\r\n250 STARTTLS\r\n"
            } else if cmd == "STARTTLS" {
                b"220 2.0.0 Ready to start TLS\r\n250-sink.test\r\n250 AUTH PLAIN\r\n"
            } else {
                b"502 5.5.2 what\r\n"
            };
            let _ = w.write_all(reply).await;
            line.clear();
        }
    });
    let cfg = smtp_config(port, SmtpTls::StartTls, true);
    let err = smtp::send_alert(&cfg, &dead("blog", Stage::Publish), t(0), 0)
        .await
        .expect_err("injected reply");
    let msg = err.to_string();
    assert!(
        msg.contains("unexpected data after the STARTTLS reply"),
        "{msg}"
    );
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    let seen = out.lock().expect("lock").clone();
    assert!(seen.iter().all(|c| !c.starts_with("AUTH")), "{seen:?}");
}

#[tokio::test]
async fn alerts_email_tls_from_the_first_byte_says_tls_failed_against_a_plaintext_server() {
    let (port, seen) = smtp_sink(&["AUTH PLAIN"], None).await;
    let cfg = smtp_config(port, SmtpTls::Tls, true);
    let err = smtp::send_alert(&cfg, &dead("blog", Stage::Publish), t(0), 0)
        .await
        .expect_err("no TLS there");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("TLS with the SMTP server 127.0.0.1:{port} failed")),
        "{msg}"
    );
    let seen = seen.lock().expect("lock").clone();
    assert!(
        seen.commands.iter().all(|c| !c.starts_with("AUTH")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn alerts_email_rejected_recipient_names_the_command_and_code() {
    let (port, _) = smtp_sink(&["8BITMIME"], Some("oncall@")).await;
    let cfg = smtp_config(port, SmtpTls::None, false);
    let err = smtp::send_alert(&cfg, &dead("blog", Stage::Publish), t(0), 0)
        .await
        .expect_err("rejected");
    let msg = err.to_string();
    assert!(
        msg.contains("answered 550 to RCPT TO:<oncall@example.com>"),
        "{msg}"
    );
    assert!(msg.contains("No such user"), "{msg}");
}

#[test]
fn alerts_config_errors_name_the_key_and_line() {
    let env = Environment::from_pairs([]);
    let text = "data_dir = \"/tmp/x\"\n[alerts]\nwebhook_url = \"ftp://nope\"\nformat = \"teams\"\n[alerts.smtp]\nhost = \"smtp.example.com\"\nfrom = \"alerts@example.com\"\nto = [\"ops example.com\"]\n";
    let err = config::parse(text, None, &env)
        .expect_err("invalid")
        .to_string();
    assert!(err.contains(":3: key \"webhook_url\" in [alerts]"), "{err}");
    assert!(err.contains("not an http(s) URL"), "{err}");
    assert!(
        !err.contains("ftp://nope"),
        "the URL may be a secret: {err}"
    );
    assert!(
        err.contains(":4: key \"format\" in [alerts]: unknown webhook format \"teams\""),
        "{err}"
    );
    assert!(
        err.contains(
            ":8: key \"to\" in [alerts.smtp]: \"ops example.com\" is not an email address"
        ),
        "{err}"
    );

    // A login without a password says where to put it, to the command
    // that sends mail (read-only commands load the config fine).
    let text = "data_dir = \"/tmp/x\"\n[alerts.smtp]\nhost = \"smtp.example.com\"\nusername = \"u\"\nfrom = \"a@example.com\"\nto = [\"o@example.com\"]\n";
    let err = config::parse(text, None, &env)
        .expect("secrets are read by the command that uses them")
        .secrets
        .require("serve", |_| true)
        .expect_err("no password")
        .to_string();
    assert!(err.contains("BLOG_POSTER_SMTP_PASSWORD"), "{err}");
    assert!(
        err.contains("`blog-poster serve` needs it to send alert email"),
        "{err}"
    );

    // The URL from the environment, a password from the environment.
    let env = Environment::from_pairs([("HOOK", "https://hooks.example/x"), ("PW", "pw")]);
    let text = "data_dir = \"/tmp/x\"\n[alerts]\nwebhook_url_env = \"HOOK\"\nformat = \"slack\"\nsource_failing_after = \"2h\"\n[alerts.smtp]\nhost = \"smtp.example.com\"\nusername = \"u\"\npassword_env = \"PW\"\nfrom = \"a@example.com\"\nto = [\"o@example.com\"]\n";
    let c = config::parse(text, None, &env)
        .unwrap_or_else(|e| panic!("{e}"))
        .alerts;
    let w = c.webhook.expect("webhook");
    assert_eq!(w.url.expose(), Ok("https://hooks.example/x"));
    assert_eq!(w.format, config::WebhookFormat::Slack);
    let s = c.smtp.expect("smtp");
    assert_eq!((s.port, s.tls), (587, SmtpTls::StartTls));
    assert_eq!(s.password.expect("password").expose(), Ok("pw"));
    assert_eq!(c.source_failing_after, Duration::from_secs(7200));
    // `config check` says where alerts go, never the URL or the password.
    let line = alerts::describe(&config::parse(text, None, &env).expect("valid").alerts);
    assert!(
        line.contains("webhook (slack, URL from env HOOK, redacted)"),
        "{line}"
    );
    assert!(
        line.contains(
            "email via smtp.example.com:587 (starttls, login u, password from env PW, redacted)"
        ),
        "{line}"
    );
    assert!(
        !line.contains("hooks.example") && !line.contains("pw,"),
        "{line}"
    );
}

/// The daemon wiring: `serve` with a source that cannot be reached and
/// `source_failing_after = "0s"` posts a source_failing alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_serve_posts_an_alert_for_a_failing_source() {
    let server = webhook_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 9 (discard) on loopback: connection refused.
    let cfg = write_config(
        dir.path(),
        &format!(
            "[engine]\npoll_interval = \"50ms\"\nretry_base = \"100ms\"\nretry_max = \"200ms\"\nmax_attempts = 1\n\
             [alerts]\nwebhook_url = \"{}/hook\"\nsource_failing_after = \"0s\"\ncheck_interval = \"1s\"\n\
             [sites.blog]\npublisher = \"outbox\"\nschedule = \"* * * * * *\"\n\
             [[sites.blog.sources]]\nurl = \"http://127.0.0.1:9/feed.xml\"\nkind = \"feed\"\n",
            server.uri()
        ),
    );
    let mut child = command(dir.path())
        .args(["--config", cfg.to_str().expect("utf8"), "serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut found = None;
    for _ in 0..300 {
        let bodies = bodies(&server).await;
        if let Some(b) = bodies.iter().find(|b| b["kind"] == "source_failing") {
            found = Some(b.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGTERM: a graceful stop.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    let found = found.expect("a source_failing alert within 30 s");
    assert_eq!(found["site"], "blog");
    assert!(
        found["title"]
            .as_str()
            .expect("title")
            .contains("http://127.0.0.1:9/feed.xml"),
        "{found}"
    );
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
}
