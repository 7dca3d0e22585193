//! The draft parser against the shapes models really answer in, and a
//! property test: arbitrary input never panics.

use super::*;
use proptest::prelude::*;

fn body(words: usize) -> String {
    let para: Vec<String> = (0..words).map(|i| format!("word{i}")).collect();
    format!(
        "First paragraph about rust sqlite.\n\n## Why it matters\n\n{}\n",
        para.join(" ")
    )
}

#[test]
fn the_requested_format_parses() {
    let answer = format!(
        "---\ntitle: Rust and SQLite in Production\nslug: rust-sqlite-production\nmeta_description: How to run SQLite from Rust.\nfocus_keyword: rust sqlite\nexcerpt: A short guide.\ntags: rust, sqlite, databases\ncategory: Engineering\n---\n{}",
        body(100)
    );
    let d = parse_draft(&answer).expect("parsed");
    assert_eq!(d.title.as_deref(), Some("Rust and SQLite in Production"));
    assert_eq!(d.slug.as_deref(), Some("rust-sqlite-production"));
    assert_eq!(d.focus_keyword.as_deref(), Some("rust sqlite"));
    assert_eq!(d.tags, vec!["rust", "sqlite", "databases"]);
    assert_eq!(d.category.as_deref(), Some("Engineering"));
    assert!(d.body.starts_with("First paragraph"), "{}", d.body);
    let (a, repairs) = finalize(d, "rust sqlite");
    assert!(repairs.is_empty(), "{repairs:?}");
    assert_eq!(a.title, "Rust and SQLite in Production");
}

#[test]
fn fences_chatter_bold_keys_quotes_and_yaml_lists_are_tolerated() {
    let answer = format!(
        "Sure! Here is the article:\n```markdown\n---\n**Title**: \"A Guide\"\nMeta Description: >\n  Two lines\n  of description.\nFocus-Keyword: 'guide'\ntags:\n  - one\n  - \"two\"\ncategories: [\"News\", \"Other\"]\n---\n# A Guide\n\n{}```\n",
        body(90)
    );
    let d = parse_draft(&answer).expect("parsed");
    assert_eq!(d.title.as_deref(), Some("A Guide"));
    assert_eq!(
        d.meta_description.as_deref(),
        Some("Two lines of description.")
    );
    assert_eq!(d.focus_keyword.as_deref(), Some("guide"));
    assert_eq!(d.tags, vec!["one", "two"]);
    assert_eq!(d.category.as_deref(), Some("News"));
    assert!(
        !d.body.contains("# A Guide"),
        "the H1 is the title: {}",
        d.body
    );
    assert!(!d.body.contains("```"), "{}", d.body);
}

#[test]
fn a_bare_markdown_article_takes_its_title_from_the_h1() {
    let d = parse_draft(&format!("# Only a Heading\n\n{}", body(90))).expect("parsed");
    assert_eq!(d.title.as_deref(), Some("Only a Heading"));
    let (a, repairs) = finalize(d, "topic words");
    assert_eq!(a.slug, "only-a-heading");
    assert_eq!(a.focus_keyword, "topic words");
    assert!(a.meta_description.starts_with("First paragraph"));
    assert!(
        repairs.iter().any(|r| r.contains("meta description")),
        "{repairs:?}"
    );
}

#[test]
fn a_horizontal_rule_in_the_body_is_not_front_matter() {
    let d = parse_draft(&format!("# Title\n\nIntro.\n\n---\n\n{}", body(90))).expect("parsed");
    assert_eq!(d.title.as_deref(), Some("Title"));
    assert!(d.body.contains("Intro."), "{}", d.body);
}

#[test]
fn unusable_answers_say_why() {
    assert_eq!(parse_draft("  \n"), Err(DraftProblem::Empty));
    assert_eq!(parse_draft("```\n```"), Err(DraftProblem::Empty));
    assert_eq!(parse_draft(&body(100)), Err(DraftProblem::NoTitle));
    let short = parse_draft("---\ntitle: T\n---\nJust a few words.");
    assert!(
        matches!(short, Err(DraftProblem::BodyTooShort { words: 4 })),
        "{short:?}"
    );
    assert!(
        DraftProblem::BodyTooShort { words: 4 }
            .to_string()
            .contains("4 words")
    );
}

#[test]
fn long_fields_are_cut_at_word_boundaries_and_noted() {
    let title = "A very long title that goes on and on well past the sixty character limit";
    let meta = "word ".repeat(60);
    let answer = format!(
        "---\ntitle: {title}\nslug: Weird Slug!!\nmeta_description: {meta}\n---\n{}",
        body(90)
    );
    let (a, repairs) = finalize(parse_draft(&answer).expect("parsed"), "t");
    assert!(a.title.chars().count() <= TITLE_MAX, "{}", a.title);
    assert_eq!(
        a.title,
        "A very long title that goes on and on well past the sixty"
    );
    assert!(a.meta_description.chars().count() <= META_MAX);
    assert_eq!(a.slug, "weird-slug");
    assert!(
        repairs.iter().any(|r| r.starts_with("title cut")),
        "{repairs:?}"
    );
    assert!(
        repairs.iter().any(|r| r.contains("normalized")),
        "{repairs:?}"
    );
}

#[test]
fn slugs_are_ascii_and_bounded() {
    assert_eq!(slugify("Über Größe & Café!"), "uber-grose-cafe");
    assert_eq!(slugify("!!!"), "article");
    assert!(slugify(&"abc ".repeat(100)).len() <= 80);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(text in any::<String>()) {
        if let Ok(d) = parse_draft(&text) {
            let (a, _) = finalize(d, &text);
            prop_assert!(a.title.chars().count() <= TITLE_MAX);
            prop_assert!(a.meta_description.chars().count() <= META_MAX);
            prop_assert!(a.slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        }
    }

    #[test]
    fn the_parser_never_panics_on_front_matter_like_text(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("---".to_string()),
                Just("```".to_string()),
                Just("# Heading".to_string()),
                Just("tags:".to_string()),
                Just("  - x".to_string()),
                Just("meta: >".to_string()),
                "[a-z_ ]{0,12}: ?[^\n]{0,40}",
                "[^\n]{0,80}",
            ],
            0..40,
        ),
        topic in "[^\n]{0,30}",
    ) {
        let text = lines.join("\n");
        if let Ok(d) = parse_draft(&text) {
            let (a, _) = finalize(d, &topic);
            prop_assert!(!a.slug.is_empty());
        }
    }
}
