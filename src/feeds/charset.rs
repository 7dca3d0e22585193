//! Bytes to text with the right character set, decided before anything
//! looks at the markup (a UTF-16 body read as bytes has no `<rss` in it).
//! First the byte-order mark (UTF-8, UTF-16, UTF-32), then the shape of the
//! first four bytes (UTF-16/UTF-32 without a mark, as XML 1.0 Appendix F
//! describes; the bytes win over a declaration naming another byte order).
//! Then labels — XML: the declaration, then the HTTP charset; HTML (as
//! browsers do): the HTTP charset, then `<meta charset>`. A label is not
//! trusted blindly: a single-byte label (us-ascii, ISO-8859-1, …) on a body
//! that is valid UTF-8 with non-ASCII in it, a label the bytes cannot be
//! decoded with, or a UTF-16 label on 8-bit bytes, all mean UTF-8; bytes
//! that are not valid UTF-8 either are read as windows-1252, the most
//! common mislabel. Nothing here fails.

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

/// A Unicode encoding recognised from the bytes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unicode {
    Utf8,
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

/// The Unicode encoding the first bytes show, and the length of its
/// byte-order mark (0 when there is none): a BOM, or for a document that
/// starts with an ASCII character, the pattern of zero bytes around it.
pub fn unicode_signature(bytes: &[u8]) -> Option<(Unicode, usize)> {
    let ascii = |b: u8| b != 0 && b < 0x80;
    match bytes {
        [0xEF, 0xBB, 0xBF, ..] => Some((Unicode::Utf8, 3)),
        [0xFF, 0xFE, 0, 0, ..] => Some((Unicode::Utf32Le, 4)),
        [0, 0, 0xFE, 0xFF, ..] => Some((Unicode::Utf32Be, 4)),
        [0xFF, 0xFE, ..] => Some((Unicode::Utf16Le, 2)),
        [0xFE, 0xFF, ..] => Some((Unicode::Utf16Be, 2)),
        [0, 0, 0, c, ..] if ascii(*c) => Some((Unicode::Utf32Be, 0)),
        [c, 0, 0, 0, ..] if ascii(*c) => Some((Unicode::Utf32Le, 0)),
        [0, c, 0, d, ..] if ascii(*c) && ascii(*d) => Some((Unicode::Utf16Be, 0)),
        [c, 0, d, 0, ..] if ascii(*c) && ascii(*d) => Some((Unicode::Utf16Le, 0)),
        _ => None,
    }
}

fn decode_unicode(enc: Unicode, bytes: &[u8]) -> String {
    match enc {
        Unicode::Utf8 => decode_with(UTF_8, bytes),
        Unicode::Utf16Le => encoding_rs::UTF_16LE
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
        Unicode::Utf16Be => encoding_rs::UTF_16BE
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
        Unicode::Utf32Le | Unicode::Utf32Be => bytes
            .chunks(4)
            .map(|c| {
                let unit = match (enc, c) {
                    (Unicode::Utf32Le, [a, b, c, d]) => u32::from_le_bytes([*a, *b, *c, *d]),
                    (_, [a, b, c, d]) => u32::from_be_bytes([*a, *b, *c, *d]),
                    _ => 0xFFFD, // a truncated last unit
                };
                char::from_u32(unit).unwrap_or('\u{FFFD}')
            })
            .collect(),
    }
}

/// Decodes an XML document (feed or sitemap) to text.
pub fn decode_xml(bytes: &[u8], content_type: Option<&str>) -> String {
    if let Some((enc, bom_len)) = unicode_signature(bytes) {
        return decode_unicode(enc, &bytes[bom_len..]);
    }
    let label = xml_declared(bytes).or_else(|| content_type_charset(content_type));
    decode_labelled(bytes, label)
}

/// Decodes an HTML page to text.
pub fn decode_html(bytes: &[u8], content_type: Option<&str>) -> String {
    if let Some((enc, bom_len)) = unicode_signature(bytes) {
        return decode_unicode(enc, &bytes[bom_len..]);
    }
    let label = content_type_charset(content_type).or_else(|| html_meta(bytes));
    decode_labelled(bytes, label)
}

