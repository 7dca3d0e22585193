//! Publishing to a real WordPress (../shared/wordpress): discovery with
//! pretty and plain permalinks; draft, publish and scheduled posts;
//! categories and tags with non-ASCII names (created when missing, the
//! `term_exists` race); a featured image; SEO fields; two sites at once;
//! the lookup that turns a retry into an update; the rate limit; the
//! existing-posts listing.

use std::time::Duration;

use blog_poster::config::WordpressConfig;
use blog_poster::domain::lifecycle::{ArticleStatus, JobStatus, RunStatus};
use blog_poster::pipeline::publish::{key_marker, post_article};
use blog_poster::store::*;
use blog_poster::wordpress::{Taxonomy, WpClient};

use crate::wp_env::{self, PNG, TestSite, admin, article, prepare, wordpress_config};

#[tokio::test]
async fn discovery_finds_the_api_with_pretty_and_plain_permalinks() {
    for (wp, pretty) in [(wp_env::pretty(), true), (wp_env::plain(), false)] {
        let client = wp_env::admin_client(&wp);
        let d = client.discovery().await.expect("discovery");
        assert!(
            d.from_link_header,
            "{}: the Link header names the root",
            wp.url
        );
        assert_eq!(d.root.as_url().as_str(), wp.api_root);
        assert_eq!(d.root.pretty_permalinks(), pretty, "{}", wp.url);
        assert!(d.index.application_passwords());
        let me = client.me().await.expect("me");
        assert!(me.can("publish_posts"), "{me:?}");
    }
    // Without pretty permalinks /wp-json/ is a 404 page, not the API.
    let plain = wp_env::plain();
    let resp = reqwest::get(format!("{}/wp-json/", plain.url))
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn draft_with_non_ascii_terms_and_a_featured_image_on_pretty_permalinks() {
    let wp = wp_env::pretty();
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    let config = wp_env::config(
        dir.path(),
        &[admin(
            "pretty",
            &wp,
            "post_status = \"draft\"\nseo_plugin = \"auto\"",
        )],
    );
    let ws = wp_env::open(&config);
    let store = ws.store.clone();
    let mut a = article("Café & Crème", &format!("cafe-creme-{n}"));
    a.category = Some(format!("Café & Crème {n}"));
    a.tags = vec![
        format!("Ünïcode {n}"),
        format!("日本語 {n}"),
        format!("ünïcode {n}"),
        " ".into(),
    ];
    let (run, id) = prepare(store.as_ref(), "pretty", a, CheckDecision::Publish);
    std::fs::write(dir.path().join("hero.png"), PNG).expect("image");
    store
        .set_article_image(
            id,
            &ArticleImage {
                source: "hero.png".into(),
                alt_text: "A hero image".into(),
            },
            chrono::Utc::now(),
        )
        .expect("image");

    let summary = wp_env::work(ws, &config, vec![run], Duration::from_secs(30)).await;
    assert!(summary.all_succeeded(), "{summary:?}");
    let published = store.get_article(id).expect("article");
    assert_eq!(published.status, ArticleStatus::Published);
    let entry = store.publish_entry(id).expect("ledger").expect("row");
    assert_eq!(entry.status, LedgerStatus::Published);
    assert_eq!(entry.attempts, 1);
    let post_id: u64 = entry
        .remote_id
        .as_deref()
        .expect("remote id")
        .parse()
        .expect("id");
    assert_eq!(published.published_url, entry.remote_url);

    let post = wp_env::wp_get(
        &wp,
        &format!("wp/v2/posts/{post_id}"),
        &[("context", "edit")],
    )
    .await;
    assert_eq!(post["status"], "draft");
    assert_eq!(post["title"]["raw"], "Café & Crème");
    assert_eq!(post["excerpt"]["raw"], "A short look at Café & Crème.");
    let content = post["content"]["raw"].as_str().expect("content");
    assert!(content.contains("<h2>Café &amp; Crème</h2>"), "{content}");
    assert!(content.contains("<strong>text</strong>"), "{content}");
    assert!(
        !content.contains("<script>"),
        "sanitized before sending: {content}"
    );
    assert!(
        content.contains(&key_marker(&entry.idempotency_key)),
        "{content}"
    );

    let cats = post["categories"].as_array().expect("categories");
    assert_eq!(cats.len(), 1);
    let cat = wp_env::wp_get(&wp, &format!("wp/v2/categories/{}", cats[0]), &[]).await;
    assert_eq!(cat["name"], format!("Café &amp; Crème {n}"));
    let tags = post["tags"].as_array().expect("tags");
    assert_eq!(tags.len(), 2, "duplicates and blanks dropped: {tags:?}");
    let mut names = Vec::new();
    for t in tags {
        let tag = wp_env::wp_get(&wp, &format!("wp/v2/tags/{t}"), &[]).await;
        names.push(tag["name"].as_str().expect("name").to_string());
    }
    names.sort();
    assert_eq!(names, [format!("Ünïcode {n}"), format!("日本語 {n}")]);

    let media_id = post["featured_media"].as_u64().expect("featured media");
    assert_ne!(media_id, 0, "featured image set");
    let media = wp_env::wp_get(&wp, &format!("wp/v2/media/{media_id}"), &[]).await;
    assert_eq!(media["alt_text"], "A hero image");
    assert_eq!(media["mime_type"], "image/png");

    // No SEO plugin exposes fields on this site: skipped, with a note.
    let notes: Vec<_> = store
        .list_events(100, None)
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == "publish.note")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].message.contains("SEO fields skipped"),
        "{:?}",
        notes[0]
    );
}

