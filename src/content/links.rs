//! Link audits: every domain an article links to must be one of its
//! sources' or on the site's allow-list (subdomains included), else the
//! article is held for review; and every link must be well-formed.

use super::markdown::Document;

/// The lowercase host of an absolute http(s) URL, without "www.".
pub fn host_of(target: &str) -> Option<String> {
    let url = reqwest::Url::parse(target.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    Some(
        host.strip_prefix("www.")
            .map(str::to_string)
            .unwrap_or(host),
    )
}

/// Whether `host` is `domain` or one of its subdomains.
pub fn host_matches(host: &str, domain: &str) -> bool {
    let domain = domain.trim_start_matches("www.");
    host == domain || host.ends_with(&format!(".{domain}"))
}

/// Absolute URLs written as plain text (not as Markdown links).
fn bare_urls(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    for scheme in ["http://", "https://"] {
        let mut from = 0;
        while let Some(pos) = markdown[from..].find(scheme) {
            let start = from + pos;
            let end = markdown[start..]
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, ')' | ']' | '>' | '"' | '\'' | '<')
                })
                .map_or(markdown.len(), |e| start + e);
            out.push(
                markdown[start..end]
                    .trim_end_matches(['.', ',', ';', ':'])
                    .to_string(),
            );
            from = end.max(start + scheme.len());
        }
    }
    out
}

/// Hosts linked from the article (links, images, raw HTML, bare URLs).
pub fn linked_hosts(markdown: &str) -> Vec<String> {
    let doc = Document::parse(markdown);
    let mut hosts: Vec<String> = doc
        .links
        .iter()
        .map(|l| l.target.clone())
        .chain(bare_urls(markdown))
        .filter_map(|t| host_of(&t))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Linked hosts that match none of `allowed` (hosts or domains).
pub fn unknown_domains(markdown: &str, allowed: &[String]) -> Vec<String> {
    linked_hosts(markdown)
        .into_iter()
        .filter(|h| !allowed.iter().any(|d| host_matches(h, d)))
        .collect()
}

/// Link targets that are not usable links, with why.
pub fn malformed_links(doc: &Document) -> Vec<String> {
    let mut bad = Vec::new();
    for l in &doc.links {
        let t = l.target.trim();
        let lower = t.to_ascii_lowercase();
        let problem = if t.is_empty() {
            Some("empty link target")
        } else if lower.starts_with("javascript:")
            || lower.starts_with("data:")
            || lower.starts_with("vbscript:")
        {
            Some("script or data URL")
        } else if t.contains(char::is_whitespace) {
            Some("space in the URL")
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            match reqwest::Url::parse(t) {
                Ok(u)
                    if u.host_str()
                        .is_some_and(|h| h.contains('.') || h == "localhost") =>
                {
                    None
                }
                _ => Some("not a valid web address"),
            }
        } else if lower.starts_with("mailto:") || t.starts_with('/') || t.starts_with('#') {
            None
        } else if t.contains(':') {
            Some("unsupported URL scheme")
        } else {
            // A relative path: fine for the site itself.
            None
        };
        if let Some(p) = problem {
            bad.push(format!("{t:?}: {p}"));
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_subdomains_match() {
        assert_eq!(
            host_of("https://WWW.Example.com/a"),
            Some("example.com".into())
        );
        assert_eq!(host_of("mailto:x@y.z"), None);
        assert!(host_matches("en.wikipedia.org", "wikipedia.org"));
        assert!(!host_matches("evilwikipedia.org", "wikipedia.org"));
    }

    #[test]
    fn unknown_domains_come_from_links_images_html_and_bare_urls() {
        let md = "See [src](https://comp.example/post) and [wiki](https://en.wikipedia.org/wiki/X).\n\n\
                  Visit https://spam.example/buy. ![i](https://cdn.other.example/i.png)\n\n\
                  <a href=\"https://html.example/\">x</a>";
        let unknown = unknown_domains(md, &["comp.example".into(), "wikipedia.org".into()]);
        assert_eq!(
            unknown,
            vec!["cdn.other.example", "html.example", "spam.example"]
        );
    }

    #[test]
    fn malformed_links_are_named() {
        let doc = Document::parse(
            "[a](javascript:alert(1)) [b](<https://bad host/>) [c](https://ok.example/x) [d](/about) [e](ftp://x.example/f) [f](https://nodot)",
        );
        let bad = malformed_links(&doc);
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(bad[0].contains("script"), "{bad:?}");
    }
}
