//! Feeds: RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed through feed-rs,
//! with the text already decoded to UTF-8 (see [`super::charset`]). RSS
//! versions feed-rs does not name (0.93, 0.94, a missing version) are read
//! as 2.0, which is what they are compatible with; Atom 0.3 (which feed-rs
//! does not know) is rewritten to Atom 1.0 element by element first. Pure.

use std::time::Duration;

use reqwest::Url;

use super::page::html_to_text;
use super::{ParseError, ParsedItem, charset};

/// What a feed yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub items: Vec<ParsedItem>,
    /// RSS `<ttl>`: how long the publisher asks readers to wait.
    pub ttl: Option<Duration>,
}

/// Parses a feed from raw bytes (any declared charset).
pub fn parse_feed_bytes(
    bytes: &[u8],
    content_type: Option<&str>,
    base: &Url,
) -> Result<ParsedFeed, ParseError> {
    let text = charset::decode_xml(bytes, content_type);
    parse_feed(charset::strip_xml_declaration(&text), base)
}

/// Parses a feed from UTF-8 text without an XML declaration naming another
/// encoding.
pub fn parse_feed(text: &str, base: &Url) -> Result<ParsedFeed, ParseError> {
    let atom10;
    let text = match atom03_to_atom10(text) {
        Some(converted) => {
            atom10 = converted;
            atom10.as_str()
        }
        None => text,
    };
    let normalized = normalize_rss_version(text);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        // Entries without an id get none: our dedup key then uses the link.
        .id_generator(|_, _, _| String::new())
        .sanitize_content(false)
        .build();
    let feed = parser
        .parse(normalized.as_bytes())
        .map_err(|e| ParseError::new("feed", describe(&e)))?;
    let items = feed
        .entries
        .into_iter()
        .map(|e| {
            let url = e
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or_else(|| e.links.first())
                .and_then(|l| base.join(l.href.trim()).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|u| u.to_string());
            let title = e.title.as_ref().map(text_of).unwrap_or_default();
            let body = e
                .summary
                .as_ref()
                .map(text_of)
                .filter(|s| !s.is_empty())
                .or_else(|| {
                    e.content
                        .as_ref()
                        .and_then(|c| c.body.as_deref())
                        .map(html_to_text)
                })
                .unwrap_or_default();
            let title = if title.is_empty() {
                body.split_terminator(['.', '\n'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            } else {
                title
            };
            ParsedItem {
                guid: Some(e.id).filter(|id| !id.trim().is_empty()),
                url,
                title,
                text: body,
                published: e.published.or(e.updated),
            }
        })
        .filter(|i| !i.title.is_empty() || i.url.is_some())
        .collect();
    Ok(ParsedFeed {
        title: feed.title.as_ref().map(text_of),
        items,
        ttl: feed.ttl.map(|m| Duration::from_secs(u64::from(m) * 60)),
    })
}

fn text_of(t: &feed_rs::model::Text) -> String {
    if t.content_type.to_string().contains("html") {
        html_to_text(&t.content)
    } else {
        t.content.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

fn describe(e: &feed_rs::parser::ParseFeedError) -> String {
    use feed_rs::parser::{ParseErrorKind, ParseFeedError};
    match e {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            "no RSS, Atom or JSON Feed root element (is this a feed?)".into()
        }
        other => other.to_string(),
    }
}

/// Rewrites the root `<rss>` start tag to `version="2.0"` when its version
/// is one feed-rs does not dispatch on. Other documents are returned as is.
fn normalize_rss_version(text: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let Some(start) = root_tag_start(text) else {
        return Cow::Borrowed(text);
    };
    let tag_rest = &text[start..];
    if !(tag_rest.starts_with("<rss")
        && tag_rest[4..].starts_with(|c: char| c.is_whitespace() || c == '>'))
    {
        return Cow::Borrowed(text);
    }
    let Some(end) = tag_rest.find('>') else {
        return Cow::Borrowed(text);
    };
    let tag = &tag_rest[..end];
    let version = attr_value(tag, "version");
    if matches!(version, Some("2.0" | "0.91" | "0.92" | "")) {
        return Cow::Borrowed(text);
    }
    let new_tag = match version {
        Some(v) => {
            tag.replacen(&format!("\"{v}\""), "\"2.0\"", 1)
                .replacen(&format!("'{v}'"), "'2.0'", 1)
        }
        None => format!("<rss version=\"2.0\"{}", &tag[4..]),
    };
    Cow::Owned(format!("{}{}{}", &text[..start], new_tag, &tag_rest[end..]))
}

/// The Atom 0.3 namespace.
const ATOM03_NS: &str = "http://purl.org/atom/ns#";

/// Rewrites an Atom 0.3 document as Atom 1.0: the namespace, the renamed
/// elements (`issued` → `published`, `modified` → `updated`, `tagline` →
/// `subtitle`, `copyright` → `rights`, `url` → `uri`) and the content
/// modes (`mode="escaped"` or a MIME `type` → `type="html"`/`"text"`).
/// `None` when the document is not Atom 0.3 or not well-formed (the
/// feed parser then reports the problem).
fn atom03_to_atom10(text: &str) -> Option<String> {
    use quick_xml::events::{BytesEnd, BytesStart, Event};
    let start = root_tag_start(text)?;
    let root = &text[start..start + text[start..].find('>')?];
    if !root.starts_with("<feed")
        || !(root.contains(ATOM03_NS) || attr_value(root, "version") == Some("0.3"))
    {
        return None;
    }
    let rename = |name: &str| -> String {
        let (prefix, local) = match name.rsplit_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, name),
        };
        let local = match local {
            "issued" => "published",
            "modified" => "updated",
            "tagline" => "subtitle",
            "copyright" => "rights",
            "url" => "uri",
            other => other,
        };
        match prefix {
            Some(p) => format!("{p}:{local}"),
            None => local.to_string(),
        }
    };
    let mut reader = quick_xml::Reader::from_str(text);
    let convert_start = |e: &BytesStart<'_>| -> Option<BytesStart<'static>> {
        let name = rename(e.name().as_ref());
        let mut out = BytesStart::new(name.clone());
        let mut mode: Option<String> = None;
        let mut mime: Option<String> = None;
        for attr in e.attributes().flatten() {
            let key = attr.key.as_ref().to_string();
            let value = quick_xml::escape::unescape(&attr.value).ok()?.into_owned();
            match key.as_str() {
                "version" if name == "feed" => {}
                "mode" => mode = Some(value),
                "type" if !matches!(name.as_str(), "link") => mime = Some(value),
                _ if value == ATOM03_NS => {
                    out.push_attribute((key.as_str(), "http://www.w3.org/2005/Atom"))
                }
                _ => out.push_attribute((key.as_str(), value.as_str())),
            }
        }
        let ty = match (mode.as_deref(), mime.as_deref()) {
            (_, Some("application/xhtml+xml" | "xhtml")) | (Some("xml"), _) => Some("xhtml"),
            (Some("escaped"), _) | (_, Some("text/html" | "html")) => Some("html"),
            (_, Some(_)) | (Some(_), None) => Some("text"),
            (None, None) => None,
        };
        if let Some(t) = ty {
            out.push_attribute(("type", t));
        }
        Some(out.into_owned())
    };
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(text.len() + 64));
    loop {
        let event = reader.read_event().ok()?;
        let written = match event {
            Event::Eof => break,
            Event::Start(e) => writer.write_event(Event::Start(convert_start(&e)?)),
            Event::Empty(e) => writer.write_event(Event::Empty(convert_start(&e)?)),
            Event::End(e) => {
                writer.write_event(Event::End(BytesEnd::new(rename(e.name().as_ref()))))
            }
            other => writer.write_event(other),
        };
        written.ok()?;
    }
    String::from_utf8(writer.into_inner()).ok()
}

fn root_tag_start(text: &str) -> Option<usize> {
    let mut i = 0;
    loop {
        let rest = &text[i..];
        let lt = rest.find('<')?;
        let at = i + lt;
        let r = &text[at..];
        if r.starts_with("<!--") {
            i = at + r.find("-->")? + 3;
        } else if r.starts_with("<?") || r.starts_with("<!") {
            i = at + r.find('>')? + 1;
        } else {
            return Some(at);
        }
    }
}

fn attr_value<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut search = 0;
    while let Some(pos) = tag[search..].find(name) {
        let at = search + pos;
        let before_ok = tag[..at].ends_with(char::is_whitespace);
        let after = tag[at + name.len()..].trim_start();
        if before_ok && let Some(v) = after.strip_prefix('=') {
            let v = v.trim_start();
            let quote = v.chars().next()?;
            if quote == '"' || quote == '\'' {
                let inner = &v[1..];
                return inner.find(quote).map(|e| &inner[..e]);
            }
        }
        search = at + name.len();
    }
    None
}

#[cfg(test)]
mod tests;
