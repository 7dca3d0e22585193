//! Alerts: things an operator must hear about without watching the status
//! page — a job dead after its retries, a cost cap reached, a source failing
//! for hours, a publish failure, a backup failure — sent by webhook (generic
//! JSON or Slack-compatible) and/or SMTP email, rate-limited per key and
//! globally ([`limiter`]).
//!
//! Anything can raise an alert through the cheap, cloneable [`Alerts`]
//! handle without waiting: it queues; one delivery task
//! ([`start`]) applies the limits and sends. The engine's alerts come through
//! `pipeline::alerting::AlertObserver`; failing sources from
//! [`watch_sources`]; backups call
//! [`Alerts::raise`] with [`Alert::BackupFailed`].

pub mod limiter;
pub mod smtp;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::AlertsConfig;
use crate::domain::lifecycle::{JobOutcome, JobStatus, Stage, Timestamp};
use crate::store::{ClaimedJob, DeadJob, SourceRecord, Store};

use limiter::{Decision, RateLimiter};

/// Something worth waking an operator for.
#[derive(Debug, Clone, PartialEq)]
pub enum Alert {
    /// A job failed and will not be retried (its attempts are spent, or the
    /// error cannot be helped by retrying).
    JobDead {
        site: String,
        stage: Stage,
        job: i64,
        run: i64,
        attempts: u32,
        error: String,
    },
    /// An LLM call was refused by a cost cap: the job waits.
    CapReached {
        site: String,
        stage: Stage,
        job: i64,
        message: String,
    },
    /// A source has failed every check for longer than `source_failing_after`.
    SourceFailing {
        site: String,
        url: String,
        since: Timestamp,
        failures: u32,
        error: Option<String>,
    },
    /// Publishing an article failed (`gave_up`: no more retries).
    PublishFailed {
        site: String,
        job: i64,
        run: i64,
        error: String,
        gave_up: bool,
    },
    /// A backup could not be made or uploaded.
    BackupFailed { error: String },
    /// `[update] mode` found a newer release (`staged`: handed to the
    /// update service to install).
    UpdateAvailable {
        current: String,
        latest: String,
        staged: bool,
    },
    /// An update failed its health check and was rolled back.
    UpdateFailed {
        from: String,
        to: String,
        error: String,
    },
    /// A unit of work (a source, a job's stage, a scheduler pass, a backup,
    /// a request) panicked; its fence contained it (see `fence`).
    Panic {
        site: Option<String>,
        unit: String,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl Alert {
    /// A stable machine name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Alert::JobDead { .. } => "job_dead",
            Alert::CapReached { .. } => "cap_reached",
            Alert::SourceFailing { .. } => "source_failing",
            Alert::PublishFailed { .. } => "publish_failed",
            Alert::BackupFailed { .. } => "backup_failed",
            Alert::UpdateAvailable { .. } => "update_available",
            Alert::UpdateFailed { .. } => "update_failed",
            Alert::Panic { .. } => "panic",
        }
    }

    /// What the rate limit is counted by: the same problem again is the same
    /// key; the same kind of problem elsewhere is not.
    pub fn key(&self) -> String {
        match self {
            Alert::JobDead { site, stage, .. } => format!("job_dead:{site}:{stage}"),
            Alert::CapReached { site, .. } => format!("cap_reached:{site}"),
            Alert::SourceFailing { site, url, .. } => format!("source_failing:{site}:{url}"),
            Alert::PublishFailed { site, .. } => format!("publish_failed:{site}"),
            Alert::BackupFailed { .. } => "backup_failed".into(),
            Alert::UpdateAvailable { latest, .. } => format!("update_available:{latest}"),
            Alert::UpdateFailed { to, .. } => format!("update_failed:{to}"),
            Alert::Panic { unit, .. } => format!("panic:{unit}"),
        }
    }

    /// The alert with every text field passed through [`crate::redact`]:
    /// errors quoted from servers may carry what they were sent.
    pub fn redacted(self) -> Alert {
        let r = |s: String| crate::redact::string(&s);
        match self {
            Alert::JobDead {
                site,
                stage,
                job,
                run,
                attempts,
                error,
            } => Alert::JobDead {
                site,
                stage,
                job,
                run,
                attempts,
                error: r(error),
            },
            Alert::CapReached {
                site,
                stage,
                job,
                message,
            } => Alert::CapReached {
                site,
                stage,
                job,
                message: r(message),
            },
            Alert::SourceFailing {
                site,
                url,
                since,
                failures,
                error,
            } => Alert::SourceFailing {
                site,
                url: r(url),
                since,
                failures,
                error: error.map(r),
            },
            Alert::PublishFailed {
                site,
                job,
                run,
                error,
                gave_up,
            } => Alert::PublishFailed {
                site,
                job,
                run,
                error: r(error),
                gave_up,
            },
            Alert::BackupFailed { error } => Alert::BackupFailed { error: r(error) },
            a @ Alert::UpdateAvailable { .. } => a,
            Alert::UpdateFailed { from, to, error } => Alert::UpdateFailed {
                from,
                to,
                error: r(error),
            },
            Alert::Panic {
                site,
                unit,
                message,
            } => Alert::Panic {
                site,
                unit: r(unit),
                message: r(message),
            },
        }
    }

