//! A feed document as a small tree: elements with their namespace (the
//! ones feeds use, recognised by URI — or by their usual prefix when a
//! publisher forgot to declare it), attributes, text and `xml:base`.
//! Entity references are resolved as feed readers do ([`entities`]);
//! XML declarations are ignored wherever they appear (the text is already
//! decoded). Malformed XML is an error; nesting deeper than
//! [`MAX_DEPTH`] is refused, so nothing downstream recurses unbounded.

use std::rc::Rc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use reqwest::Url;

use crate::feeds::entities;

/// Elements nested deeper than this make the document an error.
pub const MAX_DEPTH: usize = 256;

/// The namespaces feed parsing looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ns {
    /// No namespace.
    None,
    Atom10,
    Atom03,
    Rss10,
    Rss090,
    /// `http://backend.userland.com/rss2`: RSS 2.0 as UserLand published it.
    UserLand,
    Rdf,
    Dc,
    DcTerms,
    Content,
    Itunes,
    Xhtml,
    Xml,
    Other,
}

impl Ns {
    fn from_uri(uri: &str) -> Ns {
        let u = uri.trim().trim_end_matches(['/', '#']).to_ascii_lowercase();
        match u.as_str() {
            "http://www.w3.org/2005/atom" => Ns::Atom10,
            "http://purl.org/atom/ns" => Ns::Atom03,
            "http://purl.org/rss/1.0" => Ns::Rss10,
            "http://my.netscape.com/rdf/simple/0.9" => Ns::Rss090,
            "http://backend.userland.com/rss2" | "http://backend.userland.com/rss" => Ns::UserLand,
            "http://www.w3.org/1999/02/22-rdf-syntax-ns" => Ns::Rdf,
            "http://purl.org/dc/elements/1.1" => Ns::Dc,
            "http://purl.org/dc/terms" => Ns::DcTerms,
            "http://purl.org/rss/1.0/modules/content" => Ns::Content,
            "http://www.itunes.com/dtds/podcast-1.0.dtd" => Ns::Itunes,
            "http://www.w3.org/1999/xhtml" => Ns::Xhtml,
            "http://www.w3.org/xml/1998/namespace" => Ns::Xml,
            _ => Ns::Other,
        }
    }

    /// The namespace an undeclared prefix conventionally stands for.
    fn from_prefix(prefix: &str) -> Ns {
        match prefix {
            "dc" => Ns::Dc,
            "dcterms" => Ns::DcTerms,
            "content" => Ns::Content,
            "itunes" => Ns::Itunes,
            "atom" => Ns::Atom10,
            "rdf" => Ns::Rdf,
            "xhtml" => Ns::Xhtml,
            "xml" => Ns::Xml,
            _ => Ns::Other,
        }
    }

    fn from_resolved(r: &ResolveResult<'_>) -> Ns {
        match r {
            ResolveResult::Unbound => Ns::None,
            ResolveResult::Bound(ns) => Ns::from_uri(ns.0),
            ResolveResult::Unknown(prefix) => Ns::from_prefix(prefix),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub ns: Ns,
    pub local: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone)]
pub struct Element {
    pub ns: Ns,
    /// The local name as written.
    pub local: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
    /// The base URL in effect for this element (its `xml:base` resolved
    /// against its parent's, else its parent's); shared, not copied.
    pub base: Rc<Url>,
}

impl Element {
    /// The attribute `local` without a namespace (or, for `ns`, in it).
    pub fn attr(&self, ns: Ns, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.local.eq_ignore_ascii_case(local))
            .map(|a| a.value.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Child elements named `local` in one of `namespaces`.
    pub fn children_named<'a>(
        &'a self,
        namespaces: &'a [Ns],
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> {
        self.elements()
            .filter(move |e| namespaces.contains(&e.ns) && e.local.eq_ignore_ascii_case(local))
    }

    /// The first child named `local` in one of `namespaces`.
    pub fn child(&self, namespaces: &[Ns], local: &str) -> Option<&Element> {
        self.elements()
            .find(|e| namespaces.contains(&e.ns) && e.local.eq_ignore_ascii_case(local))
    }

    pub fn has_element_children(&self) -> bool {
        self.elements().next().is_some()
    }

    /// All text below this element, in document order.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut stack: Vec<std::slice::Iter<'_, Node>> = vec![self.children.iter()];
        while let Some(top) = stack.last_mut() {
            match top.next() {
                Some(Node::Text(t)) => out.push_str(t),
                Some(Node::Element(e)) => stack.push(e.children.iter()),
                None => {
                    stack.pop();
                }
            }
        }
        out
    }

