//! The posts already on the live site, which a new topic must not repeat.
//! A trait, because where they come from depends on the publisher: the
//! outbox has none beyond our own articles; a WordPress site lists its posts
//! through the WordPress client (plugged in with the publishing work).

use crate::config::{PublisherConfig, SiteConfig};
use crate::pipeline::stage::BoxFuture;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExistingPostsError {
    /// Worth trying again later (the site is unreachable, rate limited).
    #[error("{0}")]
    Retryable(String),
    /// Cannot work until someone acts (credentials, not built).
    #[error("{0}")]
    Permanent(String),
}

/// Titles of the posts already published (or scheduled) on a site.
pub trait ExistingPosts: Send + Sync {
    fn titles<'a>(
        &'a self,
        site: &'a SiteConfig,
    ) -> BoxFuture<'a, Result<Vec<String>, ExistingPostsError>>;
}

/// What this version knows without a WordPress client: an outbox site has
/// no posts but our own articles (which the store lists); for a WordPress
/// site it says plainly that listing its posts is not built yet, rather
/// than risk a duplicate of a post it cannot see.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublisherPosts;

impl ExistingPosts for PublisherPosts {
    fn titles<'a>(
        &'a self,
        site: &'a SiteConfig,
    ) -> BoxFuture<'a, Result<Vec<String>, ExistingPostsError>> {
        Box::pin(async move {
            match &site.publisher {
                PublisherConfig::Outbox => Ok(Vec::new()),
                PublisherConfig::Wordpress(wp) => Err(ExistingPostsError::Permanent(format!(
                    "cannot list the existing posts of {} yet: the WordPress client arrives with the publishing work",
                    wp.url
                ))),
            }
        })
    }
}