    pub fn site(&self) -> Option<&str> {
        match self {
            Alert::JobDead { site, .. }
            | Alert::CapReached { site, .. }
            | Alert::SourceFailing { site, .. }
            | Alert::PublishFailed { site, .. } => Some(site),
            Alert::Panic { site, .. } => site.as_deref(),
            Alert::BackupFailed { .. }
            | Alert::UpdateAvailable { .. }
            | Alert::UpdateFailed { .. } => None,
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Alert::CapReached { .. }
            | Alert::SourceFailing { .. }
            | Alert::UpdateAvailable { .. } => Severity::Warning,
            Alert::PublishFailed { gave_up: false, .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// One line, for a subject or a chat message's first line.
    pub fn title(&self) -> String {
        match self {
            Alert::JobDead { site, stage, .. } => {
                format!("site {site}: the {stage} stage failed for good")
            }
            Alert::CapReached { site, .. } => format!("site {site}: a cost cap was reached"),
            Alert::SourceFailing { site, url, .. } => {
                format!("site {site}: source {url} keeps failing")
            }
            Alert::PublishFailed {
                site,
                gave_up: true,
                ..
            } => format!("site {site}: publishing failed for good"),
            Alert::PublishFailed { site, .. } => {
                format!("site {site}: publishing failed (will retry)")
            }
            Alert::BackupFailed { .. } => "backup failed".into(),
            Alert::UpdateAvailable { latest, .. } => {
                format!("blog-poster {latest} is available")
            }
            Alert::UpdateFailed { to, from, .. } => {
                format!("update to {to} failed; {from} is serving again")
            }
            Alert::Panic { unit, .. } => format!("a panic was contained: {unit} failed"),
        }
    }

    /// The details and what to do about them.
    pub fn message(&self) -> String {
        match self {
            Alert::JobDead {
                job,
                run,
                attempts,
                error,
                ..
            } => format!(
                "Job {job} (run {run}) is dead after {attempts} attempt(s): {error}\nFix the cause, then retry job {job} (TUI Runs tab, or POST /api/v1/jobs/{job}/retry)."
            ),
            Alert::CapReached { job, message, .. } => format!(
                "{message}\nJob {job} waits until the cap's window resets; raise the cap to continue sooner."
            ),
            Alert::SourceFailing {
                since,
                failures,
                error,
                ..
            } => format!(
                "Failing since {} ({failures} failed check(s) in a row). Last error: {}",
                since.format("%Y-%m-%d %H:%M UTC"),
                error.as_deref().unwrap_or("unknown")
            ),
            Alert::PublishFailed {
                job,
                run,
                error,
                gave_up,
                ..
            } => {
                let next = if *gave_up {
                    format!(
                        "Fix the cause, then retry job {job} (TUI Runs tab, or POST /api/v1/jobs/{job}/retry)."
                    )
                } else {
                    "It will be retried with backoff.".to_string()
                };
                format!("Job {job} (run {run}): {error}\n{next}")
            }
            Alert::BackupFailed { error } => {
                format!(
                    "{error}\nThe last good backup is older than planned; check the backup log and storage."
                )
            }
            Alert::UpdateAvailable {
                current,
                latest,
                staged,
            } => {
                if *staged {
                    format!(
                        "This server runs {current}. {latest} was downloaded and verified and is being installed by blog-poster-update.service (journalctl -u blog-poster-update)."
                    )
                } else {
                    format!(
                        "This server runs {current}. See what changed with `blog-poster self-update --check`; install with `sudo blog-poster self-update`."
                    )
                }
            }
            Alert::UpdateFailed { error, .. } => format!(
                "{error}\nThe previous version was put back. See journalctl -u blog-poster-update and docs/operations.md#rollback."
            ),
            Alert::Panic { unit, message, .. } => format!(
                "{unit} panicked: {message}\nOnly that unit failed and it was recorded; blog-poster keeps running. \
                 A panic is a bug: please report it with the log lines around \"panicked\"."
            ),
        }
    }
}

/// True for a deferral caused by a cost cap (the budget's refusal text),
/// not by an unavailable provider.
pub fn is_cap_refusal(reason: &str) -> bool {
    reason.contains(" cap") && reason.contains("would be crossed")
}

/// What the engine's job results mean for alerts, if anything.
pub fn alert_for_outcome(job: &ClaimedJob, outcome: &JobOutcome) -> Option<Alert> {
    let JobOutcome::Failed { error, status } = outcome else {
        return None;
    };
    match status {
        JobStatus::Waiting if is_cap_refusal(error) => Some(Alert::CapReached {
            site: job.site.clone(),
            stage: job.stage,
            job: job.id.0,
            message: error.clone(),
        }),
        JobStatus::Queued | JobStatus::Dead if job.stage == Stage::Publish => {
            Some(Alert::PublishFailed {
                site: job.site.clone(),
                job: job.id.0,
                run: job.run_id.0,
                error: error.clone(),
                gave_up: *status == JobStatus::Dead,
            })
        }
        JobStatus::Dead => Some(Alert::JobDead {
            site: job.site.clone(),
            stage: job.stage,
            job: job.id.0,
            run: job.run_id.0,
            attempts: job.attempts,
            error: error.clone(),
        }),
        _ => None,
    }
}

/// The alert for a job a reclaim left dead (out of attempts, or a poison
/// pill: the process died with it `engine.poison_after` times in a row).
pub fn alert_for_dead(job: &DeadJob) -> Alert {
    Alert::JobDead {
        site: job.site.clone(),
        stage: job.stage,
        job: job.id.0,
        run: job.run_id.0,
        attempts: job.attempts,
        error: job.error.clone(),
    }
}

/// A cheap handle that queues alerts for the delivery task. Raising never
/// blocks: when the queue is full (a storm the limiter would drop anyway)
/// the alert is logged and dropped.
#[derive(Clone)]
pub struct Alerts {
    tx: Option<mpsc::Sender<(Alert, Timestamp)>>,
    clock: Arc<dyn Clock>,
}

impl Alerts {
    /// A handle that only logs (no channel configured).
    pub fn disabled(clock: Arc<dyn Clock>) -> Self {
        Alerts { tx: None, clock }
    }

    pub fn raise(&self, alert: Alert) {
        let alert = alert.redacted();
        tracing::warn!(kind = alert.kind(), key = %alert.key(), "alert: {}", alert.title());
        let Some(tx) = &self.tx else { return };
        if let Err(e) = tx.try_send((alert, self.clock.now())) {
            tracing::warn!(error = %e, "alert queue full or closed; alert dropped");
        }
    }
}

/// Where delivered alerts go; the real one sends by webhook and SMTP.
pub struct Delivery {
    http: Option<reqwest::Client>,
    config: AlertsConfig,
}

impl Delivery {
    pub fn new(config: &AlertsConfig) -> Result<Self, crate::http::HttpError> {
        let http = match &config.webhook {
            Some(w) => Some(crate::http::client(&crate::http::HttpOptions {
                connect_timeout: w.timeout,
                timeout: w.timeout,
                max_redirects: 0,
                public_only: false,
            })?),
            None => None,
        };
        Ok(Delivery {
            http,
            config: config.clone(),
        })
    }

    /// Sends one alert to every configured channel; each failure is
    /// returned (and logged by the caller), none stops the others.
    pub async fn send(&self, alert: &Alert, at: Timestamp, suppressed: u64) -> Vec<String> {
        let alert = &alert.clone().redacted();
        let mut errors = Vec::new();
        if let (Some(w), Some(http)) = (&self.config.webhook, &self.http)
            && let Err(e) = webhook::send(http, w, alert, at, suppressed).await
        {
            errors.push(format!("webhook: {e}"));
        }
        if let Some(s) = &self.config.smtp
            && let Err(e) = smtp::send_alert(s, alert, at, suppressed).await
        {
            errors.push(format!("email: {e}"));
        }
        errors
    }
}

/// The running delivery task; [`AlertTask::drain`] stops it.
pub struct AlertTask {
    task: JoinHandle<()>,
    close: oneshot::Sender<()>,
}

impl AlertTask {
    /// Stops taking alerts and waits up to `grace` for the queued ones to
    /// go out (a stopping daemon should not swallow its last alerts).
    pub async fn drain(self, grace: Duration) {
        let _ = self.close.send(());
        if tokio::time::timeout(grace, self.task).await.is_err() {
            tracing::warn!("alerts still being delivered at exit were dropped");
        }
    }
}

/// Starts the delivery task (none when no channel is configured).
pub fn start(
    config: &AlertsConfig,
    clock: Arc<dyn Clock>,
) -> Result<(Alerts, Option<AlertTask>), crate::http::HttpError> {
    if !config.enabled() {
        return Ok((Alerts::disabled(clock), None));
    }
    let delivery = Delivery::new(config)?;
    let (tx, mut rx) = mpsc::channel::<(Alert, Timestamp)>(256);
    let (close, mut closed) = oneshot::channel::<()>();
    let mut limiter = RateLimiter::new(config.min_interval, config.max_per_hour);
    let task = tokio::spawn(async move {
        let mut closing = false;
        loop {
            let next = if closing {
                rx.recv().await
            } else {
                tokio::select! {
                    m = rx.recv() => m,
                    _ = &mut closed => {
                        // Take nothing new; what is queued still goes out.
                        rx.close();
                        closing = true;
                        continue;
                    }
                }
            };
            let Some((alert, at)) = next else { break };
            match limiter.decide(&alert.key(), at) {
                Decision::Send { suppressed } => {
                    for e in delivery.send(&alert, at, suppressed).await {
                        tracing::error!(kind = alert.kind(), "alert not delivered: {e}");
                    }
                }
                Decision::RepeatedKey => {
                    tracing::debug!(key = %alert.key(), "alert held back: sent recently")
                }
                Decision::GlobalLimit => {
                    tracing::info!(key = %alert.key(), "alert held back: hourly maximum reached")
                }
            }
        }
    });
    Ok((
        Alerts {
            tx: Some(tx),
            clock,
        },
        Some(AlertTask { task, close }),
    ))
}

/// The `config check` line: where alerts go (secrets redacted) and the limits.
pub fn describe(config: &AlertsConfig) -> String {
    use crate::config::units::format_duration;
    let mut channels = Vec::new();
    if let Some(w) = &config.webhook {
        let format = match w.format {
            crate::config::WebhookFormat::Json => "json",
            crate::config::WebhookFormat::Slack => "slack",
        };
        channels.push(format!(
            "webhook ({format}, URL from {}, redacted)",
            w.url.origin()
        ));
    }
    if let Some(s) = &config.smtp {
        let login = match (&s.username, &s.password) {
            (Some(u), Some(p)) => format!(", login {u}, password from {}, redacted", p.origin()),
            _ => String::new(),
        };
        channels.push(format!(
            "email via {}:{} ({}{login}) to {}",
            s.host,
            s.port,
            s.tls.as_str(),
            s.to.join(", ")
        ));
    }
    if channels.is_empty() {
        return "alerts: none configured (log only); add [alerts] webhook_url_env or [alerts.smtp]\n".into();
    }
    format!(
        "alerts: {}; one per problem per {}, at most {}/hour; sources alert after failing {}\n",
        channels.join(" and "),
        format_duration(config.min_interval),
        config.max_per_hour,
        format_duration(config.source_failing_after)
    )
}

/// Sends one alert now, without the rate limiter: for one-shot commands
/// (a backup run by a timer) that exit right after.
pub async fn send_now(config: &AlertsConfig, alert: &Alert, at: Timestamp) -> Vec<String> {
    if !config.enabled() {
        return vec![];
    }
    match Delivery::new(config) {
        Ok(d) => d.send(alert, at, 0).await,
        Err(e) => vec![e.to_string()],
    }
}

/// Sources failing for longer than `after`. A source's failing streak is
/// dated from when this process first saw it failing (`first_seen`, kept by
/// the caller): the store keeps the last success, which can predate the
/// first failure by a whole check interval. Recovered sources are forgotten.
pub fn failing_sources(
    sources: &[SourceRecord],
    first_seen: &mut HashMap<i64, Timestamp>,
    now: Timestamp,
    after: Duration,
) -> Vec<Alert> {
    let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::hours(6));
    first_seen.retain(|id, _| {
        sources
            .iter()
            .any(|s| s.id == *id && s.consecutive_failures > 0)
    });
    let mut alerts = Vec::new();
    for s in sources.iter().filter(|s| s.consecutive_failures > 0) {
        let since = *first_seen.entry(s.id).or_insert(now);
        if now - since >= after {
            alerts.push(Alert::SourceFailing {
                site: s.site.clone(),
                url: s.url.clone(),
                since,
                failures: s.consecutive_failures,
                error: s.last_error.clone(),
            });
        }
    }
    alerts
}

/// Looks at every source each `check_interval` until `shutdown` and raises
/// [`Alert::SourceFailing`] for those failing too long.
pub async fn watch_sources(
    store: Arc<dyn Store>,
    config: AlertsConfig,
    clock: Arc<dyn Clock>,
    alerts: Alerts,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut first_seen = HashMap::new();
    loop {
        let s = store.clone();
        let sources = tokio::task::spawn_blocking(move || -> Result<Vec<SourceRecord>, String> {
            let mut all = Vec::new();
            for site in s.list_sites().map_err(|e| e.to_string())? {
                all.extend(s.list_sources(&site.name).map_err(|e| e.to_string())?);
            }
            Ok(all)
        })
        .await;
        match sources {
            Ok(Ok(sources)) => {
                for a in failing_sources(
                    &sources,
                    &mut first_seen,
                    clock.now(),
                    config.source_failing_after,
                ) {
                    alerts.raise(a);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "source health check failed"),
            Err(e) => tracing::warn!(error = %e, "source health check task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(config.check_interval) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
