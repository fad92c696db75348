//! The sync agent: moves a store's records and blobs to remotes, exactly once, whatever crashes, outages and rate
//! limits happen on the way.
//!
//! - [`state`]: the policy, a pure state machine (what to send next, when to back off).
//! - [`driver`]: the effects, a tokio loop per store and remote ([`Syncer`]).
//! - [`ledger`]: the bookkeeping in the store (acknowledgements, rejections, blobs, events), append-only.

pub mod driver;
pub mod ledger;
pub mod state;

pub use driver::{AgentOptions, PassSummary, Syncer};
pub use state::Backoff;
