//! The publish stage: posts an approved article with its site's publisher —
//! the outbox or WordPress — exactly once.
//!
//! Exactly once on WordPress, whatever crashes or timeouts happen:
//! 1. a ledger row with the article's stable key is committed before any
//!    request that could create a post (and the site's rate limit checked);
//! 2. the key travels with the post, as an HTML comment in its content;
//! 3. before creating, WordPress is asked for the post — by slug in any
//!    status with context=edit, and after an earlier attempt (a retry, or a
//!    restart after a crash) also by searching for the key — and an
//!    existing post is updated instead;
//! 4. the ledger row is marked published in the same transaction as the
//!    stage's output, by the engine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::config::{PostStatus, PublisherConfig, WordpressConfig, units::format_duration};
use crate::domain::BoxFuture;
use crate::domain::lifecycle::{ArticleStatus, Timestamp, WaitKind};
use crate::pipeline::outbox::{markdown_to_safe_html, write_article};
use crate::pipeline::stage::{StageContext, StageError, StageRunner};
use crate::store::{
    ArticleId, ArticleImage, ArticleRecord, NewEvent, PublishBegin, PublishEntry, PublishIntent,
    PublishOutput, StageOutput,
};
use crate::wordpress::{
    PostFields, RemotePost, SeoPlan, Taxonomy, WpClient, WpError, load_image, seo_plan,
};

/// Publishes the run's article with the site's publisher. Keeps one
/// WordPress client per site (discovery and connections are reused).
#[derive(Default)]
pub struct Publisher {
    clients: Mutex<HashMap<String, Arc<WpClient>>>,
}

impl Publisher {
    pub fn new() -> Publisher {
        Publisher::default()
    }

    /// The site's client, made on first use. A changed config (new password,
    /// say) gets a new client.
    pub fn client(&self, site: &str, cfg: &WordpressConfig) -> Result<Arc<WpClient>, WpError> {
        let key = client_key(site, cfg);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = Arc::new(WpClient::new(site, cfg)?);
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Forgets the site's client, so the next attempt discovers the API
    /// again (after the site moved, or changed its permalinks).
    fn forget(&self, site: &str, cfg: &WordpressConfig) {
        let key = client_key(site, cfg);
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }
}

fn client_key(site: &str, cfg: &WordpressConfig) -> String {
    // Only a cache key: a password that cannot be read fails in `WpClient::new`.
    let password = cfg.app_password.expose().unwrap_or_default();
    let secret = hex::encode(Sha256::digest(password.as_bytes()));
    format!(
        "{site}\n{}\n{}\n{}\n{}",
        cfg.url,
        cfg.username,
        &secret[..16],
        cfg.request_timeout.as_millis()
    )
}

impl StageRunner for Publisher {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(async move {
            let run = ctx.job.run_id;
            let article = ctx
                .db(move |s| s.article_for_run(run))
                .await?
                .ok_or_else(|| {
                    StageError::Permanent(format!("run {run} has no article to publish"))
                })?;
            if article.status != ArticleStatus::Approved {
                return Err(StageError::Permanent(format!(
                    "article {} is {}, not approved: approve it first (`blog-poster article approve {}`)",
                    article.id, article.status, article.id
                )));
            }
            match &ctx.site.publisher {
                PublisherConfig::Outbox => publish_outbox(ctx, article).await,
                PublisherConfig::Wordpress(cfg) => {
                    let result = self.publish_wordpress(ctx, cfg, &article).await;
                    if let Err(e) = &result
                        && !matches!(e, StageError::Deferred { .. })
                    {
                        let (id, text, now) = (article.id, e.to_string(), ctx.now());
                        if let Err(store) = ctx
                            .db(move |s| s.record_publish_error(id, &text, now))
                            .await
                        {
                            tracing::warn!(article = %article.id, error = %store, "could not keep the publish error on the ledger");
                        }
                    }
                    result
                }
            }
        })
    }
}

