//! What can go wrong talking to WordPress, decided once at the client
//! boundary: each error names the site or URL, the cause and the fix, and
//! says whether a retry can help. Never carries the application password.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// What the request was for: picks the fix a 403 deserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    CreatePost,
    UpdatePost,
    CreateTerm,
    UploadMedia,
}

impl Action {
    fn describe(self) -> &'static str {
        match self {
            Action::Read => "read from the REST API",
            Action::CreatePost => "create the post",
            Action::UpdatePost => "update the post",
            Action::CreateTerm => "create the category or tag",
            Action::UploadMedia => "upload the featured image",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WpError {
    /// The Authorization header reached WordPress and the password is wrong
    /// (WordPress said so, or XML-RPC confirmed it).
    #[error(
        "WordPress at {site} does not accept the application password of user \"{user}\" ({detail}). \
         Fix: in WordPress (Users → Profile → Application Passwords) create a new application password \
         for \"{user}\" and put it where app_password_env / app_password_file of [sites.{config_site}.wordpress] points; \
         check that username is the login name"
    )]
    BadCredentials {
        site: String,
        config_site: String,
        user: String,
        detail: String,
    },
    /// The password is right (XML-RPC accepted it) but the REST API never saw
    /// the Authorization header.
    #[error(
        "WordPress at {site} says \"not logged in\" although the application password of \"{user}\" is right \
         (XML-RPC accepted it): the web server strips the Authorization header before PHP sees it. \
         Fix: on Apache add `SetEnvIf Authorization \"(.*)\" HTTP_AUTHORIZATION=$1` to .htaccess (or \
         `RewriteRule .* - [E=HTTP_AUTHORIZATION:%{{HTTP:Authorization}}]` after `RewriteEngine On`); \
         on nginx with PHP-FPM add `fastcgi_param HTTP_AUTHORIZATION $http_authorization;`; \
         behind a proxy or CDN, let the Authorization header through"
    )]
    AuthHeaderStripped { site: String, user: String },
    /// 401 that could not be pinned down further.
    #[error(
        "WordPress answered {url} with 401 {code}: {message}. Either the username / application password \
         is wrong, or the server strips the Authorization header (XML-RPC could not tell: {xmlrpc}). \
         Fix: run `blog-poster doctor --site {config_site}`; check the password, then the server's \
         Authorization header handling"
    )]
    Unauthorized {
        url: String,
        config_site: String,
        code: String,
        message: String,
        xmlrpc: String,
    },
    /// 403 from WordPress itself (JSON): the user lacks a capability.
    #[error("WordPress refused to {action} ({status} {code}: {message}). Fix: {fix}")]
    Forbidden {
        action: &'static str,
        status: u16,
        code: String,
        message: String,
        fix: String,
    },
    /// Something other than WordPress answered: a firewall, a security
    /// plugin's block page, a CDN challenge, or a server with the REST API
    /// switched off.
    #[error("{what} answered {url} with {status} instead of the WordPress REST API. Fix: {fix}")]
    Blocked {
        url: String,
        status: u16,
        what: String,
        fix: String,
    },
    #[error("WordPress answered {url} with 404 {code}: {message}")]
    NotFound {
        url: String,
        code: String,
        message: String,
    },
    /// A 4xx that retrying cannot fix (invalid parameter and the like).
    #[error("WordPress refused the request to {url} ({status} {code}: {message})")]
    Rejected {
        url: String,
        status: u16,
        code: String,
        message: String,
        /// `data.term_id` of a `term_exists` answer.
        term_id: Option<u64>,
    },
    #[error("WordPress at {url} is rate limiting us (429){}; will retry", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        url: String,
        retry_after: Option<Duration>,
    },
    #[error("WordPress at {url} failed with {status} ({detail}); will retry")]
    Server {
        url: String,
        status: u16,
        detail: String,
    },
    #[error(
        "no answer from {url} within {}s; will retry. Fix if it persists: check that the site is up, \
         or raise request_timeout", after.as_secs()
    )]
    Timeout { url: String, after: Duration },
    #[error("TLS with {url} failed: {detail}. Fix: {fix}")]
    Tls {
        url: String,
        detail: String,
        fix: String,
    },
    #[error(
        "cannot connect to {url}: {detail}; will retry. Fix if it persists: check the URL, DNS and that the site is up"
    )]
    Connect { url: String, detail: String },
    /// The site named another origin (its Link header, a redirect) than the
    /// configured one: the application password is not sent there.
    #[error(
        "WordPress at {origin} sent us to {target} ({how}), which is not on the configured origin; \
         the application password is sent only to {origin}. Fix: if {target_origin} is the site's real \
         address, set url = \"{target_origin}/\" in [sites.{config_site}.wordpress] (compare Settings → General \
         → Site Address); otherwise find what points elsewhere (a proxy or plugin rewriting links, a wrong \
         siteurl/home option)"
    )]
    ForeignOrigin {
        config_site: String,
        origin: String,
        target: String,
        target_origin: String,
        how: &'static str,
    },
    #[error("{url} did not answer as the WordPress REST API does: {detail}")]
    InvalidResponse { url: String, detail: String },
    /// The site's application password cannot be read (not set, unreadable
    /// file): the message names the key, the command and the fix.
    #[error("{0}")]
    MissingSecret(crate::config::SecretError),
    /// The article's featured image could not be read.
    #[error("featured image {source_name}: {detail}")]
    Image { source_name: String, detail: String },
}

