//! `runlog bundle` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog bundle`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog bundle`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog bundle is not available yet")
}
