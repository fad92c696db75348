//! runlog: an embeddable, local-first metric store for ML training.
//!
//! Add this one crate. A run logs scalars, lists, rows, tables, images, params, tags, properties, texts, log lines,
//! files and child runs into one append-only SQLite file next to the script ([`Store`]), in well under a microsecond
//! per call. With the `sync` feature (on by default) the [`sync`] module uploads the store to a runlog workspace server
//! or an MLflow tracking server in the background.
//!
//! ```
//! # fn main() -> runlog::Result<()> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = runlog::Store::open(dir.path().join("runlog.db"))?;
//! let run = store.start_run("mnist")?;
//! run.log("loss", 0.5)?;
//! run.log_row("eval", [("epoch", runlog::Value::from(1)), ("acc", runlog::Value::from(0.91))])?;
//! run.complete()?;
//! let summary = store.reader().summary(run.id())?;
//! assert_eq!(summary[0].last, 0.5);
//! # Ok(()) }
//! ```

pub use runlog_core::*;

/// Uploading stores to a workspace (re-export of `runlog-sync`).
#[cfg(feature = "sync")]
pub use runlog_sync as sync;
