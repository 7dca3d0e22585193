//! The read routes: status, runs, jobs, articles, costs, caps, sources,
//! events, and the probes. JSON shapes are documented in docs/api.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Value, json};

use super::api::Ctx;
use super::reply::{ApiError, Reply};
use super::{STATUS_CACHE, WebState};
use crate::budget::{BudgetCaps, CapScope};
use crate::config::SiteBudget;
use crate::domain::lifecycle::{ArticleStatus, JobStatus, Timestamp};
use crate::domain::money::Money;
use crate::store::{
    ArticleFilter, ArticleId, ArticleRecord, CapOverride, JobFilter, RunId, SpendLine,
};

/// Unix milliseconds → timestamp.
pub fn ms_ts(ms: i64) -> Option<Timestamp> {
    use chrono::TimeZone;
    chrono::Utc.timestamp_millis_opt(ms).single()
}

pub fn healthz(_: &Ctx<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::json(200, &json!({ "status": "alive" })))
}

/// Ready when the database answers, its schema is current, and the
/// scheduler ticked within three ticks (or 30 s, whichever is longer).
pub fn readyz(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let s = ctx.state;
    let mut checks = BTreeMap::new();
    let mut ready = true;
    match s.store.ping() {
        Ok(()) => {
            checks.insert("database", json!({ "ok": true }));
        }
        Err(e) => {
            ready = false;
            checks.insert("database", json!({ "ok": false, "error": e.to_string() }));
        }
    }
    match s.store.schema_status() {
        Ok(st) if st.pending.is_empty() => {
            checks.insert(
                "migrations",
                json!({ "ok": true, "version": st.latest_known }),
            );
        }
        Ok(st) => {
            ready = false;
            checks.insert("migrations", json!({ "ok": false, "pending": st.pending }));
        }
        Err(e) => {
            ready = false;
            checks.insert("migrations", json!({ "ok": false, "error": e.to_string() }));
        }
    }
    let tick_ms = s.scheduler_tick.load(Ordering::Relaxed);
    let now = s.clock.now();
    let allowed = (s.config.scheduler.tick * 3).max(std::time::Duration::from_secs(30));
    let age_ms = now.timestamp_millis().saturating_sub(tick_ms);
    let ticking = tick_ms > 0 && u128::try_from(age_ms).unwrap_or(0) <= allowed.as_millis();
    // A db copy or a restore pauses the scheduler on purpose: paused, not
    // stuck, and the API answers all along.
    let paused_for = s.operations.running();
    let scheduler_ok = ticking || paused_for.is_some();
    ready &= scheduler_ok;
    checks.insert(
        "scheduler",
        json!({
            "ok": scheduler_ok,
            "last_tick_at": (tick_ms > 0).then(|| ms_ts(tick_ms)),
            "max_age_seconds": allowed.as_secs(),
            "paused_for": paused_for.map(|o| format!("operation {} ({})", o.id, o.kind.as_str())),
        }),
    );
    Ok(Reply::json(
        if ready { 200 } else { 503 },
        &json!({
            "ready": ready,
            "binary_version": env!("CARGO_PKG_VERSION"),
            "checks": checks,
        }),
    ))
}

pub fn metrics(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let text = super::metrics::render(ctx.state)?;
    Ok(Reply::bytes(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        crate::redact::string(&text).into_bytes(),
    ))
}

/// The caps in force for a site (config, then overrides).
pub fn effective_caps(
    state: &WebState,
    overrides: &[CapOverride],
    site: Option<&str>,
) -> BudgetCaps {
    let b = &state.config.budget;
    let site_budget = site
        .and_then(|n| state.config.site(n))
        .map(|s| s.budget)
        .unwrap_or(SiteBudget {
            daily: b.site_daily,
            monthly: b.site_monthly,
            per_article: b.per_article,
        });
    let mut caps = b.caps_for(&site_budget);
    for o in overrides {
        let applies = match (&o.site, site) {
            (None, _) => !o.scope.per_site(),
            (Some(os), Some(s)) => os == s,
            (Some(_), None) => false,
        };
        if applies {
            caps.set(o.scope, Some(o.cap));
        }
    }
    caps
}

fn spend(line: SpendLine, cap: Option<Money>) -> Value {
    json!({
        "spent": line.settled,
        "reserved": line.unsettled,
        "total": line.total(),
        "cap": cap,
    })
}

pub fn status(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let s = ctx.state;
    {
        let cache = s.status_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, body)) = cache.as_ref()
            && at.elapsed() < STATUS_CACHE
        {
            return Ok(Reply::bytes(200, "application/json", body.as_ref().clone()));
        }
    }
    let mut status = build_status(s)?;
    crate::redact::json(&mut status);
    let body =
        Arc::new(serde_json::to_vec(&status).map_err(|e| ApiError::internal(e.to_string()))?);
    *s.status_cache.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((Instant::now(), body.clone()));
    Ok(Reply::bytes(200, "application/json", body.as_ref().clone()))
}

