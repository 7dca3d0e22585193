//! Topic scoring and the keep/reject decisions, on small hand-made inputs.

use chrono::TimeZone;

use super::*;

fn now() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .expect("time")
}

fn days_ago(d: i64) -> Timestamp {
    now() - chrono::Duration::days(d)
}

fn m(source: &str, title: &str, age_days: i64) -> Mention {
    Mention {
        source: source.into(),
        title: title.into(),
        text: String::new(),
        when: days_ago(age_days),
    }
}

fn cfg() -> TopicsConfig {
    TopicsConfig::default()
}

fn run(
    mentions: &[Mention],
    seeds: &[&str],
    covered: &[Covered],
    cfg: &TopicsConfig,
) -> Vec<TopicCandidate> {
    let seeds: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    select_topics(&SelectInput {
        now: now(),
        mentions,
        seeds: &seeds,
        covered,
        config: cfg,
    })
}

fn find<'a>(c: &'a [TopicCandidate], keyword: &str) -> &'a TopicCandidate {
    c.iter()
        .find(|c| c.keyword == keyword)
        .unwrap_or_else(|| panic!("no candidate {keyword:?} in {c:#?}"))
}

fn selected(c: &[TopicCandidate]) -> Option<&TopicCandidate> {
    c.iter()
        .filter(|c| c.kept)
        .max_by(|a, b| a.score.total_cmp(&b.score))
}

fn article(id: i64, title: &str, keyword: &str) -> Covered {
    Covered {
        label: format!("our article {id} \"{title}\""),
        texts: vec![title.into(), keyword.into()],
    }
}

#[test]
fn a_phrase_many_competitors_use_wins_and_says_why() {
    let mentions = [
        m("a", "WordPress backup plugins compared", 1),
        m("b", "The WordPress backup plugins we trust", 2),
        m("c", "Five WordPress backup plugins", 1),
        m("a", "Server hardening notes", 1),
        m("b", "Email deliverability", 3),
    ];
    let c = run(&mentions, &[], &[], &cfg());
    let best = selected(&c).expect("a topic");
    assert_eq!(best.keyword, "wordpress backup plugins");
    assert!(
        best.reason
            .starts_with("kept: in 3 competitor items from 3 of 3 sources, newest 1d ago"),
        "{}",
        best.reason
    );
    assert!(
        best.reason.contains("nothing similar covered yet"),
        "{}",
        best.reason
    );
    // Its parts are explained by it and not listed on their own.
    assert!(
        c.iter()
            .all(|x| x.keyword != "backup plugins" && x.keyword != "plugins"),
        "{c:#?}"
    );
    // Mentioned once: below min_mentions.
    assert!(c.iter().all(|x| !x.keyword.contains("hardening")), "{c:#?}");
}

#[test]
fn candidates_close_to_our_articles_are_rejected_with_the_article_named() {
    let mentions = [
        m("a", "Backup strategies for small business websites", 1),
        m("b", "Backup strategies that work", 1),
        m("a", "Caching WordPress with nginx", 2),
        m("b", "Caching WordPress the easy way", 2),
    ];
    let covered = [article(
        12,
        "Ten backup strategies every site needs",
        "backup strategies",
    )];
    let c = run(&mentions, &[], &covered, &cfg());
    let backup = find(&c, "backup strategies");
    assert!(!backup.kept);
    assert_eq!(
        backup.reason,
        "rejected: too close to our article 12 \"Ten backup strategies every site needs\" (similarity 1.00 ≥ 0.70)"
    );
    assert_eq!(selected(&c).expect("topic").keyword, "caching wordpress");
}

#[test]
fn the_threshold_is_configurable() {
    let mentions = [
        m("a", "WordPress backup plugins", 1),
        m("b", "WordPress backup plugins", 1),
    ];
    let covered = [article(
        3,
        "WordPress backup strategies",
        "backup strategies",
    )];
    let kept = run(&mentions, &[], &covered, &cfg());
    assert!(
        find(&kept, "wordpress backup plugins").kept,
        "2 of 3 words (0.67) is below 0.7"
    );
    let strict = TopicsConfig {
        similarity_threshold: 0.6,
        ..cfg()
    };
    let rejected = run(&mentions, &[], &covered, &strict);
    assert!(!find(&rejected, "wordpress backup plugins").kept);
}

