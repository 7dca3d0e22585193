//! The store contract: what every backend must do, written once against
//! `&dyn Store` and run against each backend: a fresh SQLite file always,
//! and PostgreSQL (each test in its own schema, so they run in parallel; an
//! unreachable server fails the tests, it never skips them; see services.rs). Nothing about claiming, leases, retries,
//! caps or stage outputs may differ between backends.

use std::sync::Arc;
use std::time::Duration;

use blog_poster::domain::lifecycle::{
    ArticleStatus, JobStatus, RetryPolicy, RunStatus, Stage, WaitKind,
};
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::*;

use crate::harness::t;

#[path = "store_contract_budget.rs"]
mod budget_contract;
use budget_contract::*;
#[path = "store_contract_publish.rs"]
mod publishing;
use publishing::*;
#[path = "store_contract_operator.rs"]
mod operator_contract;
use operator_contract::*;
#[path = "store_contract_topics.rs"]
mod topics_contract;
use topics_contract::*;

/// A fresh, migrated store per test, with sites "a" and "b".
pub struct Fixture {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    /// Dropped last: removes the test's PostgreSQL schema.
    _schema: Option<crate::pg_env::TestSchema>,
}

pub fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        SqliteStore::open(&dir.path().join("contract.db"), Duration::from_secs(5)).expect("open");
    prepare(Fixture {
        store: Arc::new(store),
        _dir: Some(dir),
        _schema: None,
    })
}

/// A store in a fresh schema of the test database.
pub fn postgres() -> Fixture {
    let schema = crate::pg_env::TestSchema::create("contract");
    let store = schema.open();
    prepare(Fixture {
        store: Arc::new(store),
        _dir: None,
        _schema: Some(schema),
    })
}

fn prepare(f: Fixture) -> Fixture {
    f.store.migrate(t(0)).expect("migrate");
    f.store
        .sync_sites(&[site("a", 2), site("b", 1)], t(0))
        .expect("sync");
    f
}

fn site(name: &str, max: u32) -> SiteSpec {
    SiteSpec {
        name: name.into(),
        enabled: true,
        max_concurrency: max,
        sources: vec![],
    }
}

pub(crate) const POLICY: RetryPolicy = RetryPolicy {
    base: Duration::from_secs(10),
    max: Duration::from_secs(100),
};

fn new_run(site: &str, slot: Option<&str>, until: Option<Stage>) -> NewRun {
    NewRun {
        site: site.into(),
        trigger: RunTrigger::Manual,
        slot_key: slot.map(str::to_string),
        first_stage: Stage::Monitor,
        until,
        max_attempts: 3,
    }
}

fn claim_req(owner: &str) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        lease: Duration::from_secs(60),
        global_limit: 10,
        only_runs: None,
    }
}

fn claim(s: &dyn Store, owner: &str, secs: i64) -> Option<ClaimedJob> {
    s.claim_next_job(&claim_req(owner), t(secs)).expect("claim")
}

fn monitor_output(keys: &[&str]) -> StageOutput {
    StageOutput::Monitor(MonitorOutput {
        sources: vec![SourceOutcome {
            url: "https://feed.example/rss".into(),
            etag: Some("\"v1\"".into()),
            ..Default::default()
        }],
        items: keys
            .iter()
            .map(|k| NewSourceItem {
                source_url: "https://feed.example/rss".into(),
                key_hash: k.to_string(),
                guid: Some(k.to_string()),
                url: None,
                title: format!("item {k}"),
                summary: String::new(),
                published_at: None,
            })
            .collect(),
    })
}

fn topics_output(kept: bool) -> StageOutput {
    topics_output_about("rust sqlite", kept)
}

/// A topics output whose kept candidate is `keyword`. Runs of one site need
/// different topics: a run's topic is reserved for it.
fn topics_output_about(keyword: &str, kept: bool) -> StageOutput {
    StageOutput::Topics(TopicsOutput {
        candidates: vec![
            TopicCandidate {
                keyword: keyword.into(),
                score: 0.9,
                kept,
                reason: "frequent across sources".into(),
            },
            TopicCandidate {
                keyword: "old news".into(),
                score: 0.2,
                kept: false,
                reason: "too close to article 3".into(),
            },
        ],
        ..Default::default()
    })
}

