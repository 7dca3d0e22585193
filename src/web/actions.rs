//! The write handlers of the API (run now, pause, retry, cancel, approve,
//! reject, publish, caps) and the backup list; the route table and the
//! audit are in `api`. Each handler validates its body, changes the store
//! and answers with the new state.

use serde::Deserialize;
use serde_json::json;

use super::api::Ctx;
use super::reply::{ApiError, Reply};
use super::views;
use crate::budget::CapScope;
use crate::domain::lifecycle::Stage;
use crate::domain::money::Money;
use crate::store::{ArticleId, CapChange, JobId, NewRun, RunTrigger};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RunBody {
    /// Stop after this stage (the run starts with monitor).
    stage: Option<String>,
}

pub(super) fn run_now(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let site = ctx.site_name()?;
    let body: RunBody = ctx.json_body()?.unwrap_or_default();
    let until = match body.stage.as_deref() {
        None => None,
        Some(s) => Some(Stage::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown stage \"{s}\" (use monitor, topics, generate, check or publish)"
            ))
        })?),
    };
    let run = NewRun {
        site: site.clone(),
        trigger: RunTrigger::Manual,
        slot_key: None,
        first_stage: Stage::Monitor,
        until,
        max_attempts: ctx.state.config.engine.max_attempts,
    };
    let enq = ctx.state.store.enqueue_run(&run, ctx.state.clock.now())?;
    Ok(Reply::json(
        202,
        &json!({ "run_id": enq.run_id(), "site": site, "until": until.map(Stage::as_str) }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: Option<String>,
}

pub(super) fn pause(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let site = ctx.site_name()?;
    let body: PauseBody = ctx.json_body()?.unwrap_or_default();
    let reason = body
        .reason
        .unwrap_or_else(|| format!("paused by {} through the API", ctx.actor));
    ctx.state
        .store
        .set_site_paused(&site, true, Some(&reason), ctx.state.clock.now())?;
    Ok(Reply::json(
        200,
        &json!({ "site": site, "paused": true, "reason": reason }),
    ))
}

pub(super) fn resume(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let site = ctx.site_name()?;
    ctx.state
        .store
        .set_site_paused(&site, false, None, ctx.state.clock.now())?;
    Ok(Reply::json(200, &json!({ "site": site, "paused": false })))
}

pub(super) fn retry_job(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = JobId(ctx.id()?);
    let now = ctx.state.clock.now();
    ctx.state.store.retry_job(id, &ctx.actor, now)?;
    Ok(Reply::json(200, &ctx.state.store.get_job(id)?))
}

pub(super) fn cancel_job(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = JobId(ctx.id()?);
    let now = ctx.state.clock.now();
    ctx.state.store.cancel_job(id, &ctx.actor, now)?;
    Ok(Reply::json(200, &ctx.state.store.get_job(id)?))
}

pub(super) fn approve(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ArticleId(ctx.id()?);
    let out = ctx
        .state
        .store
        .approve_article(id, &ctx.actor, ctx.state.clock.now())?;
    Ok(Reply::json(200, &out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

pub(super) fn reject(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ArticleId(ctx.id()?);
    let body: RejectBody = ctx.json_body()?.ok_or_else(|| {
        ApiError::bad_request("send {\"reason\": \"…\"}: a rejection keeps its reason")
    })?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::bad_request("the reason must not be empty"));
    }
    let out = ctx.state.store.reject_article(
        id,
        body.reason.trim(),
        &ctx.actor,
        ctx.state.clock.now(),
    )?;
    Ok(Reply::json(200, &out))
}

pub(super) fn publish(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ArticleId(ctx.id()?);
    let out = ctx
        .state
        .store
        .request_publish(id, &ctx.actor, ctx.state.clock.now())?;
    Ok(Reply::json(200, &out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapBody {
    scope: String,
    site: Option<String>,
    /// "12.50" or "$12.50"; null removes the override.
    cap: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CapsBody {
    One(CapBody),
    Many(Vec<CapBody>),
}

pub(super) fn set_caps(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let body: CapsBody = ctx.json_body()?.ok_or_else(|| {
        ApiError::bad_request("send {\"scope\": \"site_daily\", \"site\": \"blog\", \"cap\": \"5.00\"} (or a list of them)")
    })?;
    let list = match body {
        CapsBody::One(c) => vec![c],
        CapsBody::Many(v) => v,
    };
    if list.is_empty() {
        return Err(ApiError::bad_request("no cap to change"));
    }
    let mut changes = Vec::new();
    for c in list {
        let scope = CapScope::parse(&c.scope).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown cap scope \"{}\" (use global_daily, global_monthly, site_daily, site_monthly or article)",
                c.scope
            ))
        })?;
        match (&c.site, scope.per_site()) {
            (Some(_), false) => {
                return Err(ApiError::bad_request(format!(
                    "the {} cap is global: leave \"site\" out",
                    scope.as_str()
                )));
            }
            (None, true) => {
                return Err(ApiError::bad_request(format!(
                    "the {} cap belongs to one site: name it in \"site\"",
                    scope.as_str()
                )));
            }
            _ => {}
        }
        if let Some(site) = &c.site
            && ctx.state.config.site(site).is_none()
        {
            return Err(ApiError::not_found(format!(
                "there is no site \"{site}\" in the config"
            )));
        }
        let cap = match c.cap.as_deref() {
            None => None,
            Some(v) => Some(Money::parse(v).map_err(|e| {
                ApiError::bad_request(format!("cap \"{v}\" is not an amount of dollars: {e}"))
            })?),
        };
        if cap.is_some_and(|m| m.micros() < 0) {
            return Err(ApiError::bad_request("a cap cannot be negative"));
        }
        changes.push(CapChange {
            scope,
            site: c.site,
            cap,
        });
    }
    let now = ctx.state.clock.now();
    ctx.state
        .store
        .set_cap_overrides(&changes, &ctx.actor, now)?;
    // Jobs waiting for a cap look again now if the caps changed: a raised
    // cap takes effect at once. Nothing else that waits is woken.
    crate::pipeline::cap_waits::wake_cap_waits_if_caps_changed(
        ctx.state.store.as_ref(),
        &ctx.state.config,
        now,
    )?;
    views::caps(ctx)
}

pub(super) fn backup_error(e: crate::backup::BackupError) -> ApiError {
    use crate::backup::BackupError as B;
    let message = e.to_string();
    match e {
        B::NotFound(_) | B::NoBackups => ApiError::new(404, "not_found", message),
        B::Checksum { .. } | B::Invalid { .. } | B::Schema(_) => {
            ApiError::new(422, "backup_damaged", message)
        }
        B::NotSqlite => ApiError::new(409, "not_sqlite", message),
        B::Daemon(_) => ApiError::new(503, "unavailable", message),
        _ => ApiError::internal(message),
    }
}

pub(super) fn backups(ctx: &Ctx<'_>) -> Result<crate::backup::Backups, ApiError> {
    crate::backup::Backups::from_config(&ctx.state.config).map_err(backup_error)
}

pub(super) fn list_backups(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let list = backups(ctx)?.list().map_err(backup_error)?;
    Ok(Reply::json(200, &json!({ "backups": list })))
}