fn build_status(s: &WebState) -> Result<Value, ApiError> {
    let now = s.clock.now();
    let sites = s.store.list_sites()?;
    let queues = s.store.site_queues()?;
    let report = s.store.spend_report(now)?;
    let overrides = s.store.cap_overrides()?;
    let jobs = s.store.job_counts()?;
    let global = effective_caps(s, &overrides, None);
    let mut out_sites = Vec::new();
    for site in &sites {
        let caps = effective_caps(s, &overrides, Some(&site.name));
        let q = queues.iter().find(|q| q.site == site.name);
        let spent = report.sites.iter().find(|x| x.site == site.name);
        let cfg = s.config.site(&site.name);
        out_sites.push(json!({
            "name": site.name,
            "enabled": site.enabled,
            "in_config": cfg.is_some(),
            "paused": site.paused,
            "pause_reason": site.pause_reason,
            "schedule": cfg.and_then(|c| c.schedule.as_ref()).map(|sch| sch.key()),
            "publisher": cfg.map(|c| c.publisher.name()),
            "last_run_at": site.last_run_at,
            "next_run_at": site.next_run_at,
            "queue": {
                "queued": q.map_or(0, |q| q.queued),
                "waiting": q.map_or(0, |q| q.waiting),
                "running": q.map_or(0, |q| q.running),
                "dead": q.map_or(0, |q| q.dead),
            },
            "today": spend(spent.map(|x| x.today).unwrap_or_default(), caps.site_daily),
            "month": spend(spent.map(|x| x.month).unwrap_or_default(), caps.site_monthly),
            "per_article_cap": caps.per_article,
            "last_error": q.and_then(|q| q.last_error.clone()),
            "last_error_at": q.and_then(|q| q.last_error_at),
        }));
    }
    let tick = s.scheduler_tick.load(Ordering::Relaxed);
    let jobs: BTreeMap<&str, u64> = JobStatus::ALL
        .iter()
        .map(|st| (st.as_str(), jobs.get(st).copied().unwrap_or(0)))
        .collect();
    Ok(json!({
        "generated_at": now,
        "version": env!("CARGO_PKG_VERSION"),
        "update": s.update.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        "day": report.day,
        "month": report.month,
        "global": {
            "today": spend(report.global_today, global.global_daily),
            "month": spend(report.global_month, global.global_monthly),
        },
        "jobs": jobs,
        "scheduler": { "last_tick_at": (tick > 0).then(|| ms_ts(tick)) },
        "sites": out_sites,
        // The running operation (db copy, restore), for the TUI's overview.
        "operations": s.operations.running().into_iter().collect::<Vec<_>>(),
    }))
}

pub fn runs(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let runs = ctx.state.store.list_runs(
        ctx.query("site"),
        ctx.limit()?,
        ctx.query_num::<i64>("before")?.map(RunId),
    )?;
    let next = runs.last().map(|r| r.id);
    Ok(Reply::json(
        200,
        &json!({ "runs": runs, "next_before": next }),
    ))
}

pub fn jobs(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let status = match ctx.query("status") {
        None => None,
        Some(s) => Some(
            JobStatus::parse(s)
                .ok_or_else(|| ApiError::bad_request(format!("unknown job status \"{s}\"")))?,
        ),
    };
    let filter = JobFilter {
        site: ctx.query("site").map(str::to_string),
        run: ctx.query_num::<i64>("run")?.map(RunId),
        status,
        limit: ctx.limit()?,
        before: ctx.query_num::<i64>("before")?.map(crate::store::JobId),
    };
    let jobs = ctx.state.store.list_jobs_page(&filter)?;
    let next = jobs.last().map(|j| j.id);
    Ok(Reply::json(
        200,
        &json!({ "jobs": jobs, "next_before": next }),
    ))
}

fn article_summary(a: &ArticleRecord) -> Value {
    json!({
        "id": a.id,
        "site": a.site,
        "run_id": a.run_id,
        "status": a.status,
        "title": a.content.title,
        "slug": a.content.slug,
        "topic": a.content.topic,
        "focus_keyword": a.content.focus_keyword,
        "words": a.content.body_markdown.split_whitespace().count(),
        "check_score": a.check_score,
        "review_reason": a.review_reason,
        "published_url": a.published_url,
        "created_at": a.created_at,
        "published_at": a.published_at,
    })
}

pub fn articles(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let status = match ctx.query("status") {
        None | Some("all") => None,
        Some(s) => Some(
            ArticleStatus::parse(s)
                .ok_or_else(|| ApiError::bad_request(format!("unknown article status \"{s}\"")))?,
        ),
    };
    let list = ctx.state.store.list_articles(&ArticleFilter {
        site: ctx.query("site").map(str::to_string),
        status,
        limit: ctx.limit()?,
        before: ctx.query_num::<i64>("before")?.map(ArticleId),
    })?;
    let next = list.last().map(|a| a.id);
    let items: Vec<Value> = list.iter().map(article_summary).collect();
    Ok(Reply::json(
        200,
        &json!({ "articles": items, "next_before": next }),
    ))
}