#[tokio::test]
async fn published_and_scheduled_posts_on_plain_permalinks() {
    let wp = wp_env::plain();
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    let config = wp_env::config(
        dir.path(),
        &[
            admin(
                "now",
                &wp,
                "post_status = \"publish\"\ndefault_category = \"Ohne Kategorie ü\"",
            ),
            admin(
                "later",
                &wp,
                "post_status = \"future\"\nschedule_delay = \"2h\"",
            ),
        ],
    );
    let ws = wp_env::open(&config);
    let store = ws.store.clone();
    let (run1, a1) = prepare(
        store.as_ref(),
        "now",
        article("Published now", &format!("now-{n}")),
        CheckDecision::Publish,
    );
    let (run2, a2) = prepare(
        store.as_ref(),
        "later",
        article("Scheduled later", &format!("later-{n}")),
        CheckDecision::Publish,
    );
    let started = chrono::Utc::now();
    let summary = wp_env::work(ws, &config, vec![run1, run2], Duration::from_secs(30)).await;
    assert!(summary.all_succeeded(), "{summary:?}");

    let id = |a| -> u64 {
        store
            .publish_entry(a)
            .expect("ledger")
            .expect("row")
            .remote_id
            .expect("remote id")
            .parse()
            .expect("id")
    };
    let now_post = wp_env::wp_get(
        &wp,
        &format!("wp/v2/posts/{}", id(a1)),
        &[("context", "edit")],
    )
    .await;
    assert_eq!(now_post["status"], "publish");
    assert_eq!(now_post["slug"], format!("now-{n}"));
    let link = now_post["link"].as_str().expect("link");
    assert_eq!(
        store.get_article(a1).expect("a").published_url.as_deref(),
        Some(link)
    );
    let cat = wp_env::wp_get(
        &wp,
        &format!("wp/v2/categories/{}", now_post["categories"][0]),
        &[],
    )
    .await;
    assert_eq!(cat["name"], "Ohne Kategorie ü", "default_category used");

    let later = wp_env::wp_get(
        &wp,
        &format!("wp/v2/posts/{}", id(a2)),
        &[("context", "edit")],
    )
    .await;
    assert_eq!(later["status"], "future");
    let date = chrono::NaiveDateTime::parse_from_str(
        later["date_gmt"].as_str().expect("date"),
        "%Y-%m-%dT%H:%M:%S",
    )
    .expect("date format")
    .and_utc();
    let offset = date - started;
    assert!(
        offset > chrono::Duration::minutes(119) && offset < chrono::Duration::minutes(121),
        "scheduled 2h ahead: {date} vs {started}"
    );
}

