//! The store contract for publishing and the review queue: the publish
//! ledger (intent before the request, the per-site rate limit, marked
//! published by the job commit), featured images, article listing, and the
//! operator actions approve / reject / publish again.

use std::time::Duration;

use blog_poster::domain::lifecycle::{ArticleStatus, JobStatus, RunStatus, Stage};
use blog_poster::store::*;

use super::{Fixture, article, claim, finish_stage, monitor_output, new_run, topics_output_about};
use crate::harness::t;

/// Runs a fresh run of `site` through check with `decision`. With
/// `publish`, a passing article gets its publish job; otherwise the run
/// stops after check (so later runs' jobs are claimed in order).
fn through_check(
    s: &dyn Store,
    site: &str,
    secs: i64,
    decision: CheckDecision,
    publish: bool,
) -> (RunId, ArticleId) {
    let until = (!publish).then_some(Stage::Check);
    let run = s
        .enqueue_run(&new_run(site, None, until), t(secs))
        .expect("enqueue")
        .run_id();
    finish_stage(s, secs + 1, Stage::Monitor, monitor_output(&[]));
    finish_stage(
        s,
        secs + 2,
        Stage::Topics,
        topics_output_about(&format!("rust sqlite {secs}"), true),
    );
    finish_stage(
        s,
        secs + 3,
        Stage::Generate,
        StageOutput::Generate(GenerateOutput {
            article: article(),
            notes: Default::default(),
        }),
    );
    let id = s.article_for_run(run).expect("read").expect("article").id;
    finish_stage(
        s,
        secs + 4,
        Stage::Check,
        StageOutput::Check(CheckOutput {
            article_id: id,
            score: 50,
            report: serde_json::json!({}),
            decision,
        }),
    );
    (run, id)
}

fn held() -> CheckDecision {
    CheckDecision::Review {
        reason: "score 50 below the gate of 70".into(),
    }
}

fn intent(article: ArticleId, key: &str, min: u64) -> PublishIntent {
    PublishIntent {
        article_id: article,
        target: "wordpress".into(),
        idempotency_key: key.into(),
        min_interval: Duration::from_secs(min),
    }
}

fn go(b: PublishBegin) -> PublishEntry {
    match b {
        PublishBegin::Go(e) => e,
        PublishBegin::Wait { until } => panic!("expected Go, got Wait until {until}"),
    }
}

