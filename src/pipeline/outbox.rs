//! The outbox publisher: an approved article becomes
//! `<outbox>/<site>/<id>-<slug>.md` (front matter + Markdown) and `.html`
//! (sanitized), written atomically. Writing the same article again gives
//! the same files, so a retried publish never leaves two copies. Also the
//! Markdown → safe HTML conversion every publisher uses.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::pipeline::stage::StageError;
use crate::store::ArticleRecord;

/// The publish stage moved to `pipeline::publish`; kept here for callers
/// that name it by its old path.
pub use super::publish::Publisher;

/// Writes `<id>-<slug>.md` and `.html` into `dir`; returns the HTML path.
pub fn write_article(dir: &Path, article: &ArticleRecord) -> Result<PathBuf, StageError> {
    crate::private_files::create_dir_all(dir).map_err(|e| {
        StageError::Retryable(format!(
            "cannot create outbox folder {}: {e}",
            dir.display()
        ))
    })?;
    let stem = format!("{:06}-{}", article.id.0, safe_slug(&article.content.slug));
    let md_path = dir.join(format!("{stem}.md"));
    let html_path = dir.join(format!("{stem}.html"));
    write_atomically(&md_path, render_markdown(article).as_bytes())?;
    write_atomically(&html_path, render_html(article).as_bytes())?;
    Ok(html_path)
}

/// A slug is untrusted (it came from an LLM): keep it to a file-name-safe form.
fn safe_slug(slug: &str) -> String {
    let s: String = slug
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let s: String = s.chars().take(80).collect();
    if s.is_empty() { "article".into() } else { s }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    let tmp = path.with_extension("tmp");
    let io =
        |e: std::io::Error| StageError::Retryable(format!("cannot write {}: {e}", path.display()));
    let mut f = crate::private_files::create_file(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    // The data, not the metadata: the rename below is what makes it visible.
    f.sync_data().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

fn json(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Front matter (YAML, values as JSON strings so any text is safe) + body.
pub fn render_markdown(a: &ArticleRecord) -> String {
    let c = &a.content;
    let tags: Vec<String> = c.tags.iter().map(|t| json(t)).collect();
    let mut out = String::from("---\n");
    out.push_str(&format!("title: {}\n", json(&c.title)));
    out.push_str(&format!("slug: {}\n", json(&c.slug)));
    out.push_str(&format!("description: {}\n", json(&c.meta_description)));
    out.push_str(&format!("focus_keyword: {}\n", json(&c.focus_keyword)));
    out.push_str(&format!("excerpt: {}\n", json(&c.excerpt)));
    out.push_str(&format!("tags: [{}]\n", tags.join(", ")));
    if let Some(cat) = &c.category {
        out.push_str(&format!("category: {}\n", json(cat)));
    }
    out.push_str(&format!("date: {}\n", a.created_at.to_rfc3339()));
    out.push_str(&format!("article_id: {}\n", a.id));
    out.push_str("---\n\n");
    out.push_str(&c.body_markdown);
    if !c.body_markdown.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Markdown → HTML, sanitized (no scripts, no event handlers), in a page
/// whose title and description are escaped.
pub fn render_html(a: &ArticleRecord) -> String {
    let c = &a.content;
    let body = markdown_to_safe_html(&c.body_markdown);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<meta name=\"description\" content=\"{}\">\n</head>\n<body>\n<article>\n<h1>{}</h1>\n{}</article>\n</body>\n</html>\n",
        escape(&c.title),
        escape(&c.meta_description),
        escape(&c.title),
        body
    )
}

/// Markdown to HTML with everything unsafe removed.
pub fn markdown_to_safe_html(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::clean(&html)
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::ArticleStatus;
    use crate::store::{ArticleId, NewArticle};

    fn article(title: &str, body: &str, slug: &str) -> ArticleRecord {
        ArticleRecord {
            id: ArticleId(7),
            site: "blog".into(),
            run_id: None,
            status: ArticleStatus::Approved,
            content: NewArticle {
                topic: "t".into(),
                title: title.into(),
                slug: slug.into(),
                meta_description: "desc \"quoted\"".into(),
                focus_keyword: "k".into(),
                excerpt: "e".into(),
                tags: vec!["a".into(), "b\"c".into()],
                category: Some("News".into()),
                body_markdown: body.into(),
            },
            check_score: Some(90),
            check_report: None,
            review_reason: None,
            published_url: None,
            created_at: chrono::Utc::now(),
            published_at: None,
            generation: None,
        }
    }

    #[test]
    fn html_is_sanitized_and_title_escaped() {
        let a = article(
            "<img src=x onerror=alert(1)>",
            "## Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))",
            "s",
        );
        let html = render_html(&a);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(html.contains("<h2>Hi</h2>"), "{html}");
    }

    #[test]
    fn front_matter_quotes_untrusted_values() {
        let md = render_markdown(&article("A \"title\"\nwith newline", "body", "s"));
        assert!(
            md.starts_with("---\ntitle: \"A \\\"title\\\"\\nwith newline\"\n"),
            "{md}"
        );
        assert!(md.contains("tags: [\"a\", \"b\\\"c\"]"), "{md}");
        assert!(md.ends_with("body\n"));
    }

    #[test]
    fn writing_twice_leaves_one_pair_of_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = article("T", "body", "../../etc/passwd");
        let p1 = write_article(dir.path(), &a).expect("write");
        let p2 = write_article(dir.path(), &a).expect("write again");
        assert_eq!(p1, p2);
        assert_eq!(
            p1.file_name().and_then(|n| n.to_str()),
            Some("000007-etc-passwd.html")
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