impl WpError {
    /// Whether trying again later can succeed without anyone acting.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            WpError::RateLimited { .. }
                | WpError::Server { .. }
                | WpError::Timeout { .. }
                | WpError::Connect { .. }
        )
    }

    /// The WordPress error code, when WordPress sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            WpError::Unauthorized { code, .. }
            | WpError::Forbidden { code, .. }
            | WpError::NotFound { code, .. }
            | WpError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl WpError {
    /// The error with every text that came from the server (or a library
    /// quoting our request) passed through [`crate::redact`]: a WordPress,
    /// proxy or firewall that echoes request headers in an error page would
    /// otherwise hand the Authorization header to whoever reads the error.
    pub fn redacted(self) -> WpError {
        let r = |s: String| crate::redact::string(&s);
        match self {
            WpError::BadCredentials {
                site,
                config_site,
                user,
                detail,
            } => WpError::BadCredentials {
                site,
                config_site,
                user,
                detail: r(detail),
            },
            WpError::AuthHeaderStripped { site, user } => {
                WpError::AuthHeaderStripped { site, user }
            }
            WpError::Unauthorized {
                url,
                config_site,
                code,
                message,
                xmlrpc,
            } => WpError::Unauthorized {
                url: r(url),
                config_site,
                code: r(code),
                message: r(message),
                xmlrpc: r(xmlrpc),
            },
            WpError::Forbidden {
                action,
                status,
                code,
                message,
                fix,
            } => WpError::Forbidden {
                action,
                status,
                code: r(code),
                message: r(message),
                fix,
            },
            WpError::Blocked {
                url,
                status,
                what,
                fix,
            } => WpError::Blocked {
                url: r(url),
                status,
                what: r(what),
                fix,
            },
            WpError::NotFound { url, code, message } => WpError::NotFound {
                url: r(url),
                code: r(code),
                message: r(message),
            },
            WpError::Rejected {
                url,
                status,
                code,
                message,
                term_id,
            } => WpError::Rejected {
                url: r(url),
                status,
                code: r(code),
                message: r(message),
                term_id,
            },
            WpError::RateLimited { url, retry_after } => WpError::RateLimited {
                url: r(url),
                retry_after,
            },
            WpError::Server {
                url,
                status,
                detail,
            } => WpError::Server {
                url: r(url),
                status,
                detail: r(detail),
            },
            WpError::Timeout { url, after } => WpError::Timeout { url: r(url), after },
            WpError::Tls { url, detail, fix } => WpError::Tls {
                url: r(url),
                detail: r(detail),
                fix,
            },
            WpError::Connect { url, detail } => WpError::Connect {
                url: r(url),
                detail: r(detail),
            },
            WpError::InvalidResponse { url, detail } => WpError::InvalidResponse {
                url: r(url),
                detail: r(detail),
            },
            WpError::Image {
                source_name,
                detail,
            } => WpError::Image {
                source_name: r(source_name),
                detail: r(detail),
            },
            WpError::ForeignOrigin {
                config_site,
                origin,
                target,
                target_origin,
                how,
            } => WpError::ForeignOrigin {
                config_site,
                origin,
                target: r(target),
                target_origin: r(target_origin),
                how,
            },
            // Names the config key, never the value.
            WpError::MissingSecret(e) => WpError::MissingSecret(e),
        }
    }
}

/// WordPress's JSON error body: `{"code": …, "message": …, "data": {…}}`.
#[derive(Debug, Default, serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

fn json_error(body: &[u8]) -> Option<ErrorBody> {
    let e: ErrorBody = serde_json::from_slice(body).ok()?;
    (!e.code.is_empty()).then_some(e)
}

