//! The real WordPress sites the publishing tests talk to, and the pipeline
//! scaffolding around them. The sites come from WP_* / WP2_* when
//! scripts/test.sh started them; otherwise they are started here through
//! ../shared/wordpress/wp.sh (idempotent; serialised by a lock file), so
//! `cargo nextest run wordpress` works on its own.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use blog_poster::clock::SystemClock;
use blog_poster::config::{self, Config, Environment, WordpressConfig};
use blog_poster::domain::lifecycle::Stage;
use blog_poster::pipeline::engine::Observer;
use blog_poster::pipeline::publish::Publisher;
use blog_poster::pipeline::stage::{StageContext, StageError, StageRunner, StageSet};
use blog_poster::pipeline::workspace::open_for_work;
use blog_poster::run_once::{OnceSummary, work_runs};
use blog_poster::store::*;
use blog_poster::wordpress::{ApiRoot, WpClient};

/// One running test site.
#[derive(Debug, Clone)]
pub struct WpSite {
    pub url: String,
    pub api_root: String,
    pub user: String,
    pub app_password: String,
    pub contributor_user: String,
    pub contributor_password: String,
    /// The site's wp-content (for the SEO-fields plugin), when known.
    pub content_dir: Option<PathBuf>,
}

/// The site with pretty permalinks (`/wp-json/`).
pub fn pretty() -> WpSite {
    site("WP_", "bp-pretty", 18181, false)
}

/// The site without pretty permalinks (`?rest_route=` only).
pub fn plain() -> WpSite {
    site("WP2_", "bp-plain", 18191, true)
}

fn from_vars(vars: &HashMap<String, String>, prefix: &str) -> Option<WpSite> {
    let get = |k: &str| {
        vars.get(&format!("{prefix}{k}"))
            .cloned()
            .filter(|v| !v.is_empty())
    };
    Some(WpSite {
        url: get("URL")?,
        api_root: get("API_ROOT")?,
        user: get("USER")?,
        app_password: get("APP_PASSWORD")?,
        contributor_user: get("CONTRIBUTOR_USER")?,
        contributor_password: get("CONTRIBUTOR_APP_PASSWORD")?,
        content_dir: get("CONTENT_DIR").map(PathBuf::from),
    })
}

fn site(prefix: &str, name: &str, port: u16, plain: bool) -> WpSite {
    crate::services::require(crate::services::Service::Wordpress);
    let env: HashMap<String, String> = std::env::vars().collect();
    if let Some(site) = from_vars(&env, prefix) {
        return site;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/wordpress/wp.sh");
    assert!(
        script.exists(),
        "{} is missing and {prefix}URL is not set: run the tests through scripts/test.sh",
        script.display()
    );
    let lock = std::fs::File::create(std::env::temp_dir().join("blog-poster-wp-tests.lock"))
        .expect("lock file");
    lock.lock().expect("lock");
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(&script).args([
        "start",
        "--name",
        name,
        "--port",
        &port.to_string(),
        "--prefix",
        prefix,
    ]);
    if plain {
        cmd.arg("--plain-permalinks");
    }
    let out = cmd.output().expect("run wp.sh");
    assert!(
        out.status.success(),
        "wp.sh start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vars: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect();
    from_vars(&vars, prefix).expect("wp.sh printed the site's variables")
}

/// Something unique to this test process and moment, for slugs and names.
pub fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}{:x}", std::process::id(), nanos)
}

/// One `[sites.NAME]` of a test config.
pub struct TestSite<'a> {
    pub name: &'a str,
    pub wp: &'a WpSite,
    pub user: &'a str,
    pub password: &'a str,
    /// Extra lines for the wordpress table (post_status = …).
    pub extra: &'a str,
}

/// A config with these WordPress sites, data under `dir`, a fast engine.
pub fn config(dir: &Path, sites: &[TestSite<'_>]) -> Config {
    let mut text = format!(
        "data_dir = \"{}\"\n[log]\nlevel = \"warn\"\n[engine]\nworkers = 4\nper_site_concurrency = 2\n\
         poll_interval = \"50ms\"\nretry_base = \"200ms\"\nretry_max = \"1s\"\nmax_attempts = 3\n",
        dir.display()
    );
    let mut env = vec![("HOME".to_string(), dir.display().to_string())];
    for s in sites {
        let var = format!("TEST_WP_PW_{}", s.name.to_uppercase().replace('-', "_"));
        text.push_str(&format!(
            "[sites.{name}]\npublisher = \"wordpress\"\n[sites.{name}.wordpress]\nurl = \"{url}\"\n\
             username = \"{user}\"\napp_password_env = \"{var}\"\n{defaults}{extra}\n",
            name = s.name,
            url = s.wp.url,
            user = s.user,
            extra = s.extra,
            defaults = ["min_interval = \"0s\"\n", "request_timeout = \"20s\"\n"]
                .into_iter()
                .filter(|d| !s.extra.contains(d.split(' ').next().unwrap_or("")))
                .collect::<String>(),
        ));
        env.push((var, s.password.to_string()));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, &text).expect("write config");
    let env = Environment::from_pairs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    config::parse(&text, Some(&path), &env).expect("valid test config")
}

pub fn admin<'a>(name: &'a str, wp: &'a WpSite, extra: &'a str) -> TestSite<'a> {
    TestSite {
        name,
        wp,
        user: &wp.user,
        password: &wp.app_password,
        extra,
    }
}

