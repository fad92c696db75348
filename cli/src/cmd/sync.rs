//! `runlog sync` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog sync`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog sync`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog sync is not available yet")
}
