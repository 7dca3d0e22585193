//! The TUI as an operator meets it: a real `serve` (temp config, SQLite), an
//! admin token made with the CLI and written to the default token file,
//! and `blog-poster tui` running in tmux at 80×24. The test reads the
//! screen with `tmux capture-pane -p`, switches tabs with keys and quits.
//! The TUI is started before the daemon, so it first shows that the daemon
//! is not running, then recovers by itself.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{bin, command, run, write_config};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

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
    fn wait_for(&self, want: &[&str], timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if want.iter().all(|w| s.contains(w)) {
                return s;
            }
            if start.elapsed() > timeout {
                panic!("timed out waiting for {want:?}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn tui_in_tmux_shows_the_daemon_switches_tabs_and_quits() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (scripts/test.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
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
    let s = tmux.wait_for(
        &[&format!(
            "blog-poster serve is not running on 127.0.0.1:{port}"
        )],
        Duration::from_secs(20),
    );
    assert!(s.contains("(start it: systemctl start"), "{s}");

    // Now the daemon; the TUI's next refresh finds it.
    let daemon = Daemon(
        command(dir.path())
            .args(["--config", cfg_s, "serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve"),
    );
    let start = Instant::now();
    while !healthy(port) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = tmux.wait_for(
        &["Sites", "blog", "active", "today"],
        Duration::from_secs(20),
    );
    assert!(s.contains("1 Overview"), "{s}");
    println!("overview as tmux shows it:\n{s}");
    let lines: Vec<&str> = s.lines().collect();
    assert!(lines.len() <= 24, "{} lines", lines.len());
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{s}");

    tmux.keys("2");
    tmux.wait_for(&["Runs", "Jobs", "Selected job"], Duration::from_secs(10));
    tmux.keys("3");
    tmux.wait_for(&["Articles (review first)"], Duration::from_secs(10));
    tmux.keys("4");
    tmux.wait_for(
        &["Caps (e to change)", "global_daily", "site_daily"],
        Duration::from_secs(10),
    );
    tmux.keys("5");
    tmux.wait_for(
        &["https://competitor.example/feed.xml"],
        Duration::from_secs(10),
    );
    tmux.keys("6");
    tmux.wait_for(&["Events (newest first)"], Duration::from_secs(10));
    tmux.keys("?");
    tmux.wait_for(&["Keys", "switch tab"], Duration::from_secs(10));
    tmux.keys("Escape");
    tmux.keys("1");
    tmux.wait_for(&["Sites"], Duration::from_secs(10));

    // Pause the site through the TUI (asks first), and see it paused.
    tmux.keys("p");
    tmux.wait_for(&["Pause site blog?"], Duration::from_secs(10));
    tmux.keys("y");
    tmux.wait_for(&["paused"], Duration::from_secs(15));

    tmux.keys("q");
    let start = Instant::now();
    while !exit_file.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "tui did not quit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let code = std::fs::read_to_string(&exit_file).expect("exit file");
    let stderr = std::fs::read_to_string(dir.path().join("tui.stderr")).unwrap_or_default();
    assert_eq!(code.trim(), "0", "tui exit code; stderr: {stderr}");
    drop(daemon);
}

/// A panic inside the TUI leaves a usable terminal: ratatui's hook turns raw
/// mode off and leaves the alternate screen before the message is printed.
#[test]
fn tui_in_tmux_restores_the_terminal_on_panic() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (scripts/test.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
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
    let start = Instant::now();
    while std::fs::read_to_string(&done).map_or(true, |s| s.trim().is_empty()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no result; screen:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let modes = std::fs::read_to_string(&done).expect("stty result");
    let screen = tmux.wait_for(&["exit=101"], Duration::from_secs(10));
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
