//! `run --once`: one run per chosen site through the same engine the daemon
//! uses, in the foreground, with a line per stage and a summary at the end.
//! Work that cannot finish soon (a retry far off, a job waiting for a cost
//! cap) stays queued for `serve` and the summary says so.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::daemon::DaemonError;
use crate::domain::lifecycle::JobOutcome;
use crate::domain::lifecycle::{JobStatus, RunStatus, Stage};
use crate::pipeline::engine::{Engine, Observer, owner_id};
use crate::pipeline::stage::StageSet;
use crate::pipeline::workspace::{Workspace, open_for_work};
use crate::store::{ClaimedJob, JobRecord, NewRun, RunId, RunRecord, RunTrigger, Store};

#[derive(Debug, Clone)]
pub struct OnceOptions {
    /// Only this site; all enabled sites when `None`.
    pub site: Option<String>,
    /// Stop each run after this stage.
    pub until: Option<Stage>,
    /// Wait at most this long for a job that is not due yet.
    pub max_wait: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    /// The request itself is wrong (unknown or disabled site).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// Each run with its jobs, as it ended.
#[derive(Debug)]
pub struct OnceSummary {
    pub runs: Vec<(RunRecord, Vec<JobRecord>)>,
    pub interrupted: bool,
}

impl OnceSummary {
    pub fn all_succeeded(&self) -> bool {
        self.runs
            .iter()
            .all(|(r, _)| r.status != RunStatus::Failed && r.status != RunStatus::Cancelled)
    }
}

/// Prints one line per stage start and end.
pub struct ProgressPrinter<W: Write + Send> {
    out: Mutex<W>,
    /// Called when a line cannot be written (the reader of a pipe went
    /// away): the CLI stops the run there, as it does on Ctrl-C.
    on_write_error: Option<Box<dyn Fn() + Send + Sync>>,
}

impl<W: Write + Send> ProgressPrinter<W> {
    pub fn new(out: W) -> Self {
        ProgressPrinter {
            out: Mutex::new(out),
            on_write_error: None,
        }
    }

    /// Calls `f` whenever a line cannot be written.
    pub fn on_write_error(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_write_error = Some(Box::new(f));
        self
    }

    fn line(&self, text: String) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let written = writeln!(out, "{text}").and_then(|()| out.flush());
        if written.is_err()
            && let Some(f) = &self.on_write_error
        {
            f();
        }
    }
}

impl<W: Write + Send> Observer for ProgressPrinter<W> {
    fn started(&self, job: &ClaimedJob) {
        let attempt = if job.attempts > 1 {
            format!(" (attempt {}/{})", job.attempts, job.max_attempts)
        } else {
            String::new()
        };
        self.line(format!(
            "[{}] run {} · {} …{attempt}",
            job.site, job.run_id, job.stage
        ));
    }

    fn finished(&self, job: &ClaimedJob, outcome: &JobOutcome, elapsed: Duration) {
        let ms = elapsed.as_millis();
        let text = match outcome {
            JobOutcome::Succeeded { summary } => format!(
                "[{}] run {} · {} ✓ {ms} ms — {summary}",
                job.site, job.run_id, job.stage
            ),
            JobOutcome::Failed { error, status } => {
                let what = match status {
                    JobStatus::Dead => "failed for good".to_string(),
                    JobStatus::Waiting => "waiting".to_string(),
                    JobStatus::Queued => "failed, will retry".to_string(),
                    other => other.to_string(),
                };
                format!(
                    "[{}] run {} · {} ✗ {what}: {error}",
                    job.site, job.run_id, job.stage
                )
            }
            JobOutcome::Released => format!(
                "[{}] run {} · {} released (stopping)",
                job.site, job.run_id, job.stage
            ),
            JobOutcome::LeaseLost => format!(
                "[{}] run {} · {} lost its lease",
                job.site, job.run_id, job.stage
            ),
        };
        self.line(text);
    }
}