fn article() -> NewArticle {
    NewArticle {
        topic: "rust sqlite".into(),
        title: "Rust and SQLite".into(),
        slug: "rust-and-sqlite".into(),
        meta_description: "How".into(),
        focus_keyword: "rust sqlite".into(),
        excerpt: "x".into(),
        tags: vec!["rust".into()],
        category: Some("Tech".into()),
        body_markdown: "## Intro\n\nText.".into(),
    }
}

/// Runs the job of the run through `stage` with `output`, as worker "w".
fn finish_stage(s: &dyn Store, secs: i64, expect_stage: Stage, output: StageOutput) -> ClaimedJob {
    let job = claim(s, "w", secs).expect("a job is due");
    assert_eq!(job.stage, expect_stage);
    s.complete_job(&job, "w", &output, t(secs))
        .expect("complete");
    job
}

pub fn fresh_database_is_fully_migrated(f: Fixture) {
    let status = f.store.schema_status().expect("status");
    assert!(status.pending.is_empty());
    assert_eq!(
        status.applied.last().map(|m| m.version),
        Some(status.latest_known)
    );
    assert!(
        f.store.migrate(t(1)).expect("again").is_empty(),
        "migrating twice is a no-op"
    );
}

pub fn enqueue_creates_run_and_first_job_and_slot_keys_dedupe(f: Fixture) {
    let s = f.store.as_ref();
    let first = s
        .enqueue_run(&new_run("a", Some("a@slot1"), None), t(0))
        .expect("enqueue");
    let again = s
        .enqueue_run(&new_run("a", Some("a@slot1"), None), t(1))
        .expect("enqueue again");
    assert!(matches!(first, Enqueued::Created(_)));
    assert_eq!(again, Enqueued::Existing(first.run_id()));
    let jobs = s.list_jobs(Some(first.run_id()), None, 10).expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].stage, jobs[0].status),
        (Stage::Monitor, JobStatus::Queued)
    );
    assert_eq!(
        s.get_run(first.run_id()).expect("run").status,
        RunStatus::Running
    );
    let err = s
        .enqueue_run(&new_run("nope", None, None), t(0))
        .expect_err("unknown site");
    assert!(err.to_string().contains("unknown site \"nope\""), "{err}");
}

pub fn full_chain_commits_each_stage_and_finishes_the_run(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    finish_stage(s, 1, Stage::Monitor, monitor_output(&["k1", "k2"]));
    finish_stage(s, 2, Stage::Topics, topics_output(true));
    finish_stage(
        s,
        3,
        Stage::Generate,
        StageOutput::Generate(GenerateOutput {
            article: article(),
            notes: GenerationNotes::default(),
        }),
    );
    let art = s.article_for_run(run).expect("read").expect("article");
    assert_eq!(art.status, ArticleStatus::Draft);
    let check = StageOutput::Check(CheckOutput {
        article_id: art.id,
        score: 88,
        report: serde_json::json!({"word_count": 2}),
        decision: CheckDecision::Publish,
    });
    finish_stage(s, 4, Stage::Check, check);
    assert_eq!(
        s.get_article(art.id).expect("article").status,
        ArticleStatus::Approved
    );
    let publish = StageOutput::Publish(PublishOutput {
        article_id: art.id,
        target: "outbox".into(),
        remote_id: None,
        location: "/x.html".into(),
    });
    finish_stage(s, 5, Stage::Publish, publish);
    let done = s.get_article(art.id).expect("article");
    assert_eq!(done.status, ArticleStatus::Published);
    assert_eq!(done.published_url.as_deref(), Some("/x.html"));
    assert_eq!(done.check_score, Some(88));
    let r = s.get_run(run).expect("run");
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(r.outcome.as_deref(), Some("published to /x.html"));
    let jobs = s.list_jobs(Some(run), None, 10).expect("jobs");
    assert_eq!(jobs.len(), 5);
    assert!(
        jobs.iter()
            .all(|j| j.status == JobStatus::Succeeded && j.attempts == 1)
    );
    assert!(claim(s, "w", 6).is_none(), "nothing left");
}

