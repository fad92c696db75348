//! `runlog remote` (not written yet).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog remote`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `runlog remote`.
pub fn run(_args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("runlog remote is not available yet")
}
