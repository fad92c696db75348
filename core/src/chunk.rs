//! Packed scalar series: up to [`MAX_POINTS`] points of one series in one record.
//!
//! Layout (version 1): a version byte, the point count (LEB128), the steps (first zigzag LEB128, then zigzag deltas),
//! the timestamps in ms (same), then the values as little-endian f64. A training loop's steps and timestamps advance by
//! small amounts, so a point costs about 10 bytes. Decoding never panics on corrupt input: it returns an error.

use crate::error::{Error, Result};
use crate::types::Point;

/// Most points in one chunk.
pub const MAX_POINTS: usize = 4096;
const VERSION: u8 = 1;

/// Summary of a chunk, stored beside it so summaries and downsampling need not decode it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkStats {
    /// Number of points.
    pub count: usize,
    /// Smallest and largest step.
    pub step_lo: i64,
    /// Largest step.
    pub step_hi: i64,
    /// Smallest value, ignoring NaN (NaN when all are NaN).
    pub min: f64,
    /// Largest value, ignoring NaN.
    pub max: f64,
    /// The last value logged.
    pub last: f64,
    /// Timestamp of the first point.
    pub first_ts: i64,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encodes points (in logged order) and returns the body with its stats. `points` must not be empty.
pub fn encode(points: &[Point]) -> (Vec<u8>, ChunkStats) {
    let mut out = Vec::with_capacity(8 + points.len() * 11);
    out.push(VERSION);
    put_varint(&mut out, points.len() as u64);
    let mut prev = 0i64;
    for p in points {
        put_varint(&mut out, zigzag(p.step.wrapping_sub(prev)));
        prev = p.step;
    }
    prev = 0;
    for p in points {
        put_varint(&mut out, zigzag(p.timestamp_ms.wrapping_sub(prev)));
        prev = p.timestamp_ms;
    }
    let (mut min, mut max) = (f64::NAN, f64::NAN);
    let (mut step_lo, mut step_hi) = (i64::MAX, i64::MIN);
    for p in points {
        out.extend_from_slice(&p.value.to_le_bytes());
        // f64::min/max ignore NaN, which is what a chart's axis wants.
        min = min.min(p.value);
        max = max.max(p.value);
        step_lo = step_lo.min(p.step);
        step_hi = step_hi.max(p.step);
    }
    let stats = ChunkStats {
        count: points.len(),
        step_lo,
        step_hi,
        min,
        max,
        last: points.last().map_or(f64::NAN, |p| p.value),
        first_ts: points.first().map_or(0, |p| p.timestamp_ms),
    };
    (out, stats)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or_else(corrupt)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt())
    }
}

fn corrupt() -> Error {
    Error::Format("corrupt scalar chunk".into())
}

/// Decodes a chunk, appending its points to `out`.
pub fn decode_into(bytes: &[u8], out: &mut Vec<Point>) -> Result<()> {
    let mut r = Reader { bytes, pos: 0 };
    if bytes.first() != Some(&VERSION) {
        return Err(Error::Format(format!(
            "scalar chunk version {:?} is not supported (this runlog reads version {VERSION})",
            bytes.first()
        )));
    }
    r.pos = 1;
    let n = r.varint()? as usize;
    // Each point needs at least 10 bytes: reject counts the bytes cannot hold before allocating.
    if n > MAX_POINTS.max(bytes.len() / 10) {
        return Err(corrupt());
    }
    let start = out.len();
    out.reserve(n);
    let mut prev = 0i64;
    for _ in 0..n {
        prev = prev.wrapping_add(unzigzag(r.varint()?));
        out.push(Point { step: prev, timestamp_ms: 0, value: 0.0 });
    }
    prev = 0;
    for p in &mut out[start..] {
        prev = prev.wrapping_add(unzigzag(r.varint()?));
        p.timestamp_ms = prev;
    }
    let values = bytes.get(r.pos..).ok_or_else(corrupt)?;
    if values.len() != n * 8 {
        out.truncate(start);
        return Err(corrupt());
    }
    for (p, v) in out[start..].iter_mut().zip(values.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(v);
        p.value = f64::from_le_bytes(b);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_nan_and_infinities_and_negative_steps() {
        let pts: Vec<Point> = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1.5, f64::MIN_POSITIVE]
            .iter()
            .enumerate()
            .map(|(i, v)| Point { step: 5 - 3 * i as i64, timestamp_ms: 1_700_000_000_000 + i as i64, value: *v })
            .collect();
        let (bytes, stats) = encode(&pts);
        let mut back = Vec::new();
        decode_into(&bytes, &mut back).expect("decodes");
        assert_eq!(back.len(), pts.len());
        for (a, b) in pts.iter().zip(&back) {
            assert_eq!(a.step, b.step);
            assert_eq!(a.timestamp_ms, b.timestamp_ms);
            assert_eq!(a.value.to_bits(), b.value.to_bits());
        }
        assert_eq!(stats.min, f64::NEG_INFINITY);
        assert_eq!(stats.max, f64::INFINITY);
        assert_eq!((stats.step_lo, stats.step_hi), (-10, 5));
    }

    #[test]
    fn training_loop_points_cost_about_ten_bytes() {
        let pts: Vec<Point> = (0..MAX_POINTS as i64)
            .map(|i| Point { step: i, timestamp_ms: 1_700_000_000_000 + i / 7, value: i as f64 * 0.1 })
            .collect();
        let (bytes, _) = encode(&pts);
        assert!(bytes.len() <= MAX_POINTS * 10 + 16, "{} bytes", bytes.len());
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error() {
        let pts = vec![Point { step: 1, timestamp_ms: 2, value: 3.0 }; 10];
        let (bytes, _) = encode(&pts);
        for cut in 0..bytes.len() {
            let mut out = Vec::new();
            assert!(decode_into(&bytes[..cut], &mut out).is_err(), "cut at {cut}");
        }
        let mut out = Vec::new();
        assert!(decode_into(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], &mut out).is_err());
    }
}
