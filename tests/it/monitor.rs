//! The monitor stage against local fake web servers (wiremock) that speak
//! the genuine formats and headers of the internet's feeds: ETag and
//! Last-Modified with 304s, Cache-Control, Retry-After, gzip, redirects,
//! sitemap indexes. Real SQLite store, manual clock.

use std::time::Duration;

use blog_poster::domain::lifecycle::Stage;
use blog_poster::pipeline::monitor::Monitor;
use blog_poster::store::{MonitorOutput, SourceRecord, StageOutput};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::t;
use crate::stages::Stages;

pub fn fixture(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/fixtures/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// An RSS 2.0 feed of (guid, title) items, each with an HTML description,
/// published an hour before the tests' clock starts.
pub fn rss(items: &[(&str, &str)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Fake</title><link>https://fake.example/</link><description>d</description>\n",
    );
    for (guid, title) in items {
        out.push_str(&format!(
            "<item><title>{title}</title><guid isPermaLink=\"false\">{guid}</guid><link>https://fake.example/{guid}</link>\
             <pubDate>Fri, 15 Jan 2027 07:00:00 GMT</pubDate>\
             <description><![CDATA[<p>About <em>{title}</em>.</p><script>alert(1)</script>]]></description></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

pub fn site_config(sources: &[(String, &str)]) -> String {
    let mut c = String::from("[sites.blog]\npublisher = \"outbox\"\n");
    for (url, kind) in sources {
        c.push_str(&format!(
            "[[sites.blog.sources]]\nurl = \"{url}\"\nkind = \"{kind}\"\n"
        ));
    }
    c
}

fn output(o: StageOutput) -> MonitorOutput {
    match o {
        StageOutput::Monitor(m) => m,
        other => panic!("expected monitor output, got {other:?}"),
    }
}

async fn monitor(s: &Stages) -> MonitorOutput {
    output(
        s.run("blog", Stage::Monitor, &Monitor)
            .await
            .expect("monitor stage"),
    )
}

fn source(s: &Stages, url: &str) -> SourceRecord {
    s.store
        .list_sources("blog")
        .expect("sources")
        .into_iter()
        .find(|r| r.url == url)
        .unwrap_or_else(|| panic!("no source {url}"))
}

fn count_path(requests: &[wiremock::Request], p: &str) -> usize {
    requests.iter().filter(|r| r.url.path() == p).count()
}

fn xml(body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "application/rss+xml; charset=utf-8")
}

#[tokio::test]
async fn items_are_stored_once_across_runs_with_html_reduced_to_text() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(xml(rss(&[
            ("g1", "Uptime monitoring"),
            ("g2", "Edge caching"),
        ])))
        .mount(&server)
        .await;
    let url = format!("{}/feed.xml", server.uri());
    let s = Stages::new(&site_config(&[(url.clone(), "feed")]));

    let first = monitor(&s).await;
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.sources.len(), 1);
    assert_eq!(first.sources[0].error, None);

    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(xml(rss(&[
            ("g3", "Log rotation"),
            ("g1", "Uptime monitoring"),
            ("g2", "Edge caching"),
        ])))
        .mount(&server)
        .await;
    s.advance(Duration::from_secs(2 * 3600));
    let second = monitor(&s).await;
    assert_eq!(second.items.len(), 3, "every entry is reported");

    let stored = s.store.list_source_items("blog", None, 100).expect("items");
    let mut titles: Vec<&str> = stored.iter().map(|i| i.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        ["Edge caching", "Log rotation", "Uptime monitoring"],
        "stored once each"
    );
    let new = s
        .store
        .list_source_items("blog", Some(t(3600)), 100)
        .expect("new items");
    assert_eq!(new.len(), 1, "only g3 is new in run 2");
    assert_eq!(new[0].title, "Log rotation");
    let g1 = stored
        .iter()
        .find(|i| i.title == "Uptime monitoring")
        .expect("g1");
    assert_eq!(
        g1.summary, "About Uptime monitoring.",
        "HTML reduced to text, script dropped"
    );
    assert_eq!(g1.url.as_deref(), Some("https://fake.example/g1"));
    assert_eq!(g1.source_url.as_deref(), Some(url.as_str()));
}

#[tokio::test]
async fn a_304_is_honoured_with_validators_sent_and_nothing_restored() {
    let server = MockServer::start().await;
    let last_modified = "Mon, 02 Mar 2026 09:00:00 GMT";
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .and(header("if-none-match", "\"v1\""))
        // (wiremock's header() splits on commas, which HTTP dates contain)
        .and(move |r: &wiremock::Request| {
            r.headers
                .get("if-modified-since")
                .and_then(|v| v.to_str().ok())
                == Some(last_modified)
        })
        .respond_with(
            ResponseTemplate::new(304)
                .insert_header("etag", "\"v1\"")
                .insert_header("cache-control", "max-age=1800"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            xml(rss(&[("g1", "Uptime monitoring"), ("g2", "Edge caching")]))
                .insert_header("etag", "\"v1\"")
                .insert_header("last-modified", last_modified),
        )
        .mount(&server)
        .await;
    let url = format!("{}/feed.xml", server.uri());
    let s = Stages::new(&site_config(&[(url.clone(), "auto")]));

    assert_eq!(monitor(&s).await.items.len(), 2);
    let src = source(&s, &url);
    assert_eq!(src.etag.as_deref(), Some("\"v1\""));
    assert_eq!(src.last_modified.as_deref(), Some(last_modified));

    s.advance(Duration::from_secs(2 * 3600));
    let second = monitor(&s).await;
    assert!(second.items.is_empty(), "{second:?}");
    assert!(second.sources[0].not_modified);
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1]
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok()),
        Some("\"v1\"")
    );
    assert!(
        requests[0].headers.get("if-none-match").is_none(),
        "nothing to validate on the first fetch"
    );
    let user_agent = requests[0]
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(user_agent.starts_with("blog-poster/"), "{user_agent}");
    let encodings = requests[0]
        .headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for e in ["gzip", "deflate", "br"] {
        assert!(encodings.contains(e), "{encodings}");
    }

    assert_eq!(
        s.store
            .list_source_items("blog", None, 100)
            .expect("items")
            .len(),
        2
    );
    let src = source(&s, &url);
    assert_eq!(src.etag.as_deref(), Some("\"v1\""), "validators kept");
    assert_eq!(src.last_success_at, Some(t(7200)));
    assert_eq!(
        src.next_check_at,
        Some(t(7200 + 1800)),
        "Cache-Control of the 304"
    );
}

