//! Log output through tracing: human-readable with colours on a terminal,
//! plain lines for journald (which adds its own timestamps), or JSON.
//! `RUST_LOG` overrides the configured level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber, and the panic hook that logs panics
/// through it (see [`crate::fence`]). Safe to call twice (the second call is
/// a no-op), which tests rely on.
pub fn init(log: &LogConfig) {
    crate::fence::install_panic_hook();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let tty = std::io::stderr().is_terminal();
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let format = match log.format {
        LogFormat::Auto if tty => LogFormat::Human,
        LogFormat::Auto => LogFormat::Plain,
        f => f,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Plain if journald => builder
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .try_init(),
        LogFormat::Plain => builder.with_ansi(false).with_target(false).try_init(),
        LogFormat::Human | LogFormat::Auto => builder
            .with_ansi(tty)
            .with_target(false)
            .compact()
            .try_init(),
    };
}
