//! The topics stage: gathers the site's recent competitor items, our
//! articles and the live site's existing posts, runs the pure selection
//! (`topics::select_topics`) and returns every candidate with its reason.
//! The engine stores them in one transaction with the job; the best kept
//! one is stored as "selected" and becomes the run's topic. No kept
//! candidate ends the run with "no new topic to write about".

use std::sync::Arc;

use crate::domain::BoxFuture;
use crate::pipeline::stage::{StageContext, StageError, StageRunner};
use crate::store::{StageOutput, TopicsOutput};
use crate::topics::{
    Covered, ExistingPosts, ExistingPostsError, Mention, SelectInput, select_topics,
};

/// Competitor items read per run (newest first).
const ITEM_LIMIT: u32 = 5000;
/// Our articles compared per run (newest first).
const ARTICLE_LIMIT: u32 = 1000;

/// Runs the topics stage with a source of the site's existing posts.
pub struct Topics {
    existing: Arc<dyn ExistingPosts>,
}

impl Topics {
    pub fn new(existing: Arc<dyn ExistingPosts>) -> Self {
        Topics { existing }
    }
}

impl StageRunner for Topics {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(async move {
            let cfg = &ctx.site.topics;
            let now = ctx.now();
            let since =
                now - chrono::Duration::from_std(cfg.lookback).unwrap_or(chrono::Duration::MAX / 2);
            let site = ctx.site.name.clone();
            let items = ctx
                .db(move |s| s.list_source_items(&site, Some(since), ITEM_LIMIT))
                .await?;
            let site = ctx.site.name.clone();
            let articles = ctx
                .db(move |s| s.list_article_titles(&site, ARTICLE_LIMIT))
                .await?;
            let posts = self.existing.titles(&ctx.site).await.map_err(|e| match e {
                ExistingPostsError::Retryable(m) => StageError::Retryable(m),
                ExistingPostsError::Permanent(m) => StageError::Permanent(m),
            })?;
            let plausible_until = now + chrono::Duration::days(1);
            let mentions: Vec<Mention> = items
                .into_iter()
                .map(|i| Mention {
                    source: i.source_url.unwrap_or_default(),
                    when: i
                        .published_at
                        .filter(|p| *p <= plausible_until)
                        .unwrap_or(i.fetched_at),
                    title: i.title,
                    text: i.summary,
                })
                .collect();
            let mut covered: Vec<Covered> = articles
                .into_iter()
                .map(|a| Covered {
                    label: format!("our article {} \"{}\" ({})", a.id, a.title, a.status),
                    texts: vec![a.title, a.focus_keyword, a.topic],
                })
                .collect();
            covered.extend(posts.into_iter().map(|title| Covered {
                label: format!("existing post \"{title}\""),
                texts: vec![title],
            }));
            let candidates = select_topics(&SelectInput {
                now,
                mentions: &mentions,
                seeds: &ctx.site.seed_keywords,
                covered: &covered,
                config: cfg,
            });
            Ok(StageOutput::Topics(TopicsOutput {
                candidates,
                similarity_threshold: Some(cfg.similarity_threshold),
            }))
        })
    }
}
