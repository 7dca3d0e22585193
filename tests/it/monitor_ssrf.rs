//! URLs found in remote content — redirects, child sitemaps, sitemap
//! entries, feed links on pages — are not fetched when they point to
//! loopback, private or link-local addresses, while the configured
//! (loopback) sources and their own origin are. `inner` stands for a
//! service on this machine that must never see a request.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{fixture, monitor, rss, site_config, source, xml};

#[tokio::test]
async fn remote_urls_to_private_addresses_are_refused_while_configured_loopback_sources_are_fetched()
 {
    let outer = MockServer::start().await;
    let inner = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("rss2.xml"), "application/rss+xml"),
        )
        .mount(&inner)
        .await;
    let o = outer.uri();
    let inner_port = inner.address().port();
    let inner_ip = format!("http://127.0.0.1:{inner_port}");
    let inner_name = format!("http://localhost:{inner_port}");

    let index = format!(
        "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
         <sitemap><loc>{o}/sitemap-posts.xml</loc><lastmod>2026-03-02</lastmod></sitemap>\
         <sitemap><loc>{inner_ip}/sitemap-internal.xml</loc><lastmod>2026-03-03</lastmod></sitemap>\
         <sitemap><loc>{inner_name}/sitemap-by-name.xml</loc><lastmod>2026-03-03</lastmod></sitemap>\
         <sitemap><loc>http://169.254.169.254/latest/meta-data/</loc><lastmod>2026-03-04</lastmod></sitemap>\
         </sitemapindex>"
    );
    let posts = format!(
        "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
         <url><loc>{o}/posts/wordpress-hardening</loc><lastmod>2026-03-02</lastmod></url>\
         <url><loc>{inner_ip}/admin/secret-report</loc><lastmod>2026-03-05</lastmod></url>\
         <url><loc>{inner_name}/debug/vars</loc><lastmod>2026-03-04</lastmod></url>\
         <url><loc>http://[::1]:{inner_port}/v6</loc><lastmod>2026-03-04</lastmod></url>\
         </urlset>"
    );
    let page = format!(
        "<html><head><title>Autodiscovery</title>\
         <link rel=\"alternate\" type=\"application/rss+xml\" href=\"{inner_ip}/feed.xml\"></head><body>x</body></html>"
    );
    for (p, response) in [
        ("/sitemap-index.xml", ResponseTemplate::new(200).set_body_raw(index, "application/xml")),
        ("/sitemap-posts.xml", ResponseTemplate::new(200).set_body_raw(posts, "application/xml")),
        (
            "/posts/wordpress-hardening",
            ResponseTemplate::new(200).set_body_raw(
                "<html><head><title>WordPress hardening in ten minutes</title></head><body><p>Disable XML-RPC.</p></body></html>",
                "text/html",
            ),
        ),
        ("/to-inner", ResponseTemplate::new(302).insert_header("location", format!("{inner_ip}/feed.xml"))),
        ("/to-metadata", ResponseTemplate::new(301).insert_header("location", "http://169.254.169.254/latest/meta-data/")),
        ("/moved", ResponseTemplate::new(301).insert_header("location", "/feed.xml")),
        ("/feed.xml", xml(rss(&[("r1", "Redirected but same origin")]))),
        ("/discover", ResponseTemplate::new(200).set_body_raw(page, "text/html")),
    ] {
        Mock::given(method("GET")).and(path(p)).respond_with(response).mount(&outer).await;
    }
    let u = |p: &str| format!("{o}{p}");
    let s = crate::stages::Stages::new(&format!(
        "[monitor]\ntimeout = \"5s\"\n{}",
        site_config(&[
            (u("/sitemap-index.xml"), "sitemap"),
            (u("/to-inner"), "feed"),
            (u("/to-metadata"), "feed"),
            (u("/moved"), "auto"),
            (u("/discover"), "auto"),
        ])
    ));

    let out = monitor(&s).await;

    assert!(
        inner
            .received_requests()
            .await
            .expect("recorded")
            .is_empty(),
        "nothing found in remote content reached the inner service"
    );

    // Redirects off the configured origin to private addresses: refused.
    let e = source(&s, &u("/to-inner")).last_error.unwrap_or_default();
    assert!(
        e.contains("refused to fetch 127.0.0.1") && e.contains("a loopback address"),
        "{e}"
    );
    let e = source(&s, &u("/to-metadata"))
        .last_error
        .unwrap_or_default();
    assert!(e.contains("169.254.169.254, a link-local address"), "{e}");
    // A feed link on a page pointing inside: refused.
    let e = source(&s, &u("/discover")).last_error.unwrap_or_default();
    assert!(e.contains("refused to fetch 127.0.0.1"), "{e}");
    // A redirect within the configured origin is followed.
    assert_eq!(source(&s, &u("/moved")).last_error, None);

    // The sitemap index: the same-origin child and page were read; the
    // private children were not, and the index as a whole succeeded.
    let index = source(&s, &u("/sitemap-index.xml"));
    assert_eq!(index.last_error, None, "{out:?}");
    let outer_requests = outer.received_requests().await.expect("recorded");
    let paths: Vec<&str> = outer_requests.iter().map(|r| r.url.path()).collect();
    assert!(paths.contains(&"/sitemap-posts.xml"), "{paths:?}");
    assert!(paths.contains(&"/posts/wordpress-hardening"), "{paths:?}");
    let items = s.store.list_source_items("blog", None, 100).expect("items");
    let by_url = |needle: &str| {
        items
            .iter()
            .find(|i| i.url.as_deref().is_some_and(|u| u.contains(needle)))
    };
    assert_eq!(
        by_url("/posts/wordpress-hardening").map(|i| i.title.as_str()),
        Some("WordPress hardening in ten minutes")
    );
    // Entries pointing inside are recorded as URLs (titles from the path)
    // but never fetched.
    assert_eq!(
        by_url("/admin/secret-report").map(|i| i.title.as_str()),
        Some("secret report")
    );
    assert_eq!(
        by_url("/admin/secret-report").map(|i| i.summary.as_str()),
        Some("")
    );
    assert!(
        items
            .iter()
            .any(|i| i.title == "Redirected but same origin")
    );
}

