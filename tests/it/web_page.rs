//! The status page in headless Chromium against a running `serve`: a feed
//! item titled `<img src=x onerror=alert(1)>` (from a fake feed on
//! loopback, stored by a real monitor run) shows as text, and no <img>
//! element exists. The DOM dump and a screenshot stay in the test's folder
//! (printed at the end; `--nocapture` to see the path).

use std::process::Command;

use crate::web_client::{
    create_token, feed_server, monitor_now, prepare_with_feed, request, rss, start,
};

const XSS: &str = "<img src=x onerror=alert(1)>";

fn chromium(args: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=8000",
        ])
        .args(args)
        .output()
        .expect("chromium is missing: install the Debian package chromium (scripts/test.sh does)")
}

#[test]
fn web_page_shows_hostile_titles_as_text_in_chromium() {
    let feed = feed_server(rss(&[
        (XSS, "https://rival.example/x"),
        ("A plain title", "https://rival.example/y"),
    ]));
    let (dir, config) = prepare_with_feed(feed, "public_status = true");
    let admin = create_token(dir.path(), &config, "admin", "ops");
    let served = start(dir, config);
    let addr = served.addr;
    monitor_now(addr, &admin);
    let items = request(addr, "GET", "/api/v1/source-items", None, None)
        .expect("items")
        .json();
    assert!(
        items["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["title"] == XSS),
        "the monitor did not store the hostile item: {items}"
    );

    let page = request(addr, "GET", "/", None, None).expect("page");
    let csp = page.header("Content-Security-Policy").expect("CSP");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(page.header("Referrer-Policy"), Some("no-referrer"));
    assert!(!page.body.contains("<script>") && page.body.contains("src=\"/assets/status.js\""));

    let url = format!("http://{addr}/");
    let dom = chromium(&["--dump-dom", &url]);
    let html = String::from_utf8_lossy(&dom.stdout).into_owned();
    let dir = served.dir.path();
    std::fs::write(dir.join("status-dom.html"), &html).expect("save dom");
    assert!(
        html.contains("A plain title"),
        "the page did not render the items (stderr: {}):\n{html}",
        String::from_utf8_lossy(&dom.stderr)
    );
    // The title is present as text: serialized with its markup escaped.
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(
        !html.to_lowercase().contains("<img"),
        "an <img> element exists:\n{html}"
    );

    let shot = dir.join("status.png");
    let out = chromium(&[
        "--window-size=412,1400",
        &format!("--screenshot={}", shot.display()),
        &url,
    ]);
    let meta = std::fs::metadata(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(meta.len() > 1000, "screenshot is {} bytes", meta.len());
    if let Ok(keep) = std::env::var("BLOG_POSTER_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
    println!("status page DOM and screenshot: {}", dir.display());
    drop(served);
}
