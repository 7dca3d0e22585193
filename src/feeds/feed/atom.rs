//! Atom 1.0 (RFC 4287) and Atom 0.3. Text constructs are read whatever
//! their `type` (and 0.3 `mode`): text, HTML, inline XHTML, base64 (decoded;
//! binary content gives no text), and types no spec names (`""`, `plain`,
//! `TEXT`, `text/markdown`) as text — an odd type costs that field, never
//! the entry or the feed. An entry's link is its `alternate` link (a
//! licence, replies, self or edit link is not the entry).

use base64::Engine;

use super::xml::{Element, Ns};
use super::{ParsedFeed, finish, first_nonempty, html_text, link, plain_text};
use crate::feeds::ParseError;
use crate::feeds::dates::parse_feed_date;

pub(super) fn parse(root: &Element) -> Result<ParsedFeed, ParseError> {
    let ns = [root.ns, Ns::Atom10, Ns::Atom03];
    let mut feed = ParsedFeed {
        title: root
            .child(&ns, "title")
            .map(text_construct)
            .filter(|t| !t.is_empty()),
        ..Default::default()
    };
    for entry in root.children_named(&ns, "entry") {
        match read_entry(entry, &ns) {
            Some(item) => feed.items.push(item),
            None => feed.skipped += 1,
        }
    }
    Ok(feed)
}

pub(super) fn parse_entry_document(entry: &Element) -> Result<ParsedFeed, ParseError> {
    let ns = [entry.ns, Ns::Atom10, Ns::Atom03];
    let mut feed = ParsedFeed::default();
    match read_entry(entry, &ns) {
        Some(item) => feed.items.push(item),
        None => feed.skipped += 1,
    }
    Ok(feed)
}

fn read_entry(entry: &Element, ns: &[Ns]) -> Option<crate::feeds::ParsedItem> {
    let construct = |local: &str| {
        entry
            .child(ns, local)
            .map(text_construct)
            .unwrap_or_default()
    };
    let id = entry.child(ns, "id").map(|i| i.text().trim().to_string());
    let title = construct("title");
    let text = first_nonempty(&[&|| construct("summary"), &|| construct("content")]);
    let published = ["published", "issued", "updated", "modified", "created"]
        .into_iter()
        .find_map(|local| parse_feed_date(&entry.child(ns, local)?.text()))
        .or_else(|| parse_feed_date(&entry.child(&[Ns::Dc], "date")?.text()));
    finish(id, entry_link(entry, ns), title, text, published)
}

/// The entry's `alternate` link (no `rel` means alternate), preferring an
/// HTML one.
fn entry_link(entry: &Element, ns: &[Ns]) -> Option<String> {
    let alternates: Vec<&Element> = entry
        .children_named(ns, "link")
        .filter(|l| {
            l.attr(Ns::None, "rel").is_none_or(|r| {
                let r = r.trim();
                r.is_empty()
                    || r.eq_ignore_ascii_case("alternate")
                    || r.eq_ignore_ascii_case("http://www.iana.org/assignments/relation/alternate")
            })
        })
        .collect();
    let href = |l: &&Element| -> Option<String> {
        match l.attr(Ns::None, "href") {
            Some(h) => link(h, &l.base),
            // `<link>https://…</link>`: wrong, but unambiguous.
            None => link(&l.text(), &l.base),
        }
    };
    let html = |l: &&&Element| {
        l.attr(Ns::None, "type")
            .is_none_or(|t| t.to_ascii_lowercase().contains("html"))
    };
    alternates
        .iter()
        .filter(html)
        .find_map(href)
        .or_else(|| alternates.iter().find_map(href))
}

/// The text of an Atom text or content construct, whatever its type.
pub(super) fn text_construct(el: &Element) -> String {
    if el.attr(Ns::None, "src").is_some()
        && !el.has_element_children()
        && el.text().trim().is_empty()
    {
        return String::new(); // out-of-line content: nothing here to read
    }
    let ty = el
        .attr(Ns::None, "type")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mode = el
        .attr(Ns::None, "mode")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let html = ty == "html" || ty.starts_with("text/html");
    let xhtml = ty == "xhtml" || ty.starts_with("application/xhtml+xml");
    if mode == "base64" || is_base64_type(&ty) {
        // Content that is not valid base64 after all is read as it stands.
        if let Some(decoded) = base64_text(&el.text()) {
            return if html || xhtml {
                html_text(&decoded)
            } else {
                plain_text(&decoded)
            };
        }
    }
    if el.has_element_children() {
        return html_text(&el.inner_html());
    }
    if html || xhtml || mode == "escaped" && !ty.starts_with("text/plain") {
        html_text(&el.text())
    } else {
        plain_text(&el.text())
    }
}

/// RFC 4287 §4.1.3.3: a MIME type that is neither text nor XML means the
/// content is base64.
fn is_base64_type(ty: &str) -> bool {
    ty.contains('/')
        && !ty.starts_with("text/")
        && !ty.ends_with("+xml")
        && !ty.ends_with("/xml")
        && !ty.contains("+xml;")
        && !ty.contains("/xml;")
}

/// Decoded base64 that is UTF-8 text; `Some("")` for binary content.
fn base64_text(raw: &str) -> Option<String> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    Some(String::from_utf8(bytes).unwrap_or_default())
}