pub fn until_stops_the_run_after_that_stage(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, Some(Stage::Monitor)), t(0))
        .expect("enqueue")
        .run_id();
    finish_stage(s, 1, Stage::Monitor, monitor_output(&["k1"]));
    let r = s.get_run(run).expect("run");
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(r.outcome.as_deref(), Some("stopped after monitor as asked"));
    assert!(claim(s, "w", 2).is_none());
}

pub fn no_kept_topic_ends_the_run_without_generating(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    finish_stage(s, 1, Stage::Monitor, monitor_output(&[]));
    finish_stage(s, 2, Stage::Topics, topics_output(false));
    let r = s.get_run(run).expect("run");
    assert_eq!(
        (r.status, r.outcome.as_deref()),
        (RunStatus::Succeeded, Some("no new topic to write about"))
    );
    assert_eq!(s.list_jobs(Some(run), None, 10).expect("jobs").len(), 2);
}

pub fn held_for_review_ends_the_run_and_keeps_the_reason(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    finish_stage(s, 1, Stage::Monitor, monitor_output(&[]));
    finish_stage(s, 2, Stage::Topics, topics_output(true));
    finish_stage(
        s,
        3,
        Stage::Generate,
        StageOutput::Generate(GenerateOutput {
            article: article(),
            notes: GenerationNotes::default(),
        }),
    );
    let id = s.article_for_run(run).expect("read").expect("article").id;
    let review = CheckDecision::Review {
        reason: "score 55 below the gate of 70".into(),
    };
    finish_stage(
        s,
        4,
        Stage::Check,
        StageOutput::Check(CheckOutput {
            article_id: id,
            score: 55,
            report: serde_json::json!({}),
            decision: review,
        }),
    );
    let a = s.get_article(id).expect("article");
    assert_eq!(a.status, ArticleStatus::Review);
    assert_eq!(
        a.review_reason.as_deref(),
        Some("score 55 below the gate of 70")
    );
    assert_eq!(
        s.get_run(run).expect("run").outcome.as_deref(),
        Some("held for review")
    );
}

pub fn items_are_stored_once_across_runs(f: Fixture) {
    let s = f.store.as_ref();
    for (i, keys) in [vec!["k1", "k2"], vec!["k2", "k3"]].into_iter().enumerate() {
        s.enqueue_run(&new_run("a", None, Some(Stage::Monitor)), t(i as i64 * 10))
            .expect("enqueue");
        finish_stage(s, i as i64 * 10 + 1, Stage::Monitor, monitor_output(&keys));
    }
    let items = s.list_source_items("a", None, 100).expect("items");
    let mut keys: Vec<&str> = items.iter().map(|i| i.key_hash.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["k1", "k2", "k3"], "k2 seen twice, stored once");
    let k2 = items.iter().find(|i| i.key_hash == "k2").expect("k2");
    assert_eq!(k2.fetched_at, t(1), "the first sighting is kept");
    assert_eq!(k2.source_url.as_deref(), Some("https://feed.example/rss"));
    assert_eq!(
        s.list_source_items("a", Some(t(11)), 100)
            .expect("since")
            .len(),
        1,
        "only k3 is new in run 2"
    );
    let sources = s.list_sources("a").expect("sources");
    assert_eq!(sources.len(), 1);
    assert_eq!(
        (sources[0].etag.as_deref(), sources[0].consecutive_failures),
        (Some("\"v1\""), 0)
    );
    let events = s.list_events(100, None).expect("events");
    assert!(events.iter().any(|e| e.kind == "run.succeeded"));
}

pub fn source_errors_keep_validators_and_count_failures(f: Fixture) {
    let s = f.store.as_ref();
    s.enqueue_run(&new_run("a", None, Some(Stage::Monitor)), t(0))
        .expect("enqueue");
    finish_stage(s, 1, Stage::Monitor, monitor_output(&[]));
    let failed = StageOutput::Monitor(MonitorOutput {
        sources: vec![SourceOutcome {
            url: "https://feed.example/rss".into(),
            error: Some("parse error at line 3".into()),
            next_check_at: Some(t(900)),
            ..Default::default()
        }],
        items: vec![],
    });
    s.enqueue_run(&new_run("a", None, Some(Stage::Monitor)), t(10))
        .expect("enqueue");
    finish_stage(s, 11, Stage::Monitor, failed);
    let src = &s.list_sources("a").expect("sources")[0];
    assert_eq!(
        src.etag.as_deref(),
        Some("\"v1\""),
        "validators from the last good fetch are kept"
    );
    assert_eq!(
        (src.consecutive_failures, src.last_error.as_deref()),
        (1, Some("parse error at line 3"))
    );
    assert_eq!(
        (src.next_check_at, src.last_success_at),
        (Some(t(900)), Some(t(1)))
    );
}

