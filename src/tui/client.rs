//! The TUI's IO: a worker thread with its own small tokio runtime that
//! turns [`Command`]s into API requests and reports [`Event`]s back, so the
//! drawing loop never waits on the network.

use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::app::{Command, Event, Loaded, Tab};
use super::data::*;

pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

enum Failure {
    Unreachable(String),
    Failed(String),
}

impl ApiClient {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, crate::http::HttpError> {
        let http = crate::http::client(&crate::http::HttpOptions {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            max_redirects: 0,
            public_only: false,
        })?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    fn host(&self) -> &str {
        self.base
            .strip_prefix("http://")
            .or_else(|| self.base.strip_prefix("https://"))
            .unwrap_or(&self.base)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, Failure> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                Failure::Unreachable(format!(
                    "blog-poster serve is not running on {} (start it: systemctl start blog-poster)",
                    self.host()
                ))
            } else if e.is_timeout() {
                Failure::Unreachable(format!(
                    "blog-poster serve on {} did not answer in time",
                    self.host()
                ))
            } else {
                Failure::Failed(format!("request failed: {}", e.without_url()))
            }
        })?;
        let status = resp.status().as_u16();
        let bytes = crate::http::read_capped(resp, 16 << 20)
            .await
            .map_err(|e| Failure::Failed(format!("reading the answer: {e}")))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value["message"]
            .as_str()
            .unwrap_or("no message")
            .to_string();
        Err(Failure::Failed(match status {
            401 => "the API refused the token (401): pass --token, set $BLOG_POSTER_TOKEN, or write one from `blog-poster token create --role admin tui` into [tui] token_file".into(),
            403 => format!("not allowed (403): {message} — changes need an admin token"),
            _ => format!("HTTP {status}: {message}"),
        }))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let v = self.send(reqwest::Method::GET, path, None).await?;
        serde_json::from_value(v)
            .map_err(|e| Failure::Failed(format!("unexpected answer from {path}: {e}")))
    }

    async fn list<T: DeserializeOwned>(&self, path: &str, key: &str) -> Result<Vec<T>, Failure> {
        let v = self.send(reqwest::Method::GET, path, None).await?;
        serde_json::from_value(v[key].clone())
            .map_err(|e| Failure::Failed(format!("unexpected answer from {path}: {e}")))
    }

    async fn fetch(&self, tab: Tab) -> Result<Loaded, Failure> {
        Ok(match tab {
            Tab::Overview => Loaded::Status(self.get("/api/v1/status").await?),
            Tab::Runs => Loaded::Runs(
                self.list("/api/v1/runs?limit=20", "runs").await?,
                self.list("/api/v1/jobs?limit=200", "jobs").await?,
            ),
            Tab::Review => {
                let mut a: Vec<ArticleSummary> =
                    self.list("/api/v1/articles?limit=200", "articles").await?;
                // What needs a decision first: review, then approved.
                a.sort_by_key(|x| match x.status.as_str() {
                    "review" => 0,
                    "approved" => 1,
                    "draft" => 2,
                    _ => 3,
                });
                Loaded::Review(a)
            }
            Tab::Costs => Loaded::Costs(
                self.get("/api/v1/costs?days=14").await?,
                self.get("/api/v1/caps").await?,
            ),
            Tab::Sources => Loaded::Sources(self.list("/api/v1/sources", "sources").await?),
            Tab::Events => Loaded::Events(self.list("/api/v1/events?limit=200", "events").await?),
        })
    }

    async fn run(&self, cmd: Command) -> Option<Event> {
        let result = match cmd {
            Command::Quit => return None,
            Command::Fetch(tab) => self.fetch(tab).await.map(Event::Loaded),
            Command::FetchArticle(id) => self
                .get(&format!("/api/v1/articles/{id}"))
                .await
                .map(|a| Event::Loaded(Loaded::Article(a))),
            Command::Write {
                method,
                path,
                body,
                done,
            } => {
                let m = if method == "PUT" {
                    reqwest::Method::PUT
                } else {
                    reqwest::Method::POST
                };
                self.send(m, &path, Some(&body))
                    .await
                    .map(|_| Event::Done(done))
            }
        };
        Some(match result {
            Ok(e) => e,
            Err(Failure::Unreachable(m)) => Event::Unreachable(m),
            Err(Failure::Failed(m)) => Event::Failed(m),
        })
    }
}

/// Runs commands until the channel closes or `Quit` arrives.
pub fn worker(client: ApiClient, commands: Receiver<Command>, events: Sender<Event>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = events.send(Event::Failed(format!("cannot start the IO thread: {e}")));
            return;
        }
    };
    while let Ok(cmd) = commands.recv() {
        match rt.block_on(client.run(cmd)) {
            Some(ev) => {
                if events.send(ev).is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}
