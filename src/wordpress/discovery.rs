//! Finding the REST API: the home page's `Link: <…>; rel="https://api.w.org/"`
//! header names the root — `/wp-json/` with pretty permalinks,
//! `/?rest_route=/` (or `/index.php?rest_route=/`) without. Only when the
//! header is missing are the two usual places tried. Then the root index is
//! read to confirm it is WordPress's `wp/v2` API. The root must be on the
//! configured site's origin (scheme, host, port): a Link header naming
//! another one is refused ([`WpError::ForeignOrigin`]), as the client's
//! requests carry the application password.

use chrono::{DateTime, Utc};
use reqwest::Url;

use super::{WpClient, WpError};

/// The REST API root, and how to build route URLs under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoot {
    url: Url,
    /// `?rest_route=` style (no pretty permalinks).
    query_style: bool,
}

impl ApiRoot {
    pub fn new(url: Url) -> ApiRoot {
        let query_style = url.query_pairs().any(|(k, _)| k == "rest_route");
        ApiRoot { url, query_style }
    }

    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// True for `/wp-json/`, false for `?rest_route=`.
    pub fn pretty_permalinks(&self) -> bool {
        !self.query_style
    }

    /// The URL of `route` (like "wp/v2/posts") with query parameters.
    pub fn route(&self, route: &str, query: &[(&str, &str)]) -> Url {
        let route = route.trim_start_matches('/');
        let mut url = self.url.clone();
        if self.query_style {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "rest_route")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.set_query(None);
            let mut q = url.query_pairs_mut();
            q.append_pair("rest_route", &format!("/{route}"));
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
            for (k, v) in query {
                q.append_pair(k, v);
            }
        } else {
            let base = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{base}/{route}"));
            if !query.is_empty() {
                url.query_pairs_mut().extend_pairs(query);
            }
        }
        url
    }
}

/// What the REST root says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RootIndex {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    authentication: serde_json::Value,
}

impl RootIndex {
    /// Whether the site advertises Application Passwords (WordPress ≥ 5.6
    /// and not switched off).
    pub fn application_passwords(&self) -> bool {
        self.authentication.get("application-passwords").is_some()
    }

    pub fn has_namespace(&self, ns: &str) -> bool {
        self.namespaces.iter().any(|n| n == ns)
    }
}

/// The outcome of discovery.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub root: ApiRoot,
    /// True when the home page's Link header named the root.
    pub from_link_header: bool,
    pub index: RootIndex,
    /// The server's clock (the root's `Date` header), for the skew check.
    pub server_date: Option<DateTime<Utc>>,
    /// Our clock when that answer arrived.
    pub local_date: DateTime<Utc>,
}

/// The `rel="https://api.w.org/"` target among `Link` header values.
pub fn api_link<'a>(values: impl IntoIterator<Item = &'a str>, base: &Url) -> Option<Url> {
    for value in values {
        for part in split_links(value) {
            let Some((target, params)) = part
                .trim()
                .strip_prefix('<')
                .and_then(|rest| rest.split_once('>'))
            else {
                continue;
            };
            let is_api = params.split(';').any(|p| {
                let p = p.trim();
                p.strip_prefix("rel=")
                    .map(|v| {
                        v.trim_matches('"')
                            .split_whitespace()
                            .any(|r| r == "https://api.w.org/")
                    })
                    .unwrap_or(false)
            });
            if is_api && let Ok(url) = base.join(target.trim()) {
                return Some(url);
            }
        }
    }
    None
}