pub fn skipped_entries_are_stored_and_kept_across_a_304_and_a_failure(f: Fixture) {
    let s = f.store.as_ref();
    let outcome = |skipped: Option<u32>, not_modified: bool, error: Option<&str>| {
        StageOutput::Monitor(MonitorOutput {
            sources: vec![SourceOutcome {
                url: "https://feed.example/rss".into(),
                skipped_entries: skipped,
                not_modified,
                error: error.map(str::to_string),
                ..Default::default()
            }],
            items: vec![],
        })
    };
    let skipped = |secs: i64, output: StageOutput| {
        s.enqueue_run(&new_run("a", None, Some(Stage::Monitor)), t(secs))
            .expect("enqueue");
        finish_stage(s, secs + 1, Stage::Monitor, output);
        s.list_sources("a").expect("sources")[0].skipped_entries
    };
    assert_eq!(skipped(0, outcome(Some(2), false, None)), 2);
    assert_eq!(skipped(10, outcome(None, true, None)), 2, "a 304 keeps it");
    assert_eq!(
        skipped(20, outcome(None, false, Some("HTTP 503"))),
        2,
        "a failed check keeps it"
    );
    assert_eq!(skipped(30, outcome(Some(0), false, None)), 0);
}

pub fn claim_honours_not_before_pause_and_limits(f: Fixture) {
    let s = f.store.as_ref();
    // Site b allows one job at a time.
    s.enqueue_run(&new_run("b", None, None), t(0))
        .expect("enqueue");
    s.enqueue_run(&new_run("b", None, None), t(0))
        .expect("enqueue");
    let first = claim(s, "w", 1).expect("first b job");
    assert_eq!(first.site, "b");
    assert!(claim(s, "w", 1).is_none(), "b is at its limit of 1");
    // Pausing a site hides its jobs.
    s.enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue");
    s.set_site_paused("a", true, Some("maintenance"), t(1))
        .expect("pause");
    assert!(claim(s, "w", 1).is_none(), "a is paused");
    let sites = s.list_sites().expect("sites");
    let a = sites.iter().find(|x| x.name == "a").expect("a");
    assert_eq!(
        (a.paused, a.pause_reason.as_deref()),
        (true, Some("maintenance"))
    );
    s.set_site_paused("a", false, None, t(1)).expect("resume");
    assert_eq!(claim(s, "w", 1).expect("a job").site, "a");
    // Global limit: two running now.
    let req = ClaimRequest {
        global_limit: 2,
        ..claim_req("w")
    };
    s.enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue");
    assert!(
        s.claim_next_job(&req, t(1)).expect("claim").is_none(),
        "global limit of 2 reached"
    );
}

pub fn claim_only_runs_filters(f: Fixture) {
    let s = f.store.as_ref();
    let r1 = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    let r2 = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    let req = ClaimRequest {
        only_runs: Some(vec![r2]),
        ..claim_req("w")
    };
    let job = s.claim_next_job(&req, t(1)).expect("claim").expect("job");
    assert_eq!(job.run_id, r2);
    assert!(s.claim_next_job(&req, t(1)).expect("claim").is_none());
    let _ = r1;
}

pub fn wrong_owner_cannot_complete_and_nothing_is_written(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    let job = claim(s, "w1", 1).expect("job");
    let err = s
        .complete_job(&job, "w2", &monitor_output(&["k"]), t(2))
        .expect_err("not the owner");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert!(
        !s.heartbeat_job(job.id, "w2", t(100)).expect("heartbeat"),
        "w2 does not hold it"
    );
    assert!(s.heartbeat_job(job.id, "w1", t(100)).expect("heartbeat"));
    assert_eq!(
        s.list_jobs(Some(run), None, 10).expect("jobs").len(),
        1,
        "no next job was queued"
    );
    let wrong = s
        .complete_job(&job, "w1", &topics_output(true), t(2))
        .expect_err("wrong stage output");
    assert!(
        wrong
            .to_string()
            .contains("monitor job but got topics output"),
        "{wrong}"
    );
}

