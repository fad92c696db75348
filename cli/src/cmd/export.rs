//! `runlog export` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog export`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog export`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog export is not available yet")
}
