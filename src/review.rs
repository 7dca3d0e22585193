//! The review queue: articles the check stage held back wait here for a
//! person. List, show, approve (which queues publishing), reject (keeping
//! the reason) and publish again — one library for the CLI today and the
//! web API and TUI later. Every action is one store transaction that also
//! records who did it.

use crate::domain::lifecycle::{ArticleStatus, Timestamp};
use crate::store::{
    ArticleFilter, ArticleId, ArticleImage, ArticleRecord, JobRecord, PublishEntry, ReviewOutcome,
    Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The request itself is wrong (an empty reason, say).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything about one article an operator needs to decide.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArticleDetail {
    pub article: ArticleRecord,
    pub image: Option<ArticleImage>,
    /// Where its publication stands (none before the first attempt).
    pub ledger: Option<PublishEntry>,
    /// The jobs of its run, newest first.
    pub jobs: Vec<JobRecord>,
}

/// The longest rejection reason kept.
pub const MAX_REASON: usize = 2000;

pub fn list(store: &dyn Store, filter: &ArticleFilter) -> Result<Vec<ArticleRecord>, ReviewError> {
    Ok(store.list_articles(filter)?)
}

/// The articles waiting for a person, oldest first.
pub fn queue(store: &dyn Store, site: Option<&str>) -> Result<Vec<ArticleRecord>, ReviewError> {
    let mut waiting = store.list_articles(&ArticleFilter {
        site: site.map(str::to_string),
        status: Some(ArticleStatus::Review),
        limit: 1000,
        before: None,
    })?;
    waiting.reverse();
    Ok(waiting)
}

pub fn show(store: &dyn Store, id: ArticleId) -> Result<ArticleDetail, ReviewError> {
    let article = store.get_article(id)?;
    let jobs = match article.run_id {
        Some(run) => store.list_jobs(Some(run), None, 100)?,
        None => vec![],
    };
    Ok(ArticleDetail {
        image: store.article_image(id)?,
        ledger: store.publish_entry(id)?,
        jobs,
        article,
    })
}

/// Approves an article held for review (or rejected earlier) and queues
/// its publishing in the same transaction.
pub fn approve(
    store: &dyn Store,
    id: ArticleId,
    actor: &str,
    now: Timestamp,
) -> Result<ReviewOutcome, ReviewError> {
    Ok(store.approve_article(id, actor, now)?)
}

/// Rejects an article; the reason is kept with it and shown by `show`.
pub fn reject(
    store: &dyn Store,
    id: ArticleId,
    reason: &str,
    actor: &str,
    now: Timestamp,
) -> Result<ReviewOutcome, ReviewError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReviewError::Invalid(
            "a rejection needs a reason (--reason \"…\"): it is kept with the article".into(),
        ));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(ReviewError::Invalid(format!(
            "the reason is longer than {MAX_REASON} characters; shorten it"
        )));
    }
    Ok(store.reject_article(id, reason, actor, now)?)
}

/// Queues an approved article's publishing again (after fixing what made
/// its publish job fail, say).
pub fn publish(
    store: &dyn Store,
    id: ArticleId,
    actor: &str,
    now: Timestamp,
) -> Result<ReviewOutcome, ReviewError> {
    Ok(store.request_publish(id, actor, now)?)
}

