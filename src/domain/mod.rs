//! The leaf of the crate: domain types every module may use — timestamps,
//! stages and statuses with their pure state machines ([`lifecycle`]),
//! [`money::Money`] and what a model's tokens cost ([`pricing`]), the one
//! exponential backoff ([`backoff::Backoff`]), the placeholders a prompt
//! template may hold ([`templates`]), and the boxed future of the async
//! plug-in points. It imports nothing of the crate
//! (docs/architecture.md, "Layers"): the config validates against these
//! rules and the LLM, content and pipeline code act on them.

pub mod backoff;
pub mod lifecycle;
pub mod money;
pub mod pricing;
pub mod templates;

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future: what the stage, LLM and existing-posts
/// plug-in points return, so they can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
