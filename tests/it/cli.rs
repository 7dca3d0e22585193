//! The command line as an operator meets it: exit codes, config errors with
//! file:line:key and a fix, `init`, `config check`, `db status|migrate`, and
//! the migration safety checks on a real database file.

use std::path::Path;

use crate::harness::{command, run, write_config};

fn bp(home: &Path, args: &[&str]) -> (i32, String, String) {
    run(command(home).args(args))
}

#[test]
fn unknown_key_exits_2_with_file_line_and_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "[sites.blog]\npublisher = \"outbox\"\nshedule = \"0 6 * * *\"\n",
    );
    let (code, _, err) = bp(
        dir.path(),
        &["--config", cfg.to_str().expect("utf8"), "config", "check"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "config.toml:3: unknown key \"shedule\" in [sites.blog] (did you mean \"schedule\"?)"
        ),
        "{err}"
    );
}

#[test]
fn bad_cron_exits_2_with_file_line_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), "[sites.blog]\nschedule = \"0 25 * * *\"\n");
    let (code, _, err) = bp(
        dir.path(),
        &["--config", cfg.to_str().expect("utf8"), "serve"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml:2: invalid cron schedule \"0 25 * * *\""),
        "{err}"
    );
    assert!(err.contains("key \"schedule\" in [sites.blog]"), "{err}");
    assert!(err.contains("use 5 fields"), "{err}");
}