#[tokio::test]
async fn two_sites_publish_at_once_each_with_its_own_credentials() {
    let (pretty, plain) = (wp_env::pretty(), wp_env::plain());
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    let config = wp_env::config(
        dir.path(),
        &[
            admin("one", &pretty, "post_status = \"publish\""),
            admin("two", &plain, "post_status = \"publish\""),
        ],
    );
    let ws = wp_env::open(&config);
    let store = ws.store.clone();
    let mut runs = Vec::new();
    let mut ids = Vec::new();
    for site in ["one", "two"] {
        let (run, id) = prepare(
            store.as_ref(),
            site,
            article(&format!("Site {site} {n}"), &format!("site-{site}-{n}")),
            CheckDecision::Publish,
        );
        runs.push(run);
        ids.push(id);
    }
    let summary = wp_env::work(ws, &config, runs, Duration::from_secs(30)).await;
    assert!(summary.all_succeeded(), "{summary:?}");
    for (id, wp) in ids.iter().zip([&pretty, &plain]) {
        let url = store
            .get_article(*id)
            .expect("a")
            .published_url
            .expect("url");
        assert!(url.starts_with(&wp.url), "{url} is on {}", wp.url);
    }
    // Each post exists on its own site only.
    let found = wp_env::admin_client(&plain)
        .posts_by_slug(&format!("site-one-{n}"))
        .await
        .expect("lookup");
    assert!(found.is_empty(), "site one's post is not on site two");
}

/// Builds a ledger row as `begin_publish` would.
fn entry(store: &dyn Store, article: ArticleId, key: &str) -> PublishEntry {
    match store
        .begin_publish(
            &PublishIntent {
                article_id: article,
                target: "wordpress".into(),
                idempotency_key: key.into(),
                min_interval: Duration::ZERO,
            },
            chrono::Utc::now(),
        )
        .expect("begin")
    {
        PublishBegin::Go(e) => e,
        PublishBegin::Wait { .. } => panic!("no rate limit in this test"),
    }
}

#[tokio::test]
async fn a_retry_finds_the_post_even_when_its_slug_was_taken_and_updates_it() {
    let wp = wp_env::pretty();
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    let config = wp_env::config(dir.path(), &[admin("s", &wp, "post_status = \"publish\"")]);
    let cfg: &WordpressConfig = wordpress_config(&config, "s");
    let ws = wp_env::open(&config);
    let store = ws.store.clone();
    let slug = format!("taken-{n}");
    let client = WpClient::new("s", cfg).expect("client");

    // Someone else's published post already has the slug.
    let foreign = client
        .create_post(&blog_poster::wordpress::PostFields {
            title: "Not ours".into(),
            content: "<p>a person wrote this</p>".into(),
            slug: Some(slug.clone()),
            status: Some("publish".into()),
            ..Default::default()
        })
        .await
        .expect("foreign post");

    let (_, id) = prepare(
        store.as_ref(),
        "s",
        article("Ours", &slug),
        CheckDecision::Publish,
    );
    let art = store.get_article(id).expect("article");
    let key = format!("bptest{n}");
    let first = entry(store.as_ref(), id, &key);
    let posted = post_article(
        &client,
        cfg,
        &art,
        &first,
        None,
        dir.path(),
        chrono::Utc::now(),
    )
    .await
    .expect("first attempt");
    assert!(posted.created);
    assert_ne!(posted.post.id, foreign.id, "the foreign post is left alone");
    assert_ne!(posted.post.slug, slug, "WordPress renamed ours");

    // The answer was lost (crash, timeout): the retry must find our post by
    // its key and update it instead of making a second one.
    let second = entry(store.as_ref(), id, &key);
    assert_eq!(second.attempts, 2);
    let again = post_article(
        &client,
        cfg,
        &art,
        &second,
        None,
        dir.path(),
        chrono::Utc::now(),
    )
    .await
    .expect("retry");
    assert!(!again.created, "updated, not created");
    assert_eq!(again.post.id, posted.post.id);
    let ours = client.posts_matching(&key).await.expect("search");
    assert_eq!(ours.len(), 1, "exactly one post carries the key");
    let foreign_now = client.post(foreign.id).await.expect("get").expect("exists");
    assert_eq!(foreign_now.raw_content(), "<p>a person wrote this</p>");
}

