//! The typed settings of competitor monitoring (`[monitor]`) and topic
//! selection (`[sites.NAME.topics]`), with their defaults. Validation lives
//! in `validate_feeds.rs`; the example config documents every key.

use std::time::Duration;

/// How sources are fetched: limits, politeness and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Largest body read from a source, after decompression.
    pub body_limit: u64,
    pub connect_timeout: Duration,
    /// One request, body included.
    pub timeout: Duration,
    /// Requests in flight at once across all of a site's sources.
    pub concurrency: u32,
    /// Requests in flight at once to one host.
    pub per_host_concurrency: u32,
    pub max_redirects: u32,
    /// The next check when the source gives no hint (Cache-Control,
    /// Expires, RSS ttl).
    pub check_interval: Duration,
    /// Hints are clamped to [min_check_interval, max_check_interval].
    pub min_check_interval: Duration,
    pub max_check_interval: Duration,
    /// After a failure the source waits backoff_base × 2^(failures−1), at
    /// most backoff_max; it is never given up.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Items kept per source per check (newest first).
    pub max_items_per_source: u32,
    /// Child sitemaps of a sitemap index read per check.
    pub max_child_sitemaps: u32,
    /// Pages of changed sitemap entries fetched per check for their title
    /// and text (0 = store the URLs only).
    pub sitemap_page_fetches: u32,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            body_limit: 10 << 20,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            concurrency: 16,
            per_host_concurrency: 2,
            max_redirects: 5,
            check_interval: Duration::from_secs(3600),
            min_check_interval: Duration::from_secs(300),
            max_check_interval: Duration::from_secs(86_400),
            backoff_base: Duration::from_secs(300),
            backoff_max: Duration::from_secs(6 * 3600),
            max_items_per_source: 200,
            max_child_sitemaps: 20,
            sitemap_page_fetches: 5,
        }
    }
}

/// How a site picks its next topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicsConfig {
    /// Competitor items fetched this long ago or later are considered.
    pub lookback: Duration,
    /// An item's weight halves every this long (by publication, else fetch time).
    pub recency_half_life: Duration,
    /// A candidate this similar (0–1) to one of our articles or the site's
    /// existing posts is rejected.
    pub similarity_threshold: f64,
    /// Competitor items a phrase must appear in to become a candidate
    /// (seed and pinned keywords are always candidates).
    pub min_mentions: u32,
    /// Candidates recorded per run, kept and rejected, best first.
    pub max_candidates: u32,
    /// Always candidates, ranked ahead of everything else.
    pub pinned_keywords: Vec<String>,
    /// Candidates containing one of these are rejected.
    pub banned_keywords: Vec<String>,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            lookback: Duration::from_secs(14 * 86_400),
            recency_half_life: Duration::from_secs(3 * 86_400),
            similarity_threshold: 0.7,
            min_mentions: 2,
            max_candidates: 20,
            pinned_keywords: Vec::new(),
            banned_keywords: Vec::new(),
        }
    }
}
