//! TensorBoard event files: the TFRecord framing and the few protobuf messages runlog reads and writes.
//!
//! An event file is a sequence of records, each `u64 length (LE) | u32 masked CRC-32C of the length | data | u32
//! masked CRC-32C of the data`, where data is one `tensorflow.Event` protobuf. The messages below are the subset of
//! TensorFlow's `event.proto`, `summary.proto`, `tensor.proto` and the hparams plugin's `plugin_data.proto` that
//! carries scalars, images, texts and hparams, written as `prost` structs with the upstream field numbers (so no
//! protoc and no generated code in the build); fields not declared here are skipped when decoding, as protobuf
//! requires. CRC-32C comes from the `crc` crate (the iSCSI polynomial).
//!
//! This module knows files and bytes, not stores: `cmd::tensorboard` maps events to runs and back.

use std::collections::HashMap;
use std::io::{self, Read, Write};

/// Largest record accepted when reading, in bytes (TensorBoard's own reader has no limit; a corrupt length must not
/// make us allocate gigabytes).
pub const MAX_RECORD_BYTES: u64 = 256 << 20;

const CRC32C: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// TFRecord's masked CRC: the CRC rotated right by 15 bits plus a constant, so CRCs of CRCs do not collide.
pub fn masked_crc(data: &[u8]) -> u32 {
    let c = CRC32C.checksum(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Why a record could not be read.
#[derive(Debug)]
pub enum RecordError {
    /// The file ends inside a record (a writer may still be appending it).
    Truncated,
    /// A checksum does not match, or the length is over [`MAX_RECORD_BYTES`].
    Corrupt(String),
    /// Reading failed.
    Io(io::Error),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Truncated => f.write_str("the file ends inside a record"),
            RecordError::Corrupt(m) => f.write_str(m),
            RecordError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RecordError {}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<bool, RecordError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(RecordError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(RecordError::Io(e)),
        }
    }
    Ok(true)
}

/// Reads the next record's data into `buf`; `Ok(false)` at a clean end of file.
pub fn read_record(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<bool, RecordError> {
    let mut head = [0u8; 12];
    if !read_full(r, &mut head)? {
        return Ok(false);
    }
    let len = u64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8]));
    let crc = u32::from_le_bytes(head[8..].try_into().unwrap_or([0; 4]));
    if masked_crc(&head[..8]) != crc {
        return Err(RecordError::Corrupt("the checksum of a record's length does not match".into()));
    }
    if len > MAX_RECORD_BYTES {
        return Err(RecordError::Corrupt(format!("a record is {len} bytes, the limit is {MAX_RECORD_BYTES}")));
    }
    buf.resize(len as usize, 0);
    let mut tail = [0u8; 4];
    if !read_full(r, buf)? && len > 0 {
        return Err(RecordError::Truncated);
    }
    if !read_full(r, &mut tail)? {
        return Err(RecordError::Truncated);
    }
    if masked_crc(buf) != u32::from_le_bytes(tail) {
        return Err(RecordError::Corrupt("the checksum of a record's data does not match".into()));
    }
    Ok(true)
}

/// Writes one record.
pub fn write_record(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    w.write_all(&len)?;
    w.write_all(&masked_crc(&len).to_le_bytes())?;
    w.write_all(data)?;
    w.write_all(&masked_crc(data).to_le_bytes())
}

/// `tensorflow.Event`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event holds (graphs, session logs and the rest are skipped).
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// `Event.what`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// `brain.Event:2`, the first event of a file.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// Summaries.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// Its values.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    /// The tag (series name).
    #[prost(string, tag = "1")]
    pub tag: String,
    /// Which plugin wrote it.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
    /// The value (histograms and audio are skipped).
    #[prost(oneof = "Kind", tags = "2, 4, 8")]
    pub kind: Option<Kind>,
}

/// `Summary.Value.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    /// A scalar (float32).
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    /// An encoded image.
    #[prost(message, tag = "4")]
    Image(Image),
    /// A tensor (the newer scalars, texts, plugin data).
    #[prost(message, tag = "8")]
    Tensor(TensorProto),
}

/// `tensorflow.Summary.Image`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    /// Height in pixels.
    #[prost(int32, tag = "1")]
    pub height: i32,
    /// Width in pixels.
    #[prost(int32, tag = "2")]
    pub width: i32,
    /// 1 grey, 3 RGB, 4 RGBA.
    #[prost(int32, tag = "3")]
    pub colorspace: i32,
    /// PNG (or JPEG) bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub encoded_image_string: Vec<u8>,
}

/// `tensorflow.SummaryMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    /// The plugin and its content.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
    /// Display name.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// Description.
    #[prost(string, tag = "3")]
    pub summary_description: String,
}