/// Turns a non-2xx answer into an error, redacted (see [`WpError::redacted`]).
pub(crate) fn classify(
    url: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    action: Action,
) -> WpError {
    // Before anything is cut to a snippet: a cut secret no longer matches.
    let text = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_SCAN)]);
    let clean = crate::redact::text(&text);
    classify_unredacted(url, status, headers, clean.as_bytes(), action).redacted()
}

/// How much of an error answer is read for the message (redacted whole
/// before it is cut to a snippet).
pub(crate) const ERROR_BODY_SCAN: usize = 1024 * 1024;

fn classify_unredacted(
    url: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    action: Action,
) -> WpError {
    let url = url.to_string();
    let code = status.as_u16();
    let json = json_error(body);
    if let Some(what) = blocker(headers, body).filter(|_| json.is_none()) {
        return blocked(url, code, what);
    }
    match (code, json) {
        (429, _) => WpError::RateLimited {
            url,
            retry_after: retry_after(headers),
        },
        (500..=599 | 408, j) => WpError::Server {
            url,
            status: code,
            detail: j.map_or_else(|| snippet(body), |e| format!("{}: {}", e.code, e.message)),
        },
        (401, j) => {
            let e = j.unwrap_or_default();
            WpError::Unauthorized {
                url,
                config_site: String::new(),
                code: e.code,
                message: strip_tags(&e.message),
                xmlrpc: "not asked".into(),
            }
        }
        (403, Some(e)) => WpError::Forbidden {
            action: action.describe(),
            status: code,
            fix: forbidden_fix(&e.code, action),
            code: e.code,
            message: strip_tags(&e.message),
        },
        (404, Some(e)) if e.code == "rest_no_route" => WpError::Blocked {
            url,
            status: code,
            what: "WordPress (without this route)".into(),
            fix: "the route is missing: a plugin may disable parts of the REST API (e.g. \"Disable REST API\"), \
                  or the site runs a WordPress older than 4.7; allow the REST API for authenticated users"
                .into(),
        },
        (404, Some(e)) => WpError::NotFound {
            url,
            code: e.code,
            message: strip_tags(&e.message),
        },
        (403 | 404, None) => blocked(url, code, html_description(body)),
        (_, j) => {
            let e = j.unwrap_or_else(|| ErrorBody {
                code: "http_error".into(),
                message: snippet(body),
                data: None,
            });
            let term_id = e
                .data
                .as_ref()
                .and_then(|d| d.get("term_id"))
                .and_then(serde_json::Value::as_u64);
            WpError::Rejected {
                url,
                status: code,
                code: e.code,
                message: strip_tags(&e.message),
                term_id,
            }
        }
    }
}

fn blocked(url: String, status: u16, what: String) -> WpError {
    let fix = if status == 404 {
        "the REST API is not reachable there: check that url is the WordPress home URL, and that no plugin \
         or server rule disables /wp-json/ (or ?rest_route=/ on sites without pretty permalinks)"
    } else {
        "allow this server's IP address (or the REST API paths, or the user agent \"blog-poster\") in the \
         firewall, CDN or security plugin (Wordfence, Sucuri, iThemes, Cloudflare…), and make sure no plugin \
         disables the REST API for authenticated users"
    };
    WpError::Blocked {
        url,
        status,
        what,
        fix: fix.into(),
    }
}

/// Recognises block and challenge pages of firewalls, CDNs and security
/// plugins (they answer with HTML where WordPress would send JSON).
pub(crate) fn blocker(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    if header("cf-mitigated").is_some_and(|v| v.contains("challenge")) {
        return Some("a Cloudflare challenge page".into());
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(16 * 1024)]).to_ascii_lowercase();
    let server = header("server").unwrap_or_default();
    let markers: [(&str, &str); 8] = [
        ("just a moment...", "a Cloudflare challenge page"),
        (
            "attention required! | cloudflare",
            "a Cloudflare block page",
        ),
        ("sucuri website firewall", "the Sucuri firewall"),
        ("wordfence", "the Wordfence security plugin"),
        ("mod_security", "ModSecurity"),
        ("not acceptable!", "ModSecurity"),
        ("captcha", "a CAPTCHA page"),
        ("access denied", "an \"access denied\" page"),
    ];
    for (needle, what) in markers {
        if head.contains(needle) {
            return Some(what.to_string());
        }
    }
    if server.contains("sucuri") {
        return Some("the Sucuri firewall".into());
    }
    None
}