#[test]
fn missing_secret_exits_2_naming_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "[sites.blog]\npublisher = \"wordpress\"\n\n[sites.blog.wordpress]\nurl = \"https://blog.example\"\nusername = \"bot\"\napp_password_env = \"BLOG_WP_APP_PASSWORD\"\n",
    );
    let (code, _, err) = bp(
        dir.path(),
        &["--config", cfg.to_str().expect("utf8"), "run", "--once"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml:7: environment variable BLOG_WP_APP_PASSWORD is not set"),
        "{err}"
    );
    assert!(err.contains("export BLOG_WP_APP_PASSWORD="), "{err}");

    // With the variable set it passes, and the check output never shows it.
    let out = command(dir.path())
        .env("BLOG_WP_APP_PASSWORD", "abcd efgh ijkl mnop")
        .args(["--config", cfg.to_str().expect("utf8"), "config", "check"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("app password from env BLOG_WP_APP_PASSWORD, redacted"),
        "{text}"
    );
    assert!(!text.contains("abcd efgh"), "{text}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(bp(dir.path(), &["frobnicate"]).0, 2);
    assert_eq!(bp(dir.path(), &["run"]).0, 2, "run without --once");
    assert_eq!(
        bp(dir.path(), &["run", "--once", "--until", "nowhere"]).0,
        2
    );
    let (code, out, _) = bp(dir.path(), &["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error"),
        "{out}"
    );
    for sub in [
        vec!["init", "--help"],
        vec!["serve", "--help"],
        vec!["run", "--help"],
        vec!["config", "check", "--help"],
        vec!["config", "print-default", "--help"],
        vec!["db", "status", "--help"],
        vec!["db", "migrate", "--help"],
        vec!["version", "--help"],
    ] {
        assert_eq!(bp(dir.path(), &sub).0, 0, "{sub:?}");
    }
}

#[test]
fn explicit_config_that_does_not_exist_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = bp(
        dir.path(),
        &["--config", "/nonexistent/x.toml", "config", "check"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn init_writes_a_config_that_checks_clean_and_print_default_matches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = bp(dir.path(), &["init"]);
    assert_eq!(code, 0, "{err}");
    let written = dir.path().join(".config/blog-poster/config.toml");
    assert!(out.contains(&written.display().to_string()), "{out}");
    assert!(
        dir.path().join(".local/share/blog-poster").is_dir(),
        "data folder created"
    );
    let (code, _, err) = bp(dir.path(), &["init"]);
    assert_eq!(code, 2, "refuses to overwrite: {err}");
    // Found by the XDG search without --config.
    let (code, out, err) = bp(dir.path(), &["config", "check"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("config OK: {}", written.display())),
        "{out}"
    );
    let (_, default, _) = bp(dir.path(), &["config", "print-default"]);
    assert_eq!(default, std::fs::read_to_string(&written).expect("read"));
}

#[test]
fn version_names_the_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, _) = bp(dir.path(), &["version"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("blog-poster {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(out.contains("SQLite 3."), "{out}");
}

fn db_config(dir: &Path) -> String {
    write_config(
        dir,
        &format!("data_dir = \"{}\"\n[sites.blog]\n", dir.display()),
    )
    .to_str()
    .expect("utf8")
    .to_string()
}

fn sql(dir: &Path, statement: &str) {
    let c = rusqlite::Connection::open(dir.join("blog-poster.db")).expect("open");
    c.execute_batch(statement).expect("sql");
}

#[test]
fn migrations_fresh_to_latest_then_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = db_config(dir.path());
    let (code, out, _) = bp(dir.path(), &["--config", &cfg, "db", "status"]);
    assert_eq!(code, 0);
    assert!(out.contains("pending 0001_initial"), "{out}");
    let (code, out, err) = bp(dir.path(), &["--config", &cfg, "db", "migrate"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied 0001_initial"), "{out}");
    let (_, out, _) = bp(dir.path(), &["--config", &cfg, "db", "migrate"]);
    assert!(out.contains("schema is up to date"), "{out}");
    let (_, out, _) = bp(dir.path(), &["--config", &cfg, "db", "status"]);
    let latest = blog_poster::store::sqlite::SqliteStore::migrations().len();
    assert!(
        out.contains(&format!("schema: version {latest} of {latest}")),
        "{out}"
    );
    assert!(out.contains("applied 0001_initial"), "{out}");
    assert!(!out.contains("pending"), "{out}");
}

#[test]
fn edited_migration_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = db_config(dir.path());
    assert_eq!(bp(dir.path(), &["--config", &cfg, "db", "migrate"]).0, 0);
    // What an edited file looks like from the database's side: the recorded
    // checksum no longer matches the text this binary carries.
    sql(
        dir.path(),
        "UPDATE schema_migrations SET checksum = 'aaaaaaaaaaaaaaaa' WHERE version = 1",
    );
    for args in [vec!["serve"], vec!["db", "status"], vec!["run", "--once"]] {
        let mut full = vec!["--config", cfg.as_str()];
        full.extend(args.iter());
        let (code, _, err) = bp(dir.path(), &full);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains("migration 0001_initial was changed after it was applied"),
            "{err}"
        );
        assert!(err.contains("nothing was changed"), "{err}");
    }
}

#[test]
fn database_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = db_config(dir.path());
    assert_eq!(bp(dir.path(), &["--config", &cfg, "db", "migrate"]).0, 0);
    sql(
        dir.path(),
        "INSERT INTO schema_migrations VALUES (99, 'future', 'x', 0)",
    );
    let (code, _, err) = bp(dir.path(), &["--config", &cfg, "serve"]);
    assert_eq!(code, 1, "{err}");
    let latest = blog_poster::store::sqlite::SqliteStore::migrations().len();
    assert!(
        err.contains(&format!(
            "the database is at schema version 99, but this blog-poster knows only up to {latest}"
        )),
        "{err}"
    );
}

#[test]
fn run_once_on_the_embedded_defaults_reports_the_unbuilt_stage_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = bp(dir.path(), &["run", "--once"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "[example] run 1 · monitor ✗ failed for good: the monitor stage is not built yet"
        ),
        "{out}"
    );
    assert!(out.contains("example run 1: FAILED"), "{out}");
    assert!(
        dir.path()
            .join(".local/share/blog-poster/blog-poster.db")
            .exists()
    );
}

#[test]
fn run_once_for_an_unknown_site_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = bp(dir.path(), &["run", "--once", "--site", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no site \"nope\" in <embedded defaults> (sites: example)"),
        "{err}"
    );
}
