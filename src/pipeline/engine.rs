//! The job engine: claims due jobs under the concurrency limits, runs their
//! stage while renewing the lease, and commits the result — output and next
//! job in one transaction — or the classified failure. On stop it lets
//! running jobs finish within the grace period, then releases the rest to
//! the queue. It holds no state the database does not: kill it at any
//! moment and the next start carries on from the last commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::backoff::Backoff;
use crate::domain::lifecycle::{JobOutcome, JobStatus, RetryPolicy, Timestamp};
use crate::pipeline::stage::{StageContext, StageError, StageSet};
use crate::store::{
    ClaimRequest, ClaimedJob, DeadJob, JobFailure, RunId, StageOutput, Store, StoreError,
    StoreResult,
};

/// Between tries of a commit the database refused as busy.
const COMMIT_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));

/// Hears about jobs as they start and end: the daemon logs, `run --once`
/// prints progress.
pub trait Observer: Send + Sync {
    fn started(&self, _job: &ClaimedJob) {}
    fn finished(&self, _job: &ClaimedJob, _outcome: &JobOutcome, _elapsed: Duration) {}
    /// A job whose worker vanished was left dead by the reclaim (out of
    /// attempts, or a poison pill).
    fn reclaimed_dead(&self, _job: &DeadJob) {}
}

/// Logs every job through tracing.
pub struct LogObserver;

impl Observer for LogObserver {
    fn started(&self, job: &ClaimedJob) {
        tracing::info!(site = %job.site, run = %job.run_id, job = %job.id, stage = %job.stage, attempt = job.attempts, "stage started");
    }

    fn finished(&self, job: &ClaimedJob, outcome: &JobOutcome, elapsed: Duration) {
        let ms = elapsed.as_millis() as u64;
        match outcome {
            JobOutcome::Succeeded { summary } => {
                tracing::info!(site = %job.site, run = %job.run_id, job = %job.id, stage = %job.stage, ms, "stage done: {summary}");
            }
            JobOutcome::Failed { error, status } => {
                tracing::warn!(site = %job.site, run = %job.run_id, job = %job.id, stage = %job.stage, ms, status = %status, "stage failed: {error}");
            }
            JobOutcome::Released => {
                tracing::info!(site = %job.site, job = %job.id, stage = %job.stage, "released to the queue on shutdown");
            }
            JobOutcome::LeaseLost => {
                tracing::warn!(site = %job.site, job = %job.id, stage = %job.stage, "lease lost; result discarded");
            }
        }
    }

    fn reclaimed_dead(&self, job: &DeadJob) {
        tracing::error!(site = %job.site, run = %job.run_id, job = %job.id, stage = %job.stage, poison_pill = job.poison_pill, "job dead: {}", job.error);
    }
}

pub struct Engine {
    pub store: Arc<dyn Store>,
    pub stages: StageSet,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Who holds leases taken by this engine: host, pid and a random part.
    pub owner: String,
    pub observer: Arc<dyn Observer>,
}

/// A lease owner id unique to this process: "host:pid:random".
pub fn owner_id() -> String {
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "host".into());
    format!(
        "{}:{}:{:08x}",
        host.trim(),
        std::process::id(),
        fastrand::u32(..)
    )
}