pub fn retryable_failures_back_off_then_die_and_operator_retry_revives(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    let fail = JobFailure::Retryable {
        error: "timeout".into(),
        jitter: 1.0,
    };
    let job = claim(s, "w", 0).expect("job");
    assert_eq!(
        s.fail_job(&job, "w", &fail, &POLICY, t(0)).expect("fail"),
        JobStatus::Queued
    );
    assert!(claim(s, "w", 9).is_none(), "backing off for 10 s");
    let job = claim(s, "w", 10).expect("retry 1");
    assert_eq!(job.attempts, 2);
    assert_eq!(
        s.fail_job(&job, "w", &fail, &POLICY, t(10)).expect("fail"),
        JobStatus::Queued
    );
    let job = claim(s, "w", 30).expect("retry 2");
    assert_eq!(
        s.fail_job(&job, "w", &fail, &POLICY, t(30)).expect("fail"),
        JobStatus::Dead
    );
    let dead = s.get_job(job.id).expect("job");
    assert_eq!(
        (dead.status, dead.attempts, dead.last_error.as_deref()),
        (JobStatus::Dead, 3, Some("timeout"))
    );
    let r = s.get_run(run).expect("run");
    assert_eq!(
        (r.status, r.error.as_deref()),
        (RunStatus::Failed, Some("timeout"))
    );
    assert!(claim(s, "w", 1000).is_none(), "dead jobs stay put");

    s.retry_job(job.id, "operator", t(2000)).expect("retry");
    assert_eq!(s.get_run(run).expect("run").status, RunStatus::Running);
    let again = claim(s, "w", 2000).expect("revived");
    assert_eq!(again.attempts, 1);
    assert!(
        s.list_events(50, None)
            .expect("events")
            .iter()
            .any(|e| e.kind == "job.retried" && e.actor == "operator")
    );
}

pub fn permanent_failure_is_dead_at_once(f: Fixture) {
    let s = f.store.as_ref();
    s.enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue");
    let job = claim(s, "w", 0).expect("job");
    let status = s
        .fail_job(
            &job,
            "w",
            &JobFailure::Permanent {
                error: "bad credentials".into(),
            },
            &POLICY,
            t(0),
        )
        .expect("fail");
    assert_eq!(status, JobStatus::Dead);
    assert_eq!(
        s.job_counts().expect("counts").get(&JobStatus::Dead),
        Some(&1)
    );
}

pub fn deferred_job_waits_with_reason_without_spending_an_attempt(f: Fixture) {
    let s = f.store.as_ref();
    s.enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue");
    let job = claim(s, "w", 0).expect("job");
    let defer = JobFailure::Deferred {
        kind: WaitKind::Cap,
        reason: "daily cap of $5.00 reached".into(),
        until: t(3600),
    };
    assert_eq!(
        s.fail_job(&job, "w", &defer, &POLICY, t(0)).expect("defer"),
        JobStatus::Waiting
    );
    let waiting = s.get_job(job.id).expect("job");
    assert_eq!(
        (waiting.attempts, waiting.wait_reason.as_deref()),
        (0, Some("daily cap of $5.00 reached"))
    );
    assert!(claim(s, "w", 3599).is_none());
    let again = claim(s, "w", 3600).expect("due");
    assert_eq!(again.attempts, 1);
    assert_eq!(s.get_job(job.id).expect("job").wait_reason, None);
}