pub fn wordpress_config<'a>(config: &'a Config, site: &str) -> &'a WordpressConfig {
    match &config.site(site).expect("site").publisher {
        config::PublisherConfig::Wordpress(wp) => wp,
        config::PublisherConfig::Outbox => panic!("site {site} publishes to the outbox"),
    }
}

/// A client with the admin's credentials, for looking at what was posted.
pub fn admin_client(wp: &WpSite) -> WpClient {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path(), &[admin("look", wp, "")]);
    WpClient::new("look", wordpress_config(&c, "look")).expect("client")
}

/// A GET with the admin's credentials on a route under the site's API root.
pub async fn wp_get(wp: &WpSite, route: &str, query: &[(&str, &str)]) -> serde_json::Value {
    let root = ApiRoot::new(reqwest::Url::parse(&wp.api_root).expect("api root"));
    reqwest::Client::new()
        .get(root.route(route, query))
        .basic_auth(&wp.user, Some(&wp.app_password))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json")
}

pub fn article(title: &str, slug: &str) -> NewArticle {
    NewArticle {
        topic: title.to_lowercase(),
        title: title.into(),
        slug: slug.into(),
        meta_description: format!("All about {title}."),
        focus_keyword: title.to_lowercase(),
        excerpt: format!("A short look at {title}."),
        tags: vec![],
        category: None,
        body_markdown: format!(
            "## {title}\n\nSome **text** about it.\n\n<script>alert(1)</script>\n\n[a link](https://example.com)\n"
        ),
    }
}

/// Runs a new run of `site` through check (with `decision`) using only the
/// store, as finished stages would; returns the run and its article.
pub fn prepare(
    store: &dyn Store,
    site: &str,
    article: NewArticle,
    decision: CheckDecision,
) -> (RunId, ArticleId) {
    let now = chrono::Utc::now();
    let run = store
        .enqueue_run(
            &NewRun {
                site: site.into(),
                trigger: RunTrigger::Manual,
                slot_key: None,
                first_stage: Stage::Monitor,
                until: None,
                max_attempts: 3,
            },
            now,
        )
        .expect("enqueue")
        .run_id();
    let req = ClaimRequest {
        owner: "fixture".into(),
        lease: Duration::from_secs(60),
        global_limit: 100,
        only_runs: Some(vec![run]),
    };
    let finish = |output: StageOutput| {
        let job = store
            .claim_next_job(&req, chrono::Utc::now())
            .expect("claim")
            .expect("a due job");
        assert_eq!(job.stage, output.stage());
        store
            .complete_job(&job, "fixture", &output, chrono::Utc::now())
            .expect("complete");
    };
    finish(StageOutput::Monitor(MonitorOutput::default()));
    finish(StageOutput::Topics(TopicsOutput {
        candidates: vec![TopicCandidate {
            keyword: article.topic.clone(),
            score: 1.0,
            kept: true,
            reason: "test".into(),
        }],
        ..Default::default()
    }));
    finish(StageOutput::Generate(GenerateOutput {
        article,
        notes: Default::default(),
    }));
    let id = store
        .article_for_run(run)
        .expect("read")
        .expect("article")
        .id;
    finish(StageOutput::Check(CheckOutput {
        article_id: id,
        score: 90,
        report: serde_json::json!({}),
        decision,
    }));
    (run, id)
}

struct Quiet;
impl Observer for Quiet {}

/// A stage the test does not run: it fails permanently if it ever does.
struct NotInThisTest(Stage);
impl StageRunner for NotInThisTest {
    fn run<'a>(
        &'a self,
        _ctx: &'a StageContext,
    ) -> blog_poster::domain::BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(async move {
            Err(StageError::Permanent(format!(
                "the {} stage is not part of this test",
                self.0
            )))
        })
    }
}

/// The stages for publishing tests: the real publish stage, nothing else.
pub fn publish_stages() -> StageSet {
    let not = |stage| -> Arc<dyn StageRunner> { Arc::new(NotInThisTest(stage)) };
    StageSet {
        monitor: not(Stage::Monitor),
        topics: not(Stage::Topics),
        generate: not(Stage::Generate),
        check: not(Stage::Check),
        publish: Arc::new(Publisher::new()),
    }
}

/// Opens the config's database for work (lock, migrate, sites).
pub fn open(config: &Config) -> blog_poster::pipeline::workspace::Workspace {
    open_for_work(config, chrono::Utc::now()).expect("open for work")
}

/// Works `runs` with the real engine until they finish (or are parked
/// longer than `max_wait`).
pub async fn work(
    ws: blog_poster::pipeline::workspace::Workspace,
    config: &Config,
    runs: Vec<RunId>,
    max_wait: Duration,
) -> OnceSummary {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    work_runs(
        ws,
        Arc::new(config.clone()),
        publish_stages(),
        Arc::new(SystemClock),
        runs,
        Arc::new(Quiet),
        rx,
        max_wait,
    )
    .await
    .expect("work runs")
}

/// A 2×2 PNG.
pub const PNG: [u8; 74] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x44, 0x0c, 0x60, 0xf2, 0x3f, 0x00, 0x1b, 0xf2, 0x03, 0xfd, 0xf3, 0xe7, 0x4b, 0xb1, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
