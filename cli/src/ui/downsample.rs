//! Downsampling a scalar series for a chart, keeping each bucket's minimum, maximum and last value.
//!
//! The step range is cut into `buckets` equal buckets. A stored chunk (up to 4,096 points) narrower than a bucket is
//! taken whole from its statistics (min, max, last) without decoding a point, and placed in the bucket of its middle
//! step: a 10M-point series drawn at full width decodes nothing. Chunks wider than a bucket, or cut by the requested
//! range, are decoded. A series with few points in range is returned exactly.
//!
//! This module knows chunks and points, not HTTP or the store.

use runlog_core::Point;
use runlog_core::read::ChunkInfo;

/// A downsampled (or exact) series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sampled {
    /// Points in the requested range, in the store.
    pub count: u64,
    /// Smallest and largest step of the whole series (for the chart's full view), if it has points.
    pub step_min: Option<i64>,
    /// See `step_min`.
    pub step_max: Option<i64>,
    /// Whether points were dropped.
    pub downsampled: bool,
    /// (step, value) in step order; non-finite values are kept (the JSON layer writes them as null).
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    min: Option<(i64, f64)>,
    max: Option<(i64, f64)>,
    last: Option<(i64, f64)>,
}

impl Bucket {
    fn add(&mut self, step: i64, v: f64) {
        if v.is_finite() {
            if self.min.is_none_or(|(_, m)| v < m) {
                self.min = Some((step, v));
            }
            if self.max.is_none_or(|(_, m)| v > m) {
                self.max = Some((step, v));
            }
        }
        if self.last.is_none_or(|(s, _)| step >= s) {
            self.last = Some((step, v));
        }
    }

    fn add_stats(&mut self, step: i64, c: &ChunkInfo) {
        if let Some(m) = c.min.filter(|m| m.is_finite()) {
            if self.min.is_none_or(|(_, x)| m < x) {
                self.min = Some((step, m));
            }
        }
        if let Some(m) = c.max.filter(|m| m.is_finite()) {
            if self.max.is_none_or(|(_, x)| m > x) {
                self.max = Some((step, m));
            }
        }
        if self.last.is_none_or(|(s, _)| c.step_hi >= s) {
            self.last = Some((c.step_hi, c.last));
        }
    }
}

/// Downsamples the series made of `chunks` to at most about `3 * buckets` points over steps `[from, to]` (both
/// optional: the whole series). `points_of` decodes a chunk.
pub fn downsample<E>(
    chunks: &[ChunkInfo],
    from: Option<i64>,
    to: Option<i64>,
    buckets: usize,
    mut points_of: impl FnMut(&ChunkInfo) -> Result<Vec<Point>, E>,
) -> Result<Sampled, E> {
    let step_min = chunks.iter().map(|c| c.step_lo).min();
    let step_max = chunks.iter().map(|c| c.step_hi).max();
    let (Some(lo_all), Some(hi_all)) = (step_min, step_max) else {
        return Ok(Sampled { count: 0, step_min, step_max, downsampled: false, points: Vec::new() });
    };
    let lo = from.unwrap_or(lo_all).max(lo_all);
    let hi = to.unwrap_or(hi_all).min(hi_all);
    let inside: Vec<&ChunkInfo> = chunks.iter().filter(|c| c.step_hi >= lo && c.step_lo <= hi).collect();
    let buckets = buckets.max(1);
    let approx: u64 = inside.iter().map(|c| c.count.max(0) as u64).sum();
    if approx <= (buckets as u64) * 3 {
        let mut points = Vec::with_capacity(approx as usize);
        for c in &inside {
            for p in points_of(c)? {
                if p.step >= lo && p.step <= hi {
                    points.push((p.step, p.value));
                }
            }
        }
        points.sort_by_key(|p| p.0);
        return Ok(Sampled { count: points.len() as u64, step_min, step_max, downsampled: false, points });
    }
    // In f64: steps are any i64, and their differences may not fit one.
    let span = hi as f64 - lo as f64 + 1.0;
    let width = span / buckets as f64;
    let index = |step: i64| (((step as f64 - lo as f64) / width) as usize).min(buckets - 1);
    let mut bs = vec![Bucket::default(); buckets];
    let mut count = 0u64;
    for c in inside {
        let whole = c.step_lo >= lo && c.step_hi <= hi;
        if whole && (c.step_hi as f64 - c.step_lo as f64) < width {
            let mid = c.step_lo / 2 + c.step_hi / 2 + (c.step_lo % 2 + c.step_hi % 2) / 2;
            bs[index(mid)].add_stats(mid, c);
            count += c.count.max(0) as u64;
        } else {
            for p in points_of(c)? {
                if p.step >= lo && p.step <= hi {
                    bs[index(p.step)].add(p.step, p.value);
                    count += 1;
                }
            }
        }
    }
    let mut points = Vec::with_capacity(buckets * 3);
    for b in bs {
        let mut v: Vec<(i64, f64)> = [b.min, b.max, b.last].into_iter().flatten().collect();
        v.sort_by_key(|p| p.0);
        v.dedup_by(|a, b| a.0 == b.0 && a.1.to_bits() == b.1.to_bits());
        points.extend(v);
    }
    Ok(Sampled { count, step_min, step_max, downsampled: true, points })
}