fn html_description(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(16 * 1024)]);
    let lower = text.to_ascii_lowercase();
    let title = lower
        .find("<title")
        .and_then(|i| lower[i..].find('>').map(|j| i + j + 1))
        .and_then(|start| {
            lower[start..]
                .find("</title>")
                .map(|len| &text[start..start + len])
        })
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    match title {
        Some(t) => format!("an HTML page \"{}\"", truncate(&t, 80)),
        None if lower.contains("<html") || lower.contains("<!doctype") => "an HTML page".into(),
        None => "a non-JSON answer".into(),
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn forbidden_fix(code: &str, action: Action) -> String {
    match (code, action) {
        ("rest_cannot_publish" | "rest_cannot_publish_scheduled", _) => {
            "the user may not publish posts (a Contributor can only submit them for review): give it the \
             Author or Editor role, or set post_status = \"pending\" (or \"draft\") in [sites.NAME.wordpress]"
                .into()
        }
        (_, Action::CreateTerm) => {
            "the user may not create categories or tags (that needs the manage_categories capability, \
             Editor or Administrator): give it the Editor role, or create the term in WordPress by hand"
                .into()
        }
        (_, Action::UploadMedia) => {
            "the user may not upload media (that needs upload_files, Author or above): give it the \
             Author or Editor role"
                .into()
        }
        ("rest_cannot_assign_term", _) => {
            "the user may not assign categories or tags: give it the Author or Editor role".into()
        }
        ("rest_cannot_edit" | "rest_cannot_edit_others", _) => {
            "the user may not edit this post (someone else owns it?): give it the Editor role".into()
        }
        (_, Action::CreatePost | Action::UpdatePost) => {
            "the user may not write posts: give it the Author or Editor role".into()
        }
        _ => "give the user a role that may do this (Editor), or ask the site's administrator".into(),
    }
}

/// Maps a transport failure (no HTTP answer at all).
pub(crate) fn transport(url: &str, e: &reqwest::Error, timeout: Duration) -> WpError {
    transport_unredacted(url, e, timeout).redacted()
}

fn transport_unredacted(url: &str, e: &reqwest::Error, timeout: Duration) -> WpError {
    let url = url.to_string();
    if e.is_timeout() {
        return WpError::Timeout {
            url,
            after: timeout,
        };
    }
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !chain.contains(&text) {
            chain.push(text);
        }
        source = s.source();
    }
    let detail = chain.last().cloned().unwrap_or_default();
    let all = chain.join(": ").to_ascii_lowercase();
    if let Some(fix) = tls_fix(&all) {
        return WpError::Tls { url, detail, fix };
    }
    WpError::Connect { url, detail }
}

fn tls_fix(all: &str) -> Option<String> {
    let fix = if all.contains("unknownissuer")
        || all.contains("unknown issuer")
        || all.contains("causedasendentity")
        || all.contains("selfsigned")
    {
        "the certificate is self-signed or not signed by an authority this machine trusts: install a \
         publicly trusted certificate (Let's Encrypt), or add its CA to the system trust store \
         (/usr/local/share/ca-certificates + update-ca-certificates)"
    } else if all.contains("notvalidforname") || all.contains("not valid for name") {
        "the certificate does not cover this host name: use the name the certificate is for in url, or fix the certificate"
    } else if all.contains("expired") {
        "the certificate has expired: renew it"
    } else if all.contains("corrupt message")
        || all.contains("invalidcontenttype")
        || all.contains("invalid content type")
        || all.contains("wrong version number")
    {
        "the server does not speak TLS on this port: use http:// or the right port in url"
    } else if all.contains("handshake eof") || all.contains("handshakefailure") {
        "the server closed the connection during the TLS handshake: it may not speak TLS on this port \
         (use http:// or the right port in url), or a firewall cut the connection"
    } else if all.contains("certificate")
        || all.contains("tls")
        || all.contains("ssl")
        || all.contains("handshake")
    {
        "check the site's certificate (e.g. with `openssl s_client -connect HOST:443`) and this machine's \
         CA bundle (the ca-certificates package)"
    } else {
        return None;
    };
    Some(fix.to_string())
}

/// A short, printable piece of a body.
pub(crate) fn snippet(body: &[u8]) -> String {
    let head = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_SCAN)]);
    let clean = crate::redact::text(&head);
    let text: String = clean.chars().take(300).collect();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        "empty body".into()
    } else {
        truncate(&text, 200)
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// WordPress messages sometimes carry markup ("<strong>Error:</strong>").
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
