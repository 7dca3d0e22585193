use super::*;
use crate::budget::{CapRefusal, CapScope};
use crate::config::WebhookFormat;
use crate::domain::money::Money;
use crate::store::{JobId, RunId, SiteId};
use chrono::TimeZone;

fn t(secs: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

fn job(stage: Stage) -> ClaimedJob {
    ClaimedJob {
        id: JobId(7),
        run_id: RunId(3),
        site: "blog".into(),
        site_id: SiteId(1),
        stage,
        attempts: 5,
        max_attempts: 5,
        until: None,
        lease_expires_at: t(0),
    }
}

fn failed(error: &str, status: JobStatus) -> JobOutcome {
    JobOutcome::Failed {
        error: error.into(),
        status,
    }
}

#[test]
fn the_budgets_refusal_text_is_recognised_as_a_cap() {
    // Pinned to the real Display of CapRefusal: if its wording changes,
    // this fails instead of cap alerts silently stopping.
    let refusal = CapRefusal {
        scope: CapScope::SiteDaily,
        site: "blog".into(),
        cap: Money(1_000_000),
        spent: Money(990_000),
        requested: Money(50_000),
        resets_at: Some(t(3600)),
    };
    assert!(is_cap_refusal(&refusal.to_string()), "{refusal}");
    assert!(!is_cap_refusal(
        "provider anthropic is overloaded; retry in 30s"
    ));
}

#[test]
fn job_outcomes_map_to_the_right_alerts() {
    let cap = CapRefusal {
        scope: CapScope::GlobalMonthly,
        site: "blog".into(),
        cap: Money(1),
        spent: Money(1),
        requested: Money(1),
        resets_at: None,
    }
    .to_string();
    assert!(matches!(
        alert_for_outcome(&job(Stage::Generate), &failed(&cap, JobStatus::Waiting)),
        Some(Alert::CapReached { .. })
    ));
    // Waiting for an unavailable provider is not an alert.
    assert_eq!(
        alert_for_outcome(
            &job(Stage::Generate),
            &failed("provider down", JobStatus::Waiting)
        ),
        None
    );
    // A retry ahead: quiet, except for publishing.
    assert_eq!(
        alert_for_outcome(&job(Stage::Monitor), &failed("x", JobStatus::Queued)),
        None
    );
    assert!(matches!(
        alert_for_outcome(&job(Stage::Publish), &failed("HTTP 500", JobStatus::Queued)),
        Some(Alert::PublishFailed { gave_up: false, .. })
    ));
    assert!(matches!(
        alert_for_outcome(&job(Stage::Publish), &failed("HTTP 401", JobStatus::Dead)),
        Some(Alert::PublishFailed { gave_up: true, .. })
    ));
    match alert_for_outcome(&job(Stage::Check), &failed("bad", JobStatus::Dead)) {
        Some(Alert::JobDead {
            site,
            stage,
            job,
            attempts,
            ..
        }) => {
            assert_eq!(
                (site.as_str(), stage, job, attempts),
                ("blog", Stage::Check, 7, 5)
            );
        }
        other => panic!("expected JobDead, got {other:?}"),
    }
    assert_eq!(
        alert_for_outcome(
            &job(Stage::Check),
            &JobOutcome::Succeeded {
                summary: "ok".into()
            }
        ),
        None
    );
}

fn source(id: i64, failures: u32) -> SourceRecord {
    SourceRecord {
        id,
        site: "blog".into(),
        url: format!("https://feeds.example/{id}.xml"),
        kind: "feed".into(),
        etag: None,
        last_modified: None,
        next_check_at: None,
        consecutive_failures: failures,
        last_error: (failures > 0).then(|| "HTTP 503".to_string()),
        last_checked_at: None,
        last_success_at: None,
        skipped_entries: 0,
    }
}

#[test]
fn a_source_alerts_only_after_failing_for_the_configured_time() {
    let after = Duration::from_secs(6 * 3600);
    let mut seen = HashMap::new();
    let sources = [source(1, 1), source(2, 0)];
    assert!(failing_sources(&sources, &mut seen, t(0), after).is_empty());
    assert!(failing_sources(&sources, &mut seen, t(6 * 3600 - 1), after).is_empty());
    let alerts = failing_sources(&sources, &mut seen, t(6 * 3600), after);
    assert_eq!(alerts.len(), 1);
    match &alerts[0] {
        Alert::SourceFailing { url, since, .. } => {
            assert_eq!(url, "https://feeds.example/1.xml");
            assert_eq!(*since, t(0));
        }
        other => panic!("{other:?}"),
    }
    // It recovers: the streak is forgotten; a new failure starts a new one.
    let recovered = [source(1, 0)];
    assert!(failing_sources(&recovered, &mut seen, t(7 * 3600), after).is_empty());
    assert!(seen.is_empty());
    let again = [source(1, 1)];
    assert!(failing_sources(&again, &mut seen, t(8 * 3600), after).is_empty());
}

#[test]
fn keys_separate_sites_and_subjects() {
    let a = Alert::SourceFailing {
        site: "a".into(),
        url: "u1".into(),
        since: t(0),
        failures: 1,
        error: None,
    };
    let b = Alert::SourceFailing {
        site: "a".into(),
        url: "u2".into(),
        since: t(0),
        failures: 1,
        error: None,
    };
    assert_ne!(a.key(), b.key());
    assert_eq!(
        Alert::BackupFailed { error: "x".into() }.key(),
        Alert::BackupFailed { error: "y".into() }.key()
    );
}

#[test]
fn slack_payload_escapes_untrusted_text() {
    let alert = Alert::SourceFailing {
        site: "blog".into(),
        url: "https://x.example/<!channel>".into(),
        since: t(0),
        failures: 3,
        error: Some("<@U123> & friends".into()),
    };
    let v = webhook::payload(WebhookFormat::Slack, &alert, t(10), 2);
    let text = v["text"].as_str().expect("text");
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(text.contains("&lt;@U123&gt; &amp; friends"), "{text}");
    assert!(text.contains("2 more alert(s)"), "{text}");
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["text"]);

    let j = webhook::payload(WebhookFormat::Json, &alert, t(10), 0);
    assert_eq!(j["kind"], "source_failing");
    assert_eq!(j["severity"], "warning");
    assert_eq!(j["site"], "blog");
    assert_eq!(j["suppressed"], 0);
    assert_eq!(j["at"], "2027-01-15T08:00:10Z");
}