/// The key that travels with the post: stable for the article, unique
/// across sites and databases in practice.
pub fn publish_key(site: &str, article: ArticleId, created_at: Timestamp) -> String {
    let digest = Sha256::digest(
        format!("{site}\n{}\n{}", article.0, created_at.timestamp_millis()).as_bytes(),
    );
    format!("bp{}", &hex::encode(digest)[..16])
}

/// The comment that carries the key inside the post's content.
pub fn key_marker(key: &str) -> String {
    format!("<!-- blog-poster:{key} -->")
}

/// A slug WordPress will keep: lowercase letters and digits (any script)
/// joined by hyphens, at most 180 characters; the title's when the
/// article's is empty.
pub fn wp_slug(slug: &str, title: &str) -> String {
    let clean = |s: &str| {
        let s: String = s
            .chars()
            .flat_map(char::to_lowercase)
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .collect();
        let s = s
            .split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        s.chars().take(180).collect::<String>()
    };
    let s = clean(slug);
    if s.is_empty() {
        let t = clean(title);
        if t.is_empty() { "post".into() } else { t }
    } else {
        s
    }
}

/// Plain text for a field WordPress treats as HTML (title, excerpt): no
/// markup survives.
fn as_text(s: &str) -> String {
    s.replace('<', "&lt;").replace('>', "&gt;")
}

async fn publish_outbox(
    ctx: &StageContext,
    article: ArticleRecord,
) -> Result<StageOutput, StageError> {
    let article_id = article.id;
    let intent = PublishIntent {
        article_id,
        target: "outbox".into(),
        idempotency_key: publish_key(&ctx.site.name, article.id, article.created_at),
        min_interval: std::time::Duration::ZERO,
    };
    let now = ctx.now();
    ctx.db(move |s| s.begin_publish(&intent, now)).await?;
    let dir = ctx.config.outbox.dir.join(&ctx.site.name);
    let path = tokio::task::spawn_blocking(move || write_article(&dir, &article))
        .await
        .map_err(|e| StageError::Retryable(format!("outbox task failed: {e}")))??;
    Ok(StageOutput::Publish(PublishOutput {
        article_id,
        target: "outbox".into(),
        remote_id: None,
        location: path.display().to_string(),
    }))
}

impl Publisher {
    async fn publish_wordpress(
        &self,
        ctx: &StageContext,
        cfg: &WordpressConfig,
        article: &ArticleRecord,
    ) -> Result<StageOutput, StageError> {
        let article_id = article.id;
        let intent = PublishIntent {
            article_id,
            target: "wordpress".into(),
            idempotency_key: publish_key(&ctx.site.name, article.id, article.created_at),
            min_interval: cfg.min_interval,
        };
        let now = ctx.now();
        let entry = match ctx.db(move |s| s.begin_publish(&intent, now)).await? {
            PublishBegin::Go(entry) => entry,
            PublishBegin::Wait { until } => {
                return Err(StageError::Deferred {
                    kind: WaitKind::Target,
                    reason: format!(
                        "site {} takes one post every {} (min_interval)",
                        ctx.site.name,
                        format_duration(cfg.min_interval)
                    ),
                    until,
                });
            }
        };
        let image = ctx.db(move |s| s.article_image(article_id)).await?;
        let client = self.client(&ctx.site.name, cfg).map_err(stage_error)?;
        let posted = post_article(
            &client,
            cfg,
            article,
            &entry,
            image.as_ref(),
            &ctx.config.data_dir,
            ctx.now(),
        )
        .await;
        let posted = match posted {
            Ok(p) => p,
            Err(e) => {
                if matches!(e, WpError::Blocked { .. } | WpError::InvalidResponse { .. }) {
                    self.forget(&ctx.site.name, cfg);
                }
                return Err(match e {
                    WpError::RateLimited {
                        retry_after: Some(after),
                        ..
                    } => StageError::Deferred {
                        kind: WaitKind::Target,
                        reason: format!("WordPress at {} asked us to slow down (429)", cfg.url),
                        until: ctx.now()
                            + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX),
                    },
                    e => stage_error(e),
                });
            }
        };
        tracing::info!(
            site = %ctx.site.name, article = %article_id, post = posted.post.id,
            status = %posted.post.status, created = posted.created, "posted to WordPress"
        );
        if let Some(note) = posted.seo.note.clone() {
            let event = NewEvent {
                site: Some(ctx.site.name.clone()),
                run_id: Some(ctx.job.run_id),
                job_id: Some(ctx.job.id),
                kind: "publish.note".into(),
                actor: "engine".into(),
                message: format!("article {article_id}: {note}"),
            };
            let now = ctx.now();
            ctx.db(move |s| s.record_event(&event, now)).await?;
        }
        Ok(StageOutput::Publish(PublishOutput {
            article_id,
            target: "wordpress".into(),
            remote_id: Some(posted.post.id.to_string()),
            location: posted.post.link.clone(),
        }))
    }
}