#[tokio::test]
async fn a_malformed_feed_marks_its_source_and_the_others_are_stored() {
    let server = MockServer::start().await;
    for (p, body, etag) in [
        ("/good.xml", fixture("rss2.xml"), "\"g\""),
        ("/broken.xml", fixture("malformed.xml"), "\"b1\""),
        ("/atom.xml", fixture("atom1.xml"), "\"a\""),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(xml(body).insert_header("etag", etag))
            .mount(&server)
            .await;
    }
    let u = |p: &str| format!("{}{p}", server.uri());
    let s = Stages::new(&site_config(&[
        (u("/good.xml"), "feed"),
        (u("/broken.xml"), "feed"),
        (u("/atom.xml"), "auto"),
    ]));

    let out = monitor(&s).await;
    assert_eq!(out.sources.len(), 3);
    let broken = source(&s, &u("/broken.xml"));
    let err = broken.last_error.as_deref().unwrap_or("");
    assert!(
        err.starts_with(&format!("{}: cannot parse feed: ", u("/broken.xml"))),
        "{err}"
    );
    assert_eq!(broken.consecutive_failures, 1);
    assert_eq!(
        broken.etag, None,
        "validators are saved only after a successful parse"
    );
    assert_eq!(broken.next_check_at, Some(t(300)), "first backoff step");
    assert_eq!(source(&s, &u("/good.xml")).last_error, None);
    assert_eq!(source(&s, &u("/good.xml")).etag.as_deref(), Some("\"g\""));

    let items = s.store.list_source_items("blog", None, 100).expect("items");
    assert_eq!(items.len(), 5, "3 RSS + 2 Atom items: {items:#?}");

    // It keeps being retried, each time later; never given up.
    s.advance(Duration::from_secs(301));
    monitor(&s).await;
    let broken = source(&s, &u("/broken.xml"));
    assert_eq!(broken.consecutive_failures, 2);
    assert_eq!(broken.next_check_at, Some(t(301 + 600)));
}

