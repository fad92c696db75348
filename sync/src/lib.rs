//! runlog-sync: the client side of sync, what a trainer embeds: the agent, the remotes (runlog's workspace server
//! and MLflow tracking servers), bundles for air-gapped machines, and the remote configuration.
//!
//! The wire format is [`runlog_wire`] (re-exported as [`wire`]); the workspace server is the crate `runlog-server`,
//! which a trainer never compiles.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use runlog_sync::agent::{AgentOptions, Syncer};
//! use runlog_sync::remote::workspace::{ClientOptions, WorkspaceRemote};
//! use std::sync::Arc;
//!
//! // A store with a run, synced in one pass to a workspace server.
//! let store = runlog_core::Store::open("runlog.db")?;
//! let run = store.start_run("mnist")?;
//! for step in 0..1000 {
//!     run.log("loss", 1.0 / (step as f64 + 1.0))?;
//! }
//! run.complete()?;
//! let remote = Arc::new(WorkspaceRemote::new("https://runlog.example.com", "rlt_...", &ClientOptions::default())?);
//! let (_stop, stop_rx) = tokio::sync::watch::channel(false);
//! let mut syncer = Syncer::new(store.clone(), "team", remote, AgentOptions::default(), stop_rx)?;
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let summary = rt.block_on(syncer.pass(None, &mut |_, _| {}))?;
//! assert!(summary.complete);
//! # Ok(()) }
//! ```
//!
//! - [`agent`]: the pure policy ([`agent::state`]) and the loop that carries it out ([`agent::driver`]).
//! - [`remote`]: the [`remote::Remote`] trait, the workspace server's client and the MLflow remote.
//! - [`bundle`]: export to files and import from them, through the same remotes.
//! - [`config`]: where remotes and tokens are configured, and the one rule that resolves them.
//!
//! Architecture invariants: wire types are not core types ([`convert`] is where they meet); uploading anything twice
//! is a success; the agent's policy is a pure state machine, separate from its tokio loop.

pub mod agent;
pub mod bundle;
pub mod config;
pub mod convert;
mod error;
mod install;
pub mod remote;

pub use error::{Error, ErrorKind, Result};
pub use install::{AgentHandle, DEFAULT_GRACE, InstallOptions, install, install_with};
pub use runlog_wire::{self as wire, ServiceLimits};
