//! Benchmark and acceptance run for `db copy`: a SQLite database with N
//! articles and their runs, jobs, LLM calls, reservations, ledger rows and
//! events (default 100,000) is copied into a fresh PostgreSQL database and
//! verified (the verification table is printed), then `pgloader` (Debian
//! package) loads the same SQLite file into another fresh database, timed
//! the same way. Rows per second for both.
//!
//!   cargo run --release --example bench_dbcopy -- [DIR] [ARTICLES] [BODY_BYTES]
//!
//! PostgreSQL: $BENCH_POSTGRES_ADMIN_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres) creates the two databases.

#[path = "support/fill.rs"]
mod fill;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use blog_poster::config::PgOptions;
use blog_poster::dbcopy::{CopyRequest, copy, render};

fn main() {
    let mut args = std::env::args().skip(1);
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    let articles: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let body: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2_000);
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join(format!("copy-{articles}-{body}.db"));
    if !db.exists() {
        let started = Instant::now();
        let f = fill::fill(&db, articles, body, None, 11);
        println!(
            "built {}: {} articles, {} rows, {:.0} MiB in {:.1}s",
            db.display(),
            f.articles,
            f.rows,
            f.bytes as f64 / 1048576.0,
            started.elapsed().as_secs_f64()
        );
    }
    let admin = std::env::var("BENCH_POSTGRES_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let stamp = std::process::id();
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("admin connection");
    let ours = format!("bp_bench_copy_{stamp}");
    let theirs = format!("bp_bench_pgloader_{stamp}");
    for name in [&ours, &theirs] {
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .expect("drop database");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
    }
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_string();
    let ours_url = format!("{base}/{ours}");
    let theirs_url = format!("{base}/{theirs}");

    println!("== blog-poster db copy");
    let req = CopyRequest {
        source: &db,
        url: &ours_url,
        options: PgOptions {
            pool_size: 2,
            statement_timeout: Duration::from_secs(3600),
            ..PgOptions::default()
        },
        replace: false,
    };
    let started = Instant::now();
    let report = copy(&req, chrono::Utc::now(), &mut |l| println!("{l}")).expect("db copy");
    let ours_total = started.elapsed();
    print!("{}", render(&report));
    assert!(report.tables.iter().all(|t| t.matches()));

    println!("== pgloader (same SQLite file, fresh database)");
    let started = Instant::now();
    let out = Command::new("pgloader")
        .arg(format!("sqlite://{}", db.display()))
        .arg(format!(
            "postgresql://{}",
            theirs_url.trim_start_matches("postgres://")
        ))
        .output()
        .expect("pgloader (apt-get install pgloader)");
    let pgl = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = text.lines().rev().take(30).collect();
    for l in summary.into_iter().rev() {
        println!("  {l}");
    }
    if !out.status.success() {
        println!("pgloader failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut check = postgres::Client::connect(&theirs_url, postgres::NoTls).expect("connect");
    let mut loaded = 0i64;
    for t in &report.tables {
        let q = format!("SELECT COUNT(*) FROM \"{}\"", t.table);
        if let Ok(row) = check.query_one(q.as_str(), &[]) {
            loaded += row.get::<_, i64>(0);
        }
    }
    println!("== summary ({} rows)", report.rows);
    println!(
        "db copy: copy {:.1}s = {:.0} rows/s; with migration and verification {:.1}s = {:.0} rows/s",
        report.copy_elapsed.as_secs_f64(),
        report.rows_per_sec,
        ours_total.as_secs_f64(),
        report.rows as f64 / ours_total.as_secs_f64()
    );
    println!(
        "pgloader: {:.1}s = {:.0} rows/s ({} rows found in its database; no verification)",
        pgl.as_secs_f64(),
        loaded as f64 / pgl.as_secs_f64(),
        loaded
    );
    for name in [&ours, &theirs] {
        let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}
