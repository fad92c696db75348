//! `runlog exec` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog exec`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog exec`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog exec is not available yet")
}
