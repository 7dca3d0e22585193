//! /metrics: the counters kept in this process (HTTP requests, refusals,
//! stage durations) live in [`Registry`], with label sets fixed by type;
//! [`exposition`] writes them and the figures read from the database at
//! scrape time (so every instance sharing a database reports the same
//! totals for the stored figures).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::lifecycle::JobOutcome;
use crate::pipeline::engine::Observer;
use crate::store::ClaimedJob;

mod exposition;

pub use exposition::render;

/// Upper bounds (seconds) of the stage duration buckets.
pub const STAGE_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Upper bounds (seconds) of the HTTP duration buckets.
pub const HTTP_BUCKETS: [f64; 8] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, b) in bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }
}

/// The `method` label: the methods the routes use, anything else `other`
/// (a client chooses the method: kept as sent, it would grow the registry
/// without bound).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The `code` label: a status the server sends, or `other`.
fn code_label(status: u16) -> u16 {
    if (100..600).contains(&status) {
        status
    } else {
        0
    }
}

/// Why a request was refused before its handler ran (401/403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthRefusal {
    /// No token where one is needed.
    Missing,
    /// A token that is unknown or revoked.
    Unknown,
    /// A viewer token on a write.
    Forbidden,
}

impl AuthRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthRefusal::Missing => "missing_token",
            AuthRefusal::Unknown => "unknown_token",
            AuthRefusal::Forbidden => "forbidden",
        }
    }
}

/// In-process metrics. Every label comes from a fixed set: route patterns
/// of the route table, [`method_label`], status codes and `&'static`
/// codes, so nothing a client sends can add a series.
#[derive(Debug, Default)]
pub struct Registry {
    http: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    http_duration: Mutex<BTreeMap<&'static str, Histogram>>,
    stages: Mutex<BTreeMap<(String, &'static str), Histogram>>,
    /// Answers the front gave itself, by error code and status.
    refused: Mutex<BTreeMap<(&'static str, u16), u64>>,
    auth_refused: Mutex<BTreeMap<(&'static str, AuthRefusal), u64>>,
    /// Client connections open now (the front keeps it current).
    pub connections_open: AtomicU64,
    /// Connections closed to make room for a newcomer.
    pub evictions: AtomicU64,
}

impl Registry {
    /// `route` is a pattern of the route table or "unmatched".
    pub fn observe_http(&self, route: &'static str, method: &str, status: u16, took: Duration) {
        *self
            .http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route, method_label(method), code_label(status)))
            .or_default() += 1;
        self.http_duration
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route)
            .or_default()
            .observe(&HTTP_BUCKETS, took.as_secs_f64());
    }

    /// An answer of the front's own (408, 413, 431, 503…).
    pub fn observe_refusal(&self, code: &'static str, status: u16) {
        *self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((code, code_label(status)))
            .or_default() += 1;
    }

    pub fn observe_auth_refusal(&self, route: &'static str, why: AuthRefusal) {
        *self
            .auth_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route, why))
            .or_default() += 1;
    }

    pub fn observe_stage(&self, stage: &str, outcome: &'static str, took: Duration) {
        self.stages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((stage.to_string(), outcome))
            .or_default()
            .observe(&STAGE_BUCKETS, took.as_secs_f64());
    }
}

/// Feeds stage durations into the registry, then passes on to `inner`.
pub struct MetricsObserver {
    pub registry: Arc<Registry>,
    pub inner: Arc<dyn Observer>,
}

impl Observer for MetricsObserver {
    fn started(&self, job: &ClaimedJob) {
        self.inner.started(job);
    }

    fn finished(&self, job: &ClaimedJob, outcome: &JobOutcome, elapsed: Duration) {
        let label = match outcome {
            JobOutcome::Succeeded { .. } => "succeeded",
            JobOutcome::Failed { .. } => "failed",
            JobOutcome::Released => "released",
            JobOutcome::LeaseLost => "lease_lost",
        };
        self.registry
            .observe_stage(job.stage.as_str(), label, elapsed);
        self.inner.finished(job, outcome, elapsed);
    }

    fn reclaimed_dead(&self, job: &crate::store::DeadJob) {
        self.inner.reclaimed_dead(job);
    }
}
