//! The LLM clients against fake Anthropic and OpenAI servers: retries with
//! `retry-after`, errors that must not be retried, recorded usage and cost,
//! timeouts counted as spent, the fallback chain and the circuit breaker.

use std::time::Duration;

use blog_poster::domain::money::Money;
use blog_poster::llm::Message;
use blog_poster::llm::service::{CallSpec, LlmError, LlmService};
use blog_poster::store::Store;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer};

use crate::fake_llm::*;

fn spec<'a>(messages: &'a [Message]) -> CallSpec<'a> {
    CallSpec {
        purpose: "generate",
        system: "You write.",
        messages,
        max_tokens: None,
    }
}

async fn anthropic_server(recorder: &Recorder) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .and(header("content-type", "application/json"))
        .respond_with(recorder.clone())
        .mount(&server)
        .await;
    server
}

async fn openai_server(recorder: &Recorder) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(recorder.clone())
        .mount(&server)
        .await;
    server
}

fn calls(store: &dyn Store) -> Vec<blog_poster::store::LlmCallRecord> {
    let mut c = store.list_llm_calls(None, 100).expect("calls");
    c.reverse();
    c
}

#[tokio::test]
async fn anthropic_429_is_retried_after_retry_after_and_cost_is_tokens_times_price() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::sequence(vec![
        anthropic_error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        )
        .insert_header("retry-after", "1"),
        anthropic_ok("Hello from Claude", 1234, 567),
    ]);
    let server = anthropic_server(&rec).await;
    let cfg = config(
        dir.path(),
        &format!("{}[sites.blog]\n", anthropic_llm(&server.uri())),
    );
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let msgs = [Message::user("Write.")];
    let reply = LlmService::new()
        .complete(&ctx, &spec(&msgs))
        .await
        .expect("answer");
    assert_eq!(reply.text, "Hello from Claude");
    assert_eq!(rec.count(), 2);
    let t = rec.times();
    assert!(
        t[1] - t[0] >= Duration::from_millis(950),
        "waited {:?}, retry-after said 1s",
        t[1] - t[0]
    );
    let body = &rec.bodies()[0];
    assert_eq!(body["model"], "claude-sonnet-5-5");
    assert_eq!(body["max_tokens"], 1000);
    assert_eq!(body["system"], "You write.");
    assert_eq!(body["messages"][0]["role"], "user");

    let c = calls(store.as_ref());
    assert_eq!(c.len(), 2, "every call is recorded");
    assert_eq!(
        (c[0].outcome.as_str(), c[0].cost),
        ("rate_limited", Money::ZERO)
    );
    assert!(
        c[0].error
            .as_deref()
            .is_some_and(|e| e.contains("rate_limit_error"))
    );
    // claude-sonnet-5-5: $2 in, $10 out per million tokens.
    assert_eq!(
        (
            c[1].outcome.as_str(),
            c[1].input_tokens,
            c[1].output_tokens,
            c[1].cost
        ),
        ("ok", 1234, 567, Money(1234 * 2 + 567 * 10))
    );
    assert_eq!(
        (c[1].provider.as_str(), c[1].model.as_str()),
        ("anthropic", "claude-sonnet-5-5")
    );
    assert_eq!(reply.cost, Money(8138));
    let report = store.spend_report(chrono::Utc::now()).expect("report");
    assert_eq!(report.global_today.settled, Money(8138));
    assert_eq!(
        report.global_today.unsettled,
        Money::ZERO,
        "both reservations settled"
    );
}

#[tokio::test]
async fn openai_rate_limit_is_retried_and_cost_uses_prompt_and_completion_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::sequence(vec![
        openai_error(
            429,
            "Rate limit reached for gpt-5.4-mini on requests per min (RPM): Limit 3, Used 3.",
            "requests",
            Some("rate_limit_exceeded"),
        )
        .insert_header("retry-after", "1"),
        openai_ok("Hello from GPT", 1000, 500),
    ]);
    let server = openai_server(&rec).await;
    let cfg = config(
        dir.path(),
        &format!("{}[sites.blog]\n", openai_llm(&server.uri())),
    );
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let msgs = [Message::user("Write.")];
    let reply = LlmService::new()
        .complete(&ctx, &spec(&msgs))
        .await
        .expect("answer");
    assert_eq!(reply.text, "Hello from GPT");
    let t = rec.times();
    assert!(
        t[1] - t[0] >= Duration::from_millis(950),
        "waited {:?}",
        t[1] - t[0]
    );
    let body = &rec.bodies()[1];
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(
        body["max_completion_tokens"], 1000,
        "OpenAI takes max_completion_tokens"
    );
    assert!(body.get("max_tokens").is_none());
    let c = calls(store.as_ref());
    assert_eq!(
        c.iter().map(|x| x.outcome.as_str()).collect::<Vec<_>>(),
        ["rate_limited", "ok"]
    );
    // gpt-5.4-mini: $0.75 in, $4.50 out per million tokens.
    assert_eq!(
        (c[1].input_tokens, c[1].output_tokens, c[1].cost),
        (1000, 500, Money(750 + 2250))
    );
}

