//! HTML pages (readability, canonical and feed links, dates) and HTML
//! fragments (feed summaries) reduced to text: never a panic.
#![no_main]

use blog_poster::feeds::charset::decode_html;
use blog_poster::feeds::page::{html_to_text, parse_page};
use blog_poster_fuzz::{base, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = split(data);
    let html = decode_html(body, headers.content_type);
    let url = base();
    let page = parse_page(&html, &url);
    for link in page.feed_links.iter().chain(page.canonical.as_ref()) {
        assert!(link.has_host(), "link without a host: {link}");
    }
    if let Ok(item) = page.into_item(&url) {
        assert!(!item.title.is_empty(), "an item needs a title");
    }
    let _ = html_to_text(&html);
});
