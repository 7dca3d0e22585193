//! The job, run and article lifecycles as pure state machines:
//! `(state, event) -> (state, effects)`, no IO, no clock. Every store backend
//! applies its writes through these functions, so SQLite and PostgreSQL
//! cannot disagree about what a failure or an expired lease means.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type Timestamp = DateTime<Utc>;

/// The stages of one run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Monitor,
    Topics,
    Generate,
    Check,
    Publish,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Monitor,
        Stage::Topics,
        Stage::Generate,
        Stage::Check,
        Stage::Publish,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Monitor => "monitor",
            Stage::Topics => "topics",
            Stage::Generate => "generate",
            Stage::Check => "check",
            Stage::Publish => "publish",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The stage after this one in the chain.
    pub fn following(self) -> Option<Stage> {
        match self {
            Stage::Monitor => Some(Stage::Topics),
            Stage::Topics => Some(Stage::Generate),
            Stage::Generate => Some(Stage::Check),
            Stage::Check => Some(Stage::Publish),
            Stage::Publish => None,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Where a job is in its life. `Waiting` is `Queued` held back for a
    /// visible reason that is not a failure (a cost cap, say).
    JobStatus {
        Queued => "queued",
        Waiting => "waiting",
        Running => "running",
        Succeeded => "succeeded",
        Dead => "dead",
        Cancelled => "cancelled",
    }
);

impl JobStatus {
    /// No further work happens without an operator.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Dead | JobStatus::Cancelled
        )
    }
}

string_enum!(
    /// Why a job waits, which decides what may wake it early: a cap wait
    /// ends when the caps change (a raised cap, a restart with another
    /// config); a provider wait (Retry-After, a cooldown) and a target wait
    /// (the site's rate limit, WordPress's Retry-After) only when their time
    /// is up — a restart must not hand a rate-limiting server a fresh burst.
    WaitKind {
        Cap => "cap",
        Provider => "provider",
        Target => "target",
    }
);

string_enum!(
    RunStatus {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

string_enum!(
    /// An article from draft to the web.
    ArticleStatus {
        Draft => "draft",
        Review => "review",
        Approved => "approved",
        Rejected => "rejected",
        Published => "published",
    }
);

/// How failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
}

/// Delay before retry number `attempts` (1 = after the first failure):
/// `base · 2^(attempts-1)`, capped at `max`, then "equal jitter" — half fixed,
/// half scaled by `jitter` in [0, 1) — so retries of many jobs spread out.
pub fn retry_delay(policy: &RetryPolicy, attempts: u32, jitter: f64) -> Duration {
    super::backoff::Backoff::new(policy.base, policy.max)
        .jittered(attempts.saturating_sub(1), jitter)
}

/// The parts of a job row the lifecycle decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub not_before: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// A worker takes the job.
    Claim {
        now: Timestamp,
    },
    /// The stage finished and its output is committed; `next` is the stage to
    /// queue next, or `None` when the run ends here.
    Succeed {
        next: Option<Stage>,
    },
    /// The stage failed; `retryable` comes from the error's class.
    Fail {
        retryable: bool,
        now: Timestamp,
        jitter: f64,
    },
    /// Not a failure: the job must wait (a cost cap) until `until`.
    Defer {
        until: Timestamp,
    },
    /// The worker holding the lease vanished (crash, kill -9).
    /// `died_in_a_row` counts the attempts, this one included, that started
    /// and never ended because the process died while holding the lease;
    /// at `poison_after` the job is a poison pill (see [`is_poison_pill`]).
    LeaseExpired {
        now: Timestamp,
        died_in_a_row: u32,
        poison_after: u32,
    },
    /// The worker gives the job back on shutdown; no attempt is charged.
    Release {
        now: Timestamp,
    },
    /// An operator revives a dead or cancelled job.
    OperatorRetry {
        now: Timestamp,
    },
    OperatorCancel,
}

impl JobEvent {
    pub fn name(&self) -> &'static str {
        match self {
            JobEvent::Claim { .. } => "claim",
            JobEvent::Succeed { .. } => "succeed",
            JobEvent::Fail { .. } => "fail",
            JobEvent::Defer { .. } => "defer",
            JobEvent::LeaseExpired { .. } => "lease-expired",
            JobEvent::Release { .. } => "release",
            JobEvent::OperatorRetry { .. } => "retry",
            JobEvent::OperatorCancel => "cancel",
        }
    }
}

/// What the store must do besides writing the job's new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    EnqueueStage(Stage),
    FinishRun(RunStatus),
    /// A dead or cancelled run gets going again.
    ReopenRun,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub state: JobState,
    pub effects: Vec<Effect>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {status} job cannot {event}")]
pub struct InvalidTransition {
    pub status: String,
    pub event: &'static str,
}