pub fn begin_publish_records_intent_and_rate_limits_per_site(f: Fixture) {
    let s = f.store.as_ref();
    let (_, a1) = through_check(s, "a", 0, CheckDecision::Publish, false);
    let (_, a2) = through_check(s, "a", 10, CheckDecision::Publish, false);
    let (_, b1) = through_check(s, "b", 20, CheckDecision::Publish, false);
    assert_eq!(s.publish_entry(a1).expect("read"), None);

    let e = go(s
        .begin_publish(&intent(a1, "key-a1", 60), t(100))
        .expect("begin"));
    assert_eq!(
        (
            e.status,
            e.attempts,
            e.idempotency_key.as_str(),
            e.site.as_str()
        ),
        (LedgerStatus::Intent, 1, "key-a1", "a")
    );
    assert_eq!(e.last_attempt_at, Some(t(100)));
    assert_eq!(s.publish_entry(a1).expect("read"), Some(e.clone()));

    // Another article of the same site waits for the interval…
    assert_eq!(
        s.begin_publish(&intent(a2, "key-a2", 60), t(130))
            .expect("begin"),
        PublishBegin::Wait { until: t(160) }
    );
    assert_eq!(s.publish_entry(a2).expect("read"), None, "nothing written");
    // …a retry of the same article does not, and keeps its first key…
    let again = go(s
        .begin_publish(&intent(a1, "other-key", 60), t(130))
        .expect("again"));
    assert_eq!(
        (again.attempts, again.idempotency_key.as_str()),
        (2, "key-a1")
    );
    // …and another site is not limited at all.
    go(s.begin_publish(&intent(b1, "key-b1", 60), t(131))
        .expect("site b"));
    // After the interval (from a1's latest attempt) a2 may go.
    assert_eq!(
        s.begin_publish(&intent(a2, "key-a2", 60), t(189))
            .expect("begin"),
        PublishBegin::Wait { until: t(190) }
    );
    go(s.begin_publish(&intent(a2, "key-a2", 60), t(190))
        .expect("begin"));
    let err = s
        .begin_publish(&intent(ArticleId(999), "k", 0), t(200))
        .expect_err("unknown article");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub fn publish_commit_marks_the_ledger_published(f: Fixture) {
    let s = f.store.as_ref();
    let (run, a) = through_check(s, "a", 0, CheckDecision::Publish, true);
    go(s.begin_publish(&intent(a, "key", 0), t(10)).expect("begin"));
    s.record_publish_error(a, "timeout talking to WordPress", t(11))
        .expect("error");
    assert_eq!(
        s.publish_entry(a)
            .expect("read")
            .expect("row")
            .last_error
            .as_deref(),
        Some("timeout talking to WordPress")
    );
    finish_stage(
        s,
        20,
        Stage::Publish,
        StageOutput::Publish(PublishOutput {
            article_id: a,
            target: "wordpress".into(),
            remote_id: Some("42".into()),
            location: "https://blog.example/?p=42".into(),
        }),
    );
    let e = s.publish_entry(a).expect("read").expect("row");
    assert_eq!(e.status, LedgerStatus::Published);
    assert_eq!(e.remote_id.as_deref(), Some("42"));
    assert_eq!(e.remote_url.as_deref(), Some("https://blog.example/?p=42"));
    assert_eq!(e.last_error, None);
    assert_eq!(s.get_run(run).expect("run").status, RunStatus::Succeeded);
    let err = s
        .record_publish_error(ArticleId(999), "x", t(30))
        .expect_err("no row");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub fn article_images_are_set_and_replaced(f: Fixture) {
    let s = f.store.as_ref();
    let (_, a) = through_check(s, "a", 0, held(), false);
    assert_eq!(s.article_image(a).expect("read"), None);
    let img = ArticleImage {
        source: "images/hero.png".into(),
        alt_text: "A hero".into(),
    };
    s.set_article_image(a, &img, t(10)).expect("set");
    assert_eq!(s.article_image(a).expect("read"), Some(img));
    let other = ArticleImage {
        source: "https://cdn.example/x.jpg".into(),
        alt_text: String::new(),
    };
    s.set_article_image(a, &other, t(11)).expect("replace");
    assert_eq!(s.article_image(a).expect("read"), Some(other.clone()));
    assert!(matches!(
        s.set_article_image(ArticleId(999), &other, t(12)),
        Err(StoreError::NotFound { .. })
    ));
}

pub fn list_articles_filters_by_site_and_status(f: Fixture) {
    let s = f.store.as_ref();
    let (_, a1) = through_check(s, "a", 0, held(), false);
    let (_, a2) = through_check(s, "a", 10, CheckDecision::Publish, false);
    let (_, b1) = through_check(s, "b", 20, held(), false);
    let list = |site: Option<&str>, status, before| {
        s.list_articles(&ArticleFilter {
            site: site.map(str::to_string),
            status,
            limit: 10,
            before,
        })
        .expect("list")
        .into_iter()
        .map(|a| a.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(list(None, None, None), vec![b1, a2, a1], "newest first");
    assert_eq!(list(None, Some(ArticleStatus::Review), None), vec![b1, a1]);
    assert_eq!(list(Some("a"), Some(ArticleStatus::Review), None), vec![a1]);
    assert_eq!(list(Some("a"), None, Some(a2)), vec![a1]);
    assert_eq!(list(Some("zzz"), None, None), vec![]);
}

pub fn approve_queues_a_publish_job_and_reopens_the_run(f: Fixture) {
    let s = f.store.as_ref();
    let (run, a) = through_check(s, "a", 0, held(), false);
    assert_eq!(
        s.get_run(run).expect("run").outcome.as_deref(),
        Some("held for review")
    );
    let out = s.approve_article(a, "cli:ann", t(50)).expect("approve");
    assert_eq!(
        (out.article_id, out.run_id, out.status),
        (a, run, ArticleStatus::Approved)
    );
    assert!(
        out.message.contains("approved by cli:ann"),
        "{}",
        out.message
    );
    let job = out.publish_job.expect("publish job");
    let r = s.get_run(run).expect("run");
    assert_eq!(
        (r.status, r.outcome, r.finished_at),
        (RunStatus::Running, None, None)
    );
    let j = s.get_job(job).expect("job");
    assert_eq!((j.stage, j.status), (Stage::Publish, JobStatus::Queued));
    assert_eq!(
        s.get_article(a).expect("article").status,
        ArticleStatus::Approved
    );
    let claimed = claim(s, "w", 51).expect("publish job is due");
    assert_eq!(claimed.id, job);
    assert!(
        s.list_events(50, None)
            .expect("events")
            .iter()
            .any(|e| e.kind == "article.approved" && e.actor == "cli:ann" && e.job_id == Some(job))
    );
    // Approving twice is refused with a pointer to `article publish`.
    let err = s.approve_article(a, "cli", t(52)).expect_err("twice");
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("article publish")),
        "{err}"
    );
    assert!(matches!(
        s.approve_article(ArticleId(999), "cli", t(53)),
        Err(StoreError::NotFound { .. })
    ));
}

pub fn reject_keeps_the_reason_and_cancels_a_queued_publish(f: Fixture) {
    let s = f.store.as_ref();
    let (run, a) = through_check(s, "a", 0, held(), false);
    let out = s
        .reject_article(a, "off topic for this blog", "cli:bob", t(10))
        .expect("reject");
    assert_eq!(
        (out.status, out.publish_job),
        (ArticleStatus::Rejected, None)
    );
    let art = s.get_article(a).expect("article");
    assert_eq!(
        (art.status, art.review_reason.as_deref()),
        (ArticleStatus::Rejected, Some("off topic for this blog"))
    );
    // Approved later after all: a publish job; rejected again before it ran:
    // the job is cancelled and the run ends with the reason.
    let approved = s.approve_article(a, "cli:ann", t(20)).expect("approve");
    let job = approved.publish_job.expect("job");
    s.reject_article(a, "changed my mind", "cli:bob", t(30))
        .expect("reject again");
    assert_eq!(s.get_job(job).expect("job").status, JobStatus::Cancelled);
    let r = s.get_run(run).expect("run");
    assert_eq!(r.status, RunStatus::Cancelled);
    assert_eq!(
        r.outcome.as_deref(),
        Some("rejected by cli:bob: changed my mind")
    );
    assert!(claim(s, "w", 31).is_none(), "nothing to publish");
    // Approving once more revives the cancelled job.
    let again = s
        .approve_article(a, "cli:ann", t(40))
        .expect("approve again");
    assert_eq!(again.publish_job, Some(job));
    assert_eq!(s.get_job(job).expect("job").status, JobStatus::Queued);
    // A running publish job cannot be rejected under its feet.
    let running = claim(s, "w", 41).expect("claim");
    let err = s
        .reject_article(a, "late", "cli:bob", t(42))
        .expect_err("running");
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("being published right now")),
        "{err}"
    );
    assert_eq!(running.stage, Stage::Publish);
    let kinds: Vec<String> = s
        .list_events(100, None)
        .expect("events")
        .into_iter()
        .filter(|e| e.kind.starts_with("article."))
        .map(|e| format!("{} {}", e.kind, e.actor))
        .collect();
    assert_eq!(
        kinds,
        [
            "article.approved cli:ann",
            "article.rejected cli:bob",
            "article.approved cli:ann",
            "article.rejected cli:bob"
        ]
    );
}

