//! Panic isolation in the binary as shipped (the release profile unwinds
//! like this test build; `fence::tests::release_profile_unwinds_like_the_tests`
//! checks that): the real `serve` with one source whose parser panics (the
//! `BLOG_POSTER_TEST_INJECT_PANIC` test hook, compiled into every build)
//! beside healthy sources, and a second site whose topics stage panics.
//! The daemon stays up, the healthy sources' items are stored, the bad
//! source and the job carry the panic message, and panic alerts reach a
//! webhook listener on loopback.

use std::process::Stdio;
use std::time::{Duration, Instant};

use blog_poster::domain::lifecycle::{JobStatus, Stage};
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{NewRun, RunTrigger, Store};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{command, write_config};
use crate::monitor::rss;

fn feed(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "application/rss+xml; charset=utf-8")
}

async fn webhook_bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/hook")
        .filter_map(|r| serde_json::from_slice(&r.body).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_fences_one_panicking_source_and_stage_cost_only_themselves() {
    let server = MockServer::start().await;
    for (p, items) in [
        (
            "/good-a.xml",
            [("a1", "Rust in production"), ("a2", "SQLite tuning")],
        ),
        (
            "/good-b.xml",
            [
                ("b1", "WordPress hardening"),
                ("b2", "Backups that restore"),
            ],
        ),
        (
            "/evil.xml",
            [("e1", "Never stored"), ("e2", "Never stored either")],
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(feed(rss(&items)))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let base = server.uri();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{data}\"\n\
             [engine]\npoll_interval = \"50ms\"\nretry_base = \"100ms\"\nretry_max = \"200ms\"\nmax_attempts = 2\n\
             [alerts]\nwebhook_url = \"{base}/hook\"\nmin_interval = \"1s\"\n\
             [sites.blog]\npublisher = \"outbox\"\n\
             [[sites.blog.sources]]\nurl = \"{base}/good-a.xml\"\nkind = \"feed\"\n\
             [[sites.blog.sources]]\nurl = \"{base}/evil.xml\"\nkind = \"auto\"\n\
             [[sites.blog.sources]]\nurl = \"{base}/good-b.xml\"\nkind = \"feed\"\n\
             [sites.other]\npublisher = \"outbox\"\n",
            data = dir.path().display()
        ),
    );
    // Runs are waiting in the database when serve starts: blog's monitor
    // stage (three sources, one panics in its parser) and other's topics
    // stage (panics at every attempt).
    let store = SqliteStore::open(&dir.path().join("blog-poster.db"), Duration::from_secs(5))
        .expect("open");
    let now = chrono::Utc::now();
    store.migrate(now).expect("migrate");
    let config = blog_poster::config::load(
        &blog_poster::config::ConfigLocation::File(cfg.clone()),
        &blog_poster::config::Environment::from_pairs([(
            "HOME",
            dir.path().to_str().expect("utf8"),
        )]),
    )
    .expect("config");
    store
        .sync_sites(&blog_poster::store::open::site_specs(&config), now)
        .expect("sync");
    let run = |site: &str, first: Stage| NewRun {
        site: site.into(),
        trigger: RunTrigger::Manual,
        slot_key: None,
        first_stage: first,
        until: Some(first),
        max_attempts: 2,
    };
    let blog_run = store
        .enqueue_run(&run("blog", Stage::Monitor), now)
        .expect("enqueue")
        .run_id();
    let other_run = store
        .enqueue_run(&run("other", Stage::Topics), now)
        .expect("enqueue")
        .run_id();

    let mut child = command(dir.path())
        .env(
            "BLOG_POSTER_TEST_INJECT_PANIC",
            "parse:/evil.xml,stage:other/topics",
        )
        .args(["--config", cfg.to_str().expect("utf8"), "serve"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).expect("log"))
        .spawn()
        .expect("spawn serve");

    let deadline = Instant::now() + Duration::from_secs(60);
    let (sources, other_job, alerts) = loop {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "serve exited: {}",
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
        );
        let sources = store.list_sources("blog").expect("sources");
        let other_job = store
            .list_jobs(Some(other_run), None, 10)
            .expect("jobs")
            .pop();
        let alerts = webhook_bodies(&server).await;
        let checked = sources.iter().all(|s| s.last_checked_at.is_some());
        let dead = other_job
            .as_ref()
            .is_some_and(|j| j.status == JobStatus::Dead);
        let panics = alerts.iter().filter(|a| a["kind"] == "panic").count();
        // The job_dead alert is sent after the job is marked dead: wait for
        // it too (reading the alerts the moment the job is dead raced it).
        let dead_alerted = alerts.iter().any(|a| a["kind"] == "job_dead");
        if checked && dead && panics >= 2 && dead_alerted {
            break (sources, other_job, alerts);
        }
        assert!(
            Instant::now() < deadline,
            "timed out: sources {sources:#?}, job {other_job:#?}, alerts {alerts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The healthy sources' items are stored; the panicking one's are not.
    let items = store.list_source_items("blog", None, 100).expect("items");
    let mut titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Backups that restore",
            "Rust in production",
            "SQLite tuning",
            "WordPress hardening"
        ]
    );
    let evil = sources
        .iter()
        .find(|s| s.url.ends_with("/evil.xml"))
        .expect("evil source");
    let error = evil.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("panicked: test hook: injected panic at parse"),
        "the bad source shows the panic message: {evil:#?}"
    );
    assert_eq!(evil.consecutive_failures, 1);
    assert!(evil.next_check_at.is_some(), "checked again later");
    for good in sources.iter().filter(|s| !s.url.ends_with("/evil.xml")) {
        assert_eq!(good.last_error, None, "{good:#?}");
    }
    let blog = store.get_run(blog_run).expect("run");
    assert_eq!(
        blog.status,
        blog_poster::domain::lifecycle::RunStatus::Succeeded,
        "{blog:?}"
    );

    // The panicking stage was retried, then died with the panic message.
    let job = other_job.expect("job");
    assert_eq!(job.attempts, 2, "retried once: {job:?}");
    let error = job.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains(
            "the topics stage panicked: test hook: injected panic at stage for other/topics"
        ),
        "{job:?}"
    );

    // Alerts: one per contained panic unit, plus the dead job.
    let units: Vec<&str> = alerts
        .iter()
        .filter(|a| a["kind"] == "panic")
        .filter_map(|a| a["title"].as_str())
        .collect();
    assert!(
        units.iter().any(|t| t.contains("/evil.xml")),
        "a panic alert names the source's parser: {alerts:#?}"
    );
    assert!(
        units.iter().any(|t| t.contains("the topics stage of job")),
        "a panic alert names the job's stage: {alerts:#?}"
    );
    assert!(
        alerts
            .iter()
            .any(|a| a["kind"] == "job_dead" && a["site"] == "other"),
        "{alerts:#?}"
    );

    // Still up and fully working: it stops gracefully on SIGTERM.
    assert!(child.try_wait().expect("try_wait").is_none(), "serve is up");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
}
