//! The engine observer that raises the alerts job results mean (a dead
//! job, a reached cap, a failed publish): the alerts module decides which
//! alert an outcome is, the engine only reports outcomes.

use std::sync::Arc;
use std::time::Duration;

use crate::alerts::{Alerts, alert_for_dead, alert_for_outcome};
use crate::domain::lifecycle::JobOutcome;
use crate::pipeline::engine::Observer;
use crate::store::{ClaimedJob, DeadJob};

/// Passes every job event on to `inner` and raises the alerts they mean.
pub struct AlertObserver {
    pub inner: Arc<dyn Observer>,
    pub alerts: Alerts,
}

impl Observer for AlertObserver {
    fn started(&self, job: &ClaimedJob) {
        self.inner.started(job);
    }

    fn finished(&self, job: &ClaimedJob, outcome: &JobOutcome, elapsed: Duration) {
        self.inner.finished(job, outcome, elapsed);
        if let Some(alert) = alert_for_outcome(job, outcome) {
            self.alerts.raise(alert);
        }
    }

    fn reclaimed_dead(&self, job: &DeadJob) {
        self.inner.reclaimed_dead(job);
        self.alerts.raise(alert_for_dead(job));
    }
}
