//! Inputs the fuzzers found (docs/testing.md "Findings"), each a named test
//! running what its harness runs, with the input checked in under
//! tests/fixtures/fuzz/TARGET/.

use blog_poster::config::Secret;
use blog_poster::llm::{anthropic, openai};

fn input(target: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/fuzz/{target}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Finding 2 (`provider`, 751dd22): a 200 answer that is not JSON of the
/// expected shape became an error quoting serde's message, which quotes the
/// body; the API key inside a longer word ("creatisk-…on") was not caught by
/// the `sk-…` pattern, and the error carried it. Both parsers now redact the
/// key itself, as the error classifier always did.
#[test]
fn fuzz_regressions_provider_key_inside_a_malformed_200_answer_is_redacted() {
    const KEY: &str = "sk-fuzz-secret-0123456789";
    let data = input("provider", "key-inside-a-malformed-200-answer");
    assert!(
        String::from_utf8_lossy(&data).contains(KEY),
        "the input carries the key"
    );
    let secret = Secret::new(KEY.to_string(), "env FUZZ_KEY");
    let e = openai::parse_success(&data, 200, Some(&secret)).expect_err("malformed");
    assert!(!e.message.contains(KEY), "key leaked: {}", e.message);
    assert!(
        e.message.contains("not a Chat Completions response"),
        "{}",
        e.message
    );
    let e = anthropic::parse_success(&data, 200, Some(&secret)).expect_err("malformed");
    assert!(!e.message.contains(KEY), "key leaked: {}", e.message);
    assert!(
        e.message.contains("not a Messages API response"),
        "{}",
        e.message
    );
}
