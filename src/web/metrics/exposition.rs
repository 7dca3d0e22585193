//! The /metrics text: the Prometheus text format (0.0.4) written by hand —
//! families, samples, label escaping, histograms — and [`render`], which
//! reads the stored figures from the database at scrape time and adds this
//! process's counters from the [`Registry`](super::Registry). Why not the
//! prometheus-client crate: docs/architecture.md, "Infrastructure".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::{HTTP_BUCKETS, Histogram, STAGE_BUCKETS};
use crate::domain::lifecycle::JobStatus;
use crate::web::WebState;
use crate::web::reply::ApiError;
use crate::web::views::effective_caps;

/// Escapes a label value: backslash, double quote and newline.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn usd(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", fmt_value(value));
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], bounds: &[f64], h: &Histogram) {
        for (i, b) in bounds.iter().enumerate() {
            let le = fmt_value(*b);
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(
                &format!("{name}_bucket"),
                &l,
                h.counts.get(i).copied().unwrap_or(0) as f64,
            );
        }
        let mut l = labels.to_vec();
        l.push(("le", "+Inf"));
        self.sample(&format!("{name}_bucket"), &l, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The whole exposition.
pub fn render(state: &WebState) -> Result<String, ApiError> {
    let store = &state.store;
    let now = state.clock.now();
    let snap = store.metrics_snapshot()?;
    let jobs = store.job_counts()?;
    let report = store.spend_report(now)?;
    let overrides = store.cap_overrides()?;
    let sites = store.list_sites()?;
    let mut o = Out(String::with_capacity(8192));

    o.family("blog_poster_build_info", "gauge", "The running version.");
    o.sample(
        "blog_poster_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    o.family(
        "blog_poster_panics_contained_total",
        "counter",
        "Panics a fence contained since start: each cost one source, job stage, scheduler pass, backup or request.",
    );
    o.sample(
        "blog_poster_panics_contained_total",
        &[],
        crate::fence::contained_panics() as f64,
    );

    o.family(
        "blog_poster_runs",
        "gauge",
        "Runs stored in the database, by status.",
    );
    for (status, n) in &snap.runs_by_status {
        o.sample("blog_poster_runs", &[("status", status)], *n as f64);
    }

    o.family(
        "blog_poster_jobs",
        "gauge",
        "Jobs in the durable queue, by state.",
    );
    for st in JobStatus::ALL {
        o.sample(
            "blog_poster_jobs",
            &[("state", st.as_str())],
            jobs.get(st).copied().unwrap_or(0) as f64,
        );
    }

    o.family(
        "blog_poster_stage_duration_seconds",
        "histogram",
        "How long stage attempts took in this process, by stage and outcome.",
    );
    {
        let stages = state
            .metrics
            .stages
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for ((stage, outcome), h) in stages.iter() {
            o.histogram(
                "blog_poster_stage_duration_seconds",
                &[("stage", stage), ("outcome", outcome)],
                &STAGE_BUCKETS,
                h,
            );
        }
    }

    o.family(
        "blog_poster_llm_calls_total",
        "counter",
        "LLM calls made, by provider, model and outcome.",
    );
    for l in &snap.llm {
        o.sample(
            "blog_poster_llm_calls_total",
            &[
                ("provider", &l.provider),
                ("model", &l.model),
                ("outcome", &l.outcome),
            ],
            l.calls as f64,
        );
    }
    let mut per_model: BTreeMap<(&str, &str), (u64, u64, i64)> = BTreeMap::new();
    for l in &snap.llm {
        let e = per_model.entry((&l.provider, &l.model)).or_default();
        e.0 += l.input_tokens;
        e.1 += l.output_tokens;
        e.2 = e.2.saturating_add(l.cost.micros());
    }
    o.family(
        "blog_poster_llm_tokens_total",
        "counter",
        "LLM tokens used, by provider, model and direction.",
    );
    for ((p, m), (i, out, _)) in &per_model {
        o.sample(
            "blog_poster_llm_tokens_total",
            &[("provider", p), ("model", m), ("direction", "input")],
            *i as f64,
        );
        o.sample(
            "blog_poster_llm_tokens_total",
            &[("provider", p), ("model", m), ("direction", "output")],
            *out as f64,
        );
    }
    o.family(
        "blog_poster_llm_cost_usd_total",
        "counter",
        "Settled LLM cost in US dollars, by provider and model.",
    );
    for ((p, m), (_, _, c)) in &per_model {
        o.sample(
            "blog_poster_llm_cost_usd_total",
            &[("provider", p), ("model", m)],
            usd(*c),
        );
    }

    o.family(
        "blog_poster_spend_usd",
        "gauge",
        "Spend counted against the caps (settled plus reserved) in the current UTC day or month.",
    );
    o.sample(
        "blog_poster_spend_usd",
        &[("scope", "global"), ("site", ""), ("window", "day")],
        usd(report.global_today.total().micros()),
    );
    o.sample(
        "blog_poster_spend_usd",
        &[("scope", "global"), ("site", ""), ("window", "month")],
        usd(report.global_month.total().micros()),
    );
    for s in &report.sites {
        o.sample(
            "blog_poster_spend_usd",
            &[("scope", "site"), ("site", &s.site), ("window", "day")],
            usd(s.today.total().micros()),
        );
        o.sample(
            "blog_poster_spend_usd",
            &[("scope", "site"), ("site", &s.site), ("window", "month")],
            usd(s.month.total().micros()),
        );
    }
    o.family(
        "blog_poster_cap_usd",
        "gauge",
        "Cost caps in force (config plus overrides); absent when uncapped.",
    );
    let global = effective_caps(state, &overrides, None);
    if let Some(c) = global.global_daily {
        o.sample(
            "blog_poster_cap_usd",
            &[("scope", "global"), ("site", ""), ("window", "day")],
            usd(c.micros()),
        );
    }
    if let Some(c) = global.global_monthly {
        o.sample(
            "blog_poster_cap_usd",
            &[("scope", "global"), ("site", ""), ("window", "month")],
            usd(c.micros()),
        );
    }
    for site in &sites {
        let caps = effective_caps(state, &overrides, Some(&site.name));
        if let Some(c) = caps.site_daily {
            o.sample(
                "blog_poster_cap_usd",
                &[("scope", "site"), ("site", &site.name), ("window", "day")],
                usd(c.micros()),
            );
        }
        if let Some(c) = caps.site_monthly {
            o.sample(
                "blog_poster_cap_usd",
                &[("scope", "site"), ("site", &site.name), ("window", "month")],
                usd(c.micros()),
            );
        }
    }

    o.family(
        "blog_poster_sources",
        "gauge",
        "Sources registered, by site.",
    );
    for (site, n) in &snap.sources_total {
        o.sample("blog_poster_sources", &[("site", site)], *n as f64);
    }
    o.family(
        "blog_poster_sources_failing",
        "gauge",
        "Sources whose last check failed, by site.",
    );
    for (site, _) in &snap.sources_total {
        let n = snap
            .sources_failing
            .iter()
            .find(|(s, _)| s == site)
            .map_or(0, |(_, n)| *n);
        o.sample("blog_poster_sources_failing", &[("site", site)], n as f64);
    }

    o.family(
        "blog_poster_publish_ledger",
        "gauge",
        "Publish ledger entries, by outcome.",
    );
    for (status, n) in &snap.publish_by_status {
        o.sample(
            "blog_poster_publish_ledger",
            &[("status", status)],
            *n as f64,
        );
    }

    o.family(
        "blog_poster_sites_paused",
        "gauge",
        "Sites paused by an operator.",
    );
    o.sample(
        "blog_poster_sites_paused",
        &[],
        sites.iter().filter(|s| s.paused).count() as f64,
    );

    let tick = state
        .scheduler_tick
        .load(std::sync::atomic::Ordering::Relaxed);
    if tick > 0 {
        o.family(
            "blog_poster_scheduler_last_tick_timestamp_seconds",
            "gauge",
            "When the scheduler last ticked.",
        );
        o.sample(
            "blog_poster_scheduler_last_tick_timestamp_seconds",
            &[],
            tick as f64 / 1000.0,
        );
    }
    if let Some(at) = snap.last_backup_at {
        o.family(
            "blog_poster_last_backup_timestamp_seconds",
            "gauge",
            "When the newest backup not found broken was taken.",
        );
        o.sample(
            "blog_poster_last_backup_timestamp_seconds",
            &[],
            at.timestamp_millis() as f64 / 1000.0,
        );
    }

    o.family(
        "blog_poster_http_requests_total",
        "counter",
        "HTTP requests answered, by route, method and status code.",
    );
    {
        let http = state.metrics.http.lock().unwrap_or_else(|p| p.into_inner());
        for ((route, method, code), n) in http.iter() {
            let code = if *code == 0 {
                "other".to_string()
            } else {
                code.to_string()
            };
            o.sample(
                "blog_poster_http_requests_total",
                &[("route", route), ("method", method), ("code", &code)],
                *n as f64,
            );
        }
    }
    o.family(
        "blog_poster_http_refused_total",
        "counter",
        "Requests and connections the HTTP front answered itself, by error code and status.",
    );
    {
        let refused = state
            .metrics
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for ((reason, code), n) in refused.iter() {
            let code = code.to_string();
            o.sample(
                "blog_poster_http_refused_total",
                &[("reason", reason), ("code", &code)],
                *n as f64,
            );
        }
    }
    o.family(
        "blog_poster_http_auth_refused_total",
        "counter",
        "Requests refused with 401 or 403, by route and reason.",
    );
    {
        let auth = state
            .metrics
            .auth_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for ((route, why), n) in auth.iter() {
            o.sample(
                "blog_poster_http_auth_refused_total",
                &[("route", route), ("reason", why.as_str())],
                *n as f64,
            );
        }
    }
    o.family(
        "blog_poster_http_connections_open",
        "gauge",
        "Client connections open now.",
    );
    o.sample(
        "blog_poster_http_connections_open",
        &[],
        state.metrics.connections_open.load(Ordering::Relaxed) as f64,
    );
    o.family(
        "blog_poster_http_connections_evicted_total",
        "counter",
        "Connections waiting for a request that were closed to make room for a new one.",
    );
    o.sample(
        "blog_poster_http_connections_evicted_total",
        &[],
        state.metrics.evictions.load(Ordering::Relaxed) as f64,
    );
    o.family(
        "blog_poster_http_request_duration_seconds",
        "histogram",
        "Time to answer HTTP requests, by route.",
    );
    {
        let d = state
            .metrics
            .http_duration
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (route, h) in d.iter() {
            o.histogram(
                "blog_poster_http_request_duration_seconds",
                &[("route", route)],
                &HTTP_BUCKETS,
                h,
            );
        }
    }
    Ok(o.0)
}