fn stage_error(e: WpError) -> StageError {
    if e.is_retryable() {
        StageError::Retryable(e.to_string())
    } else {
        StageError::Permanent(e.to_string())
    }
}

/// What [`post_article`] did.
#[derive(Debug, Clone)]
pub struct Posted {
    pub post: RemotePost,
    /// False when an existing post (from an earlier attempt) was updated.
    pub created: bool,
    pub seo: SeoPlan,
}

/// Finds the article's post if an earlier attempt made it. Only posts that
/// carry the key count: a post of someone else with the same slug does not.
pub async fn find_existing(
    client: &WpClient,
    entry: &PublishEntry,
    slug: &str,
) -> Result<Option<RemotePost>, WpError> {
    let marker = key_marker(&entry.idempotency_key);
    let ours = |p: &RemotePost| p.raw_content().contains(&marker);
    if let Some(id) = entry.remote_id.as_deref().and_then(|r| r.parse().ok())
        && let Some(p) = client.post(id).await?
        && ours(&p)
    {
        return Ok(Some(p));
    }
    let by_slug = client.posts_by_slug(slug).await?;
    if let Some(p) = by_slug.iter().find(|p| ours(p)) {
        return Ok(Some(p.clone()));
    }
    // Our post may carry another slug: WordPress renames a post whose slug
    // is taken, and people edit slugs. Search for the key after any earlier
    // attempt, or when the slug is someone else's.
    if entry.attempts > 1 || !by_slug.is_empty() {
        let found = client.posts_matching(&entry.idempotency_key).await?;
        return Ok(found.into_iter().find(ours));
    }
    Ok(None)
}

