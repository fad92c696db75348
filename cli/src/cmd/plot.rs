//! `runlog plot` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog plot`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog plot`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog plot is not available yet")
}
