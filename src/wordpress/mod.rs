//! The WordPress REST client: API-root discovery (pretty permalinks or
//! `?rest_route=`), Application Password auth, posts, terms, media, SEO
//! fields, and the checks behind `doctor`. Errors are classified here, once
//! (see [`WpError`]); callers only ask `is_retryable()`.
//!
//! The password goes only into the Authorization header (reqwest marks it
//! sensitive) and the XML-RPC probe body; it is never logged or put in an
//! error, and every error made from a server's answer is passed through
//! [`crate::redact`] (`base64(user:password)` registered at construction),
//! because servers and proxies echo request headers in error pages. Every request is timed, so callers can tell our own work from
//! time spent waiting for WordPress ([`WpClient::network_time`]).

mod discovery;
pub mod doctor;
mod error;
mod media;
mod posts;
mod seo;
mod terms;
mod xmlrpc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::config::{Secret, WordpressConfig};
use crate::http::{HttpOptions, read_capped};

pub use discovery::{ApiRoot, Discovery, RootIndex};
pub use error::{Action, WpError};
pub use media::{MediaFile, load_image, sniff_image};
pub use posts::{ExistingPost, PostFields, PostPage, RemotePost};
pub use seo::{SeoPlan, SeoSupport, seo_plan};
pub use terms::{Taxonomy, decode_entities};
pub use xmlrpc::XmlRpcVerdict;

/// Bodies larger than this are refused (post lists with content are the
/// largest thing we read).
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// One site's client. Cheap to share (`Arc`); discovery and the SEO probe
/// are done once per client.
pub struct WpClient {
    /// The config's site name, for messages that point at config or doctor.
    site: String,
    home: Url,
    username: String,
    password: Secret,
    http: reqwest::Client,
    timeout: Duration,
    discovery: tokio::sync::OnceCell<Discovery>,
    login: tokio::sync::OnceCell<Me>,
    seo: tokio::sync::OnceCell<SeoSupport>,
    network_nanos: AtomicU64,
    requests: AtomicU64,
}

impl std::fmt::Debug for WpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WpClient")
            .field("site", &self.site)
            .field("home", &self.home.as_str())
            .field("username", &self.username)
            .finish()
    }
}

