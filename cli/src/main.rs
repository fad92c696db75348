//! The `runlog` binary: the command line of [`runlog_cli::main`].

use std::process::ExitCode;

fn main() -> ExitCode {
    runlog_cli::main(std::env::args_os())
}
