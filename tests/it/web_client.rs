//! A running `serve` for the HTTP tests, and a minimal HTTP/1.1 client over
//! std's TcpStream (one request per connection). `serve` listens on port 0
//! and reports the port it got through its ready file, so parallel tests
//! never race for a port.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::harness::{command, ready_file, run, wait_for, wait_ready, write_config};

/// A `serve` child on a loopback port the kernel picked, killed on drop.
pub struct Served {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub addr: SocketAddr,
    pub child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a config with one outbox site ("example") plus `extra` TOML
/// (lines of `[http]`) and returns the directory and config path; `serve`
/// is not started. It will listen on a port the kernel picks.
pub fn prepare(extra: &str) -> (tempfile::TempDir, PathBuf) {
    prepare_on("127.0.0.1:0", extra)
}

/// [`prepare`] with an explicit `[http] listen` address.
pub fn prepare_on(listen: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "data_dir = \"{}\"\n[log]\nformat = \"plain\"\n[http]\nlisten = \"{listen}\"\n{extra}\n\
         [sites.example]\nschedule = \"0 6 * * *\"\n[[sites.example.sources]]\nurl = \"https://example.com/feed.xml\"\n",
        dir.path().join("data").display()
    );
    let config = write_config(dir.path(), &text);
    (dir, config)
}

/// Starts `serve`, learns its address from the ready file, and waits until
/// /healthz answers there.
pub fn start(dir: tempfile::TempDir, config: PathBuf) -> Served {
    start_with_env(dir, config, &[])
}

/// [`start`] with extra environment variables (test hooks).
pub fn start_with_env(dir: tempfile::TempDir, config: PathBuf, env: &[(&str, &str)]) -> Served {
    let mut cmd = command(dir.path());
    cmd.envs(env.iter().copied());
    cmd.arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).expect("log file"));
    let ready = ready_file(&mut cmd, dir.path());
    let mut child = cmd.spawn().expect("start serve");
    let addr = {
        let log = dir.path().join("serve.log");
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_ready(&mut child, &ready, Duration::from_secs(60))
        }));
        match got {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                eprintln!(
                    "serve.log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::panic::resume_unwind(e)
            }
        }
    };
    let served = Served {
        dir,
        config,
        addr,
        child,
    };
    wait_for(Duration::from_secs(30), "serve to answer /healthz", || {
        request(addr, "GET", "/healthz", None, None).is_ok_and(|r| r.status == 200)
    });
    served
}

/// `blog-poster token create`: returns the token.
pub fn create_token(home: &Path, config: &Path, role: &str, name: &str) -> String {
    let (code, out, err) = run(command(home)
        .arg("--config")
        .arg(config)
        .args(["token", "create", "--role", role, name]));
    assert_eq!(code, 0, "token create failed: {err}");
    let token = out.trim().to_string();
    assert!(token.starts_with("bp_"), "{out}");
    token
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no response head in {text:?}")))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

/// A feed on loopback: serves `body` as RSS for every request, forever.
pub fn feed_server(body: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind feed");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 8192];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes());
            });
        }
    });
    addr
}

/// RSS 2.0 with one item per (title, link); titles are escaped as XML text.
pub fn rss(items: &[(&str, &str)]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut out = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Rival</title><link>https://rival.example/</link><description>d</description>",
    );
    for (title, link) in items {
        out.push_str(&format!(
            "<item><title>{}</title><link>{link}</link><guid>{link}</guid><description>about {}</description></item>",
            esc(title),
            esc(title)
        ));
    }
    out.push_str("</channel></rss>");
    out
}

/// Writes a config whose one site ("example") watches `feed`.
pub fn prepare_with_feed(feed: SocketAddr, extra_http: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "data_dir = \"{}\"\n[log]\nformat = \"plain\"\n[http]\nlisten = \"127.0.0.1:0\"\n{extra_http}\n\
         [sites.example]\nschedule = \"0 6 * * *\"\n[[sites.example.sources]]\nurl = \"http://{feed}/feed.xml\"\nkind = \"feed\"\n",
        dir.path().join("data").display()
    );
    let config = write_config(dir.path(), &text);
    (dir, config)
}

/// Runs the monitor stage through the API and waits for its run to end.
pub fn monitor_now(addr: SocketAddr, admin: &str) {
    let r = request(
        addr,
        "POST",
        "/api/v1/sites/example/run",
        Some(admin),
        Some(r#"{"stage":"monitor"}"#),
    )
    .expect("run");
    assert_eq!(r.status, 202, "{}", r.body);
    let run = r.json()["run_id"].as_i64().expect("run id");
    wait_for(Duration::from_secs(60), "the monitor run to finish", || {
        request(addr, "GET", "/api/v1/runs?limit=20", Some(admin), None).is_ok_and(|r| {
            r.json()["runs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["id"] == run && x["status"] != "running")
        })
    });
}