/// The job state machine.
pub fn job_transition(
    state: &JobState,
    event: &JobEvent,
    policy: &RetryPolicy,
) -> Result<Transition, InvalidTransition> {
    use JobStatus::*;
    let invalid = || InvalidTransition {
        status: state.status.to_string(),
        event: event.name(),
    };
    let to = |status: JobStatus, attempts: u32, not_before: Timestamp, effects: Vec<Effect>| {
        Transition {
            state: JobState {
                status,
                attempts,
                max_attempts: state.max_attempts,
                not_before,
            },
            effects,
        }
    };
    let out_of_attempts = state.attempts >= state.max_attempts;
    match (state.status, event) {
        (Queued | Waiting, JobEvent::Claim { now }) => {
            if *now < state.not_before {
                return Err(invalid());
            }
            Ok(to(Running, state.attempts + 1, state.not_before, vec![]))
        }
        (Running, JobEvent::Succeed { next }) => {
            let effect = match next {
                Some(stage) => Effect::EnqueueStage(*stage),
                None => Effect::FinishRun(RunStatus::Succeeded),
            };
            Ok(to(
                Succeeded,
                state.attempts,
                state.not_before,
                vec![effect],
            ))
        }
        (
            Running,
            JobEvent::Fail {
                retryable,
                now,
                jitter,
            },
        ) => {
            if *retryable && !out_of_attempts {
                let delay = retry_delay(policy, state.attempts, *jitter);
                let at = *now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                Ok(to(Queued, state.attempts, at, vec![]))
            } else {
                Ok(to(
                    Dead,
                    state.attempts,
                    state.not_before,
                    vec![Effect::FinishRun(RunStatus::Failed)],
                ))
            }
        }
        (Running, JobEvent::Defer { until }) => Ok(to(
            Waiting,
            state.attempts.saturating_sub(1),
            *until,
            vec![],
        )),
        (
            Running,
            JobEvent::LeaseExpired {
                now,
                died_in_a_row,
                poison_after,
            },
        ) => {
            if out_of_attempts || is_poison_pill(*died_in_a_row, *poison_after) {
                Ok(to(
                    Dead,
                    state.attempts,
                    state.not_before,
                    vec![Effect::FinishRun(RunStatus::Failed)],
                ))
            } else {
                Ok(to(Queued, state.attempts, *now, vec![]))
            }
        }
        (Running, JobEvent::Release { now }) => {
            Ok(to(Queued, state.attempts.saturating_sub(1), *now, vec![]))
        }
        (Dead | Cancelled, JobEvent::OperatorRetry { now }) => {
            Ok(to(Queued, 0, *now, vec![Effect::ReopenRun]))
        }
        (Queued | Waiting | Running, JobEvent::OperatorCancel) => Ok(to(
            Cancelled,
            state.attempts,
            state.not_before,
            vec![Effect::FinishRun(RunStatus::Cancelled)],
        )),
        _ => Err(invalid()),
    }
}

/// A job whose attempts killed the process `poison_after` times in a row
/// (the process died while holding its lease, each time) is quarantined as
/// dead instead of being claimed again: otherwise a crash that no fence can
/// catch (an abort, the OOM killer, a stack overflow) would restart the
/// daemon into the same job forever.
pub fn is_poison_pill(died_in_a_row: u32, poison_after: u32) -> bool {
    poison_after > 0 && died_in_a_row >= poison_after
}

/// How a finished stage steers its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on to the next stage.
    Continue,
    /// The run ends successfully here, with this outcome ("no new topic",
    /// "held for review", "rejected by checks", "published").
    Finish(String),
}

/// After `stage` succeeded with `verdict`, what happens to the run. `until`
/// is the last stage the operator asked for.
pub fn after_stage(
    stage: Stage,
    verdict: &Verdict,
    until: Option<Stage>,
) -> Result<Option<Stage>, String> {
    match verdict {
        Verdict::Finish(outcome) => Err(outcome.clone()),
        Verdict::Continue if until == Some(stage) => Err(format!("stopped after {stage} as asked")),
        Verdict::Continue => Ok(stage.following()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArticleEvent {
    /// The check stage's gate said publish.
    PassedChecks,
    /// The gate held it for a person.
    HeldForReview,
    /// The gate (or a person) turned it down.
    Reject,
    /// A person approved it.
    Approve,
    Published,
}

/// The article state machine. A person may approve a held or rejected
/// article and may reject anything not yet published.
pub fn article_transition(
    status: ArticleStatus,
    event: ArticleEvent,
) -> Result<ArticleStatus, InvalidTransition> {
    use ArticleEvent as E;
    use ArticleStatus::*;
    let next = match (status, event) {
        (Draft, E::PassedChecks) => Approved,
        (Draft, E::HeldForReview) => Review,
        (Draft | Review | Approved, E::Reject) => Rejected,
        (Review | Rejected, E::Approve) => Approved,
        (Approved, E::Published) => Published,
        _ => {
            return Err(InvalidTransition {
                status: status.to_string(),
                event: match event {
                    E::PassedChecks => "pass checks",
                    E::HeldForReview => "be held for review",
                    E::Reject => "be rejected",
                    E::Approve => "be approved",
                    E::Published => "be published",
                },
            });
        }
    };
    Ok(next)
}

/// How a job's turn on a worker ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Succeeded {
        summary: String,
    },
    /// Failed or deferred; `status` is where the job is now (queued for a
    /// retry, waiting, or dead).
    Failed {
        error: String,
        status: JobStatus,
    },
    /// Given back to the queue on shutdown.
    Released,
    /// The lease was taken away (expired or cancelled); nothing was committed.
    LeaseLost,
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
