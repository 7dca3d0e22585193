//! The whole content chain with the real stages: monitor → topics →
//! generate → check → publish (outbox), against a fake feed server and a
//! fake LLM server for each API (Anthropic Messages, OpenAI Chat
//! Completions). A second run sees the feed answer 304 and stores nothing
//! again; the recorded cost equals the reported tokens × the model's price.

use std::time::Duration;

use blog_poster::domain::lifecycle::{ArticleStatus, RunStatus, Stage};
use blog_poster::domain::pricing::default_price;
use blog_poster::store::*;
use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fake_llm::*;

// Sources are due again at once, so the second run fetches (and gets 304).
pub(crate) const ENGINE: &str = "[engine]\nretry_base = \"100ms\"\nretry_max = \"1s\"\npoll_interval = \"20ms\"\n[monitor]\nmin_check_interval = \"0s\"\n";

const FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Competitor</title><link>https://comp.example/</link><description>c</description>
<item><title>Rust SQLite in WAL mode: readers never wait</title><link>https://comp.example/rust-sqlite-wal</link>
<guid>https://comp.example/rust-sqlite-wal</guid><pubDate>Sun, 22 Nov 2026 08:00:00 GMT</pubDate>
<description>&lt;p&gt;Rust SQLite with WAL mode lets readers and one writer work at the same time.&lt;/p&gt;</description></item>
<item><title>Rust SQLite backups with the online backup API</title><link>https://comp.example/rust-sqlite-backup</link>
<guid>https://comp.example/rust-sqlite-backup</guid><pubDate>Sat, 21 Nov 2026 08:00:00 GMT</pubDate>
<description>Rust SQLite backups can run while the application writes.</description></item>
</channel></rss>"#;

fn article(link: &str) -> String {
    let para = "Rust SQLite setups are simple and fast. You open one file and you write rows. \
                The database keeps your data safe on disk. Readers do not block the writer in WAL mode. \
                Small teams like this because there is no server to run.";
    format!(
        "---\ntitle: Rust SQLite in WAL mode\nslug: rust-sqlite-wal\nmeta_description: How Rust SQLite setups use WAL mode so readers and one writer work at once, and what to watch for.\nfocus_keyword: rust sqlite\nexcerpt: WAL mode in short.\ntags: rust, sqlite\ncategory: Engineering\n---\n\
         Rust SQLite is a calm way to store data. See [the source]({link}).\n\n\
         ## Why rust sqlite works\n\n{para}\n\n### The WAL file\n\n{para} It also saves time.\n\n## Getting started\n\n{para} Try it today.\n"
    )
}

fn fact_check() -> String {
    serde_json::json!({"claims": [
        {"claim": "WAL mode lets readers and one writer work at once", "verdict": "supported", "source": 1, "note": "Source 1 says so."}
    ]})
    .to_string()
}

/// Serves the feed with an ETag; a request carrying it gets 304.
pub(crate) async fn feed_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .and(header("if-none-match", "\"feed-v1\""))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", "\"feed-v1\""))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/rss+xml; charset=utf-8")
                .insert_header("etag", "\"feed-v1\"")
                .insert_header("cache-control", "max-age=0")
                .set_body_string(FEED),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

#[derive(Clone, Copy)]
pub(crate) enum Api {
    Anthropic,
    OpenAi,
}

/// A fake provider of `api` that writes the article or answers the fact
/// check, with fixed token counts in the genuine usage fields.
pub(crate) async fn llm_server(api: Api) -> (MockServer, Recorder, (u64, u64), (u64, u64)) {
    let (generate_tokens, check_tokens) = ((1500, 900), (2000, 150));
    let rec = Recorder::new(move |_, body: &Value| {
        let fact = prompt_text(body).contains("fact-checker");
        let (text, (input, output)) = if fact {
            (fact_check(), check_tokens)
        } else {
            (
                article("https://comp.example/rust-sqlite-wal"),
                generate_tokens,
            )
        };
        match api {
            Api::Anthropic => anthropic_ok(&text, input, output),
            Api::OpenAi => openai_ok(&text, input, output),
        }
    });
    let server = MockServer::start().await;
    let route = match api {
        Api::Anthropic => "/v1/messages",
        Api::OpenAi => "/v1/chat/completions",
    };
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    (server, rec, generate_tokens, check_tokens)
}

fn new_run(store: &dyn Store) -> RunId {
    let run = NewRun {
        site: "blog".into(),
        trigger: RunTrigger::Manual,
        slot_key: None,
        first_stage: Stage::Monitor,
        until: None,
        max_attempts: 3,
    };
    store
        .enqueue_run(&run, chrono::Utc::now())
        .expect("enqueue")
        .run_id()
}

