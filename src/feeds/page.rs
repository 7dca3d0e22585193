//! HTML: a page's title, main text (Mozilla Readability's algorithm, via
//! dom_smoothie, falling back to the whole body), canonical link, feed links
//! and publication time; and HTML fragments (feed summaries) reduced to
//! text. Pure; never fails on any input.

use dom_query::Document;
use reqwest::Url;

use super::{ParseError, ParsedItem};
use crate::domain::lifecycle::Timestamp;

/// What a page yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub title: String,
    pub text: String,
    /// `<link rel="canonical">`, resolved against the page URL.
    pub canonical: Option<Url>,
    /// Feeds the page advertises (`<link rel="alternate" type="…rss+xml">`).
    pub feed_links: Vec<Url>,
    pub published: Option<Timestamp>,
}

impl Page {
    /// The page as one item, keyed by its canonical link (else its URL).
    pub fn into_item(self, url: &Url) -> Result<ParsedItem, ParseError> {
        if self.title.is_empty() && self.text.is_empty() {
            return Err(ParseError::new(
                "page",
                "no title and no text found in the HTML",
            ));
        }
        let link = self.canonical.unwrap_or_else(|| url.clone());
        let title = if self.title.is_empty() {
            super::item::title_from_url(&link)
        } else {
            self.title
        };
        Ok(ParsedItem {
            guid: None,
            url: Some(link.to_string()),
            title,
            text: self.text,
            published: self.published,
        })
    }
}

const FEED_TYPES: &[&str] = &[
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/rdf+xml",
];

