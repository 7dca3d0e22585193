//! The pure core of topic selection: from competitor mentions, seed and
//! pinned keywords, and what the site already covers, scored candidates —
//! each kept or rejected with its reason.
//!
//! Score of a phrase = ln(1 + Σ item weights) × (1 + share of sources that
//! mention it) × length factor (1, 1.3, 1.5 for 1–3 words) × 1.5 when it
//! shares a word with a seed keyword, × the gap (1 − its similarity to the
//! closest covered title). An item weighs 1 when the phrase is in its title,
//! 0.3 when only in its text, halved every `recency_half_life`. Seed and
//! pinned keywords count as one fresh mention more; pinned ones get +100.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::TopicsConfig;
use crate::domain::lifecycle::Timestamp;
use crate::keywords::similarity::similarity;
use crate::keywords::text::{phrases, stems, tokenize};
use crate::store::TopicCandidate;

/// Characters of an item's text searched for phrases.
const TEXT_CHARS: usize = 600;
const TEXT_WEIGHT: f64 = 0.3;
const PINNED_BONUS: f64 = 100.0;

/// One competitor item, as far as topics care.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub source: String,
    pub title: String,
    pub text: String,
    /// Publication time if plausible, else when it was fetched.
    pub when: Timestamp,
}

/// Something the site already has: one of our articles, or a post on the
/// live site.
#[derive(Debug, Clone, PartialEq)]
pub struct Covered {
    /// How reasons name it: `our article 12 "Title"`, `existing post "Title"`.
    pub label: String,
    /// Title, focus keyword…: compared one by one.
    pub texts: Vec<String>,
}

pub struct SelectInput<'a> {
    pub now: Timestamp,
    pub mentions: &'a [Mention],
    pub seeds: &'a [String],
    pub covered: &'a [Covered],
    pub config: &'a TopicsConfig,
}

#[derive(Debug, Default)]
struct Agg {
    surfaces: BTreeMap<String, u32>,
    /// The operator's spelling, for seeds and pinned keywords.
    configured: Option<String>,
    words: usize,
    items: u32,
    sources: BTreeSet<String>,
    weight: f64,
    newest: Option<Timestamp>,
    seed: bool,
    pinned: bool,
}

fn key_of(text: &str) -> Option<(String, usize)> {
    let stems: Vec<String> = tokenize(text)
        .into_iter()
        .filter(|t| !t.breaks)
        .map(|t| t.stem)
        .collect();
    (!stems.is_empty()).then(|| (stems.join(" "), stems.len()))
}

fn recency(now: Timestamp, when: Timestamp, half_life: std::time::Duration) -> f64 {
    let half = half_life.as_secs_f64();
    if half <= 0.0 {
        return 1.0;
    }
    let age = (now - when).num_seconds().max(0) as f64;
    0.5f64.powf(age / half)
}

