//! Caps are never overshot. Fifty generation jobs run at once against a cap
//! that fits ten: ten are written, forty wait with the reason, none is lost,
//! and raising the cap lets the rest through. Then property tests: random
//! interleavings of reservations, settlements, crashes (calls that never
//! report back) and restarts, against a model of what each cap allows.

use std::sync::Arc;
use std::time::Duration;

use blog_poster::budget::BudgetCaps;
use blog_poster::content::prompts::select_sources;
use blog_poster::domain::lifecycle::{JobStatus, Stage, Timestamp};
use blog_poster::domain::money::Money;
use blog_poster::llm::{ChatRequest, Message};
use blog_poster::pipeline::generate::generate_prompts;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::*;
use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::fake_llm::*;

const ENGINE: &str = "[engine]\nworkers = 50\nper_site_concurrency = 50\nretry_base = \"100ms\"\nretry_max = \"1s\"\npoll_interval = \"20ms\"\n";

fn article() -> String {
    let para = "Rust SQLite setups are simple and fast. You open one file and you write rows. \
                The database keeps your data safe on disk.";
    format!(
        "---\ntitle: Rust SQLite in WAL mode\nmeta_description: WAL mode for Rust SQLite.\nfocus_keyword: rust sqlite\n---\n\
         Rust SQLite intro.\n\n## One\n\n{para} {para}\n\n## Two\n\n{para} {para}\n\n## Three\n\n{para}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_generations_never_cross_a_cap_that_fits_ten() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The fake bills what it was sent (bytes as tokens, just under our
    // bound) and the full max_tokens: each call costs nearly its worst case.
    let text = article();
    let rec = Recorder::new(move |_, body: &Value| {
        let sent = prompt_text(body).len() as u64;
        anthropic_ok(&text, sent, 1000).set_delay(Duration::from_millis(50))
    });
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(rec.clone())
        .mount(&server)
        .await;
    let llm = anthropic_llm(&server.uri());
    let site = "[sites.blog]\n[sites.blog.budget]\nper_article = \"unlimited\"\n";
    let base = config(
        dir.path(),
        &format!(
            "{ENGINE}{llm}[budget]\nglobal_daily = \"unlimited\"\nglobal_monthly = \"unlimited\"\n{site}"
        ),
    );
    let store = store(dir.path(), &base);
    // Fifty runs, fifty topics (a topic is reserved for one run), all of one
    // length: every job sends a prompt of the same size.
    let runs: Vec<RunId> = (0..50)
        .map(|i| {
            seed_run(
                store.as_ref(),
                "blog",
                Some(Stage::Generate),
                &format!("rust sqlite {i:02}"),
            )
        })
        .collect();

    // Every job's worst case, as the service computes it.
    let site_cfg = base.site("blog").expect("site");
    let items = select_sources(
        store.list_source_items("blog", None, 200).expect("items"),
        "rust sqlite 00",
        12,
    );
    let (system, user) = generate_prompts(site_cfg, "rust sqlite 00", &items);
    let bound = ChatRequest {
        system,
        messages: vec![Message::user(user)],
        max_tokens: 1000,
    }
    .input_token_bound();
    let worst = base.llm.providers[0].price.cost(bound, 1000);
    let cap = Money(worst.micros() * 10 + worst.micros() / 2);
    let cfg = config(
        dir.path(),
        &format!(
            "{ENGINE}{llm}[budget]\nglobal_daily = \"unlimited\"\nglobal_monthly = \"unlimited\"\nsite_daily = \"{cap}\"\n{site}"
        ),
    );

    drive(
        store.clone(),
        cfg.clone(),
        stages(),
        runs.clone(),
        Duration::from_secs(60),
    )
    .await;

    let jobs: Vec<JobRecord> = runs
        .iter()
        .flat_map(|r| store.list_jobs(Some(*r), None, 10).expect("jobs"))
        .filter(|j| j.stage == Stage::Generate)
        .collect();
    assert_eq!(jobs.len(), 50, "every generation job still exists");
    let done = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Succeeded)
        .count();
    let waiting: Vec<&JobRecord> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Waiting)
        .collect();
    assert_eq!((done, waiting.len()), (10, 40), "{jobs:#?}");
    for j in &waiting {
        let reason = j.wait_reason.as_deref().unwrap_or("");
        assert!(
            reason.contains("the daily cap of site \"blog\""),
            "{reason}"
        );
        assert!(reason.contains("waiting for the reset at"), "{reason}");
        assert_eq!(j.attempts, 0, "waiting is not a failed attempt");
        assert!(
            j.not_before > chrono::Utc::now(),
            "due at the next UTC midnight"
        );
    }
    let now = chrono::Utc::now();
    let report = store.spend_report(now).expect("report");
    assert!(
        report.global_today.total() <= cap,
        "{} spent of a {cap} cap",
        report.global_today.total()
    );
    assert_eq!(report.global_today.unsettled, Money::ZERO);
    let recorded: i64 = store
        .list_llm_calls(None, 1000)
        .expect("calls")
        .iter()
        .map(|c| c.cost.micros())
        .sum();
    assert!(recorded <= cap.micros());
    assert_eq!(rec.count(), 10, "refused calls were never sent");

    // Raising the cap (config edit + restart, which wakes waiting jobs) lets
    // the rest through: nothing was lost.
    let raised = config(
        dir.path(),
        &format!(
            "{ENGINE}{llm}[budget]\nglobal_daily = \"unlimited\"\nglobal_monthly = \"unlimited\"\nsite_daily = \"$100\"\n{site}"
        ),
    );
    assert_eq!(
        blog_poster::pipeline::cap_waits::wake_cap_waits_if_caps_changed(
            store.as_ref(),
            &raised,
            chrono::Utc::now()
        )
        .expect("wake"),
        40
    );
    drive(
        store.clone(),
        raised,
        stages(),
        runs.clone(),
        Duration::from_secs(60),
    )
    .await;
    let done = runs
        .iter()
        .filter(|r| store.article_for_run(**r).expect("read").is_some())
        .count();
    assert_eq!(done, 50);
}

