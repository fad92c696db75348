//! Batches (wire version [`WIRE_VERSION`], docs/protocol.md): records with stable ids, encoded canonically as msgpack
//! and named by the blake3 hash of their bytes.
//!
//! A record's id is `(store, seq, part)`: the store's id, the record's sequence number in that store, and for scalar
//! records the offset of the first point sent (a stored chunk may travel in several parts to fit a remote's
//! rows-per-batch limit). Encoding a [`Batch`] always gives the same bytes (structs as arrays, enums as one-key maps,
//! no unordered maps), so its [`BatchId`] is stable and sending it twice names the same thing.
//!
//! Decoding never panics on arbitrary bytes: it returns [`Error::Format`].

use crate::error::{Error, Result, truncate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The version of the wire format this runlog writes and reads.
pub const WIRE_VERSION: u32 = 1;

/// A batch's name: the blake3 hash of its encoded bytes, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchId(String);

impl BatchId {
    /// The id of encoded batch bytes.
    pub fn of(bytes: &[u8]) -> BatchId {
        BatchId(blake3::hash(bytes).to_hex().to_string())
    }

    /// Parses 64 hex digits.
    pub fn parse(s: &str) -> Result<BatchId> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(BatchId(s.to_ascii_lowercase()))
        } else {
            Err(Error::Format(format!("batch id {:?} is not 64 hexadecimal digits", truncate(s, 70))))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A typed value on the wire (msgpack keeps integers, floats, booleans and strings apart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (NaN and infinities kept).
    Float(f64),
    /// A string.
    Str(String),
}

impl WireValue {
    /// The string, for string values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            WireValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Same value, with NaN equal to NaN.
    pub fn same(&self, other: &WireValue) -> bool {
        match (self, other) {
            (WireValue::Float(a), WireValue::Float(b)) => a.to_bits() == b.to_bits() || a == b,
            (a, b) => a == b,
        }
    }
}

/// What a record says, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// A run was created.
    Run {
        /// Experiment name.
        experiment: String,
        /// Display name.
        name: String,
        /// Parent run id, for child runs.
        parent: Option<String>,
    },
    /// A run's status changed (`running`, `completed`, `failed`, `cancelled`, or `crashed`).
    Status {
        /// The new status.
        status: String,
        /// Why, for failures.
        reason: Option<String>,
    },
    /// A param (record name = key).
    Param(WireValue),
    /// A tag (record name = key; later tags of a key win).
    Tag(WireValue),
    /// A write-once property (record name = key).
    Property(WireValue),
    /// A metric description (record name = metric name).
    Description(WireValue),
    /// Scalar points of the series named by the record, packed by [`crate::points::encode`].
    Scalars(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A row of named columns.
    Row(Vec<(String, WireValue)>),
    /// A table of equal-length named columns.
    Table(Vec<(String, Vec<WireValue>)>),
    /// An image whose bytes are the blob `hash`.
    Image {
        /// Blob hash (blake3, hex).
        hash: String,
        /// `png` or `jpeg`.
        format: String,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Size in bytes.
        size: u64,
        /// Caption.
        description: String,
    },
    /// A text.
    Text(String),
    /// A captured log line (record name = stream).
    Log {
        /// Level (`INFO`, `OUT`, ...).
        level: String,
        /// Logger target.
        target: String,
        /// The line.
        message: String,
    },
    /// A file whose bytes are the blob `hash` (record name = file name).
    File {
        /// Blob hash.
        hash: String,
        /// Size in bytes.
        size: u64,
    },
    /// A chart in one of Azure ML's schemas: the whole document `{"schema_type", "schema_version", "data"}` as JSON
    /// text, checked by [`crate::chart::Chart::parse`] (record name = chart name).
    Chart(String),
}

impl Body {
    /// The stable lowercase kind name (`run`, `status`, `param`, `scalars`, `row`, ...), as in the read API.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Run { .. } => "run",
            Body::Status { .. } => "status",
            Body::Param(_) => "param",
            Body::Tag(_) => "tag",
            Body::Property(_) => "property",
            Body::Description(_) => "description",
            Body::Scalars(_) => "scalars",
            Body::Row(_) => "row",
            Body::Table(_) => "table",
            Body::Image { .. } => "image",
            Body::Text(_) => "text",
            Body::Log { .. } => "log",
            Body::File { .. } => "file",
            Body::Chart(_) => "chart",
        }
    }

    /// Whether the record is a metric (its name counts toward names per run and rows per name).
    pub fn is_metric(&self) -> bool {
        matches!(
            self,
            Body::Scalars(_) | Body::Row(_) | Body::Table(_) | Body::Image { .. } | Body::Text(_) | Body::Chart(_)
        )
    }

    /// The blob the record refers to (images, files).
    pub fn blob(&self) -> Option<&str> {
        match self {
            Body::Image { hash, .. } | Body::File { hash, .. } => Some(hash),
            _ => None,
        }
    }
}

