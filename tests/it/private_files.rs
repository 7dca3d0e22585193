//! Owner-only files whatever the umask (issue 11, deliverable 5): with
//! `umask 000` — what a shell, cron or a container may give a process
//! outside systemd — the data dir and every folder under it are 0700, and
//! the database (with its -wal/-shm and lock files), the backups, the outbox
//! and a token file written by `token create --file` are 0600. Every command
//! that writes runs as a real child under `sh -c 'umask 000; exec …'`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use blog_poster::config::{self, Environment};
use blog_poster::store::CheckDecision;

use crate::harness::{bin, ready_file, run, wait_for, wait_for_exit, wait_ready, write_config};

/// The binary with `args`, under `umask 000`, with the harness's clean
/// environment.
fn umask_000(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(bin())
        .args(args);
    c
}

/// Every folder and file under `dir` (itself included) with its mode bits.
fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let m = std::fs::metadata(&d).expect("stat dir");
        out.push((d.clone(), true, m.permissions().mode() & 0o777));
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = entry.path();
            let m = std::fs::symlink_metadata(&p).expect("stat");
            if m.is_dir() {
                stack.push(p);
            } else {
                out.push((p, false, m.permissions().mode() & 0o777));
            }
        }
    }
    out
}

#[test]
fn private_files_under_umask_000_data_dir_0700_database_backups_outbox_and_tokens_0600() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let data = home.join("data");
    let text = format!(
        "data_dir = \"{}\"\n[log]\nformat = \"plain\"\n\
         [engine]\npoll_interval = \"50ms\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n\
         [sites.blog]\npublisher = \"outbox\"\n",
        data.display()
    );
    let cfg = write_config(home, &text);
    let cfg_arg = cfg.to_str().expect("utf8");
    assert!(!data.exists());

    // The database and the data dir, made by a child under umask 000.
    let (code, out, err) = run(&mut umask_000(
        home,
        &["--config", cfg_arg, "db", "migrate"],
    ));
    assert_eq!(code, 0, "db migrate: {out}{err}");

    // An article ready to publish to the outbox, then serve publishes it.
    let article = {
        let env = Environment::from_pairs([("HOME", home.to_str().expect("utf8"))]);
        let c = config::parse(&text, Some(&cfg), &env).unwrap_or_else(|e| panic!("{e}"));
        let ws = crate::wp_env::open(&c);
        crate::wp_env::prepare(
            ws.store.as_ref(),
            "blog",
            crate::wp_env::article("Private by default", "private-by-default"),
            CheckDecision::Publish,
        )
        .1
    };
    let mut serve = umask_000(home, &["--config", cfg_arg, "serve"]);
    serve.stdout(Stdio::null()).stderr(Stdio::null());
    let ready = ready_file(&mut serve, home);
    let mut child = serve.spawn().expect("spawn serve");
    wait_ready(&mut child, &ready, Duration::from_secs(60));
    let outbox = data.join("outbox").join("blog");
    let html = outbox.join(format!("{:06}-private-by-default.html", article.0));
    wait_for(Duration::from_secs(60), "the article in the outbox", || {
        html.exists()
    });
    // While serve runs, SQLite's -wal and -shm files are there too.
    let running = modes(&data);
    assert!(
        running
            .iter()
            .any(|(p, _, _)| p.to_string_lossy().ends_with(".db-wal")),
        "{running:?}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    wait_for_exit(&mut child, Duration::from_secs(30), "serve to stop");

    let (code, out, err) = run(&mut umask_000(
        home,
        &["--config", cfg_arg, "backup", "create"],
    ));
    assert_eq!(code, 0, "backup create: {out}{err}");
    let token_file = data.join("tui.token");
    let (code, out, err) = run(&mut umask_000(
        home,
        &[
            "--config",
            cfg_arg,
            "token",
            "create",
            "--role",
            "admin",
            "tui",
            "--file",
            token_file.to_str().expect("utf8"),
        ],
    ));
    assert_eq!(code, 0, "token create --file: {out}{err}");
    let token = std::fs::read_to_string(&token_file).expect("token file");
    assert!(token.trim().starts_with("bp_"), "{token}");
    assert!(
        !out.contains(token.trim()),
        "the token went to the file, not stdout: {out}"
    );

    let mut all = modes(&data);
    all.extend(running);
    let names: Vec<String> = all
        .iter()
        .map(|(p, _, _)| {
            p.strip_prefix(&data)
                .expect("under data")
                .display()
                .to_string()
        })
        .collect();
    for wanted in ["blog-poster.db", "blog-poster.db.lock", "tui.token"] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("backups/") && n.ends_with(".zst")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("outbox/blog/") && n.ends_with(".md")),
        "{names:?}"
    );
    let wrong: Vec<String> = all
        .iter()
        .filter(|(_, is_dir, mode)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, is_dir, mode)| {
            format!(
                "{} {} is {mode:o}",
                if *is_dir { "folder" } else { "file" },
                p.display()
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "not owner-only under umask 000:\n{}",
        wrong.join("\n")
    );
}
