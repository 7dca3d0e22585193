//! What the stages call: one LLM completion under the cost caps. For each
//! attempt it reserves the worst case (prompt bound × input price +
//! max_tokens × output price) against every cap, makes the call, and
//! records it — settling the reservation to the real cost — whatever
//! happened. Retryable failures are retried with backoff (at least what
//! `retry-after` asks); a provider whose circuit is open is skipped; the
//! fallback chain is walked in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::breaker::{Breaker, BreakerState, Permit};
use super::*;
use crate::budget::{BudgetCaps, CapRefusal};
use crate::clock::Clock;
use crate::config::{Config, LlmConfig};
use crate::domain::backoff::Backoff;
use crate::domain::lifecycle::Timestamp;
use crate::domain::money::Money;
use crate::store::{
    BudgetRequest, JobId, NewLlmCall, Reservation, ReservationId, RunId, Store, StoreError,
};

/// Who a call is for and which caps apply.
#[derive(Clone)]
pub struct CallContext {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The whole config: its `llm` table drives the chain and retries.
    pub config: Arc<Config>,
    pub site: String,
    pub job: Option<JobId>,
    pub run: Option<RunId>,
    pub caps: BudgetCaps,
    /// The site's provider choice, if it overrides `llm.provider`.
    pub provider_choice: Option<String>,
}

impl CallContext {
    fn article_key(&self) -> String {
        match self.run {
            Some(r) => format!("run:{r}"),
            None => format!("site:{}", self.site),
        }
    }
}

/// One call's wishes.
#[derive(Debug, Clone)]
pub struct CallSpec<'a> {
    /// "generate", "generate-retry", "fact-check": stored with the call.
    pub purpose: &'a str,
    pub system: &'a str,
    pub messages: &'a [Message],
    /// Overrides the provider's max_tokens.
    pub max_tokens: Option<u32>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmReply {
    pub text: String,
    pub finish: Finish,
    pub provider: String,
    pub model: String,
    pub max_tokens: u32,
    pub cost: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(
        "no LLM provider is configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY in the environment, \
         or add [llm.providers.NAME] (kind = \"anthropic\", \"openai\" or \"openai-compatible\" with base_url) \
         to the config; see docs/configuration.md#llm"
    )]
    NotConfigured,
    /// The call could cross a cap: nothing was sent.
    #[error("{0}")]
    CapReached(CapRefusal),
    /// Every provider is down, overloaded, rate limited past the retries or
    /// behind an open breaker: the job waits and tries again without
    /// spending an attempt (an outage must not kill the article).
    #[error("{message}")]
    Unavailable { message: String, retry_in: Duration },
    /// Retrying cannot help (bad key, no quota, invalid request, refusal).
    #[error("{message}")]
    Failed { message: String },
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Shared by the stages of one process: the clients and their breakers.
#[derive(Default)]
pub struct LlmService {
    clients: Mutex<HashMap<String, Arc<dyn Provider>>>,
    breakers: Mutex<HashMap<String, Breaker>>,
    /// Providers supplied from outside (benchmarks, tests), by name.
    injected: HashMap<String, Arc<dyn Provider>>,
}

impl LlmService {
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses these providers instead of building HTTP clients for the names
    /// they carry.
    pub fn with_providers(providers: Vec<Arc<dyn Provider>>) -> Self {
        LlmService {
            injected: providers
                .into_iter()
                .map(|p| (p.name().to_string(), p))
                .collect(),
            ..Default::default()
        }
    }

