//! `serve` with scripted stages, for the crash and shutdown tests: each
//! content stage sleeps `SCRIPT_DELAY_MS` and returns fixed output derived
//! from its run id (slugs start with `SCRIPT_SLUG_PREFIX`, default
//! "scripted"); publishing is the real publish stage (outbox or WordPress,
//! as the config says). Test scaffolding only — the shipped binary never
//! produces scripted content and has no crash hooks.
//!
//! With `SCRIPT_KILL_AFTER_PUBLISH=1` the process SIGKILLs itself right
//! after the publish stage returned its output and before the engine
//! commits it: the post exists remotely, our database does not know.
//!
//! With `SCRIPT_RESERVE_MICROS=N` (and `SCRIPT_CAP_MICROS=C`), generate
//! reserves N micro-dollars against a per-site daily cap of C before it
//! "calls the model" and records the call at cost N: what the several-
//! instances test uses to check caps across processes. Refused → the job
//! fails permanently ("cap reached").
//!
//! Usage: scripted_serve CONFIG

use std::sync::Arc;
use std::time::Duration;

use blog_poster::clock::SystemClock;
use blog_poster::config::{self, ConfigLocation, Environment};
use blog_poster::domain::BoxFuture;
use blog_poster::pipeline::publish::Publisher;
use blog_poster::pipeline::stage::{StageContext, StageError, StageRunner, StageSet};
use blog_poster::store::*;

struct Scripted(blog_poster::domain::lifecycle::Stage);

fn delay() -> Duration {
    let ms = std::env::var("SCRIPT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    Duration::from_millis(ms)
}

impl StageRunner for Scripted {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        use blog_poster::domain::lifecycle::Stage;
        Box::pin(async move {
            tokio::time::sleep(delay()).await;
            let run = ctx.job.run_id;
            Ok(match self.0 {
                Stage::Monitor => StageOutput::Monitor(MonitorOutput {
                    sources: vec![],
                    items: vec![NewSourceItem {
                        source_url: "https://scripted.invalid/feed".into(),
                        key_hash: format!("item-{run}"),
                        guid: None,
                        url: None,
                        title: format!("scripted item {run}"),
                        summary: String::new(),
                        published_at: None,
                    }],
                }),
                Stage::Topics => StageOutput::Topics(TopicsOutput {
                    candidates: vec![TopicCandidate {
                        keyword: format!("topic {run}"),
                        score: 1.0,
                        kept: true,
                        reason: "scripted".into(),
                    }],
                    ..Default::default()
                }),
                Stage::Generate => {
                    reserve_and_record(ctx).await?;
                    StageOutput::Generate(GenerateOutput {
                        article: NewArticle {
                            topic: format!("topic {run}"),
                            title: format!("Scripted article {run}"),
                            slug: format!(
                                "{}-{run}",
                                std::env::var("SCRIPT_SLUG_PREFIX")
                                    .unwrap_or_else(|_| "scripted".into())
                            ),
                            meta_description: String::new(),
                            focus_keyword: String::new(),
                            excerpt: String::new(),
                            tags: vec![],
                            category: None,
                            body_markdown: format!("Scripted body for run {run}.\n"),
                        },
                        notes: Default::default(),
                    })
                }
                Stage::Check => {
                    let article = ctx
                        .db(move |s| s.article_for_run(run))
                        .await?
                        .ok_or_else(|| StageError::Permanent("no article".into()))?;
                    StageOutput::Check(CheckOutput {
                        article_id: article.id,
                        score: 100,
                        report: serde_json::json!({"scripted": true}),
                        decision: CheckDecision::Publish,
                    })
                }
                Stage::Publish => {
                    return Err(StageError::Permanent("publish is not scripted".into()));
                }
            })
        })
    }
}

fn env_micros(name: &str) -> Option<i64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A fake model call under the budget: reserve, then record (settles).
async fn reserve_and_record(ctx: &StageContext) -> Result<(), StageError> {
    let Some(amount) = env_micros("SCRIPT_RESERVE_MICROS") else {
        return Ok(());
    };
    let cap = env_micros("SCRIPT_CAP_MICROS").map(blog_poster::domain::money::Money);
    let job = ctx.job.clone();
    let now = ctx.now();
    let req = BudgetRequest {
        site: job.site.clone(),
        job: Some(job.id),
        run: Some(job.run_id),
        article_key: format!("run:{}", job.run_id),
        provider: "scripted".into(),
        model: "scripted".into(),
        purpose: "generate".into(),
        amount: blog_poster::domain::money::Money(amount),
        caps: blog_poster::budget::BudgetCaps {
            global_daily: None,
            global_monthly: None,
            site_daily: cap,
            site_monthly: None,
            per_article: None,
        },
    };
    let granted = ctx.db(move |s| s.reserve_budget(&req, now)).await?;
    let id = match granted {
        Reservation::Granted(id) => id,
        Reservation::Refused(r) => return Err(StageError::Permanent(format!("cap reached: {r}"))),
    };
    let call = NewLlmCall {
        site: job.site.clone(),
        job: Some(job.id),
        run: Some(job.run_id),
        reservation: Some(id),
        provider: "scripted".into(),
        model: "scripted".into(),
        purpose: "generate".into(),
        input_tokens: 1,
        output_tokens: 1,
        cost: blog_poster::domain::money::Money(amount),
        latency_ms: 1,
        outcome: CallOutcome::Ok,
        error: None,
    };
    ctx.db(move |s| s.record_llm_call(&call, now)).await?;
    Ok(())
}

/// Wraps the real publish stage: once it has published, kill this process
/// before the engine can record it.
struct KillAfterPublish(Publisher);

impl StageRunner for KillAfterPublish {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(async move {
            let out = self.0.run(ctx).await;
            if out.is_ok() {
                eprintln!("scripted_serve: published; SIGKILL before the commit");
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &std::process::id().to_string()])
                    .status();
                // SIGKILL is delivered asynchronously: never return meanwhile.
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            out
        })
    }
}

fn main() -> std::process::ExitCode {
    use blog_poster::domain::lifecycle::Stage;
    let path = std::env::args()
        .nth(1)
        .expect("usage: scripted_serve CONFIG");
    let env = Environment::from_process();
    let config = match config::load(&ConfigLocation::File(path.into()), &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    blog_poster::logging::init(&config.log);
    let stages = StageSet {
        monitor: Arc::new(Scripted(Stage::Monitor)),
        topics: Arc::new(Scripted(Stage::Topics)),
        generate: Arc::new(Scripted(Stage::Generate)),
        check: Arc::new(Scripted(Stage::Check)),
        publish: if std::env::var_os("SCRIPT_KILL_AFTER_PUBLISH").is_some() {
            Arc::new(KillAfterPublish(Publisher::new()))
        } else {
            Arc::new(Publisher::new())
        },
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let result = rt.block_on(async {
        let shutdown = blog_poster::daemon::shutdown_on_signals()?;
        blog_poster::daemon::serve(Arc::new(config), stages, Arc::new(SystemClock), shutdown).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