pub fn expired_leases_are_reclaimed_and_released_jobs_requeued(f: Fixture) {
    let s = f.store.as_ref();
    s.enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue");
    s.enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue");
    let j1 = claim(s, "dead-worker", 0).expect("j1");
    let j2 = claim(s, "live-worker", 0).expect("j2");
    assert!(s.heartbeat_job(j2.id, "live-worker", t(500)).expect("beat"));
    assert_eq!(
        s.reclaim_leases(false, 3, t(30)).expect("reclaim").total(),
        0,
        "leases still valid"
    );
    assert_eq!(
        s.reclaim_leases(false, 3, t(61)).expect("reclaim"),
        Reclaimed {
            requeued: 1,
            dead: vec![]
        },
        "only the expired one"
    );
    assert_eq!(s.get_job(j1.id).expect("job").status, JobStatus::Queued);
    assert_eq!(s.get_job(j2.id).expect("job").status, JobStatus::Running);
    let err = s
        .complete_job(&j1, "dead-worker", &monitor_output(&[]), t(62))
        .expect_err("lease lost");
    assert!(matches!(err, StoreError::LeaseLost { .. }));
    s.release_job(j2.id, "live-worker", t(62)).expect("release");
    let released = s.get_job(j2.id).expect("job");
    assert_eq!((released.status, released.attempts), (JobStatus::Queued, 0));
    let again = claim(s, "w", 63).expect("job");
    assert_eq!(
        s.reclaim_leases(true, 3, t(63))
            .expect("reclaim all")
            .requeued,
        1
    );
    assert_eq!(s.get_job(again.id).expect("job").status, JobStatus::Queued);
}

/// The poison-pill guard: a job whose attempts died with the process
/// (reclaimed with its attempt unfinished) `poison_after` times in a row is
/// dead with that reason, though attempts are left; an attempt that ends
/// (here a retryable failure) starts the count again.
pub fn a_job_that_died_with_the_process_three_times_in_a_row_is_a_poison_pill(f: Fixture) {
    let s = f.store.as_ref();
    let mut run = new_run("a", None, None);
    run.max_attempts = 10;
    let run = s.enqueue_run(&run, t(0)).expect("enqueue").run_id();
    let mut now = 0;
    // Claimed, then the process dies: the next start reclaims it.
    fn crash(s: &dyn Store, now: &mut i64) -> (ClaimedJob, Reclaimed) {
        let job = claim(s, "crashing", *now).expect("due");
        *now += 1;
        let r = s.reclaim_leases(true, 3, t(*now)).expect("reclaim");
        *now += 1;
        (job, r)
    }
    for _ in 0..2 {
        let (_, r) = crash(s, &mut now);
        assert_eq!((r.requeued, r.dead.len()), (1, 0));
    }
    // An attempt that ends is not a crash: the count starts again.
    let job = claim(s, "w", now).expect("due");
    let status = s
        .fail_job(
            &job,
            "w",
            &JobFailure::Retryable {
                error: "timeout".into(),
                jitter: 0.0,
            },
            &POLICY,
            t(now),
        )
        .expect("fail");
    assert_eq!(status, JobStatus::Queued);
    now += 1_000;
    for _ in 0..2 {
        let (_, r) = crash(s, &mut now);
        assert_eq!((r.requeued, r.dead.len()), (1, 0), "{r:?}");
    }
    let (job, r) = crash(s, &mut now);
    assert_eq!(r.requeued, 0);
    assert_eq!(r.dead.len(), 1, "{r:?}");
    let dead = &r.dead[0];
    assert!(dead.poison_pill);
    assert_eq!(
        (dead.id, dead.run_id, dead.stage),
        (job.id, run, Stage::Monitor)
    );
    assert!(
        dead.error
            .starts_with("poison pill: the process died 3 times in a row"),
        "{}",
        dead.error
    );
    let record = s.get_job(job.id).expect("job");
    assert_eq!(record.status, JobStatus::Dead);
    assert_eq!(record.attempts, 6, "attempts were left: 6 of 10");
    assert_eq!(record.last_error.as_deref(), Some(dead.error.as_str()));
    let r = s.get_run(run).expect("run");
    assert_eq!(r.status, RunStatus::Failed);
    assert!(
        r.error.as_deref().unwrap_or("").contains("poison pill"),
        "{r:?}"
    );
    let events = s.list_events(100, None).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.kind == "job.poison_pill" && e.job_id == Some(job.id)),
        "{events:?}"
    );
    assert!(claim(s, "w", now + 10_000).is_none(), "never claimed again");
    // An operator's retry gives it a clean slate.
    s.retry_job(job.id, "operator", t(now)).expect("retry");
    let (_, r) = crash(s, &mut now);
    assert_eq!((r.requeued, r.dead.len()), (1, 0));
}