/// Parses a page; `url` is where it was fetched from (for relative links).
pub fn parse_page(html: &str, url: &Url) -> Page {
    let doc = Document::from(html);
    let attr_url = |sel: &str, name: &str| -> Vec<Url> {
        doc.select(sel)
            .nodes()
            .iter()
            .filter_map(|n| n.attr(name))
            .filter_map(|h| url.join(h.trim()).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .collect()
    };
    let canonical = attr_url("link[rel~=canonical][href]", "href")
        .into_iter()
        .next();
    let feed_links = doc
        .select("link[rel~=alternate][href][type]")
        .nodes()
        .iter()
        .filter(|n| {
            n.attr("type")
                .is_some_and(|t| FEED_TYPES.contains(&t.trim().to_ascii_lowercase().as_str()))
        })
        .filter_map(|n| n.attr("href"))
        .filter_map(|h| url.join(h.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .collect();
    let meta = |sel: &str| -> Option<String> {
        doc.select(sel)
            .nodes()
            .iter()
            .find_map(|n| n.attr("content"))
            .map(|c| squash(&c))
            .filter(|c| !c.is_empty())
    };
    let published = meta("meta[property='article:published_time'][content]")
        .or_else(|| meta("meta[name='date'][content]"))
        .and_then(|t| parse_datetime(&t));
    let mut title = squash(&doc.select("head title").first().text());
    if title.is_empty() {
        title = meta("meta[property='og:title'][content]").unwrap_or_default();
    }
    if title.is_empty() {
        title = squash(&doc.select("h1").first().text());
    }
    doc.select("script, style, noscript, template, svg")
        .remove();
    let text = main_text(doc, url);
    Page {
        title,
        text,
        canonical,
        feed_links,
        published,
    }
}

/// The readable main text; the whole body's text when Readability finds no
/// article (short pages, link lists).
fn main_text(doc: Document, url: &Url) -> String {
    let config = dom_smoothie::Config {
        text_mode: dom_smoothie::TextMode::Formatted,
        ..Default::default()
    };
    match dom_smoothie::Readability::with_document(doc, Some(url.as_str()), Some(config)) {
        Ok(mut r) => match r.parse() {
            Ok(article) if !article.text_content.trim().is_empty() => tidy(&article.text_content),
            _ => {
                r.doc.select("nav, header, footer, aside").remove();
                tidy(&r.doc.select("body").formatted_text())
            }
        },
        Err(_) => String::new(),
    }
}

/// Reduces an HTML fragment (a feed item's summary or content) to text, one
/// paragraph per block element.
pub fn html_to_text(fragment: &str) -> String {
    if !fragment.contains('<') && !fragment.contains('&') {
        return tidy(fragment);
    }
    let doc = Document::fragment(fragment);
    doc.select("script, style, noscript, template, svg")
        .remove();
    tidy(&doc.formatted_text())
}

/// Whitespace collapsed within lines; at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines() {
        let line = squash(line);
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        out.push_str(&line);
        blank = false;
    }
    out
}

/// Collapses runs of whitespace to one space and trims.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3339, RFC 2822 or a plain date.
pub(crate) fn parse_datetime(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%MZ",
    ] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&chrono::Utc));
        }
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(
            s.trim_end_matches('Z'),
            fmt.trim_end_matches('Z'),
        ) {
            return Some(t.and_utc());
        }
    }
    let date = s.get(..10).unwrap_or(s);
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://comp.example/blog/post").expect("url")
    }

    #[test]
    fn fragments_become_paragraphs_of_text() {
        let t = html_to_text(
            "<p>First <b>bold</b>&amp;more</p><p>Second</p><script>evil()</script><ul><li>a</li><li>b</li></ul>",
        );
        assert!(t.starts_with("First bold&more"), "{t}");
        assert!(t.contains("Second"), "{t}");
        assert!(!t.contains("evil"), "{t}");
        assert!(!t.contains("Firstbold"), "{t}");
        assert_eq!(html_to_text("plain   text"), "plain text");
    }

    #[test]
    fn page_yields_title_canonical_feed_links_and_main_text() {
        let body =
            "<p>Self-hosting WordPress on a small droplet is cheaper than managed hosting. </p>"
                .repeat(20);
        let html = format!(
            "<!doctype html><html><head><title> Self-hosting  guide </title>\
             <link rel=\"canonical\" href=\"/blog/self-hosting?utm_source=x\">\
             <link rel=\"alternate\" type=\"application/rss+xml\" href=\"https://comp.example/feed.xml\">\
             <link rel=\"alternate\" type=\"text/html\" href=\"/fr/\">\
             <meta property=\"article:published_time\" content=\"2026-03-01T10:00:00Z\">\
             </head><body><nav>Home About Contact</nav><article><h1>Self-hosting guide</h1>{body}</article>\
             <footer>Copyright</footer><script>var x = 1;</script></body></html>"
        );
        let p = parse_page(&html, &url());
        assert_eq!(p.title, "Self-hosting guide");
        assert_eq!(
            p.canonical.as_ref().map(Url::as_str),
            Some("https://comp.example/blog/self-hosting?utm_source=x")
        );
        assert_eq!(p.feed_links.len(), 1);
        assert_eq!(p.feed_links[0].as_str(), "https://comp.example/feed.xml");
        assert!(
            p.text.contains("cheaper than managed hosting"),
            "{}",
            p.text
        );
        assert!(!p.text.contains("var x"), "{}", p.text);
        assert_eq!(p.published, parse_datetime("2026-03-01T10:00:00Z"));
    }

    #[test]
    fn short_pages_fall_back_to_the_body() {
        let p = parse_page(
            "<html><body><h1>Pricing</h1><p>Ten dollars.</p></body></html>",
            &url(),
        );
        assert_eq!(p.title, "Pricing");
        assert!(p.text.contains("Ten dollars."), "{}", p.text);
    }

    #[test]
    fn an_empty_page_is_a_parse_error() {
        let err = parse_page("", &url()).into_item(&url()).expect_err("empty");
        assert!(err.to_string().contains("no title and no text"), "{err}");
    }

    #[test]
    fn dates_in_common_forms_parse() {
        for s in [
            "2026-03-01T10:00:00Z",
            "2026-03-01T10:00:00+00:00",
            "Sun, 01 Mar 2026 10:00:00 GMT",
            "2026-03-01T10:00+00:00",
        ] {
            assert!(parse_datetime(s).is_some(), "{s}");
        }
        assert_eq!(
            parse_datetime("2026-03-01").map(|t| t.to_rfc3339()),
            Some("2026-03-01T00:00:00+00:00".into())
        );
        assert!(parse_datetime("yesterday").is_none());
    }
}