/// Decodes a body whose kind is not known yet: HTML rules when it looks
/// like HTML (no XML declaration, an `<html` or HTML doctype near the
/// start), XML rules otherwise (JSON is ASCII-compatible or Unicode, which
/// both handle).
pub fn decode_document(bytes: &[u8], content_type: Option<&str>) -> String {
    if unicode_signature(bytes).is_none() && looks_like_html(bytes) {
        decode_html(bytes, content_type)
    } else {
        decode_xml(bytes, content_type)
    }
}

fn looks_like_html(bytes: &[u8]) -> bool {
    let head = &bytes[skip_ascii_whitespace(bytes)..];
    if head.starts_with(b"<?xml") {
        return false;
    }
    let head: Vec<u8> = head[..head.len().min(1024)]
        .iter()
        .map(u8::to_ascii_lowercase)
        .collect();
    find(&head, b"<html").is_some() || find(&head, b"<!doctype html").is_some()
}

/// Decodes 8-bit bytes under a label, if any; see the module comment for
/// when a label is overruled.
fn decode_labelled(bytes: &[u8], label: Option<&'static Encoding>) -> String {
    let enc = match label {
        None => return decode_with(UTF_8, bytes),
        // UTF-16 named in ASCII bytes, which UTF-16 text cannot be.
        Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => UTF_8,
        Some(e) => e,
    };
    if enc == UTF_8 {
        return decode_with(UTF_8, bytes);
    }
    let valid_utf8 = || std::str::from_utf8(bytes).ok();
    if enc.is_single_byte()
        && !bytes.is_ascii()
        && let Some(text) = valid_utf8()
    {
        return text.to_string();
    }
    // encoding_rs reads "us-ascii" as windows-1252 (as browsers do); bytes
    // above 0x7F under that label are a mislabel, handled above when they
    // are UTF-8 and read as windows-1252 otherwise.
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    if had_errors {
        return decode_with(UTF_8, bytes);
    }
    text.into_owned()
}

/// Decodes with `enc`; bytes that claim UTF-8 but are not are read as
/// windows-1252.
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

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn utf16_and_utf32_without_a_bom_are_recognised_by_their_zero_bytes() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-16BE\"?><rss>é🚀</rss>";
        // Little-endian bytes whose declaration names big-endian: the bytes win.
        assert_eq!(decode_xml(&utf16(doc, false), None), doc);
        assert_eq!(
            decode_xml(&utf16(doc, true), Some("text/xml; charset=utf-8")),
            doc
        );
        let utf32: Vec<u8> = doc.chars().flat_map(|c| (c as u32).to_le_bytes()).collect();
        assert_eq!(unicode_signature(&utf32), Some((Unicode::Utf32Le, 0)));
        assert_eq!(decode_xml(&utf32, None), doc);
        let mut utf32be = vec![0, 0, 0xFE, 0xFF];
        utf32be.extend(doc.chars().flat_map(|c| (c as u32).to_be_bytes()));
        assert_eq!(decode_document(&utf32be, None), doc);
        // A truncated last unit is a replacement character, not a panic.
        assert_eq!(
            decode_xml(&utf32[..utf32.len() - 1], None).chars().last(),
            Some('\u{FFFD}')
        );
        assert_eq!(unicode_signature(b"<rss>"), None);
    }

    #[test]
    fn a_wrong_label_on_a_utf8_body_falls_back_to_utf8() {
        let body = "<rss><title>Café — 中文</title></rss>".as_bytes();
        for ct in [
            "text/xml; charset=us-ascii",
            "text/xml; charset=iso-8859-1",
            "text/xml; charset=utf-16",
            "text/xml; charset=shift_jis",
        ] {
            assert_eq!(
                decode_xml(body, Some(ct)),
                "<rss><title>Café — 中文</title></rss>",
                "{ct}"
            );
        }
        // A genuine legacy body keeps its label.
        assert!(
            decode_xml(b"<rss>caf\xe9</rss>", Some("text/xml; charset=us-ascii")).contains("café")
        );
        assert!(
            decode_xml(b"<rss>\xf0\xd2\xc9</rss>", Some("text/xml; charset=koi8-r"))
                .contains("При")
        );
    }

    #[test]
    fn invalid_utf8_without_a_label_falls_back_to_windows_1252() {
        assert_eq!(
            decode_html(b"<p>\x93quoted\x94</p>", None),
            "<p>\u{201c}quoted\u{201d}</p>"
        );
    }
}
