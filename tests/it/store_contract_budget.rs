//! The store contract, continued: the selected topic, source items by id,
//! generation notes, budget reservations, LLM call records, spend reads and
//! waking waiting jobs. Listed in the `contract!` macro of the parent.

use blog_poster::budget::{BudgetCaps, CapRefusal, CapScope};
use blog_poster::domain::lifecycle::{JobStatus, Stage, WaitKind};
use blog_poster::domain::money::Money;
use blog_poster::store::*;

use super::{
    Fixture, POLICY, article, claim, finish_stage, monitor_output, new_run, topics_output,
};
use crate::harness::t;

pub fn selected_topic_and_source_items_by_id(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    assert_eq!(s.selected_topic(run).expect("read"), None);
    finish_stage(s, 1, Stage::Monitor, monitor_output(&["k1", "k2", "k3"]));
    finish_stage(s, 2, Stage::Topics, topics_output(true));
    let topic = s.selected_topic(run).expect("read").expect("selected");
    assert_eq!(topic.keyword, "rust sqlite");
    let items = s.list_source_items("a", None, 10).expect("items");
    let ids: Vec<i64> = items.iter().map(|i| i.id).rev().collect();
    let by_id = s
        .get_source_items(&[ids[2], 999_999, ids[0]])
        .expect("by id");
    assert_eq!(
        by_id.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![ids[2], ids[0]],
        "in the order asked, unknown ids skipped"
    );
    let notes = GenerationNotes {
        provider: "p".into(),
        model: "m".into(),
        source_item_ids: ids.clone(),
        unknown_link_domains: vec!["spam.example".into()],
        repairs: vec!["slug made from the title".into()],
        attempts: 2,
    };
    finish_stage(
        s,
        3,
        Stage::Generate,
        StageOutput::Generate(GenerateOutput {
            article: article(),
            notes: notes.clone(),
        }),
    );
    let stored = s.article_for_run(run).expect("read").expect("article");
    assert_eq!(stored.generation, Some(notes));
}

fn budget_request(site: &str, article: &str, micros: i64, caps: BudgetCaps) -> BudgetRequest {
    BudgetRequest {
        site: site.into(),
        job: None,
        run: None,
        article_key: article.into(),
        provider: "anthropic".into(),
        model: "claude-sonnet-5-5".into(),
        purpose: "generate".into(),
        amount: Money(micros),
        caps,
    }
}

fn granted(r: Reservation) -> ReservationId {
    match r {
        Reservation::Granted(id) => id,
        Reservation::Refused(refusal) => panic!("refused: {refusal}"),
    }
}

fn refused(r: Reservation) -> CapRefusal {
    match r {
        Reservation::Refused(refusal) => refusal,
        Reservation::Granted(id) => panic!("granted {id}"),
    }
}

pub fn reservations_are_refused_at_every_cap_and_unsettled_ones_count(f: Fixture) {
    let s = f.store.as_ref();
    let caps = BudgetCaps {
        global_daily: Some(Money(1000)),
        global_monthly: Some(Money(1500)),
        site_daily: Some(Money(600)),
        site_monthly: None,
        per_article: Some(Money(400)),
    };
    granted(
        s.reserve_budget(&budget_request("a", "run:1", 400, caps), t(0))
            .expect("reserve"),
    );
    let r = refused(
        s.reserve_budget(&budget_request("a", "run:1", 1, caps), t(0))
            .expect("reserve"),
    );
    assert_eq!(
        (r.scope, r.spent, r.resets_at),
        (CapScope::Article, Money(400), None)
    );
    let r = refused(
        s.reserve_budget(&budget_request("a", "run:2", 201, caps), t(0))
            .expect("reserve"),
    );
    assert_eq!(
        (r.scope, r.cap, r.spent),
        (CapScope::SiteDaily, Money(600), Money(400))
    );
    granted(
        s.reserve_budget(&budget_request("a", "run:2", 200, caps), t(0))
            .expect("reserve"),
    );
    granted(
        s.reserve_budget(&budget_request("b", "run:3", 400, caps), t(0))
            .expect("reserve"),
    );
    let r = refused(
        s.reserve_budget(&budget_request("b", "run:4", 1, caps), t(0))
            .expect("reserve"),
    );
    assert_eq!((r.scope, r.spent), (CapScope::GlobalDaily, Money(1000)));
    // The next UTC day the daily caps start over; the monthly one does not.
    let next_day = t(0) + chrono::Duration::days(1);
    granted(
        s.reserve_budget(&budget_request("b", "run:4", 400, caps), next_day)
            .expect("reserve"),
    );
    let r = refused(
        s.reserve_budget(&budget_request("b", "run:5", 101, caps), next_day)
            .expect("reserve"),
    );
    assert_eq!(r.scope, CapScope::GlobalMonthly);
    assert!(r.resets_at.is_some_and(|at| at > next_day));
    let report = s.spend_report(t(0)).expect("report");
    assert_eq!(
        report.global_today.unsettled,
        Money(1000),
        "nothing settled: all counts at worst case"
    );
    assert_eq!(report.global_today.settled, Money::ZERO);
    let err = s
        .reserve_budget(&budget_request("nope", "run:9", 1, caps), t(0))
        .expect_err("unknown site");
    assert!(err.to_string().contains("unknown site"), "{err}");
}