#[tokio::test]
async fn term_exists_race_resolves_to_the_same_term() {
    let wp = wp_env::pretty();
    let client = wp_env::admin_client(&wp);
    let name = format!("Rennen «{}»", wp_env::nonce());
    let (a, b, c) = tokio::join!(
        client.ensure_term(Taxonomy::Tag, &name),
        client.ensure_term(Taxonomy::Tag, &name),
        client.ensure_term(Taxonomy::Tag, &name)
    );
    let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
    assert!(a == b && b == c, "{a} {b} {c}");
    let same: Vec<_> = wp_env::wp_get(
        &wp,
        "wp/v2/tags",
        &[("search", &name), ("hide_empty", "false")],
    )
    .await
    .as_array()
    .expect("tags")
    .iter()
    .filter(|t| {
        t["name"]
            .as_str()
            .map(blog_poster::wordpress::decode_entities)
            == Some(name.clone())
    })
    .map(|t| t["id"].clone())
    .collect();
    assert_eq!(same.len(), 1, "one tag of that name is left: {same:?}");
    // Creating a term that exists answers term_exists with its id.
    let again = client
        .create_term(Taxonomy::Tag, &name)
        .await
        .expect("term_exists gives the id");
    assert_eq!(again, a);
}

#[tokio::test]
async fn seo_fields_are_filled_when_the_site_exposes_them() {
    let wp = wp_env::plain();
    let Some(content) = wp.content_dir.clone() else {
        panic!("WP2_CONTENT_DIR is not set: start the site with ../shared/wordpress/wp.sh");
    };
    // What sites do to let the REST API write Yoast's fields: register
    // them as post meta shown in REST (a small must-use plugin).
    let plugin = content.join("mu-plugins").join("bp-test-yoast-meta.php");
    let code = "<?php\n// blog-poster tests: expose Yoast's SEO fields to the REST API, as sites do with a snippet.\n\
        add_action('init', function () {\n  foreach (['_yoast_wpseo_title', '_yoast_wpseo_metadesc', '_yoast_wpseo_focuskw'] as $k) {\n\
        register_post_meta('post', $k, ['show_in_rest' => true, 'single' => true, 'type' => 'string',\n\
        'auth_callback' => function () { return current_user_can('edit_posts'); }]);\n  }\n});\n";
    if std::fs::read_to_string(&plugin).ok().as_deref() != Some(code) {
        std::fs::write(&plugin, code).expect("install the meta plugin");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    let config = wp_env::config(dir.path(), &[admin("seo", &wp, "post_status = \"draft\"")]);
    let ws = wp_env::open(&config);
    let store = ws.store.clone();
    let (run, id) = prepare(
        store.as_ref(),
        "seo",
        article("Yoast fields", &format!("yoast-{n}")),
        CheckDecision::Publish,
    );
    let summary = wp_env::work(ws, &config, vec![run], Duration::from_secs(30)).await;
    assert!(summary.all_succeeded(), "{summary:?}");
    let post_id = store
        .publish_entry(id)
        .expect("ledger")
        .expect("row")
        .remote_id
        .expect("id");
    let post = wp_env::wp_get(
        &wp,
        &format!("wp/v2/posts/{post_id}"),
        &[("context", "edit")],
    )
    .await;
    assert_eq!(
        post["meta"]["_yoast_wpseo_metadesc"],
        "All about Yoast fields."
    );
    assert_eq!(post["meta"]["_yoast_wpseo_focuskw"], "yoast fields");
    assert_eq!(post["meta"]["_yoast_wpseo_title"], "Yoast fields");
}

#[tokio::test]
async fn the_rate_limit_holds_the_second_post_of_a_site() {
    let wp = wp_env::pretty();
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    let sites = [TestSite {
        extra: "post_status = \"draft\"",
        ..admin("slow", &wp, "")
    }];
    let mut config = wp_env::config(dir.path(), &sites);
    if let blog_poster::config::PublisherConfig::Wordpress(w) = &mut config.sites[0].publisher {
        w.min_interval = Duration::from_secs(3600);
    }
    let ws = wp_env::open(&config);
    let store = ws.store.clone();
    let (run1, _) = prepare(
        store.as_ref(),
        "slow",
        article("First", &format!("first-{n}")),
        CheckDecision::Publish,
    );
    let summary = wp_env::work(ws, &config, vec![run1], Duration::from_secs(30)).await;
    assert!(summary.all_succeeded(), "{summary:?}");
    let ws = wp_env::open(&config);
    let (run2, a2) = prepare(
        store.as_ref(),
        "slow",
        article("Second", &format!("second-{n}")),
        CheckDecision::Publish,
    );
    let started = chrono::Utc::now();
    let summary = wp_env::work(ws, &config, vec![run2], Duration::from_secs(2)).await;
    assert_eq!(summary.runs[0].0.status, RunStatus::Running, "parked");
    let job = summary.runs[0]
        .1
        .iter()
        .find(|j| j.stage == blog_poster::domain::lifecycle::Stage::Publish)
        .expect("publish job");
    assert_eq!(job.status, JobStatus::Waiting);
    assert_eq!(job.attempts, 0, "waiting spends no attempt");
    assert!(
        job.wait_reason
            .as_deref()
            .unwrap_or("")
            .contains("takes one post every 1h (min_interval)"),
        "{job:?}"
    );
    assert!(
        job.not_before > started + chrono::Duration::minutes(59),
        "{job:?}"
    );
    assert_eq!(
        store.publish_entry(a2).expect("ledger"),
        None,
        "no intent while waiting"
    );
}

#[tokio::test]
async fn existing_posts_are_listed_page_by_page() {
    let wp = wp_env::pretty();
    let client = wp_env::admin_client(&wp);
    let first = client.list_posts(1, 2).await.expect("page 1");
    assert!(
        first.total >= 1,
        "the site has at least its Hello world post"
    );
    assert!(first.posts.len() <= 2);
    assert!(first.total_pages >= 1);
    for p in &first.posts {
        assert!(
            p.id > 0 && !p.slug.is_empty() && p.link.starts_with(&wp.url),
            "{p:?}"
        );
        assert!(!p.title.contains("&amp;"), "titles are plain text: {p:?}");
    }
    let past = client
        .list_posts(first.total_pages + 1, 2)
        .await
        .expect("past the end");
    assert!(past.posts.is_empty());
}

#[tokio::test]
async fn topic_selection_sees_the_posts_already_on_a_wordpress_site() {
    use blog_poster::topics::{ExistingPosts, PublisherPosts};
    let wp = wp_env::pretty();
    let title = format!("Existing post about kubernetes backups {}", wp_env::nonce());
    let created = reqwest::Client::new()
        .post(format!("{}wp/v2/posts", wp.api_root))
        .basic_auth(&wp.user, Some(&wp.app_password))
        .json(&serde_json::json!({"title": title, "status": "publish", "content": "x"}))
        .send()
        .await
        .expect("create post");
    assert_eq!(created.status().as_u16(), 201);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = wp_env::config(dir.path(), &[admin("live", &wp, "")]);
    let titles = PublisherPosts
        .titles(config.site("live").expect("site"))
        .await
        .expect("titles");
    assert!(titles.contains(&title), "{titles:?}");
}