pub fn cancel_ends_the_run(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    let job = claim(s, "w", 0).expect("job");
    s.cancel_job(job.id, "operator", t(1)).expect("cancel");
    let r = s.get_run(run).expect("run");
    assert_eq!(
        (r.status, r.outcome.as_deref()),
        (RunStatus::Cancelled, Some("cancelled by operator"))
    );
    assert!(
        s.complete_job(&job, "w", &monitor_output(&[]), t(2))
            .is_err(),
        "a cancelled job cannot complete"
    );
    assert!(
        s.cancel_job(job.id, "operator", t(3)).is_err(),
        "already cancelled"
    );
}

pub fn schedule_advance_is_compare_and_set(f: Fixture) {
    let s = f.store.as_ref();
    let first = SlotAdvance {
        site: "a".into(),
        schedule_key: "k".into(),
        expected_next: None,
        new_next: Some(t(100)),
        run: None,
    };
    assert_eq!(s.advance_schedule(&first, t(0)).expect("advance"), None);
    assert_eq!(
        s.advance_schedule(&first, t(0)).expect("stale"),
        None,
        "stale expectation: no-op"
    );
    let due = SlotAdvance {
        site: "a".into(),
        schedule_key: "k".into(),
        expected_next: Some(t(100)),
        new_next: Some(t(200)),
        run: Some(NewRun {
            trigger: RunTrigger::Schedule,
            ..new_run("a", Some("a@100"), None)
        }),
    };
    let e = s
        .advance_schedule(&due, t(100))
        .expect("advance")
        .expect("enqueued");
    assert!(matches!(e, Enqueued::Created(_)));
    assert_eq!(
        s.advance_schedule(&due, t(101)).expect("again"),
        None,
        "a second instance does nothing"
    );
    let site = s
        .list_sites()
        .expect("sites")
        .into_iter()
        .find(|x| x.name == "a")
        .expect("a");
    assert_eq!(
        (
            site.next_run_at,
            site.last_run_at,
            site.schedule_key.as_deref()
        ),
        (Some(t(200)), Some(t(100)), Some("k"))
    );
    assert_eq!(s.list_runs(Some("a"), 10, None).expect("runs").len(), 1);
}

pub fn sync_disables_removed_sites_and_keeps_runtime_state(f: Fixture) {
    let s = f.store.as_ref();
    s.set_site_paused("a", true, Some("x"), t(1))
        .expect("pause");
    s.sync_sites(&[site("a", 5)], t(2)).expect("sync");
    let sites = s.list_sites().expect("sites");
    let a = sites.iter().find(|x| x.name == "a").expect("a");
    let b = sites.iter().find(|x| x.name == "b").expect("b kept");
    assert!(a.enabled && a.paused && a.max_concurrency == 5);
    assert!(!b.enabled, "removed from config: disabled, not deleted");
    s.enqueue_run(&new_run("b", None, None), t(3))
        .expect("history can still be written");
    assert!(
        claim(s, "w", 4).is_none(),
        "a disabled site's jobs are not claimed"
    );
}