/// Downsamples decoded `points` over steps `[lo, hi]` like [`downsample`] (at most about `3 * buckets` points: each
/// step bucket's minimum, maximum and last), keeping each point's timestamp: `(step, value, timestamp_ms)`. For
/// charts over wall or relative time, which need the time of every point drawn; it decodes every chunk in range
/// (about 5 ms per million points), where [`downsample`] may use chunk statistics alone. Returns whether it
/// dropped points.
pub fn downsample_timed(points: &[Point], lo: i64, hi: i64, buckets: usize) -> (bool, Vec<(i64, f64, i64)>) {
    let inside = points.iter().filter(|p| p.step >= lo && p.step <= hi);
    let buckets = buckets.max(1);
    let n = inside.clone().count();
    if n <= buckets * 3 {
        let mut v: Vec<(i64, f64, i64)> = inside.map(|p| (p.step, p.value, p.timestamp_ms)).collect();
        v.sort_by_key(|p| p.0);
        return (false, v);
    }
    let width = (hi as f64 - lo as f64 + 1.0) / buckets as f64;
    let index = |step: i64| (((step as f64 - lo as f64) / width) as usize).min(buckets - 1);
    // Per bucket: indices of the min, max and last point.
    let mut bs: Vec<[Option<&Point>; 3]> = vec![[None; 3]; buckets];
    for p in inside {
        let b = &mut bs[index(p.step)];
        if p.value.is_finite() {
            if b[0].is_none_or(|m| p.value < m.value) {
                b[0] = Some(p);
            }
            if b[1].is_none_or(|m| p.value > m.value) {
                b[1] = Some(p);
            }
        }
        if b[2].is_none_or(|m| p.step >= m.step) {
            b[2] = Some(p);
        }
    }
    let mut out = Vec::with_capacity(buckets * 3);
    for b in bs {
        let mut v: Vec<&Point> = b.into_iter().flatten().collect();
        v.sort_by_key(|p| p.step);
        v.dedup_by(|a, b| std::ptr::eq(*a, *b));
        out.extend(v.into_iter().map(|p| (p.step, p.value, p.timestamp_ms)));
    }
    (true, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(values: &[f64], per: usize) -> (Vec<ChunkInfo>, Vec<Vec<Point>>) {
        let mut infos = Vec::new();
        let mut bodies = Vec::new();
        for (i, c) in values.chunks(per).enumerate() {
            let lo = (i * per) as i64;
            let pts: Vec<Point> =
                c.iter().enumerate().map(|(j, &v)| Point { step: lo + j as i64, timestamp_ms: 0, value: v }).collect();
            let f = c.iter().copied().filter(|v| v.is_finite());
            infos.push(ChunkInfo {
                seq: i as i64,
                step_lo: lo,
                step_hi: lo + c.len() as i64 - 1,
                count: c.len() as i64,
                min: f.clone().reduce(f64::min),
                max: f.reduce(f64::max),
                last: c[c.len() - 1],
            });
            bodies.push(pts);
        }
        (infos, bodies)
    }

    #[test]
    fn small_series_come_back_exactly() {
        let (c, b) = chunked(&[3.0, 1.0, 2.0], 2);
        let s = downsample(&c, None, None, 10, |x| Ok::<_, ()>(b[x.seq as usize].clone())).expect("ok");
        assert_eq!(s.points, [(0, 3.0), (1, 1.0), (2, 2.0)]);
        assert!(!s.downsampled);
    }

    #[test]
    fn extremes_survive_without_decoding_narrow_chunks() {
        let mut v: Vec<f64> = (0..100_000).map(|i| (i as f64 * 0.01).sin()).collect();
        v[54_321] = 99.0;
        v[77_777] = -42.0;
        let (c, b) = chunked(&v, 100);
        let mut decoded = 0;
        let s = downsample(&c, None, None, 200, |x| {
            decoded += 1;
            Ok::<_, ()>(b[x.seq as usize].clone())
        })
        .expect("ok");
        assert_eq!(decoded, 0, "chunks narrower than a bucket are not decoded");
        assert!(s.downsampled && s.points.len() <= 600);
        assert!(s.points.iter().any(|p| p.1 == 99.0) && s.points.iter().any(|p| p.1 == -42.0));
        assert_eq!(s.count, 100_000);
        // Zoomed in: exact points of the range.
        let z =
            downsample(&c, Some(54_300), Some(54_330), 200, |x| Ok::<_, ()>(b[x.seq as usize].clone())).expect("ok");
        assert!(!z.downsampled);
        assert_eq!(z.points.len(), 31);
        assert!(z.points.contains(&(54_321, 99.0)));
    }

    #[test]
    fn timed_keeps_times_and_extremes() {
        let pts: Vec<Point> = (0..10_000)
            .map(|i| Point { step: i, timestamp_ms: 1_000 + i * 10, value: if i == 4321 { 50.0 } else { 0.0 } })
            .collect();
        let (down, v) = downsample_timed(&pts, 0, 9_999, 100);
        assert!(down && v.len() <= 300);
        assert!(v.contains(&(4321, 50.0, 1_000 + 43_210)));
        let (down, v) = downsample_timed(&pts, 10, 19, 100);
        assert!(!down);
        assert_eq!(v.first(), Some(&(10, 0.0, 1_100)));
        assert_eq!(v.len(), 10);
    }

    #[test]
    fn extreme_steps_do_not_overflow() {
        let v: Vec<f64> = (0..1000).map(f64::from).collect();
        let (mut c, b) = chunked(&v, 10);
        c[0].step_lo = i64::MIN;
        c[99].step_hi = i64::MAX;
        let s = downsample(&c, None, None, 5, |x| Ok::<_, ()>(b[x.seq as usize].clone())).expect("ok");
        assert!(s.downsampled);
        assert!(s.points.iter().any(|p| p.1 == 999.0));
    }
}
