//! runlog-core: the local, append-only metric store of runlog.
//!
//! One SQLite file holds experiments, runs and everything they log. Log calls validate on the caller's thread and hand
//! the data to one writer thread per process, which commits in groups; [`Store::flush`] waits for durability.
//!
//! ```
//! # fn main() -> runlog_core::Result<()> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = runlog_core::Store::open(dir.path().join("runlog.db"))?;
//! let run = store.start_run("mnist")?;
//! for step in 0..100 {
//!     run.log("loss", 1.0 / (step as f64 + 1.0))?;
//! }
//! run.log_param("lr", 0.01)?;
//! run.complete()?;
//! let points = store.reader().series(run.id(), "loss")?;
//! assert_eq!(points.len(), 100);
//! assert_eq!(points[99].step, 99);
//! # Ok(()) }
//! ```

pub mod chunk;
mod error;
pub mod limits;
pub mod logging;
mod outbox;
pub mod read;
pub mod record;
mod run;
pub mod store;
#[cfg(feature = "system-metrics")]
pub mod system;
mod types;

pub use error::{Error, ErrorKind, Result};
pub use limits::Limits;
pub use outbox::{Rejection, RemoteStatus, Seq, StoreRemote, check_remote_name};
pub use read::{
    Entry, ExperimentDetails, ExperimentInfo, MetricInfo, MetricKind, MetricSummary, RawRecord, Reader, RunInfo,
};
pub use record::{FileRef, ImageFormat, ImageRef, Kind, LogLine, Row, Table, Text};
pub use run::{ENV_RUN_ID, ImageSource, Run};
pub use runlog_wire::chart::{Chart, ChartType};
pub use store::{CommitSubscription, Durability, ENV_STORE, RunObserver, Store, StoreBuilder};
pub use types::{BlobHash, Point, RunId, RunStatus, StoreId, Value, now_ms};
