//! One topic, one run — the pure part. When a run's topic selection is
//! committed, the store passes the candidates and the topics other runs of
//! the site hold through [`choose`] inside the same transaction: a
//! candidate another run holds (the same topic, or one at least the site's
//! similarity threshold close) is passed over with that reason, and the
//! best remaining one is the run's topic, reserved for it. Both backends
//! decide the same way.

use crate::keywords::similarity::similarity;
use crate::keywords::text::{stems, tokenize};
use crate::store::{RunId, TopicsOutput};

/// A topic a run of the site holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldTopic {
    pub run: RunId,
    pub keyword: String,
}

/// What "the same topic" means: the stems of the keyword's content words
/// and numbers, sorted ("Backup strategies" and "strategy backups" are one
/// topic; "Windows 10" and "Windows 11" are two). A keyword without any
/// keys on its lowercased text.
pub fn topic_key(keyword: &str) -> String {
    let words: std::collections::BTreeSet<String> = tokenize(keyword)
        .into_iter()
        .filter(|t| !t.breaks || t.word.chars().all(|c| c.is_ascii_digit()))
        .map(|t| t.stem)
        .collect();
    if words.is_empty() {
        keyword.trim().to_lowercase()
    } else {
        words.into_iter().collect::<Vec<_>>().join(" ")
    }
}

/// The candidates as they are committed, and the topic to reserve (its
/// keyword), if one is left.
pub fn choose(output: &TopicsOutput, held: &[HeldTopic]) -> (TopicsOutput, Option<String>) {
    let mut out = output.clone();
    let held: Vec<(&HeldTopic, String, _)> = held
        .iter()
        .map(|h| (h, topic_key(&h.keyword), stems(&h.keyword)))
        .collect();
    loop {
        let Some(index) = out
            .candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kept)
            .max_by(|(_, a), (_, b)| a.score.total_cmp(&b.score))
            .map(|(i, _)| i)
        else {
            return (out, None);
        };
        let candidate = &out.candidates[index];
        let (key, words) = (topic_key(&candidate.keyword), stems(&candidate.keyword));
        let taken = held.iter().find(|(_, held_key, held_words)| {
            *held_key == key
                || output
                    .similarity_threshold
                    .is_some_and(|t| similarity(&words, held_words) >= t)
        });
        match taken {
            None => return (out.clone(), Some(candidate.keyword.clone())),
            Some((h, _, _)) => {
                let c = &mut out.candidates[index];
                c.kept = false;
                c.reason = format!(
                    "rejected: run {} already took the topic \"{}\"",
                    h.run, h.keyword
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TopicCandidate;

    fn output(threshold: Option<f64>, kws: &[(&str, f64)]) -> TopicsOutput {
        TopicsOutput {
            candidates: kws
                .iter()
                .map(|(k, s)| TopicCandidate {
                    keyword: k.to_string(),
                    score: *s,
                    kept: true,
                    reason: "kept: seed keyword".into(),
                })
                .collect(),
            similarity_threshold: threshold,
        }
    }

    fn held(run: i64, keyword: &str) -> HeldTopic {
        HeldTopic {
            run: RunId(run),
            keyword: keyword.into(),
        }
    }

    #[test]
    fn the_same_topic_in_other_words_has_one_key() {
        assert_eq!(
            topic_key("Backup strategies"),
            topic_key("strategy backups")
        );
        assert_ne!(topic_key("backup strategies"), topic_key("backup plugins"));
        assert_ne!(
            topic_key("Windows 10 upgrade"),
            topic_key("Windows 11 upgrade")
        );
        assert_eq!(topic_key("  THE  "), "the");
    }

    #[test]
    fn nothing_held_keeps_the_best_candidate() {
        let o = output(
            Some(0.7),
            &[("rust sqlite", 2.0), ("wordpress caching", 1.0)],
        );
        let (out, chosen) = choose(&o, &[]);
        assert_eq!(chosen.as_deref(), Some("rust sqlite"));
        assert_eq!(out, o);
    }

    #[test]
    fn a_held_topic_is_passed_over_with_the_reason() {
        let o = output(
            Some(0.7),
            &[("rust sqlite", 2.0), ("wordpress caching", 1.0)],
        );
        let (out, chosen) = choose(&o, &[held(4, "SQLite and Rust")]);
        assert_eq!(chosen.as_deref(), Some("wordpress caching"));
        assert!(!out.candidates[0].kept);
        assert_eq!(
            out.candidates[0].reason,
            "rejected: run 4 already took the topic \"SQLite and Rust\""
        );
        assert_eq!(
            out.selected().map(|c| c.keyword.as_str()),
            chosen.as_deref()
        );
    }

    #[test]
    fn a_close_topic_is_passed_over_only_with_a_threshold() {
        let kws = [("wordpress backup plugins", 2.0), ("rust sqlite", 1.0)];
        let holds = [held(2, "wordpress backup")];
        // 2 of 3 words: similarity 0.82 (overlap) ≥ 0.7.
        let (_, chosen) = choose(&output(Some(0.7), &kws), &holds);
        assert_eq!(chosen.as_deref(), Some("rust sqlite"));
        let (_, chosen) = choose(&output(None, &kws), &holds);
        assert_eq!(chosen.as_deref(), Some("wordpress backup plugins"));
    }

    #[test]
    fn every_candidate_held_leaves_no_topic() {
        let o = output(None, &[("rust sqlite", 2.0)]);
        let (out, chosen) = choose(&o, &[held(1, "rust sqlite")]);
        assert_eq!(chosen, None);
        assert!(out.selected().is_none());
    }
}
