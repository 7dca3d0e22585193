//! The parsers never panic, whatever the bytes: random bytes, valid
//! documents with random edits, and random mixes of the markup they look
//! for. (A parse error is fine; a panic would take a whole monitor run's
//! source down with it.)

use proptest::prelude::*;
use reqwest::Url;

use super::source::parse_document;
use super::{charset, feed, page, sitemap, sniff};
use crate::config::SourceKind;

const FIXTURES: &[&[u8]] = &[
    include_bytes!("../../tests/fixtures/feeds/rss2.xml"),
    include_bytes!("../../tests/fixtures/feeds/rss091.xml"),
    include_bytes!("../../tests/fixtures/feeds/rss1.rdf"),
    include_bytes!("../../tests/fixtures/feeds/atom1.xml"),
    include_bytes!("../../tests/fixtures/feeds/atom03.xml"),
    include_bytes!("../../tests/fixtures/feeds/jsonfeed.json"),
    include_bytes!("../../tests/fixtures/feeds/malformed.xml"),
    include_bytes!("../../tests/fixtures/feeds/corpus/enc-utf16le-nobom-decl-be.xml"),
    include_bytes!("../../tests/fixtures/feeds/corpus/enc-utf32be-bom.xml"),
    include_bytes!("../../tests/fixtures/feeds/corpus/atom10-content-types.xml"),
    include_bytes!("../../tests/fixtures/feeds/corpus/atom03-base64.xml"),
    include_bytes!("../../tests/fixtures/feeds/corpus/rss10-no-link.rdf"),
    include_bytes!("../../tests/fixtures/feeds/corpus/rss20-html-entities.xml"),
    include_bytes!("../../tests/fixtures/feeds/corpus/jsonfeed-bad-item.json"),
    b"<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><url><loc>https://a.example/x</loc><lastmod>2026-01-01</lastmod></url></urlset>",
    b"<sitemapindex><sitemap><loc>https://a.example/s.xml</loc></sitemap></sitemapindex>",
    b"<!doctype html><html><head><title>T</title><link rel=\"alternate\" type=\"application/rss+xml\" href=\"/f\"><meta charset=\"latin1\"></head><body><article><p>Text</p></article></body></html>",
];

const PIECES: &[&str] = &[
    "<?xml version=\"1.0\" encoding=\"",
    "ISO-8859-1",
    "utf-16",
    "\"?>",
    "<rss",
    " version=\"0.94\"",
    ">",
    "</rss>",
    "<channel>",
    "<item>",
    "</item>",
    "<title>",
    "</title>",
    "<link>",
    "<guid>",
    "<ttl>",
    "99999999999",
    "<feed",
    " xmlns=\"http://purl.org/atom/ns#\"",
    " version=\"0.3\"",
    "<entry>",
    "<content mode=\"escaped\">",
    "</feed>",
    "<urlset>",
    "<sitemapindex>",
    "<url>",
    "<sitemap>",
    "<loc>",
    "</loc>",
    "<lastmod>",
    "<news:title>",
    "&amp;",
    "&#x1F600;",
    "&#xD800;",
    "&#146;",
    "&#x9F;",
    "&eacute;",
    "&nbsp;",
    "<?xml version=\"1.0\" encoding=\"UTF-16BE\"?>",
    "<?xml version=\"1.0\" encoding=\"latin1\"?>",
    " xmlns=\"http://backend.userland.com/rss2\"",
    "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">",
    " rdf:about=\"/x\"",
    " xml:base=\"../\"",
    "<CHANNEL>",
    "<content type=\"application/octet-stream\">",
    "<content type=\"xhtml\">",
    " mode=\"base64\"",
    "aGVsbG8=",
    "<dc:title>",
    "<content:encoded>",
    "<pubDate>",
    "Sat, Dec 16 2023 02:02:33 PM",
    "\u{0}<\u{0}?",
    "\u{92}",
    "&bogus;",
    "&",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<!DOCTYPE html>",
    "<html>",
    "<meta charset=",
    "<link rel=canonical href=",
    "javascript:alert(1)",
    "\u{feff}",
    "\0",
    "é",
    "{",
    "\"items\":[",
    "\"version\":\"https://jsonfeed.org/version/1.1\"",
    "}",
    " ",
    "\n",
    "/",
    "http://",
    "%zz",
];

fn url() -> Url {
    Url::parse("https://fuzz.example/feed").expect("url")
}

fn all_parsers(bytes: &[u8]) {
    let _ = sniff(bytes, Some("text/xml"));
    let _ = charset::decode_html(bytes, Some("text/html; charset=x-unknown"));
    let _ = feed::parse_feed_bytes(
        bytes,
        Some("application/rss+xml; charset=windows-1252"),
        &url(),
    );
    let _ = sitemap::parse_sitemap_bytes(bytes, None, &url());
    let _ = sitemap::gunzip(bytes, 1 << 16);
    let html = charset::decode_html(bytes, None);
    let _ = page::parse_page(&html, &url()).into_item(&url());
    let _ = page::html_to_text(&html);
    for kind in [
        SourceKind::Auto,
        SourceKind::Feed,
        SourceKind::Sitemap,
        SourceKind::Page,
    ] {
        let _ = parse_document(bytes, None, &url(), kind, 1 << 16);
    }
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(FIXTURES),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    )
        .prop_map(|(doc, edits)| {
            let mut bytes = doc.to_vec();
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            bytes
        })
}

fn markup_soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|p| p.concat().into_bytes())
}

proptest! {
    #[test]
    fn parsers_survive_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        all_parsers(&bytes);
    }

    #[test]
    fn parsers_survive_edited_documents(bytes in mutated()) {
        all_parsers(&bytes);
    }

    #[test]
    fn parsers_survive_markup_soup(bytes in markup_soup()) {
        all_parsers(&bytes);
    }

    #[test]
    fn titles_from_urls_survive_any_text(text in "\\PC{0,200}") {
        let _ = super::item::title_from_url(&Url::parse(&format!("https://x.example/{}", text.replace(['#', '?'], ""))).unwrap_or_else(|_| url()));
    }
}
