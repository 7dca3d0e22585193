//! Everything a command prints to stdout goes through here ([`out!`],
//! [`outln!`], [`Stdout`]), so a reader that goes away —
//! `blog-poster article list | head -1` — ends the command quietly with exit
//! status 141, the shell's convention for SIGPIPE, instead of the panic
//! `println!` raises ("failed printing to stdout: Broken pipe"). The Rust
//! runtime ignores SIGPIPE, so the closed pipe shows up as an `EPIPE` write
//! error; it is turned into [`OutputError::Closed`] here and into the exit
//! status in `cli::run`. Owns stdout only: errors go to stderr in `main`.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a command whose output was closed: 128 + SIGPIPE.
pub const CLOSED_EXIT: u8 = 141;

/// Set once any write to stdout found the reader gone.
static CLOSED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader closed the pipe: not worth a message.
    #[error("standard output was closed by its reader")]
    Closed,
    #[error("cannot write to standard output: {0}")]
    Io(io::Error),
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CLOSED.store(true, Ordering::SeqCst);
            OutputError::Closed
        } else {
            OutputError::Io(e)
        }
    }
}

/// Writes to stdout and flushes, so a closed pipe is found at the write that
/// hit it, not at exit. Use through [`out!`] and [`outln!`].
pub fn write_out(args: std::fmt::Arguments<'_>) -> Result<(), OutputError> {
    if CLOSED.load(Ordering::SeqCst) {
        return Err(OutputError::Closed);
    }
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()?;
    Ok(())
}

/// Whether a write to stdout found the reader gone (also through
/// [`Stdout`], whose errors its users may ignore, like a progress printer).
pub fn closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// Stdout as an `io::Write` for code that takes a writer (the progress
/// printer of `run --once`): remembers a closed pipe for [`closed`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = io::stdout().lock().write(buf);
        note(&r);
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = io::stdout().lock().flush();
        note(&r);
        r
    }
}

fn note<T>(r: &io::Result<T>) {
    if let Err(e) = r
        && e.kind() == io::ErrorKind::BrokenPipe
    {
        CLOSED.store(true, Ordering::SeqCst);
    }
}

/// A line to stderr (warnings, notes beside the output) that never panics:
/// when stderr is gone too there is no one left to tell.
pub fn write_err(args: std::fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.flush();
}

/// `eprintln!` that ignores a closed stderr instead of panicking.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that returns `Result<(), OutputError>` instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` that returns `Result<(), OutputError>` instead of panicking.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}
