//! Provider answers: Anthropic Messages and OpenAI Chat Completions success
//! bodies, their error bodies, and the Retry-After headers. Never a panic,
//! and the API key never comes back in an error message.
#![no_main]

use blog_poster::config::Secret;
use blog_poster::llm::{anthropic, openai, retry_after};
use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderValue};

const KEY: &str = "sk-fuzz-secret-0123456789";
const STATUSES: [u16; 12] = [400, 401, 402, 403, 404, 408, 409, 413, 429, 500, 503, 529];

fuzz_target!(|data: &[u8]| {
    let secret = Secret::new(KEY.to_string(), "env FUZZ_KEY");
    let status = 200;
    if let Err(e) = anthropic::parse_success(data, status, Some(&secret)) {
        assert!(!e.message.contains(KEY), "key leaked: {}", e.message);
    }
    if let Err(e) = openai::parse_success(data, status, Some(&secret)) {
        assert!(!e.message.contains(KEY), "key leaked: {}", e.message);
    }
    // The status only picks the class; taking it from the length lets the
    // fuzzer reach every class without breaking the body.
    let status = STATUSES[data.len() % STATUSES.len()];
    let e = anthropic::classify(status, data, None, Some(&secret));
    assert!(!e.message.contains(KEY), "key leaked: {}", e.message);
    let e = openai::classify(status, data, None, Some(&secret));
    assert!(!e.message.contains(KEY), "key leaked: {}", e.message);
    let line = data.split(|b| *b == b'\n').next().unwrap_or_default();
    if let Ok(v) = HeaderValue::from_bytes(line) {
        for name in ["retry-after", "retry-after-ms"] {
            let mut headers = HeaderMap::new();
            headers.insert(name, v.clone());
            let _ = retry_after(&headers);
        }
    }
});
