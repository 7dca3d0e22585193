//! The fact-check answer, the 0–100 score and the site's gate. The score
//! starts at 100 and loses each failed check's penalty and points for
//! unsupported or contradicted claims; the gate then decides: reject below
//! `reject_below`, hold for review when something needs a person (or the
//! score is under `min_score`, or the site does not auto-publish), else
//! publish.

use serde::Serialize;
use serde_json::{Value, json};

use super::checks::CheckItem;
use crate::config::CheckSettings;
use crate::store::CheckDecision;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Supported,
    Unsupported,
    Contradicted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    pub claim: String,
    pub verdict: Verdict,
    /// The source item's number in the prompt (1-based).
    pub source: Option<u32>,
    /// The source's URL, when the number named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    pub note: String,
}

/// What came of the fact check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactCheck {
    Done(Vec<Claim>),
    /// Turned off for the site.
    Disabled,
    /// Could not be done (no LLM configured, unusable answers): a person
    /// must check the facts instead.
    Unavailable(String),
}

const MAX_CLAIMS: usize = 50;

/// Reads the fact-check answer: JSON `{"claims": [...]}` (or a bare array),
/// possibly fenced or with text around it.
pub fn parse_fact_check(answer: &str) -> Result<Vec<Claim>, String> {
    let start = answer.find(['{', '[']).ok_or("the answer holds no JSON")?;
    let end = answer.rfind(['}', ']']).ok_or("the answer holds no JSON")?;
    if end < start {
        return Err("the answer holds no JSON".into());
    }
    let value: Value = serde_json::from_str(&answer[start..=end])
        .map_err(|e| format!("the JSON in the answer does not parse: {e}"))?;
    let list = match &value {
        Value::Array(a) => a,
        Value::Object(o) => o
            .get("claims")
            .and_then(Value::as_array)
            .ok_or("the JSON has no \"claims\" list")?,
        _ => return Err("the JSON is neither an object nor a list".into()),
    };
    let mut claims = Vec::new();
    for entry in list.iter().take(MAX_CLAIMS) {
        let text = |k: &str| {
            entry
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let claim = text("claim");
        if claim.is_empty() {
            continue;
        }
        let verdict = match text("verdict").to_lowercase().as_str() {
            "supported" => Verdict::Supported,
            "contradicted" => Verdict::Contradicted,
            _ => Verdict::Unsupported,
        };
        let source = match entry.get("source") {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Some(Value::String(s)) => s.trim().trim_start_matches(['#', 'S', 's']).parse().ok(),
            _ => None,
        };
        claims.push(Claim {
            claim: claim.chars().take(500).collect(),
            verdict,
            source,
            source_url: None,
            note: text("note").chars().take(500).collect(),
        });
    }
    Ok(claims)
}

/// Points off per claim, and the most they may take together.
const UNSUPPORTED_PENALTY: u32 = 3;
const UNSUPPORTED_MAX: u32 = 15;
const CONTRADICTED_PENALTY: u32 = 15;
const CONTRADICTED_MAX: u32 = 45;

/// The score, the decision and the report stored with the article.
pub fn decide(
    checks: &[CheckItem],
    fact: &FactCheck,
    settings: &CheckSettings,
    extra: Value,
) -> (u8, CheckDecision, Value) {
    let mut penalty: u32 = checks.iter().map(|c| u32::from(c.penalty)).sum();
    let mut holds: Vec<String> = checks
        .iter()
        .filter(|c| c.hold)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    let fact_json = match fact {
        FactCheck::Done(claims) => {
            let count = |v: Verdict| claims.iter().filter(|c| c.verdict == v).count() as u32;
            let (unsupported, contradicted) =
                (count(Verdict::Unsupported), count(Verdict::Contradicted));
            penalty += (unsupported * UNSUPPORTED_PENALTY).min(UNSUPPORTED_MAX);
            penalty += (contradicted * CONTRADICTED_PENALTY).min(CONTRADICTED_MAX);
            if contradicted > 0 {
                holds.push(format!(
                    "fact check: {contradicted} claim(s) contradicted by the sources"
                ));
            }
            json!({
                "status": "done",
                "supported": count(Verdict::Supported),
                "unsupported": unsupported,
                "contradicted": contradicted,
                "claims": claims,
            })
        }
        FactCheck::Disabled => json!({"status": "disabled"}),
        FactCheck::Unavailable(why) => {
            holds.push(format!("fact check unavailable: {why}"));
            json!({"status": "unavailable", "reason": why})
        }
    };
    let score = 100u32.saturating_sub(penalty) as u8;
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect();
    let decision = if score < settings.reject_below {
        CheckDecision::Reject {
            reason: format!(
                "score {score} is below the reject line of {} (failed: {})",
                settings.reject_below,
                if failed.is_empty() {
                    "fact check".to_string()
                } else {
                    failed.join(", ")
                }
            ),
        }
    } else if !holds.is_empty() {
        CheckDecision::Review {
            reason: holds.join("; "),
        }
    } else if score < settings.min_score {
        CheckDecision::Review {
            reason: format!(
                "score {score} is below the site's gate of {} (failed: {})",
                settings.min_score,
                failed.join(", ")
            ),
        }
    } else if !settings.auto_publish {
        CheckDecision::Review {
            reason: format!(
                "passed the checks with score {score}; auto_publish is off for this site"
            ),
        }
    } else {
        CheckDecision::Publish
    };
    let report = json!({
        "score": score,
        "decision": decision.name(),
        "reason": match &decision {
            CheckDecision::Publish => Value::Null,
            CheckDecision::Review { reason } | CheckDecision::Reject { reason } => Value::String(reason.clone()),
        },
        "gate": {"min_score": settings.min_score, "reject_below": settings.reject_below, "auto_publish": settings.auto_publish},
        "checks": checks,
        "fact_check": fact_json,
        "article": extra,
    });
    (score, decision, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(auto: bool) -> CheckSettings {
        CheckSettings {
            fact_check: true,
            fact_check_prompt: None,
            max_tokens: 4096,
            min_score: 70,
            reject_below: 40,
            auto_publish: auto,
            min_words: 1,
            max_words: 10,
            min_reading_ease: 40.0,
        }
    }

    fn check(name: &'static str, penalty: u8, hold: bool) -> CheckItem {
        CheckItem {
            name,
            passed: penalty == 0 && !hold,
            penalty,
            hold,
            detail: "d".into(),
        }
    }

    fn claims(verdicts: &[Verdict]) -> FactCheck {
        FactCheck::Done(
            verdicts
                .iter()
                .map(|v| Claim {
                    claim: "c".into(),
                    verdict: *v,
                    source: Some(1),
                    source_url: None,
                    note: String::new(),
                })
                .collect(),
        )
    }

    #[test]
    fn fact_check_answers_parse_robustly() {
        let answer = "```json\n{\"claims\": [{\"claim\": \"Rust is fast\", \"verdict\": \"Supported\", \"source\": 2, \"note\": \"n\"}, {\"claim\": \"SQLite is 100 years old\", \"verdict\": \"contradicted\", \"source\": \"#1\"}, {\"claim\": \"\"}]}\n```";
        let c = parse_fact_check(answer).expect("parsed");
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].verdict, c[0].source), (Verdict::Supported, Some(2)));
        assert_eq!(
            (c[1].verdict, c[1].source),
            (Verdict::Contradicted, Some(1))
        );
        assert_eq!(
            parse_fact_check("[{\"claim\": \"x\", \"verdict\": \"maybe\"}]").expect("list")[0]
                .verdict,
            Verdict::Unsupported
        );
        assert!(parse_fact_check("no json here").is_err());
        assert!(parse_fact_check("{\"other\": 1}").is_err());
        assert!(parse_fact_check("} {").is_err());
    }

    #[test]
    fn clean_articles_publish_when_the_site_allows() {
        let checks = [check("a", 0, false)];
        let (score, d, report) = decide(
            &checks,
            &claims(&[Verdict::Supported]),
            &settings(true),
            json!({}),
        );
        assert_eq!((score, d), (100, CheckDecision::Publish));
        assert_eq!(report["fact_check"]["supported"], 1);
        let (_, d, _) = decide(&checks, &claims(&[]), &settings(false), json!({}));
        assert!(
            matches!(d, CheckDecision::Review { reason } if reason.contains("auto_publish is off"))
        );
    }

    #[test]
    fn holds_low_scores_and_rejections() {
        let (score, d, _) = decide(
            &[check("links_known_domains", 10, true)],
            &FactCheck::Disabled,
            &settings(true),
            json!({}),
        );
        assert_eq!(score, 90);
        assert!(
            matches!(d, CheckDecision::Review { reason } if reason.contains("links_known_domains"))
        );
        let (score, d, _) = decide(
            &[check("a", 25, false), check("b", 10, false)],
            &FactCheck::Disabled,
            &settings(true),
            json!({}),
        );
        assert_eq!(score, 65);
        assert!(
            matches!(d, CheckDecision::Review { reason } if reason.contains("below the site's gate of 70"))
        );
        let (score, d, _) = decide(
            &[check("a", 25, false)],
            &claims(&[
                Verdict::Contradicted,
                Verdict::Contradicted,
                Verdict::Contradicted,
                Verdict::Contradicted,
            ]),
            &settings(true),
            json!({}),
        );
        assert_eq!(score, 100 - 25 - 45);
        assert!(matches!(d, CheckDecision::Reject { .. }), "{d:?}");
        let (_, d, _) = decide(
            &[],
            &FactCheck::Unavailable("no LLM".into()),
            &settings(true),
            json!({}),
        );
        assert!(
            matches!(d, CheckDecision::Review { reason } if reason.contains("fact check unavailable"))
        );
    }
}
