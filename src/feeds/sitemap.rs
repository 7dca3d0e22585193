//! Sitemaps (sitemaps.org 0.9): `<urlset>` entries with their `lastmod`
//! (and a Google News `<news:title>` when present), `<sitemapindex>`
//! children, the plain-text form (one URL per line), and gzip. Pure; every
//! URL is absolute http(s) or dropped.

use std::io::Read;

use quick_xml::Reader;
use quick_xml::events::Event;
use reqwest::Url;

use super::page::parse_datetime;
use super::{ParseError, charset};
use crate::domain::lifecycle::Timestamp;

/// One `<url>` or `<sitemap>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitemapEntry {
    pub loc: Url,
    pub lastmod: Option<Timestamp>,
    /// `<news:title>` of a news sitemap.
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sitemap {
    /// Pages.
    Urls(Vec<SitemapEntry>),
    /// Child sitemaps.
    Index(Vec<SitemapEntry>),
}

/// A parsed sitemap and the number of its entries that were skipped because
/// their `<loc>` is missing, not a URL, or not http(s): the source's status
/// shows the count, as for feed entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSitemap {
    pub sitemap: Sitemap,
    pub skipped: u32,
}

/// Whether the bytes are gzip (magic 1f 8b).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses gzip, refusing more than `limit` bytes of output.
pub fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, ParseError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| ParseError::new("sitemap", format!("bad gzip data: {e}")))?;
    if out.len() as u64 > limit {
        return Err(ParseError::new(
            "sitemap",
            format!("gzip data expands to more than the {limit}-byte body limit"),
        ));
    }
    Ok(out)
}

/// Parses a sitemap from raw bytes (XML in any declared charset, or text).
pub fn parse_sitemap_bytes(
    bytes: &[u8],
    content_type: Option<&str>,
    base: &Url,
) -> Result<ParsedSitemap, ParseError> {
    let text = charset::decode_xml(bytes, content_type);
    parse_sitemap(charset::strip_xml_declaration(&text), base)
}

/// Parses a sitemap from text.
pub fn parse_sitemap(text: &str, base: &Url) -> Result<ParsedSitemap, ParseError> {
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if !trimmed.starts_with('<') {
        return parse_text_sitemap(trimmed, base);
    }
    let mut reader = Reader::from_str(trimmed);
    let mut stack: Vec<String> = Vec::new();
    let mut root: Option<String> = None;
    let mut entries = Vec::new();
    let mut skipped = 0u32;
    let mut cur: Option<(String, String, String)> = None; // loc, lastmod, title
    let mut text_buf = String::new();
    loop {
        let event = reader.read_event().map_err(|e| {
            ParseError::new(
                "sitemap",
                format!("XML error at byte {}: {e}", reader.error_position()),
            )
        })?;
        match event {
            Event::Start(e) => {
                let name = local(e.name().as_ref());
                if root.is_none() {
                    if name != "urlset" && name != "sitemapindex" {
                        return Err(ParseError::new(
                            "sitemap",
                            format!("root element is <{name}>, not <urlset> or <sitemapindex>"),
                        ));
                    }
                    root = Some(name.clone());
                }
                if stack.len() == 1 && (name == "url" || name == "sitemap") {
                    cur = Some(Default::default());
                }
                stack.push(name);
                text_buf.clear();
            }
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                if let Some((loc, lastmod, title)) = cur.as_mut() {
                    match name.as_str() {
                        "loc" if stack.len() == 2 => *loc = text_buf.trim().to_string(),
                        "lastmod" if stack.len() == 2 => *lastmod = text_buf.trim().to_string(),
                        "title" if stack.iter().any(|s| s == "news") => {
                            *title = text_buf.trim().to_string()
                        }
                        _ => {}
                    }
                }
                if stack.len() == 1
                    && (name == "url" || name == "sitemap")
                    && let Some((loc, lastmod, title)) = cur.take()
                {
                    match base.join(&loc) {
                        Ok(u) if matches!(u.scheme(), "http" | "https") && !loc.is_empty() => {
                            entries.push(SitemapEntry {
                                loc: u,
                                lastmod: parse_datetime(&lastmod),
                                title: Some(title).filter(|t| !t.is_empty()),
                            })
                        }
                        _ => skipped += 1,
                    }
                }
                text_buf.clear();
            }
            Event::Empty(e) if root.is_none() => {
                let name = local(e.name().as_ref());
                return Err(ParseError::new(
                    "sitemap",
                    format!("root element is an empty <{name}/>"),
                ));
            }
            Event::Text(t) => text_buf.push_str(&t.xml10_content()),
            Event::CData(t) => text_buf.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => text_buf.push(c),
                _ => text_buf.push_str(match &*r.into_inner() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                }),
            },
            Event::Eof => break,
            _ => {}
        }
    }
    match root.as_deref() {
        Some("urlset") => Ok(ParsedSitemap {
            sitemap: Sitemap::Urls(entries),
            skipped,
        }),
        Some(_) => Ok(ParsedSitemap {
            sitemap: Sitemap::Index(entries),
            skipped,
        }),
        None => Err(ParseError::new(
            "sitemap",
            "no <urlset> or <sitemapindex> element",
        )),
    }
}