pub fn request_publish_revives_a_dead_publish_job(f: Fixture) {
    let s = f.store.as_ref();
    let (_, held_article) = through_check(s, "b", 0, held(), false);
    let (run, a) = through_check(s, "a", 100, CheckDecision::Publish, true);
    let err = s
        .approve_article(a, "cli", t(105))
        .expect_err("already approved");
    assert!(matches!(err, StoreError::Conflict(_)));
    let job = claim(s, "w", 110).expect("publish job");
    assert_eq!(job.stage, Stage::Publish);
    s.fail_job(
        &job,
        "w",
        &JobFailure::Permanent {
            error: "bad credentials".into(),
        },
        &super::POLICY,
        t(110),
    )
    .expect("fail");
    assert_eq!(s.get_run(run).expect("run").status, RunStatus::Failed);
    let out = s.request_publish(a, "cli:ann", t(120)).expect("publish");
    assert_eq!(out.publish_job, Some(job.id));
    assert_eq!(s.get_job(job.id).expect("job").status, JobStatus::Queued);
    assert_eq!(s.get_run(run).expect("run").status, RunStatus::Running);
    // Asking again while it is queued changes nothing.
    let again = s.request_publish(a, "cli:ann", t(121)).expect("again");
    assert!(
        again.message.contains("already queued"),
        "{}",
        again.message
    );
    // Only approved articles can be published.
    let err = s
        .request_publish(held_article, "cli", t(40))
        .expect_err("not approved");
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("approve it first")),
        "{err}"
    );
}
