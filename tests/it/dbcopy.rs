//! `db copy` from SQLite into PostgreSQL (a schema of the test database per
//! test, see pg_env): the type mapping round-trips exactly (booleans,
//! integers with i64 extremes, floats bit for bit, unicode and JSON text,
//! NULLs, timestamps) and is verified on both sides; a value that does not
//! fit is refused and leaves the target empty, so the copy can be re-run;
//! a non-empty target needs --replace; and the copied database answers the
//! store's questions exactly as the SQLite one did, then keeps working
//! (new ids continue after the copied ones).

#[path = "../../examples/support/fill.rs"]
pub(crate) mod fill;

use std::path::Path;
use std::time::Duration;

use blog_poster::dbcopy::{CopyError, CopyRequest, copy, render};
use blog_poster::domain::lifecycle::Stage;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{ArticleFilter, NewRun, RunTrigger, Store};
use rusqlite::params;

use crate::pg_env::TestSchema;

fn sqlite(dir: &Path) -> SqliteStore {
    let s = SqliteStore::open(&dir.join("src.db"), Duration::from_secs(5)).expect("open");
    s.migrate(chrono::Utc::now()).expect("migrate");
    s
}

fn request<'a>(db: &'a Path, schema: &'a TestSchema, replace: bool) -> CopyRequest<'a> {
    CopyRequest {
        source: db,
        url: &schema.url,
        options: schema.options(),
        replace,
    }
}

/// Edge values in real tables.
fn edge_rows(db: &Path) {
    let c = rusqlite::Connection::open(db).expect("open");
    c.execute_batch(
        "INSERT INTO sites (id, name, enabled, paused, pause_reason, max_concurrency, created_at, updated_at)
             VALUES (1, 'blog', 1, 0, NULL, 2, 0, 253402300799999),
                    (2, 'älter-ブログ', 0, 1, 'paused: \"quotes\" and \\\\ backslash', 9223372036854775807, -62135596800000, 1);",
    )
    .expect("sites");
    let mut stmt = c
        .prepare("INSERT INTO budget_totals (scope_key, counted_micros) VALUES (?1, ?2)")
        .expect("prepare");
    for (k, v) in [
        ("global:day:2026-11-05", i64::MAX),
        ("Zeta", i64::MIN),
        ("alpha", 0),
        ("émoji 🎉", -1),
        ("日本", 42),
        ("tab\there", 7),
    ] {
        stmt.execute(params![k, v]).expect("total");
    }
    c.execute(
        "INSERT INTO runs (id, site_id, trigger, status, created_at) VALUES (7, 1, 'manual', 'succeeded', 1800000000123)",
        [],
    )
    .expect("run");
    let mut topic = c
        .prepare("INSERT INTO topics (site_id, run_id, keyword, score, status, reason, created_at) VALUES (1, 7, ?1, ?2, 'kept', ?3, 1)")
        .expect("prepare");
    for (k, score) in [
        ("tiny", 5e-324),
        ("sum", 0.1 + 0.2),
        ("negzero", -0.0),
        ("huge", 1e300),
        ("third", 1.0 / 3.0),
    ] {
        topic
            .execute(params![
                k,
                score,
                format!("line one\nline two\r\n\ttabbed {k}")
            ])
            .expect("topic");
    }
    c.execute(
        "INSERT INTO articles (id, site_id, run_id, topic, status, title, slug, tags, body_markdown, check_report, created_at, updated_at, generation_notes)
         VALUES (3, 1, 7, 'x', 'review', 'Grüße — \"quoted\" \\ title', 'gruesse', '[\"ä\",\"b\\\\c\"]', ?1, '{\"score\": 81, \"notes\": [\"a\\tb\"]}', 5, 6, NULL)",
        params!["# Heading\n\nBody with \\N literal, a tab\tand emoji 🚀.\n"],
    )
    .expect("article");
}

