//! Benchmark: `backup create` and `backup verify` on a 1 GiB SQLite
//! database of realistic history (articles with Markdown bodies, their
//! runs, jobs, LLM calls, reservations, ledger rows, events). Target on the
//! $6 droplet class of machine: ≤ 10 s each.
//!
//!   cargo run --release --example bench_backup -- [DIR] [SIZE_MIB]
//!
//! DIR keeps the database between runs (built once); default a temp dir.
//! BENCH_LEVEL=N sets the zstd level (default: the config default, 3).

#[path = "support/fill.rs"]
mod fill;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use blog_poster::backup::{BackupKind, Backups};
use blog_poster::config::BackupConfig;

fn main() {
    let mut args = std::env::args().skip(1);
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    let mib: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1024);
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("blog-poster.db");
    let target = mib << 20;
    let have = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    if have < target {
        let started = Instant::now();
        let f = fill::fill(&db, u64::MAX, 7_000, Some(target), 42);
        println!(
            "built {:.0} MiB: {} articles, {} rows in {:.1}s",
            f.bytes as f64 / 1048576.0,
            f.articles,
            f.rows,
            started.elapsed().as_secs_f64()
        );
    }
    let db_bytes = std::fs::metadata(&db).expect("db").len();
    let mut settings = BackupConfig::defaults(&dir);
    settings.dir = dir.join("backups");
    if let Some(level) = std::env::var("BENCH_LEVEL")
        .ok()
        .and_then(|l| l.parse().ok())
    {
        settings.compression_level = level;
    }
    let backups = Backups {
        db_path: db.clone(),
        busy_timeout: Duration::from_secs(10),
        settings,
    };
    // Start from a cold-ish state for the backup folder.
    let _ = std::fs::remove_dir_all(&backups.settings.dir);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "database {:.0} MiB, {cpus} CPUs, zstd level {}",
        db_bytes as f64 / 1048576.0,
        backups.settings.compression_level
    );
    // Where the time goes: the same three steps `create` takes, one by one.
    std::fs::create_dir_all(&backups.settings.dir).expect("backup dir");
    let snap = backups.settings.dir.join("phase.snapshot");
    let t = Instant::now();
    blog_poster::backup::archive::snapshot(&db, &snap, Duration::from_secs(10)).expect("snapshot");
    let snapshot_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let facts = blog_poster::backup::archive::inspect(&snap).expect("inspect");
    let inspect_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let zst = backups.settings.dir.join("phase.zst");
    blog_poster::backup::archive::compress(&snap, &zst, backups.settings.compression_level)
        .expect("compress");
    let compress_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&snap);
    let _ = std::fs::remove_file(&zst);
    println!(
        "phases: snapshot {snapshot_s:.2}s, row counts {inspect_s:.2}s ({} tables), compress+sha256 {compress_s:.2}s",
        facts.row_counts.len()
    );

    let started = Instant::now();
    let record = backups
        .create(BackupKind::Manual, chrono::Utc::now())
        .expect("create");
    let create = started.elapsed();
    println!(
        "backup create: {:.2}s ({:.0} MiB/s), {:.0} MiB compressed (ratio {:.2}), {} rows",
        create.as_secs_f64(),
        db_bytes as f64 / 1048576.0 / create.as_secs_f64(),
        record.size_bytes as f64 / 1048576.0,
        db_bytes as f64 / record.size_bytes as f64,
        record.total_rows()
    );
    let started = Instant::now();
    let report = backups
        .verify(Some(record.id), chrono::Utc::now())
        .expect("verify");
    let verify = started.elapsed();
    assert!(report.ok, "{}", report.message);
    println!(
        "backup verify: {:.2}s ({:.0} MiB/s): {}",
        verify.as_secs_f64(),
        db_bytes as f64 / 1048576.0 / verify.as_secs_f64(),
        report.message
    );
}