/// The plain-text form: one absolute URL per line.
fn parse_text_sitemap(text: &str, base: &Url) -> Result<ParsedSitemap, ParseError> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match Url::parse(line) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => entries.push(SitemapEntry {
                loc: u,
                lastmod: None,
                title: None,
            }),
            _ => {
                return Err(ParseError::new(
                    "sitemap",
                    format!("line {} of the text sitemap at {base} is not a URL", n + 1),
                ));
            }
        }
    }
    Ok(ParsedSitemap {
        sitemap: Sitemap::Urls(entries),
        skipped: 0,
    })
}

fn local(qname: &str) -> String {
    qname.rsplit(':').next().unwrap_or(qname).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://comp.example/sitemap.xml").expect("url")
    }

    #[test]
    fn urlset_entries_with_lastmod_and_news_titles() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://comp.example/blog/a?x=1&amp;y=2</loc><lastmod>2026-03-01</lastmod></url>
  <url><loc> https://comp.example/blog/b </loc><lastmod>2026-03-02T10:00:00+01:00</lastmod>
    <news:news><news:title>Breaking &#x26; news</news:title></news:news></url>
  <url><loc>ftp://comp.example/x</loc></url>
  <url><loc><![CDATA[/relative/c]]></loc></url>
  <url><loc></loc></url>
  <url><lastmod>2026-03-03</lastmod></url>
  <url><loc>http://[::1</loc></url>
</urlset>"#;
        let parsed = parse_sitemap_bytes(xml.as_bytes(), None, &base()).expect("parse");
        // ftp:, an empty <loc>, none at all, and a broken URL: skipped, counted.
        assert_eq!(parsed.skipped, 4);
        let Sitemap::Urls(u) = parsed.sitemap else {
            panic!("expected urls")
        };
        assert_eq!(u.len(), 3, "{u:?}");
        assert_eq!(u[0].loc.as_str(), "https://comp.example/blog/a?x=1&y=2");
        assert_eq!(
            u[0].lastmod.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-03-01T00:00:00+00:00")
        );
        assert_eq!(u[1].loc.as_str(), "https://comp.example/blog/b");
        assert_eq!(u[1].title.as_deref(), Some("Breaking & news"));
        assert_eq!(
            u[1].lastmod.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-03-02T09:00:00+00:00")
        );
        assert_eq!(u[2].loc.as_str(), "https://comp.example/relative/c");
    }

    #[test]
    fn index_lists_children() {
        let xml = "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
            <sitemap><loc>https://comp.example/s1.xml.gz</loc><lastmod>2026-01-01</lastmod></sitemap>\
            <sitemap><loc>https://comp.example/s2.xml</loc></sitemap></sitemapindex>";
        let Sitemap::Index(c) = parse_sitemap(xml, &base()).expect("parse").sitemap else {
            panic!("expected index")
        };
        assert_eq!(
            c.iter().map(|e| e.loc.as_str()).collect::<Vec<_>>(),
            [
                "https://comp.example/s1.xml.gz",
                "https://comp.example/s2.xml"
            ]
        );
    }

    #[test]
    fn gzip_round_trip_and_bomb_limit() {
        use std::io::Write;
        let xml = "<urlset><url><loc>https://comp.example/a</loc></url></urlset>";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(xml.as_bytes()).expect("gz");
        let gz = gz.finish().expect("gz");
        assert!(is_gzip(&gz));
        assert_eq!(gunzip(&gz, 1 << 20).expect("gunzip"), xml.as_bytes());
        let err = gunzip(&gz, 10).expect_err("over limit");
        assert!(err.to_string().contains("body limit"), "{err}");
        assert!(gunzip(b"\x1f\x8bnot gzip", 100).is_err());
    }

    #[test]
    fn text_sitemaps_and_errors() {
        let Sitemap::Urls(u) = parse_sitemap(
            "https://comp.example/a\n\nhttps://comp.example/b\n",
            &base(),
        )
        .expect("text")
        .sitemap
        else {
            panic!("urls")
        };
        assert_eq!(u.len(), 2);
        assert!(parse_sitemap("not a url", &base()).is_err());
        let err = parse_sitemap("<rss><channel/></rss>", &base()).expect_err("rss");
        assert!(err.to_string().contains("root element is <rss>"), "{err}");
        let err =
            parse_sitemap("<urlset><url><loc>x</url></urlset>", &base()).expect_err("mismatch");
        assert!(err.to_string().contains("XML error"), "{err}");
    }
}
