//! `runlog status` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog status`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog status`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog status is not available yet")
}
