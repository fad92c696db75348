//! The sync agent: moves a store's records and blobs to remotes, exactly once, whatever crashes, outages and rate
//! limits happen on the way.
//!
//! - [`state`]: the policy, a pure state machine (what to send next, when to back off).
//! - [`driver`]: the effects, a tokio loop per store and remote ([`Syncer`]).

pub mod driver;
pub mod state;

pub use driver::{AgentOptions, PassSummary, Syncer};
pub use state::Backoff;
