//! Shared by the fuzz targets: the input convention and the fixed base URL.
//!
//! An input is a response body, optionally preceded by header lines the
//! way an HTTP response would carry them:
//!
//! ```text
//! Content-Type: application/rss+xml; charset=utf-16\r\n
//! Kind: feed\r\n
//! <body bytes>
//! ```
//!
//! Header lines are only read while the input starts with one of the known
//! names, so a plain feed, sitemap or page file (a corpus seed) is a body
//! with no headers. `Kind` is the source's configured kind (`auto`, `feed`,
//! `sitemap`, `page`).

/// Headers found in front of the body.
#[derive(Debug, Default, Clone, Copy)]
pub struct Headers<'a> {
    pub content_type: Option<&'a str>,
    pub kind: Option<&'a str>,
}

/// Splits `data` into its leading header lines and the body.
pub fn split(data: &[u8]) -> (Headers<'_>, &[u8]) {
    let mut headers = Headers::default();
    let mut rest = data;
    loop {
        let (slot, name_len) = if rest.starts_with(b"Content-Type:") {
            (&mut headers.content_type, "Content-Type:".len())
        } else if rest.starts_with(b"Kind:") {
            (&mut headers.kind, "Kind:".len())
        } else {
            return (headers, rest);
        };
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let line = &rest[name_len..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A header value that is not UTF-8 is not something reqwest hands
        // over as &str either: treat it as absent.
        *slot = std::str::from_utf8(line).ok().map(str::trim);
        rest = &rest[(end + 1).min(rest.len())..];
    }
}

/// Where every fuzzed document claims to come from.
pub fn base() -> url::Url {
    url::Url::parse("https://competitor.example/blog/feed.xml").expect("static URL")
}

/// Asserts what every parser promises about a link it returns: absolute,
/// http or https.
pub fn assert_web_link(link: &str) {
    let u = url::Url::parse(link).unwrap_or_else(|e| panic!("unparsable link {link:?}: {e}"));
    assert!(
        matches!(u.scheme(), "http" | "https"),
        "link with scheme {}: {link:?}",
        u.scheme()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_only_in_front() {
        let (h, body) = split(b"Content-Type: text/xml; charset=latin1\r\nKind: feed\n<rss/>");
        assert_eq!(h.content_type, Some("text/xml; charset=latin1"));
        assert_eq!(h.kind, Some("feed"));
        assert_eq!(body, b"<rss/>");
        let (h, body) = split(b"<rss/>\nContent-Type: x\n");
        assert!(h.content_type.is_none() && h.kind.is_none());
        assert_eq!(body, b"<rss/>\nContent-Type: x\n");
        let (h, body) = split(b"Kind: page");
        assert_eq!(h.kind, Some("page"));
        assert!(body.is_empty());
    }
}
