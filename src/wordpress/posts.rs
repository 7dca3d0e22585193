//! Posts: look one up (by id, by slug or by a search term, in any status
//! including drafts and the trash, with context=edit so raw content is
//! visible), create, update, and list the site's published posts (for the
//! topics stage's duplicate check).

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Action, Body, WpClient, WpError, decode_entities};

/// Every status a post of ours can be in. `any` would leave out the trash.
const ALL_STATUSES: &str = "publish,future,draft,pending,private,trash";
const POST_FIELDS: &str = "id,slug,status,link,date_gmt,featured_media,title,content";
/// What we read back after a create or update: not the content again.
const WRITE_FIELDS: &str = "id,slug,status,link,date_gmt,featured_media";

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Rendered {
    #[serde(default)]
    pub raw: Option<String>,
    #[serde(default)]
    pub rendered: Option<String>,
}

/// A post as WordPress returns it (context=edit).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemotePost {
    pub id: u64,
    #[serde(default)]
    pub slug: String,
    pub status: String,
    #[serde(default)]
    pub link: String,
    /// "2026-11-22T22:00:00" (UTC, no zone); null for undated drafts.
    #[serde(default)]
    pub date_gmt: Option<String>,
    #[serde(default)]
    pub featured_media: u64,
    #[serde(default)]
    pub title: Rendered,
    #[serde(default)]
    pub content: Rendered,
}

impl RemotePost {
    /// The stored content, as sent (context=edit).
    pub fn raw_content(&self) -> &str {
        self.content.raw.as_deref().unwrap_or("")
    }
}

/// What we send to create or update a post. `None` fields are left as
/// WordPress has them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PostFields {
    pub title: String,
    pub content: String,
    pub excerpt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_gmt: Option<String>,
    pub categories: Vec<u64>,
    pub tags: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub featured_media: Option<u64>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// A published post of the site, for duplicate checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExistingPost {
    pub id: u64,
    /// Plain text (entities decoded).
    pub title: String,
    pub slug: String,
    pub link: String,
}

/// One page of [`WpClient::list_posts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostPage {
    pub posts: Vec<ExistingPost>,
    pub page: u32,
    /// From `X-WP-TotalPages`.
    pub total_pages: u32,
    /// From `X-WP-Total`.
    pub total: u64,
}

#[derive(Deserialize)]
struct ListedPost {
    id: u64,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    link: String,
    #[serde(default)]
    title: Rendered,
}

impl WpClient {
    /// Posts whose slug is `slug`, in any status.
    pub async fn posts_by_slug(&self, slug: &str) -> Result<Vec<RemotePost>, WpError> {
        self.find_posts(&[("slug", slug)]).await
    }

    /// Posts whose title, excerpt or content contains `term`, in any status.
    pub async fn posts_matching(&self, term: &str) -> Result<Vec<RemotePost>, WpError> {
        self.find_posts(&[("search", term)]).await
    }

    async fn find_posts(&self, by: &[(&str, &str)]) -> Result<Vec<RemotePost>, WpError> {
        let mut query = vec![
            ("status", ALL_STATUSES),
            ("context", "edit"),
            ("per_page", "20"),
            ("_fields", POST_FIELDS),
        ];
        query.extend_from_slice(by);
        let url = self.api_root().await?.route("wp/v2/posts", &query);
        self.call(Method::GET, url, Action::Read, None)
            .await?
            .json()
    }

    /// The post with this id, or `None` when WordPress has no such post
    /// (deleted for good).
    pub async fn post(&self, id: u64) -> Result<Option<RemotePost>, WpError> {
        let url = self.api_root().await?.route(
            &format!("wp/v2/posts/{id}"),
            &[("context", "edit"), ("_fields", POST_FIELDS)],
        );
        match self.call(Method::GET, url, Action::Read, None).await {
            Ok(reply) => reply.json().map(Some),
            Err(WpError::NotFound { code, .. }) if code == "rest_post_invalid_id" => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create_post(&self, fields: &PostFields) -> Result<RemotePost, WpError> {
        let url = self.api_root().await?.route(
            "wp/v2/posts",
            &[("context", "edit"), ("_fields", WRITE_FIELDS)],
        );
        let body = serde_json::to_value(fields).map_err(|e| WpError::InvalidResponse {
            url: url.to_string(),
            detail: format!("cannot encode the post: {e}"),
        })?;
        self.call(
            Method::POST,
            url,
            Action::CreatePost,
            Some(Body::Json(body)),
        )
        .await?
        .json()
    }

    pub async fn update_post(&self, id: u64, fields: &PostFields) -> Result<RemotePost, WpError> {
        let url = self.api_root().await?.route(
            &format!("wp/v2/posts/{id}"),
            &[("context", "edit"), ("_fields", WRITE_FIELDS)],
        );
        let body = serde_json::to_value(fields).map_err(|e| WpError::InvalidResponse {
            url: url.to_string(),
            detail: format!("cannot encode the post: {e}"),
        })?;
        self.call(
            Method::POST,
            url,
            Action::UpdatePost,
            Some(Body::Json(body)),
        )
        .await?
        .json()
    }

    /// The site's published posts, newest first, `per_page` (1–100) at a
    /// time; `page` counts from 1. A page past the end is empty.
    pub async fn list_posts(&self, page: u32, per_page: u32) -> Result<PostPage, WpError> {
        let page = page.max(1);
        let (page_s, per_page_s) = (page.to_string(), per_page.clamp(1, 100).to_string());
        let url = self.api_root().await?.route(
            "wp/v2/posts",
            &[
                ("status", "publish"),
                ("page", &page_s),
                ("per_page", &per_page_s),
                ("orderby", "date"),
                ("order", "desc"),
                ("_fields", "id,slug,link,title"),
            ],
        );
        let reply = match self.call(Method::GET, url, Action::Read, None).await {
            Ok(r) => r,
            Err(WpError::Rejected { code, .. }) if code == "rest_post_invalid_page_number" => {
                return Ok(PostPage {
                    posts: vec![],
                    page,
                    total_pages: page.saturating_sub(1),
                    total: 0,
                });
            }
            Err(e) => return Err(e),
        };
        let number = |name: &str| {
            reply
                .header(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let total = number("x-wp-total").unwrap_or(0);
        let total_pages = number("x-wp-totalpages").unwrap_or(0) as u32;
        let listed: Vec<ListedPost> = reply.json()?;
        Ok(PostPage {
            posts: listed
                .into_iter()
                .map(|p| ExistingPost {
                    id: p.id,
                    title: decode_entities(p.title.rendered.as_deref().unwrap_or("")),
                    slug: p.slug,
                    link: p.link,
                })
                .collect(),
            page,
            total_pages,
            total,
        })
    }
}
