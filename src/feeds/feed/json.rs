//! JSON Feed 1.0 and 1.1 (jsonfeed.org), read field by field so one item
//! of the wrong shape (a string, a numeric `id`, a `url` that is a number)
//! costs that item or that field, never the feed.

use reqwest::Url;
use serde_json::Value;

use super::{ParsedFeed, finish, first_nonempty, html_text, link, plain_text};
use crate::feeds::ParseError;
use crate::feeds::dates::parse_feed_date;

pub(super) fn parse(text: &str, base: &Url) -> Result<ParsedFeed, ParseError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| ParseError::new("feed", format!("invalid JSON: {e}")))?;
    let version = doc.get("version").and_then(Value::as_str);
    let items = doc.get("items").and_then(Value::as_array);
    let (Some(items), true) = (
        items,
        version.is_none_or(|v| v.contains("jsonfeed.org/version/")),
    ) else {
        return Err(ParseError::new(
            "feed",
            match version {
                Some(v) => format!("JSON with version {v:?}, which is not a JSON Feed version"),
                None => {
                    "JSON without a JSON Feed \"items\" array (https://jsonfeed.org/version/1.1)"
                        .to_string()
                }
            },
        ));
    };
    let string = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let mut feed = ParsedFeed {
        title: Some(plain_text(&string(doc.get("title")))).filter(|t| !t.is_empty()),
        ..Default::default()
    };
    for item in items {
        let Some(obj) = item.as_object() else {
            feed.skipped += 1;
            continue;
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let url = [obj.get("url"), obj.get("external_url")]
            .into_iter()
            .find_map(|v| link(v?.as_str()?, base));
        let text = first_nonempty(&[
            &|| plain_text(&string(obj.get("summary"))),
            &|| html_text(&string(obj.get("content_html"))),
            &|| plain_text(&string(obj.get("content_text"))),
        ]);
        let published = [obj.get("date_published"), obj.get("date_modified")]
            .into_iter()
            .find_map(|v| parse_feed_date(v?.as_str()?));
        match finish(
            id,
            url,
            plain_text(&string(obj.get("title"))),
            text,
            published,
        ) {
            Some(parsed) => feed.items.push(parsed),
            None => feed.skipped += 1,
        }
    }
    Ok(feed)
}
