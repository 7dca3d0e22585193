//! The deterministic checks of an article: length, heading structure,
//! focus keyword placement, title and meta lengths, readability (Flesch
//! reading ease), well-formed links, links outside the sources, placeholder
//! or "as an AI" text, repeated paragraphs. Each check has a penalty taken
//! off the score when it fails; some also hold the article for a person.

use serde::Serialize;

use super::draft::{META_MAX, TITLE_MAX};
use super::links::malformed_links;
use super::markdown::{Document, words};
use crate::config::CheckSettings;
use crate::store::NewArticle;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckItem {
    pub name: &'static str,
    pub passed: bool,
    /// Points off the score when failed.
    pub penalty: u8,
    /// A failure that a person must look at, whatever the score.
    pub hold: bool,
    pub detail: String,
}

fn item(name: &'static str, passed: bool, penalty: u8, hold: bool, detail: String) -> CheckItem {
    CheckItem {
        name,
        passed,
        penalty: if passed { 0 } else { penalty },
        hold: hold && !passed,
        detail,
    }
}

/// Text that must never be published.
const PLACEHOLDERS: &[&str] = &[
    "lorem ipsum",
    "[insert",
    "[your ",
    "[add ",
    "{{",
    "}}",
    "as an ai",
    "as a language model",
    "as an artificial intelligence",
    "i'm sorry, but",
    "i am sorry, but",
    "i cannot help with",
    "i can't help with",
    "[citation needed]",
    "placeholder text",
];

/// Whole words that mark unfinished text.
const PLACEHOLDER_WORDS: &[&str] = &["todo", "tbd", "fixme", "xxx"];

/// Runs every deterministic check.
pub fn run_checks(
    article: &NewArticle,
    settings: &CheckSettings,
    language: &str,
    unknown_link_domains: &[String],
) -> Vec<CheckItem> {
    let doc = Document::parse(&article.body_markdown);
    let text = doc.body_text();
    let word_count = words(&text).count() as u32;
    let mut out = Vec::new();

    out.push(item(
        "word_count",
        (settings.min_words..=settings.max_words).contains(&word_count),
        15,
        false,
        format!(
            "{word_count} words (wanted {}–{})",
            settings.min_words, settings.max_words
        ),
    ));

    let headings: Vec<(u8, &str)> = doc.headings().collect();
    let h2 = headings.iter().filter(|(l, _)| *l == 2).count();
    let h1 = headings.iter().filter(|(l, _)| *l == 1).count();
    let mut skipped = None;
    let mut prev = 1u8;
    for (level, text) in &headings {
        if *level > prev + 1 {
            skipped = Some(format!("\"{text}\" (H{level}) follows H{prev}"));
            break;
        }
        prev = *level;
    }
    let structure_ok = h2 >= 2 && h1 == 0 && skipped.is_none();
    let structure_detail = match (&skipped, h1) {
        (Some(s), _) => format!("heading level skipped: {s}"),
        (None, n) if n > 0 => format!("{n} H1 heading(s) in the body (the title is the H1)"),
        _ => format!(
            "{h2} H2 section(s), {} H3",
            headings.iter().filter(|(l, _)| *l == 3).count()
        ),
    };
    out.push(item("headings", structure_ok, 10, false, structure_detail));

    let kw = article.focus_keyword.trim().to_lowercase();
    let has = |s: &str| !kw.is_empty() && s.to_lowercase().contains(&kw);
    out.push(item(
        "keyword_in_title",
        has(&article.title),
        10,
        false,
        format!("focus keyword \"{}\" in the title", article.focus_keyword),
    ));
    out.push(item(
        "keyword_in_first_paragraph",
        doc.first_paragraph().is_some_and(has),
        5,
        false,
        "focus keyword in the first paragraph".into(),
    ));
    out.push(item(
        "keyword_in_heading",
        headings.iter().any(|(_, t)| has(t)),
        5,
        false,
        "focus keyword in at least one heading".into(),
    ));

    let title_len = article.title.chars().count();
    out.push(item(
        "title_length",
        (10..=TITLE_MAX).contains(&title_len),
        10,
        false,
        format!("title is {title_len} characters (10–{TITLE_MAX})"),
    ));
    let meta_len = article.meta_description.chars().count();
    out.push(item(
        "meta_description_length",
        (50..=META_MAX).contains(&meta_len),
        5,
        false,
        format!("meta description is {meta_len} characters (50–{META_MAX})"),
    ));

    let ease = flesch_reading_ease(&text);
    let english = language.trim().to_lowercase().starts_with("en");
    out.push(match (english, ease) {
        (true, Some(e)) => item(
            "readability",
            e >= settings.min_reading_ease,
            10,
            false,
            format!(
                "Flesch reading ease {e:.0} (at least {:.0})",
                settings.min_reading_ease
            ),
        ),
        (false, Some(e)) => item(
            "readability",
            true,
            0,
            false,
            format!("Flesch reading ease {e:.0}; not scored: the formula is for English"),
        ),
        (_, None) => item(
            "readability",
            false,
            10,
            false,
            "no sentences to measure".into(),
        ),
    });

    let bad_links = malformed_links(&doc);
    out.push(item(
        "links_well_formed",
        bad_links.is_empty(),
        10,
        false,
        if bad_links.is_empty() {
            format!("{} link(s), all well-formed", doc.links.len())
        } else {
            format!("malformed: {}", bad_links.join("; "))
        },
    ));
    out.push(item(
        "links_known_domains",
        unknown_link_domains.is_empty(),
        10,
        true,
        if unknown_link_domains.is_empty() {
            "every linked domain is a source's or on the allow-list".into()
        } else {
            format!(
                "links to domains in neither the sources nor the allow-list: {}",
                unknown_link_domains.join(", ")
            )
        },
    ));

    let found = placeholders(&format!(
        "{}\n{}\n{}",
        article.title, article.meta_description, article.body_markdown
    ));
    out.push(item(
        "no_placeholder_text",
        found.is_empty(),
        25,
        true,
        if found.is_empty() {
            "no placeholder or \"as an AI\" text".into()
        } else {
            format!("found: {}", found.join(", "))
        },
    ));

    let repeats = repeated_paragraphs(&doc);
    out.push(item(
        "no_repeated_paragraphs",
        repeats == 0,
        10,
        false,
        if repeats == 0 {
            "every paragraph is different".into()
        } else {
            format!("{repeats} paragraph(s) repeated")
        },
    ));
    out
}

