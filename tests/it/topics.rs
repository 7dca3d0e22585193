//! The topics stage on real data: competitor items stored by the real
//! monitor stage from fake feeds, one of our articles already covering a
//! topic, seed, pinned and banned keywords; every decision persisted.

use std::time::Duration;

use blog_poster::config::{self, Environment};
use blog_poster::domain::lifecycle::Stage;
use blog_poster::pipeline::monitor::Monitor;
use blog_poster::pipeline::topics::Topics;
use blog_poster::store::{GenerateOutput, NewArticle, StageOutput, TopicsOutput};
use blog_poster::topics::{ExistingPosts, ExistingPostsError, PublisherPosts};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::monitor::rss;
use crate::stages::Stages;

fn topics_stage() -> Topics {
    Topics::new(std::sync::Arc::new(PublisherPosts))
}

fn our_article(title: &str, keyword: &str) -> StageOutput {
    StageOutput::Generate(GenerateOutput {
        notes: Default::default(),
        article: NewArticle {
            topic: keyword.into(),
            title: title.into(),
            slug: "s".into(),
            meta_description: String::new(),
            focus_keyword: keyword.into(),
            excerpt: String::new(),
            tags: vec![],
            category: None,
            body_markdown: "Body.".into(),
        },
    })
}

/// A fixed list of titles that `titles()` returns: how the live site's
/// posts reach the stage once the WordPress client provides them.
struct KnownPosts(Vec<String>);

impl ExistingPosts for KnownPosts {
    fn titles<'a>(
        &'a self,
        _site: &'a blog_poster::config::SiteConfig,
    ) -> blog_poster::domain::BoxFuture<'a, Result<Vec<String>, ExistingPostsError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

async fn competitors() -> MockServer {
    let server = MockServer::start().await;
    for (p, items) in [
        (
            "/a.xml",
            vec![
                ("a1", "WordPress backup strategies explained"),
                ("a2", "Uptime monitoring for small shops"),
                ("a3", "Crypto payments on WordPress"),
            ],
        ),
        (
            "/b.xml",
            vec![
                ("b1", "Backup strategies for busy people"),
                ("b2", "Uptime monitoring with free tools"),
                ("b3", "Crypto payments explained"),
            ],
        ),
        (
            "/c.xml",
            vec![
                ("c1", "Uptime monitoring checklists"),
                ("c2", "Image optimisation"),
            ],
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(rss(&items), "application/rss+xml"),
            )
            .mount(&server)
            .await;
    }
    server
}

fn config(server: &MockServer, topics: &str) -> String {
    let mut c = String::from(
        "[sites.blog]\npublisher = \"outbox\"\nseed_keywords = [\"small business websites\"]\n",
    );
    for p in ["/a.xml", "/b.xml", "/c.xml"] {
        c.push_str(&format!(
            "[[sites.blog.sources]]\nurl = \"{}{p}\"\nkind = \"feed\"\n",
            server.uri()
        ));
    }
    c.push_str("[sites.blog.topics]\n");
    c.push_str(topics);
    c
}

fn candidates(o: StageOutput) -> TopicsOutput {
    match o {
        StageOutput::Topics(t) => t,
        other => panic!("expected topics, got {other:?}"),
    }
}

