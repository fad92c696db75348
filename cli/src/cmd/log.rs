//! `runlog log` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog log`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog log`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog log is not available yet")
}