fn placeholders(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut found: Vec<String> = PLACEHOLDERS
        .iter()
        .filter(|p| lower.contains(*p))
        .map(|p| format!("\"{p}\""))
        .collect();
    for w in words(&lower) {
        if PLACEHOLDER_WORDS.contains(&w) && !found.iter().any(|f| f == &format!("\"{w}\"")) {
            found.push(format!("\"{w}\""));
        }
    }
    found
}

/// Paragraphs of eight words or more that appear more than once.
fn repeated_paragraphs(doc: &Document) -> usize {
    let mut seen: Vec<String> = Vec::new();
    let mut repeats = 0;
    for p in doc.paragraphs() {
        if words(p).count() < 8 {
            continue;
        }
        let key = words(p)
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ");
        if seen.contains(&key) {
            repeats += 1;
        } else {
            seen.push(key);
        }
    }
    repeats
}

/// Flesch reading ease: 206.835 − 1.015 · words/sentences − 84.6 ·
/// syllables/words. Higher is easier; 60–70 is plain English.
pub fn flesch_reading_ease(text: &str) -> Option<f64> {
    let word_list: Vec<&str> = words(text).collect();
    if word_list.is_empty() {
        return None;
    }
    let sentences = text
        .split(['.', '!', '?', '\n'])
        .filter(|s| words(s).next().is_some())
        .count()
        .max(1);
    let syllables: usize = word_list.iter().map(|w| syllables(w)).sum();
    let w = word_list.len() as f64;
    Some(206.835 - 1.015 * (w / sentences as f64) - 84.6 * (syllables as f64 / w))
}