// ---- property tests: a model of the caps ----------------------------------

#[derive(Debug, Clone)]
enum Op {
    Reserve {
        site: usize,
        article: usize,
        amount: i64,
    },
    /// Settle the n-th open reservation at `pct` percent of its reserve.
    Settle {
        n: usize,
        pct: i64,
    },
    /// The n-th open reservation's call never reports back.
    Crash {
        n: usize,
    },
    NextDay,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..2usize, 0..4usize, 1..400i64).prop_map(|(site, article, amount)| Op::Reserve { site, article, amount }),
        3 => (any::<usize>(), 0..=100i64).prop_map(|(n, pct)| Op::Settle { n, pct }),
        1 => any::<usize>().prop_map(|n| Op::Crash { n }),
        1 => Just(Op::NextDay),
        1 => Just(Op::Restart),
    ]
}

#[derive(Debug, Clone)]
struct Res {
    id: ReservationId,
    site: usize,
    article: usize,
    day: i64,
    reserved: i64,
    actual: Option<i64>,
    crashed: bool,
}

impl Res {
    fn counted(&self) -> i64 {
        self.actual.unwrap_or(self.reserved)
    }
}

const SITES: [&str; 2] = ["a", "b"];

fn start() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid")
}

fn open(path: &std::path::Path) -> SqliteStore {
    SqliteStore::open(path, Duration::from_secs(10)).expect("open")
}

