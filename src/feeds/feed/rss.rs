//! RSS in all its versions: 0.91–0.94 and 2.0 (`<rss><channel><item>`,
//! with or without UserLand's namespace), 1.0 and 0.90 (`<rdf:RDF>` with
//! `<item>`s beside the channel). An item's link is its `<link>`, else an
//! `atom:link`, else a permalink `<guid>`, else its `rdf:about` — never a
//! `<comments>`, licence or enclosure URL. Titles fall back to `dc:title`,
//! texts to `content:encoded`, an XHTML `<body>`, `itunes:summary`.

use std::time::Duration;

use super::xml::{Element, Ns};
use super::{ParsedFeed, finish, first_nonempty, html_text, link, plain_text};
use crate::feeds::ParseError;
use crate::feeds::dates::parse_feed_date;

pub(super) fn parse(root: &Element) -> Result<ParsedFeed, ParseError> {
    let rss_ns = [Ns::None, Ns::Rss10, Ns::Rss090, Ns::UserLand, root.ns];
    let is_rss2 = root.local.eq_ignore_ascii_case("rss");
    let channel = root.child(&rss_ns, "channel");
    if is_rss2 && channel.is_none() {
        return Err(ParseError::new(
            "feed",
            "the <rss> element has no <channel>: RSS 0.91–2.0 items belong inside \
             <rss><channel>…</channel></rss>",
        ));
    }
    // RSS 2.0 puts items in the channel, RSS 1.0 and 0.90 beside it; both
    // places are read for either.
    let items = channel
        .into_iter()
        .flat_map(|c| c.children_named(&rss_ns, "item"))
        .chain(root.children_named(&rss_ns, "item"));
    let mut feed = ParsedFeed::default();
    for item in items {
        match read_item(item, &rss_ns) {
            Some(parsed) => feed.items.push(parsed),
            None => feed.skipped += 1,
        }
    }
    if let Some(c) = channel {
        feed.title = c
            .child(&rss_ns, "title")
            .or_else(|| c.child(&[Ns::Dc], "title"))
            .map(|t| plain_text(&t.text()))
            .filter(|t| !t.is_empty());
        feed.ttl = c
            .child(&rss_ns, "ttl")
            .and_then(|t| t.text().trim().parse::<u64>().ok())
            .map(|minutes| Duration::from_secs(minutes.saturating_mul(60)));
    }
    Ok(feed)
}

fn read_item(item: &Element, rss_ns: &[Ns]) -> Option<crate::feeds::ParsedItem> {
    let text_of = |namespaces: &[Ns], local: &str| {
        item.child(namespaces, local)
            .map(|e| e.text())
            .unwrap_or_default()
    };
    // HTML as the publisher meant it: escaped (or in CDATA) as RSS says, or
    // written as markup straight into the element.
    let html_of = |namespaces: &[Ns], local: &str| {
        item.child(namespaces, local)
            .map(|e| {
                if e.has_element_children() {
                    html_text(&e.inner_html())
                } else {
                    html_text(&e.text())
                }
            })
            .unwrap_or_default()
    };
    let guid_el = item.child(rss_ns, "guid");
    let guid = guid_el.map(|g| g.text().trim().to_string());
    let url = item
        .children_named(rss_ns, "link")
        .find_map(|l| {
            let href = l.text();
            let href = if href.trim().is_empty() {
                l.attr(Ns::None, "href").unwrap_or_default().to_string()
            } else {
                href
            };
            link(&href, &l.base)
        })
        .or_else(|| {
            item.children_named(&[Ns::Atom10], "link")
                .filter(|l| {
                    l.attr(Ns::None, "rel")
                        .is_none_or(|r| r.trim().eq_ignore_ascii_case("alternate"))
                })
                .find_map(|l| link(l.attr(Ns::None, "href")?, &l.base))
        })
        .or_else(|| {
            let g = guid_el?;
            let permalink = g
                .attr(Ns::None, "isPermaLink")
                .is_none_or(|p| !p.trim().eq_ignore_ascii_case("false"));
            let text = g.text();
            let text = text.trim();
            // A permalink guid is a URL by definition; anything else is an id.
            (permalink && (text.starts_with("http://") || text.starts_with("https://")))
                .then(|| link(text, &g.base))
                .flatten()
        })
        .or_else(|| link(item.attr(Ns::Rdf, "about")?, &item.base));
    let title = first_nonempty(&[
        &|| plain_text(&text_of(rss_ns, "title")),
        &|| plain_text(&text_of(&[Ns::Dc], "title")),
        &|| plain_text(&text_of(&[Ns::Itunes], "title")),
    ]);
    let xhtml_body = || {
        item.child(&[Ns::Xhtml], "body")
            .or_else(|| item.child(rss_ns, "body"))
            .map(|b| html_text(&b.inner_html()))
            .unwrap_or_default()
    };
    let text = first_nonempty(&[
        &|| html_of(rss_ns, "description"),
        &|| html_of(&[Ns::Content], "encoded"),
        &xhtml_body,
        &|| html_of(&[Ns::Itunes], "summary"),
        &|| html_of(&[Ns::Dc], "description"),
        &|| plain_text(&text_of(&[Ns::Itunes], "subtitle")),
    ]);
    let published = [
        (rss_ns, "pubDate"),
        (&[Ns::Dc][..], "date"),
        (&[Ns::DcTerms][..], "issued"),
        (&[Ns::DcTerms][..], "created"),
        (&[Ns::DcTerms][..], "modified"),
        (&[Ns::Atom10][..], "published"),
        (&[Ns::Atom10][..], "updated"),
    ]
    .into_iter()
    .find_map(|(ns, local)| parse_feed_date(&text_of(ns, local)));
    finish(guid, url, title, text, published)
}
