//! Topic selection: from the competitor items of the last days and the
//! site's seed keywords, candidate key phrases are extracted
//! ([`crate::keywords::text`]), scored by frequency across sources, recency
//! and seed relevance, and rejected when banned or too close
//! ([`crate::keywords::similarity`]) to what the site
//! already covers — our articles and the live site's posts
//! ([`existing::ExistingPosts`]). [`select`] is the pure core; the stage
//! (`pipeline::topics`) gathers its inputs and records every decision;
//! `store::topic_reserve` decides, in the store's commit, which candidate
//! is still free when overlapping runs of a site select at once.

pub mod existing;
pub mod select;

pub use existing::{ExistingPosts, ExistingPostsError, PublisherPosts};
pub use select::{Covered, Mention, SelectInput, select_topics};
