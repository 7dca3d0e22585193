//! Reads Markdown the way the checks need it: blocks with their plain text
//! (headings with their level, paragraphs, list items), and every link
//! target. Built on pulldown-cmark, so it agrees with the HTML that gets
//! published.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Heading(u8),
    Paragraph,
    ListItem,
    /// Quotes, tables, code: counted as text but not as paragraphs.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub kind: BlockKind,
    pub text: String,
}

/// A link or image target as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRef {
    pub target: String,
    pub text: String,
    pub image: bool,
}

/// The document's blocks and links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub blocks: Vec<Block>,
    pub links: Vec<LinkRef>,
}

impl Document {
    pub fn parse(markdown: &str) -> Document {
        let parser = Parser::new_ext(
            markdown,
            Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
        );
        let mut doc = Document::default();
        let mut current: Option<(BlockKind, String)> = None;
        let mut depth_other = 0u32;
        let mut link: Option<(String, String, bool)> = None;
        for event in parser {
            match event {
                Event::Start(Tag::Heading { level, .. }) => {
                    current = Some((BlockKind::Heading(heading_level(level)), String::new()));
                }
                Event::Start(Tag::Paragraph) if current.is_none() => {
                    let kind = if depth_other > 0 {
                        BlockKind::Other
                    } else {
                        BlockKind::Paragraph
                    };
                    current = Some((kind, String::new()));
                }
                Event::Start(Tag::Item) => {
                    flush(&mut doc, &mut current);
                    current = Some((BlockKind::ListItem, String::new()));
                }
                Event::Start(Tag::BlockQuote(_) | Tag::CodeBlock(_) | Tag::Table(_)) => {
                    flush(&mut doc, &mut current);
                    depth_other += 1;
                    current = Some((BlockKind::Other, String::new()));
                }
                Event::End(TagEnd::BlockQuote(_) | TagEnd::CodeBlock | TagEnd::Table) => {
                    flush(&mut doc, &mut current);
                    depth_other = depth_other.saturating_sub(1);
                }
                Event::End(TagEnd::Heading(_) | TagEnd::Paragraph | TagEnd::Item)
                    if !matches!(current, Some((BlockKind::Other, _))) || depth_other == 0 =>
                {
                    flush(&mut doc, &mut current);
                }
                Event::Start(Tag::Link { dest_url, .. }) => {
                    link = Some((dest_url.to_string(), String::new(), false));
                }
                Event::Start(Tag::Image { dest_url, .. }) => {
                    link = Some((dest_url.to_string(), String::new(), true));
                }
                Event::End(TagEnd::Link | TagEnd::Image) => {
                    if let Some((target, text, image)) = link.take() {
                        doc.links.push(LinkRef {
                            target,
                            text,
                            image,
                        });
                    }
                }
                Event::Text(t) | Event::Code(t) => {
                    if let Some((_, text, _)) = link.as_mut() {
                        text.push_str(&t);
                    }
                    match current.as_mut() {
                        Some((_, buf)) => buf.push_str(&t),
                        None => current = Some((BlockKind::Other, t.to_string())),
                    }
                }
                Event::SoftBreak | Event::HardBreak => {
                    if let Some((_, buf)) = current.as_mut() {
                        buf.push(' ');
                    }
                }
                Event::Html(h) | Event::InlineHtml(h) => {
                    // Raw HTML is not text; links inside it still count.
                    for target in html_hrefs(&h) {
                        doc.links.push(LinkRef {
                            target,
                            text: String::new(),
                            image: false,
                        });
                    }
                }
                _ => {}
            }
        }
        flush(&mut doc, &mut current);
        doc
    }

    pub fn headings(&self) -> impl Iterator<Item = (u8, &str)> {
        self.blocks.iter().filter_map(|b| match b.kind {
            BlockKind::Heading(l) => Some((l, b.text.as_str())),
            _ => None,
        })
    }

    pub fn paragraphs(&self) -> impl Iterator<Item = &str> {
        self.blocks
            .iter()
            .filter(|b| b.kind == BlockKind::Paragraph)
            .map(|b| b.text.as_str())
    }

    /// All text except headings, for word counts and readability.
    pub fn body_text(&self) -> String {
        self.blocks
            .iter()
            .filter(|b| !matches!(b.kind, BlockKind::Heading(_)))
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn first_paragraph(&self) -> Option<&str> {
        self.paragraphs().find(|p| !p.trim().is_empty())
    }
}

fn flush(doc: &mut Document, current: &mut Option<(BlockKind, String)>) {
    if let Some((kind, text)) = current.take() {
        let text = collapse_spaces(&text);
        if !text.is_empty() {
            doc.blocks.push(Block { kind, text });
        }
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

pub fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `href="…"` and `src="…"` values in a piece of raw HTML.
fn html_hrefs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    for attr in ["href=", "src="] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(attr) {
            let start = from + pos + attr.len();
            let rest = &html[start..];
            let (quote, body) = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => (Some(q), &rest[1..]),
                _ => (None, rest),
            };
            let end = match quote {
                Some(q) => body.find(q),
                None => body.find(|c: char| c.is_whitespace() || c == '>'),
            }
            .unwrap_or(body.len());
            out.push(body[..end].to_string());
            from = start;
        }
    }
    out
}

/// Plain words of a text (letters and digits, apostrophes inside).
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '’'))
        .filter(|w| w.chars().any(char::is_alphanumeric))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_links_are_read() {
        let md = "Intro with [a link](https://a.example/x) and `code`.\n\n## Section one\n\nText *here*.\n\n- item one\n- item two\n\n### Sub\n\n> quoted [q](http://q.example)\n\n<a href=\"https://html.example/p\">raw</a>\n\n![img](https://img.example/i.png)\n";
        let doc = Document::parse(md);
        let headings: Vec<_> = doc.headings().collect();
        assert_eq!(headings, vec![(2, "Section one"), (3, "Sub")]);
        assert_eq!(doc.first_paragraph(), Some("Intro with a link and code."));
        // The inline <a> and the image sit in paragraphs of their own.
        assert_eq!(doc.paragraphs().count(), 4);
        let targets: Vec<&str> = doc.links.iter().map(|l| l.target.as_str()).collect();
        assert_eq!(
            targets,
            vec![
                "https://a.example/x",
                "http://q.example",
                "https://html.example/p",
                "https://img.example/i.png"
            ]
        );
        assert!(doc.body_text().contains("item two"));
        assert!(!doc.body_text().contains("Section one"));
    }

    #[test]
    fn words_skip_punctuation() {
        let w: Vec<_> = words("It's 2026 — rust's 'best' year!").collect();
        assert_eq!(w, vec!["It's", "2026", "rust's", "best", "year"]);
    }
}
