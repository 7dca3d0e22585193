//! Waiting means what it says, with the real `serve` and a fake Anthropic
//! API on loopback that answers 429 with `retry-after: 600` in Anthropic's
//! genuine error format. The generate job waits for the provider ten
//! minutes ahead; a restart, a cap change through the API and a restart
//! with other caps in the config must not wake it (only cap waits wake on
//! a cap change), and the provider's cooldown is stored: after a restart a
//! new job for that provider waits without calling it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use blog_poster::domain::lifecycle::{JobStatus, RunStatus, Stage, WaitKind};
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{JobRecord, RunId, Store};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::fake_llm::{KEY, anthropic_error};
use crate::harness::{command, ready_file, wait_for, wait_for_exit, wait_ready, write_config};
use crate::web_client::{create_token, request};

fn config_text(dir: &Path, llm: &str, global_daily: &str) -> String {
    format!(
        "data_dir = \"{}\"\n[log]\nformat = \"plain\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [engine]\npoll_interval = \"50ms\"\n\
         [llm]\nmax_retries = 3\nretry_base = \"10ms\"\nretry_max = \"5s\"\n\
         [llm.providers.anthropic]\nkind = \"anthropic\"\nbase_url = \"{llm}\"\napi_key_env = \"TEST_KEY\"\n\
         max_tokens = 1000\ntimeout = \"5s\"\n\
         [budget]\nglobal_daily = \"{global_daily}\"\n\
         [sites.blog]\npublisher = \"outbox\"\nseed_keywords = [\"rust sqlite\"]\n\
         [sites.other]\npublisher = \"outbox\"\nseed_keywords = [\"wordpress backups\"]\n",
        dir.display()
    )
}

fn serve(dir: &Path, config: &Path) -> (Child, SocketAddr) {
    let mut cmd = command(dir);
    cmd.env("TEST_KEY", KEY)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("serve.log"))
                .expect("log"),
        );
    let ready = ready_file(&mut cmd, dir);
    let mut child = cmd.spawn().expect("spawn serve");
    let addr = wait_ready(&mut child, &ready, Duration::from_secs(60));
    (child, addr)
}

fn stop(child: &mut Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = wait_for_exit(child, Duration::from_secs(60), "serve to stop on SIGTERM");
    assert!(status.success(), "serve exits 0 on SIGTERM: {status}");
}

fn start_run(addr: SocketAddr, token: &str, site: &str, body: Option<&str>) -> RunId {
    let r = request(
        addr,
        "POST",
        &format!("/api/v1/sites/{site}/run"),
        Some(token),
        body,
    )
    .expect("run");
    assert_eq!(r.status, 202, "{}", r.body);
    RunId(r.json()["run_id"].as_i64().expect("run id"))
}

fn generate_job(store: &SqliteStore, run: RunId) -> Option<JobRecord> {
    store
        .list_jobs(Some(run), None, 10)
        .expect("jobs")
        .into_iter()
        .find(|j| j.stage == Stage::Generate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_ten_minutes_ahead_survives_a_restart_and_a_cap_change() {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(
            anthropic_error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit \
                 (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage.",
            )
            .insert_header("retry-after", "600")
            .insert_header("anthropic-ratelimit-input-tokens-remaining", "0"),
        )
        .mount(&llm)
        .await;
    let llm_calls = || async { llm.received_requests().await.unwrap_or_default().len() };
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &config_text(dir.path(), &llm.uri(), "$5.00"));
    let admin = create_token(dir.path(), &cfg, "admin", "ops");
    let store = SqliteStore::open(&dir.path().join("blog-poster.db"), Duration::from_secs(5))
        .expect("open");

    // First life: the run reaches generate, the provider says "in 600 s".
    let (mut child, addr) = serve(dir.path(), &cfg);
    let blog = start_run(addr, &admin, "blog", None);
    let waiting = crate::harness::wait_for_value(
        Duration::from_secs(60),
        "the generate job to wait for the provider",
        || generate_job(&store, blog).filter(|j| j.status == JobStatus::Waiting),
    );
    assert_eq!(waiting.wait_kind, Some(WaitKind::Provider), "{waiting:?}");
    assert_eq!(waiting.wait_until, Some(waiting.not_before));
    let ahead = waiting.not_before - chrono::Utc::now();
    assert!(
        ahead > chrono::Duration::seconds(590) && ahead <= chrono::Duration::seconds(600),
        "waits the 600 s the provider asked for: {ahead}"
    );
    assert!(
        waiting
            .wait_reason
            .as_deref()
            .unwrap_or_default()
            .contains("asks to wait 600s"),
        "{waiting:?}"
    );
    assert_eq!(llm_calls().await, 1, "one call, then the job waits");
    let unchanged = |what: &str| {
        let job = generate_job(&store, blog).expect("job");
        assert_eq!(
            (
                job.status,
                job.not_before,
                job.wait_kind,
                job.wait_until,
                job.attempts,
                job.wait_reason.as_deref()
            ),
            (
                JobStatus::Waiting,
                waiting.not_before,
                Some(WaitKind::Provider),
                waiting.wait_until,
                waiting.attempts,
                waiting.wait_reason.as_deref()
            ),
            "after {what} the job still waits for the provider's deadline"
        );
    };

    // A restart. Then a new run of another site goes through the engine:
    // its jobs are due later than the blog job would be if the restart had
    // woken it, so once the new run reached generate, a woken blog job
    // would have been claimed (and the provider called) first.
    stop(&mut child);
    let (mut child, addr) = serve(dir.path(), &cfg);
    let other = start_run(addr, &admin, "other", None);
    let other_job = crate::harness::wait_for_value(
        Duration::from_secs(60),
        "the other site's generate job to wait",
        || generate_job(&store, other).filter(|j| j.status == JobStatus::Waiting),
    );
    unchanged("a restart");
    assert_eq!(
        llm_calls().await,
        1,
        "the stored cooldown holds after the restart: no call to the provider"
    );
    assert_eq!(other_job.wait_kind, Some(WaitKind::Provider));
    assert!(
        other_job
            .wait_reason
            .as_deref()
            .unwrap_or_default()
            .contains("not called until"),
        "{other_job:?}"
    );
    assert!(
        (other_job.not_before - waiting.not_before)
            .num_seconds()
            .abs()
            <= 2,
        "it waits until the provider's deadline: {other_job:?}"
    );

    // A cap change through the API wakes cap waits only.
    let r = request(
        addr,
        "PUT",
        "/api/v1/caps",
        Some(&admin),
        Some(r#"{"scope":"global_daily","cap":"9.00"}"#),
    )
    .expect("caps");
    assert_eq!(r.status, 200, "{}", r.body);
    let probe = start_run(addr, &admin, "other", Some(r#"{"stage":"monitor"}"#));
    wait_for(Duration::from_secs(60), "the probe run to finish", || {
        store.get_run(probe).expect("run").status == RunStatus::Succeeded
    });
    unchanged("a cap change through the API");

    // A restart with another cap in the config.
    stop(&mut child);
    std::fs::write(&cfg, config_text(dir.path(), &llm.uri(), "$7.00")).expect("config");
    let (mut child, addr) = serve(dir.path(), &cfg);
    let probe = start_run(addr, &admin, "other", Some(r#"{"stage":"monitor"}"#));
    wait_for(Duration::from_secs(60), "the probe run to finish", || {
        store.get_run(probe).expect("run").status == RunStatus::Succeeded
    });
    unchanged("a restart with a changed cap");
    assert_eq!(llm_calls().await, 1, "no fresh burst for the provider");
    stop(&mut child);
}