/// A configured source's host name is judged after resolution like any
/// other: `competitor.localhost` (which resolves to loopback, RFC 6761) as
/// a "remote" source is refused and the reason stored on the source; the
/// same machine is reached when the source says `allow_private = true`, or
/// when the operator wrote the IP address itself (as before).
#[tokio::test]
async fn a_configured_host_name_resolving_to_loopback_is_refused_unless_the_source_allows_private()
{
    let server = MockServer::start().await;
    for p in ["/competitor.xml", "/allowed.xml", "/literal.xml"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(xml(rss(&[(p, &format!("Item of {p}"))])))
            .mount(&server)
            .await;
    }
    let port = server.address().port();
    let competitor = format!("http://competitor.localhost:{port}/competitor.xml");
    let allowed = format!("http://intranet.localhost:{port}/allowed.xml");
    let literal = format!("http://127.0.0.1:{port}/literal.xml");
    let s = crate::stages::Stages::new(&format!(
        "[monitor]\ntimeout = \"5s\"\n[sites.blog]\npublisher = \"outbox\"\n\
         [[sites.blog.sources]]\nurl = \"{competitor}\"\nkind = \"feed\"\n\
         [[sites.blog.sources]]\nurl = \"{allowed}\"\nkind = \"feed\"\nallow_private = true\n\
         [[sites.blog.sources]]\nurl = \"{literal}\"\nkind = \"feed\"\n"
    ));

    monitor(&s).await;

    let asked: Vec<String> = server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert!(
        !asked.iter().any(|p| p == "/competitor.xml"),
        "the refused source never reached the server: {asked:?}"
    );
    let e = source(&s, &competitor).last_error.unwrap_or_default();
    assert!(
        e.contains("refused to fetch competitor.localhost")
            && e.contains("a loopback address")
            && e.contains("set allow_private = true on it"),
        "the reason is stored on the source: {e}"
    );
    assert_eq!(
        source(&s, &allowed).last_error,
        None,
        "allow_private = true"
    );
    assert_eq!(source(&s, &literal).last_error, None, "an IP literal");
    let items = s.store.list_source_items("blog", None, 100).expect("items");
    let titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    assert!(titles.contains(&"Item of /allowed.xml"), "{titles:?}");
    assert!(titles.contains(&"Item of /literal.xml"), "{titles:?}");
    assert!(!titles.contains(&"Item of /competitor.xml"), "{titles:?}");
}
