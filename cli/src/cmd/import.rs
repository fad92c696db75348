//! `runlog import`: runs from other tools. Today: `runlog import tensorboard DIR` ([`super::tensorboard`]).

use super::Global;
use std::process::ExitCode;

/// Arguments of `runlog import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to import from.
    #[command(subcommand)]
    pub from: From,
}

/// Sources to import from.
#[derive(Debug, clap::Subcommand)]
pub enum From {
    /// TensorBoard event files: every directory holding *tfevents* files becomes a run (idempotent).
    Tensorboard(super::tensorboard::ImportArgs),
}

/// Runs `runlog import`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    match args.from {
        From::Tensorboard(a) => super::tensorboard::import(a, g),
    }
}