pub fn recording_a_call_settles_its_reservation_and_feeds_the_spend_report(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    let caps = BudgetCaps {
        site_daily: Some(Money(1000)),
        ..Default::default()
    };
    let id = granted(
        s.reserve_budget(&budget_request("a", "run:1", 900, caps), t(1))
            .expect("reserve"),
    );
    assert!(matches!(
        s.reserve_budget(&budget_request("a", "run:2", 200, caps), t(1))
            .expect("reserve"),
        Reservation::Refused(_)
    ));
    let call = NewLlmCall {
        reservation: Some(id),
        site: "a".into(),
        job: None,
        run: Some(run),
        provider: "anthropic".into(),
        model: "claude-sonnet-5-5".into(),
        purpose: "generate".into(),
        input_tokens: 1234,
        output_tokens: 567,
        cost: Money(300),
        latency_ms: 42,
        outcome: CallOutcome::Ok,
        error: None,
    };
    s.record_llm_call(&call, t(2)).expect("record");
    granted(
        s.reserve_budget(&budget_request("a", "run:2", 700, caps), t(3))
            .expect("room again after settling"),
    );
    let calls = s.list_llm_calls(Some(run), 10).expect("calls");
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        (
            c.input_tokens,
            c.output_tokens,
            c.cost,
            c.latency_ms,
            c.outcome.as_str(),
            c.reservation_id
        ),
        (1234, 567, Money(300), 42, "ok", Some(id))
    );
    assert_eq!(c.site.as_deref(), Some("a"));
    let report = s.spend_report(t(3)).expect("report");
    assert_eq!(report.global_today.settled, Money(300));
    assert_eq!(report.global_today.unsettled, Money(700));
    assert_eq!(report.global_month.total(), Money(1000));
    let a = report.sites.iter().find(|x| x.site == "a").expect("site a");
    assert_eq!(a.today.total(), Money(1000));
    assert_eq!(report.models.len(), 1);
    let m = &report.models[0];
    assert_eq!(
        (m.calls_month, m.input_tokens_month, m.cost_month),
        (1, 1234, Money(300))
    );
    // Settling twice does not change the first settlement.
    s.record_llm_call(
        &NewLlmCall {
            cost: Money(1),
            ..call
        },
        t(4),
    )
    .expect("record");
    assert_eq!(
        s.spend_report(t(4)).expect("report").global_today.settled,
        Money(300)
    );
}

