//! Every feed format against a genuine sample from tests/fixtures/feeds.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str, content_type: &str) -> ParsedFeed {
    let base = Url::parse("https://competitor.example/feed.xml").expect("url");
    parse_feed_bytes(&fixture(name), Some(content_type), &base)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn rss2_items_have_guid_link_text_date_and_ttl() {
    let f = parse("rss2.xml", "application/rss+xml; charset=utf-8");
    assert_eq!(f.title.as_deref(), Some("Competitor Blog"));
    assert_eq!(f.ttl, Some(Duration::from_secs(90 * 60)));
    assert_eq!(f.items.len(), 3);
    let a = &f.items[0];
    assert_eq!(a.title, "Self-hosting WordPress on a $6 droplet");
    assert_eq!(a.guid.as_deref(), Some("competitor-post-101"));
    assert_eq!(
        a.url.as_deref(),
        Some("https://competitor.example/blog/self-hosting-wordpress?utm_source=rss")
    );
    assert!(
        a.text.starts_with("A small droplet runs WordPress fine"),
        "{}",
        a.text
    );
    assert!(!a.text.contains('<'), "{}", a.text);
    assert_eq!(
        a.published.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-03-02T09:00:00+00:00")
    );
    assert_eq!(
        f.items[1].text,
        "Three copies, two media, one off-site & tested restores."
    );
    // No guid: no id is invented; the link (made absolute) is the key.
    let c = &f.items[2];
    assert_eq!(c.guid, None);
    assert_eq!(
        c.url.as_deref(),
        Some("https://competitor.example/blog/caching-wordpress")
    );
}

#[test]
fn rss091_in_latin1_decodes_its_characters() {
    let f = parse("rss091.xml", "text/xml");
    assert_eq!(f.items.len(), 2);
    assert_eq!(f.items[0].title, "Café culture and website uptime");
    assert!(
        f.items[0].text.contains("café down the road"),
        "{}",
        f.items[0].text
    );
}

#[test]
fn rss092_item_without_title_takes_its_first_sentence() {
    let f = parse("rss092.xml", "application/rss+xml");
    assert_eq!(f.items.len(), 1);
    assert_eq!(
        f.items[0].title,
        "An item with only a description: WordPress security hardening checklist"
    );
}

#[test]
fn rss094_and_versionless_rss_are_read_as_rss2() {
    let f = parse("rss094.xml", "application/rss+xml");
    assert_eq!(f.items[0].title, "Email deliverability for small shops");
    assert_eq!(f.ttl, Some(Duration::from_secs(1800)));
    let base = Url::parse("https://x.example/").expect("url");
    let f = parse_feed(
        "<rss><channel><title>t</title><item><title>No version</title></item></channel></rss>",
        &base,
    )
    .expect("versionless rss");
    assert_eq!(f.items[0].title, "No version");
}

#[test]
fn rss1_rdf_is_read() {
    let f = parse("rss1.rdf", "application/rdf+xml");
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].title, "Uptime monitoring on a budget");
    assert_eq!(
        f.items[0].url.as_deref(),
        Some("https://rdf.example/uptime-monitoring")
    );
    assert!(f.items[0].published.is_some());
}

#[test]
fn atom1_resolves_relative_links_and_reduces_html() {
    let f = parse("atom1.xml", "application/atom+xml");
    assert_eq!(f.items.len(), 2);
    assert_eq!(f.items[0].title, "Moving to HTTP/3 for WordPress");
    assert_eq!(
        f.items[0].url.as_deref(),
        Some("https://atom.example/posts/http3-wordpress")
    );
    assert_eq!(f.items[0].text, "QUIC makes small sites faster on mobile.");
    assert_eq!(
        f.items[0].published.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-03-01T08:00:00+00:00")
    );
    assert!(
        f.items[1].text.contains("Deliverability is the problem."),
        "{}",
        f.items[1].text
    );
}

#[test]
fn atom03_is_read() {
    let f = parse("atom03.xml", "application/atom+xml");
    assert_eq!(f.items.len(), 1);
    assert_eq!(f.items[0].title, "Server hardening with fail2ban");
    assert_eq!(
        f.items[0].url.as_deref(),
        Some("https://atom03.example/fail2ban")
    );
    assert_eq!(
        f.items[0].guid.as_deref(),
        Some("tag:atom03.example,2026:fail2ban")
    );
}

#[test]
fn json_feed_is_read() {
    let f = parse("jsonfeed.json", "application/feed+json");
    assert_eq!(f.items.len(), 2);
    assert_eq!(f.items[0].title, "Do small sites need a CDN?");
    assert_eq!(f.items[0].text, "Usually yes: a free CDN cuts latency.");
    assert_eq!(f.items[1].text, "We tested five backup plugins.");
    assert_eq!(f.items[1].guid.as_deref(), Some("2026-02-26-backups"));
}

#[test]
fn malformed_xml_is_a_parse_error_naming_the_problem() {
    let base = Url::parse("https://broken.example/").expect("url");
    let err = parse_feed_bytes(&fixture("malformed.xml"), None, &base).expect_err("malformed");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot parse feed: "), "{msg}");
    let err =
        parse_feed_bytes(b"<html><body>not a feed</body></html>", None, &base).expect_err("html");
    assert!(err.to_string().contains("is this a feed?"), "{err}");
}

#[test]
fn utf16_without_bom_naming_the_other_byte_order_does_not_panic() {
    // The input that crash-looped serve: quick-xml (inside feed-rs) panicked
    // with "set_encoding() called after prefix buffer was drained".
    let f = parse(
        "corpus/enc-utf16le-nobom-decl-be.xml",
        "application/rss+xml",
    );
    assert_eq!(f.items[0].title, "Café au lait — naïve résumé");
}

#[test]
fn xml_declarations_inside_the_document_are_ignored() {
    let base = Url::parse("https://x.example/").expect("url");
    let doc = format!(
        "<rss version=\"2.0\"><channel><title>{}</title><?xml version=\"1.0\" encoding=\"UTF-16BE\"?>\
         <item><title>Still UTF-8: é</title></item></channel></rss>",
        "padding ".repeat(20)
    );
    let f = parse_feed(&doc, &base).expect("feed");
    assert_eq!(f.items[0].title, "Still UTF-8: é");
}

#[test]
fn rss_without_channel_and_cdf_get_errors_that_say_so() {
    let base = Url::parse("https://x.example/").expect("url");
    let err = parse_feed(
        "<rss version=\"2.0\"><item><title>a</title></item></rss>",
        &base,
    )
    .expect_err("no channel");
    assert!(err.to_string().contains("has no <channel>"), "{err}");
    let err = parse_feed(
        "<CHANNEL HREF=\"http://x.example/\"><TITLE>t</TITLE></CHANNEL>",
        &base,
    )
    .expect_err("cdf");
    assert!(err.to_string().contains("(CDF)"), "{err}");
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[test]
fn markup_written_straight_into_a_description_keeps_its_paragraphs() {
    let base = Url::parse("https://x.example/").expect("url");
    let f = parse_feed(
        "<rss><channel><item><title>t</title><description><p>One.</p><p>Two &amp; three.</p></description></item></channel></rss>",
        &base,
    )
    .expect("feed");
    assert_eq!(f.items[0].text, "One.\n\nTwo & three.");
}
