//! The review queue from the command line: `article list|show|approve|
//! reject|publish`. Approving publishes (in the foreground, or by the
//! running daemon); rejecting keeps the reason; every action is recorded
//! with its actor. With the outbox, and once with the real WordPress.

use std::path::Path;
use std::time::Duration;

use blog_poster::domain::lifecycle::ArticleStatus;
use blog_poster::instance::InstanceLock;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::*;

use crate::harness::{command, run, write_config};
use crate::wp_env::{self, admin, article, prepare};

fn store(dir: &Path, site: &str) -> SqliteStore {
    let s = SqliteStore::open(&dir.join("blog-poster.db"), Duration::from_secs(5)).expect("open");
    let now = chrono::Utc::now();
    s.migrate(now).expect("migrate");
    s.sync_sites(
        &[SiteSpec {
            name: site.into(),
            enabled: true,
            max_concurrency: 2,
            sources: vec![],
        }],
        now,
    )
    .expect("sync");
    s
}

fn held() -> CheckDecision {
    CheckDecision::Review {
        reason: "score 55 below the gate of 70".into(),
    }
}

fn bp(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let cfg = dir.join("config.toml");
    let mut full = vec!["--config", cfg.to_str().expect("utf8")];
    full.extend_from_slice(args);
    run(command(dir).env("USER", "ann").args(&full))
}

#[test]
fn review_queue_reject_then_approve_publishes_to_the_outbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[log]\nlevel = \"warn\"\n[engine]\npoll_interval = \"50ms\"\n[sites.blog]\npublisher = \"outbox\"\n",
            dir.path().display()
        ),
    );
    let s = store(dir.path(), "blog");
    let mut a = article("Held \u{1b}[31mback", "held-back");
    a.category = Some("News".into());
    let (_, id) = prepare(&s, "blog", a, held());
    let id_s = id.0.to_string();

    let (code, out, err) = bp(dir.path(), &["article", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{id_s}  blog")), "{out}");
    assert!(out.contains("review"), "{out}");
    assert!(
        out.contains("Held  [31mback"),
        "control characters neutralised: {out:?}"
    );

    let (code, out, _) = bp(dir.path(), &["article", "show", &id_s]);
    assert_eq!(code, 0);
    assert!(
        out.contains("held because  score 55 below the gate of 70"),
        "{out}"
    );
    assert!(out.contains("check score   90"), "{out}");

    let (code, _, err) = bp(dir.path(), &["article", "reject", &id_s, "--reason", "  "]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a rejection needs a reason"), "{err}");

    let (code, out, err) = bp(
        dir.path(),
        &["article", "reject", &id_s, "--reason", "Too thin"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rejected by cli:ann: Too thin"), "{out}");
    let (_, out, _) = bp(dir.path(), &["article", "list", "--status", "rejected"]);
    assert!(
        out.contains(&format!("{id_s}  blog       rejected")),
        "{out}"
    );
    let (_, out, _) = bp(dir.path(), &["article", "show", &id_s]);
    assert!(out.contains("rejected      Too thin"), "{out}");

    let (code, out, err) = bp(dir.path(), &["article", "approve", &id_s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("approved by cli:ann; a publish job is queued"),
        "{out}"
    );
    assert!(
        out.contains("publish ✓"),
        "published in the foreground: {out}"
    );
    let published = s.get_article(id).expect("article");
    assert_eq!(published.status, ArticleStatus::Published);
    let html = published.published_url.expect("location");
    assert!(Path::new(&html).exists(), "{html}");
    let entry = s.publish_entry(id).expect("ledger").expect("row");
    assert_eq!(
        (entry.status, entry.target.as_str()),
        (LedgerStatus::Published, "outbox")
    );

    let (code, _, err) = bp(dir.path(), &["article", "approve", &id_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already published"), "{err}");
    let (code, _, err) = bp(dir.path(), &["article", "publish", &id_s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already published"), "{err}");
    let (code, _, err) = bp(dir.path(), &["article", "show", "999"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("article 999 not found"), "{err}");

    let actions: Vec<String> = s
        .list_events(200, None)
        .expect("events")
        .into_iter()
        .filter(|e| e.kind.starts_with("article."))
        .map(|e| format!("{} by {}", e.kind, e.actor))
        .collect();
    assert_eq!(
        actions,
        ["article.approved by cli:ann", "article.rejected by cli:ann"],
        "newest first"
    );
}

#[test]
fn approving_while_a_daemon_runs_leaves_the_publishing_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[sites.blog]\npublisher = \"outbox\"\n",
            dir.path().display()
        ),
    );
    let s = store(dir.path(), "blog");
    let (run_id, id) = prepare(&s, "blog", article("Queued", "queued"), held());
    let _daemon = InstanceLock::acquire(&dir.path().join("blog-poster.db")).expect("lock");
    let (code, out, err) = bp(dir.path(), &["article", "approve", &id.0.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "the running blog-poster (pid {}) publishes it",
            std::process::id()
        )),
        "{out}"
    );
    let jobs = s.list_jobs(Some(run_id), None, 10).expect("jobs");
    assert_eq!(
        jobs[0].stage,
        blog_poster::domain::lifecycle::Stage::Publish
    );
    assert_eq!(
        jobs[0].status,
        blog_poster::domain::lifecycle::JobStatus::Queued
    );
    assert_eq!(
        s.get_article(id).expect("a").status,
        ArticleStatus::Approved
    );
}

#[test]
fn approving_publishes_to_wordpress() {
    let wp = wp_env::pretty();
    let dir = tempfile::tempdir().expect("tempdir");
    let n = wp_env::nonce();
    wp_env::config(dir.path(), &[admin("blog", &wp, "post_status = \"draft\"")]);
    let s = store(dir.path(), "blog");
    let (_, id) = prepare(
        &s,
        "blog",
        article("Approved by a person", &format!("approved-{n}")),
        held(),
    );
    let cfg = dir.path().join("config.toml");
    let bp_wp = |args: &[&str]| {
        let mut full = vec!["--config", cfg.to_str().expect("utf8")];
        full.extend_from_slice(args);
        run(command(dir.path())
            .env("TEST_WP_PW_BLOG", &wp.app_password)
            .args(&full))
    };
    let id_s = id.0.to_string();
    std::fs::write(dir.path().join("notes.txt"), "not an image").expect("write");
    let (code, _, err) = bp_wp(&["article", "image", &id_s, "notes.txt"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not a PNG, JPEG, GIF or WebP image"),
        "{err}"
    );
    std::fs::write(dir.path().join("cover.png"), wp_env::PNG).expect("write");
    let (code, out, err) = bp_wp(&["article", "image", &id_s, "cover.png", "--alt", "The cover"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("featured image set"), "{out}");
    let (code, out, err) = bp_wp(&["article", "approve", &id_s]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("published to {}/?p=", wp.url)),
        "{out}"
    );
    let entry = s.publish_entry(id).expect("ledger").expect("row");
    assert_eq!(entry.status, LedgerStatus::Published);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let post = rt.block_on(wp_env::wp_get(
        &wp,
        &format!("wp/v2/posts/{}", entry.remote_id.expect("id")),
        &[("context", "edit")],
    ));
    assert_eq!(post["status"], "draft");
    assert_eq!(post["title"]["raw"], "Approved by a person");
    let media = rt.block_on(wp_env::wp_get(
        &wp,
        &format!("wp/v2/media/{}", post["featured_media"]),
        &[],
    ));
    assert_eq!(media["alt_text"], "The cover");
}
