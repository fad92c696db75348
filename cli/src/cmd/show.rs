//! `runlog show` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog show`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog show`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog show is not available yet")
}