#[test]
fn postgres_db_copy_round_trips_every_type_exactly_and_verifies_both_sides() {
    let schema = TestSchema::create("copy_types");
    let dir = tempfile::tempdir().expect("tempdir");
    drop(sqlite(dir.path()));
    let db = dir.path().join("src.db");
    edge_rows(&db);
    let mut lines = Vec::new();
    let report = copy(
        &request(&db, &schema, false),
        chrono::Utc::now(),
        &mut |l| lines.push(l.to_string()),
    )
    .expect("copy");
    let printed = render(&report);
    eprintln!("{printed}");
    assert!(report.tables.iter().all(|t| t.matches()), "{printed}");
    assert!(printed.contains("url = \"postgres://"), "{printed}");
    let totals = report
        .tables
        .iter()
        .find(|t| t.table == "budget_totals")
        .expect("budget_totals copied");
    assert_eq!(totals.target_rows, 6);

    let mut pg = schema.client();
    // Booleans are real booleans; integers keep their extremes.
    let site = pg
        .query_one("SELECT enabled, paused, pause_reason, max_concurrency, created_at, updated_at FROM sites WHERE id = 2", &[])
        .expect("site");
    assert!(!site.get::<_, bool>(0));
    assert!(site.get::<_, bool>(1));
    assert_eq!(
        site.get::<_, String>(2),
        "paused: \"quotes\" and \\\\ backslash",
        "two backslashes, as SQLite holds them"
    );
    assert_eq!(site.get::<_, i64>(3), i64::MAX);
    assert_eq!(site.get::<_, i64>(4), -62_135_596_800_000);
    let totals: Vec<(String, i64)> = pg
        .query(
            "SELECT scope_key, counted_micros FROM budget_totals ORDER BY scope_key COLLATE \"C\"",
            &[],
        )
        .expect("totals")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(totals.contains(&("Zeta".into(), i64::MIN)));
    assert!(totals.contains(&("global:day:2026-11-05".into(), i64::MAX)));
    assert!(totals.contains(&("émoji 🎉".into(), -1)));
    // Floats bit for bit (as SQLite gives them back: it stores -0.0 as 0),
    // text byte for byte.
    let src = rusqlite::Connection::open(&db).expect("open source");
    for k in ["tiny", "sum", "negzero", "huge", "third"] {
        let score: f64 = src
            .query_row("SELECT score FROM topics WHERE keyword = ?1", [k], |r| {
                r.get(0)
            })
            .expect("source score");
        let row = pg
            .query_one("SELECT score, reason FROM topics WHERE keyword = $1", &[&k])
            .expect("topic");
        assert_eq!(row.get::<_, f64>(0).to_bits(), score.to_bits(), "{k}");
        assert_eq!(
            row.get::<_, String>(1),
            format!("line one\nline two\r\n\ttabbed {k}")
        );
    }
    let article = pg
        .query_one("SELECT title, tags, body_markdown, check_report, generation_notes, run_id FROM articles WHERE id = 3", &[])
        .expect("article");
    assert_eq!(article.get::<_, String>(0), "Grüße — \"quoted\" \\ title");
    let tags: serde_json::Value =
        serde_json::from_str(&article.get::<_, String>(1)).expect("tags stay JSON");
    assert_eq!(tags, serde_json::json!(["ä", "b\\c"]));
    assert_eq!(
        article.get::<_, String>(2),
        "# Heading\n\nBody with \\N literal, a tab\tand emoji 🚀.\n"
    );
    let report_json: serde_json::Value =
        serde_json::from_str(&article.get::<_, String>(3)).expect("report JSON");
    assert_eq!(report_json["notes"][0], "a\tb");
    assert_eq!(article.get::<_, Option<String>>(4), None);
    assert_eq!(article.get::<_, i64>(5), 7);
    // Sequences continue after the copied ids.
    let next: i64 = pg
        .query_one(
            "INSERT INTO runs (site_id, trigger, status, created_at) VALUES (1, 'manual', 'running', 1) RETURNING id",
            &[],
        )
        .expect("insert")
        .get(0);
    assert_eq!(next, 8);
}

