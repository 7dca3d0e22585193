//! The store contract, continued: one topic, one run. A run's topic is
//! reserved for its site in the transaction that commits the topics stage,
//! so runs committing at once pick different topics; a run that fails for
//! good (or is cancelled) frees its topic. Listed in the `contract!` macro
//! of the parent.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use blog_poster::domain::lifecycle::{JobStatus, RunStatus, Stage};
use blog_poster::store::*;

use super::{Fixture, POLICY};
use crate::harness::t;

/// `n` kept candidates with distinct words, best first ("topic 00 alpha"…).
fn candidates(n: usize) -> TopicsOutput {
    const WORDS: [&str; 16] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    TopicsOutput {
        candidates: WORDS
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, w)| TopicCandidate {
                keyword: format!("{w} gardening"),
                score: 100.0 - i as f64,
                kept: true,
                reason: "kept: seed keyword".into(),
            })
            .collect(),
        similarity_threshold: None,
    }
}

fn topic_run(s: &dyn Store, site: &str) -> RunId {
    s.enqueue_run(
        &NewRun {
            site: site.into(),
            trigger: RunTrigger::Manual,
            slot_key: None,
            first_stage: Stage::Topics,
            until: None,
            max_attempts: 3,
        },
        t(0),
    )
    .expect("enqueue")
    .run_id()
}

fn claim_run(s: &dyn Store, run: RunId, secs: i64) -> ClaimedJob {
    s.claim_next_job(
        &ClaimRequest {
            owner: "w".into(),
            lease: Duration::from_secs(600),
            global_limit: 100,
            only_runs: Some(vec![run]),
        },
        t(secs),
    )
    .expect("claim")
    .expect("a due job")
}

fn topic_of(s: &dyn Store, run: RunId) -> Option<String> {
    s.selected_topic(run).expect("topic").map(|t| t.keyword)
}

/// Twelve runs of one site hold their topics jobs and commit the same
/// sixteen candidates at once, from twelve threads: twelve different
/// topics, the twelve best.
pub fn concurrent_runs_reserve_distinct_topics(f: Fixture) {
    let store: Arc<dyn Store> = f.store.clone();
    let wide = SiteSpec {
        name: "wide".into(),
        enabled: true,
        max_concurrency: 16,
        sources: vec![],
    };
    let keep = |name: &str, max| SiteSpec {
        name: name.into(),
        enabled: true,
        max_concurrency: max,
        sources: vec![],
    };
    store
        .sync_sites(&[keep("a", 2), keep("b", 1), wide], t(0))
        .expect("sync");
    let runs: Vec<RunId> = (0..12).map(|_| topic_run(store.as_ref(), "wide")).collect();
    let jobs: Vec<ClaimedJob> = runs
        .iter()
        .map(|r| claim_run(store.as_ref(), *r, 1))
        .collect();
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let threads: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store
                    .complete_job(&job, "w", &StageOutput::Topics(candidates(16)), t(2))
                    .expect("commit");
            })
        })
        .collect();
    for th in threads {
        th.join().expect("thread");
    }
    let chosen: Vec<String> = runs
        .iter()
        .map(|r| topic_of(store.as_ref(), *r).expect("every run got a topic"))
        .collect();
    let distinct: BTreeSet<&String> = chosen.iter().collect();
    assert_eq!(distinct.len(), 12, "one topic, one run: {chosen:?}");
    let best: BTreeSet<String> = candidates(12)
        .candidates
        .into_iter()
        .map(|c| c.keyword)
        .collect();
    assert_eq!(
        chosen.iter().cloned().collect::<BTreeSet<_>>(),
        best,
        "the twelve best"
    );
    for r in &runs {
        let job = store
            .list_jobs(Some(*r), None, 10)
            .expect("jobs")
            .into_iter()
            .find(|j| j.stage == Stage::Topics)
            .expect("topics job");
        assert!(
            job.result_summary
                .as_deref()
                .unwrap_or_default()
                .contains(&topic_of(store.as_ref(), *r).expect("topic")),
            "the job's summary names the topic kept: {job:?}"
        );
    }
}

/// A run that fails for good frees its topic for the next run; reviving it
/// does not take the topic back from the run that has it now; a cancelled
/// run frees its topic too.
pub fn a_run_that_fails_for_good_releases_its_topic(f: Fixture) {
    let s = f.store.as_ref();
    let commit = |run: RunId, secs: i64| {
        let job = claim_run(s, run, secs);
        assert_eq!(job.stage, Stage::Topics);
        s.complete_job(&job, "w", &StageOutput::Topics(candidates(3)), t(secs))
            .expect("commit");
        topic_of(s, run)
    };
    let (r1, r2) = (topic_run(s, "a"), topic_run(s, "a"));
    assert_eq!(commit(r1, 1).as_deref(), Some("alpha gardening"));
    assert_eq!(commit(r2, 2).as_deref(), Some("bravo gardening"));
    // Another site has its own topics.
    let rb = topic_run(s, "b");
    assert_eq!(commit(rb, 2).as_deref(), Some("alpha gardening"));

    // r1's generate job fails for good: the run fails, alpha is free.
    let generate = claim_run(s, r1, 3);
    assert_eq!(generate.stage, Stage::Generate);
    let status = s
        .fail_job(
            &generate,
            "w",
            &JobFailure::Permanent {
                error: "bad key".into(),
            },
            &POLICY,
            t(3),
        )
        .expect("fail");
    assert_eq!(status, JobStatus::Dead);
    assert_eq!(s.get_run(r1).expect("run").status, RunStatus::Failed);
    let r3 = topic_run(s, "a");
    assert_eq!(
        commit(r3, 4).as_deref(),
        Some("alpha gardening"),
        "the failed run's topic is free again"
    );

    // Reviving r1 does not take alpha back from r3 (and does not fail).
    s.retry_job(generate.id, "operator", t(5)).expect("retry");
    let r4 = topic_run(s, "a");
    assert_eq!(commit(r4, 6).as_deref(), Some("charlie gardening"));

    // Cancelling r2 frees bravo.
    let r2_generate = s
        .list_jobs(Some(r2), Some(JobStatus::Queued), 10)
        .expect("jobs")
        .remove(0);
    s.cancel_job(r2_generate.id, "operator", t(7))
        .expect("cancel");
    let r5 = topic_run(s, "a");
    assert_eq!(commit(r5, 8).as_deref(), Some("bravo gardening"));

    // Every topic is taken now: the next run has none and says why.
    let r6 = topic_run(s, "a");
    assert_eq!(commit(r6, 9), None);
    let run = s.get_run(r6).expect("run");
    assert_eq!(
        (run.status, run.outcome.as_deref()),
        (RunStatus::Succeeded, Some("no new topic to write about"))
    );
}
