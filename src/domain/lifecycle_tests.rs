//! Exhaustive tests of the lifecycles: every (state, event) pair has an
//! expected answer written out below, and properties hold over all of them.

use super::*;
use chrono::TimeZone;

fn t(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

const POLICY: RetryPolicy = RetryPolicy {
    base: Duration::from_secs(30),
    max: Duration::from_secs(3600),
};

fn state(status: JobStatus, attempts: u32) -> JobState {
    JobState {
        status,
        attempts,
        max_attempts: 3,
        not_before: t(0),
    }
}

fn events() -> Vec<JobEvent> {
    vec![
        JobEvent::Claim { now: t(10) },
        JobEvent::Succeed {
            next: Some(Stage::Topics),
        },
        JobEvent::Succeed { next: None },
        JobEvent::Fail {
            retryable: true,
            now: t(10),
            jitter: 0.0,
        },
        JobEvent::Fail {
            retryable: false,
            now: t(10),
            jitter: 0.0,
        },
        JobEvent::Defer { until: t(3600) },
        JobEvent::LeaseExpired {
            now: t(10),
            died_in_a_row: 1,
            poison_after: 3,
        },
        JobEvent::Release { now: t(10) },
        JobEvent::OperatorRetry { now: t(10) },
        JobEvent::OperatorCancel,
    ]
}

/// The expected status after each event from each status (attempts = 1 of 3),
/// or None when the pair is invalid. Written out by hand: this is the spec.
fn expected(status: JobStatus, event: &JobEvent) -> Option<JobStatus> {
    use JobStatus::*;
    match (status, event) {
        (Queued | Waiting, JobEvent::Claim { .. }) => Some(Running),
        (Running, JobEvent::Succeed { .. }) => Some(Succeeded),
        (
            Running,
            JobEvent::Fail {
                retryable: true, ..
            },
        ) => Some(Queued),
        (
            Running,
            JobEvent::Fail {
                retryable: false, ..
            },
        ) => Some(Dead),
        (Running, JobEvent::Defer { .. }) => Some(Waiting),
        (Running, JobEvent::LeaseExpired { .. }) => Some(Queued),
        (Running, JobEvent::Release { .. }) => Some(Queued),
        (Dead | Cancelled, JobEvent::OperatorRetry { .. }) => Some(Queued),
        (Queued | Waiting | Running, JobEvent::OperatorCancel) => Some(Cancelled),
        _ => None,
    }
}

#[test]
fn every_status_event_pair_matches_the_table() {
    let mut checked = 0;
    for &status in JobStatus::ALL {
        for event in events() {
            let got = job_transition(&state(status, 1), &event, &POLICY);
            match expected(status, &event) {
                Some(want) => {
                    let tr = got.unwrap_or_else(|e| {
                        panic!("{status} + {} should be valid: {e}", event.name())
                    });
                    assert_eq!(tr.state.status, want, "{status} + {}", event.name());
                }
                None => assert!(
                    got.is_err(),
                    "{status} + {} should be refused",
                    event.name()
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, JobStatus::ALL.len() * events().len());
}

#[test]
fn terminal_states_accept_only_operator_events() {
    for &status in JobStatus::ALL.iter().filter(|s| s.is_terminal()) {
        for event in events() {
            let operator = matches!(
                event,
                JobEvent::OperatorRetry { .. } | JobEvent::OperatorCancel
            );
            if !operator {
                assert!(
                    job_transition(&state(status, 1), &event, &POLICY).is_err(),
                    "{status} + {}",
                    event.name()
                );
            }
        }
    }
}

#[test]
fn attempts_never_exceed_max_and_dead_only_when_spent_or_permanent() {
    for &status in JobStatus::ALL {
        for attempts in 0..=3 {
            for event in events() {
                let Ok(tr) = job_transition(&state(status, attempts), &event, &POLICY) else {
                    continue;
                };
                assert!(tr.state.attempts <= 3 + 1, "attempts overflow");
                if tr.state.status == JobStatus::Dead {
                    let permanent = matches!(
                        event,
                        JobEvent::Fail {
                            retryable: false,
                            ..
                        }
                    );
                    assert!(
                        permanent || attempts >= 3,
                        "dead too early: {status} {attempts} {}",
                        event.name()
                    );
                    assert!(tr.effects.contains(&Effect::FinishRun(RunStatus::Failed)));
                }
            }
        }
    }
}

#[test]
fn claim_counts_an_attempt_and_respects_not_before() {
    let tr = job_transition(
        &state(JobStatus::Queued, 0),
        &JobEvent::Claim { now: t(0) },
        &POLICY,
    )
    .expect("valid");
    assert_eq!(tr.state.attempts, 1);
    let early = JobState {
        not_before: t(100),
        ..state(JobStatus::Queued, 0)
    };
    assert!(job_transition(&early, &JobEvent::Claim { now: t(99) }, &POLICY).is_err());
}

#[test]
fn retryable_failure_backs_off_then_dies_at_max_attempts() {
    let fail = JobEvent::Fail {
        retryable: true,
        now: t(0),
        jitter: 0.0,
    };
    let tr = job_transition(&state(JobStatus::Running, 1), &fail, &POLICY).expect("valid");
    assert_eq!(tr.state.status, JobStatus::Queued);
    assert_eq!(
        tr.state.not_before,
        t(15),
        "equal jitter at 0 gives half of 30s"
    );
    let tr = job_transition(&state(JobStatus::Running, 3), &fail, &POLICY).expect("valid");
    assert_eq!(tr.state.status, JobStatus::Dead);
}

#[test]
fn lease_expiry_requeues_at_once_until_attempts_are_spent() {
    let tr = job_transition(
        &state(JobStatus::Running, 2),
        &JobEvent::LeaseExpired {
            now: t(50),
            died_in_a_row: 1,
            poison_after: 3,
        },
        &POLICY,
    )
    .expect("valid");
    assert_eq!(
        (tr.state.status, tr.state.attempts, tr.state.not_before),
        (JobStatus::Queued, 2, t(50))
    );
    let tr = job_transition(
        &state(JobStatus::Running, 3),
        &JobEvent::LeaseExpired {
            now: t(50),
            died_in_a_row: 1,
            poison_after: 3,
        },
        &POLICY,
    )
    .expect("valid");
    assert_eq!(tr.state.status, JobStatus::Dead);
}

#[test]
fn a_job_that_killed_the_process_poison_after_times_in_a_row_is_dead() {
    let expire = |died_in_a_row| JobEvent::LeaseExpired {
        now: t(50),
        died_in_a_row,
        poison_after: 3,
    };
    // Attempts left (2 of 10), but the process died with it three times.
    let mut running = state(JobStatus::Running, 2);
    running.max_attempts = 10;
    for died in [1, 2] {
        let tr = job_transition(&running, &expire(died), &POLICY).expect("valid");
        assert_eq!(tr.state.status, JobStatus::Queued, "{died} deaths");
    }
    let tr = job_transition(&running, &expire(3), &POLICY).expect("valid");
    assert_eq!(tr.state.status, JobStatus::Dead);
    assert_eq!(tr.effects, vec![Effect::FinishRun(RunStatus::Failed)]);
    assert!(!is_poison_pill(100, 0), "0 turns the guard off");
    assert!(is_poison_pill(3, 3) && !is_poison_pill(2, 3));
}

#[test]
fn release_and_defer_give_the_attempt_back() {
    let tr = job_transition(
        &state(JobStatus::Running, 2),
        &JobEvent::Release { now: t(5) },
        &POLICY,
    )
    .expect("valid");
    assert_eq!((tr.state.status, tr.state.attempts), (JobStatus::Queued, 1));
    let tr = job_transition(
        &state(JobStatus::Running, 2),
        &JobEvent::Defer { until: t(900) },
        &POLICY,
    )
    .expect("valid");
    assert_eq!(
        (tr.state.status, tr.state.attempts, tr.state.not_before),
        (JobStatus::Waiting, 1, t(900))
    );
}

#[test]
fn operator_retry_resets_attempts_and_reopens_the_run() {
    let tr = job_transition(
        &state(JobStatus::Dead, 3),
        &JobEvent::OperatorRetry { now: t(7) },
        &POLICY,
    )
    .expect("valid");
    assert_eq!(
        (tr.state.status, tr.state.attempts, tr.state.not_before),
        (JobStatus::Queued, 0, t(7))
    );
    assert_eq!(tr.effects, vec![Effect::ReopenRun]);
}

#[test]
fn success_enqueues_the_next_stage_or_finishes_the_run() {
    let tr = job_transition(
        &state(JobStatus::Running, 1),
        &JobEvent::Succeed {
            next: Some(Stage::Check),
        },
        &POLICY,
    )
    .expect("valid");
    assert_eq!(tr.effects, vec![Effect::EnqueueStage(Stage::Check)]);
    let tr = job_transition(
        &state(JobStatus::Running, 1),
        &JobEvent::Succeed { next: None },
        &POLICY,
    )
    .expect("valid");
    assert_eq!(tr.effects, vec![Effect::FinishRun(RunStatus::Succeeded)]);
}

#[test]
fn retry_delay_doubles_caps_and_jitters_within_bounds() {
    assert_eq!(retry_delay(&POLICY, 1, 1.0), Duration::from_secs(30));
    assert_eq!(retry_delay(&POLICY, 2, 1.0), Duration::from_secs(60));
    assert_eq!(retry_delay(&POLICY, 3, 0.0), Duration::from_secs(60));
    assert_eq!(retry_delay(&POLICY, 20, 1.0), Duration::from_secs(3600));
    assert_eq!(
        retry_delay(&POLICY, u32::MAX, 1.0),
        Duration::from_secs(3600)
    );
    for attempts in 1..12 {
        let lo = retry_delay(&POLICY, attempts, 0.0);
        let hi = retry_delay(&POLICY, attempts, 0.999);
        assert!(
            lo <= hi && hi <= POLICY.max && hi <= lo * 2,
            "attempt {attempts}: {lo:?}..{hi:?}"
        );
    }
}

#[test]
fn stage_chain_is_in_order_and_until_stops_it() {
    assert_eq!(
        after_stage(Stage::Monitor, &Verdict::Continue, None),
        Ok(Some(Stage::Topics))
    );
    assert_eq!(
        after_stage(Stage::Publish, &Verdict::Continue, None),
        Ok(None)
    );
    assert!(after_stage(Stage::Topics, &Verdict::Continue, Some(Stage::Topics)).is_err());
    assert_eq!(
        after_stage(Stage::Topics, &Verdict::Continue, Some(Stage::Check)),
        Ok(Some(Stage::Generate))
    );
    assert_eq!(
        after_stage(
            Stage::Check,
            &Verdict::Finish("held for review".into()),
            None
        ),
        Err("held for review".into())
    );
    let names: Vec<_> = Stage::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["monitor", "topics", "generate", "check", "publish"]);
    for s in Stage::ALL {
        assert_eq!(Stage::parse(s.as_str()), Some(s));
    }
}

#[test]
fn article_transitions_match_the_table() {
    use ArticleEvent as E;
    use ArticleStatus::*;
    let events = [
        E::PassedChecks,
        E::HeldForReview,
        E::Reject,
        E::Approve,
        E::Published,
    ];
    for &status in ArticleStatus::ALL {
        for event in events {
            let want = match (status, event) {
                (Draft, E::PassedChecks) => Some(Approved),
                (Draft, E::HeldForReview) => Some(Review),
                (Draft | Review | Approved, E::Reject) => Some(Rejected),
                (Review | Rejected, E::Approve) => Some(Approved),
                (Approved, E::Published) => Some(Published),
                _ => None,
            };
            assert_eq!(
                article_transition(status, event).ok(),
                want,
                "{status} + {event:?}"
            );
        }
    }
    assert!(
        article_transition(Published, E::Reject).is_err(),
        "a published article stays published"
    );
}

#[test]
fn status_names_round_trip() {
    for &s in JobStatus::ALL {
        assert_eq!(JobStatus::parse(s.as_str()), Some(s));
    }
    for &s in RunStatus::ALL {
        assert_eq!(RunStatus::parse(s.as_str()), Some(s));
    }
    for &s in ArticleStatus::ALL {
        assert_eq!(ArticleStatus::parse(s.as_str()), Some(s));
    }
}