#[test]
fn postgres_db_copy_refuses_a_value_that_does_not_fit_rolls_back_and_can_be_re_run() {
    let schema = TestSchema::create("copy_refuse");
    let dir = tempfile::tempdir().expect("tempdir");
    drop(sqlite(dir.path()));
    let db = dir.path().join("src.db");
    edge_rows(&db);
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute("UPDATE sites SET paused = 2 WHERE id = 1", [])
        .expect("bad flag");
    let err = copy(
        &request(&db, &schema, false),
        chrono::Utc::now(),
        &mut |_| {},
    )
    .expect_err("2 is not a boolean");
    match &err {
        CopyError::Value { table, column, .. } => {
            assert_eq!((table.as_str(), column.as_str()), ("sites", "paused"))
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("id=Integer(1)"), "{err}");
    let mut pg = schema.client();
    let n: i64 = pg
        .query_one("SELECT COUNT(*) FROM sites", &[])
        .expect("count")
        .get(0);
    assert_eq!(n, 0, "nothing was committed");

    // Fixed at the source, the same command runs again.
    c.execute("UPDATE sites SET paused = 1 WHERE id = 1", [])
        .expect("fix");
    copy(
        &request(&db, &schema, false),
        chrono::Utc::now(),
        &mut |_| {},
    )
    .expect("re-run");
    // A second copy onto the filled target needs --replace.
    let again = copy(
        &request(&db, &schema, false),
        chrono::Utc::now(),
        &mut |_| {},
    )
    .expect_err("not empty");
    assert!(matches!(again, CopyError::NotEmpty(_)), "{again}");
    let replaced = copy(
        &request(&db, &schema, true),
        chrono::Utc::now(),
        &mut |_| {},
    )
    .expect("--replace");
    assert!(replaced.tables.iter().all(|t| t.matches()));
}

#[test]
fn postgres_copy_answers_like_the_original_and_keeps_working() {
    let schema = TestSchema::create("copy_serves");
    let dir = tempfile::tempdir().expect("tempdir");
    drop(sqlite(dir.path()));
    let db = dir.path().join("src.db");
    let filled = fill::fill(&db, 300, 600, None, 7);
    let report = copy(
        &request(&db, &schema, false),
        chrono::Utc::now(),
        &mut |_| {},
    )
    .expect("copy");
    assert!(report.tables.iter().all(|t| t.matches()));
    assert!(report.rows >= filled.rows);

    let src = SqliteStore::open(&db, Duration::from_secs(5)).expect("open");
    let pg = schema.open();
    let now = chrono::Utc::now();
    let all = ArticleFilter {
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(
        pg.list_articles(&all).expect("pg"),
        src.list_articles(&all).expect("sqlite")
    );
    assert_eq!(
        pg.list_runs(None, 1000, None).expect("pg"),
        src.list_runs(None, 1000, None).expect("sqlite")
    );
    assert_eq!(
        pg.job_counts().expect("pg"),
        src.job_counts().expect("sqlite")
    );
    assert_eq!(
        pg.list_llm_calls(None, 1000).expect("pg"),
        src.list_llm_calls(None, 1000).expect("sqlite")
    );
    assert_eq!(
        pg.list_events(1000, None).expect("pg"),
        src.list_events(1000, None).expect("sqlite")
    );
    assert_eq!(
        pg.list_sites().expect("pg"),
        src.list_sites().expect("sqlite")
    );
    assert_eq!(
        pg.spend_report(now).expect("pg"),
        src.spend_report(now).expect("sqlite")
    );
    // New work gets new ids, after the copied ones.
    let run = pg
        .enqueue_run(
            &NewRun {
                site: "bench".into(),
                trigger: RunTrigger::Manual,
                slot_key: None,
                first_stage: Stage::Monitor,
                until: None,
                max_attempts: 3,
            },
            now,
        )
        .expect("enqueue on the copy")
        .run_id();
    assert_eq!(run.0, 301);
}

#[test]
fn postgres_copy_pauses_the_running_daemon_and_resumes() {
    let schema = TestSchema::create("copy_daemon");
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "data_dir = \"{}\"\n[log]\nlevel = \"warn\"\n[sites.bench]\n",
        dir.path().display()
    );
    let path = crate::harness::write_config(dir.path(), &text);
    let text = std::fs::read_to_string(&path).expect("config text");
    let env = blog_poster::config::Environment::from_pairs([(
        "HOME",
        dir.path().to_str().expect("utf8"),
    )]);
    let config =
        std::sync::Arc::new(blog_poster::config::parse(&text, Some(&path), &env).expect("config"));
    fill::fill(&dir.path().join("blog-poster.db"), 50, 300, None, 3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (handle, control) = blog_poster::daemon::control_channel();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let daemon = tokio::spawn(blog_poster::daemon::serve_with_control(
            config.clone(),
            blog_poster::pipeline::stage::StageSet::standard(),
            std::sync::Arc::new(blog_poster::clock::SystemClock),
            shutdown,
            control,
        ));
        let report = handle
            .copy_database(schema.url.clone(), schema.options(), false)
            .await
            .expect("copy through the daemon");
        assert!(report.tables.iter().all(|t| t.matches()));
        let runs = report
            .tables
            .iter()
            .find(|t| t.table == "runs")
            .expect("runs");
        assert_eq!(runs.target_rows, 50);
        // Still serving afterwards: a second request is answered.
        let again = handle
            .copy_database(schema.url.clone(), schema.options(), false)
            .await
            .expect_err("the target is no longer empty");
        assert!(matches!(again, CopyError::NotEmpty(_)), "{again}");
        let _ = stop.send(true);
        daemon.await.expect("join").expect("serve stopped cleanly");
    });
}
