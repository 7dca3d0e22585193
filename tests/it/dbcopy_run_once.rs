//! The acceptance path of moving to PostgreSQL, with the real binary: a
//! SQLite database that `run --once` filled (real stages against a fake
//! feed and a fake Anthropic API) is copied with `db copy --to`, and then
//! `run --once` with the config pointed at the PostgreSQL URL works on the
//! copy: it sends the copied feed validator (the feed answers 304), stores
//! no duplicate items, does not pick the topic the copied article already
//! covers, and new ids continue after the copied ones.

use blog_poster::domain::lifecycle::RunStatus;
use blog_poster::store::Store;
use blog_poster::store::postgres::PgStore;

use crate::fake_llm::{KEY, anthropic_llm};
use crate::harness::{command, run};
use crate::pg_env;
use crate::pipeline_e2e::{Api, ENGINE, feed_server, llm_server};

#[test]
fn db_copy_then_run_once_on_postgres_works_on_the_copied_data() {
    let target = pg_env::FreshDb::create("copy_once");
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (feeds, (llm, rec, _, _)) =
        rt.block_on(async { (feed_server().await, llm_server(Api::Anthropic).await) });
    let site = format!(
        "[sites.blog]\nseed_keywords = [\"rust sqlite\"]\n[[sites.blog.sources]]\nurl = \"{}/feed.xml\"\nkind = \"feed\"\n\
         [sites.blog.generate]\ntarget_words = 150\n\
         [sites.blog.check]\nauto_publish = true\nmin_score = 60\nmin_words = 60\nmax_words = 400\nmin_reading_ease = 0.0\n",
        feeds.uri()
    );
    let base = format!(
        "data_dir = \"{}\"\n{ENGINE}{}{site}",
        dir.path().display(),
        anthropic_llm(&llm.uri())
    );
    let sqlite_cfg = dir.path().join("sqlite.toml");
    std::fs::write(&sqlite_cfg, &base).expect("config");
    let once = |cfg: &std::path::Path| {
        run(command(dir.path())
            .env("TEST_KEY", KEY)
            .arg("--config")
            .arg(cfg)
            .args(["run", "--once", "--max-wait", "20s"]))
    };

    let (code, out, err) = once(&sqlite_cfg);
    assert_eq!(code, 0, "first run on SQLite\n{out}\n{err}");
    assert_eq!(rec.count(), 2, "generate and fact check");

    let (code, out, err) = run(command(dir.path())
        .env("TEST_KEY", KEY)
        .arg("--config")
        .arg(&sqlite_cfg)
        .args(["db", "copy", "--to", &target.url]));
    assert_eq!(code, 0, "db copy\n{out}\n{err}");
    eprintln!("{out}");
    assert!(out.contains("verified: "), "{out}");
    assert!(!out.contains("MISMATCH"), "{out}");
    assert!(out.contains(&format!("url = \"{}\"", target.url)), "{out}");

    let pg_cfg = dir.path().join("pg.toml");
    std::fs::write(
        &pg_cfg,
        format!("{base}[database]\nurl = \"{}\"\n", target.url),
    )
    .expect("config");
    let (code, out, err) = once(&pg_cfg);
    assert_eq!(code, 0, "run --once on PostgreSQL\n{out}\n{err}");

    let pg = PgStore::open(&target.url, &Default::default()).expect("open copy");
    let runs = pg.list_runs(None, 10, None).expect("runs");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let second = runs.iter().map(|r| r.id).max().expect("runs");
    assert_eq!(second.0, 2, "ids continue after the copied ones");
    assert_eq!(
        pg.get_run(second).expect("run").status,
        RunStatus::Succeeded
    );
    // The copied validator was sent: the feed answered 304.
    let requests = rt.block_on(feeds.received_requests()).expect("recorded");
    assert_eq!(
        requests
            .last()
            .and_then(|r| r.headers.get("if-none-match"))
            .and_then(|v| v.to_str().ok()),
        Some("\"feed-v1\""),
        "the ETag stored on SQLite came along"
    );
    assert_eq!(
        pg.list_source_items("blog", None, 100)
            .expect("items")
            .len(),
        2,
        "no duplicates of the copied items"
    );
    let first_topic = pg
        .selected_topic(blog_poster::domain::ids::RunId(1))
        .expect("topic")
        .expect("the first run's topic, copied");
    // The copied article's topic came up again and was rejected as
    // covered by it (the copy carried the article); whatever the second
    // run picked instead, or nothing, it was not that topic.
    let mut client = postgres::Client::connect(&target.url, postgres::NoTls).expect("connect");
    let again: Vec<(String, String)> = client
        .query(
            "SELECT status, reason FROM topics WHERE run_id = $1 AND keyword = $2",
            &[&second.0, &first_topic.keyword],
        )
        .expect("topics")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
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
    if let Some(t) = pg.selected_topic(second).expect("topic") {
        assert_ne!(
            t.keyword, first_topic.keyword,
            "the copied article's topic was picked again"
        );
    }
}
