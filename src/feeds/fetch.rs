//! Fetching one URL the way a polite, careful reader does: conditional
//! requests, redirects followed by hand so every hop is judged (see
//! [`Trust`] and [`crate::ssrf`]), at most `per_host_concurrency` requests
//! to one host at a time, the body capped after decompression, and errors
//! that say what happened to which URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode, Url};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::schedule;
use crate::config::{MonitorConfig, SourceConfig};
use crate::domain::lifecycle::Timestamp;
use crate::http::{self, HttpError, HttpOptions};
use crate::ssrf::{self, BlockedAddress};

/// What we accept, best first.
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
    application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, \
    text/html;q=0.7, text/plain;q=0.5, */*;q=0.1";

/// Validators from the last good fetch, sent as If-None-Match /
/// If-Modified-Since.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A response worth reading.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where the last redirect led.
    pub final_url: Url,
    /// 200-class, or 304 (then `body` is empty).
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn not_modified(&self) -> bool {
        self.status == StatusCode::NOT_MODIFIED
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    /// The validators this response carries.
    pub fn validators(&self) -> Validators {
        let get = |h: header::HeaderName| {
            self.headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .filter(|v| !v.is_empty())
        };
        Validators {
            etag: get(header::ETAG),
            last_modified: get(header::LAST_MODIFIED),
        }
    }
}

/// What a configured source may reach beyond public addresses. Its own
/// origin is fetched with no address check only when the operator wrote an
/// IP literal there (`http://10.0.0.5/feed`: they chose that address) or set
/// `allow_private = true` on the source. A host name is resolved and judged
/// like any URL from remote content — whoever runs its DNS decides where it
/// points, and a competitor's name can be pointed at 127.0.0.1 or
/// 169.254.169.254 — with the addresses checked being the ones connected to
/// ([`crate::ssrf::PublicOnlyResolver`]: no second lookup to race).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    origin: url::Origin,
    open: bool,
}

impl Trust {
    pub fn new(url: &Url, allow_private: bool) -> Trust {
        let literal = matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
        Trust {
            origin: url.origin(),
            open: literal || allow_private,
        }
    }

    pub fn for_source(source: &SourceConfig) -> Trust {
        Trust::new(&source.url, source.allow_private)
    }
}

/// Why a fetch failed, worded for the source's error column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {blocked}{}", if *configured {
        "; a configured source's host name must resolve to public addresses (whoever runs its DNS decides \
         where it points). Fix: if this source is on your own network, set allow_private = true on it \
         ([[sites.NAME.sources]]), or write its IP address in url"
    } else {
        " (only public addresses are fetched for URLs found in remote content)"
    })]
    Blocked {
        url: String,
        blocked: BlockedAddress,
        /// On the configured source's own origin (not a URL found in content).
        configured: bool,
    },
    #[error("{url}: HTTP {status}{}", retry_after.map(|d| format!(" (Retry-After {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        url: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("{url}: more than {max} redirects")]
    TooManyRedirects { url: String, max: u32 },
    #[error("{url}: redirect ({status}) without a usable Location header")]
    BadRedirect { url: String, status: u16 },
    #[error("{url}: response body is larger than the {limit}-byte limit (monitor.body_limit)")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: timed out (monitor.timeout / monitor.connect_timeout)")]
    Timeout { url: String },
    #[error("{url}: cannot connect: {detail}")]
    Connect { url: String, detail: String },
    #[error("{url}: {detail}")]
    Transport { url: String, detail: String },
}

impl FetchError {
    /// The server's Retry-After on a 429 or 503.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Requests in flight per host, shared by every fetch of one monitor run.
#[derive(Debug)]
struct HostLimiter {
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostLimiter {
    async fn acquire(&self, host: &str) -> Option<OwnedSemaphorePermit> {
        let sem = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts
                .entry(host.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        sem.acquire_owned().await.ok()
    }
}

/// Fetches URLs for one monitor run.
#[derive(Debug)]
pub struct Fetcher {
    /// For the configured origin: may reach any address.
    open: Client,
    /// For everything else: public addresses only.
    guarded: Client,
    limiter: HostLimiter,
    body_limit: u64,
    max_redirects: u32,
}

impl Fetcher {
    pub fn new(cfg: &MonitorConfig) -> Result<Fetcher, HttpError> {
        let options = |public_only| HttpOptions {
            connect_timeout: cfg.connect_timeout,
            timeout: cfg.timeout,
            max_redirects: 0,
            public_only,
        };
        Ok(Fetcher {
            open: http::client(&options(false))?,
            guarded: http::client(&options(true))?,
            limiter: HostLimiter {
                per_host: cfg.per_host_concurrency.max(1) as usize,
                hosts: Mutex::new(HashMap::new()),
            },
            body_limit: cfg.body_limit,
            max_redirects: cfg.max_redirects,
        })
    }

    pub fn body_limit(&self) -> u64 {
        self.body_limit
    }

    /// GETs `url`. A URL (or redirect hop) on the origin of `trusted` — a
    /// source the operator configured — may reach any address when its
    /// [`Trust`] says so; every other must resolve to public addresses only.
    pub async fn get(
        &self,
        url: &Url,
        trusted: Option<&Trust>,
        validators: &Validators,
        now: Timestamp,
    ) -> Result<Fetched, FetchError> {
        let mut url = url.clone();
        for _hop in 0..=self.max_redirects {
            let on_origin = trusted.filter(|t| t.origin == url.origin());
            let configured = on_origin.is_some();
            let open = on_origin.is_some_and(|t| t.open);
            if !open {
                ssrf::check_url(&url).map_err(|blocked| FetchError::Blocked {
                    url: url.to_string(),
                    blocked,
                    configured,
                })?;
            }
            let client = if open { &self.open } else { &self.guarded };
            let _permit = self
                .limiter
                .acquire(url.host_str().unwrap_or_default())
                .await;
            let mut request = client.get(url.clone()).header(header::ACCEPT, ACCEPT);
            if let Some(v) = validators
                .etag
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                request = request.header(header::IF_NONE_MATCH, v);
            }
            if let Some(v) = validators
                .last_modified
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                request = request.header(header::IF_MODIFIED_SINCE, v);
            }
            let response = request
                .send()
                .await
                .map_err(|e| classify(&url, &e, configured))?;
            let status = response.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|loc| url.join(loc.trim()).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| FetchError::BadRedirect {
                        url: url.to_string(),
                        status: status.as_u16(),
                    })?;
                url = next;
                continue;
            }
            let headers = response.headers().clone();
            if status == StatusCode::NOT_MODIFIED {
                return Ok(Fetched {
                    final_url: url,
                    status,
                    headers,
                    body: Vec::new(),
                });
            }
            if !status.is_success() {
                let retry_after = match status {
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                        schedule::CacheHints::from_headers(&headers, now).retry_after
                    }
                    _ => None,
                };
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                    retry_after,
                });
            }
            let limit = usize::try_from(self.body_limit).unwrap_or(usize::MAX);
            let body = http::read_capped(response, limit)
                .await
                .map_err(|e| match e {
                    HttpError::TooLarge { .. } => FetchError::TooLarge {
                        url: url.to_string(),
                        limit: self.body_limit,
                    },
                    HttpError::Transport(e) => classify(&url, &e, configured),
                    HttpError::Build(detail) => FetchError::Transport {
                        url: url.to_string(),
                        detail,
                    },
                })?;
            return Ok(Fetched {
                final_url: url,
                status,
                headers,
                body,
            });
        }
        Err(FetchError::TooManyRedirects {
            url: url.to_string(),
            max: self.max_redirects,
        })
    }
}

/// Turns a reqwest error into what happened, with the causes reqwest keeps
/// in its source chain.
fn classify(url: &Url, e: &reqwest::Error, configured: bool) -> FetchError {
    let url_s = url.to_string();
    if let Some(blocked) = ssrf::blocked_in(e) {
        return FetchError::Blocked {
            url: url_s,
            blocked: blocked.clone(),
            configured,
        };
    }
    if e.is_timeout() {
        return FetchError::Timeout { url: url_s };
    }
    let mut causes = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        let text = c.to_string();
        // Layers often repeat their cause in their own message.
        if !causes
            .iter()
            .any(|earlier: &String| earlier.contains(&text))
        {
            causes.retain(|earlier| !text.contains(earlier.as_str()));
            causes.push(text);
        }
        cur = c.source();
    }
    let detail = if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    };
    if e.is_connect() {
        FetchError::Connect { url: url_s, detail }
    } else if e.is_decode() {
        FetchError::Transport {
            url: url_s,
            detail: format!("cannot decode the response body: {detail}"),
        }
    } else {
        FetchError::Transport { url: url_s, detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ip_literals_and_allow_private_open_a_configured_origin() {
        let url = |s: &str| Url::parse(s).expect("url");
        assert!(Trust::new(&url("http://127.0.0.1:8080/feed"), false).open);
        assert!(Trust::new(&url("http://[::1]/feed"), false).open);
        assert!(Trust::new(&url("http://10.0.0.5/feed"), false).open);
        assert!(!Trust::new(&url("http://localhost/feed"), false).open);
        assert!(!Trust::new(&url("https://competitor.example/feed"), false).open);
        assert!(Trust::new(&url("https://intranet.example/feed"), true).open);
    }

    #[test]
    fn a_blocked_configured_source_names_the_fix() {
        let blocked = BlockedAddress {
            host: "feeds.competitor.example".into(),
            addr: "127.0.0.2".parse().expect("ip"),
            class: "loopback",
        };
        let configured = FetchError::Blocked {
            url: "https://feeds.competitor.example/rss".into(),
            blocked: blocked.clone(),
            configured: true,
        }
        .to_string();
        assert!(
            configured.contains("127.0.0.2, a loopback address"),
            "{configured}"
        );
        assert!(
            configured.contains("set allow_private = true on it"),
            "{configured}"
        );
        let remote = FetchError::Blocked {
            url: "https://x/".into(),
            blocked,
            configured: false,
        }
        .to_string();
        assert!(remote.contains("URLs found in remote content"), "{remote}");
    }

    #[tokio::test]
    async fn one_host_gets_at_most_per_host_requests_at_once() {
        let limiter = HostLimiter {
            per_host: 2,
            hosts: Mutex::new(HashMap::new()),
        };
        let a1 = limiter.acquire("A.example").await;
        let a2 = limiter.acquire("a.example").await;
        assert!(a1.is_some() && a2.is_some());
        // A third request to the same host (any case) waits…
        let third =
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire("a.example")).await;
        assert!(third.is_err(), "a third permit for one host must wait");
        // …while another host is not held up.
        let b = tokio::time::timeout(Duration::from_millis(50), limiter.acquire("b.example")).await;
        assert!(matches!(b, Ok(Some(_))));
        drop(a1);
        let third =
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire("a.example")).await;
        assert!(
            matches!(third, Ok(Some(_))),
            "a released permit lets the next one in"
        );
    }

    #[test]
    fn errors_name_the_url_and_the_setting_to_change() {
        let e = FetchError::TooLarge {
            url: "https://c.example/f".into(),
            limit: 10,
        };
        assert_eq!(
            e.to_string(),
            "https://c.example/f: response body is larger than the 10-byte limit (monitor.body_limit)"
        );
        let e = FetchError::Status {
            url: "https://c.example/f".into(),
            status: 503,
            retry_after: Some(Duration::from_secs(120)),
        };
        assert_eq!(
            e.to_string(),
            "https://c.example/f: HTTP 503 (Retry-After 120s)"
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    }
}
