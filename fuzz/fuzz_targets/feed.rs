//! RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed bodies, in any charset:
//! never a panic, and every item link is an absolute web link.
#![no_main]

use blog_poster::feeds::feed::parse_feed_bytes;
use blog_poster_fuzz::{assert_web_link, base, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = split(data);
    if let Ok(feed) = parse_feed_bytes(body, headers.content_type, &base()) {
        for item in &feed.items {
            if let Some(link) = &item.url {
                assert_web_link(link);
            }
        }
    }
});
