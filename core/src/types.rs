//! Identifiers and values shared by the writer, the read API and (through the raw record API) the sync agent.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A run's global id: a random UUID (v4) in 32 lowercase hex digits. Random from the first digit, so a short prefix
/// names a run unambiguously, as with git commits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub(crate) String);

impl RunId {
    /// A fresh random id (a v4 UUID's 32 hex digits), as [`crate::Store::start_run`] gives a run.
    #[allow(clippy::new_without_default)]
    pub fn new() -> RunId {
        RunId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Parses a run id given in full (32 hex digits).
    pub fn parse(s: &str) -> crate::Result<RunId> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(RunId(s.to_ascii_lowercase()))
        } else {
            Err(crate::Error::invalid(format!("run id {s:?} is not 32 hexadecimal digits")))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A store's id, made once when the file is created: with a record's sequence it names the record everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoreId(pub(crate) String);

impl StoreId {
    /// The id as text (32 hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The blake3 hash of a blob's bytes, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobHash(pub(crate) String);

impl BlobHash {
    /// Hashes bytes.
    pub fn of(bytes: &[u8]) -> BlobHash {
        BlobHash(blake3::hash(bytes).to_hex().to_string())
    }

    /// Parses 64 hex digits.
    pub fn parse(s: &str) -> crate::Result<BlobHash> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(BlobHash(s.to_ascii_lowercase()))
        } else {
            Err(crate::Error::invalid(format!("blob hash {s:?} is not 64 hexadecimal digits")))
        }
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A typed value of a row, a table cell or a param.
///
/// Serialized untagged: msgpack keeps integers, floats, booleans and strings apart, so a value reads back with its type.
/// Deserialized by one visitor (what `#[serde(untagged)]` would accept, without buffering the value and trying each
/// variant in turn, which cost an error message per failed variant on every param and tag read).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// A float; NaN and infinities are kept as they are.
    F64(f64),
    /// A string.
    Str(String),
}

impl Value {
    /// The value as a float, if it is numeric (booleans count as 0 and 1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            Value::I64(v) => Some(*v as f64),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Str(_) => None,
        }
    }

    /// Same value, with NaN equal to NaN: what "read back exactly" means.
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits() || a == b,
            (a, b) => a == b,
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl serde::de::Visitor<'_> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean, an integer, a float or a string")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::I64(v))
    }

    /// An unsigned integer beyond `i64::MAX` becomes a float, as the untagged enum did.
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::F64(v as f64), Value::I64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::F64(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Value, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Value::Str(s.to_owned())),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::F64(f64::from(v))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::I64(i64::from(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::I64(i64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

/// One point of a scalar series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The step (automatic per name, or given with `log_at`).
    pub step: i64,
    /// When it was logged, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value, NaN and infinities included.
    pub value: f64,
}

/// The lifecycle of a run, derived on read from its status events and heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and its writer is alive.
    Running,
    /// Ended with `complete()`.
    Completed,
    /// Ended with `fail(reason)` or a panic.
    Failed,
    /// Ended with `cancel()` (or Ctrl-C under `runlog exec`).
    Cancelled,
    /// Not ended, and no writer has written its heartbeat for longer than the stale interval.
    Crashed,
}

impl RunStatus {
    /// The lowercase name (`running`, `completed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Crashed => "crashed",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            "crashed" => RunStatus::Crashed,
            _ => return None,
        })
    }

    /// Whether the run has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Running)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Milliseconds since the Unix epoch, now, from the precise system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Wall-clock ms minus coarse-monotonic ms, refreshed by [`calibrate_clock`]; `i64::MIN` until the first calibration.
static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);

fn coarse_monotonic_ms() -> i64 {
    let ticks = coarsetime::Instant::now_without_cache_update().as_ticks();
    coarsetime::Duration::from_ticks(ticks).as_millis() as i64
}

/// Re-anchors [`fast_now_ms`] to the system clock (the writer does it every commit, following clock adjustments).
pub(crate) fn calibrate_clock() {
    let offset = now_ms() - coarse_monotonic_ms();
    CLOCK_OFFSET_MS.store(offset, std::sync::atomic::Ordering::Relaxed);
}

/// Milliseconds since the Unix epoch for the logging hot path: the kernel's coarse clock (a memory read, resolution
/// 1 to 4 ms) plus an offset to the system clock. In a VM the precise clock can cost tens of nanoseconds per read,
/// more than the rest of a log call.
#[inline]
pub(crate) fn fast_now_ms() -> i64 {
    let offset = CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed);
    if offset == i64::MIN {
        calibrate_clock();
        return now_ms();
    }
    coarse_monotonic_ms() + offset
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn values_read_back_with_their_type_from_msgpack_and_json() {
        let values = [
            Value::Bool(true),
            Value::I64(-7),
            Value::I64(i64::MAX),
            Value::F64(0.5),
            Value::F64(f64::NAN),
            Value::F64(-0.0),
            Value::Str("adam".into()),
            Value::Str(String::new()),
        ];
        for v in &values {
            let back: Value = rmp_serde::from_slice(&rmp_serde::to_vec(v).expect("encode")).expect("decode");
            assert!(back.same(v), "{v:?} came back as {back:?}");
            if v.as_f64().is_none_or(f64::is_finite) {
                let back: Value = serde_json::from_str(&serde_json::to_string(v).expect("json")).expect("json");
                assert!(back.same(v), "{v:?} came back from JSON as {back:?}");
            }
        }
        let big: Value = serde_json::from_str("18446744073709551615").expect("u64");
        assert_eq!(big, Value::F64(u64::MAX as f64), "beyond i64 becomes a float");
        let bin: Value = rmp_serde::from_slice(&[0xc4, 2, b'h', b'i']).expect("bin");
        assert_eq!(bin, Value::Str("hi".into()), "msgpack bin of UTF-8 is a string");
        for bad in ["null", "[1]", "{\"a\": 1}"] {
            let e = serde_json::from_str::<Value>(bad).expect_err(bad).to_string();
            assert!(e.contains("a boolean, an integer, a float or a string"), "{bad}: {e}");
        }
        assert!(rmp_serde::from_slice::<Value>(&[0xc4, 1, 0xff]).is_err(), "bin that is not UTF-8");
    }
}
