//! `blog-poster tui`: a terminal UI over SSH, a client of the local HTTP API
//! (so it works the same on SQLite and PostgreSQL, and never opens the
//! database itself). [`app`] holds the state and its pure update,
//! [`ui`] draws it, [`client`] talks to the API on a worker thread.
//!
//! The terminal is restored on exit and on panic (ratatui's hook).

pub mod app;
pub mod client;
pub mod data;
pub mod ui;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use ratatui::Terminal;
use ratatui::backend::Backend;

use crate::config::{ConfigError, ConfigLocation, Environment};
use app::{App, Command, Event};

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(
        "blog-poster tui needs a terminal: run it in an interactive shell (over SSH: ssh -t host blog-poster tui)"
    )]
    NotATerminal,
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Terminal(String),
    #[error("cannot start the API client: {0}")]
    Client(String),
}

/// Where the API is and which token to use.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub base_url: String,
    pub token: Option<String>,
    /// Where the token came from, for messages ("--token", a file path).
    pub token_origin: Option<String>,
    pub token_file: PathBuf,
}

/// Reads only what the TUI needs from the config file — `[http] listen`,
/// `data_dir` and `[tui] token_file` — without resolving the daemon's
/// secrets, which the operator's shell usually does not have.
pub fn endpoint(
    location: &ConfigLocation,
    env: &Environment,
    url: Option<&str>,
    token: Option<&str>,
) -> Result<Endpoint, ConfigError> {
    let (text, label, base_dir) = match location {
        ConfigLocation::File(p) => (
            std::fs::read_to_string(p).map_err(|e| {
                ConfigError::file(
                    &p.display().to_string(),
                    format!("cannot read the config: {e}"),
                    Some("check the path and that you may read it (sudo -u blog-poster …)".into()),
                )
            })?,
            p.display().to_string(),
            p.parent().map(Path::to_path_buf),
        ),
        ConfigLocation::Embedded => (String::new(), crate::config::EMBEDDED_LABEL.into(), None),
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        ConfigError::file(
            &label,
            format!("not valid TOML: {e}"),
            Some("run `blog-poster config check`".into()),
        )
    })?;
    let resolve = |p: &str| {
        let p = PathBuf::from(p);
        match (&base_dir, p.is_relative()) {
            (Some(b), true) => b.join(p),
            _ => p,
        }
    };
    let listen = table
        .get("http")
        .and_then(|h| h.get("listen"))
        .and_then(|l| l.as_str())
        .unwrap_or("127.0.0.1:8080");
    let mut addr: SocketAddr = listen.parse().map_err(|_| {
        ConfigError::file(
            &label,
            format!("[http] listen = \"{listen}\" is not an address:port"),
            Some("run `blog-poster config check`".into()),
        )
    })?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let data_dir = table
        .get("data_dir")
        .and_then(|d| d.as_str())
        .map(resolve)
        .or_else(|| env.default_data_dir())
        .unwrap_or_else(|| PathBuf::from("/var/lib/blog-poster"));
    let token_file = table
        .get("tui")
        .and_then(|t| t.get("token_file"))
        .and_then(|f| f.as_str())
        .map_or_else(|| data_dir.join("tui.token"), resolve);
    let (token, token_origin) = match token.filter(|t| !t.trim().is_empty()) {
        Some(t) => (
            Some(t.trim().to_string()),
            Some("--token or $BLOG_POSTER_TOKEN".to_string()),
        ),
        None => match std::fs::read_to_string(&token_file) {
            Ok(s) if !s.trim().is_empty() => (
                s.lines().next().map(|l| l.trim().to_string()),
                Some(token_file.display().to_string()),
            ),
            _ => (None, None),
        },
    };
    Ok(Endpoint {
        base_url: url.map_or_else(
            || format!("http://{addr}"),
            |u| u.trim_end_matches('/').to_string(),
        ),
        token,
        token_origin,
        token_file,
    })
}

/// How often the visible tab refreshes by itself.
pub const REFRESH: Duration = Duration::from_secs(5);

/// Runs the TUI on the real terminal until the operator quits.
pub fn run(endpoint: Endpoint) -> Result<(), TuiError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    let client = client::ApiClient::new(&endpoint.base_url, endpoint.token.clone())
        .map_err(|e| TuiError::Client(e.to_string()))?;
    let (cmd_tx, cmd_rx) = mpsc::channel::<Command>();
    let (ev_tx, ev_rx) = mpsc::channel::<Event>();
    let io = std::thread::spawn(move || client::worker(client, cmd_rx, ev_tx));
    let mut app = App::new(&endpoint.base_url);
    if endpoint.token.is_none() {
        app.message = Some((
            true,
            format!(
                "no token: pass --token, set $BLOG_POSTER_TOKEN or write one to {}",
                endpoint.token_file.display()
            ),
        ));
    }
    // ratatui::try_init enters raw mode and the alternate screen and
    // installs a panic hook that restores the terminal before the message.
    let mut terminal = ratatui::try_init().map_err(|e| TuiError::Terminal(e.to_string()))?;
    // Debug builds only: lets the tests prove the panic hook restores the
    // terminal (raw mode off, main screen back).
    #[cfg(debug_assertions)]
    if std::env::var_os("BLOG_POSTER_TUI_TEST_PANIC").is_some() {
        let _ = terminal.draw(|f| ui::draw(f, &app));
        panic!("test panic requested by BLOG_POSTER_TUI_TEST_PANIC");
    }
    let result = run_app(
        &mut terminal,
        &mut app,
        &cmd_tx,
        &ev_rx,
        read_terminal_event,
    );
    ratatui::restore();
    let _ = cmd_tx.send(Command::Quit);
    drop(cmd_tx);
    let _ = io.join();
    result
}

/// One terminal event, waiting at most `timeout`.
fn read_terminal_event(timeout: Duration) -> Result<Option<Event>, TuiError> {
    let err = |e: std::io::Error| TuiError::Terminal(e.to_string());
    if !event::poll(timeout).map_err(err)? {
        return Ok(None);
    }
    Ok(match event::read().map_err(err)? {
        TermEvent::Key(k) if k.kind == KeyEventKind::Press => Some(Event::Key(k)),
        _ => None,
    })
}

/// The main loop, generic over the backend and the input source so tests
/// can drive it: draw, then apply API results, terminal events and ticks.
pub fn run_app<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    commands: &mpsc::Sender<Command>,
    results: &mpsc::Receiver<Event>,
    mut input: impl FnMut(Duration) -> Result<Option<Event>, TuiError>,
) -> Result<(), TuiError>
where
    B::Error: std::fmt::Display,
{
    let send = |cmds: Vec<Command>| {
        for c in cmds {
            let _ = commands.send(c);
        }
    };
    send(vec![Command::Fetch(app.tab())]);
    let mut last_tick = Instant::now();
    while !app.quit {
        terminal
            .draw(|f| ui::draw(f, app))
            .map_err(|e| TuiError::Terminal(e.to_string()))?;
        while let Ok(ev) = results.try_recv() {
            send(app.update(ev));
        }
        if let Some(ev) = input(Duration::from_millis(100))? {
            // A key clears the last message (errors stay until the next key).
            if matches!(ev, Event::Key(_)) && app.modal.is_none() {
                app.message = None;
            }
            send(app.update(ev));
        }
        if last_tick.elapsed() >= REFRESH {
            last_tick = Instant::now();
            send(app.update(Event::Tick));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