    fn client(&self, config: &ProviderConfig) -> Result<Arc<dyn Provider>, String> {
        if let Some(p) = self.injected.get(&config.name) {
            return Ok(p.clone());
        }
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&config.name) {
            return Ok(c.clone());
        }
        let built: Arc<dyn Provider> = Arc::from(build_provider(config)?);
        clients.insert(config.name.clone(), built.clone());
        Ok(built)
    }

    fn with_breaker<T>(&self, llm: &LlmConfig, name: &str, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let b = breakers
            .entry(name.to_string())
            .or_insert_with(|| Breaker::new(llm.breaker_failures, llm.breaker_cooldown));
        f(b)
    }

    /// One completion, under the caps, through the provider chain.
    pub async fn complete(
        &self,
        ctx: &CallContext,
        spec: &CallSpec<'_>,
    ) -> Result<LlmReply, LlmError> {
        let chain = ctx.config.llm.chain(ctx.provider_choice.as_deref());
        if chain.is_empty() {
            return Err(LlmError::NotConfigured);
        }
        let mut problems: Vec<String> = Vec::new();
        let mut any_retryable = false;
        let mut retry_in = Duration::ZERO;
        for config in chain {
            let client = match self.client(config) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!(
                        "{}: cannot build the HTTP client: {e}",
                        config.name
                    ));
                    continue;
                }
            };
            match self
                .try_provider(ctx, spec, config, client.as_ref())
                .await?
            {
                Ok(reply) => return Ok(reply),
                Err(attempt) => {
                    any_retryable |= attempt.retryable;
                    if attempt.retryable {
                        let wait = attempt.retry_in.unwrap_or(ctx.config.llm.breaker_cooldown);
                        retry_in = retry_in.max(wait);
                    }
                    problems.push(attempt.message);
                    if attempt.stop_chain {
                        break;
                    }
                }
            }
        }
        let message = format!(
            "LLM call ({}) failed: {}",
            spec.purpose,
            problems.join("; then ")
        );
        if any_retryable {
            Err(LlmError::Unavailable {
                message: format!("{message}; trying again later"),
                retry_in: retry_in.max(Duration::from_secs(1)),
            })
        } else {
            Err(LlmError::Failed { message })
        }
    }

    /// Calls one provider with retries. `Ok(Err(_))` means this provider
    /// failed and the chain may go on.
    async fn try_provider(
        &self,
        ctx: &CallContext,
        spec: &CallSpec<'_>,
        config: &ProviderConfig,
        client: &dyn Provider,
    ) -> Result<Result<LlmReply, ProviderFailure>, LlmError> {
        let llm = &ctx.config.llm;
        let max_tokens = spec.max_tokens.unwrap_or(config.max_tokens);
        let request = ChatRequest {
            system: spec.system.to_string(),
            messages: spec.messages.to_vec(),
            max_tokens,
        };
        let worst_case = config
            .price
            .cost(request.input_token_bound(), u64::from(max_tokens));
        let who = format!("{} ({})", config.name, config.model);
        // A cooldown the provider asked for (or an open breaker) outlives
        // this process: it is stored, and honoured after a restart too.
        if let Some(c) = stored_cooldown(ctx, &config.name).await
            && c.until > ctx.clock.now()
        {
            let remaining = (c.until - ctx.clock.now())
                .to_std()
                .unwrap_or(Duration::from_secs(1));
            return Ok(Err(ProviderFailure {
                retryable: true,
                retry_in: Some(remaining),
                stop_chain: false,
                message: format!(
                    "{who}: not called until {} ({})",
                    c.until.format("%Y-%m-%d %H:%M:%S UTC"),
                    c.reason
                ),
            }));
        }
        let mut last: Option<ProviderError> = None;
        for attempt in 0..=llm.max_retries {
            if let Permit::Skip { remaining } =
                self.with_breaker(llm, &config.name, |b| b.permit(Instant::now()))
            {
                let why = self
                    .with_breaker(llm, &config.name, |b| b.last_error.clone())
                    .unwrap_or_default();
                return Ok(Err(ProviderFailure {
                    retryable: true,
                    retry_in: Some(remaining),
                    stop_chain: false,
                    message: format!(
                        "{who}: skipped, its circuit breaker is open for {}s more after repeated failures ({why})",
                        remaining.as_secs().max(1)
                    ),
                }));
            }
            let reservation = self.reserve(ctx, spec, config, worst_case).await?;
            let started = Instant::now();
            let result = client.complete(&request).await;
            let latency_ms = started.elapsed().as_millis() as u64;
            let call = call_record(
                ctx,
                spec,
                config,
                reservation,
                worst_case,
                latency_ms,
                &result,
            );
            let cost = call.cost;
            self.record(ctx, call).await;
            match result {
                Ok(c) => {
                    self.with_breaker(llm, &config.name, Breaker::success);
                    if c.finish == Finish::Refused {
                        let excerpt: String = c.text.chars().take(200).collect();
                        return Ok(Err(ProviderFailure {
                            retryable: false,
                            retry_in: None,
                            stop_chain: true,
                            message: format!(
                                "{who} refused to write this ({excerpt}); change the topic or the prompt"
                            ),
                        }));
                    }
                    return Ok(Ok(LlmReply {
                        text: c.text,
                        finish: c.finish,
                        provider: config.name.clone(),
                        model: config.model.clone(),
                        max_tokens,
                        cost,
                    }));
                }
                Err(e) => {
                    let now = Instant::now();
                    if e.class.provider_level() {
                        let opened = self.with_breaker(llm, &config.name, |b| {
                            b.failure(now, &e.to_string());
                            matches!(b.state, BreakerState::Open { .. })
                        });
                        if opened {
                            let reason =
                                format!("its circuit breaker opened after repeated failures: {e}");
                            store_cooldown(ctx, &config.name, llm.breaker_cooldown, reason).await;
                        }
                    } else {
                        self.with_breaker(llm, &config.name, Breaker::neutral);
                    }
                    if !e.class.retryable() {
                        let hint = e
                            .fix_hint(config.api_key.as_ref().map(|k| k.origin()).as_deref())
                            .map(|h| format!(" — {h}"))
                            .unwrap_or_default();
                        return Ok(Err(ProviderFailure {
                            retryable: false,
                            retry_in: None,
                            // Another provider will not accept an invalid request either.
                            stop_chain: !e.class.provider_level(),
                            message: format!("{who}: {e}{hint}"),
                        }));
                    }
                    if attempt == llm.max_retries {
                        last = Some(e);
                        break;
                    }
                    let delay = backoff(llm, attempt, e.retry_after);
                    if delay > llm.retry_max {
                        let reason = format!("it asked to wait {}s: {e}", delay.as_secs());
                        store_cooldown(ctx, &config.name, delay, reason).await;
                        return Ok(Err(ProviderFailure {
                            retryable: true,
                            retry_in: Some(delay),
                            stop_chain: false,
                            message: format!(
                                "{who}: {e}; the provider asks to wait {}s, longer than llm.retry_max",
                                delay.as_secs()
                            ),
                        }));
                    }
                    tracing::info!(provider = %config.name, attempt = attempt + 1, wait_ms = delay.as_millis() as u64, "LLM call failed, retrying: {e}");
                    tokio::time::sleep(delay).await;
                    last = Some(e);
                }
            }
        }
        let retry_in = last
            .as_ref()
            .and_then(|e| e.retry_after)
            .map(|d| d.max(llm.retry_max));
        let e = last.map(|e| e.to_string()).unwrap_or_default();
        Ok(Err(ProviderFailure {
            retryable: true,
            retry_in,
            stop_chain: false,
            message: format!(
                "{who}: {e} (gave up after {} attempts)",
                llm.max_retries + 1
            ),
        }))
    }

    async fn reserve(
        &self,
        ctx: &CallContext,
        spec: &CallSpec<'_>,
        config: &ProviderConfig,
        amount: Money,
    ) -> Result<Option<ReservationId>, LlmError> {
        let req = BudgetRequest {
            site: ctx.site.clone(),
            job: ctx.job,
            run: ctx.run,
            article_key: ctx.article_key(),
            provider: config.name.clone(),
            model: config.model.clone(),
            purpose: spec.purpose.to_string(),
            amount,
            caps: ctx.caps,
        };
        let (store, now) = (ctx.store.clone(), ctx.clock.now());
        let answer = tokio::task::spawn_blocking(move || store.reserve_budget(&req, now))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))??;
        match answer {
            Reservation::Granted(id) => Ok(Some(id)),
            Reservation::Refused(r) => Err(LlmError::CapReached(r)),
        }
    }

    /// Records the call. If that fails the reservation stays unsettled and
    /// keeps counting at its worst case: safe, so the answer is still used.
    async fn record(&self, ctx: &CallContext, call: NewLlmCall) {
        let (store, now) = (ctx.store.clone(), ctx.clock.now());
        let result = tokio::task::spawn_blocking(move || store.record_llm_call(&call, now)).await;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not record an LLM call; its reservation keeps counting as spent")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record an LLM call; its reservation keeps counting as spent")
            }
        }
    }
}

