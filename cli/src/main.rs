//! The `runlog` command-line tool: inspect stores, wrap scripts, serve the UI and the workspace, sync.
//!
//! Raw arguments are parsed in [`args`]; each subcommand lives in its own module under [`cmd`] and gets the parsed
//! global options. Errors are printed once, on stderr, as one line `runlog: <error with context>`, with the exit code
//! of [`common::code`].

mod args;
mod cmd;
mod common;
mod filter;
mod tb;
mod ui;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        // A closed pipe (`runlog metrics ... | head`) is the reader saying it has enough, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let msg = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!("runlog: {msg}");
            ExitCode::from(common::exit_code_of(&e))
        }
    }
}