#[tokio::test]
async fn the_most_shared_uncovered_phrase_is_selected_and_every_decision_is_recorded() {
    let server = competitors().await;
    let s = Stages::new(&config(&server, "banned_keywords = [\"crypto\"]\n"));
    s.run("blog", Stage::Monitor, &Monitor)
        .await
        .expect("monitor");
    s.commit(
        "blog",
        our_article(
            "Ten backup strategies that actually restore",
            "backup strategies",
        ),
    );
    s.advance(Duration::from_secs(60));

    let out = candidates(
        s.run("blog", Stage::Topics, &topics_stage())
            .await
            .expect("topics"),
    );
    let selected = out.selected().expect("a topic");
    assert_eq!(selected.keyword, "uptime monitoring");
    assert!(
        selected
            .reason
            .starts_with("kept: in 3 competitor items from 3 of 3 sources"),
        "{}",
        selected.reason
    );

    let find = |k: &str| {
        out.candidates
            .iter()
            .find(|c| c.keyword == k)
            .unwrap_or_else(|| panic!("{k}: {out:#?}"))
    };
    let backup = find("backup strategies");
    assert!(!backup.kept);
    assert!(
        backup.reason.starts_with("rejected: too close to our article 1 \"Ten backup strategies that actually restore\" (draft)"),
        "{}",
        backup.reason
    );
    let crypto = find("crypto payments");
    assert_eq!(
        (crypto.kept, crypto.reason.as_str()),
        (false, "rejected: contains the banned keyword \"crypto\"")
    );
    assert!(
        find("small business websites")
            .reason
            .starts_with("kept: seed keyword")
    );

    // Persisted: one row per candidate, the chosen one "selected".
    let db = rusqlite::Connection::open(s.path().join("stages.db")).expect("open db");
    let rows: Vec<(String, String, String)> = db
        .prepare("SELECT keyword, status, reason FROM topics ORDER BY id")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows.len(), out.candidates.len());
    let statuses = |status: &str| {
        rows.iter()
            .filter(|r| r.1 == status)
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses("selected"), ["uptime monitoring"]);
    assert!(statuses("rejected").contains(&"backup strategies"));
    let job_summary: String = db
        .query_row(
            "SELECT result_summary FROM jobs WHERE stage = 'topics'",
            [],
            |r| r.get(0),
        )
        .expect("job");
    assert!(
        job_summary.starts_with("topic \"uptime monitoring\""),
        "{job_summary}"
    );
}

#[tokio::test]
async fn pinned_keywords_win_and_existing_posts_count_as_covered() {
    let server = competitors().await;
    let s = Stages::new(&config(
        &server,
        "pinned_keywords = [\"Static site generators\"]\n",
    ));
    s.run("blog", Stage::Monitor, &Monitor)
        .await
        .expect("monitor");
    let out = candidates(
        s.run("blog", Stage::Topics, &topics_stage())
            .await
            .expect("topics"),
    );
    assert_eq!(
        out.selected().map(|c| c.keyword.as_str()),
        Some("Static site generators")
    );

    let live = Topics::new(std::sync::Arc::new(KnownPosts(vec![
        "Static site generators compared".into(),
        "Uptime monitoring on a budget".into(),
    ])));
    let out = candidates(s.run("blog", Stage::Topics, &live).await.expect("topics"));
    let pinned = out
        .candidates
        .iter()
        .find(|c| c.keyword == "Static site generators")
        .expect("pinned");
    assert!(!pinned.kept);
    assert!(
        pinned
            .reason
            .contains("existing post \"Static site generators compared\""),
        "{}",
        pinned.reason
    );
    let selected = out.selected().expect("a topic");
    assert_ne!(selected.keyword, "uptime monitoring");
}

#[tokio::test]
async fn nothing_new_to_say_ends_the_run_without_a_topic() {
    let s = Stages::new("[sites.blog]\npublisher = \"outbox\"\n");
    let out = candidates(
        s.run("blog", Stage::Topics, &topics_stage())
            .await
            .expect("topics"),
    );
    assert!(out.candidates.is_empty());
    let run = &s.store.list_runs(Some("blog"), 1, None).expect("runs")[0];
    assert_eq!(run.outcome.as_deref(), Some("no new topic to write about"));
}

#[tokio::test]
async fn an_unreachable_wordpress_site_is_a_retryable_listing_error() {
    let env = Environment::from_pairs([("HOME", "/h"), ("WP_PW", "secret")]);
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let c = config::parse(
        "[sites.wp.wordpress]\nurl = \"http://127.0.0.1:9\"\nusername = \"bot\"\napp_password_env = \"WP_PW\"\n",
        None,
        &env,
    )
    .expect("config");
    let err = PublisherPosts
        .titles(&c.sites[0])
        .await
        .expect_err("unreachable");
    assert!(matches!(err, ExistingPostsError::Retryable(_)), "{err}");
    assert!(
        err.to_string()
            .contains("cannot list the existing posts of http://127.0.0.1:9/"),
        "{err}"
    );
}
