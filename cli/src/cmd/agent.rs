//! `runlog agent` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog agent`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog agent`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog agent is not available yet")
}
