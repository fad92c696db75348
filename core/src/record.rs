//! The kinds of logged facts and their bodies, as stored in the `records` table (see docs/format.md).
//!
//! Every fact is one row of `records`, numbered by `seq`. Scalar points travel packed: one record holds a chunk of up
//! to [`crate::chunk::MAX_POINTS`] points of one series. Other bodies are msgpack (rmp-serde, struct-as-map) of the
//! types below. This is the storage format, not the wire format: the sync crate has its own types.

use crate::types::{BlobHash, RunStatus, Value};
use serde::{Deserialize, Serialize};

/// The kind column of `records`. The numbers are part of the file format and never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Kind {
    /// A run was created ([`RunStarted`]).
    RunStarted = 1,
    /// A run's status changed ([`StatusChange`]).
    Status = 2,
    /// A param ([`Value`]); name = key.
    Param = 3,
    /// A tag (string); name = key. Later tags of the same key win.
    Tag = 4,
    /// A write-once property (string); name = key.
    Property = 5,
    /// A chunk of scalar points of the series `name` (packed, see [`crate::chunk`]).
    Scalars = 6,
    /// A row of a row metric ([`Row`]).
    Row = 7,
    /// A table ([`Table`]).
    Table = 8,
    /// An image ([`ImageRef`]); bytes in `blobs`.
    Image = 9,
    /// A text ([`Text`]).
    Text = 10,
    /// A captured log line ([`LogLine`]); name = stream (`log`, `stdout`, `stderr`).
    LogLine = 11,
    /// An uploaded file ([`FileRef`]); name = the file's name in the run.
    File = 12,
    /// A metric description (string); name = metric name.
    Description = 13,
    /// A chart in one of Azure ML's schemas ([`crate::Chart`]), checked against it when logged.
    Chart = 14,
}

impl Kind {
    /// The kind for a stored number.
    pub fn from_i64(v: i64) -> Option<Kind> {
        Some(match v {
            1 => Kind::RunStarted,
            2 => Kind::Status,
            3 => Kind::Param,
            4 => Kind::Tag,
            5 => Kind::Property,
            6 => Kind::Scalars,
            7 => Kind::Row,
            8 => Kind::Table,
            9 => Kind::Image,
            10 => Kind::Text,
            11 => Kind::LogLine,
            12 => Kind::File,
            13 => Kind::Description,
            14 => Kind::Chart,
            _ => return None,
        })
    }

    /// A stable lowercase name, used by the CLI and the wire format.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RunStarted => "run",
            Kind::Status => "status",
            Kind::Param => "param",
            Kind::Tag => "tag",
            Kind::Property => "property",
            Kind::Scalars => "scalars",
            Kind::Row => "row",
            Kind::Table => "table",
            Kind::Image => "image",
            Kind::Text => "text",
            Kind::LogLine => "log",
            Kind::File => "file",
            Kind::Description => "description",
            Kind::Chart => "chart",
        }
    }
}

/// Body of [`Kind::RunStarted`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    /// The run's global id.
    pub id: String,
    /// Experiment name.
    pub experiment: String,
    /// Display name.
    pub name: String,
    /// The parent run's id, for child runs.
    pub parent: Option<String>,
}

/// Body of [`Kind::Status`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The new status (`crashed` only from [`crate::Store::record_crashed_runs`]).
    pub status: RunStatus,
    /// Why, for failures and cancellations.
    pub reason: Option<String>,
}

/// Body of [`Kind::Row`]: named, typed columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Columns in the order given.
    pub columns: Vec<(String, Value)>,
}

/// Body of [`Kind::Table`]: equal-length named columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Columns in the order given.
    pub columns: Vec<(String, Vec<Value>)>,
}

/// Image formats runlog accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
}

impl ImageFormat {
    /// Its name as stored and on the wire: `png` or `jpeg`.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
        }
    }
}

/// Body of [`Kind::Image`]: the image's bytes are the blob `hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRef {
    /// The blob.
    pub hash: BlobHash,
    /// PNG or JPEG.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub size: u64,
    /// What the user said about it.
    pub description: String,
}

/// Body of [`Kind::File`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    /// The blob.
    pub hash: BlobHash,
    /// Size in bytes.
    pub size: u64,
}

/// Body of [`Kind::Text`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    pub text: String,
}

/// Body of [`Kind::LogLine`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`, or `OUT`/`ERR` for captured output.
    pub level: String,
    /// The logger's target (module path), empty for captured output.
    pub target: String,
    /// The line.
    pub message: String,
}

/// Encodes a body as msgpack with field names (so fields can be added later without breaking old readers).
pub fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    // Serializing these plain structs into a Vec cannot fail.
    rmp_serde::to_vec_named(body).unwrap_or_default()
}

/// Decodes a msgpack body.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> crate::Result<T> {
    rmp_serde::from_slice(bytes).map_err(|e| crate::Error::Format(format!("corrupt record body: {e}")))
}
