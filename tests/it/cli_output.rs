//! A reader that goes away (`blog-poster config check | head -c1`) ends the
//! command quietly with 141, the shell's SIGPIPE status — never the panic
//! `println!` raises on a broken pipe (exit 101, "failed printing to
//! stdout"). The pipe's read end is closed before the child starts, so
//! every command's first write meets a closed pipe, whatever the timing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{command, wait_for_exit, write_config};

/// Runs `cmd` with stdout on a pipe nobody reads; returns (exit code, stderr).
fn with_closed_stdout(cmd: &mut Command, what: &str) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = cmd
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status = wait_for_exit(&mut child, Duration::from_secs(120), what);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).expect("read stderr");
    }
    (status.code(), err)
}

fn bp(home: &Path, cfg: &Path, args: &[&str]) -> Command {
    let mut c = command(home);
    c.arg("--config").arg(cfg).args(args);
    c
}

#[test]
fn every_printing_command_ends_with_141_on_a_closed_pipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "data_dir = \"data\"\n[sites.blog]\npublisher = \"outbox\"\n",
    );
    // A schema to report on, and a backup to list.
    for args in [&["db", "migrate"][..], &["backup", "create"]] {
        let out = bp(dir.path(), &cfg, args).output().expect("run");
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    for args in [
        &["config", "check"][..],
        &["config", "print-default"],
        &["version"],
        &["db", "status"],
        &["db", "migrate"],
        &["article", "list", "--status", "all"],
        &["token", "list"],
        &["token", "create", "--role", "viewer", "reader"],
        &["backup", "list"],
        &["backup", "verify"],
    ] {
        let (code, err) = with_closed_stdout(&mut bp(dir.path(), &cfg, args), &format!("{args:?}"));
        assert_eq!(code, Some(141), "{args:?} exited {code:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        // Quietly: no error message (token create's note on stderr stays).
        assert!(
            !err.contains("error") && !err.contains("Broken pipe"),
            "{args:?} should end quietly, said: {err}"
        );
        if args[0] != "token" {
            assert!(err.trim().is_empty(), "{args:?} said: {err}");
        }
    }
}

#[test]
fn run_once_stops_its_run_when_nobody_reads_the_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        "data_dir = \"data\"\n[sites.blog]\npublisher = \"outbox\"\n",
    );
    let (code, err) = with_closed_stdout(
        &mut bp(
            dir.path(),
            &cfg,
            &["run", "--once", "--until", "monitor", "--max-wait", "5s"],
        ),
        "run --once",
    );
    assert_eq!(code, Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("error:"), "{err}");
}

#[test]
fn help_and_usage_errors_do_not_panic_on_a_closed_pipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut help = command(dir.path());
    help.arg("--help");
    let (code, err) = with_closed_stdout(&mut help, "--help");
    assert!(!err.contains("panicked"), "{err}");
    // clap prints help itself and exits 0 whether or not it was read.
    assert_eq!(code, Some(0), "{err}");
}
