//! The blog-poster binary: parse the command line, run it, map the outcome
//! to an exit code (0 ok, 1 runtime failure, 2 usage or config error).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = blog_poster::cli::Cli::parse();
    match blog_poster::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let text = format!("{:#}", e.error);
            eprintln!("error: {}", blog_poster::redact::text(&text));
            ExitCode::from(e.code)
        }
    }
}
