//! The posts already on the live site, which a new topic must not repeat.
//! A trait, because where they come from depends on the publisher: the
//! outbox has none beyond our own articles; a WordPress site lists its posts
//! through the WordPress client.

use crate::config::{PublisherConfig, SiteConfig};
use crate::domain::BoxFuture;

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

/// How many of a WordPress site's newest posts are compared (10 pages of 100).
const WORDPRESS_PAGES: u32 = 10;

/// The posts on the site the publisher writes to: none for the outbox (our
/// own articles come from the store), the newest published posts of a
/// WordPress site through its REST API.
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
                PublisherConfig::Wordpress(wp) => wordpress_titles(&site.name, wp).await,
            }
        })
    }
}

async fn wordpress_titles(
    site: &str,
    wp: &crate::config::WordpressConfig,
) -> Result<Vec<String>, ExistingPostsError> {
    let classify = |e: crate::wordpress::WpError| {
        let text = format!("cannot list the existing posts of {}: {e}", wp.url);
        if e.is_retryable() {
            ExistingPostsError::Retryable(text)
        } else {
            ExistingPostsError::Permanent(text)
        }
    };
    let client = crate::wordpress::WpClient::new(site, wp).map_err(classify)?;
    let mut titles = Vec::new();
    for page in 1..=WORDPRESS_PAGES {
        let listed = client.list_posts(page, 100).await.map_err(classify)?;
        titles.extend(listed.posts.into_iter().map(|p| p.title));
        if page >= listed.total_pages {
            break;
        }
    }
    Ok(titles)
}