/// English syllables, estimated: vowel groups, less a silent final "e".
pub fn syllables(word: &str) -> usize {
    let lower: Vec<char> = word
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphabetic())
        .collect();
    if lower.is_empty() {
        return 1;
    }
    let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
    let mut count = 0;
    let mut prev = false;
    for &c in &lower {
        let v = vowel(c);
        if v && !prev {
            count += 1;
        }
        prev = v;
    }
    let n = lower.len();
    if n > 2 && lower[n - 1] == 'e' && !vowel(lower[n - 2]) && lower[n - 2] != 'l' && count > 1 {
        count -= 1;
    }
    count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CheckSettings {
        CheckSettings {
            fact_check: true,
            fact_check_prompt: None,
            max_tokens: 4096,
            min_score: 70,
            reject_below: 40,
            auto_publish: true,
            min_words: 20,
            max_words: 400,
            min_reading_ease: 40.0,
        }
    }

    fn article(title: &str, body: &str) -> NewArticle {
        NewArticle {
            topic: "rust sqlite".into(),
            title: title.into(),
            slug: "s".into(),
            meta_description:
                "A practical guide to running SQLite from Rust in production, with care.".into(),
            focus_keyword: "rust sqlite".into(),
            excerpt: "e".into(),
            tags: vec![],
            category: None,
            body_markdown: body.into(),
        }
    }

    fn get<'a>(items: &'a [CheckItem], name: &str) -> &'a CheckItem {
        items
            .iter()
            .find(|i| i.name == name)
            .expect("check present")
    }

    const GOOD: &str = "Rust sqlite work is simple. You open a file and you run a query.\n\n## Why rust sqlite\n\nIt is fast. It is small. It runs on one box.\n\n### Setup\n\nAdd the crate. Open the file. Write the data.\n\n## How to start\n\nRead the docs and try it out today.\n";

    #[test]
    fn a_good_article_passes_every_check() {
        let items = run_checks(
            &article("Rust SQLite: a practical guide", GOOD),
            &settings(),
            "en",
            &[],
        );
        let failed: Vec<_> = items.iter().filter(|i| !i.passed).collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn each_problem_is_caught() {
        let body = "As an AI, I think [insert statistic] is TODO.\n\n# Big\n\n#### Deep\n\nThis paragraph says the very same thing twice over here.\n\nThis paragraph says the very same thing twice over here.\n\n[bad](javascript:alert(1))\n";
        let long_title = "x".repeat(70);
        let strict = CheckSettings {
            min_words: 50,
            ..settings()
        };
        let items = run_checks(
            &article(&long_title, body),
            &strict,
            "en",
            &["spam.example".into()],
        );
        for name in [
            "word_count",
            "headings",
            "keyword_in_title",
            "keyword_in_first_paragraph",
            "keyword_in_heading",
            "title_length",
            "links_well_formed",
            "links_known_domains",
            "no_placeholder_text",
            "no_repeated_paragraphs",
        ] {
            assert!(!get(&items, name).passed, "{name} should fail: {items:#?}");
        }
        let ph = get(&items, "no_placeholder_text");
        assert!(
            ph.hold && ph.detail.contains("as an ai") && ph.detail.contains("todo"),
            "{ph:?}"
        );
        assert!(get(&items, "links_known_domains").hold);
    }

    #[test]
    fn reading_ease_matches_known_values() {
        // Short words and sentences read easily; long ones do not.
        let easy = flesch_reading_ease("The cat sat on the mat. It was a good day.").expect("text");
        let hard = flesch_reading_ease(
            "Organizational interdependencies necessitate comprehensive institutional reconsideration of administrative responsibilities.",
        )
        .expect("text");
        assert!(easy > 90.0, "{easy}");
        assert!(hard < 0.0, "{hard}");
        assert_eq!(syllables("table"), 2);
        assert_eq!(syllables("make"), 1);
        assert_eq!(syllables("readability"), 5);
        assert_eq!(flesch_reading_ease("…"), None);
    }

    #[test]
    fn readability_is_not_scored_for_other_languages() {
        let hard = "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen sind kompliziert.\n\n## Eins\n\nText.\n\n## Zwei\n\nText.";
        let items = run_checks(
            &article("Rust SQLite auf Deutsch erklärt", hard),
            &settings(),
            "de",
            &[],
        );
        let r = get(&items, "readability");
        assert!(r.passed && r.detail.contains("not scored"), "{r:?}");
    }
}
