//! Server-side summaries of the experiment (sweep) page: one metric of many runs overlaid, grouped by a param, as a
//! mean line and a min/max band per group on a common step grid. The browser gets a few hundred points per group,
//! never every run's series, so a sweep of 1,000 runs draws as fast as one of 10.
//!
//! Pure: it gets each run's (already downsampled) points and its group key; reading them is the handler's job.

/// The most groups an overlay shows; the runs of smaller groups are pooled into one group named [`OTHER`].
pub const MAX_GROUPS: usize = 24;
/// The name of the pooled group.
pub const OTHER: &str = "(other)";
/// The group of runs without the grouping key.
pub const NONE: &str = "(none)";

/// One group's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group's key (the param's value as text), [`NONE`] or [`OTHER`].
    pub key: String,
    /// How many runs it holds.
    pub runs: usize,
    /// `(step, mean, min, max)` per grid bucket that any of its runs has a point in, in step order.
    pub points: Vec<(i64, f64, f64, f64)>,
}

/// A bucket's running (sum, count, min, max, largest step).
type Acc = (f64, usize, f64, f64, i64);

/// Overlays `series` (group key, points sorted by step) on `buckets` equal step buckets over `[lo, hi]`: in each
/// bucket a run counts with its last finite value there, and a group's point is the mean, min and max over its runs
/// at the largest step any of them has in the bucket (so aligned steps stay exact). Groups come largest first, then
/// by key; past [`MAX_GROUPS`] the rest are pooled.
pub fn overlay(series: &[(String, Vec<(i64, f64)>)], lo: i64, hi: i64, buckets: usize) -> Vec<Group> {
    let buckets = buckets.max(1);
    let span = (hi as f64 - lo as f64 + 1.0).max(1.0);
    let width = span / buckets as f64;
    let index = |step: i64| (((step as f64 - lo as f64) / width).max(0.0) as usize).min(buckets - 1);
    let mut sizes: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (k, _) in series {
        *sizes.entry(k.as_str()).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = sizes.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let kept: Vec<&str> = if order.len() > MAX_GROUPS {
        order.iter().take(MAX_GROUPS - 1).map(|g| g.0).collect()
    } else {
        order.iter().map(|g| g.0).collect()
    };
    let mut names: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
    if order.len() > MAX_GROUPS {
        names.push(OTHER.to_string());
    }
    // Per group and bucket: (sum, n, min, max, step).
    let mut acc: Vec<Vec<Acc>> = vec![vec![(0.0, 0, f64::INFINITY, f64::NEG_INFINITY, i64::MIN); buckets]; names.len()];
    let mut runs = vec![0usize; names.len()];
    let mut last: Vec<Option<(i64, f64)>> = vec![None; buckets];
    for (key, points) in series {
        let g = kept.iter().position(|k| *k == key.as_str()).unwrap_or(names.len() - 1);
        runs[g] += 1;
        last.iter_mut().for_each(|l| *l = None);
        for &(step, v) in points {
            if v.is_finite() && step >= lo && step <= hi {
                last[index(step)] = Some((step, v));
            }
        }
        for (b, l) in last.iter().enumerate() {
            if let Some((step, v)) = *l {
                let a = &mut acc[g][b];
                a.0 += v;
                a.1 += 1;
                a.2 = a.2.min(v);
                a.3 = a.3.max(v);
                a.4 = a.4.max(step);
            }
        }
    }
    names
        .into_iter()
        .zip(acc)
        .zip(runs)
        .map(|((key, bs), runs)| Group {
            key,
            runs,
            points: bs.into_iter().filter(|a| a.1 > 0).map(|a| (a.4, a.0 / a.1 as f64, a.2, a.3)).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_mean_min_max_on_aligned_steps() {
        let s = vec![
            ("0.1".to_string(), vec![(0, 1.0), (1, 0.5)]),
            ("0.1".to_string(), vec![(0, 3.0), (1, 0.7)]),
            ("0.01".to_string(), vec![(0, 2.0), (1, f64::NAN)]),
        ];
        let g = overlay(&s, 0, 1, 100);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0], Group { key: "0.1".into(), runs: 2, points: vec![(0, 2.0, 1.0, 3.0), (1, 0.6, 0.5, 0.7)] });
        assert_eq!(g[1], Group { key: "0.01".into(), runs: 1, points: vec![(0, 2.0, 2.0, 2.0)] });
    }

    #[test]
    fn many_groups_are_pooled_and_buckets_keep_the_last_value() {
        let s: Vec<(String, Vec<(i64, f64)>)> =
            (0..30).map(|i| (format!("seed{i:02}"), (0..100).map(|st| (st, (st + i) as f64)).collect())).collect();
        let g = overlay(&s, 0, 99, 10);
        assert_eq!(g.len(), MAX_GROUPS);
        assert_eq!(g.last().map(|x| (x.key.as_str(), x.runs)), Some((OTHER, 30 - (MAX_GROUPS - 1))));
        // Bucket 0 holds steps 0..=9: each run counts with its value at step 9.
        assert_eq!(g[0].points[0], (9, 9.0, 9.0, 9.0));
        assert_eq!(g[0].points.len(), 10);
    }
}
