//! The monitor's entry point for one response: gzip, sniffing, then the
//! feed, sitemap or page parser for the source's configured kind.
#![no_main]

use blog_poster::config::SourceKind;
use blog_poster::feeds::source::parse_document;
use blog_poster_fuzz::{base, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = split(data);
    let kind = match headers.kind {
        Some("feed") => SourceKind::Feed,
        Some("sitemap") => SourceKind::Sitemap,
        Some("page") => SourceKind::Page,
        _ => SourceKind::Auto,
    };
    let _ = parse_document(body, headers.content_type, &base(), kind, 1 << 20);
});
