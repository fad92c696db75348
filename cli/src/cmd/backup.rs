//! `runlog backup SRC DEST`: a consistent copy of a store that may still be written (SQLite's online backup API),
//! as a single new file. `cp` of a store being written may copy a torn page or miss what is still in its WAL.

use super::Global;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `runlog backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store to copy.
    pub src: PathBuf,
    /// The new file to write; it must not exist.
    pub dest: PathBuf,
}

/// Runs `runlog backup`.
pub fn run(args: Args, _g: &Global) -> anyhow::Result<ExitCode> {
    let Args { src, dest } = args;
    runlog_core::store::backup(&src, &dest)
        .with_context(|| format!("failed to back up {} to {}", src.display(), dest.display()))?;
    let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    println!("backed up {} to {} ({size} bytes)", src.display(), dest.display());
    Ok(ExitCode::SUCCESS)
}
