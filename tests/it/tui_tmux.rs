//! The TUI as an operator meets it: a real `serve` (temp config, SQLite), an
//! admin token made with the CLI and written to the default token file,
//! and `blog-poster tui` running in tmux at 80×24. The test reads the
//! screen with `tmux capture-pane -p`, switches tabs with keys and quits.
//! The TUI is started before the daemon, so it first shows that the daemon
//! is not running, then recovers by itself.
//!
//! The TUI must know the port before serve exists, so the test holds one
//! (`harness::PortHold`: bound, never listening, so connections are refused
//! as when serve is down) and serve binds it and listens; then the hold is
//! dropped. No free-port race.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{
    PortHold, bin, command, ready_file, run, wait_for_value, wait_ready, write_config,
};

/// Generous: these guard against hangs on a loaded machine, they do not
/// measure speed.
const DEADLINE: Duration = Duration::from_secs(60);

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "bp"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "bp", keys])
            .status()
            .expect("tmux send-keys")
            .success();
        assert!(ok, "send-keys {keys}");
    }

    /// Waits until the screen contains every one of `want`.
    fn wait_for(&self, want: &[&str]) -> String {
        self.wait_until(&format!("the screen to show {want:?}"), |s| {
            want.iter().all(|w| s.contains(w))
        })
    }

    /// Waits until the screen shows none of `gone`.
    fn wait_without(&self, gone: &[&str]) -> String {
        self.wait_until(&format!("the screen to lose {gone:?}"), |s| {
            !gone.iter().any(|g| s.contains(g))
        })
    }

    fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for_value(DEADLINE, what, || {
                last = self.screen();
                ok(&last).then(|| last.clone())
            })
        }));
        found.unwrap_or_else(|e| {
            eprintln!("screen:\n{last}");
            std::panic::resume_unwind(e)
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The session may have ended with the TUI already.
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line of `path` once a shell wrote it whole (newline included).
fn line_in(path: &Path, what: &str) -> String {
    wait_for_value(DEADLINE, what, || {
        std::fs::read_to_string(path)
            .ok()
            .filter(|s| s.ends_with('\n'))
            .map(|s| s.trim().to_string())
    })
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn tui_in_tmux_shows_the_daemon_switches_tabs_and_quits() {
    crate::services::require(crate::services::Service::Tmux);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let hold = PortHold::new();
    let port = hold.addr.port();
    let cfg = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [sites.blog]\npublisher = \"outbox\"\n\
             [[sites.blog.sources]]\nurl = \"https://competitor.example/feed.xml\"\nkind = \"feed\"\n",
            data.display()
        ),
    );
    let cfg_s = cfg.to_str().expect("utf8");

    // An admin token from the CLI, into the default token file.
    let (code, token, err) = run(command(dir.path()).args([
        "--config", cfg_s, "token", "create", "--role", "admin", "tui",
    ]));
    assert_eq!(code, 0, "{err}");
    std::fs::write(data.join("tui.token"), &token).expect("token file");

    // The TUI first, in tmux at 80x24, before the daemon runs.
    let tmux = Tmux {
        socket: format!("bp-test-{}-{port}", std::process::id()),
    };
    let exit_file = dir.path().join("tui.exit");
    let script = format!(
        "env -i HOME={home} PATH=/usr/bin:/bin TERM=xterm-256color {bin} --config {cfg} tui 2> {err}; echo $? > {exit}",
        home = shell_quote(dir.path()),
        bin = shell_quote(&bin()),
        cfg = shell_quote(&cfg),
        err = shell_quote(&dir.path().join("tui.stderr")),
        exit = shell_quote(&exit_file),
    );
    let ok = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            "bp",
            &script,
        ])
        .status()
        .expect("tmux new-session")
        .success();
    assert!(ok, "tmux new-session");
    let s = tmux.wait_for(&[&format!(
        "blog-poster serve is not running on 127.0.0.1:{port}"
    )]);
    assert!(s.contains("(start it: systemctl start"), "{s}");

    // Now the daemon, on the held port; the TUI's next refresh finds it.
    let mut serve = command(dir.path());
    serve
        .args(["--config", cfg_s, "serve"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).expect("log"));
    let ready = ready_file(&mut serve, dir.path());
    let mut daemon = Daemon(serve.spawn().expect("spawn serve"));
    let addr = wait_ready(&mut daemon.0, &ready, DEADLINE);
    assert_eq!(addr, hold.addr, "serve listens on the held port");
    drop(hold);
    let s = tmux.wait_for(&["Sites", "blog", "active", "today"]);
    assert!(s.contains("1 Overview"), "{s}");
    println!("overview as tmux shows it:\n{s}");
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines.len() <= 24, "{} lines", lines.len());
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{s}");

    tmux.keys("2");
    tmux.wait_for(&["Runs", "Jobs", "Selected job"]);
    tmux.keys("3");
    tmux.wait_for(&["Articles (review first)"]);
    tmux.keys("4");
    tmux.wait_for(&["Caps (e to change)", "global_daily", "site_daily"]);
    tmux.keys("5");
    tmux.wait_for(&["https://competitor.example/feed.xml"]);
    tmux.keys("6");
    tmux.wait_for(&["Events (newest first)"]);
    tmux.keys("?");
    tmux.wait_for(&["Keys", "switch tab"]);
    // One key at a time: ESC and "1" read together are Alt+1 to the TUI.
    tmux.keys("Escape");
    tmux.wait_without(&["switch tab"]);
    tmux.keys("1");
    tmux.wait_for(&["Sites"]);

    // Pause the site through the TUI (asks first), and see it paused.
    tmux.keys("p");
    tmux.wait_for(&["Pause site blog?"]);
    tmux.keys("y");
    tmux.wait_for(&["paused"]);

    tmux.keys("q");
    let code = line_in(&exit_file, "the TUI to quit and its exit code");
    let stderr = std::fs::read_to_string(dir.path().join("tui.stderr")).unwrap_or_default();
    assert_eq!(code, "0", "tui exit code; stderr: {stderr}");
    drop(daemon);
}

