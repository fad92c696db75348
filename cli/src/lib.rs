//! The `runlog` command-line tool as a library: [`main`] runs it on a list of arguments.
//!
//! The binary (`src/main.rs`) calls [`main`] with the process's arguments; the Python package calls it from its
//! `runlog` console script, so `pip install` provides the same command. Raw arguments are parsed in `args`; each
//! subcommand lives in its own module under `cmd` and gets the parsed global options. Errors are printed once, on
//! stderr, as one line `runlog: <error with context>`, with the exit code of `common::code`.

mod args;
mod cmd;
mod common;
mod filter;
mod mlflow;
mod tb;
mod ui;

use clap::Parser;
use std::ffi::OsString;
use std::process::ExitCode;

/// Names the process's rustls crypto provider (aws-lc-rs): two are compiled in (object_store's reqwest brings ring),
/// so a TLS client or server built without naming one would otherwise fail. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Runs the command line `args` (the first one is the program name) and returns its exit status. A command line that
/// does not parse, `--help` and `--version` print and exit the process, as clap does.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    install_crypto_provider();
    let cli = args::Cli::parse_from(args);
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
