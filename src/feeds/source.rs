//! One source checked end to end: a conditional GET of the configured URL,
//! then by what the body is — feed, sitemap (index children and a few
//! changed pages fetched too), page, or a page advertising a feed — items
//! and the source's outcome (validators, next check, error). Any failure of
//! this source ends in its outcome, never in an error for the whole run.

use std::time::Duration;

use reqwest::Url;

use super::feed::{ParsedFeed, parse_feed};
use super::fetch::{FetchError, Fetched, Fetcher, Trust, Validators};
use super::item::{title_from_url, to_new_items};
use super::page::{Page, parse_page};
use super::schedule::{self, CacheHints};
use super::sitemap::{self, ParsedSitemap, Sitemap, SitemapEntry, gunzip, parse_sitemap};
use super::{DocKind, ParseError, ParsedItem, charset, sniff_text};
use crate::config::{MonitorConfig, SourceConfig, SourceKind};
use crate::domain::lifecycle::Timestamp;
use crate::store::{NewSourceItem, SourceOutcome, SourceRecord};

/// What checking one source produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub outcome: SourceOutcome,
    pub items: Vec<NewSourceItem>,
}

/// A parsed body: what a source turned out to be.
#[derive(Debug)]
pub enum Document {
    Feed(ParsedFeed),
    Sitemap(ParsedSitemap),
    Page(Page),
}

/// Why a source failed: fetching or reading it.
#[derive(Debug, thiserror::Error)]
enum SourceError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{url}: {error}")]
    Parse { url: String, error: ParseError },
}

impl SourceError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::Fetch(e) => e.retry_after(),
            SourceError::Parse { .. } => None,
        }
    }
}

/// The items a successful check found, the validators worth keeping, and
/// the feed's ttl.
struct Found {
    items: Vec<ParsedItem>,
    keep_validators: bool,
    ttl: Option<Duration>,
    /// Entries skipped as unreadable.
    skipped: u32,
}

/// Checks one source. `state` is what the store knows of it (validators,
/// failures, last success); `now` is the check's time.
pub async fn check_source(
    fetcher: &Fetcher,
    cfg: &MonitorConfig,
    source: &SourceConfig,
    state: Option<&SourceRecord>,
    now: Timestamp,
) -> Checked {
    let url = source.url.as_str().to_string();
    let old = Validators {
        etag: state.and_then(|s| s.etag.clone()),
        last_modified: state.and_then(|s| s.last_modified.clone()),
    };
    let trusted = Trust::for_source(source);
    let result = match fetcher.get(&source.url, Some(&trusted), &old, now).await {
        Err(e) => Err(SourceError::from(e)),
        Ok(top) if top.not_modified() => {
            let new = top.validators();
            let hints = CacheHints::from_headers(&top.headers, now);
            return Checked {
                outcome: SourceOutcome {
                    url,
                    etag: new.etag.or(old.etag),
                    last_modified: new.last_modified.or(old.last_modified),
                    next_check_at: Some(schedule::after_success(now, &hints, None, cfg)),
                    error: None,
                    not_modified: true,
                    skipped_entries: None,
                },
                items: Vec::new(),
            };
        }
        Ok(top) => read(fetcher, cfg, source, state, &top, now)
            .await
            .map(|found| (top, found)),
    };
    match result {
        Ok((top, found)) => {
            let validators = if found.keep_validators {
                top.validators()
            } else {
                Validators::default()
            };
            let hints = CacheHints::from_headers(&top.headers, now);
            let mut items = found.items;
            newest_first(&mut items);
            items.truncate(cfg.max_items_per_source as usize);
            Checked {
                outcome: SourceOutcome {
                    url: url.clone(),
                    etag: validators.etag,
                    last_modified: validators.last_modified,
                    next_check_at: Some(schedule::after_success(now, &hints, found.ttl, cfg)),
                    error: None,
                    not_modified: false,
                    skipped_entries: Some(found.skipped),
                },
                items: to_new_items(&url, &items),
            }
        }
        Err(e) => {
            let failures = state.map_or(0, |s| s.consecutive_failures) + 1;
            Checked {
                outcome: SourceOutcome {
                    url,
                    next_check_at: Some(schedule::after_failure(
                        now,
                        failures,
                        e.retry_after(),
                        cfg,
                    )),
                    error: Some(e.to_string()),
                    ..Default::default()
                },
                items: Vec::new(),
            }
        }
    }
}

