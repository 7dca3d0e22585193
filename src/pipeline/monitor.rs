//! The monitor stage: checks every source of the site that is due (its
//! `next_check_at` has passed, or it was never checked), at most
//! `monitor.concurrency` at once, and returns each source's outcome and the
//! items found. One source failing is that source's outcome, never the
//! stage's error; the stage fails (retryably) only when it cannot work at
//! all — the store is unreadable or no HTTP client can be built. A panic
//! while checking a source is that source's failure too (see `fence`).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::domain::BoxFuture;
use crate::feeds::fetch::Fetcher;
use crate::feeds::schedule::after_failure;
use crate::feeds::source::{Checked, check_source};
use crate::pipeline::stage::{StageContext, StageError, StageRunner};
use crate::store::{MonitorOutput, SourceOutcome, SourceRecord, StageOutput};

/// Runs the monitor stage.
#[derive(Debug, Default)]
pub struct Monitor;

impl StageRunner for Monitor {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(async move { monitor(ctx).await.map(StageOutput::Monitor) })
    }
}

async fn monitor(ctx: &StageContext) -> Result<MonitorOutput, StageError> {
    let site = ctx.site.name.clone();
    let states: HashMap<String, SourceRecord> = ctx
        .db(move |s| s.list_sources(&site))
        .await?
        .into_iter()
        .map(|r| (r.url.clone(), r))
        .collect();
    let cfg = Arc::new(ctx.config.monitor.clone());
    let fetcher = Arc::new(
        Fetcher::new(&cfg)
            .map_err(|e| StageError::Retryable(format!("cannot start monitoring: {e}")))?,
    );
    let start = ctx.now();
    let limit = Arc::new(Semaphore::new(cfg.concurrency.max(1) as usize));
    let mut tasks = JoinSet::new();
    let mut skipped = 0usize;
    for (index, source) in ctx.site.sources.iter().enumerate() {
        let state = states.get(source.url.as_str()).cloned();
        if state
            .as_ref()
            .and_then(|s| s.next_check_at)
            .is_some_and(|due| due > start)
        {
            skipped += 1;
            continue;
        }
        let (fetcher, cfg, source, limit, clock) = (
            fetcher.clone(),
            cfg.clone(),
            source.clone(),
            limit.clone(),
            ctx.clock.clone(),
        );
        let site = ctx.site.name.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.ok();
            let now = clock.now();
            // The source's fence: a panic in its fetch or parse is this
            // source's failure, recorded like a parse error; the other
            // sources' work is kept.
            let checked = crate::fence::catch_async(check_source(
                &fetcher,
                &cfg,
                &source,
                state.as_ref(),
                now,
            ))
            .await
            .unwrap_or_else(|panic| {
                let url = source.url.to_string();
                crate::fence::report(Some(&site), &format!("source {url}"), &panic);
                let failures = state.as_ref().map_or(0, |s| s.consecutive_failures) + 1;
                Checked {
                    outcome: SourceOutcome {
                        url,
                        next_check_at: Some(after_failure(now, failures, None, &cfg)),
                        error: Some(format!("checking this source {panic}")),
                        ..Default::default()
                    },
                    items: Vec::new(),
                }
            });
            (index, checked)
        });
    }
    let mut results: Vec<(usize, Checked)> = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(r) => results.push(r),
            // Only a cancelled task gets here (panics are fenced above):
            // that source is simply checked again next run.
            Err(e) => tracing::error!(site = %ctx.site.name, error = %e, "a source check stopped"),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    let mut output = MonitorOutput::default();
    for (_, checked) in results {
        if let Some(err) = &checked.outcome.error {
            tracing::warn!(site = %ctx.site.name, source = %checked.outcome.url, error = %err, "source failed");
        }
        output.sources.push(checked.outcome);
        output.items.extend(checked.items);
    }
    tracing::debug!(site = %ctx.site.name, checked = output.sources.len(), skipped, "monitor done");
    Ok(output)
}
