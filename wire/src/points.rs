//! Packed points: the body of a `Scalars` record on the wire (docs/protocol.md, "Packed points").
//!
//! Layout, version [`POINTS_VERSION`]: a version byte; the point count (unsigned LEB128); the steps (first step, then
//! deltas to the previous one, each zigzag LEB128); the timestamps in ms since the epoch (same encoding); then the
//! values as little-endian f64, NaN and infinities kept bit for bit. A training loop's steps and timestamps advance
//! by small amounts, so a point costs about 10 bytes.
//!
//! This is the wire's own encoding, defined here and nowhere else: the store's chunk layout (runlog-core) may change
//! without changing what travels, because the agent always converts stored chunks into these bytes.
//! Decoding never panics on arbitrary bytes.

use crate::error::{Error, Result};
use integer_encoding::VarInt;
use serde::{Deserialize, Serialize};

/// The version byte of packed points this runlog writes and reads.
pub const POINTS_VERSION: u8 = 1;

/// Most points one packed body may hold (a body with more is refused as malformed).
pub const MAX_POINTS_PER_BODY: usize = 1 << 20;

/// One scalar point as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The step.
    pub step: i64,
    /// When it was logged, ms since the epoch.
    pub at: i64,
    /// The value.
    pub value: f64,
}

/// Encodes points (in logged order).
pub fn encode(points: &[Point]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 5 + points.len() * 11);
    out.push(POINTS_VERSION);
    put(&mut out, points.len() as u64);
    for column in [|p: &Point| p.step, |p: &Point| p.at] {
        let mut prev = 0i64;
        for p in points {
            put(&mut out, column(p).wrapping_sub(prev));
            prev = column(p);
        }
    }
    for p in points {
        out.extend_from_slice(&p.value.to_le_bytes());
    }
    out
}

fn put<V: VarInt>(out: &mut Vec<u8>, v: V) {
    let mut buf = [0u8; 10];
    let n = v.encode_var(&mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Reads varints from a byte slice, naming what it was reading when the bytes run out.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn var<V: VarInt>(&mut self, what: &str) -> Result<V> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let (v, n) = V::decode_var(rest).ok_or_else(|| malformed(format!("{what} at byte {} is cut off", self.at)))?;
        self.at += n;
        Ok(v)
    }
}

fn malformed(why: String) -> Error {
    Error::Format(format!("malformed packed points: {why}"))
}

/// Decodes packed points; never panics. Refuses another version, a count over [`MAX_POINTS_PER_BODY`], bytes cut
/// short and bytes left over.
pub fn decode(bytes: &[u8]) -> Result<Vec<Point>> {
    let (&version, _) = bytes.split_first().ok_or_else(|| malformed("no bytes".into()))?;
    if version != POINTS_VERSION {
        return Err(malformed(format!("version {version} is not supported (this runlog reads {POINTS_VERSION})")));
    }
    let mut c = Cursor { bytes, at: 1 };
    let n: u64 = c.var("the point count")?;
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_POINTS_PER_BODY)
        .ok_or_else(|| malformed(format!("{n} points, the limit is {MAX_POINTS_PER_BODY}")))?;
    // Each point needs at least 1 + 1 + 8 bytes: a count the bytes cannot hold is refused before allocating.
    if n.saturating_mul(10) > bytes.len() {
        return Err(malformed(format!("{n} points cannot fit in {} bytes", bytes.len())));
    }
    let mut points = vec![Point { step: 0, at: 0, value: 0.0 }; n];
    let mut prev = 0i64;
    for p in points.iter_mut() {
        prev = prev.wrapping_add(c.var::<i64>("a step")?);
        p.step = prev;
    }
    prev = 0;
    for p in points.iter_mut() {
        prev = prev.wrapping_add(c.var::<i64>("a timestamp")?);
        p.at = prev;
    }
    let values = bytes.get(c.at..).unwrap_or_default();
    if values.len() != n * 8 {
        return Err(malformed(format!("{} bytes of values for {n} points (expected {})", values.len(), n * 8)));
    }
    for (p, v) in points.iter_mut().zip(values.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(v);
        p.value = f64::from_le_bytes(le);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Point> {
        vec![
            Point { step: 0, at: 1_700_000_000_000, value: 0.5 },
            Point { step: 1, at: 1_700_000_000_003, value: f64::NAN },
            Point { step: -2, at: 1_700_000_000_001, value: f64::NEG_INFINITY },
        ]
    }

    /// Golden bytes of packed points version 1: a change fails here; bump the version and document it
    /// (docs/protocol.md, "Version changes").
    #[test]
    fn golden_bytes_of_version_1() {
        let hex: String = encode(&sample()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            concat!(
                "01", // version
                "03", // 3 points
                "00",
                "02",
                "05", // steps 0, +1, -3 (zigzag)
                "80a0abfef962",
                "06",
                "03",               // timestamps: first, +3, -2 (zigzag)
                "000000000000e03f", // 0.5
                "000000000000f87f", // NaN
                "000000000000f0ff", // -inf
            )
        );
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let back = decode(&encode(&sample())).expect("decodes");
        assert_eq!(back.len(), 3);
        for (a, b) in back.iter().zip(sample()) {
            assert_eq!((a.step, a.at, a.value.to_bits()), (b.step, b.at, b.value.to_bits()));
        }
        assert!(decode(&encode(&[])).expect("empty decodes").is_empty());
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let good = encode(&sample());
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "no bytes"),
            (vec![2, 0], "version 2"),
            ([&good[..], &[0]].concat(), "bytes of values"),
            (good[..good.len() - 1].to_vec(), "bytes of values"),
            (good[..4].to_vec(), "cannot fit"),
            (vec![1, 0xff, 0xff, 0xff, 0xff, 0x0f], "the limit is"),
        ];
        for (bytes, want) in cases {
            let e = decode(&bytes).expect_err("refused").to_string();
            assert!(e.contains(want), "{bytes:?}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn any_points_round_trip(pts in proptest::collection::vec(
            (proptest::prelude::any::<i64>(), proptest::prelude::any::<i64>(), proptest::prelude::any::<f64>()), 0..64)) {
            let points: Vec<Point> = pts.iter().map(|&(step, at, value)| Point { step, at, value }).collect();
            let back = decode(&encode(&points)).expect("decodes");
            proptest::prop_assert_eq!(back.len(), points.len());
            for (a, b) in back.iter().zip(&points) {
                proptest::prop_assert_eq!((a.step, a.at, a.value.to_bits()), (b.step, b.at, b.value.to_bits()));
            }
        }
    }
}