/// Newest first; undated entries keep their order after the dated ones.
fn newest_first(items: &mut [ParsedItem]) {
    items.sort_by_key(|i| std::cmp::Reverse(i.published));
}

async fn read(
    fetcher: &Fetcher,
    cfg: &MonitorConfig,
    source: &SourceConfig,
    state: Option<&SourceRecord>,
    top: &Fetched,
    now: Timestamp,
) -> Result<Found, SourceError> {
    let trusted = Trust::for_source(source);
    let doc = parse_body(top, source.kind, fetcher.body_limit()).await?;
    match doc {
        Document::Feed(feed) => {
            if feed.skipped > 0 {
                tracing::warn!(source = %source.url, skipped = feed.skipped, "feed entries skipped: nothing readable in them");
            }
            Ok(Found {
                items: feed.items,
                keep_validators: true,
                ttl: feed.ttl,
                skipped: feed.skipped,
            })
        }
        Document::Page(page) => {
            // An `auto` (or mislabelled `feed`) source that is a page
            // advertising a feed is read through that feed.
            if matches!(source.kind, SourceKind::Auto | SourceKind::Feed)
                && let Some(link) = page.feed_links.first()
            {
                let fetched = fetcher
                    .get(link, Some(&trusted), &Validators::default(), now)
                    .await?;
                return match parse_body(&fetched, SourceKind::Feed, fetcher.body_limit()).await? {
                    Document::Feed(feed) => Ok(Found {
                        items: feed.items,
                        keep_validators: false,
                        ttl: feed.ttl,
                        skipped: feed.skipped,
                    }),
                    _ => Err(SourceError::Parse {
                        url: link.to_string(),
                        error: ParseError::new("feed", "the advertised feed is not a feed"),
                    }),
                };
            }
            if source.kind == SourceKind::Feed {
                return Err(SourceError::Parse {
                    url: top.final_url.to_string(),
                    error: ParseError::new(
                        "feed",
                        "the response is an HTML page that advertises no feed",
                    ),
                });
            }
            if source.kind == SourceKind::Sitemap {
                return Err(SourceError::Parse {
                    url: top.final_url.to_string(),
                    error: ParseError::new(
                        "sitemap",
                        "the response is an HTML page, not a sitemap",
                    ),
                });
            }
            let item = page
                .into_item(&top.final_url)
                .map_err(|error| SourceError::Parse {
                    url: top.final_url.to_string(),
                    error,
                })?;
            Ok(Found {
                items: vec![item],
                keep_validators: true,
                ttl: None,
                skipped: 0,
            })
        }
        Document::Sitemap(ParsedSitemap {
            sitemap: Sitemap::Urls(entries),
            skipped,
        }) => Ok(Found {
            items: sitemap_items(fetcher, cfg, &trusted, entries, state, now).await,
            keep_validators: true,
            ttl: None,
            skipped,
        }),
        Document::Sitemap(ParsedSitemap {
            sitemap: Sitemap::Index(children),
            skipped,
        }) => {
            let (items, in_children) =
                sitemap_index(fetcher, cfg, &trusted, children, state, now).await?;
            Ok(Found {
                items,
                keep_validators: false,
                ttl: None,
                skipped: skipped.saturating_add(in_children),
            })
        }
    }
}