#[tokio::test]
async fn anthropic_401_fails_fast_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::sequence(vec![anthropic_error(
        401,
        "authentication_error",
        "invalid x-api-key",
    )]);
    let server = anthropic_server(&rec).await;
    let cfg = config(
        dir.path(),
        &format!("{}[sites.blog]\n", anthropic_llm(&server.uri())),
    );
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let msgs = [Message::user("Write.")];
    let err = LlmService::new()
        .complete(&ctx, &spec(&msgs))
        .await
        .expect_err("401");
    let LlmError::Failed { message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(rec.count(), 1, "no retry");
    assert!(
        message.contains("bad credentials (HTTP 401): authentication_error: invalid x-api-key"),
        "{message}"
    );
    assert!(
        message.contains("check the API key (env TEST_KEY)"),
        "{message}"
    );
    assert!(!message.contains(KEY));
    assert_eq!(calls(store.as_ref())[0].outcome, "bad_credentials");
}

#[tokio::test]
async fn openai_401_and_quota_fail_fast_and_keys_never_reach_messages_or_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = format!(
        "Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys."
    );
    let rec = Recorder::sequence(vec![
        openai_error(401, &echo, "invalid_request_error", Some("invalid_api_key")),
        openai_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
    ]);
    let server = openai_server(&rec).await;
    let cfg = config(
        dir.path(),
        &format!("{}[sites.blog]\n", openai_llm(&server.uri())),
    );
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let service = LlmService::new();
    let msgs = [Message::user("Write.")];
    let err = service
        .complete(&ctx, &spec(&msgs))
        .await
        .expect_err("401")
        .to_string();
    assert!(err.contains("bad credentials (HTTP 401)"), "{err}");
    assert!(!err.contains("0123456789abcdef"), "the key leaked: {err}");
    assert_eq!(rec.count(), 1);
    let err = service
        .complete(&ctx, &spec(&msgs))
        .await
        .expect_err("quota");
    assert!(matches!(&err, LlmError::Failed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("quota exhausted (HTTP 429)"),
        "{err}"
    );
    assert!(err.to_string().contains("add credit"), "{err}");
    assert_eq!(rec.count(), 2, "insufficient_quota is not retried");
    for c in calls(store.as_ref()) {
        assert!(
            !c.error.unwrap_or_default().contains("0123456789abcdef"),
            "key stored in llm_calls"
        );
    }
}

#[tokio::test]
async fn overload_and_server_errors_are_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::sequence(vec![
        anthropic_error(529, "overloaded_error", "Overloaded"),
        anthropic_error(500, "api_error", "Internal server error"),
        anthropic_ok("finally", 10, 10),
    ]);
    let server = anthropic_server(&rec).await;
    let cfg = config(
        dir.path(),
        &format!("{}[sites.blog]\n", anthropic_llm(&server.uri())),
    );
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let msgs = [Message::user("Write.")];
    let reply = LlmService::new()
        .complete(&ctx, &spec(&msgs))
        .await
        .expect("answer");
    assert_eq!(reply.text, "finally");
    let outcomes: Vec<String> = calls(store.as_ref())
        .into_iter()
        .map(|c| c.outcome)
        .collect();
    assert_eq!(outcomes, ["overloaded", "server_error", "ok"]);
}

#[tokio::test]
async fn a_timeout_counts_its_whole_reservation_as_spent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::sequence(vec![
        anthropic_ok("late", 1, 1).set_delay(Duration::from_secs(3)),
    ]);
    let server = anthropic_server(&rec).await;
    let llm = anthropic_llm(&server.uri())
        .replace("timeout = \"5s\"", "timeout = \"300ms\"")
        .replace("max_retries = 3", "max_retries = 0");
    let cfg = config(dir.path(), &format!("{llm}[sites.blog]\n"));
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let msgs = [Message::user("Write.")];
    let err = LlmService::new()
        .complete(&ctx, &spec(&msgs))
        .await
        .expect_err("timeout");
    assert!(matches!(err, LlmError::Unavailable { .. }), "{err:?}");
    let c = &calls(store.as_ref())[0];
    assert_eq!(c.outcome, "timeout");
    // Worst case: prompt bound × $2/M + 1000 output tokens × $10/M.
    let prompt_bound = 16 + ("You write.".len() as i64 + 8) + ("Write.".len() as i64 + 8);
    let worst = Money((prompt_bound * 2_000_000 + 1000 * 10_000_000 + 999_999) / 1_000_000);
    assert_eq!(
        c.cost, worst,
        "nobody knows what the provider did: the worst case counts"
    );
    assert_eq!(
        store
            .spend_report(chrono::Utc::now())
            .expect("report")
            .global_today
            .settled,
        worst
    );
}

