//! `runlog plot RUN NAME...`: a line chart of scalar series in the terminal, or a PNG with `--png FILE`.

use super::Global;
use crate::common;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `runlog plot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: id, unambiguous id prefix, or experiment/name.
    pub run: String,
    /// Scalar series to draw (at least one).
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Write a PNG to this file instead of drawing in the terminal.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Chart width: terminal columns, or pixels with --png (default: 100 columns / 1000 pixels).
    #[arg(long)]
    pub width: Option<u32>,
    /// Chart height: terminal rows, or pixels with --png (default: 20 rows / 500 pixels).
    #[arg(long)]
    pub height: Option<u32>,
}

/// Runs `runlog plot`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let (reader, info) = common::open_run(&g.store_path(), &args.run)?;
    let _names = super::metrics::scalar_names(&reader, &info.id, &args.names)?;
    anyhow::bail!("runlog plot is not available yet")
}
