//! `db copy` and `backup restore` while `serve` holds the database: the
//! command asks the daemon through its API (which answers 202 with an
//! operation) and follows the operation to its end, printing its progress —
//! the same thing `GET /api/v1/operations/{id}` shows the TUI or a script.
//! The address and token are found as the TUI finds them (`--url`,
//! `--token` / `$BLOG_POSTER_TOKEN`, else `[http] listen` and `[tui]
//! token_file`).

use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use serde_json::Value;

use super::{CliError, exit};
use crate::config::{ConfigLocation, Environment};
use crate::outln;

/// How to reach the running daemon.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// While serve runs: an admin API token (else $BLOG_POSTER_TOKEN, else
    /// the [tui] token_file).
    #[arg(long, env = "BLOG_POSTER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// While serve runs: its API's base URL (default: http://<[http] listen>).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// How often the operation is looked at.
const POLL: Duration = Duration::from_millis(500);

/// The running daemon's API.
pub struct DaemonApi {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

fn failure(e: impl std::fmt::Display) -> CliError {
    CliError {
        code: exit::FAILURE,
        error: anyhow!("{e}"),
    }
}

impl DaemonApi {
    pub fn connect(
        location: &ConfigLocation,
        env: &Environment,
        args: &DaemonArgs,
    ) -> Result<DaemonApi, CliError> {
        let endpoint =
            crate::tui::endpoint(location, env, args.url.as_deref(), args.token.as_deref())?;
        let http = crate::http::client(&crate::http::HttpOptions {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            max_redirects: 0,
            public_only: false,
        })
        .map_err(failure)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(failure)?;
        Ok(DaemonApi {
            base: endpoint.base_url,
            token: endpoint.token,
            http,
            rt,
        })
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), CliError> {
        self.rt.block_on(async {
            let mut req = self.http.request(method, format!("{}{path}", self.base));
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| {
                failure(format!(
                    "the database is held by a running blog-poster, but its API at {} does not answer ({}); pass --url, or stop serve",
                    self.base,
                    e.without_url()
                ))
            })?;
            let status = resp.status().as_u16();
            let bytes = crate::http::read_capped(resp, 16 << 20)
                .await
                .map_err(|e| failure(format!("reading the answer of {path}: {e}")))?;
            Ok((status, serde_json::from_slice(&bytes).unwrap_or_default()))
        })
    }

    /// Starts an operation with `POST path` and follows it to its end,
    /// printing each progress line once; returns its result.
    pub fn run_operation(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let (status, answer) = self.send(reqwest::Method::POST, path, Some(body))?;
        if status != 202 {
            let message = answer["message"].as_str().unwrap_or("no message");
            return Err(match status {
                401 | 403 => failure(format!(
                    "the daemon's API refused the token ({status}: {message}): pass --token or set $BLOG_POSTER_TOKEN to an admin token (`blog-poster token create --role admin NAME`)"
                )),
                _ => failure(format!("the daemon answered {status}: {message}")),
            });
        }
        let Some(follow) = answer["follow"].as_str().map(str::to_string) else {
            return Err(failure("the daemon's answer names no operation to follow"));
        };
        let id = answer["operation"]["id"].as_u64().unwrap_or_default();
        outln!("the running daemon does it: operation {id} ({follow})")?;
        let mut shown = 0;
        loop {
            let (status, op) = self.send(reqwest::Method::GET, &follow, None)?;
            if status != 200 {
                return Err(failure(format!(
                    "following operation {id}: the daemon answered {status}: {}",
                    op["message"].as_str().unwrap_or("no message")
                )));
            }
            let lines = op["progress"].as_array().cloned().unwrap_or_default();
            for line in lines.iter().skip(shown) {
                outln!("{}", line.as_str().unwrap_or_default())?;
            }
            shown = shown.max(lines.len());
            match op["state"].as_str() {
                Some("running") => std::thread::sleep(POLL),
                Some("done") => return Ok(op["result"].clone()),
                _ => {
                    return Err(failure(format!(
                        "operation {id} failed: {}",
                        op["error"]["message"].as_str().unwrap_or("no message")
                    )));
                }
            }
        }
    }
}