#[tokio::test]
async fn the_fallback_provider_answers_when_the_first_refuses_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Recorder::sequence(vec![anthropic_error(
        401,
        "authentication_error",
        "invalid x-api-key",
    )]);
    let o = Recorder::sequence(vec![openai_ok("from the fallback", 5, 5)]);
    let (sa, so) = (anthropic_server(&a).await, openai_server(&o).await);
    let text = format!(
        "[llm]\nprovider = \"anthropic\"\nfallback = [\"openai\"]\nretry_base = \"10ms\"\n\
         [llm.providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"TEST_KEY\"\n\
         [llm.providers.openai]\nkind = \"openai\"\nbase_url = \"{}/v1\"\napi_key_env = \"TEST_KEY\"\n[sites.blog]\n",
        sa.uri(),
        so.uri()
    );
    let cfg = config(dir.path(), &text);
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let msgs = [Message::user("Write.")];
    let reply = LlmService::new()
        .complete(&ctx, &spec(&msgs))
        .await
        .expect("answer");
    assert_eq!(
        (reply.text.as_str(), reply.provider.as_str()),
        ("from the fallback", "openai")
    );
    let providers: Vec<String> = calls(store.as_ref())
        .into_iter()
        .map(|c| c.provider)
        .collect();
    assert_eq!(providers, ["anthropic", "openai"]);
}

#[tokio::test]
async fn an_open_breaker_skips_the_failing_provider_until_it_cools_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Recorder::sequence(vec![anthropic_error(529, "overloaded_error", "Overloaded")]);
    let o = Recorder::sequence(vec![openai_ok("fallback", 5, 5)]);
    let (sa, so) = (anthropic_server(&a).await, openai_server(&o).await);
    let text = format!(
        "[llm]\nprovider = \"anthropic\"\nfallback = [\"openai\"]\nmax_retries = 1\nretry_base = \"10ms\"\n\
         breaker_failures = 2\nbreaker_cooldown = \"1h\"\n\
         [llm.providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"TEST_KEY\"\n\
         [llm.providers.openai]\nkind = \"openai\"\nbase_url = \"{}/v1\"\napi_key_env = \"TEST_KEY\"\n[sites.blog]\n",
        sa.uri(),
        so.uri()
    );
    let cfg = config(dir.path(), &text);
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let service = LlmService::new();
    let msgs = [Message::user("Write.")];
    assert_eq!(
        service
            .complete(&ctx, &spec(&msgs))
            .await
            .expect("answer")
            .provider,
        "openai"
    );
    assert_eq!(a.count(), 2, "two overloaded answers open the breaker");
    assert_eq!(
        service
            .complete(&ctx, &spec(&msgs))
            .await
            .expect("answer")
            .provider,
        "openai"
    );
    assert_eq!(a.count(), 2, "the open breaker sends nothing to anthropic");
    assert_eq!(o.count(), 2);
}

#[tokio::test]
async fn a_call_that_could_cross_a_cap_is_never_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::sequence(vec![anthropic_ok("x", 1, 1)]);
    let server = anthropic_server(&rec).await;
    // 1000 output tokens at $10/M alone is $0.01: a $0.005 cap cannot fit it.
    let cfg = config(
        dir.path(),
        &format!(
            "{}[sites.blog]\n[sites.blog.budget]\nper_article = \"$0.005\"\n",
            anthropic_llm(&server.uri())
        ),
    );
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let msgs = [Message::user("Write.")];
    let err = LlmService::new()
        .complete(&ctx, &spec(&msgs))
        .await
        .expect_err("capped");
    let LlmError::CapReached(refusal) = &err else {
        panic!("{err:?}")
    };
    assert!(
        err.to_string().contains("per-article cap ($0.005)"),
        "{err}"
    );
    assert!(refusal.requested > refusal.cap);
    assert_eq!(rec.count(), 0, "nothing was sent");
    assert!(calls(store.as_ref()).is_empty());
}

#[tokio::test]
async fn a_refusal_is_permanent_and_still_paid_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = Recorder::sequence(vec![anthropic_message(
        "I can't write that.",
        100,
        7,
        "refusal",
    )]);
    let server = anthropic_server(&rec).await;
    let cfg = config(
        dir.path(),
        &format!("{}[sites.blog]\n", anthropic_llm(&server.uri())),
    );
    let store = store(dir.path(), &cfg);
    let ctx = call_context(store.clone(), cfg, "blog", None);
    let msgs = [Message::user("Write.")];
    let err = LlmService::new()
        .complete(&ctx, &spec(&msgs))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, LlmError::Failed { message } if message.contains("refused")),
        "{err:?}"
    );
    let c = &calls(store.as_ref())[0];
    assert_eq!(
        (c.outcome.as_str(), c.cost),
        ("refused", Money(100 * 2 + 7 * 10))
    );
}