/// Parses a body off the async workers (large pages take milliseconds).
async fn parse_body(
    fetched: &Fetched,
    kind: SourceKind,
    limit: u64,
) -> Result<Document, SourceError> {
    let bytes = fetched.body.clone();
    let content_type = fetched.content_type().map(str::to_string);
    let url = fetched.final_url.clone();
    let url_s = url.to_string();
    let subject = url_s.clone();
    tokio::task::spawn_blocking(move || {
        crate::fence::inject::point("parse", &subject);
        parse_document(&bytes, content_type.as_deref(), &url, kind, limit)
    })
    .await
    .map_err(|e| {
        // The blocking task is the parser's fence: a panic is this
        // document's parse error, with the panic message.
        let detail = match crate::fence::join_error(e) {
            Ok(panic) => {
                crate::fence::report(None, &format!("the parser of {url_s}"), &panic);
                format!("the parser {panic}")
            }
            Err(e) => format!("parser task failed: {e}"),
        };
        SourceError::Parse {
            url: url_s.clone(),
            error: ParseError::new("document", detail),
        }
    })?
    .map_err(|error| SourceError::Parse { url: url_s, error })
}

/// Parses a body as `kind` (or as what it looks like, for `auto`); gzip is
/// inflated up to `limit` bytes. The body is decoded to text first, then
/// sniffed: the charset never decides what kind of document this is. Pure:
/// the monitor runs it off the async workers.
pub fn parse_document(
    bytes: &[u8],
    content_type: Option<&str>,
    url: &Url,
    kind: SourceKind,
    limit: u64,
) -> Result<Document, ParseError> {
    if sitemap::is_gzip(bytes) {
        let inflated = gunzip(bytes, limit)?;
        if sitemap::is_gzip(&inflated) {
            return Err(ParseError::new("document", "gzip inside gzip"));
        }
        return parse_document(&inflated, None, url, kind, limit);
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::new("document", "the response body is empty"));
    }
    let text = match kind {
        SourceKind::Page => charset::decode_html(bytes, content_type),
        _ => charset::decode_document(bytes, content_type),
    };
    let page = |text: &str| Ok(Document::Page(parse_page(text, url)));
    match (kind, sniff_text(&text, content_type)) {
        (_, DocKind::Html) | (SourceKind::Page, _) => page(&text),
        (SourceKind::Sitemap, _) | (SourceKind::Auto, DocKind::Sitemap) => {
            parse_sitemap(&text, url).map(Document::Sitemap)
        }
        (SourceKind::Feed, _) | (SourceKind::Auto, DocKind::Feed) => {
            parse_feed(&text, url).map(Document::Feed)
        }
        (SourceKind::Auto, _) => Err(ParseError::new(
            "document",
            format!(
                "cannot tell whether this is a feed, a sitemap or a page (Content-Type {}); set kind in the source's config",
                content_type.unwrap_or("missing")
            ),
        )),
    }
}

/// Items of a `<urlset>`: the newest changed entries get their page's
/// title and text (fetched through the guard); the rest a title from the
/// URL.
async fn sitemap_items(
    fetcher: &Fetcher,
    cfg: &MonitorConfig,
    trusted: &Trust,
    mut entries: Vec<SitemapEntry>,
    state: Option<&SourceRecord>,
    now: Timestamp,
) -> Vec<ParsedItem> {
    entries.sort_by_key(|e| std::cmp::Reverse(e.lastmod));
    entries.truncate(cfg.max_items_per_source as usize);
    // Many sitemaps give dates without a time: a day's margin keeps a page
    // changed later on the day of the last check from being missed.
    let since = state
        .and_then(|s| s.last_success_at)
        .map(|t| t - chrono::Duration::days(1));
    let mut fetches_left = cfg.sitemap_page_fetches;
    let mut items = Vec::with_capacity(entries.len());
    for entry in entries {
        let changed = match since {
            None => true,
            Some(since) => entry.lastmod.is_some_and(|m| m > since),
        };
        let mut item = ParsedItem {
            guid: None,
            url: Some(entry.loc.to_string()),
            title: entry
                .title
                .clone()
                .unwrap_or_else(|| title_from_url(&entry.loc)),
            text: String::new(),
            published: entry.lastmod,
        };
        if changed && fetches_left > 0 {
            fetches_left -= 1;
            match fetch_page(fetcher, trusted, &entry.loc, now).await {
                Ok(page) => {
                    if !page.title.is_empty() && entry.title.is_none() {
                        item.title = page.title;
                    }
                    item.text = page.text;
                    item.published = item.published.or(page.published);
                }
                Err(e) => {
                    tracing::warn!(entry = %entry.loc, error = %e, "sitemap entry not read; its URL is kept")
                }
            }
        }
        items.push(item);
    }
    items
}