#[tokio::test]
async fn retry_after_and_cache_control_decide_the_next_check() {
    let server = MockServer::start().await;
    let retry_at = chrono::Utc::now() + chrono::Duration::hours(2);
    for (p, response) in [
        (
            "/a.xml",
            xml(rss(&[("a1", "Static sites")]))
                .insert_header("cache-control", "public, max-age=7200"),
        ),
        (
            "/b.xml",
            ResponseTemplate::new(429).insert_header("retry-after", "3600"),
        ),
        (
            "/c.xml",
            ResponseTemplate::new(503).insert_header(
                "retry-after",
                retry_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            ),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(response)
            .mount(&server)
            .await;
    }
    let u = |p: &str| format!("{}{p}", server.uri());
    let s = Stages::new(&site_config(&[
        (u("/a.xml"), "feed"),
        (u("/b.xml"), "feed"),
        (u("/c.xml"), "feed"),
    ]));

    monitor(&s).await;
    assert_eq!(source(&s, &u("/a.xml")).next_check_at, Some(t(7200)));
    let b = source(&s, &u("/b.xml"));
    assert_eq!(
        b.next_check_at,
        Some(t(3600)),
        "Retry-After beats the 5m backoff"
    );
    assert_eq!(
        b.last_error.as_deref(),
        Some(format!("{}: HTTP 429 (Retry-After 3600s)", u("/b.xml")).as_str())
    );
    let c = source(&s, &u("/c.xml")).next_check_at.expect("next check");
    assert!(
        (c - t(7200)).num_seconds().abs() <= 2,
        "HTTP-date Retry-After: {c}"
    );

    // Half an hour later nothing is due: no request at all.
    s.advance(Duration::from_secs(1800));
    let out = monitor(&s).await;
    assert!(out.sources.is_empty(), "{out:?}");
    assert_eq!(server.received_requests().await.expect("recorded").len(), 3);

    // After an hour only b is due.
    s.advance(Duration::from_secs(1801));
    let out = monitor(&s).await;
    assert_eq!(
        out.sources
            .iter()
            .map(|o| o.url.as_str())
            .collect::<Vec<_>>(),
        [u("/b.xml")]
    );
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(
        (
            count_path(&requests, "/a.xml"),
            count_path(&requests, "/b.xml")
        ),
        (1, 2)
    );
    assert_eq!(source(&s, &u("/b.xml")).consecutive_failures, 2);
}

#[tokio::test]
async fn gzip_bodies_charsets_and_gzipped_sitemaps_are_decoded() {
    use std::io::Write;
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).expect("gzip");
        e.finish().expect("gzip")
    };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/encoded.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(gz(&fixture("rss091.xml")), "text/xml")
                .insert_header("content-encoding", "gzip"),
        )
        .mount(&server)
        .await;
    let sitemap = format!(
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><url><loc>{0}/blog/zero-downtime-deploys</loc><lastmod>2026-03-01</lastmod></url></urlset>",
        server.uri()
    );
    Mock::given(method("GET"))
        .and(path("/sitemap.xml.gz"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(gz(sitemap.as_bytes()), "application/x-gzip"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/blog/zero-downtime-deploys"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<html><head><title>Zero-downtime deploys for PHP apps</title></head><body><p>Blue-green is simple.</p></body></html>",
            "text/html; charset=utf-8",
        ))
        .mount(&server)
        .await;
    let s = Stages::new(&site_config(&[
        (format!("{}/encoded.xml", server.uri()), "feed"),
        (format!("{}/sitemap.xml.gz", server.uri()), "sitemap"),
    ]));
    let out = monitor(&s).await;
    assert!(out.sources.iter().all(|o| o.error.is_none()), "{out:?}");
    let items = s.store.list_source_items("blog", None, 100).expect("items");
    let titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    assert!(
        titles.contains(&"Café culture and website uptime"),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"Zero-downtime deploys for PHP apps"),
        "{titles:?}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_the_sources_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/huge.xml"))
        .respond_with(xml(vec![b' '; 4096]))
        .mount(&server)
        .await;
    let url = format!("{}/huge.xml", server.uri());
    let s = Stages::new(&format!(
        "[monitor]\nbody_limit = \"2KiB\"\n{}",
        site_config(&[(url.clone(), "feed")])
    ));
    monitor(&s).await;
    let err = source(&s, &url).last_error.unwrap_or_default();
    assert!(err.contains("larger than the 2048-byte limit"), "{err}");
}