/// Until when a provider is not to be called, and why: kept in the store
/// (`daemon_state`, key `provider_cooldown:NAME`), so a restart honours it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Cooldown {
    until: Timestamp,
    reason: String,
}

fn cooldown_key(provider: &str) -> String {
    format!("provider_cooldown:{provider}")
}

async fn stored_cooldown(ctx: &CallContext, provider: &str) -> Option<Cooldown> {
    let (store, key) = (ctx.store.clone(), cooldown_key(provider));
    match tokio::task::spawn_blocking(move || store.daemon_state(&key)).await {
        Ok(Ok(Some(text))) => serde_json::from_str(&text).ok(),
        Ok(Ok(None)) => None,
        // Unreadable: call the provider; its own answer decides.
        Ok(Err(e)) => {
            tracing::warn!(provider, error = %e, "cannot read the provider's cooldown");
            None
        }
        Err(e) => {
            tracing::warn!(provider, error = %e, "cannot read the provider's cooldown");
            None
        }
    }
}

async fn store_cooldown(ctx: &CallContext, provider: &str, wait: Duration, reason: String) {
    let now = ctx.clock.now();
    let cooldown = Cooldown {
        until: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(5)),
        reason,
    };
    let Ok(value) = serde_json::to_string(&cooldown) else {
        return;
    };
    let (store, key) = (ctx.store.clone(), cooldown_key(provider));
    let saved =
        tokio::task::spawn_blocking(move || store.set_daemon_state(&key, &value, now)).await;
    if !matches!(saved, Ok(Ok(()))) {
        tracing::warn!(
            provider,
            "cannot store the provider's cooldown; it lasts only in memory"
        );
    }
}