/// `tensorflow.SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    /// `scalars`, `images`, `text`, `hparams`, ...
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// Plugin-specific bytes (a protobuf for hparams).
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `tensorflow.TensorProto` (the value fields runlog reads).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `tensorflow.DataType`: 1 float, 2 double, 3 int32, 7 string, 9 int64.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShape>,
    /// Packed little-endian values, when not in the typed fields.
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
    /// float values.
    #[prost(float, repeated, tag = "5")]
    pub float_val: Vec<f32>,
    /// double values.
    #[prost(double, repeated, tag = "6")]
    pub double_val: Vec<f64>,
    /// int32 values.
    #[prost(int32, repeated, tag = "7")]
    pub int_val: Vec<i32>,
    /// string values.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
    /// int64 values.
    #[prost(int64, repeated, tag = "10")]
    pub int64_val: Vec<i64>,
}

/// `tensorflow.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShape {
    /// Dimensions.
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
}

/// `tensorflow.TensorShapeProto.Dim`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dim {
    /// Its size.
    #[prost(int64, tag = "1")]
    pub size: i64,
}

/// `tensorflow.DataType` values used here.
pub mod dtype {
    /// float32.
    pub const FLOAT: i32 = 1;
    /// float64.
    pub const DOUBLE: i32 = 2;
    /// int32.
    pub const INT32: i32 = 3;
    /// bytes.
    pub const STRING: i32 = 7;
    /// int64.
    pub const INT64: i32 = 9;
}

/// `tensorboard.hparams.HParamsPluginData` (the session start, which holds the hparams).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HParamsPluginData {
    /// Always 0.
    #[prost(int32, tag = "1")]
    pub version: i32,
    /// The hparams of one session (run).
    #[prost(message, optional, tag = "3")]
    pub session_start_info: Option<SessionStartInfo>,
}

/// `tensorboard.hparams.SessionStartInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStartInfo {
    /// Name to value.
    #[prost(map = "string, message", tag = "1")]
    pub hparams: HashMap<String, PbValue>,
    /// The group (runs of one hparam set).
    #[prost(string, tag = "4")]
    pub group_name: String,
    /// When the session started, seconds since the epoch.
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

/// `google.protobuf.Value` (null, number, string or bool).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PbValue {
    /// The value.
    #[prost(oneof = "PbKind", tags = "1, 2, 3, 4")]
    pub kind: Option<PbKind>,
}

/// `google.protobuf.Value.kind`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PbKind {
    /// null.
    #[prost(int32, tag = "1")]
    Null(i32),
    /// A number.
    #[prost(double, tag = "2")]
    Number(f64),
    /// Text.
    #[prost(string, tag = "3")]
    Str(String),
    /// A boolean.
    #[prost(bool, tag = "4")]
    Bool(bool),
}

impl TensorProto {
    /// The first value as f64, for scalar tensors of float, double or integer type.
    pub fn scalar(&self) -> Option<f64> {
        let c = &self.tensor_content;
        match self.dtype {
            dtype::FLOAT => self
                .float_val
                .first()
                .map(|&v| f64::from(v))
                .or_else(|| c.get(..4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))),
            dtype::DOUBLE => self
                .double_val
                .first()
                .copied()
                .or_else(|| c.get(..8).and_then(|b| b.try_into().ok()).map(f64::from_le_bytes)),
            dtype::INT32 => self.int_val.first().map(|&v| f64::from(v)),
            dtype::INT64 => self.int64_val.first().map(|&v| v as f64),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_crc32c() {
        // The standard check value of CRC-32C (Castagnoli); files from tensorboardX and for TensorBoard are checked
        // end to end in cli/tests/tensorboard.rs.
        assert_eq!(CRC32C.checksum(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn records_round_trip_and_corruption_is_caught() {
        let mut buf = Vec::new();
        write_record(&mut buf, b"hello").expect("write");
        write_record(&mut buf, b"").expect("write");
        let mut r = &buf[..];
        let mut data = Vec::new();
        assert!(read_record(&mut r, &mut data).expect("first"));
        assert_eq!(data, b"hello");
        assert!(read_record(&mut r, &mut data).expect("second"));
        assert!(data.is_empty());
        assert!(!read_record(&mut r, &mut data).expect("end"));
        let mut bad = buf.clone();
        bad[13] ^= 1;
        assert!(matches!(read_record(&mut &bad[..], &mut data), Err(RecordError::Corrupt(_))));
        assert!(matches!(read_record(&mut &buf[..10], &mut data), Err(RecordError::Truncated)));
    }
}
