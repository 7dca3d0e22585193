//! Competitor sources: fetching them politely and safely, and turning what
//! they return into items. The rooms:
//!
//! - [`fetch`] — conditional GETs through the one HTTP client builder,
//!   redirects followed by hand (each hop guarded by [`crate::ssrf`] unless
//!   it stays on the configured origin), per-host concurrency, body caps;
//! - [`charset`], [`feed`], [`sitemap`], [`page`] — pure parsers from bytes
//!   to [`ParsedItem`]s; they never panic on any input (property-tested);
//!   [`entities`] and [`dates`] read references and dates as feed readers
//!   do;
//! - [`schedule`] — pure: when a source is due again (Cache-Control,
//!   Expires, RSS ttl, Retry-After, exponential backoff with a ceiling);
//! - [`item`] — canonical links and dedup keys;
//! - [`source`] — one source checked end to end: what the monitor stage
//!   (`pipeline::monitor`) runs for each due source.
//!
//! Nothing here touches the store: the stage reads source state and
//! commits the outcomes with the job.

pub mod charset;
pub mod dates;
pub mod entities;
pub mod feed;
pub mod fetch;
pub mod item;
pub mod page;
pub mod schedule;
pub mod sitemap;
pub mod source;

use crate::domain::lifecycle::Timestamp;

/// One entry found in a source, before it becomes a stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedItem {
    /// The entry's own id (RSS guid, Atom id, JSON Feed id), when it has one.
    pub guid: Option<String>,
    /// Absolute link to the entry.
    pub url: Option<String>,
    pub title: String,
    /// Plain text: HTML already reduced.
    pub text: String,
    pub published: Option<Timestamp>,
}

/// A document that could not be read as what it claims or seems to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse {what}: {detail}")]
pub struct ParseError {
    /// "feed", "sitemap", "page".
    pub what: &'static str,
    pub detail: String,
}

impl ParseError {
    pub fn new(what: &'static str, detail: impl Into<String>) -> Self {
        ParseError {
            what,
            detail: detail.into(),
        }
    }
}

/// What a response body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Feed,
    Sitemap,
    Html,
    Gzip,
    Unknown,
}

/// Decides what a body is, after decoding it (a UTF-16 or UTF-32 feed has
/// no `<rss` in its bytes): the root element decides for XML, a leading
/// `{` means JSON Feed, the Content-Type breaks ties.
pub fn sniff(bytes: &[u8], content_type: Option<&str>) -> DocKind {
    if sitemap::is_gzip(bytes) {
        return DocKind::Gzip;
    }
    let head = &bytes[..bytes.len().min(8192)];
    sniff_text(&charset::decode_document(head, content_type), content_type)
}

/// [`sniff`] for text already decoded.
pub fn sniff_text(text: &str, content_type: Option<&str>) -> DocKind {
    let head = match text.char_indices().nth(8192) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    let t = head.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n', '\0']);
    if t.starts_with('{') {
        return DocKind::Feed;
    }
    match root_element(t).map(|r| r.to_ascii_lowercase()) {
        // `channel` is a CDF document: the feed parser says it is not supported.
        Some(r) if r == "rss" || r == "feed" || r.ends_with("rdf") || r == "channel" => {
            return DocKind::Feed;
        }
        Some(r) if r == "urlset" || r == "sitemapindex" => return DocKind::Sitemap,
        Some(r) if r == "html" => return DocKind::Html,
        _ => {}
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("html") || t.to_ascii_lowercase().starts_with("<!doctype html") {
        DocKind::Html
    } else if ct.contains("rss") || ct.contains("atom") || ct.contains("feed+json") {
        DocKind::Feed
    } else {
        DocKind::Unknown
    }
}

/// The local name of the first element, past the declaration, comments,
/// processing instructions and the doctype.
pub(crate) fn root_element(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->")? + 3..];
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            rest = &rest[rest.find('>')? + 1..];
        } else if let Some(r) = rest.strip_prefix('<') {
            let end = r
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(r.len());
            let name = &r[..end];
            return Some(name.rsplit(':').next().unwrap_or(name));
        } else {
            return None;
        }
    }
}

/// Cuts text to at most `max` characters at a char boundary, adding "…".
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((i, _)) => format!("{}…", text[..i].trim_end()),
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_uses_the_root_element_first() {
        assert_eq!(
            sniff(
                b"<?xml version=\"1.0\"?>\n<!-- x --><rss version=\"2.0\">",
                None
            ),
            DocKind::Feed
        );
        assert_eq!(sniff(b"<rdf:RDF xmlns:rdf=\"x\">", None), DocKind::Feed);
        assert_eq!(
            sniff(
                b"<feed xmlns=\"http://www.w3.org/2005/Atom\">",
                Some("text/html")
            ),
            DocKind::Feed
        );
        assert_eq!(sniff(b"<urlset>", None), DocKind::Sitemap);
        assert_eq!(sniff(b"<sitemapindex>", None), DocKind::Sitemap);
        assert_eq!(sniff(b"<!DOCTYPE html><html lang=en>", None), DocKind::Html);
        assert_eq!(
            sniff(
                b"  {\"version\": \"https://jsonfeed.org/version/1.1\"}",
                None
            ),
            DocKind::Feed
        );
        assert_eq!(sniff(b"\x1f\x8b\x08\x00", None), DocKind::Gzip);
        assert_eq!(sniff(b"hello", Some("text/plain")), DocKind::Unknown);
        assert_eq!(
            sniff(b"<p>hi", Some("text/html; charset=utf-8")),
            DocKind::Html
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo wörld", 5), "héllo…");
        assert_eq!(truncate("short", 10), "short");
    }
}