/// A panic inside the TUI leaves a usable terminal: ratatui's hook turns raw
/// mode off and leaves the alternate screen before the message is printed.
#[test]
fn tui_in_tmux_restores_the_terminal_on_panic() {
    crate::services::require(crate::services::Service::Tmux);
    let dir = tempfile::tempdir().expect("tempdir");
    let hold = PortHold::new();
    let port = hold.addr.port();
    let cfg = write_config(
        dir.path(),
        &format!(
            "data_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().join("data").display()
        ),
    );
    let tmux = Tmux {
        socket: format!("bp-test-panic-{}-{port}", std::process::id()),
    };
    let done = dir.path().join("done");
    // After the TUI dies: the exit code, then the terminal's mode as stty sees it.
    let script = format!(
        "env -i HOME={home} PATH=/usr/bin:/bin TERM=xterm-256color BLOG_POSTER_TUI_TEST_PANIC=1 {bin} --config {cfg} tui; echo \"exit=$?\"; stty -a | tr ' ' '\\n' | grep -x -e -icanon -e icanon -e echo -e -echo | tr '\\n' ' ' > {done}; sleep 30",
        home = shell_quote(dir.path()),
        bin = shell_quote(&bin()),
        cfg = shell_quote(&cfg),
        done = shell_quote(&done),
    );
    let ok = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            "bp",
            &script,
        ])
        .status()
        .expect("tmux new-session")
        .success();
    assert!(ok, "tmux new-session");
    let screen = tmux.wait_for(&["exit=101"]);
    // The script writes the modes with a trailing space, then sleeps.
    let modes = wait_for_value(DEADLINE, "the stty result", || {
        std::fs::read_to_string(&done)
            .ok()
            .filter(|s| s.ends_with(' '))
    });
    println!("screen after the panic:\n{screen}\nstty: {modes}");
    assert!(screen.contains("test panic requested"), "{screen}");
    // Back on the main screen: the tab bar of the alternate screen is gone.
    assert!(!screen.contains("1 Overview"), "{screen}");
    let alt = tmux
        .cmd()
        .args(["display-message", "-p", "-t", "bp", "#{alternate_on}"])
        .output()
        .expect("tmux display");
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
    // Cooked mode again: canonical input and echo are on.
    let modes: Vec<&str> = modes.split_whitespace().collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "{modes:?}"
    );
}

#[test]
fn tui_without_a_terminal_exits_2_and_says_how_to_run_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), "[http]\nlisten = \"127.0.0.1:9\"\n");
    let (code, _, err) = run(command(dir.path())
        .args(["--config", cfg.to_str().expect("utf8"), "tui"])
        .stdin(Stdio::null()));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("ssh -t"), "{err}");
}
