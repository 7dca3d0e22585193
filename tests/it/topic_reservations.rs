//! One topic, one run, with the real engine and the real topics stage:
//! twenty runs of one site start at once with twenty candidate topics (its
//! seed keywords). A barrier holds every topics stage after it computed its
//! candidates and before any commits, so all twenty see the same
//! candidates and nothing taken yet; the reservation made in each commit
//! must still give every run a different topic. On SQLite and on
//! PostgreSQL (which fails, never skips, when it is unreachable).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use blog_poster::domain::BoxFuture;
use blog_poster::domain::lifecycle::{RunStatus, Stage};
use blog_poster::pipeline::stage::{StageContext, StageError, StageRunner, StageSet};
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{NewRun, RunId, RunTrigger, StageOutput, Store};

use crate::fake_llm::{config, drive};

const RUNS: usize = 20;

/// Twenty topics without a word in common.
const SEEDS: [&str; RUNS] = [
    "kubernetes autoscaling",
    "postgres vacuuming",
    "sourdough starters",
    "marathon training",
    "solar inverters",
    "beekeeping basics",
    "watercolor landscapes",
    "mechanical keyboards",
    "aquarium filtration",
    "bonsai pruning",
    "espresso grinders",
    "telescope collimation",
    "composting worms",
    "violin rosin",
    "drone photography",
    "chess openings",
    "kayak rolling",
    "pottery glazes",
    "birdwatching optics",
    "origami cranes",
];

/// The real topics stage, held after its work until all twenty are there.
struct Overlapping {
    inner: Arc<dyn StageRunner>,
    barrier: Arc<tokio::sync::Barrier>,
}

impl StageRunner for Overlapping {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(async move {
            let out = self.inner.run(ctx).await;
            match tokio::time::timeout(Duration::from_secs(60), self.barrier.wait()).await {
                Ok(_) => out,
                Err(_) => Err(StageError::Permanent(format!(
                    "the {RUNS} topics stages did not all run at once"
                ))),
            }
        })
    }
}

/// Set-up and checks run on the test's thread (the synchronous PostgreSQL
/// client must not run on a runtime's worker); the engine runs in a runtime.
fn twenty_overlapping_runs(store: Arc<dyn Store>, dir: &std::path::Path) {
    let seeds = SEEDS
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let cfg = config(
        dir,
        &format!(
            "[engine]\nworkers = 24\nper_site_concurrency = 24\npoll_interval = \"20ms\"\n\
             [sites.blog]\npublisher = \"outbox\"\nseed_keywords = [{seeds}]\n"
        ),
    );
    let now = chrono::Utc::now();
    store.migrate(now).expect("migrate");
    store
        .sync_sites(&blog_poster::store::open::site_specs(&cfg), now)
        .expect("sync");
    let runs: Vec<RunId> = (0..RUNS)
        .map(|_| {
            store
                .enqueue_run(
                    &NewRun {
                        site: "blog".into(),
                        trigger: RunTrigger::Manual,
                        slot_key: None,
                        first_stage: Stage::Topics,
                        until: Some(Stage::Topics),
                        max_attempts: 3,
                    },
                    now,
                )
                .expect("enqueue")
                .run_id()
        })
        .collect();
    let mut stages = StageSet::standard();
    stages.topics = Arc::new(Overlapping {
        inner: stages.topics.clone(),
        barrier: Arc::new(tokio::sync::Barrier::new(RUNS)),
    });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(drive(
            store.clone(),
            cfg,
            stages,
            runs.clone(),
            Duration::from_secs(120),
        ));

    let mut topics = Vec::new();
    for run in &runs {
        let r = store.get_run(*run).expect("run");
        assert_eq!(r.status, RunStatus::Succeeded, "{r:?}");
        let topic = store
            .selected_topic(*run)
            .expect("topic")
            .unwrap_or_else(|| panic!("run {run} got no topic: {r:?}"));
        topics.push(topic.keyword);
    }
    let distinct: BTreeSet<&str> = topics.iter().map(String::as_str).collect();
    assert_eq!(
        distinct.len(),
        RUNS,
        "{RUNS} overlapping runs, {RUNS} topics: {topics:?}"
    );
    assert_eq!(distinct, SEEDS.iter().copied().collect::<BTreeSet<_>>());
}

#[test]
fn twenty_overlapping_runs_pick_twenty_topics_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        SqliteStore::open(&dir.path().join("topics.db"), Duration::from_secs(10)).expect("open");
    twenty_overlapping_runs(Arc::new(store), dir.path());
}

#[test]
fn twenty_overlapping_runs_pick_twenty_topics_on_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = crate::pg_env::TestSchema::create("topics");
    let store = Arc::new(schema.open());
    twenty_overlapping_runs(store, dir.path());
    drop(schema);
}
