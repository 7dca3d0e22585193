//! Reads the model's answer — front matter plus Markdown — into an article,
//! forgivingly: code fences around the answer, chatter before it, bold or
//! quoted keys, other names for the same key, YAML lists or comma lists,
//! a title given only as a `# heading`. What can be repaired is repaired
//! (and noted); what cannot (no body, no title) is a [`DraftProblem`] the
//! stage answers with one retry. Never panics, whatever the input.

use std::fmt;

use super::markdown::{Document, collapse_spaces, words};
use crate::store::NewArticle;

pub const TITLE_MAX: usize = 60;
pub const META_MAX: usize = 160;
const EXCERPT_MAX: usize = 300;
const SLUG_MAX: usize = 80;
const TAGS_MAX: usize = 10;
/// Fewer words than this is not an article.
pub const BODY_MIN_WORDS: usize = 80;

/// The answer as written, before repairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub title: Option<String>,
    pub slug: Option<String>,
    pub meta_description: Option<String>,
    pub focus_keyword: Option<String>,
    pub excerpt: Option<String>,
    pub tags: Vec<String>,
    pub category: Option<String>,
    pub body: String,
}

/// Why an answer cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftProblem {
    Empty,
    NoTitle,
    BodyTooShort { words: usize },
}

impl fmt::Display for DraftProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DraftProblem::Empty => write!(f, "the answer is empty"),
            DraftProblem::NoTitle => write!(
                f,
                "the answer has no title (no title: line in the front matter and no # heading)"
            ),
            DraftProblem::BodyTooShort { words } => write!(
                f,
                "the article body is missing or too short ({words} words, at least {BODY_MIN_WORDS} expected)"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Slug,
    Meta,
    Keyword,
    Excerpt,
    Tags,
    Category,
}

fn field(key: &str) -> Option<Field> {
    let k: String = key
        .trim()
        .trim_matches(|c: char| {
            c == '*' || c == '_' || c == '"' || c == '\'' || c == '`' || c == '-'
        })
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    Some(match k.as_str() {
        "title" | "seo_title" | "headline" => Field::Title,
        "slug" | "url_slug" | "permalink" => Field::Slug,
        "meta_description" | "metadescription" | "description" | "meta" | "seo_description" => {
            Field::Meta
        }
        "focus_keyword" | "focus_keyphrase" | "keyword" | "keyphrase" | "primary_keyword" => {
            Field::Keyword
        }
        "excerpt" | "summary" => Field::Excerpt,
        "tags" | "keywords" => Field::Tags,
        "category" | "categories" => Field::Category,
        _ => return None,
    })
}

fn is_fence(line: &str) -> bool {
    line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~")
}

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && t.chars().all(|c| c == '-')
}

/// Removes one code fence wrapped around the whole text.
fn unwrap_fence(text: &str) -> &str {
    let t = text.trim();
    let Some(first_nl) = t.find('\n') else {
        return t;
    };
    if !is_fence(&t[..first_nl]) {
        return t;
    }
    let inner = t[first_nl + 1..].trim_end();
    match inner.rfind('\n') {
        Some(i) if is_fence(&inner[i + 1..]) => &inner[..i],
        None if is_fence(inner) => "",
        // Never closed: everything after the opening line.
        _ => inner,
    }
}

fn is_meta_line(line: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(k, _)| field(k).is_some())
        || line.trim_start().starts_with("- ")
}

fn has_known_key(lines: &[&str]) -> bool {
    lines
        .iter()
        .any(|l| l.split_once(':').is_some_and(|(k, _)| field(k).is_some()))
}

fn unquote(v: &str) -> String {
    let t = v.trim();
    let stripped = ['"', '\'', '`', '“']
        .iter()
        .find_map(|q| {
            let close = if *q == '“' { '”' } else { *q };
            t.strip_prefix(*q).and_then(|r| r.strip_suffix(close))
        })
        .unwrap_or(t);
    let cleaned = stripped.replace("\\\"", "\"").replace("**", "");
    collapse_spaces(&cleaned)
}