/// Creates the article's post, or updates the one an earlier attempt made.
pub async fn post_article(
    client: &WpClient,
    cfg: &WordpressConfig,
    article: &ArticleRecord,
    entry: &PublishEntry,
    image: Option<&ArticleImage>,
    data_dir: &std::path::Path,
    now: Timestamp,
) -> Result<Posted, WpError> {
    let c = &article.content;
    let slug = wp_slug(&c.slug, &c.title);
    client.login().await?;
    let existing = find_existing(client, entry, &slug).await?;
    if let Some(p) = existing.as_ref().filter(|p| p.status == "trash") {
        return Err(WpError::Rejected {
            url: p.link.clone(),
            status: 409,
            code: "in_trash".into(),
            message: format!(
                "post {} of article {} is in the WordPress trash; restore it (then `blog-poster article publish {}`), \
                 or delete it permanently to have a new one made",
                p.id, article.id, article.id
            ),
            term_id: None,
        });
    }

    let mut categories = Vec::new();
    if let Some(name) = c
        .category
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(cfg.default_category.as_deref())
    {
        categories.push(client.ensure_term(Taxonomy::Category, name).await?);
    }
    let mut tags = Vec::new();
    let mut seen = Vec::new();
    for tag in c.tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if seen.contains(&tag.to_lowercase()) {
            continue;
        }
        seen.push(tag.to_lowercase());
        let id = client.ensure_term(Taxonomy::Tag, tag).await?;
        if !tags.contains(&id) {
            tags.push(id);
        }
    }

    let featured_media = match (image, existing.as_ref()) {
        (None, _) => None,
        (Some(_), Some(p)) if p.featured_media != 0 => Some(p.featured_media),
        (Some(img), _) => {
            let media_slug = format!("{}-image", entry.idempotency_key);
            Some(match client.media_by_slug(&media_slug).await? {
                Some(id) => id,
                None => {
                    let file =
                        load_image(&img.source, data_dir, &slug, cfg.request_timeout * 4).await?;
                    client
                        .upload_media(&file, &media_slug, &img.alt_text, &as_text(&c.title))
                        .await?
                }
            })
        }
    };

    let seo = match client.seo_support().await {
        Ok(support) => seo_plan(cfg.seo_plugin, support, c),
        Err(e) if !e.is_retryable() => SeoPlan {
            note: Some(format!(
                "SEO fields skipped: the posts schema could not be read ({e})"
            )),
            ..SeoPlan::default()
        },
        Err(e) => return Err(e),
    };

    let mut fields = PostFields {
        title: as_text(&c.title),
        content: format!(
            "{}\n{}\n",
            markdown_to_safe_html(&c.body_markdown).trim_end(),
            key_marker(&entry.idempotency_key)
        ),
        excerpt: as_text(&c.excerpt),
        categories,
        tags,
        featured_media,
        meta: seo.meta.clone(),
        ..PostFields::default()
    };
    let post = match existing {
        // What an earlier attempt (or a person since) set for status, date
        // and slug stays; the content is brought up to date.
        Some(p) => {
            let post = client.update_post(p.id, &fields).await?;
            return Ok(Posted {
                post,
                created: false,
                seo,
            });
        }
        None => {
            fields.slug = Some(slug);
            fields.status = Some(cfg.post_status.as_str().to_string());
            if cfg.post_status == PostStatus::Future {
                let at = now
                    + chrono::Duration::from_std(cfg.schedule_delay)
                        .unwrap_or(chrono::Duration::MAX);
                fields.date_gmt = Some(at.format("%Y-%m-%dT%H:%M:%S").to_string());
            }
            client.create_post(&fields).await?
        }
    };
    Ok(Posted {
        post,
        created: true,
        seo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn key_is_stable_per_article_and_differs_between_articles() {
        let t = chrono::Utc
            .timestamp_millis_opt(1_800_000_000_000)
            .single()
            .expect("time");
        let k = publish_key("blog", ArticleId(7), t);
        assert_eq!(k, publish_key("blog", ArticleId(7), t));
        assert_eq!(k.len(), 18);
        assert!(k.starts_with("bp"));
        assert_ne!(k, publish_key("blog", ArticleId(8), t));
        assert_ne!(k, publish_key("other", ArticleId(7), t));
        assert_eq!(key_marker("bpx"), "<!-- blog-poster:bpx -->");
    }

    #[test]
    fn slugs_keep_letters_of_any_script() {
        assert_eq!(wp_slug("Café Crème: 10 Tips!", "t"), "café-crème-10-tips");
        assert_eq!(wp_slug("../../etc", "t"), "etc");
        assert_eq!(wp_slug("", "Ünïcode Title"), "ünïcode-title");
        assert_eq!(wp_slug("--", "!!"), "post");
        assert_eq!(wp_slug(&"a".repeat(300), "t").len(), 180);
    }

    #[test]
    fn titles_lose_their_markup() {
        assert_eq!(
            as_text("<script>x</script> & co"),
            "&lt;script&gt;x&lt;/script&gt; & co"
        );
    }
}