#[tokio::test]
async fn a_slow_source_times_out_and_the_others_are_not_held_up() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow.xml"))
        .respond_with(xml(rss(&[("s1", "Slow")])).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/fast.xml"))
        .respond_with(xml(rss(&[("f1", "Fast")])))
        .mount(&server)
        .await;
    let u = |p: &str| format!("{}{p}", server.uri());
    let s = Stages::new(&format!(
        "[monitor]\ntimeout = \"1s\"\n{}",
        site_config(&[(u("/slow.xml"), "feed"), (u("/fast.xml"), "feed")])
    ));
    monitor(&s).await;
    let err = source(&s, &u("/slow.xml")).last_error.unwrap_or_default();
    assert_eq!(
        err,
        format!(
            "{}: timed out (monitor.timeout / monitor.connect_timeout)",
            u("/slow.xml")
        )
    );
    assert_eq!(source(&s, &u("/fast.xml")).last_error, None);
    let items = s.store.list_source_items("blog", None, 10).expect("items");
    assert_eq!(
        items.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(),
        ["Fast"]
    );
}

#[path = "monitor_ssrf.rs"]
mod ssrf;

/// Corpus documents that the parsers used to refuse, garble or collapse —
/// and one that made quick-xml panic (UTF-16 without a BOM whose
/// declaration names the other byte order) — served as the internet serves
/// them: every source is healthy, every readable entry is stored, and the
/// unreadable ones are counted in their source's status.
#[tokio::test]
async fn real_world_feed_classes_are_stored_and_skipped_entries_counted() {
    let corpus = |name: &str| fixture(&format!("corpus/{name}"));
    let server = MockServer::start().await;
    for (p, name, content_type) in [
        (
            "/empty-items.xml",
            "rss20-empty-items.xml",
            "application/rss+xml",
        ),
        (
            "/utf16.xml",
            "enc-utf16le-nobom-decl-be.xml",
            "application/xml",
        ),
        (
            "/atom-types.xml",
            "atom10-content-types.xml",
            "application/atom+xml",
        ),
        (
            "/shared-link.xml",
            "rss20-shared-link.xml",
            "text/xml; charset=us-ascii",
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_raw(corpus(name), content_type))
            .mount(&server)
            .await;
    }
    let u = |p: &str| format!("{}{p}", server.uri());
    let s = Stages::new(&site_config(&[
        (u("/empty-items.xml"), "auto"),
        (u("/utf16.xml"), "auto"),
        (u("/atom-types.xml"), "auto"),
        (u("/shared-link.xml"), "feed"),
    ]));

    let out = monitor(&s).await;
    for o in &out.sources {
        assert_eq!(o.error, None, "{}", o.url);
    }
    let skipped: Vec<u32> = [
        "/empty-items.xml",
        "/utf16.xml",
        "/atom-types.xml",
        "/shared-link.xml",
    ]
    .iter()
    .map(|p| source(&s, &u(p)).skipped_entries)
    .collect();
    assert_eq!(skipped, [2, 0, 0, 0]);
    let items = s.store.list_source_items("blog", None, 100).expect("items");
    assert_eq!(items.len(), 2 + 2 + 8 + 3, "{items:#?}");
    assert!(
        items.iter().any(|i| i.title == "Ελληνικά και 中文 🚀"),
        "{items:#?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i.title == "Base64 content" && i.summary == "This text was base64-encoded."),
        "{items:#?}"
    );
}