/// One record on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireRecord {
    /// Sequence number in the store.
    pub seq: i64,
    /// For scalars: the offset of the first point within the stored chunk; 0 otherwise.
    pub part: u32,
    /// Rows this record holds: points (scalars), table rows (tables), 1 otherwise.
    pub rows: u32,
    /// The run's global id.
    pub run: String,
    /// Metric, key, stream or file name (empty for run and status records).
    pub name: String,
    /// When, ms since the epoch.
    pub at: i64,
    /// Step (rows, tables, images, texts) or first step (scalars).
    pub step: Option<i64>,
    /// What it says.
    pub body: Body,
}

impl WireRecord {
    /// A rough upper bound of the record's encoded size, for packing batches under a byte limit.
    pub fn size_hint(&self) -> usize {
        let body = match &self.body {
            Body::Scalars(b) => b.len(),
            Body::Row(cols) => cols.iter().map(|(k, v)| k.len() + value_size(v)).sum(),
            Body::Table(cols) => {
                cols.iter().map(|(k, vs)| k.len() + 5 + vs.iter().map(value_size).sum::<usize>()).sum()
            }
            Body::Text(t) | Body::Chart(t) => t.len(),
            Body::Log { level, target, message } => level.len() + target.len() + message.len(),
            Body::Run { experiment, name, parent } => {
                experiment.len() + name.len() + parent.as_ref().map_or(0, String::len)
            }
            Body::Status { reason, .. } => 16 + reason.as_ref().map_or(0, String::len),
            Body::Param(v) | Body::Tag(v) | Body::Property(v) | Body::Description(v) => value_size(v),
            Body::Image { description, .. } => 120 + description.len(),
            Body::File { .. } => 80,
        };
        body + self.run.len() + self.name.len() + 64
    }
}

fn value_size(v: &WireValue) -> usize {
    match v {
        WireValue::Str(s) => s.len() + 5,
        _ => 9,
    }
}

/// A batch: records of one store, in sequence order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The wire format version ([`WIRE_VERSION`]).
    pub version: u32,
    /// The store the records come from (its id).
    pub store: String,
    /// The records.
    pub records: Vec<WireRecord>,
}

impl Batch {
    /// Encodes the batch canonically and names it.
    pub fn encode(&self) -> EncodedBatch {
        // Serializing plain structs into a Vec cannot fail.
        let bytes = rmp_serde::to_vec(self).unwrap_or_default();
        EncodedBatch { id: BatchId::of(&bytes), bytes: bytes.into() }
    }

    /// Decodes batch bytes; never panics. Checks the version and that the store id is 32 hex digits.
    pub fn decode(bytes: &[u8]) -> Result<Batch> {
        let b: Batch = rmp_serde::from_slice(bytes).map_err(|e| Error::Format(format!("malformed batch: {e}")))?;
        if b.version != WIRE_VERSION {
            return Err(Error::Format(format!(
                "batch wire version {} is not supported (this runlog speaks version {WIRE_VERSION})",
                b.version
            )));
        }
        if b.store.len() != 32 || !b.store.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Format(format!(
                "batch store id {:?} is not 32 hexadecimal digits",
                truncate(&b.store, 40)
            )));
        }
        Ok(b)
    }

    /// Total rows of the batch's records.
    pub fn rows(&self) -> u64 {
        self.records.iter().map(|r| u64::from(r.rows)).sum()
    }
}

