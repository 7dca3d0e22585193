//! Bytes to text with the right character set. XML: byte-order mark, then
//! the XML declaration, then the HTTP charset. HTML (as browsers do): BOM,
//! then the HTTP charset, then `<meta charset>`. Either way, bytes that
//! claim UTF-8 (or claim nothing) but are not valid UTF-8 are read as
//! windows-1252, the most common mislabel; nothing here fails.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

/// The `charset` parameter of a Content-Type header value.
pub fn content_type_charset(content_type: Option<&str>) -> Option<&'static Encoding> {
    let ct = content_type?;
    ct.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        Encoding::for_label(value.trim().trim_matches(['"', '\'']).as_bytes())
    })
}

/// The encoding named in an `<?xml … encoding="…"?>` declaration.
pub fn xml_declared(bytes: &[u8]) -> Option<&'static Encoding> {
    let start = skip_ascii_whitespace(bytes);
    let rest = &bytes[start..];
    if !rest.starts_with(b"<?xml") {
        return None;
    }
    let end = find(rest, b"?>")?;
    let decl = &rest[..end];
    let at = find(decl, b"encoding")?;
    let after = &decl[at + b"encoding".len()..];
    let eq = after.iter().position(|b| *b == b'=')?;
    let value = &after[eq + 1..];
    let q = value.iter().position(|b| *b == b'"' || *b == b'\'')?;
    let quote = value[q];
    let value = &value[q + 1..];
    let close = value.iter().position(|b| *b == quote)?;
    Encoding::for_label(&value[..close])
}

/// The encoding named by `<meta charset>` or `<meta http-equiv=Content-Type
/// content="…; charset=…">` in the first 4 KiB, as the HTML prescan does.
pub fn html_meta(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(4096)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"<meta") {
        let tag_start = from + at;
        let tag_end = lower[tag_start..]
            .iter()
            .position(|b| *b == b'>')
            .map_or(lower.len(), |e| tag_start + e);
        let tag = &lower[tag_start..tag_end];
        if let Some(c) = find(tag, b"charset") {
            let after = &tag[c + b"charset".len()..];
            let after = &after[skip_ascii_whitespace(after)..];
            if let Some(value) = after.strip_prefix(b"=") {
                let value = &value[skip_ascii_whitespace(value)..];
                let value: Vec<u8> = value
                    .iter()
                    .skip_while(|b| **b == b'"' || **b == b'\'')
                    .take_while(|b| !matches!(**b, b'"' | b'\'' | b';' | b' ' | b'/' | b'>'))
                    .copied()
                    .collect();
                if let Some(e) = Encoding::for_label(&value) {
                    // A page that says UTF-16 in ASCII bytes is not UTF-16.
                    return Some(
                        if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE {
                            UTF_8
                        } else {
                            e
                        },
                    );
                }
            }
        }
        from = tag_end.max(tag_start + 1);
        if from >= lower.len() {
            break;
        }
    }
    None
}

/// Decodes an XML document (feed or sitemap) to text.
pub fn decode_xml(bytes: &[u8], content_type: Option<&str>) -> String {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return decode_with(enc, &bytes[bom_len..]);
    }
    let enc = xml_declared(bytes)
        .or_else(|| content_type_charset(content_type))
        .unwrap_or(UTF_8);
    decode_with(enc, bytes)
}

/// Decodes an HTML page to text.
pub fn decode_html(bytes: &[u8], content_type: Option<&str>) -> String {
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return decode_with(enc, &bytes[bom_len..]);
    }
    let enc = content_type_charset(content_type)
        .or_else(|| html_meta(bytes))
        .unwrap_or(UTF_8);
    decode_with(enc, bytes)
}

fn decode_with(enc: &'static Encoding, bytes: &[u8]) -> String {
    if enc == UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            Err(_) => WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
        };
    }
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

/// Removes a leading `<?xml …?>` declaration: once the text is UTF-8, a
/// declaration naming another encoding would make a parser decode it twice.
pub fn strip_xml_declaration(text: &str) -> &str {
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if trimmed.starts_with("<?xml")
        && let Some(end) = trimmed.find("?>")
    {
        return &trimmed[end + 2..];
    }
    text
}

fn skip_ascii_whitespace(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len())
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_declaration_wins_over_a_missing_http_charset() {
        let bytes =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><title>caf\xe9</title></rss>";
        let text = decode_xml(bytes, Some("application/rss+xml"));
        assert!(text.contains("café"), "{text}");
        assert_eq!(
            strip_xml_declaration(&text),
            "<rss><title>café</title></rss>"
        );
    }

    #[test]
    fn http_charset_is_used_when_the_xml_says_nothing() {
        let bytes = b"<rss><title>caf\xe9</title></rss>";
        assert!(decode_xml(bytes, Some("text/xml; charset=\"iso-8859-1\"")).contains("café"));
    }

    #[test]
    fn bom_wins() {
        let mut bytes = vec![0xFF, 0xFE];
        for c in "<rss>é</rss>".encode_utf16() {
            bytes.extend_from_slice(&c.to_le_bytes());
        }
        assert_eq!(
            decode_xml(&bytes, Some("text/xml; charset=utf-8")),
            "<rss>é</rss>"
        );
    }

    #[test]
    fn html_meta_charset_forms_are_found() {
        let a = b"<html><head><meta charset=\"windows-1251\"></head><body>\xcf\xf0\xe8\xe2\xe5\xf2</body></html>";
        assert!(decode_html(a, Some("text/html")).contains("Привет"));
        let b = b"<html><head><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=ISO-8859-1\"></head><body>na\xefve</body></html>";
        assert!(decode_html(b, None).contains("naïve"));
        // HTTP wins over meta for HTML.
        let c = "<meta charset=\"iso-8859-1\"><p>é</p>".as_bytes();
        assert!(decode_html(c, Some("text/html; charset=utf-8")).contains("é"));
    }

    #[test]
    fn invalid_utf8_without_a_label_falls_back_to_windows_1252() {
        assert_eq!(
            decode_html(b"<p>\x93quoted\x94</p>", None),
            "<p>\u{201c}quoted\u{201d}</p>"
        );
    }
}
