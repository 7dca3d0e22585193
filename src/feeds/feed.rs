//! Feeds: RSS 0.90/0.91–0.94/1.0/2.0 (UserLand's namespace included), Atom
//! 0.3/1.0 and JSON Feed 1.0/1.1, from text already decoded to UTF-8 (see
//! [`super::charset`]). Read the way feed readers read them, one entry at a
//! time: an entry that yields nothing readable (no title, no link, no text)
//! is skipped and counted in [`ParsedFeed::skipped`], never the whole feed;
//! a document that is not well-formed, or not a feed, is an error that says
//! which. Pure.

mod atom;
mod json;
mod rss;
pub mod xml;

use std::time::Duration;

use reqwest::Url;

use super::page::html_to_text;
use super::{ParseError, ParsedItem, charset, entities};
use xml::Ns;

/// What a feed yields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub items: Vec<ParsedItem>,
    /// RSS `<ttl>`: how long the publisher asks readers to wait.
    pub ttl: Option<Duration>,
    /// Entries skipped because nothing readable came out of them.
    pub skipped: u32,
}

/// Parses a feed from raw bytes (any declared charset).
pub fn parse_feed_bytes(
    bytes: &[u8],
    content_type: Option<&str>,
    base: &Url,
) -> Result<ParsedFeed, ParseError> {
    parse_feed(&charset::decode_xml(bytes, content_type), base)
}

/// Parses a feed from decoded text; an XML declaration in it is ignored.
pub fn parse_feed(text: &str, base: &Url) -> Result<ParsedFeed, ParseError> {
    let t = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n', '\0']);
    if t.is_empty() {
        return Err(ParseError::new("feed", "the document is empty"));
    }
    if t.starts_with(['{', '[']) {
        return json::parse(t, base);
    }
    let root = xml::parse(t, base).map_err(|e| ParseError::new("feed", e.0))?;
    match (root.ns, root.local.to_ascii_lowercase().as_str()) {
        (_, "rss" | "rdf") => rss::parse(&root),
        (_, "feed") => atom::parse(&root),
        // An Atom Entry Document (RFC 4287 §4.1.2): a feed of one entry.
        (Ns::Atom10 | Ns::Atom03, "entry") => atom::parse_entry_document(&root),
        (Ns::None, "channel") => Err(ParseError::new(
            "feed",
            "this is a Channel Definition Format (CDF) document, Internet Explorer's <CHANNEL>, \
             which is not supported: point the source at the site's RSS, Atom or JSON feed",
        )),
        (_, _) => Err(ParseError::new(
            "feed",
            format!(
                "the root element is <{}>, not <rss>, <rdf:RDF> or <feed> (is this a feed?)",
                root.local
            ),
        )),
    }
}

/// Plain text: whitespace collapsed, references a publisher escaped twice
/// (`&amp;eacute;`) resolved, C1 controls read as windows-1252.
fn plain_text(s: &str) -> String {
    let squashed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    entities::unescape(&squashed).into_owned()
}

/// HTML reduced to text.
fn html_text(s: &str) -> String {
    entities::fix_c1(&html_to_text(s)).into_owned()
}

/// An absolute http(s) link from `href` as written, against `base`.
fn link(href: &str, base: &Url) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    base.join(href)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.to_string())
}

/// The fields one entry yielded, made into an item: an empty title becomes
/// the text's first sentence. `None` (to be skipped and counted) when
/// neither a title nor a link is left.
fn finish(
    guid: Option<String>,
    url: Option<String>,
    title: String,
    text: String,
    published: Option<crate::domain::lifecycle::Timestamp>,
) -> Option<ParsedItem> {
    let title = if title.is_empty() {
        text.split_terminator(['.', '\n'])
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    } else {
        title
    };
    if title.is_empty() && url.is_none() {
        return None;
    }
    Some(ParsedItem {
        guid: guid.filter(|g| !g.trim().is_empty()),
        url,
        title,
        text,
        published,
    })
}

/// The first non-empty value, computing only as far as needed (HTML to
/// text is the costly part of a feed).
fn first_nonempty(candidates: &[&dyn Fn() -> String]) -> String {
    candidates
        .iter()
        .map(|f| f())
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
