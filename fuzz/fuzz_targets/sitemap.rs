//! sitemap.xml, sitemap indexes, text sitemaps and gzip-compressed ones:
//! never a panic, no inflation past the limit, every `loc` a web link.
#![no_main]

use blog_poster::feeds::sitemap::{ParsedSitemap, Sitemap, gunzip, is_gzip, parse_sitemap_bytes};
use blog_poster_fuzz::{assert_web_link, base, split};
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = split(data);
    let inflated;
    let body = if is_gzip(body) {
        match gunzip(body, LIMIT) {
            Ok(bytes) => {
                assert!(bytes.len() as u64 <= LIMIT);
                inflated = bytes;
                &inflated[..]
            }
            Err(_) => return,
        }
    } else {
        body
    };
    if let Ok(ParsedSitemap {
        sitemap: Sitemap::Urls(entries) | Sitemap::Index(entries),
        ..
    }) = parse_sitemap_bytes(body, headers.content_type, &base())
    {
        for e in &entries {
            assert_web_link(e.loc.as_str());
        }
    }
});