impl Engine {
    fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            base: self.config.engine.retry_base,
            max: self.config.engine.retry_max,
        }
    }

    /// Calls the store off the async workers, with the current time.
    async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store, Timestamp) -> StoreResult<T> + Send + 'static,
    {
        let store = self.store.clone();
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || f(store.as_ref(), now))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }

    /// Works until `shutdown` turns true, then stops gracefully: running jobs
    /// get `shutdown_grace` to finish, the rest are released. `only_runs`
    /// limits the engine to those runs (`run --once`).
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
        only_runs: Option<Vec<RunId>>,
    ) {
        let cfg = &self.config.engine;
        let permits = Arc::new(Semaphore::new(cfg.workers as usize));
        let wake = Arc::new(Notify::new());
        let (hard_stop, hard_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut store_failures = 0u32;
        // Leases of workers that died (another instance SIGKILLed, a lost
        // machine) are taken back while we run, not only at start: half a
        // lease after it ran out at the latest.
        let reclaim_every = (cfg.lease / 2).max(Duration::from_millis(100));
        let mut last_reclaim = Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_reclaim.elapsed() >= reclaim_every {
                last_reclaim = Instant::now();
                let poison_after = cfg.poison_after;
                match self
                    .call(move |s, now| s.reclaim_leases(false, poison_after, now))
                    .await
                {
                    Ok(r) => {
                        if r.requeued > 0 {
                            tracing::info!(
                                jobs = r.requeued,
                                "requeued jobs whose lease ran out (their worker stopped)"
                            );
                        }
                        for dead in &r.dead {
                            self.observer.reclaimed_dead(dead);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reclaim expired leases; trying again later")
                    }
                }
            }
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.changed() => break,
            };
            let req = ClaimRequest {
                owner: self.owner.clone(),
                lease: cfg.lease,
                global_limit: cfg.workers,
                only_runs: only_runs.clone(),
            };
            let idle = match self.call(move |s, now| s.claim_next_job(&req, now)).await {
                Ok(Some(job)) => {
                    store_failures = 0;
                    tasks.spawn(
                        self.clone()
                            .execute(job, permit, hard_rx.clone(), wake.clone()),
                    );
                    None
                }
                Ok(None) => {
                    store_failures = 0;
                    Some(cfg.poll_interval)
                }
                Err(e) => {
                    store_failures = store_failures.saturating_add(1);
                    tracing::warn!(error = %e, "cannot claim jobs; trying again");
                    // Doubling from one poll interval up to thirty.
                    let backoff =
                        Backoff::new(cfg.poll_interval, cfg.poll_interval.saturating_mul(30));
                    Some(backoff.delay(store_failures.saturating_sub(1)))
                }
            };
            while let Some(done) = tasks.try_join_next() {
                if let Err(e) = done {
                    // The stage itself is fenced in `execute`; this is a panic
                    // around it (committing, observing). The job's lease
                    // expires and it runs again.
                    match crate::fence::join_error(e) {
                        Ok(panic) => crate::fence::report(None, "a job's bookkeeping", &panic),
                        Err(e) => tracing::warn!(error = %e, "a job task was cancelled"),
                    }
                }
            }
            if let Some(wait) = idle {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wake.notified() => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        self.stop(tasks, hard_stop).await;
    }

    async fn stop(&self, mut tasks: JoinSet<()>, hard_stop: watch::Sender<bool>) {
        if tasks.is_empty() {
            return;
        }
        let grace = self.config.engine.shutdown_grace;
        tracing::info!(
            running = tasks.len(),
            grace_ms = grace.as_millis() as u64,
            "stopping: waiting for running jobs"
        );
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drain).await.is_ok() {
            return;
        }
        tracing::info!(
            running = tasks.len(),
            "grace period over: releasing running jobs to the queue"
        );
        let _ = hard_stop.send(true);
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .is_err()
        {
            tasks.abort_all();
        }
    }

    async fn execute(
        self: Arc<Self>,
        job: ClaimedJob,
        _permit: OwnedSemaphorePermit,
        mut hard: watch::Receiver<bool>,
        wake: Arc<Notify>,
    ) {
        let started = Instant::now();
        self.observer.started(&job);
        let outcome = match self.config.site(&job.site) {
            None => {
                let err = StageError::Permanent(format!(
                    "site \"{}\" is no longer in the config",
                    job.site
                ));
                self.finish(&job, Err(err)).await
            }
            Some(site) => {
                let ctx = StageContext {
                    job: job.clone(),
                    site: Arc::new(site.clone()),
                    config: self.config.clone(),
                    store: self.store.clone(),
                    clock: self.clock.clone(),
                };
                let runner = self.stages.get(job.stage).clone();
                let subject = format!("{}/{}", job.site, job.stage);
                // The stage's fence: a panic is this job's failure (retried,
                // then dead, with the panic message), not the daemon's.
                let work = crate::fence::catch_async(async move {
                    crate::fence::inject::point("stage", &subject);
                    runner.run(&ctx).await
                });
                tokio::pin!(work);
                let beat = self.config.engine.heartbeat;
                let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
                loop {
                    tokio::select! {
                        result = &mut work => {
                            let result = result.unwrap_or_else(|panic| {
                                let unit = format!("the {} stage of job {} (run {})", job.stage, job.id, job.run_id);
                                crate::fence::report(Some(&job.site), &unit, &panic);
                                Err(StageError::Retryable(format!("the {} stage {panic}", job.stage)))
                            });
                            break self.finish(&job, result).await
                        }
                        _ = ticker.tick() => {
                            if !self.heartbeat(&job).await {
                                break JobOutcome::LeaseLost;
                            }
                        }
                        _ = hard.changed() => {
                            break self.release(&job).await;
                        }
                    }
                }
            }
        };
        self.observer.finished(&job, &outcome, started.elapsed());
        wake.notify_one();
    }

    /// Renews the lease. A database hiccup is not a lost lease: the lease is
    /// long enough to survive a missed beat.
    async fn heartbeat(&self, job: &ClaimedJob) -> bool {
        let (id, owner) = (job.id, self.owner.clone());
        let lease =
            chrono::Duration::from_std(self.config.engine.lease).unwrap_or(chrono::Duration::MAX);
        match self
            .call(move |s, now| s.heartbeat_job(id, &owner, now + lease))
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "heartbeat failed; will try again");
                true
            }
        }
    }

    async fn release(&self, job: &ClaimedJob) -> JobOutcome {
        let (id, owner) = (job.id, self.owner.clone());
        match self
            .call(move |s, now| s.release_job(id, &owner, now))
            .await
        {
            Ok(()) => JobOutcome::Released,
            Err(StoreError::LeaseLost { .. }) => JobOutcome::LeaseLost,
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "could not release; the lease will expire instead");
                JobOutcome::Released
            }
        }
    }

    async fn finish(
        &self,
        job: &ClaimedJob,
        result: Result<StageOutput, StageError>,
    ) -> JobOutcome {
        let failure = match result {
            Ok(output) => match self.commit(job, output).await {
                Ok(summary) => return JobOutcome::Succeeded { summary },
                Err(StoreError::LeaseLost { .. }) => return JobOutcome::LeaseLost,
                // The work is lost but not the job: it goes back to the queue.
                Err(e) if e.is_transient() => return self.release(job).await,
                Err(e) => JobFailure::Permanent {
                    error: format!("could not store the {} result: {e}", job.stage),
                },
            },
            Err(e) => e.into_failure(),
        };
        let error = match &failure {
            JobFailure::Retryable { error, .. } | JobFailure::Permanent { error } => error.clone(),
            JobFailure::Deferred { reason, .. } => reason.clone(),
        };
        let (j, owner, policy) = (job.clone(), self.owner.clone(), self.policy());
        match self
            .call(move |s, now| s.fail_job(&j, &owner, &failure, &policy, now))
            .await
        {
            Ok(status) => JobOutcome::Failed { error, status },
            Err(StoreError::LeaseLost { .. }) => JobOutcome::LeaseLost,
            Err(e) => {
                tracing::error!(job = %job.id, error = %e, "could not record the failure; the lease will expire and the job will run again");
                JobOutcome::Failed {
                    error,
                    status: JobStatus::Running,
                }
            }
        }
    }

    /// Commits the output, retrying while the database is busy (six tries,
    /// 50 ms to 1.6 s apart: about 3 s in all).
    async fn commit(&self, job: &ClaimedJob, output: StageOutput) -> StoreResult<String> {
        let summary = output.summary();
        let output = Arc::new(output);
        for delay in COMMIT_BACKOFF.delays(6) {
            let (j, owner, out) = (job.clone(), self.owner.clone(), output.clone());
            match self
                .call(move |s, now| s.complete_job(&j, &owner, &out, now))
                .await
            {
                Err(e) if e.is_transient() => {
                    tracing::warn!(job = %job.id, error = %e, "database busy while committing; retrying");
                    tokio::time::sleep(delay).await;
                }
                Ok(()) if job.stage == crate::domain::lifecycle::Stage::Topics => {
                    // The commit may have passed over a topic another run
                    // took meanwhile: the stored summary names the one kept.
                    let id = job.id;
                    let stored = self.call(move |s, _| s.get_job(id)).await;
                    return Ok(stored
                        .ok()
                        .and_then(|j| j.result_summary)
                        .unwrap_or(summary));
                }
                other => return other.map(|()| summary),
            }
        }
        Err(StoreError::Unavailable(
            "database stayed busy while committing".into(),
        ))
    }
}
