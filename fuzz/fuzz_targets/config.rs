//! Config text: TOML to a validated Config, or errors that name the key
//! and the line. Never a panic, and a secret never shows in an error.
#![no_main]

use blog_poster::config::{Environment, parse};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-secret-value-0123456789";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Environment::from_pairs([
        ("ANTHROPIC_API_KEY", SECRET),
        ("OPENAI_API_KEY", SECRET),
        ("BLOG_POSTER_BLOG_WP_APP_PASSWORD", SECRET),
        ("BLOG_WP_PASSWORD", SECRET),
        ("BLOG_POSTER_EXAMPLE_WP_APP_PASSWORD", SECRET),
        ("BLOG_POSTER_SECOND_WP_APP_PASSWORD", SECRET),
        ("HOME", "/nonexistent-fuzz-home"),
    ]);
    if let Err(e) = parse(text, None, &env)
        && !text.contains(SECRET)
    {
        let shown = e.to_string();
        assert!(!shown.contains(SECRET), "secret in a config error: {shown}");
    }
});