fn list_values(v: &str) -> Vec<String> {
    let t = v.trim();
    if t.starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<String>>(t)
    {
        return items
            .into_iter()
            .map(|s| unquote(&s))
            .filter(|s| !s.is_empty())
            .collect();
    }
    t.trim_start_matches('[')
        .trim_end_matches(']')
        .split([',', ';'])
        .map(|s| unquote(s.trim_start_matches('#')))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses the model's answer.
pub fn parse_draft(answer: &str) -> Result<Draft, DraftProblem> {
    let normalized = answer
        .trim_start_matches('\u{feff}')
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    let text = unwrap_fence(&normalized);
    if text.trim().is_empty() {
        return Err(DraftProblem::Empty);
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut draft = Draft::default();

    // Front matter: the first "---" line within the first few lines, up to
    // the next one, if it holds known keys; else "key: value" lines at the
    // very top; else none.
    let fenced = lines.iter().take(8).position(|l| is_rule(l)).and_then(|o| {
        let close = lines
            .iter()
            .skip(o + 1)
            .position(|l| is_rule(l))
            .map(|rel| o + 1 + rel);
        let end = close.unwrap_or_else(|| {
            o + 1
                + lines[o + 1..]
                    .iter()
                    .take_while(|l| is_meta_line(l))
                    .count()
        });
        has_known_key(&lines[o + 1..end]).then_some(((o + 1, end), close.map_or(end, |c| c + 1)))
    });
    let (meta_range, body_start) = fenced.unwrap_or_else(|| {
        let n = lines.iter().take_while(|l| is_meta_line(l)).count();
        ((0, n), n)
    });
    let mut last: Option<Field> = None;
    let mut block_scalar = false;
    for raw in &lines[meta_range.0..meta_range.1] {
        let line = raw.trim_end();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
            && matches!(last, Some(Field::Tags | Field::Category))
        {
            match last {
                Some(Field::Tags) => draft.tags.extend(list_values(item)),
                _ => {
                    if draft.category.is_none() {
                        draft.category = Some(unquote(item)).filter(|c| !c.is_empty());
                    }
                }
            }
            continue;
        }
        if block_scalar && (raw.starts_with(' ') || raw.starts_with('\t')) {
            append(&mut draft, last, trimmed);
            continue;
        }
        block_scalar = false;
        let Some((key, value)) = trimmed.split_once(':') else {
            append(&mut draft, last, trimmed);
            continue;
        };
        let Some(f) = field(key) else {
            last = None;
            continue;
        };
        last = Some(f);
        let value = value.trim();
        if matches!(value, ">" | "|" | ">-" | "|-") {
            block_scalar = true;
            continue;
        }
        set(&mut draft, f, value);
    }

    let body = lines
        .get(body_start..)
        .map(|b| b.join("\n"))
        .unwrap_or_default();
    let mut body = unwrap_fence(&body).trim().to_string();
    // A fence opened before the front matter closes after the body.
    if body.lines().filter(|l| is_fence(l)).count() % 2 == 1
        && body.lines().last().is_some_and(is_fence)
    {
        let keep = body.lines().count().saturating_sub(1);
        body = body
            .lines()
            .take(keep)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string();
    }
    // A leading "# Title" is the title, not part of the body.
    if let Some(first) = body.lines().next()
        && let Some(h1) = first.trim().strip_prefix("# ")
    {
        if draft.title.is_none() {
            draft.title = Some(unquote(h1)).filter(|t| !t.is_empty());
        }
        body = body
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string();
    }
    let doc = Document::parse(&body);
    let count = words(&doc.body_text()).count();
    draft.body = body;
    if draft.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(DraftProblem::NoTitle);
    }
    if count < BODY_MIN_WORDS {
        return Err(DraftProblem::BodyTooShort { words: count });
    }
    Ok(draft)
}

fn set(draft: &mut Draft, f: Field, value: &str) {
    let one = || Some(unquote(value)).filter(|v| !v.is_empty());
    match f {
        Field::Title => draft.title = one(),
        Field::Slug => draft.slug = one(),
        Field::Meta => draft.meta_description = one(),
        Field::Keyword => draft.focus_keyword = one(),
        Field::Excerpt => draft.excerpt = one(),
        Field::Tags => draft.tags.extend(list_values(value)),
        Field::Category => draft.category = list_values(value).into_iter().next(),
    }
}

/// A continuation line of a multi-line value.
fn append(draft: &mut Draft, f: Option<Field>, text: &str) {
    let slot = match f {
        Some(Field::Meta) => &mut draft.meta_description,
        Some(Field::Excerpt) => &mut draft.excerpt,
        Some(Field::Title) => &mut draft.title,
        _ => return,
    };
    let joined = match slot.take() {
        Some(prev) => format!("{prev} {}", unquote(text)),
        None => unquote(text),
    };
    *slot = Some(joined).filter(|v| !v.is_empty());
}

/// Cuts `text` to at most `max` characters at a word boundary.
pub fn cut_at_word(text: &str, max: usize) -> String {
    let t = collapse_spaces(text);
    if t.chars().count() <= max {
        return t;
    }
    let head: String = t.chars().take(max + 1).collect();
    let cut = match head.rfind(' ') {
        Some(i) if i > 0 => &head[..i],
        _ => head
            .char_indices()
            .nth(max)
            .map_or(head.as_str(), |(i, _)| &head[..i]),
    };
    cut.trim_end_matches([',', ';', ':', '-', '–', '—', ' '])
        .to_string()
}

/// A URL slug: lowercase ASCII words joined by hyphens.
pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'ä' => 'a',
            'ö' => 'o',
            'ü' => 'u',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'á' | 'à' | 'â' => 'a',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' => 'o',
            'ú' | 'ù' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            'ß' => 's',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    let cut = cut_at_word(&trimmed.replace('-', " "), SLUG_MAX).replace(' ', "-");
    if cut.is_empty() {
        "article".into()
    } else {
        cut
    }
}

