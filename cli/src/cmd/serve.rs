//! `runlog serve` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog serve`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog serve is not available yet")
}
