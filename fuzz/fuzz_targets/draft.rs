//! The model's article answer: front matter in its many shapes, the
//! repairs of finalize, and the deterministic checks over the Markdown.
//! Never a panic; the slug is always a URL slug.
#![no_main]

use blog_poster::config::CheckSettings;
use blog_poster::content::checks::run_checks;
use blog_poster::content::draft::{finalize, parse_draft};
use blog_poster::content::links::{malformed_links, unknown_domains};
use blog_poster::content::markdown::Document;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let answer = String::from_utf8_lossy(data);
    let Ok(draft) = parse_draft(&answer) else {
        return;
    };
    let (article, _repairs) = finalize(draft, "rust sqlite");
    assert!(
        !article.slug.is_empty()
            && article
                .slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "slug {:?}",
        article.slug
    );
    let settings = CheckSettings {
        fact_check: false,
        fact_check_prompt: None,
        max_tokens: 2000,
        min_score: 70,
        reject_below: 40,
        auto_publish: true,
        min_words: 300,
        max_words: 3000,
        min_reading_ease: 30.0,
    };
    let allowed = vec!["example.com".to_string()];
    let unknown = unknown_domains(&article.body_markdown, &allowed);
    let _ = malformed_links(&Document::parse(&article.body_markdown));
    let _ = run_checks(&article, &settings, "en", &unknown);
});
