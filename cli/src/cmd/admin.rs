//! `runlog admin` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog admin`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog admin`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog admin is not available yet")
}