/// A batch's bytes and their name.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedBatch {
    /// The blake3 of `bytes`.
    pub id: BatchId,
    /// The canonical msgpack.
    pub bytes: bytes::Bytes,
}

/// The request body of `POST /api/v1/blobs/missing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingRequest {
    /// Hashes the client is about to refer to.
    pub hashes: Vec<String>,
}

/// The answer of `POST /api/v1/blobs/missing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingReply {
    /// The hashes the workspace does not hold.
    pub missing: Vec<String>,
}

/// A record the remote refused, with a machine-readable code and a reason for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The record's sequence number.
    pub seq: i64,
    /// The record's part.
    pub part: u32,
    /// Machine-readable (`too_many_names`, `too_many_rows`, `name_too_long`, ...; docs/protocol.md).
    pub code: String,
    /// For people: names the value and the limit.
    pub reason: String,
}

/// The answer of `POST /api/v1/batches/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReply {
    /// The batch's id.
    pub batch: String,
    /// Records applied now.
    pub applied: u64,
    /// Records the workspace already held (a resend): success, nothing changed.
    pub duplicates: u64,
    /// Records refused, each with its reason; the rest of the batch was applied.
    pub rejected: Vec<Rejection>,
}

/// The error body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: String,
    /// For people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Batch {
        Batch {
            version: WIRE_VERSION,
            store: "0123456789abcdef0123456789abcdef".into(),
            records: vec![
                WireRecord {
                    seq: 1,
                    part: 0,
                    rows: 1,
                    run: "r".into(),
                    name: String::new(),
                    at: 5,
                    step: None,
                    body: Body::Run { experiment: "e".into(), name: "n".into(), parent: None },
                },
                WireRecord {
                    seq: 2,
                    part: 0,
                    rows: 1,
                    run: "r".into(),
                    name: "eval".into(),
                    at: 6,
                    step: Some(0),
                    body: Body::Row(vec![
                        ("acc".into(), WireValue::Float(f64::NAN)),
                        ("epoch".into(), WireValue::Int(3)),
                        ("ok".into(), WireValue::Bool(true)),
                        ("tag".into(), WireValue::Str("x".into())),
                    ]),
                },
            ],
        }
    }

    #[test]
    fn encoding_is_stable_and_round_trips() {
        let a = sample().encode();
        let b = sample().encode();
        assert_eq!(a.id, b.id);
        assert_eq!(a.bytes, b.bytes);
        let back = Batch::decode(&a.bytes).expect("decodes");
        assert_eq!(back.encode().id, a.id);
        match &back.records[1].body {
            Body::Row(cols) => {
                assert!(cols[0].1.same(&WireValue::Float(f64::NAN)));
                assert_eq!(cols[1].1, WireValue::Int(3));
                assert_eq!(cols[2].1, WireValue::Bool(true));
            }
            other => panic!("not a row: {other:?}"),
        }
    }

    /// Golden fixture: the id of this batch must not change without a wire version bump (docs/protocol.md).
    #[test]
    fn golden_batch_id_of_version_1() {
        let id = sample().encode().id;
        assert_eq!(id.as_str(), GOLDEN_V1, "the wire encoding changed: bump WIRE_VERSION and document it");
    }

    const GOLDEN_V1: &str = "679a120b3985f22707b86ba9b38ece9ba6449dffa7b361710a4eb8c78b3d3aa8";

    #[test]
    fn wrong_version_and_store_are_refused() {
        let mut b = sample();
        b.version = 99;
        let e = Batch::decode(&b.encode().bytes).expect_err("refused");
        assert!(e.to_string().contains("version 99"), "{e}");
        let mut b = sample();
        b.store = "nope".into();
        assert!(Batch::decode(&b.encode().bytes).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = Batch::decode(&bytes);
        }

        #[test]
        fn decoding_mutated_batches_never_panics(i in 0usize..400, b in proptest::prelude::any::<u8>()) {
            let mut bytes = sample().encode().bytes.to_vec();
            let n = bytes.len();
            bytes[i % n] = b;
            let _ = Batch::decode(&bytes);
            bytes.truncate(i % n);
            let _ = Batch::decode(&bytes);
        }
    }
}