/// An HTTP answer, body read.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub url: Url,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, WpError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            match error::blocker(&self.headers, &self.body) {
                Some(what) => WpError::Blocked {
                    url: self.url.to_string(),
                    status: self.status.as_u16(),
                    what,
                    fix: "allow this server in the firewall or security plugin".into(),
                },
                None => WpError::InvalidResponse {
                    url: self.url.to_string(),
                    detail: format!("expected JSON, got {} ({e})", error::snippet(&self.body)),
                },
            }
            .redacted()
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl WpClient {
    /// A client for the site `site` with its WordPress settings. Builds the
    /// HTTP client (our one builder, hickory DNS, rustls); makes no request.
    pub fn new(site: &str, config: &WordpressConfig) -> Result<WpClient, WpError> {
        // Read here, once: every request below can then use it. What Basic
        // auth puts on the wire is registered, so an echo of it is masked.
        let password = config
            .app_password
            .expose()
            .map_err(WpError::MissingSecret)?;
        crate::redact::register_login(&config.username, password);
        // Redirects only within the site's origin: the password stays there.
        let http = crate::http::same_origin_client(&HttpOptions {
            connect_timeout: config.request_timeout.min(Duration::from_secs(10)),
            timeout: config.request_timeout,
            max_redirects: 5,
            // The operator configured this site; it may be on a private network.
            public_only: false,
        })
        .map_err(|e| WpError::Connect {
            url: config.url.to_string(),
            detail: e.to_string(),
        })?;
        let mut home = config.url.clone();
        if !home.path().ends_with('/') {
            let path = format!("{}/", home.path());
            home.set_path(&path);
        }
        home.set_query(None);
        home.set_fragment(None);
        Ok(WpClient {
            site: site.to_string(),
            home,
            username: config.username.clone(),
            password: config.app_password.clone(),
            http,
            timeout: config.request_timeout,
            discovery: tokio::sync::OnceCell::new(),
            login: tokio::sync::OnceCell::new(),
            seo: tokio::sync::OnceCell::new(),
            network_nanos: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }

    pub fn home(&self) -> &Url {
        &self.home
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn site(&self) -> &str {
        &self.site
    }

    /// Total time spent waiting for WordPress (request sent → body read),
    /// and the number of requests, since this client was made.
    pub fn network_time(&self) -> (Duration, u64) {
        (
            Duration::from_nanos(self.network_nanos.load(Ordering::Relaxed)),
            self.requests.load(Ordering::Relaxed),
        )
    }

    fn request(&self, method: Method, url: Url, auth: bool) -> RequestBuilder {
        let req = self.http.request(method, url);
        if auth {
            // `new` read it already, so this is the cached value; an empty
            // password would only be refused by WordPress.
            req.basic_auth(
                &self.username,
                Some(self.password.expose().unwrap_or_default()),
            )
        } else {
            req
        }
    }

    /// Sends and reads the whole answer, whatever its status. Only transport
    /// failures are errors here.
    pub(crate) async fn send_raw(
        &self,
        req: RequestBuilder,
        url: &Url,
        timeout: Duration,
    ) -> Result<Reply, WpError> {
        let started = Instant::now();
        let result = async {
            let resp = req
                .send()
                .await
                .map_err(|e| error::transport(url.as_str(), &e, timeout))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let final_url = resp.url().clone();
            if status.is_redirection()
                && let Some(target) = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| final_url.join(l).ok())
                && target.origin() != final_url.origin()
            {
                return Err(self.foreign_origin(&target, "a redirect"));
            }
            let body = read_capped(resp, BODY_LIMIT).await.map_err(|e| match e {
                crate::http::HttpError::Transport(e) => error::transport(url.as_str(), &e, timeout),
                other => WpError::InvalidResponse {
                    url: url.to_string(),
                    detail: other.to_string(),
                },
            })?;
            Ok(Reply {
                status,
                headers,
                body,
                url: final_url,
            })
        }
        .await;
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.network_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// An authenticated request to a REST route; a non-2xx answer becomes a
    /// classified error (a 401 is diagnosed further: wrong password or a
    /// stripped Authorization header).
    pub(crate) async fn call(
        &self,
        method: Method,
        url: Url,
        action: Action,
        body: Option<Body>,
    ) -> Result<Reply, WpError> {
        let mut req = self.request(method, url.clone(), true);
        let mut timeout = self.timeout;
        match body {
            Some(Body::Json(v)) => req = req.json(&v),
            Some(Body::Bytes {
                bytes,
                content_type,
                disposition,
            }) => {
                timeout = self.timeout.saturating_mul(4);
                req = req
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .header(reqwest::header::CONTENT_DISPOSITION, disposition)
                    .timeout(timeout)
                    .body(bytes);
            }
            None => {}
        }
        let reply = self.send_raw(req, &url, timeout).await?;
        if reply.status.is_success() {
            return Ok(reply);
        }
        let err = error::classify(
            url.as_str(),
            reply.status,
            &reply.headers,
            &reply.body,
            action,
        );
        match err {
            WpError::Unauthorized { .. } => Err(self.diagnose_unauthorized(err).await.redacted()),
            other => Err(other),
        }
    }

    /// An anonymous GET, any status returned.
    pub(crate) async fn get_anonymous(&self, url: Url) -> Result<Reply, WpError> {
        let req = self.request(Method::GET, url.clone(), false);
        self.send_raw(req, &url, self.timeout).await
    }

    /// The site sent us to another origin than the configured one (`how`:
    /// its Link header, a redirect): nothing is sent there.
    pub(crate) fn foreign_origin(&self, target: &Url, how: &'static str) -> WpError {
        WpError::ForeignOrigin {
            config_site: self.site.clone(),
            origin: self.home.origin().ascii_serialization(),
            target: target.to_string(),
            target_origin: target.origin().ascii_serialization(),
            how,
        }
        .redacted()
    }

    /// Discovery, done once per client.
    pub async fn discovery(&self) -> Result<&Discovery, WpError> {
        self.discovery
            .get_or_try_init(|| discovery::discover(self))
            .await
    }

    pub async fn api_root(&self) -> Result<&ApiRoot, WpError> {
        Ok(&self.discovery().await?.root)
    }

    /// The logged-in user with roles and capabilities (`/wp/v2/users/me`,
    /// context=edit). The authentication check.
    pub async fn me(&self) -> Result<Me, WpError> {
        let url = self
            .api_root()
            .await?
            .route("wp/v2/users/me", &[("context", "edit")]);
        self.call(Method::GET, url, Action::Read, None)
            .await?
            .json()
    }

    /// Logs in once per client (`me`, remembered after the first success).
    /// Call it before anything else: without a login WordPress answers
    /// lookups of drafts with a confusing 400 instead of a 401.
    pub async fn login(&self) -> Result<&Me, WpError> {
        self.login.get_or_try_init(|| self.me()).await
    }

    /// A 401: ask XML-RPC (which takes the password in the body, so a
    /// stripped header does not matter) whether the password is right.
    async fn diagnose_unauthorized(&self, err: WpError) -> WpError {
        let WpError::Unauthorized {
            url, code, message, ..
        } = err
        else {
            return err;
        };
        match self.xmlrpc_check().await {
            XmlRpcVerdict::Accepted => WpError::AuthHeaderStripped {
                site: self.home.to_string(),
                user: self.username.clone(),
            },
            XmlRpcVerdict::Rejected(fault) => WpError::BadCredentials {
                site: self.home.to_string(),
                config_site: self.site.clone(),
                user: self.username.clone(),
                detail: format!("REST API: 401 {code}: {message}; XML-RPC confirms: {fault}"),
            },
            XmlRpcVerdict::Unavailable(_) if is_password_code(&code) => WpError::BadCredentials {
                site: self.home.to_string(),
                config_site: self.site.clone(),
                user: self.username.clone(),
                detail: format!("401 {code}: {message}"),
            },
            XmlRpcVerdict::Unavailable(why) => WpError::Unauthorized {
                url,
                config_site: self.site.clone(),
                code,
                message,
                xmlrpc: why,
            },
        }
    }
}

/// WordPress codes that mean the header arrived and the credentials are wrong.
fn is_password_code(code: &str) -> bool {
    matches!(
        code,
        "incorrect_password" | "invalid_username" | "invalid_email"
    )
}

/// A request body.
pub(crate) enum Body {
    Json(serde_json::Value),
    Bytes {
        bytes: Vec<u8>,
        content_type: String,
        disposition: String,
    },
}

/// `/wp/v2/users/me?context=edit`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Me {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub capabilities: std::collections::BTreeMap<String, bool>,
}

impl Me {
    pub fn can(&self, capability: &str) -> bool {
        self.capabilities.get(capability).copied().unwrap_or(false)
    }
}
