//! runlog-wire: what a runlog client and a runlog server share, and nothing else. No I/O, no HTTP, no storage.
//!
//! - [`batch`]: batches of records with stable ids, canonical msgpack, named by blake3 ([`BatchId`]); the JSON
//!   request and answer bodies of the HTTP API ([`BatchReply`], [`MissingRequest`], [`ErrorBody`], ...).
//! - [`points`]: the packed encoding of scalar points, the wire's own (not the store's chunk layout).
//! - [`limits`]: the [`ServiceLimits`] a server publishes and a client fits.
//! - [`chart`]: charts in Azure ML's schemas (confusion matrix, accuracy table, predictions, residuals), checked.
//! - [`json`]: the one JSON spelling of values (non-finite floats as `"NaN"`, `"Infinity"`, `"-Infinity"`).
//!
//! ```
//! use runlog_wire::{Batch, Body, WIRE_VERSION, WireRecord, points};
//!
//! let pts = [points::Point { step: 0, at: 1_700_000_000_000, value: 0.25 }];
//! let batch = Batch {
//!     version: WIRE_VERSION,
//!     store: "0123456789abcdef0123456789abcdef".into(),
//!     records: vec![WireRecord {
//!         seq: 7, part: 0, rows: 1, run: "fedcba9876543210fedcba9876543210".into(), name: "loss".into(),
//!         at: 1_700_000_000_000, step: Some(0), body: Body::Scalars(points::encode(&pts)),
//!     }],
//! };
//! let encoded = batch.encode();
//! assert_eq!(encoded.id, batch.encode().id, "the same batch always has the same name");
//! let back = Batch::decode(&encoded.bytes).expect("decodes");
//! let Body::Scalars(bytes) = &back.records[0].body else { unreachable!() };
//! assert_eq!(points::decode(bytes).expect("points").len(), 1);
//! ```
//!
//! Invariants: wire types are not store types (the client converts); a batch always encodes to the same bytes;
//! decoding never panics; a change of any encoding bumps its version and fails a golden test first.

pub mod batch;
pub mod chart;
mod error;
pub mod json;
pub mod limits;
pub mod points;

pub use batch::{
    Batch, BatchId, BatchReply, Body, EncodedBatch, ErrorBody, MissingReply, MissingRequest, Rejection, WIRE_VERSION,
    WireRecord, WireValue,
};
pub use error::{Error, Result, truncate};
pub use limits::ServiceLimits;