fn ago(now: Timestamp, when: Timestamp) -> String {
    let secs = (now - when).num_seconds().max(0);
    match secs {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Candidates in the order they were considered (best raw score first);
/// the kept one with the best score is the topic.
pub fn select_topics(input: &SelectInput<'_>) -> Vec<TopicCandidate> {
    let cfg = input.config;
    let mut aggs: BTreeMap<String, Agg> = BTreeMap::new();
    for m in input.mentions {
        let r = recency(input.now, m.when, cfg.recency_half_life);
        let mut found: BTreeMap<String, (f64, String, usize)> = BTreeMap::new();
        let text: String = m.text.chars().take(TEXT_CHARS).collect();
        for (weight, source_text) in [(1.0, m.title.as_str()), (TEXT_WEIGHT, text.as_str())] {
            for p in phrases(source_text) {
                let e = found.entry(p.key).or_insert((0.0, p.surface, p.words));
                e.0 = e.0.max(weight * r);
            }
        }
        for (key, (w, surface, words)) in found {
            let a = aggs.entry(key).or_default();
            *a.surfaces.entry(surface).or_default() += 1;
            a.words = words;
            a.items += 1;
            a.sources.insert(m.source.clone());
            a.weight += w;
            a.newest = a.newest.max(Some(m.when));
        }
    }
    for (list, pinned) in [(input.seeds, false), (&cfg.pinned_keywords[..], true)] {
        for k in list {
            let Some((key, words)) = key_of(k) else {
                continue;
            };
            let a = aggs.entry(key).or_default();
            a.words = words;
            a.configured = Some(k.trim().to_string());
            if pinned {
                a.pinned = true;
            } else {
                a.seed = true;
            }
        }
    }
    let seed_stems: BTreeSet<String> = input.seeds.iter().flat_map(|s| stems(s)).collect();
    let total_sources = input
        .mentions
        .iter()
        .map(|m| &m.source)
        .collect::<BTreeSet<_>>()
        .len()
        .max(1);

    let eligible = |a: &Agg| a.seed || a.pinned || a.items >= cfg.min_mentions;
    let dominated = dominated_keys(&aggs, &eligible);
    let covered: Vec<(String, Vec<BTreeSet<String>>)> = input
        .covered
        .iter()
        .map(|c| (c.label.clone(), c.texts.iter().map(|t| stems(t)).collect()))
        .collect();
    let banned: Vec<(String, BTreeSet<String>)> = cfg
        .banned_keywords
        .iter()
        .map(|b| (b.clone(), stems(b)))
        .filter(|(_, s)| !s.is_empty())
        .collect();

    struct Scored {
        raw: f64,
        candidate: TopicCandidate,
    }
    let mut scored: Vec<Scored> = Vec::new();
    for (key, a) in &aggs {
        if !eligible(a) || dominated.contains(key) {
            continue;
        }
        let cand: BTreeSet<String> = key.split(' ').map(str::to_string).collect();
        let bonus = if a.seed || a.pinned { 1.0 } else { 0.0 };
        let share = a.sources.len() as f64 / total_sources as f64;
        let length = [1.0, 1.3, 1.5][a.words.clamp(1, 3) - 1];
        let seed_overlap = !a.seed && !a.pinned && cand.iter().any(|s| seed_stems.contains(s));
        let raw = (1.0 + a.weight + bonus).ln()
            * (1.0 + share)
            * length
            * if seed_overlap { 1.5 } else { 1.0 };
        let (closest, sim) = covered
            .iter()
            .map(|(label, texts)| {
                (
                    label,
                    texts
                        .iter()
                        .map(|t| similarity(&cand, t))
                        .fold(0.0, f64::max),
                )
            })
            .fold((None, 0.0), |best, (label, s)| {
                if s > best.1 { (Some(label), s) } else { best }
            });
        let score = raw * (1.0 - sim) + if a.pinned { PINNED_BONUS } else { 0.0 };
        let keyword = a.configured.clone().unwrap_or_else(|| {
            a.surfaces
                .iter()
                .max_by(|x, y| x.1.cmp(y.1).then_with(|| y.0.cmp(x.0)))
                .map(|(s, _)| s.clone())
                .unwrap_or_else(|| key.clone())
        });
        let ban = banned.iter().find(|(_, b)| b.is_subset(&cand));
        let (kept, reason) = if let Some((word, _)) = ban {
            (
                false,
                format!("rejected: contains the banned keyword \"{word}\""),
            )
        } else if sim >= cfg.similarity_threshold {
            let label = closest.map_or("", String::as_str);
            (
                false,
                format!(
                    "rejected: too close to {label} (similarity {sim:.2} ≥ {:.2})",
                    cfg.similarity_threshold
                ),
            )
        } else {
            let mut parts = Vec::new();
            if a.pinned {
                parts.push("pinned keyword".to_string());
            } else if a.seed {
                parts.push("seed keyword".to_string());
            }
            if a.items > 0 {
                parts.push(format!(
                    "in {} competitor item{} from {} of {} sources, newest {} ago",
                    a.items,
                    if a.items == 1 { "" } else { "s" },
                    a.sources.len(),
                    total_sources,
                    a.newest.map(|n| ago(input.now, n)).unwrap_or_default()
                ));
            } else {
                parts.push("not in recent competitor items".to_string());
            }
            if seed_overlap {
                parts.push("shares words with the seed keywords".to_string());
            }
            match closest {
                Some(label) => {
                    parts.push(format!("closest coverage: {label} (similarity {sim:.2})"))
                }
                None => parts.push("nothing similar covered yet".to_string()),
            }
            (true, format!("kept: {}", parts.join("; ")))
        };
        scored.push(Scored {
            raw: raw + if a.pinned { PINNED_BONUS } else { 0.0 },
            candidate: TopicCandidate {
                keyword,
                score: (score * 10_000.0).round() / 10_000.0,
                kept,
                reason,
            },
        });
    }
    scored.sort_by(|a, b| {
        b.raw
            .total_cmp(&a.raw)
            .then_with(|| a.candidate.keyword.cmp(&b.candidate.keyword))
    });
    let best_kept = scored
        .iter()
        .enumerate()
        .filter(|(_, s)| s.candidate.kept)
        .max_by(|(ia, a), (ib, b)| {
            a.candidate
                .score
                .total_cmp(&b.candidate.score)
                .then(ib.cmp(ia))
        })
        .map(|(i, _)| i);
    let limit = cfg.max_candidates as usize;
    let mut out: Vec<TopicCandidate> = Vec::with_capacity(limit + 1);
    for (i, s) in scored.iter().enumerate() {
        if i < limit || Some(i) == best_kept {
            out.push(s.candidate.clone());
        }
    }
    out
}

/// Shorter phrases that a longer eligible phrase containing them explains:
/// the longer one has at least 80 % of their mentions ("self" and "hosting"
/// inside "self hosting"). Seeds and pinned keywords are never dropped.
fn dominated_keys(
    aggs: &BTreeMap<String, Agg>,
    eligible: &dyn Fn(&Agg) -> bool,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (key, a) in aggs {
        if a.words < 2 || !eligible(a) || a.items == 0 {
            continue;
        }
        let parts: Vec<&str> = key.split(' ').collect();
        for n in 1..parts.len() {
            for start in 0..=parts.len() - n {
                let sub = parts[start..start + n].join(" ");
                if let Some(s) = aggs.get(&sub)
                    && !s.seed
                    && !s.pinned
                    && f64::from(a.items) >= 0.8 * f64::from(s.items)
                {
                    out.insert(sub);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
