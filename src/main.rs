//! The blog-poster binary: parse the command line, run it, map the outcome
//! to an exit code (0 ok, 1 runtime failure, 2 usage or config error, 141
//! stdout closed by its reader).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = blog_poster::cli::Cli::parse();
    match blog_poster::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        // The reader went away: nothing to say, as with SIGPIPE.
        Err(e) if e.code == blog_poster::cli::exit::CLOSED_OUTPUT => ExitCode::from(e.code),
        Err(e) => {
            let text = format!("{:#}", e.error);
            blog_poster::errln!("error: {}", blog_poster::redact::text(&text));
            ExitCode::from(e.code)
        }
    }
}
