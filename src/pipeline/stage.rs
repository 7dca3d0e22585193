//! The plug-in point for stage work: a stage is an async function from a
//! context (its job, its site's config, the store) to a `StageOutput` or a
//! classified error. The engine owns retries, leases and commits; a stage
//! only does its work and says whether a retry could help.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, SiteConfig};
use crate::domain::BoxFuture;
use crate::domain::lifecycle::{Stage, Timestamp, WaitKind};
use crate::llm::service::LlmError;
use crate::store::{ClaimedJob, JobFailure, StageOutput, Store, StoreError, StoreResult};

/// What a running stage may use.
#[derive(Clone)]
pub struct StageContext {
    pub job: ClaimedJob,
    pub site: Arc<SiteConfig>,
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

impl StageContext {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Calls the (synchronous) store off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, StageError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| StageError::Retryable(format!("store task failed: {e}")))?
            .map_err(StageError::Store)
    }
}

/// How a stage failed. Decided once, where the error is understood.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Worth another try later (timeouts, rate limits, a server error).
    #[error("{0}")]
    Retryable(String),
    /// Retrying cannot help (bad credentials, invalid input) until someone acts.
    #[error("{0}")]
    Permanent(String),
    /// Not a failure: wait with a visible reason (a cost cap) until `until`;
    /// `kind` says what may end the wait early (see [`WaitKind`]).
    #[error("waiting until {until}: {reason}")]
    Deferred {
        kind: WaitKind,
        reason: String,
        until: Timestamp,
    },
    #[error("database: {0}")]
    Store(StoreError),
}

impl StageError {
    /// How a stage reports an LLM error: a cap makes the job wait (until the
    /// window resets; a day for the per-article cap, which only a raised cap
    /// or a cancel resolves), never fail; an outage waits for the provider.
    pub fn from_llm(e: LlmError, now: Timestamp) -> StageError {
        match e {
            LlmError::NotConfigured => StageError::Permanent(e.to_string()),
            LlmError::CapReached(r) => StageError::Deferred {
                kind: WaitKind::Cap,
                reason: r.to_string(),
                until: r.resets_at.unwrap_or(now + chrono::Duration::days(1)),
            },
            LlmError::Unavailable { message, retry_in } => StageError::Deferred {
                kind: WaitKind::Provider,
                reason: message,
                until: now
                    + chrono::Duration::from_std(retry_in).unwrap_or(chrono::Duration::minutes(5)),
            },
            LlmError::Failed { message } => StageError::Permanent(message),
            LlmError::Store(e) => StageError::Store(e),
        }
    }

    pub fn into_failure(self) -> JobFailure {
        let jitter = fastrand::f64();
        match self {
            StageError::Retryable(error) => JobFailure::Retryable { error, jitter },
            StageError::Store(e) if e.is_transient() => JobFailure::Retryable {
                error: e.to_string(),
                jitter,
            },
            StageError::Deferred {
                kind,
                reason,
                until,
            } => JobFailure::Deferred {
                kind,
                reason,
                until,
            },
            e @ (StageError::Permanent(_) | StageError::Store(_)) => JobFailure::Permanent {
                error: e.to_string(),
            },
        }
    }
}

/// One stage's work.
pub trait StageRunner: Send + Sync {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>>;
}

/// The runner for each stage of the chain.
#[derive(Clone)]
pub struct StageSet {
    pub monitor: Arc<dyn StageRunner>,
    pub topics: Arc<dyn StageRunner>,
    pub generate: Arc<dyn StageRunner>,
    pub check: Arc<dyn StageRunner>,
    pub publish: Arc<dyn StageRunner>,
}

impl StageSet {
    pub fn get(&self, stage: Stage) -> &Arc<dyn StageRunner> {
        match stage {
            Stage::Monitor => &self.monitor,
            Stage::Topics => &self.topics,
            Stage::Generate => &self.generate,
            Stage::Check => &self.check,
            Stage::Publish => &self.publish,
        }
    }

    /// The stages this version ships. Generate and check share one LLM
    /// service (clients and circuit breakers); publishing goes to the site's
    /// publisher (outbox or WordPress).
    pub fn standard() -> StageSet {
        Self::with_llm(Arc::new(crate::llm::service::LlmService::new()))
    }

    /// The standard stages with a given LLM service (benchmarks and tests
    /// inject providers through it).
    pub fn with_llm(llm: Arc<crate::llm::service::LlmService>) -> StageSet {
        StageSet {
            monitor: Arc::new(super::monitor::Monitor),
            topics: Arc::new(super::topics::Topics::new(Arc::new(
                crate::topics::PublisherPosts,
            ))),
            generate: Arc::new(super::generate::Generate { llm: llm.clone() }),
            check: Arc::new(super::check::Check { llm }),
            publish: Arc::new(super::publish::Publisher::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::budget::CapRefusal;
    use crate::domain::money::Money;

    #[test]
    fn caps_and_outages_wait_while_hopeless_failures_fail() {
        use crate::budget::CapScope;
        let now = chrono::Utc::now();
        let refusal = |scope, resets_at| CapRefusal {
            scope,
            site: "s".into(),
            cap: Money(10),
            spent: Money(10),
            requested: Money(5),
            resets_at,
        };
        let midnight = crate::budget::next_day_start(now);
        match StageError::from_llm(
            LlmError::CapReached(refusal(CapScope::SiteDaily, Some(midnight))),
            now,
        ) {
            StageError::Deferred {
                kind: WaitKind::Cap,
                until,
                reason,
            } => {
                assert_eq!(until, midnight);
                assert!(reason.contains("daily cap of site \"s\""), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        match StageError::from_llm(LlmError::CapReached(refusal(CapScope::Article, None)), now) {
            StageError::Deferred {
                kind: WaitKind::Cap,
                until,
                ..
            } => {
                assert_eq!(until, now + chrono::Duration::days(1))
            }
            other => panic!("{other:?}"),
        }
        let outage = LlmError::Unavailable {
            message: "down".into(),
            retry_in: Duration::from_secs(300),
        };
        match StageError::from_llm(outage, now) {
            StageError::Deferred {
                kind: WaitKind::Provider,
                until,
                ..
            } => {
                assert_eq!(until, now + chrono::Duration::seconds(300))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            StageError::from_llm(LlmError::Failed { message: "bad key".into() }, now),
            StageError::Permanent(m) if m == "bad key"
        ));
        assert!(matches!(
            StageError::from_llm(LlmError::NotConfigured, now),
            StageError::Permanent(m) if m.contains("ANTHROPIC_API_KEY")
        ));
    }
}