/// One provider's failure, for the chain.
struct ProviderFailure {
    retryable: bool,
    /// When this provider is worth trying again (breaker cooldown, or what
    /// the provider asked for); `None`: after `llm.breaker_cooldown`.
    retry_in: Option<Duration>,
    /// The request itself is at fault: no other provider is tried.
    stop_chain: bool,
    message: String,
}

fn call_record(
    ctx: &CallContext,
    spec: &CallSpec<'_>,
    config: &ProviderConfig,
    reservation: Option<ReservationId>,
    worst_case: Money,
    latency_ms: u64,
    result: &Result<Completion, ProviderError>,
) -> NewLlmCall {
    let (usage, cost, outcome, error) = match result {
        Ok(c) => {
            // No usage from the server: nobody knows, so the worst case counts.
            let cost = c.usage.map_or(worst_case, |u| {
                config.price.cost(u.input_tokens, u.output_tokens)
            });
            let outcome = match c.finish {
                Finish::Complete => CallOutcome::Ok,
                Finish::Truncated => CallOutcome::Truncated,
                Finish::Refused => CallOutcome::Refused,
            };
            (c.usage.unwrap_or_default(), cost, outcome, None)
        }
        Err(e) => (
            Usage::default(),
            if e.maybe_billed {
                worst_case
            } else {
                Money::ZERO
            },
            e.class.outcome(),
            Some(e.to_string()),
        ),
    };
    NewLlmCall {
        reservation,
        site: ctx.site.clone(),
        job: ctx.job,
        run: ctx.run,
        provider: config.name.clone(),
        model: config.model.clone(),
        purpose: spec.purpose.to_string(),
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cost,
        latency_ms,
        outcome,
        error,
    }
}

/// `retry_base · 2^attempt` with jitter, at least what the provider asked.
fn backoff(llm: &LlmConfig, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let jittered = Backoff::new(llm.retry_base, llm.retry_max).jittered(attempt, fastrand::f64());
    match retry_after {
        Some(asked) => asked.max(jittered),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llm() -> LlmConfig {
        LlmConfig {
            providers: vec![],
            primary: None,
            fallback: vec![],
            max_retries: 3,
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(60),
            origin: "test".into(),
        }
    }

    #[test]
    fn backoff_grows_stays_capped_and_honours_retry_after() {
        let l = llm();
        for attempt in 0..10 {
            let d = backoff(&l, attempt, None);
            assert!(d <= l.retry_max, "{d:?}");
            assert!(
                d >= l
                    .retry_base
                    .saturating_mul(1 << attempt.min(16))
                    .min(l.retry_max)
                    / 2
            );
        }
        assert_eq!(
            backoff(&l, 0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert!(
            backoff(&l, 0, Some(Duration::from_secs(60))) > l.retry_max,
            "the caller hands long waits to the queue"
        );
    }
}
