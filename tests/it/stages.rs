//! Running one stage for real: a validated config, a fresh SQLite store, a
//! manual clock, and the job claimed and completed the way the engine does
//! (the output committed in one transaction with the job).

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use blog_poster::clock::{Clock, ManualClock};
use blog_poster::config::{self, Config, Environment};
use blog_poster::domain::lifecycle::Stage;
use blog_poster::pipeline::stage::{StageContext, StageError, StageRunner};
use blog_poster::store::open::site_specs;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{ClaimRequest, NewRun, RunTrigger, StageOutput, Store};

use crate::harness::t;

pub struct Stages {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub clock: Arc<ManualClock>,
}

impl Stages {
    /// `config_text` without `data_dir`: the fixture puts it in a temp dir.
    pub fn new(config_text: &str) -> Stages {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("data_dir = \"{}\"\n{config_text}", dir.path().display());
        let env = Environment::from_pairs([("HOME", dir.path().to_str().expect("utf8"))]);
        let config = config::parse(&text, Some(&dir.path().join("config.toml")), &env)
            .unwrap_or_else(|e| panic!("config: {e}\n{text}"));
        let store =
            SqliteStore::open(&dir.path().join("stages.db"), Duration::from_secs(5)).expect("open");
        store.migrate(t(0)).expect("migrate");
        store.sync_sites(&site_specs(&config), t(0)).expect("sync");
        Stages {
            dir,
            store: Arc::new(store),
            config: Arc::new(config),
            clock: Arc::new(ManualClock::new(t(0))),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Commits `output` as the result of `stage` in a new run of `site`
    /// (setting up what earlier stages would have stored).
    pub fn commit(&self, site: &str, output: StageOutput) {
        let stage = output.stage();
        let now = self.clock.now();
        self.store
            .enqueue_run(
                &NewRun {
                    site: site.into(),
                    trigger: RunTrigger::Manual,
                    slot_key: None,
                    first_stage: stage,
                    until: Some(stage),
                    max_attempts: 3,
                },
                now,
            )
            .expect("enqueue");
        let job = self
            .store
            .claim_next_job(
                &ClaimRequest {
                    owner: "setup".into(),
                    lease: Duration::from_secs(600),
                    global_limit: 10,
                    only_runs: None,
                },
                now,
            )
            .expect("claim")
            .expect("a due job");
        self.store
            .complete_job(&job, "setup", &output, now)
            .expect("commit");
    }

    /// Runs `stage` of a new run of `site` through `runner`; on success
    /// commits the output with the job, as the engine does.
    pub async fn run(
        &self,
        site: &str,
        stage: Stage,
        runner: &dyn StageRunner,
    ) -> Result<StageOutput, StageError> {
        let now = self.clock.now();
        self.store
            .enqueue_run(
                &NewRun {
                    site: site.into(),
                    trigger: RunTrigger::Manual,
                    slot_key: None,
                    first_stage: stage,
                    until: Some(stage),
                    max_attempts: 3,
                },
                now,
            )
            .expect("enqueue");
        let job = self
            .store
            .claim_next_job(
                &ClaimRequest {
                    owner: "test".into(),
                    lease: Duration::from_secs(600),
                    global_limit: 10,
                    only_runs: None,
                },
                now,
            )
            .expect("claim")
            .expect("a due job");
        let ctx = StageContext {
            job: job.clone(),
            site: Arc::new(self.config.site(site).expect("site").clone()),
            config: self.config.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
        };
        let output = runner.run(&ctx).await?;
        self.store
            .complete_job(&job, "test", &output, self.clock.now())
            .expect("commit");
        Ok(output)
    }
}