/// Splits a Link header on the commas between entries (not those inside <…>).
fn split_links(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth <= 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

pub(super) async fn discover(client: &WpClient) -> Result<Discovery, WpError> {
    let home = client.home().clone();
    let page = client.get_anonymous(home.clone()).await?;
    let links = page
        .headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let linked = api_link(links, &page.url);
    // The root is pinned to the configured origin: a Link naming another
    // scheme, host or port would get the application password sent there.
    if let Some(url) = &linked
        && url.origin() != home.origin()
    {
        return Err(client.foreign_origin(url, "its Link header names that REST API root"));
    }
    if linked.is_none() && !page.status.is_success() {
        return Err(super::error::classify(
            home.as_str(),
            page.status,
            &page.headers,
            &page.body,
            super::Action::Read,
        ));
    }
    let from_link_header = linked.is_some();
    let candidates: Vec<Url> = match linked {
        Some(url) => vec![url],
        None => {
            let mut query = home.clone();
            query.set_query(Some("rest_route=/"));
            home.join("wp-json/").into_iter().chain([query]).collect()
        }
    };
    let mut last_error = None;
    for url in candidates {
        let root = ApiRoot::new(url.clone());
        match read_index(client, &root).await {
            Ok((index, server_date)) => {
                return Ok(Discovery {
                    root,
                    from_link_header,
                    index,
                    server_date,
                    local_date: Utc::now(),
                });
            }
            Err(e) if !from_link_header => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    let detail = last_error.map_or_else(String::new, |e| format!(" (last answer: {e})"));
    Err(WpError::InvalidResponse {
        url: home.to_string(),
        detail: format!(
            "no REST API found: the home page sends no Link rel=\"https://api.w.org/\" header and neither \
             /wp-json/ nor /?rest_route=/ answered as WordPress{detail}. Fix: set url to the WordPress home URL \
             (Settings → General → Site Address) and make sure no plugin disables the REST API"
        ),
    })
}

async fn read_index(
    client: &WpClient,
    root: &ApiRoot,
) -> Result<(RootIndex, Option<DateTime<Utc>>), WpError> {
    let url = root.as_url().clone();
    let reply = client.get_anonymous(url.clone()).await?;
    if !reply.status.is_success() {
        return Err(super::error::classify(
            url.as_str(),
            reply.status,
            &reply.headers,
            &reply.body,
            super::Action::Read,
        ));
    }
    let index: RootIndex = reply.json()?;
    if !index.has_namespace("wp/v2") {
        return Err(WpError::InvalidResponse {
            url: url.to_string(),
            detail: format!(
                "the REST API has no wp/v2 namespace (namespaces: {}): WordPress older than 4.7, or a plugin \
                 removed the core endpoints",
                index.namespaces.join(", ")
            ),
        });
    }
    let server_date = reply
        .header("date")
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .map(|d| d.with_timezone(&Utc));
    Ok((index, server_date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn link_header_names_the_root_among_other_links() {
        let base = url("https://blog.example/");
        let values = [
            "<https://blog.example/wp-json/wp/v2/pages/2>; rel=\"alternate\"; type=\"application/json\", <https://blog.example/wp-json/>; rel=\"https://api.w.org/\"",
            "<https://blog.example/?p=2>; rel=shortlink",
        ];
        assert_eq!(
            api_link(values, &base),
            Some(url("https://blog.example/wp-json/"))
        );
        assert_eq!(api_link(["<x>; rel=\"next\""], &base), None);
    }

    #[test]
    fn relative_link_resolves_against_the_page() {
        let base = url("http://127.0.0.1:8/blog/");
        assert_eq!(
            api_link(
                ["</blog/index.php?rest_route=/>; rel=\"https://api.w.org/\""],
                &base
            ),
            Some(url("http://127.0.0.1:8/blog/index.php?rest_route=/"))
        );
    }

    #[test]
    fn routes_under_a_pretty_root() {
        let root = ApiRoot::new(url("https://b.example/blog/wp-json/"));
        assert!(root.pretty_permalinks());
        assert_eq!(
            root.route("wp/v2/posts", &[("slug", "a b"), ("context", "edit")])
                .as_str(),
            "https://b.example/blog/wp-json/wp/v2/posts?slug=a+b&context=edit"
        );
        assert_eq!(
            root.route("/wp/v2/users/me", &[]).as_str(),
            "https://b.example/blog/wp-json/wp/v2/users/me"
        );
    }

    #[test]
    fn routes_under_a_query_root() {
        let root = ApiRoot::new(url("http://127.0.0.1:18191/index.php?rest_route=/"));
        assert!(!root.pretty_permalinks());
        let u = root.route("wp/v2/posts", &[("per_page", "5")]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:18191/index.php?rest_route=%2Fwp%2Fv2%2Fposts&per_page=5"
        );
        let pairs: Vec<_> = u.query_pairs().collect();
        assert_eq!(pairs[0].1, "/wp/v2/posts");
    }
}
