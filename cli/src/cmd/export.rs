//! `runlog export RUN`: all of a run's scalar series as CSV, JSON lines or Parquet.

use super::Global;
use crate::common;
use std::path::PathBuf;
use std::process::ExitCode;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `name,step,timestamp,value`.
    Csv,
    /// One `{"name", "step", "timestamp", "value"}` object per line.
    Jsonl,
    /// A Parquet file with columns name (string), step (int64), timestamp (int64, ms), value (double).
    Parquet,
}

/// Arguments of `runlog export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: id, unambiguous id prefix, or experiment/name.
    pub run: String,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Write to this file instead of stdout (required for parquet).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// Runs `runlog export`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let (reader, info) = common::open_run(&g.store_path(), &args.run)?;
    let _names = super::metrics::scalar_names(&reader, &info.id, &[])?;
    anyhow::bail!("runlog export is not available yet")
}
