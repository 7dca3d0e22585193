//! Log output through tracing: human-readable with colours on a terminal,
//! plain lines for journald (which adds its own timestamps), or JSON.
//! `RUST_LOG` overrides the configured level. Every line passes through
//! [`crate::redact`] on its way out.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
        .with_writer(RedactedStderr);
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

/// Standard error, one redacted event at a time: the formatter writes an
/// event into a [`RedactedLine`], which masks secrets and writes it out
/// whole when dropped.
struct RedactedStderr;

impl<'a> MakeWriter<'a> for RedactedStderr {
    type Writer = RedactedLine;

    fn make_writer(&'a self) -> RedactedLine {
        RedactedLine(Vec::with_capacity(256))
    }
}

struct RedactedLine(Vec<u8>);

impl Write for RedactedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let line = String::from_utf8_lossy(&self.0);
        let clean = crate::redact::text(&line);
        let _ = std::io::stderr().lock().write_all(clean.as_bytes());
    }
}