/// Sets the article's featured image: a local PNG, JPEG, GIF or WebP file
/// (relative paths resolve from `base_dir`, the data folder), checked now,
/// or an http(s) URL, fetched when the article is published.
pub fn set_image(
    store: &dyn Store,
    id: ArticleId,
    image: &ArticleImage,
    base_dir: &std::path::Path,
    actor: &str,
    now: Timestamp,
) -> Result<(), ReviewError> {
    let source = image.source.trim();
    if source.is_empty() {
        return Err(ReviewError::Invalid("the image source is empty".into()));
    }
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        let path = base_dir.join(source);
        let mut head = [0u8; 16];
        let read = std::fs::File::open(&path).and_then(|mut f| {
            use std::io::Read;
            f.read(&mut head)
        });
        match read {
            Err(e) => {
                return Err(ReviewError::Invalid(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
            Ok(n) if crate::wordpress::sniff_image(&head[..n]).is_none() => {
                return Err(ReviewError::Invalid(format!(
                    "{} is not a PNG, JPEG, GIF or WebP image",
                    path.display()
                )));
            }
            Ok(_) => {}
        }
    }
    let article = store.get_article(id)?;
    let image = ArticleImage {
        source: source.to_string(),
        alt_text: image.alt_text.trim().to_string(),
    };
    store.set_article_image(id, &image, now)?;
    store.record_event(
        &crate::store::NewEvent {
            site: Some(article.site.clone()),
            run_id: article.run_id,
            job_id: None,
            kind: "article.image_set".into(),
            actor: actor.into(),
            message: format!(
                "article {id}: featured image {} set by {actor}",
                image.source
            ),
        },
        now,
    )?;
    Ok(())
}

/// Untrusted text (titles and reasons come from an LLM or a feed) made safe
/// for a terminal: no control characters, so no escape sequences.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// One line per article.
pub fn render_list(articles: &[ArticleRecord]) -> String {
    if articles.is_empty() {
        return "no articles\n".into();
    }
    let mut out = format!(
        "{:>6}  {:<10} {:<9} {:>5}  {}\n",
        "ID", "SITE", "STATUS", "SCORE", "TITLE"
    );
    for a in articles {
        out.push_str(&format!(
            "{:>6}  {:<10} {:<9} {:>5}  {}\n",
            a.id.0,
            printable(&a.site),
            a.status.as_str(),
            a.check_score.map_or("-".to_string(), |s| s.to_string()),
            printable(&a.content.title)
        ));
    }
    out
}

pub fn render_detail(d: &ArticleDetail) -> String {
    let a = &d.article;
    let c = &a.content;
    let mut out = format!("article {} · {} · {}\n", a.id, printable(&a.site), a.status);
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<13} {v}\n"));
    line("title", printable(&c.title));
    line("slug", printable(&c.slug));
    line("topic", printable(&c.topic));
    line("description", printable(&c.meta_description));
    line("keyword", printable(&c.focus_keyword));
    line(
        "category",
        c.category.as_deref().map_or("-".into(), printable),
    );
    line("tags", printable(&c.tags.join(", ")));
    line(
        "check score",
        a.check_score.map_or("-".into(), |s| s.to_string()),
    );
    if let Some(reason) = &a.review_reason {
        let label = if a.status == ArticleStatus::Rejected {
            "rejected"
        } else {
            "held because"
        };
        line(label, printable(reason));
    }
    if let Some(img) = &d.image {
        line(
            "image",
            format!(
                "{} (alt \"{}\")",
                printable(&img.source),
                printable(&img.alt_text)
            ),
        );
    }
    line(
        "created",
        a.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    if let Some(url) = &a.published_url {
        line("published", printable(url));
    }
    if let Some(l) = &d.ledger {
        line(
            "ledger",
            format!(
                "{} to {} (key {}, {} attempt(s){}{})",
                l.status.as_str(),
                l.target,
                l.idempotency_key,
                l.attempts,
                l.remote_id
                    .as_deref()
                    .map_or(String::new(), |r| format!(", post {r}")),
                l.last_error
                    .as_deref()
                    .map_or(String::new(), |e| format!(", last error: {}", printable(e)))
            ),
        );
    }
    for j in &d.jobs {
        line(
            &format!("job {}", j.id),
            format!(
                "{} {} ({}/{} attempts){}",
                j.stage,
                j.status,
                j.attempts,
                j.max_attempts,
                j.last_error
                    .as_deref()
                    .map_or(String::new(), |e| format!(": {}", printable(e)))
            ),
        );
    }
    out.push('\n');
    for l in c.body_markdown.lines().take(40) {
        out.push_str(&format!("  | {}\n", printable(l)));
    }
    if c.body_markdown.lines().count() > 40 {
        out.push_str("  | …\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_neutralised() {
        assert_eq!(printable("a\x1b[31mred\x07\nb"), "a [31mred  b");
    }
}
