//! A writer at full speed, for the backup tests: enqueues runs (a run, its
//! first job and an event per transaction, through the real store) as fast
//! as the database takes them, and prints each run id on its own line after
//! its transaction committed. Runs until killed. Test scaffolding only.
//!
//! Usage: backup_writer DB SITE

use std::io::Write;
use std::time::Duration;

use blog_poster::domain::lifecycle::Stage;
use blog_poster::store::sqlite::SqliteStore;
use blog_poster::store::{NewRun, RunTrigger, Store};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(site)) = (args.next(), args.next()) else {
        eprintln!("usage: backup_writer DB SITE");
        std::process::exit(2);
    };
    let store = SqliteStore::open(db.as_ref(), Duration::from_secs(10)).expect("open the database");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        let run = NewRun {
            site: site.clone(),
            trigger: RunTrigger::Manual,
            slot_key: None,
            first_stage: Stage::Monitor,
            until: None,
            max_attempts: 10,
        };
        match store.enqueue_run(&run, chrono::Utc::now()) {
            Ok(e) => {
                // Committed: only now is the id logged.
                writeln!(out, "{}", e.run_id()).expect("stdout");
                out.flush().expect("flush");
            }
            Err(e) if e.is_transient() => continue,
            Err(e) => panic!("writer failed: {e}"),
        }
    }
}