fn check_model(
    store: &dyn Store,
    model: &[Res],
    day: i64,
    caps: &BudgetCaps,
    now: Timestamp,
) -> Result<(), TestCaseError> {
    let report = store.spend_report(now).expect("report");
    let today: i64 = model
        .iter()
        .filter(|r| r.day == day)
        .map(Res::counted)
        .sum();
    let month: i64 = model.iter().map(Res::counted).sum();
    prop_assert_eq!(report.global_today.total().micros(), today);
    prop_assert_eq!(report.global_month.total().micros(), month);
    let unsettled: i64 = model
        .iter()
        .filter(|r| r.actual.is_none())
        .map(|r| r.reserved)
        .sum();
    prop_assert_eq!(
        report.global_month.unsettled.micros(),
        unsettled,
        "crashed calls count at their reserve"
    );
    prop_assert!(today <= caps.global_daily.map_or(i64::MAX, Money::micros));
    prop_assert!(month <= caps.global_monthly.map_or(i64::MAX, Money::micros));
    for (i, name) in SITES.iter().enumerate() {
        let site_today: i64 = model
            .iter()
            .filter(|r| r.site == i && r.day == day)
            .map(Res::counted)
            .sum();
        let line = report
            .sites
            .iter()
            .find(|s| s.site == *name)
            .map_or(0, |s| s.today.total().micros());
        prop_assert_eq!(line, site_today);
        prop_assert!(site_today <= caps.site_daily.map_or(i64::MAX, Money::micros));
    }
    for article in 0..4 {
        let spent: i64 = model
            .iter()
            .filter(|r| r.article == article)
            .map(Res::counted)
            .sum();
        prop_assert!(spent <= caps.per_article.map_or(i64::MAX, Money::micros));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reservations_follow_the_model_through_interleavings_crashes_and_restarts(
        ops in proptest::collection::vec(op(), 1..60),
        global_daily in 300..1500i64,
        site_daily in 200..900i64,
        per_article in 150..700i64,
        global_monthly in 800..3000i64,
    ) {
        let caps = BudgetCaps {
            global_daily: Some(Money(global_daily)),
            global_monthly: Some(Money(global_monthly)),
            site_daily: Some(Money(site_daily)),
            site_monthly: None,
            per_article: Some(Money(per_article)),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.db");
        let mut store = open(&path);
        store.migrate(start()).expect("migrate");
        let specs: Vec<SiteSpec> = SITES.iter().map(|n| SiteSpec { name: n.to_string(), enabled: true, max_concurrency: 1, sources: vec![] }).collect();
        store.sync_sites(&specs, start()).expect("sync");
        let mut model: Vec<Res> = Vec::new();
        let mut day = 0i64;
        for op in ops {
            let now = start() + chrono::Duration::days(day);
            match op {
                Op::Reserve { site, article, amount } => {
                    let sum = |f: &dyn Fn(&Res) -> bool| model.iter().filter(|r| f(r)).map(Res::counted).sum::<i64>();
                    let fits = sum(&|r| r.day == day) + amount <= global_daily
                        && sum(&|_| true) + amount <= global_monthly
                        && sum(&|r| r.day == day && r.site == site) + amount <= site_daily
                        && sum(&|r| r.article == article) + amount <= per_article;
                    let req = BudgetRequest {
                        site: SITES[site].into(),
                        job: None,
                        run: None,
                        article_key: format!("run:{article}"),
                        provider: "p".into(),
                        model: "m".into(),
                        purpose: "generate".into(),
                        amount: Money(amount),
                        caps,
                    };
                    match store.reserve_budget(&req, now).expect("reserve") {
                        Reservation::Granted(id) => {
                            prop_assert!(fits, "granted a reservation the model refuses");
                            model.push(Res { id, site, article, day, reserved: amount, actual: None, crashed: false });
                        }
                        Reservation::Refused(r) => {
                            prop_assert!(!fits, "refused a reservation that fits: {}", r);
                        }
                    }
                }
                Op::Settle { n, pct } => {
                    let open: Vec<usize> = (0..model.len()).filter(|i| model[*i].actual.is_none() && !model[*i].crashed).collect();
                    if let Some(&i) = open.get(n % open.len().max(1)) {
                        let actual = model[i].reserved * pct / 100;
                        store.record_llm_call(&NewLlmCall {
                            reservation: Some(model[i].id),
                            site: SITES[model[i].site].into(),
                            job: None,
                            run: None,
                            provider: "p".into(),
                            model: "m".into(),
                            purpose: "generate".into(),
                            input_tokens: 1,
                            output_tokens: 1,
                            cost: Money(actual),
                            latency_ms: 1,
                            outcome: CallOutcome::Ok,
                            error: None,
                        }, now).expect("record");
                        model[i].actual = Some(actual);
                    }
                }
                Op::Crash { n } => {
                    let open: Vec<usize> = (0..model.len()).filter(|i| model[*i].actual.is_none() && !model[*i].crashed).collect();
                    if let Some(&i) = open.get(n % open.len().max(1)) {
                        model[i].crashed = true;
                    }
                }
                Op::NextDay => day = (day + 1).min(25),
                Op::Restart => {
                    drop(store);
                    store = open(&path);
                }
            }
            let now = start() + chrono::Duration::days(day);
            check_model(&store, &model, day, &caps, now)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Real threads racing: whatever the interleaving, the total never
    /// passes a cap (settling at the full reserve or crashing never lowers
    /// the total, so the end state bounds every moment before it).
    #[test]
    fn racing_workers_never_overshoot(
        plans in proptest::collection::vec(proptest::collection::vec((1..300i64, any::<bool>()), 1..25), 2..8),
        cap in 500..3000i64,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(open(&dir.path().join("race.db")));
        store.migrate(start()).expect("migrate");
        store.sync_sites(&[SiteSpec { name: "a".into(), enabled: true, max_concurrency: 1, sources: vec![] }], start()).expect("sync");
        let caps = BudgetCaps { site_daily: Some(Money(cap)), ..Default::default() };
        let handles: Vec<_> = plans.into_iter().enumerate().map(|(w, plan)| {
            let s = store.clone();
            std::thread::spawn(move || {
                let mut granted = 0i64;
                for (i, (amount, crash)) in plan.into_iter().enumerate() {
                    let req = BudgetRequest {
                        site: "a".into(), job: None, run: None, article_key: format!("w{w}-{i}"),
                        provider: "p".into(), model: "m".into(), purpose: "generate".into(),
                        amount: Money(amount), caps,
                    };
                    if let Reservation::Granted(id) = s.reserve_budget(&req, start()).expect("reserve") {
                        granted += amount;
                        if !crash {
                            s.record_llm_call(&NewLlmCall {
                                reservation: Some(id), site: "a".into(), job: None, run: None,
                                provider: "p".into(), model: "m".into(), purpose: "generate".into(),
                                input_tokens: 0, output_tokens: 0, cost: Money(amount), latency_ms: 0,
                                outcome: CallOutcome::Ok, error: None,
                            }, start()).expect("record");
                        }
                    }
                }
                granted
            })
        }).collect();
        let granted: i64 = handles.into_iter().map(|h| h.join().expect("worker")).sum();
        let report = store.spend_report(start()).expect("report");
        prop_assert_eq!(report.global_today.total().micros(), granted);
        prop_assert!(granted <= cap, "granted {} of a {} cap", granted, cap);
    }
}
