//! The contract of the operator-surface methods: API tokens, cap overrides
//! (and that reservations obey them), paged jobs, cost lines, per-site
//! queues and the metrics snapshot.

use blog_poster::budget::{BudgetCaps, CapScope};
use blog_poster::domain::lifecycle::JobStatus;
use blog_poster::domain::money::Money;
use blog_poster::store::*;

use super::{Fixture, new_run};
use crate::harness::t;

fn token(name: &str, role: TokenRole, hash: &str) -> NewApiToken {
    NewApiToken {
        name: name.into(),
        role,
        token_hash: hash.into(),
    }
}

pub fn api_tokens_are_created_listed_and_revoked(f: Fixture) {
    let s = f.store.as_ref();
    let a = s
        .create_api_token(&token("ops", TokenRole::Admin, "h1"), t(0))
        .expect("create");
    assert_eq!(
        (a.name.as_str(), a.role, a.revoked_at),
        ("ops", TokenRole::Admin, None)
    );
    s.create_api_token(&token("tv", TokenRole::Viewer, "h2"), t(1))
        .expect("create");
    assert!(matches!(
        s.create_api_token(&token("ops", TokenRole::Viewer, "h3"), t(2)),
        Err(StoreError::Conflict(_))
    ));
    let active: Vec<_> = s
        .active_api_tokens()
        .expect("active")
        .into_iter()
        .map(|t| (t.name, t.token_hash))
        .collect();
    assert_eq!(
        active,
        vec![
            ("ops".to_string(), "h1".to_string()),
            ("tv".to_string(), "h2".to_string())
        ]
    );
    s.touch_api_token(a.id, t(5)).expect("touch");
    s.revoke_api_token("tv", "cli", t(6)).expect("revoke");
    s.revoke_api_token("tv", "cli", t(9))
        .expect("revoke twice keeps the first time");
    assert!(matches!(
        s.revoke_api_token("nobody", "cli", t(6)),
        Err(StoreError::NotFound { .. })
    ));
    let all = s.list_api_tokens().expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].last_used_at, Some(t(5)));
    assert_eq!(all[1].revoked_at, Some(t(6)));
    let active: Vec<_> = s
        .active_api_tokens()
        .expect("active")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(active, vec!["ops".to_string()]);
    // A revoked name stays taken.
    assert!(
        s.create_api_token(&token("tv", TokenRole::Viewer, "h4"), t(7))
            .is_err()
    );
    let events = s.list_events(10, None).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.kind == "token.revoked" && e.actor == "cli"),
        "{events:?}"
    );
}

pub fn cap_overrides_apply_to_reservations_and_can_be_removed(f: Fixture) {
    let s = f.store.as_ref();
    let caps = BudgetCaps {
        site_daily: Some(Money(1000)),
        ..Default::default()
    };
    let req = |article: &str, micros: i64| BudgetRequest {
        site: "a".into(),
        job: None,
        run: None,
        article_key: article.into(),
        provider: "p".into(),
        model: "m".into(),
        purpose: "generate".into(),
        amount: Money(micros),
        caps,
    };
    let set = s
        .set_cap_overrides(
            &[
                CapChange {
                    scope: CapScope::SiteDaily,
                    site: Some("a".into()),
                    cap: Some(Money(300)),
                },
                CapChange {
                    scope: CapScope::GlobalMonthly,
                    site: None,
                    cap: Some(Money(5000)),
                },
            ],
            "ops",
            t(0),
        )
        .expect("set");
    assert_eq!(set.len(), 2);
    assert!(set.iter().any(|o| o.scope == CapScope::SiteDaily
        && o.site.as_deref() == Some("a")
        && o.cap == Money(300)
        && o.updated_by == "ops"));
    // The override (300) wins over the request's cap (1000).
    assert!(matches!(
        s.reserve_budget(&req("run:1", 300), t(1)).expect("reserve"),
        Reservation::Granted(_)
    ));
    match s.reserve_budget(&req("run:2", 1), t(1)).expect("reserve") {
        Reservation::Refused(r) => assert_eq!((r.scope, r.cap), (CapScope::SiteDaily, Money(300))),
        other => panic!("{other:?}"),
    }
    // Site b is not affected by a's override.
    let mut other = req("run:3", 900);
    other.site = "b".into();
    assert!(matches!(
        s.reserve_budget(&other, t(1)).expect("reserve"),
        Reservation::Granted(_)
    ));
    // Removing the override brings the config's cap back.
    s.set_cap_overrides(
        &[CapChange {
            scope: CapScope::SiteDaily,
            site: Some("a".into()),
            cap: None,
        }],
        "ops",
        t(2),
    )
    .expect("remove");
    assert!(matches!(
        s.reserve_budget(&req("run:4", 500), t(3)).expect("reserve"),
        Reservation::Granted(_)
    ));
    let left = s.cap_overrides().expect("overrides");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].scope, CapScope::GlobalMonthly);
    // Scope and site must agree; unknown sites are refused; nothing half-applied.
    for bad in [
        CapChange {
            scope: CapScope::GlobalDaily,
            site: Some("a".into()),
            cap: Some(Money(1)),
        },
        CapChange {
            scope: CapScope::Article,
            site: None,
            cap: Some(Money(1)),
        },
        CapChange {
            scope: CapScope::SiteMonthly,
            site: Some("nope".into()),
            cap: Some(Money(1)),
        },
    ] {
        assert!(
            s.set_cap_overrides(
                &[
                    CapChange {
                        scope: CapScope::Article,
                        site: Some("b".into()),
                        cap: Some(Money(7))
                    },
                    bad
                ],
                "ops",
                t(4)
            )
            .is_err()
        );
    }
    assert_eq!(s.cap_overrides().expect("overrides").len(), 1);
    let events = s.list_events(20, None).expect("events");
    assert!(
        events.iter().filter(|e| e.kind == "caps.changed").count() >= 3,
        "{events:?}"
    );
}