pub fn article(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ArticleId(ctx.id()?);
    let a = ctx.state.store.get_article(id)?;
    let publish = ctx.state.store.publish_entry(id)?;
    let mut v = serde_json::to_value(&a).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        m.insert(
            "publish".into(),
            serde_json::to_value(&publish).map_err(|e| ApiError::internal(e.to_string()))?,
        );
    }
    Ok(Reply::json(200, &v))
}

pub fn costs(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let days = ctx.query_num::<i64>("days")?.unwrap_or(30).clamp(1, 366);
    let now = ctx.state.clock.now();
    let since = day_start(now) - chrono::Duration::days(days - 1);
    let lines = ctx.state.store.cost_lines(since)?;
    let report = ctx.state.store.spend_report(now)?;
    #[derive(Default)]
    struct Sum {
        calls: u64,
        input: u64,
        output: u64,
        cost: i64,
    }
    let add = |m: &mut BTreeMap<String, Sum>, k: String, l: &crate::store::CostLine| {
        let e = m.entry(k).or_default();
        e.calls += l.calls;
        e.input += l.input_tokens;
        e.output += l.output_tokens;
        e.cost = e.cost.saturating_add(l.cost.micros());
    };
    let (mut by_day, mut by_site, mut by_model) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for l in &lines {
        add(&mut by_day, l.day.clone(), l);
        add(&mut by_site, l.site.clone().unwrap_or_default(), l);
        add(&mut by_model, format!("{}\u{1f}{}", l.provider, l.model), l);
    }
    let rows = |m: BTreeMap<String, Sum>, key: &str| -> Vec<Value> {
        m.into_iter()
            .map(|(k, s)| {
                let mut v = json!({
                    "calls": s.calls, "input_tokens": s.input, "output_tokens": s.output, "cost": s.cost,
                });
                if key == "model" {
                    let (p, m) = k.split_once('\u{1f}').unwrap_or(("", k.as_str()));
                    v["provider"] = json!(p);
                    v["model"] = json!(m);
                } else {
                    v[key] = json!(k);
                }
                v
            })
            .collect()
    };
    let mut by_day = rows(by_day, "day");
    by_day.reverse();
    Ok(Reply::json(
        200,
        &json!({
            "since": since,
            "days": days,
            "by_day": by_day,
            "by_site": rows(by_site, "site"),
            "by_model": rows(by_model, "model"),
            "lines": lines,
            "today": report.global_today,
            "month": report.global_month,
        }),
    ))
}

fn day_start(now: Timestamp) -> Timestamp {
    use chrono::TimeZone;
    chrono::Utc.from_utc_datetime(&now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default())
}

pub fn caps(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let s = ctx.state;
    let overrides = s.store.cap_overrides()?;
    let config = &s.config.budget;
    let global = effective_caps(s, &overrides, None);
    let sites: Vec<Value> = s
        .config
        .sites
        .iter()
        .map(|site| {
            let c = effective_caps(s, &overrides, Some(&site.name));
            json!({
                "site": site.name,
                "effective": { "site_daily": c.site_daily, "site_monthly": c.site_monthly, "article": c.per_article },
                "config": { "site_daily": site.budget.daily, "site_monthly": site.budget.monthly, "article": site.budget.per_article },
            })
        })
        .collect();
    Ok(Reply::json(
        200,
        &json!({
            "global": {
                "effective": { "global_daily": global.global_daily, "global_monthly": global.global_monthly },
                "config": { "global_daily": config.global_daily, "global_monthly": config.global_monthly },
            },
            "sites": sites,
            "overrides": overrides,
            "scopes": CapScope::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        }),
    ))
}

pub fn sources(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let names: Vec<String> = match ctx.query("site") {
        Some(s) => vec![s.to_string()],
        None => ctx
            .state
            .store
            .list_sites()?
            .into_iter()
            .map(|s| s.name)
            .collect(),
    };
    let mut out = Vec::new();
    for name in names {
        for src in ctx.state.store.list_sources(&name)? {
            let mut v =
                serde_json::to_value(&src).map_err(|e| ApiError::internal(e.to_string()))?;
            v["healthy"] = json!(src.consecutive_failures == 0);
            out.push(v);
        }
    }
    Ok(Reply::json(200, &json!({ "sources": out })))
}

pub fn source_items(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let limit = ctx.limit()?;
    let names: Vec<String> = match ctx.query("site") {
        Some(s) => vec![s.to_string()],
        None => ctx
            .state
            .store
            .list_sites()?
            .into_iter()
            .map(|s| s.name)
            .collect(),
    };
    let mut items = Vec::new();
    for name in names {
        items.extend(ctx.state.store.list_source_items(&name, None, limit)?);
    }
    items.sort_by(|a, b| b.fetched_at.cmp(&a.fetched_at).then(b.id.cmp(&a.id)));
    items.truncate(limit as usize);
    Ok(Reply::json(200, &json!({ "items": items })))
}

pub fn events(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let events = ctx
        .state
        .store
        .list_events(ctx.limit()?, ctx.query_num::<i64>("before")?)?;
    let next = events.last().map(|e| e.id);
    Ok(Reply::json(
        200,
        &json!({ "events": events, "next_before": next }),
    ))
}