/// The draft as an article, with every repair noted.
pub fn finalize(draft: Draft, topic: &str) -> (NewArticle, Vec<String>) {
    let mut repairs = Vec::new();
    let doc = Document::parse(&draft.body);
    let first_para = doc.first_paragraph().unwrap_or("").to_string();

    let raw_title = collapse_spaces(&draft.title.unwrap_or_default().replace(['#', '*'], ""));
    let title = cut_at_word(&raw_title, TITLE_MAX);
    if title != raw_title {
        repairs.push(format!(
            "title cut from {} to {} characters",
            raw_title.chars().count(),
            title.chars().count()
        ));
    }
    let slug = slugify(draft.slug.as_deref().unwrap_or(&title));
    match &draft.slug {
        None => repairs.push("slug made from the title".into()),
        Some(s) if *s != slug => repairs.push(format!("slug \"{s}\" normalized to \"{slug}\"")),
        _ => {}
    }
    let meta_description = match draft.meta_description {
        Some(m) => {
            let cut = cut_at_word(&m, META_MAX);
            if cut != collapse_spaces(&m) {
                repairs.push(format!(
                    "meta description cut to {} characters",
                    cut.chars().count()
                ));
            }
            cut
        }
        None => {
            repairs.push("meta description written from the first paragraph".into());
            cut_at_word(&first_para, META_MAX)
        }
    };
    let focus_keyword = match draft.focus_keyword {
        Some(k) => k,
        None => {
            repairs.push("focus keyword set to the topic".into());
            collapse_spaces(topic)
        }
    };
    let excerpt = match draft.excerpt {
        Some(e) => cut_at_word(&e, EXCERPT_MAX),
        None => {
            repairs.push("excerpt taken from the first paragraph".into());
            cut_at_word(&first_para, EXCERPT_MAX)
        }
    };
    let mut tags: Vec<String> = Vec::new();
    for t in draft.tags {
        let t = cut_at_word(&t, 40);
        if !t.is_empty() && !tags.iter().any(|x| x.eq_ignore_ascii_case(&t)) {
            tags.push(t);
        }
    }
    if tags.len() > TAGS_MAX {
        repairs.push(format!("tags cut from {} to {TAGS_MAX}", tags.len()));
        tags.truncate(TAGS_MAX);
    }
    let category = draft
        .category
        .map(|c| cut_at_word(&c, 60))
        .filter(|c| !c.is_empty());
    let article = NewArticle {
        topic: collapse_spaces(topic),
        title,
        slug,
        meta_description,
        focus_keyword,
        excerpt,
        tags,
        category,
        body_markdown: draft.body,
    };
    (article, repairs)
}

#[cfg(test)]
#[path = "draft_tests.rs"]
mod tests;
