//! `runlog metrics` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog metrics`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog metrics`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog metrics is not available yet")
}