#[test]
fn banned_keywords_reject_every_candidate_containing_them() {
    let mentions = [
        m("a", "Crypto mining on WordPress", 1),
        m("b", "Crypto mining on WordPress", 1),
        m("a", "Uptime monitoring", 1),
        m("b", "Uptime monitoring", 1),
    ];
    let c = run(
        &mentions,
        &[],
        &[],
        &TopicsConfig {
            banned_keywords: vec!["Crypto".into()],
            ..cfg()
        },
    );
    let crypto = find(&c, "crypto mining");
    assert!(!crypto.kept);
    assert_eq!(
        crypto.reason,
        "rejected: contains the banned keyword \"Crypto\""
    );
    assert_eq!(selected(&c).expect("topic").keyword, "uptime monitoring");
}

#[test]
fn pinned_keywords_rank_first_but_are_rejected_once_covered() {
    let mentions = [
        m("a", "Uptime monitoring", 1),
        m("b", "Uptime monitoring", 1),
        m("c", "Uptime monitoring", 1),
    ];
    let pinned = TopicsConfig {
        pinned_keywords: vec!["Static site generators".into()],
        ..cfg()
    };
    let c = run(&mentions, &[], &[], &pinned);
    assert_eq!(c[0].keyword, "Static site generators");
    assert_eq!(
        selected(&c).expect("topic").keyword,
        "Static site generators"
    );
    assert!(
        c[0].reason
            .starts_with("kept: pinned keyword; not in recent competitor items"),
        "{}",
        c[0].reason
    );
    let covered = [article(
        4,
        "Static site generators for small businesses",
        "static site generators",
    )];
    let c = run(&mentions, &[], &covered, &pinned);
    assert!(!find(&c, "Static site generators").kept);
    assert_eq!(selected(&c).expect("topic").keyword, "uptime monitoring");
}

#[test]
fn seeds_are_candidates_and_lift_related_phrases() {
    let c = run(&[], &["self-hosting"], &[], &cfg());
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].keyword, "self-hosting");
    assert!(c[0].kept);
    let mentions = [
        m("a", "Hosting email yourself", 1),
        m("b", "Hosting email yourself", 1),
        m("a", "Static sites", 1),
        m("b", "Static sites", 1),
    ];
    let c = run(&mentions, &["email"], &[], &cfg());
    let hosting = find(&c, "hosting email");
    assert!(
        hosting
            .reason
            .contains("shares words with the seed keywords"),
        "{}",
        hosting.reason
    );
    assert!(hosting.score > find(&c, "static sites").score);
}

#[test]
fn older_items_count_less() {
    let fresh = [
        m("a", "Edge caching", 0),
        m("b", "Edge caching", 0),
        m("a", "Log rotation", 20),
        m("b", "Log rotation", 20),
    ];
    let c = run(&fresh, &[], &[], &cfg());
    assert!(
        find(&c, "edge caching").score > find(&c, "log rotation").score,
        "{c:#?}"
    );
}

#[test]
fn the_record_is_capped_but_keeps_the_chosen_topic() {
    let mut mentions = Vec::new();
    for i in 0..30 {
        let title = format!("Topic{i} details");
        mentions.push(m("a", &title, 1));
        mentions.push(m("b", &title, 1));
    }
    let covered: Vec<Covered> = (0..30)
        .map(|i| article(i, &format!("Topic{i} details"), ""))
        .collect();
    let mut c = run(
        &mentions,
        &["zebra farming"],
        &covered,
        &TopicsConfig {
            max_candidates: 5,
            ..cfg()
        },
    );
    assert_eq!(c.len(), 6, "5 best plus the chosen one: {c:#?}");
    assert!(c[..5].iter().all(|x| !x.kept));
    assert_eq!(c.pop().map(|x| x.keyword), Some("zebra farming".into()));
}