    /// The children serialized as HTML (for inline XHTML content): tags by
    /// local name, text and attribute values escaped.
    pub fn inner_html(&self) -> String {
        let mut out = String::new();
        write_children(&self.children, &mut out);
        out
    }
}

fn write_children(children: &[Node], out: &mut String) {
    for node in children {
        match node {
            Node::Text(t) => escape_into(t, out),
            Node::Element(e) => {
                out.push('<');
                out.push_str(&e.local);
                for a in e.attrs.iter().filter(|a| a.ns == Ns::None) {
                    out.push(' ');
                    out.push_str(&a.local);
                    out.push_str("=\"");
                    escape_into(&a.value, out);
                    out.push('"');
                }
                out.push('>');
                write_children(&e.children, out);
                out.push_str("</");
                out.push_str(&e.local);
                out.push('>');
            }
        }
    }
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// Why a document is not a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

/// Parses `text` into its root element; `base` is the document's URL. A
/// document that is ill-formed only by bare `&`s (`AT&T`, `?a=1&b=2`, a
/// common slip that feed readers forgive) is read with them escaped.
pub fn parse(text: &str, base: &Url) -> Result<Element, XmlError> {
    // A document whose very last `>` (of the root's end tag) is missing:
    // everything is there, so it is read as if the `>` were.
    let fixed_end;
    let text = match unclosed_final_end_tag(text) {
        true => {
            fixed_end = format!("{}>", text.trim_end());
            fixed_end.as_str()
        }
        false => text,
    };
    match parse_strict(text, base) {
        Err(e) if e.0.contains("reference not closed") => match escape_bare_ampersands(text) {
            Some(fixed) => parse_strict(&fixed, base).map_err(|_| e),
            None => Err(e),
        },
        other => other,
    }
}

/// Whether the text ends in `</name` — an end tag lacking only its `>`.
fn unclosed_final_end_tag(text: &str) -> bool {
    let t = text.trim_end();
    match t.rfind("</") {
        Some(at) => {
            let name = &t[at + 2..];
            !name.is_empty()
                && name.starts_with(|c: char| c.is_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
        }
        None => false,
    }
}

/// `text` with every `&` that does not start a reference replaced by
/// `&amp;`, outside CDATA sections and comments; `None` if there is none.
fn escape_bare_ampersands(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = false;
    let mut rest = text;
    while let Some(i) = rest.find(['&', '<']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        for (open, close) in [("<![CDATA[", "]]>"), ("<!--", "-->")] {
            if rest.starts_with(open) {
                let end = rest.find(close).map_or(rest.len(), |e| e + close.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
        if let Some(after) = rest.strip_prefix('&') {
            if starts_reference(after) {
                out.push('&');
            } else {
                out.push_str("&amp;");
                changed = true;
            }
            rest = after;
        } else if let Some(after) = rest.strip_prefix('<') {
            out.push('<');
            rest = after;
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

fn starts_reference(after_amp: &str) -> bool {
    let Some(end) = after_amp.find(';').filter(|e| *e <= 32) else {
        return false;
    };
    let name = &after_amp[..end];
    match name.strip_prefix('#') {
        Some(num) => match num.strip_prefix(['x', 'X']) {
            Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
            None => !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()),
        },
        None => {
            name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric())
        }
    }
}

fn parse_strict(text: &str, base: &Url) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let document_base = Rc::new(base.clone());
    loop {
        let position = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| XmlError(format!("XML error at byte {position}: {e}")))?;
        let ns = Ns::from_resolved(&resolved);
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError(format!(
                        "XML error at byte {position}: content after the root element"
                    )));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError(format!(
                        "elements are nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                let parent_base = stack.last().map_or(&document_base, |p| &p.base);
                stack.push(element(&reader, &start, ns, parent_base));
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| {
                    XmlError(format!("XML error at byte {position}: stray end tag"))
                })?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()),
            Event::CData(t) => push_text(&mut stack, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                match entities::resolve(&name) {
                    Some(text) => push_text(&mut stack, &text),
                    None => push_text(&mut stack, &format!("&{name};")),
                }
            }
            Event::Eof => break,
            // Declarations, comments, processing instructions, doctypes.
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError(format!(
            "XML error: the document ends inside <{}> (truncated?)",
            open.local
        )));
    }
    root.ok_or_else(|| XmlError("no root element".into()))
}

fn push_text(stack: &mut [Element], text: &str) {
    let Some(el) = stack.last_mut() else {
        return; // text outside the root: whitespace, or junk a reader ignores
    };
    let text = entities::fix_c1(text);
    match el.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(&text),
        _ => el.children.push(Node::Text(text.into_owned())),
    }
}

fn element(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    ns: Ns,
    parent_base: &Rc<Url>,
) -> Element {
    let mut attrs = Vec::new();
    let mut base = Rc::clone(parent_base);
    for attr in start.attributes().with_checks(false).flatten() {
        let key = attr.key;
        let qname = key.as_ref();
        if qname == "xmlns" || qname.starts_with("xmlns:") {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(key);
        let attr_ns = match resolved {
            ResolveResult::Unbound => Ns::None,
            other => Ns::from_resolved(&other),
        };
        let value = entities::unescape(&attr.value).into_owned();
        if attr_ns == Ns::Xml
            && local.as_ref() == "base"
            && let Ok(joined) = parent_base.join(value.trim())
        {
            base = Rc::new(joined);
        }
        attrs.push(Attr {
            ns: attr_ns,
            local: local.as_ref().to_string(),
            value,
        });
    }
    Element {
        ns,
        local: start.local_name().as_ref().to_string(),
        attrs,
        children: Vec::new(),
        base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://x.example/feed").expect("url")
    }

    #[test]
    fn namespaces_entities_and_base_are_resolved() {
        let doc = r#"<?xml version="1.0" encoding="utf-16"?>
<rss xmlns:dc="http://purl.org/dc/elements/1.1/"><channel xml:base="/blog/">
<title>Caf&eacute; &#146;n&#x92; &amp; <![CDATA[<b>raw</b>]]></title><dc:creator>A</dc:creator>
<content:encoded>undeclared prefix</content:encoded><?xml version="1.0" encoding="UTF-16BE"?>
</channel></rss>"#;
        let root = parse(doc, &base()).expect("parse");
        assert_eq!(root.local, "rss");
        let channel = root.child(&[Ns::None], "channel").expect("channel");
        assert_eq!(channel.base.as_str(), "https://x.example/blog/");
        let title = channel.child(&[Ns::None], "title").expect("title");
        assert_eq!(title.text(), "Café ’n’ & <b>raw</b>");
        assert!(channel.child(&[Ns::Dc], "creator").is_some());
        assert!(channel.child(&[Ns::Content], "encoded").is_some());
    }

    #[test]
    fn malformed_truncated_and_deep_documents_are_errors() {
        let err = parse("<rss><channel></rss>", &base()).expect_err("mismatch");
        assert!(err.0.contains("XML error"), "{err:?}");
        let err = parse("<rss><channel><title>cut", &base()).expect_err("truncated");
        assert!(err.0.contains("ends inside <title>"), "{err:?}");
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        let err = parse(&deep, &base()).expect_err("deep");
        assert!(err.0.contains("nested deeper"), "{err:?}");
        assert!(parse("", &base()).is_err());
    }

    #[test]
    fn bare_ampersands_are_forgiven_outside_cdata() {
        let doc = "<rss><t>AT&T &amp; B&C &eacute; <![CDATA[x&y]]> <!-- a&b --></t><l>https://x.example/?a=1&b=2</l></rss>";
        let root = parse(doc, &base()).expect("parse");
        let texts: Vec<String> = root.elements().map(Element::text).collect();
        assert_eq!(texts, ["AT&T & B&C é x&y ", "https://x.example/?a=1&b=2"]);
        // The root's end tag without its `>`, as some files end.
        let root = parse("<rss><t>AT&T</t></rss", &base()).expect("last > missing");
        assert_eq!(root.text(), "AT&T");
        assert!(
            parse("<rss><t>cut</t", &base()).is_err(),
            "not the root's end tag"
        );
        // Still ill-formed for another reason: the first error is reported.
        let err = parse("<rss>AT&T</rs>", &base()).expect_err("mismatch");
        assert!(err.0.contains("XML error"), "{err:?}");
    }

    #[test]
    fn inline_xhtml_serializes_as_html() {
        let root = parse(
            r#"<content><div xmlns="http://www.w3.org/1999/xhtml"><p class="a&amp;b">x &lt; y</p></div></content>"#,
            &base(),
        )
        .expect("parse");
        assert_eq!(
            root.inner_html(),
            r#"<div><p class="a&amp;b">x &lt; y</p></div>"#
        );
    }
}