pub fn jobs_page_filters_and_pages_newest_first(f: Fixture) {
    let s = f.store.as_ref();
    for i in 0..5 {
        s.enqueue_run(
            &new_run(if i % 2 == 0 { "a" } else { "b" }, None, None),
            t(i),
        )
        .expect("enqueue");
    }
    let page = |filter: JobFilter| -> Vec<i64> {
        s.list_jobs_page(&filter)
            .expect("page")
            .into_iter()
            .map(|j| j.id.0)
            .collect()
    };
    let all = page(JobFilter {
        limit: 10,
        ..Default::default()
    });
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0] > w[1]));
    let first = page(JobFilter {
        limit: 2,
        ..Default::default()
    });
    let second = page(JobFilter {
        limit: 2,
        before: Some(JobId(first[1])),
        ..Default::default()
    });
    assert_eq!([first.clone(), second].concat(), all[..4].to_vec());
    assert_eq!(
        page(JobFilter {
            site: Some("a".into()),
            limit: 10,
            ..Default::default()
        })
        .len(),
        3
    );
    assert_eq!(
        page(JobFilter {
            status: Some(JobStatus::Queued),
            limit: 10,
            ..Default::default()
        })
        .len(),
        5
    );
    assert!(
        page(JobFilter {
            status: Some(JobStatus::Dead),
            limit: 10,
            ..Default::default()
        })
        .is_empty()
    );
}

pub fn costs_queues_and_metrics_aggregate_the_history(f: Fixture) {
    let s = f.store.as_ref();
    let run = s
        .enqueue_run(&new_run("a", None, None), t(0))
        .expect("enqueue")
        .run_id();
    for (i, (model, cost)) in [("m1", 100), ("m1", 50), ("m2", 7)].into_iter().enumerate() {
        s.record_llm_call(
            &NewLlmCall {
                reservation: None,
                site: "a".into(),
                job: None,
                run: Some(run),
                provider: "p".into(),
                model: model.into(),
                purpose: "generate".into(),
                input_tokens: 10,
                output_tokens: 20,
                cost: Money(cost),
                latency_ms: 1,
                outcome: CallOutcome::Ok,
                error: None,
            },
            t(i as i64),
        )
        .expect("record");
    }
    let lines = s.cost_lines(t(0)).expect("costs");
    let m1 = lines.iter().find(|l| l.model == "m1").expect("m1");
    assert_eq!(
        (m1.calls, m1.input_tokens, m1.output_tokens, m1.cost),
        (2, 20, 40, Money(150))
    );
    assert_eq!(m1.site.as_deref(), Some("a"));
    assert_eq!(m1.day, t(0).format("%Y-%m-%d").to_string());
    assert!(s.cost_lines(t(100_000)).expect("costs").is_empty());

    let queues = s.site_queues().expect("queues");
    let a = queues.iter().find(|q| q.site == "a").expect("a");
    assert_eq!((a.queued, a.running, a.dead), (1, 0, 0));
    assert_eq!(
        queues.iter().find(|q| q.site == "b").map(|q| q.queued),
        Some(0)
    );

    let snap = s.metrics_snapshot().expect("snapshot");
    assert_eq!(snap.runs_by_status, vec![("running".to_string(), 1)]);
    let calls: u64 = snap.llm.iter().map(|l| l.calls).sum();
    assert_eq!(calls, 3);
    assert_eq!(snap.last_backup_at, None);
    s.ping().expect("ping");
}
