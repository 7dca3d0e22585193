//! From a parsed entry to a stored item: the canonical link, the dedup key
//! (an entry's GUID within its source, else its canonical link, else its
//! title and date — whichever first tells it apart from the feed's other
//! entries) and the size limits of what is stored.

use std::collections::HashMap;

use reqwest::Url;
use sha2::{Digest, Sha256};

use super::{ParsedItem, truncate};
use crate::store::NewSourceItem;

/// Stored titles and texts are cut to these many characters.
pub const MAX_TITLE_CHARS: usize = 300;
pub const MAX_TEXT_CHARS: usize = 4000;

/// Query parameters that only track clicks: dropped from canonical links.
fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_")
        || matches!(
            n.as_str(),
            "fbclid" | "gclid" | "mc_cid" | "mc_eid" | "ref_src"
        )
}

/// The form of a link used for dedup: no fragment, no tracking parameters,
/// lower-case scheme and host, no default port (the URL parser does those).
pub fn canonical_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    if u.query().is_some() {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    u.to_string()
}

fn sha256_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// The dedup key of an entry seen alone; see [`feed_keys`].
pub fn key_hash(source_url: &str, item: &ParsedItem) -> String {
    feed_keys(source_url, std::slice::from_ref(item))
        .pop()
        .unwrap_or_default()
}

/// The dedup keys of a feed's entries, in order. An entry is keyed by its
/// GUID (scoped to the source: many GUIDs are plain numbers), else its
/// canonical link (global: one page seen through two sources is one item),
/// else its title and date — each only when that value is unique among the
/// feed's entries. A generator that writes one GUID into every item, or
/// links every item to the home page, would otherwise collapse distinct
/// items into one. Entries alike in every field are one item.
pub fn feed_keys(source_url: &str, items: &[ParsedItem]) -> Vec<String> {
    let guid = |i: &ParsedItem| {
        i.guid
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
    };
    let url = |i: &ParsedItem| {
        i.url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .map(|u| canonical_url(&u))
    };
    let published = |i: &ParsedItem| {
        i.published
            .map(|p| p.timestamp().to_string())
            .unwrap_or_default()
    };
    let title_date = |i: &ParsedItem| {
        let t = i.title.trim();
        (!t.is_empty()).then(|| format!("{t}\0{}", published(i)))
    };
    fn counts(values: impl Iterator<Item = Option<String>>) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for v in values.flatten() {
            *m.entry(v).or_insert(0) += 1;
        }
        m
    }
    let guids = counts(items.iter().map(guid));
    let urls = counts(items.iter().map(url));
    let titles = counts(items.iter().map(title_date));
    let unique = |m: &HashMap<String, usize>, v: &Option<String>| {
        v.as_ref().is_some_and(|v| m.get(v) == Some(&1))
    };
    items
        .iter()
        .map(|i| {
            let (g, u, t) = (guid(i), url(i), title_date(i));
            if unique(&guids, &g) {
                sha256_hex(&["guid", source_url, g.as_deref().unwrap_or_default()])
            } else if unique(&urls, &u) {
                sha256_hex(&["url", u.as_deref().unwrap_or_default()])
            } else if unique(&titles, &t) {
                sha256_hex(&["title", source_url, i.title.trim(), &published(i)])
            } else {
                sha256_hex(&[
                    "item",
                    source_url,
                    g.as_deref().unwrap_or_default(),
                    u.as_deref().unwrap_or_default(),
                    i.title.trim(),
                    &published(i),
                    i.text.trim(),
                ])
            }
        })
        .collect()
}

/// The item as the store takes it, keyed as if alone in its feed.
pub fn to_new_item(source_url: &str, item: &ParsedItem) -> NewSourceItem {
    new_item(source_url, item, key_hash(source_url, item))
}

/// A feed's items as the store takes them, keyed by [`feed_keys`].
pub fn to_new_items(source_url: &str, items: &[ParsedItem]) -> Vec<NewSourceItem> {
    items
        .iter()
        .zip(feed_keys(source_url, items))
        .map(|(item, key)| new_item(source_url, item, key))
        .collect()
}

fn new_item(source_url: &str, item: &ParsedItem, key_hash: String) -> NewSourceItem {
    NewSourceItem {
        source_url: source_url.to_string(),
        key_hash,
        guid: item.guid.as_deref().map(|g| truncate(g.trim(), 500)),
        url: item.url.clone(),
        title: truncate(item.title.trim(), MAX_TITLE_CHARS),
        summary: truncate(item.text.trim(), MAX_TEXT_CHARS),
        published_at: item.published,
    }
}