/// Enqueues one run per chosen site and works them until they finish, or
/// until what is left is not due within `max_wait`, or until `interrupt`.
pub async fn run_once(
    config: Arc<Config>,
    stages: StageSet,
    clock: Arc<dyn Clock>,
    options: OnceOptions,
    observer: Arc<dyn Observer>,
    interrupt: watch::Receiver<bool>,
) -> Result<OnceSummary, OnceError> {
    let sites: Vec<String> = match &options.site {
        Some(name) => match config.site(name) {
            None => {
                let known: Vec<&str> = config.sites.iter().map(|s| s.name.as_str()).collect();
                return Err(OnceError::Usage(format!(
                    "no site \"{name}\" in {} (sites: {})",
                    config.source_label(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            Some(s) if !s.enabled => {
                return Err(OnceError::Usage(format!(
                    "site \"{name}\" is disabled (enabled = false in the config)"
                )));
            }
            Some(s) => vec![s.name.clone()],
        },
        None => config
            .sites
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.name.clone())
            .collect(),
    };
    if sites.is_empty() {
        return Err(OnceError::Usage(format!(
            "{} has no enabled site: add a [sites.NAME] table",
            config.source_label()
        )));
    }

    let (cfg, now) = (config.clone(), clock.now());
    let ws =
        tokio::task::spawn_blocking(move || open_for_work(&cfg, now).map_err(DaemonError::from))
            .await
            .map_err(|e| DaemonError::Io(format!("start-up task failed: {e}")))??;
    let store = ws.store.clone();

    let mut runs = Vec::new();
    for site in &sites {
        let run = NewRun {
            site: site.clone(),
            trigger: RunTrigger::Once,
            slot_key: None,
            first_stage: Stage::Monitor,
            until: options.until,
            max_attempts: config.engine.max_attempts,
        };
        let (s, now) = (store.clone(), clock.now());
        let id = tokio::task::spawn_blocking(move || s.enqueue_run(&run, now))
            .await
            .map_err(|e| DaemonError::Io(e.to_string()))?
            .map_err(DaemonError::Store)?
            .run_id();
        runs.push(id);
    }
    work_runs(
        ws,
        config,
        stages,
        clock,
        runs,
        observer,
        interrupt,
        options.max_wait,
    )
    .await
}

/// Works the given runs in the foreground (this process holds the
/// database through `ws`) until they finish, or until what is left is not
/// due within `max_wait`, or until `interrupt`. Shared by `run --once` and
/// `article approve|publish`.
#[allow(clippy::too_many_arguments)] // each is a distinct dependency of the foreground engine
pub async fn work_runs(
    ws: Workspace,
    config: Arc<Config>,
    stages: StageSet,
    clock: Arc<dyn Clock>,
    runs: Vec<RunId>,
    observer: Arc<dyn Observer>,
    mut interrupt: watch::Receiver<bool>,
    max_wait: Duration,
) -> Result<OnceSummary, OnceError> {
    let store = ws.store.clone();
    let engine = Arc::new(Engine {
        store: store.clone(),
        stages,
        config: config.clone(),
        clock: clock.clone(),
        owner: owner_id(),
        observer,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(engine.run(stop_rx, Some(runs.clone())));
    let mut interrupted = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = interrupt.changed() => { interrupted = true; }
        }
        if interrupted {
            break;
        }
        // Off the async workers: the store is blocking (the PostgreSQL
        // client panics if called on a runtime thread).
        let (s, r, c) = (store.clone(), runs.clone(), clock.clone());
        let done = tokio::task::spawn_blocking(move || {
            finished_or_parked(s.as_ref(), &r, c.as_ref(), max_wait)
        })
        .await
        .map_err(|e| DaemonError::Io(e.to_string()))??;
        if done {
            break;
        }
    }
    let _ = stop_tx.send(true);
    let _ = worker.await;

    let mut out = Vec::new();
    for id in runs {
        let s = store.clone();
        let pair = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::store::StoreError>((s.get_run(id)?, s.list_jobs(Some(id), None, 100)?))
        })
        .await
        .map_err(|e| DaemonError::Io(e.to_string()))?
        .map_err(DaemonError::Store)?;
        out.push(pair);
    }
    Ok(OnceSummary {
        runs: out,
        interrupted,
    })
}

/// True when every run is finished, or when nothing is running and every
/// remaining job is due later than `max_wait` from now (parked for `serve`).
fn finished_or_parked(
    store: &dyn Store,
    runs: &[crate::store::RunId],
    clock: &dyn Clock,
    max_wait: Duration,
) -> Result<bool, DaemonError> {
    let horizon =
        clock.now() + chrono::Duration::from_std(max_wait).unwrap_or(chrono::Duration::MAX);
    for id in runs {
        let run = store.get_run(*id).map_err(DaemonError::Store)?;
        if run.status != RunStatus::Running {
            continue;
        }
        for job in store
            .list_jobs(Some(*id), None, 100)
            .map_err(DaemonError::Store)?
        {
            match job.status {
                JobStatus::Running => return Ok(false),
                JobStatus::Queued | JobStatus::Waiting if job.not_before <= horizon => {
                    return Ok(false);
                }
                _ => {}
            }
        }
    }
    Ok(true)
}

/// The summary table printed at the end.
pub fn render_summary(summary: &OnceSummary) -> String {
    let mut out = String::from("\nSummary\n");
    for (run, jobs) in &summary.runs {
        let state = match (run.status, &run.outcome, &run.error) {
            (RunStatus::Succeeded, Some(o), _) => format!("succeeded: {o}"),
            (RunStatus::Failed, _, Some(e)) => format!("FAILED: {e}"),
            (RunStatus::Running, _, _) => {
                let pending: Vec<String> = jobs
                    .iter()
                    .filter(|j| matches!(j.status, JobStatus::Queued | JobStatus::Waiting))
                    .map(|j| match &j.wait_reason {
                        Some(reason) => format!(
                            "{} waits until {} ({reason})",
                            j.stage,
                            j.not_before.format("%Y-%m-%d %H:%M UTC")
                        ),
                        None => format!(
                            "{} retries at {}",
                            j.stage,
                            j.not_before.format("%Y-%m-%d %H:%M:%S UTC")
                        ),
                    })
                    .collect();
                format!(
                    "not finished: {}; `serve` will carry on",
                    pending.join(", ")
                )
            }
            (status, _, _) => status.to_string(),
        };
        out.push_str(&format!("  {} run {}: {state}\n", run.site, run.id));
        for j in jobs.iter().rev() {
            let detail = j
                .result_summary
                .as_deref()
                .or(j.last_error.as_deref())
                .unwrap_or("");
            out.push_str(&format!(
                "    {:<8} {:<9} attempts {}/{}  {detail}\n",
                j.stage.as_str(),
                j.status.as_str(),
                j.attempts,
                j.max_attempts
            ));
        }
    }
    if summary.interrupted {
        out.push_str("  interrupted: unfinished jobs went back to the queue\n");
    }
    out
}