async fn fetch_page(
    fetcher: &Fetcher,
    trusted: &Trust,
    url: &Url,
    now: Timestamp,
) -> Result<Page, SourceError> {
    let fetched = fetcher
        .get(url, Some(trusted), &Validators::default(), now)
        .await?;
    match parse_body(&fetched, SourceKind::Page, fetcher.body_limit()).await? {
        Document::Page(p) => Ok(p),
        _ => Err(SourceError::Parse {
            url: url.to_string(),
            error: ParseError::new("page", "not an HTML page"),
        }),
    }
}

/// Items of the newest child sitemaps of an index. Fails only when every
/// child read failed.
async fn sitemap_index(
    fetcher: &Fetcher,
    cfg: &MonitorConfig,
    trusted: &Trust,
    mut children: Vec<SitemapEntry>,
    state: Option<&SourceRecord>,
    now: Timestamp,
) -> Result<(Vec<ParsedItem>, u32), SourceError> {
    children.sort_by_key(|c| std::cmp::Reverse(c.lastmod));
    children.truncate(cfg.max_child_sitemaps as usize);
    let mut entries = Vec::new();
    let mut skipped = 0u32;
    let mut first_error: Option<SourceError> = None;
    let mut failed = 0;
    for child in &children {
        let result = match fetcher
            .get(&child.loc, Some(trusted), &Validators::default(), now)
            .await
        {
            Ok(f) => parse_body(&f, SourceKind::Sitemap, fetcher.body_limit()).await,
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(Document::Sitemap(ParsedSitemap {
                sitemap: Sitemap::Urls(urls),
                skipped: n,
            })) => {
                entries.extend(urls);
                skipped = skipped.saturating_add(n);
            }
            Ok(_) => {
                tracing::warn!(child = %child.loc, "a sitemap index inside a sitemap index is not followed");
            }
            Err(e) => {
                tracing::warn!(child = %child.loc, error = %e, "child sitemap not read");
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if failed > 0 && failed == children.len() {
        if let Some(SourceError::Fetch(e)) = first_error {
            return Err(SourceError::Fetch(e));
        }
        let detail = first_error.map(|e| e.to_string()).unwrap_or_default();
        return Err(SourceError::Parse {
            url: children
                .first()
                .map(|c| c.loc.to_string())
                .unwrap_or_default(),
            error: ParseError::new(
                "sitemap",
                format!("all {failed} child sitemaps failed; first: {detail}"),
            ),
        });
    }
    Ok((
        sitemap_items(fetcher, cfg, trusted, entries, state, now).await,
        skipped,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://c.example/x").expect("url")
    }

    #[test]
    fn explicit_kinds_and_sniffing_pick_the_parser() {
        let rss = b"<rss version=\"2.0\"><channel><title>t</title><item><title>A</title></item></channel></rss>";
        assert!(matches!(
            parse_document(rss, None, &url(), SourceKind::Auto, 1 << 20),
            Ok(Document::Feed(_))
        ));
        let sm = b"<urlset><url><loc>https://c.example/a</loc></url></urlset>";
        assert!(matches!(
            parse_document(sm, None, &url(), SourceKind::Auto, 1 << 20),
            Ok(Document::Sitemap(_))
        ));
        let html = b"<html><head><title>T</title></head><body>x</body></html>";
        assert!(matches!(
            parse_document(html, None, &url(), SourceKind::Feed, 1 << 20),
            Ok(Document::Page(_))
        ));
        let err = parse_document(
            b"just text",
            Some("text/plain"),
            &url(),
            SourceKind::Auto,
            1 << 20,
        )
        .expect_err("unknown");
        assert!(err.to_string().contains("set kind"), "{err}");
        let err = parse_document(sm, None, &url(), SourceKind::Feed, 1 << 20)
            .expect_err("sitemap as feed");
        assert!(err.to_string().starts_with("cannot parse feed"), "{err}");
    }
}
