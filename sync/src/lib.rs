//! runlog-sync: the wire format, the sync agent and the workspace server.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use runlog_sync::agent::{AgentOptions, Syncer};
//! use runlog_sync::remote::workspace::{ClientOptions, WorkspaceRemote};
//! use runlog_sync::server::{AppState, BackgroundServer, SqliteStorage, Storage};
//! use std::sync::Arc;
//!
//! // A workspace server on loopback, and a token for its first workspace.
//! let dir = tempfile::tempdir()?;
//! let storage = Arc::new(SqliteStorage::open(&dir.path().join("server"))?);
//! let token = storage.create_workspace("team")?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let state = AppState::new(storage.clone() as Arc<dyn Storage>, runlog_sync::ServiceLimits::default());
//! let server = BackgroundServer::start(listener, state)?;
//!
//! // A store with a run, synced in one pass.
//! let store = runlog_core::Store::open(dir.path().join("runlog.db"))?;
//! let run = store.start_run("mnist")?;
//! for step in 0..1000 {
//!     run.log("loss", 1.0 / (step as f64 + 1.0))?;
//! }
//! run.complete()?;
//! let remote = Arc::new(WorkspaceRemote::new(server.url(), &token, &ClientOptions::default())?);
//! let (_stop, stop_rx) = tokio::sync::watch::channel(false);
//! let mut syncer = Syncer::new(store.clone(), "team", remote, AgentOptions::default(), stop_rx)?;
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let summary = rt.block_on(syncer.pass(None, &mut |_, _| {}))?;
//! assert!(summary.complete);
//!
//! // The server holds every point.
//! let ws = storage.workspace_for_token(&token)?.expect("the token opens the workspace");
//! assert_eq!(storage.series(ws, run.id().as_str(), "loss")?.len(), 1000);
//! # Ok(()) }
//! ```
//!
//! - [`batch`]: the wire format (canonical msgpack batches named by their blake3 hash).
//! - [`limits`]: the service limits a remote publishes and the agent fits.
//! - [`remote`]: the [`remote::Remote`] trait and runlog's workspace server as the first remote.
//!
//! Architecture invariants: wire types are not core types; a batch always encodes to the same bytes; uploading
//! anything twice is a success; the agent's policy is a pure state machine, separate from its tokio loop.

pub mod agent;
pub mod batch;
pub mod bundle;
pub mod config;
mod error;
mod install;
pub mod limits;
pub mod remote;
pub mod server;

pub use error::{Error, ErrorKind, Result};
pub use install::{AgentHandle, DEFAULT_GRACE, InstallOptions, install, install_with};
pub use limits::ServiceLimits;