/// Waits keep their kind and deadline. Waking one kind leaves the others
/// alone; a cap change wakes cap waits once, and the same caps seen again
/// wake nothing; provider and target waits keep their time throughout.
pub fn waking_waiting_jobs_makes_them_due_now(f: Fixture) {
    let s = f.store.as_ref();
    let mut jobs = Vec::new();
    for (kind, reason, until) in [
        (WaitKind::Cap, "daily cap reached", 86_400),
        (WaitKind::Provider, "anthropic asked to wait 600s", 600),
        (WaitKind::Target, "site a takes one post every 1h", 3_600),
    ] {
        s.enqueue_run(&new_run("a", None, None), t(0))
            .expect("enqueue");
        let job = claim(s, "w", 0).expect("a due job");
        let defer = JobFailure::Deferred {
            kind,
            reason: reason.into(),
            until: t(until),
        };
        s.fail_job(&job, "w", &defer, &POLICY, t(0)).expect("defer");
        let record = s.get_job(job.id).expect("job");
        assert_eq!(
            (record.wait_kind, record.wait_until, record.not_before),
            (Some(kind), Some(t(until)), t(until))
        );
        jobs.push(job.id);
    }
    assert!(claim(s, "w", 10).is_none());
    let not_before = |i: usize| s.get_job(jobs[i]).expect("job").not_before;

    // First caps ever seen: cap waits look again; provider waits do not.
    assert_eq!(
        s.wake_cap_waits_if_caps_changed("caps v1", t(10))
            .expect("wake"),
        1
    );
    let woken = s.get_job(jobs[0]).expect("job");
    assert_eq!(
        (
            woken.status,
            woken.wait_reason.as_deref(),
            woken.not_before,
            woken.wait_until
        ),
        (
            JobStatus::Waiting,
            Some("daily cap reached"),
            t(10),
            Some(t(86_400))
        ),
        "still waiting with its reason and deadline until claimed"
    );
    assert_eq!(not_before(1), t(600), "the provider's Retry-After holds");
    // The cap job is claimed and waits again (its cap still holds).
    let again = claim(s, "w", 10).expect("due now");
    assert_eq!(again.id, jobs[0]);
    let defer = JobFailure::Deferred {
        kind: WaitKind::Cap,
        reason: "daily cap reached".into(),
        until: t(86_400),
    };
    s.fail_job(&again, "w", &defer, &POLICY, t(11))
        .expect("defer");
    assert_eq!(
        s.wake_cap_waits_if_caps_changed("caps v1", t(12))
            .expect("wake"),
        0,
        "the same caps: nothing to look at again"
    );
    assert_eq!(not_before(0), t(86_400));
    assert_eq!(
        s.wake_cap_waits_if_caps_changed("caps v2", t(13))
            .expect("wake"),
        1,
        "a changed cap wakes the cap wait"
    );
    assert_eq!(
        (not_before(0), not_before(1), not_before(2)),
        (t(13), t(600), t(3_600))
    );
    // One kind on its own: the target wait only.
    assert_eq!(
        s.wake_waiting_jobs(WaitKind::Target, t(14)).expect("wake"),
        1
    );
    assert_eq!(
        (not_before(0), not_before(1), not_before(2)),
        (t(13), t(600), t(14))
    );
    assert_eq!(
        s.daemon_state("caps_seen").expect("state").as_deref(),
        Some("caps v2")
    );
    s.set_daemon_state("provider_cooldown:x", "{}", t(14))
        .expect("set");
    s.set_daemon_state("provider_cooldown:x", "{\"a\":1}", t(15))
        .expect("replace");
    assert_eq!(
        s.daemon_state("provider_cooldown:x")
            .expect("state")
            .as_deref(),
        Some("{\"a\":1}")
    );
    assert_eq!(s.daemon_state("nothing").expect("state"), None);
}

/// Eight threads reserve against one daily cap at once (on PostgreSQL each
/// through its own pooled connection): the granted total never exceeds the
/// cap, and exactly as many as fit are granted.
pub fn concurrent_reservations_never_exceed_a_cap(f: Fixture) {
    let caps = BudgetCaps {
        global_daily: None,
        global_monthly: None,
        site_daily: Some(Money(10_000)),
        site_monthly: None,
        per_article: None,
    };
    let handles: Vec<_> = (0..8)
        .map(|w| {
            let s = f.store.clone();
            std::thread::spawn(move || {
                let mut granted = 0i64;
                for i in 0..40 {
                    let req = budget_request("a", &format!("run:{w}-{i}"), 70, caps);
                    if let Reservation::Granted(_) = s.reserve_budget(&req, t(0)).expect("reserve")
                    {
                        granted += 70;
                    }
                }
                granted
            })
        })
        .collect();
    let total: i64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    // 8 × 40 × 70 = 22,400 asked; 142 reservations of 70 fit in 10,000.
    assert_eq!(
        total,
        142 * 70,
        "exactly what fits under the cap was granted"
    );
    let report = f.store.spend_report(t(0)).expect("report");
    let site = report.sites.iter().find(|x| x.site == "a").expect("site a");
    assert_eq!(site.today.unsettled, Money(142 * 70));
    assert!(site.today.unsettled.micros() <= 10_000);
}

/// Two "instances" (threads) advancing the same schedule slot and
/// enqueueing the same slot key at once: one run, one first job.
pub fn concurrent_slot_enqueues_create_one_run(f: Fixture) {
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let s = f.store.clone();
            std::thread::spawn(move || {
                (0..20)
                    .map(|slot| {
                        s.enqueue_run(&new_run("a", Some(&format!("a@{slot}")), None), t(0))
                            .expect("enqueue")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<Enqueued> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    let created = all
        .iter()
        .filter(|e| matches!(e, Enqueued::Created(_)))
        .count();
    assert_eq!(created, 20, "one run per slot, whoever asked first");
    let runs = f.store.list_runs(Some("a"), 100, None).expect("runs");
    assert_eq!(runs.len(), 20);
    let jobs = f.store.list_jobs(None, None, 1000).expect("jobs");
    assert_eq!(jobs.len(), 20, "one first job per run");
}