async fn chain_against(api: Api) {
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = feed_server().await;
    let (llm, rec, gen_tokens, check_tokens) = llm_server(api).await;
    let llm_config = match api {
        Api::Anthropic => anthropic_llm(&llm.uri()),
        Api::OpenAi => openai_llm(&llm.uri()),
    };
    let site = format!(
        "[sites.blog]\nseed_keywords = [\"rust sqlite\"]\n[[sites.blog.sources]]\nurl = \"{}/feed.xml\"\nkind = \"feed\"\n\
         [sites.blog.generate]\ntarget_words = 150\n\
         [sites.blog.check]\nauto_publish = true\nmin_score = 60\nmin_words = 60\nmax_words = 400\nmin_reading_ease = 0.0\n",
        feeds.uri()
    );
    let cfg = config(dir.path(), &format!("{ENGINE}{llm_config}{site}"));
    let store = store(dir.path(), &cfg);

    let run = new_run(store.as_ref());
    drive(
        store.clone(),
        cfg.clone(),
        stages(),
        vec![run],
        Duration::from_secs(60),
    )
    .await;
    let r = store.get_run(run).expect("run");
    assert_eq!(
        r.status,
        RunStatus::Succeeded,
        "{r:?} {:#?}",
        store.list_jobs(Some(run), None, 10)
    );
    let a = store.article_for_run(run).expect("read").expect("article");
    assert_eq!(a.status, ArticleStatus::Published);
    assert!(
        a.published_url
            .as_deref()
            .is_some_and(|u| u.ends_with(".html") && std::path::Path::new(u).exists())
    );
    let items = store.list_source_items("blog", None, 100).expect("items");
    assert_eq!(items.len(), 2, "both feed items stored");
    let topic = store
        .selected_topic(run)
        .expect("topic")
        .expect("a topic was selected");
    assert!(topic.keyword.to_lowercase().contains("sqlite"), "{topic:?}");

    // Recorded cost = reported tokens × the model's price, per call.
    let calls = store.list_llm_calls(Some(run), 10).expect("calls");
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in &calls {
        let (input, output) = if call.purpose == "fact-check" {
            check_tokens
        } else {
            gen_tokens
        };
        assert_eq!(
            (call.input_tokens, call.output_tokens),
            (input, output),
            "{call:?}"
        );
        let price = default_price(&call.model).expect("default price");
        assert_eq!(call.cost, price.cost(input, output), "{call:?}");
        assert!(call.cost.micros() > 0);
    }
    assert_eq!(rec.count(), 2);

    // Second run: the feed answers 304 to the validator, nothing is stored
    // again, and the topic already written about is not picked twice.
    let second = new_run(store.as_ref());
    drive(
        store.clone(),
        cfg.clone(),
        stages(),
        vec![second],
        Duration::from_secs(60),
    )
    .await;
    let requests = feeds.received_requests().await.expect("recorded");
    let last = requests.last().expect("a feed request");
    assert_eq!(
        last.headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok()),
        Some("\"feed-v1\"")
    );
    assert_eq!(
        store
            .list_source_items("blog", None, 100)
            .expect("items")
            .len(),
        2,
        "no duplicates"
    );
    let monitor = store
        .list_jobs(Some(second), None, 10)
        .expect("jobs")
        .into_iter()
        .find(|j| j.stage == Stage::Monitor)
        .expect("monitor job");
    assert!(
        monitor
            .result_summary
            .as_deref()
            .is_some_and(|s| s.contains("1 unchanged")),
        "{monitor:?}"
    );
    // The first run's topic came up again and was rejected as covered by
    // the article written about it; whatever the run picked instead, or
    // nothing, it was not that topic.
    let db = rusqlite::Connection::open(dir.path().join("test.db")).expect("open db");
    let again: Vec<(String, String)> = db
        .prepare("SELECT status, reason FROM topics WHERE run_id = ?1 AND keyword = ?2")
        .expect("prepare")
        .query_map(rusqlite::params![second.0, topic.keyword], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        again.len(),
        1,
        "the first topic is a candidate again: {again:?}"
    );
    assert_eq!(again[0].0, "rejected", "{again:?}");
    assert!(
        again[0].1.starts_with("rejected: too close to our article"),
        "{again:?}"
    );
    if let Some(t) = store.selected_topic(second).expect("topic") {
        assert_ne!(t.keyword, topic.keyword, "the same topic was picked twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_to_publish_with_anthropic() {
    chain_against(Api::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_to_publish_with_openai() {
    chain_against(Api::OpenAi).await;
}
