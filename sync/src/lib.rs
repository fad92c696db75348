//! runlog-sync: the wire format, the sync agent and the workspace server.
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
