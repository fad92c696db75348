//! `runlog ui` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog ui`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog ui`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog ui is not available yet")
}
