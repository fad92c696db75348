//! The command line's raw shape (clap). Validation beyond parsing happens in the subcommands.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit codes, shown under every `--help`.
pub const EXIT_CODES: &str = "Runs are named by id, an unambiguous id prefix, or experiment/name.

Exit codes:
  0    success
  1    any other error (I/O, a bad value, a failed write)
  2    the command line could not be parsed
  3    the store cannot be read: missing, not a runlog store, or written by a newer runlog
  4    the run or metric does not exist, or a run prefix is ambiguous
  5    runlog log: some input lines were malformed and skipped
  N    runlog exec: the command's own exit code (128 + signal if a signal ended it; 130 after Ctrl-C)

Errors are printed on stderr as one line starting with \"runlog: \". Colour is used on a terminal (not TERM=dumb) or
with CLICOLOR_FORCE set, never with NO_COLOR set, CLICOLOR=0 or --no-color.";

/// runlog: a local-first metric store for ML training.
#[derive(Debug, Parser)]
#[command(name = "runlog", version, about, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    /// The store file (default: $RUNLOG_STORE, else ./runlog.db).
    #[arg(long, global = true, env = "RUNLOG_STORE")]
    pub store: Option<PathBuf>,
    /// Never colour the output (colour is used on a terminal or with CLICOLOR_FORCE, never when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each one's arguments live in its module.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List experiments and runs.
    Ls(crate::cmd::ls::Args),
    /// Show one run: params, tags, properties, metrics, images, files, children, log tail.
    Show(crate::cmd::show::Args),
    /// Print a run's series.
    Metrics(crate::cmd::metrics::Args),
    /// Draw a run's series in the terminal or into a PNG.
    Plot(crate::cmd::plot::Args),
    /// Export a run's series as CSV, JSON lines or Parquet, or the run as TensorBoard event files.
    Export(crate::cmd::export::Args),
    /// Import runs from other tools (TensorBoard event files).
    Import(crate::cmd::import::Args),
    /// Run a command as a run: capture its output, pass it the run, end the run from its exit code.
    Exec(crate::cmd::exec::Args),
    /// Log from any language: JSON lines on stdin.
    Log(crate::cmd::log::Args),
    /// Serve the local web UI.
    Ui(crate::cmd::ui::Args),
    /// Serve a workspace that agents sync into.
    Serve(crate::cmd::serve::Args),
    /// Administer a workspace server's data directory (workspaces, tokens).
    Admin(crate::cmd::admin::Args),
    /// Upload what the remotes have not acknowledged, once.
    Sync(crate::cmd::sync::Args),
    /// Keep syncing stores as they grow.
    Agent(crate::cmd::agent::Args),
    /// Manage remotes.
    Remote(crate::cmd::remote::Args),
    /// Show sync status per remote.
    Status(crate::cmd::status::Args),
    /// Move unsynced data through a file (air-gapped transfer).
    Bundle(crate::cmd::bundle::Args),
    /// Copy a store consistently while it may still be written: `runlog backup SRC DEST`.
    Backup(crate::cmd::backup::Args),
}
