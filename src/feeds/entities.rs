//! Character and entity references the way feed readers resolve them:
//! the five XML entities, numeric references, and HTML's named entities
//! (`&eacute;`, `&nbsp;` — undeclared in XML, yet common in RSS, and
//! declared by the RSS 0.91 DTD). References to code points 128–159 and
//! raw C1 control characters are read as windows-1252 (`&#146;` is ’), as
//! browsers and feed readers do. Pure.

use std::borrow::Cow;

use encoding_rs::WINDOWS_1252;

/// The text an entity reference stands for: `name` is what sits between
/// `&` and `;` (`amp`, `#146`, `#x2019`, `eacute`). `None` for a name
/// neither XML nor HTML defines.
pub fn resolve(name: &str) -> Option<Cow<'static, str>> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        let c = code
            .map(c1_to_windows_1252)
            .filter(|c| *c != '\0')
            .unwrap_or('\u{FFFD}');
        return Some(Cow::Owned(c.to_string()));
    }
    let xml = match name {
        "amp" => Some("&"),
        "lt" => Some("<"),
        "gt" => Some(">"),
        "quot" => Some("\""),
        "apos" => Some("'"),
        _ => None,
    };
    if let Some(s) = xml {
        return Some(Cow::Borrowed(s));
    }
    // The table is keyed with the semicolon (and some legacy names without).
    let (first, second) = *markup5ever::data::NAMED_ENTITIES.get(format!("{name};").as_str())?;
    let mut out = String::new();
    out.extend(char::from_u32(first));
    if second != 0 {
        out.extend(char::from_u32(second));
    }
    Some(Cow::Owned(out))
}

/// A code point, with 128–159 read as the windows-1252 byte of that value.
fn c1_to_windows_1252(code: u32) -> char {
    if (0x80..=0x9F).contains(&code) {
        let byte = [code as u8];
        let (decoded, _) = WINDOWS_1252.decode_without_bom_handling(&byte);
        if let Some(c) = decoded.chars().next() {
            return c;
        }
    }
    char::from_u32(code).unwrap_or('\u{FFFD}')
}

/// Text with raw C1 control characters (U+0080–U+009F) replaced by their
/// windows-1252 readings; borrowed when there are none.
pub fn fix_c1(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| ('\u{80}'..='\u{9F}').contains(&c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if ('\u{80}'..='\u{9F}').contains(&c) {
                    c1_to_windows_1252(c as u32)
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// Resolves every `&name;` reference in `raw` that [`resolve`] knows;
/// others (and a bare `&`) stay as written.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('&') {
        return fix_c1(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .filter(|e| after[*e..].starts_with(';') && *e > 0 && *e <= 32);
        match end.and_then(|e| resolve(&after[..e]).map(|r| (e, r))) {
            Some((e, text)) => {
                out.push_str(&text);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(fix_c1(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_named_entities_resolve_like_a_browser() {
        assert_eq!(resolve("aacute").as_deref(), Some("á"));
        assert_eq!(resolve("nbsp").as_deref(), Some("\u{a0}"));
        assert_eq!(resolve("hellip").as_deref(), Some("…"));
        assert_eq!(resolve("amp").as_deref(), Some("&"));
        assert_eq!(resolve("bogus"), None);
    }

    #[test]
    fn references_to_128_159_are_windows_1252() {
        assert_eq!(resolve("#146").as_deref(), Some("’"));
        assert_eq!(resolve("#x93").as_deref(), Some("“"));
        assert_eq!(resolve("#128").as_deref(), Some("€"));
        assert_eq!(resolve("#8217").as_deref(), Some("’"));
        assert_eq!(resolve("#0").as_deref(), Some("\u{FFFD}"));
        assert_eq!(resolve("#xD800").as_deref(), Some("\u{FFFD}"));
        assert_eq!(resolve("#99999999999").as_deref(), Some("\u{FFFD}"));
        assert_eq!(fix_c1("It\u{92}s"), "It’s");
    }

    #[test]
    fn unescape_keeps_what_it_does_not_know() {
        assert_eq!(
            unescape("AT&T &eacute;t&eacute; &bogus; &#146; &"),
            "AT&T été &bogus; ’ &"
        );
        assert_eq!(unescape("plain"), "plain");
    }
}