pub fn concurrent_claimers_never_share_a_job(f: Fixture) {
    let store = f.store.clone();
    store
        .sync_sites(&[site("a", 1000), site("b", 1000)], t(0))
        .expect("sync");
    for _ in 0..200 {
        store
            .enqueue_run(&new_run("a", None, Some(Stage::Monitor)), t(0))
            .expect("enqueue");
    }
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let s = store.clone();
            std::thread::spawn(move || {
                let owner = format!("w{w}");
                let req = ClaimRequest {
                    global_limit: 1000,
                    ..claim_req(&owner)
                };
                let mut mine = Vec::new();
                while let Some(job) = s.claim_next_job(&req, t(1)).expect("claim") {
                    s.complete_job(&job, &owner, &monitor_output(&[]), t(1))
                        .expect("complete");
                    mine.push(job.id);
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<JobId> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(all.len(), 200);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200, "no job was claimed twice");
}

pub fn article_titles_list_a_sites_articles_newest_first(f: Fixture) {
    let s = f.store.as_ref();
    assert!(s.list_article_titles("a", 10).expect("empty").is_empty());
    let mut ids = Vec::new();
    for (i, title) in ["Rust and SQLite", "Backups that restore"]
        .iter()
        .enumerate()
    {
        let run = s
            .enqueue_run(&new_run("a", None, Some(Stage::Generate)), t(i as i64 * 10))
            .expect("enqueue")
            .run_id();
        let base = i as i64 * 10;
        finish_stage(s, base + 1, Stage::Monitor, monitor_output(&[]));
        finish_stage(
            s,
            base + 2,
            Stage::Topics,
            topics_output_about(&format!("rust sqlite {i}"), true),
        );
        let mut a = article();
        a.title = title.to_string();
        a.focus_keyword = format!("kw {i}");
        finish_stage(
            s,
            base + 3,
            Stage::Generate,
            StageOutput::Generate(GenerateOutput {
                article: a,
                notes: Default::default(),
            }),
        );
        ids.push(s.article_for_run(run).expect("read").expect("article").id);
    }
    let titles = s.list_article_titles("a", 10).expect("titles");
    assert_eq!(
        titles
            .iter()
            .map(|a| (a.id, a.title.as_str(), a.focus_keyword.as_str()))
            .collect::<Vec<_>>(),
        [
            (ids[1], "Backups that restore", "kw 1"),
            (ids[0], "Rust and SQLite", "kw 0")
        ]
    );
    assert_eq!(titles[0].status, ArticleStatus::Draft);
    assert_eq!(titles[0].topic, "rust sqlite");
    assert_eq!(s.list_article_titles("a", 1).expect("limited").len(), 1);
    assert!(
        s.list_article_titles("b", 10)
            .expect("other site")
            .is_empty()
    );
    assert!(
        s.list_article_titles("nope", 10)
            .expect("unknown site")
            .is_empty()
    );
}

/// Declares one #[test] per contract function per backend. The PostgreSQL
/// half's names carry `postgres` (the module), which scripts/test.sh filters
/// on when PostgreSQL is opted out of.
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod sqlite_backend {
            $( #[test] fn $name() { super::$name(super::sqlite()); } )+
        }
        mod postgres_backend {
            $( #[test] fn $name() { super::$name(super::postgres()); } )+
        }
    };
}

contract!(
    fresh_database_is_fully_migrated,
    enqueue_creates_run_and_first_job_and_slot_keys_dedupe,
    full_chain_commits_each_stage_and_finishes_the_run,
    until_stops_the_run_after_that_stage,
    no_kept_topic_ends_the_run_without_generating,
    held_for_review_ends_the_run_and_keeps_the_reason,
    items_are_stored_once_across_runs,
    source_errors_keep_validators_and_count_failures,
    skipped_entries_are_stored_and_kept_across_a_304_and_a_failure,
    claim_honours_not_before_pause_and_limits,
    claim_only_runs_filters,
    wrong_owner_cannot_complete_and_nothing_is_written,
    retryable_failures_back_off_then_die_and_operator_retry_revives,
    permanent_failure_is_dead_at_once,
    deferred_job_waits_with_reason_without_spending_an_attempt,
    expired_leases_are_reclaimed_and_released_jobs_requeued,
    a_job_that_died_with_the_process_three_times_in_a_row_is_a_poison_pill,
    concurrent_runs_reserve_distinct_topics,
    a_run_that_fails_for_good_releases_its_topic,
    cancel_ends_the_run,
    schedule_advance_is_compare_and_set,
    sync_disables_removed_sites_and_keeps_runtime_state,
    concurrent_claimers_never_share_a_job,
    article_titles_list_a_sites_articles_newest_first,
    selected_topic_and_source_items_by_id,
    reservations_are_refused_at_every_cap_and_unsettled_ones_count,
    recording_a_call_settles_its_reservation_and_feeds_the_spend_report,
    waking_waiting_jobs_makes_them_due_now,
    concurrent_reservations_never_exceed_a_cap,
    concurrent_slot_enqueues_create_one_run,
    begin_publish_records_intent_and_rate_limits_per_site,
    publish_commit_marks_the_ledger_published,
    article_images_are_set_and_replaced,
    list_articles_filters_by_site_and_status,
    approve_queues_a_publish_job_and_reopens_the_run,
    reject_keeps_the_reason_and_cancels_a_queued_publish,
    request_publish_revives_a_dead_publish_job,
    api_tokens_are_created_listed_and_revoked,
    cap_overrides_apply_to_reservations_and_can_be_removed,
    jobs_page_filters_and_pages_newest_first,
    costs_queues_and_metrics_aggregate_the_history,
);
