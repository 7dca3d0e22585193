//! The poison-pill guard with the real binary: a job whose stage kills the
//! process (SIGKILL, through the `BLOG_POSTER_TEST_INJECT_KILL` test hook —
//! a crash no panic fence can catch) is claimed again at each restart, as
//! systemd would restart `serve`; after `engine.poison_after` = 3 deaths in
//! a row it is quarantined as dead with that reason, an alert goes out, and
//! the daemon runs on and finishes other work.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use blog_poster::domain::lifecycle::{JobStatus, RunStatus, Stage};
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{NewRun, RunId, RunTrigger, Store};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{command, write_config};

fn run(site: &str) -> NewRun {
    NewRun {
        site: site.into(),
        trigger: RunTrigger::Manual,
        slot_key: None,
        first_stage: Stage::Monitor,
        until: Some(Stage::Monitor),
        max_attempts: 10,
    }
}

fn status(store: &SqliteStore, run: RunId) -> RunStatus {
    store.get_run(run).expect("run").status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_pill_a_stage_that_kills_the_process_three_times_is_quarantined() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n\
             [engine]\npoll_interval = \"50ms\"\nmax_attempts = 10\npoison_after = 3\n\
             [alerts]\nwebhook_url = \"{}/hook\"\n\
             [sites.poison]\npublisher = \"outbox\"\n\
             [sites.healthy]\npublisher = \"outbox\"\n",
            dir.path().display(),
            hook.uri()
        ),
    );
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
    let poison = store
        .enqueue_run(&run("poison"), now)
        .expect("enqueue")
        .run_id();

    let log = dir.path().join("serve.log");
    let spawn = || -> Child {
        command(dir.path())
            .env("BLOG_POSTER_TEST_INJECT_KILL", "stage:poison/monitor")
            .args(["--config", cfg.to_str().expect("utf8"), "serve"])
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .expect("log"),
            )
            .spawn()
            .expect("spawn serve")
    };
    let wait_exit = |child: &mut Child| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not die on the poisoned job: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    };

    // Three lives, each killed by the job (systemd restarts it each time).
    for life in 1..=3 {
        let mut child = spawn();
        let exit = wait_exit(&mut child);
        assert_eq!(
            exit.signal(),
            Some(9),
            "life {life} ends in SIGKILL: {exit:?}"
        );
        let job = store
            .list_jobs(Some(poison), None, 10)
            .expect("jobs")
            .remove(0);
        assert_eq!(
            (job.status, job.attempts),
            (JobStatus::Running, life),
            "the process died holding the job"
        );
    }

    // The fourth start quarantines it and works on.
    let healthy = store
        .enqueue_run(&run("healthy"), now)
        .expect("enqueue")
        .run_id();
    let mut child = spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let alerts: Vec<Value> = loop {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "serve died again: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let alerts: Vec<Value> = hook
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect();
        if status(&store, healthy) != RunStatus::Running
            && status(&store, poison) != RunStatus::Running
            && !alerts.is_empty()
        {
            break alerts;
        }
        assert!(Instant::now() < deadline, "timed out; alerts {alerts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status(&store, healthy), RunStatus::Succeeded);
    assert_eq!(status(&store, poison), RunStatus::Failed);
    let job = store
        .list_jobs(Some(poison), None, 10)
        .expect("jobs")
        .remove(0);
    assert_eq!(job.status, JobStatus::Dead);
    assert_eq!(job.attempts, 3, "quarantined with attempts left (3 of 10)");
    let error = job.last_error.unwrap_or_default();
    assert!(
        error.starts_with("poison pill: the process died 3 times in a row"),
        "{error}"
    );
    let alert = alerts
        .iter()
        .find(|a| a["kind"] == "job_dead" && a["site"] == "poison")
        .unwrap_or_else(|| panic!("a job_dead alert for the poison pill: {alerts:?}"));
    assert!(
        alert["message"]
            .as_str()
            .unwrap_or_default()
            .contains("poison pill"),
        "{alert}"
    );
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "serve runs on"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = wait_exit(&mut child);
    assert!(exit.success(), "serve exits 0 on SIGTERM: {exit:?}");
}
