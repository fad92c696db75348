//! The `runlog` command-line tool: inspect stores, wrap scripts, serve the UI and the workspace, sync.
//!
//! Raw arguments are parsed in [`args`]; each subcommand lives in its own module under [`cmd`] and gets the parsed
//! global options. Errors are printed once, on stderr, as `runlog: <error with context>`, with a non-zero exit code.

mod args;
mod cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("runlog: {e:#}");
            ExitCode::from(1)
        }
    }
}
