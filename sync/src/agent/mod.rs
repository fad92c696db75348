//! The sync agent: moves a store's records and blobs to remotes, exactly once, whatever crashes, outages and rate
//! limits happen on the way.
//!
//! - [`state`]: the policy, a pure state machine (what to send next, when to back off).
//! - [`driver`]: the effects, a tokio loop per store and remote ([`Syncer`]).
//! - [`feed`]: where the loop's records come from and its outcomes go: a store, or a bundle being imported.

pub mod driver;
pub mod feed;
pub mod state;

pub use driver::{AgentOptions, PassSummary, Syncer};
pub use feed::{BundleFeed, Feed};
pub use state::Backoff;
