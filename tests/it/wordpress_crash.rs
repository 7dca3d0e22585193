//! The exactly-once crash test against the real WordPress: `serve`
//! (examples/scripted_serve.rs, real publish stage) is SIGKILLed after
//! WordPress accepted the post and before our database recorded it. After a
//! restart the article is published and WordPress has exactly one post.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use blog_poster::domain::lifecycle::{ArticleStatus, JobStatus, RunStatus, Stage};
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::*;

use crate::crash::scripted_serve;
use crate::harness::{wait_for, wait_for_exit, write_config};
use crate::wp_env;

fn spawn(cfg: &Path, password: &str, prefix: &str, kill_after_publish: bool) -> Child {
    let mut cmd = Command::new(scripted_serve());
    cmd.arg(cfg)
        .env("CRASH_WP_PW", password)
        .env("SCRIPT_DELAY_MS", "20")
        .env("SCRIPT_SLUG_PREFIX", prefix)
        .env_remove("RUST_LOG")
        .env_remove("SCRIPT_KILL_AFTER_PUBLISH")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if kill_after_publish {
        cmd.env("SCRIPT_KILL_AFTER_PUBLISH", "1");
    }
    cmd.spawn().expect("spawn scripted_serve")
}

#[test]
fn wordpress_crash_after_the_post_before_the_commit_leaves_exactly_one_post() {
    let wp = wp_env::pretty();
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = format!("crash-{}", wp_env::nonce());
    let cfg = write_config(
        dir.path(),
        &format!(
            r#"data_dir = "{}"
[log]
level = "warn"
[engine]
workers = 2
per_site_concurrency = 2
lease = "2s"
heartbeat = "400ms"
max_attempts = 5
retry_base = "100ms"
retry_max = "1s"
poll_interval = "50ms"
shutdown_grace = "1s"
[scheduler]
tick = "1s"
[sites.crash]
publisher = "wordpress"
[sites.crash.wordpress]
url = "{}"
username = "{}"
app_password_env = "CRASH_WP_PW"
post_status = "publish"
min_interval = "0s"
"#,
            dir.path().display(),
            wp.url,
            wp.user
        ),
    );
    let store = SqliteStore::open(&dir.path().join("blog-poster.db"), Duration::from_secs(5))
        .expect("open");
    let now = chrono::Utc::now();
    store.migrate(now).expect("migrate");
    store
        .sync_sites(
            &[SiteSpec {
                name: "crash".into(),
                enabled: true,
                max_concurrency: 2,
                sources: vec![],
            }],
            now,
        )
        .expect("sync");
    let run = store
        .enqueue_run(
            &NewRun {
                site: "crash".into(),
                trigger: RunTrigger::Manual,
                slot_key: None,
                first_stage: Stage::Monitor,
                until: None,
                max_attempts: 5,
            },
            now,
        )
        .expect("enqueue")
        .run_id();

    // 1. Publish, then die by SIGKILL before the engine commits.
    let mut child = spawn(&cfg, &wp.app_password, &prefix, true);
    let status = wait_for_exit(
        &mut child,
        Duration::from_secs(60),
        "scripted_serve to exit",
    );
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");

    let article = store.article_for_run(run).expect("read").expect("article");
    assert_eq!(
        article.status,
        ArticleStatus::Approved,
        "the database never heard of the post"
    );
    let intent = store
        .publish_entry(article.id)
        .expect("ledger")
        .expect("intent row");
    assert_eq!(
        (intent.status, intent.attempts, intent.remote_id.as_deref()),
        (LedgerStatus::Intent, 1, None)
    );
    let publish_job = store
        .list_jobs(Some(run), None, 10)
        .expect("jobs")
        .into_iter()
        .find(|j| j.stage == Stage::Publish)
        .expect("publish job");
    assert_eq!(
        publish_job.status,
        JobStatus::Running,
        "its lease died with the process"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = wp_env::admin_client(&wp);
    let key = intent.idempotency_key.clone();
    let before = rt.block_on(client.posts_matching(&key)).expect("search");
    assert_eq!(before.len(), 1, "WordPress accepted the post: {before:?}");
    let post_id = before[0].id;

    // 2. Restart without the hook: the job is reclaimed, WordPress is asked
    // first, the existing post is updated, and the ledger records it.
    let mut child = spawn(&cfg, &wp.app_password, &prefix, false);
    wait_for(Duration::from_secs(60), "the run to finish", || {
        store.get_run(run).expect("run").status != RunStatus::Running
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(
        wait_for_exit(
            &mut child,
            Duration::from_secs(60),
            "scripted_serve to exit"
        )
        .success()
    );

    let r = store.get_run(run).expect("run");
    assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
    let article = store.get_article(article.id).expect("article");
    assert_eq!(article.status, ArticleStatus::Published);
    let done = store
        .publish_entry(article.id)
        .expect("ledger")
        .expect("row");
    assert_eq!(done.status, LedgerStatus::Published);
    assert_eq!(done.attempts, 2);
    assert_eq!(done.remote_id, Some(post_id.to_string()), "the same post");
    assert_eq!(done.idempotency_key, key);

    let after = rt.block_on(client.posts_matching(&key)).expect("search");
    assert_eq!(after.len(), 1, "exactly one post: {after:?}");
    assert_eq!(after[0].id, post_id);
    let by_slug = rt
        .block_on(client.posts_by_slug(&format!("{prefix}-{run}")))
        .expect("by slug");
    assert_eq!(by_slug.len(), 1, "{by_slug:?}");
    assert_eq!(by_slug[0].status, "publish");
}
