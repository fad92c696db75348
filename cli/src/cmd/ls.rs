//! `runlog ls` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog ls`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog ls`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog ls is not available yet")
}