/// A readable title from a URL's last path segment:
/// `/blog/self-hosting-wordpress.html` → "self hosting wordpress".
pub fn title_from_url(url: &Url) -> String {
    let segment = url
        .path_segments()
        .and_then(|mut s| s.rfind(|p| !p.is_empty()))
        .unwrap_or("");
    let decoded = percent_decode(segment);
    let stem = match decoded.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && ext.len() <= 5
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem.to_string()
        }
        _ => decoded,
    };
    let words: Vec<&str> = stem
        .split(|c: char| c == '-' || c == '_' || c == '+' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        url.host_str().unwrap_or_default().to_string()
    } else {
        words.join(" ")
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(guid: Option<&str>, url: Option<&str>) -> ParsedItem {
        ParsedItem {
            guid: guid.map(str::to_string),
            url: url.map(str::to_string),
            title: "T".into(),
            text: String::new(),
            published: None,
        }
    }

    #[test]
    fn canonical_links_drop_fragments_and_tracking() {
        let u =
            Url::parse("HTTPS://Example.COM:443/a/b?utm_source=x&id=3&fbclid=y#top").expect("url");
        assert_eq!(canonical_url(&u), "https://example.com/a/b?id=3");
        let u = Url::parse("http://example.com/a?utm_medium=rss").expect("url");
        assert_eq!(canonical_url(&u), "http://example.com/a");
    }

    #[test]
    fn guids_are_scoped_to_their_source_and_links_are_global() {
        let a = key_hash("https://a.example/feed", &item(Some("42"), None));
        let b = key_hash("https://b.example/feed", &item(Some("42"), None));
        assert_ne!(a, b, "guid 42 of two feeds are two items");
        let x = key_hash(
            "https://a.example/feed",
            &item(None, Some("https://n.example/p?utm_source=a")),
        );
        let y = key_hash(
            "https://b.example/sitemap.xml",
            &item(None, Some("https://n.example/p#c")),
        );
        assert_eq!(x, y, "one link seen through two sources is one item");
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn keys_do_not_collapse_distinct_items() {
        let src = "https://a.example/feed";
        let mut shared_link = vec![
            item(None, Some("https://status.example/")),
            item(None, Some("https://status.example/")),
        ];
        shared_link[1].title = "Other".into();
        let keys = feed_keys(src, &shared_link);
        assert_ne!(keys[0], keys[1], "one link, two titles: two items");
        let mut shared_guid = vec![
            item(Some("https://x.example/"), Some("https://x.example/1")),
            item(Some("https://x.example/"), Some("https://x.example/2")),
        ];
        let keys = feed_keys(src, &shared_guid);
        assert_ne!(keys[0], keys[1], "one guid, two links: two items");
        assert_eq!(
            keys[0],
            key_hash(src, &item(None, Some("https://x.example/1"))),
            "the link decides, as for an item without a guid"
        );
        shared_guid[1] = shared_guid[0].clone();
        let keys = feed_keys(src, &shared_guid);
        assert_eq!(keys[0], keys[1], "the same entry twice is one item");
        // A normal feed keeps the keys it always had.
        let normal = [
            item(Some("42"), None),
            item(None, Some("https://x.example/a")),
        ];
        assert_eq!(
            feed_keys(src, &normal),
            [key_hash(src, &normal[0]), key_hash(src, &normal[1])]
        );
    }

    #[test]
    fn titles_from_urls_are_readable() {
        let t = |u: &str| title_from_url(&Url::parse(u).expect("url"));
        assert_eq!(
            t("https://x.example/blog/self-hosting-wordpress.html"),
            "self hosting wordpress"
        );
        assert_eq!(t("https://x.example/posts/caf%C3%A9_guide/"), "café guide");
        assert_eq!(t("https://x.example/"), "x.example");
        assert_eq!(t("https://x.example/%zz"), "%zz");
    }

    #[test]
    fn stored_text_is_bounded() {
        let mut it = item(None, Some("https://x.example/a"));
        it.text = "word ".repeat(5000);
        let n = to_new_item("s", &it);
        assert!(n.summary.chars().count() <= MAX_TEXT_CHARS + 1);
    }
}
