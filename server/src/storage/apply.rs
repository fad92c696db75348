//! Applying a batch as pure steps, the same for every backend:
//!
//! 1. [`validate`]: what each record is, or why it is refused, from the record and the limits alone;
//! 2. [`wanted`]: the keys a backend must look up (held parts of scalar chunks, records, names, blobs);
//! 3. the backend reads them into [`Held`], inside the transaction that will write;
//! 4. [`plan`]: what to write ([`Plan::writes`]) and the answer ([`Plan::reply`]), or a refusal of the whole batch;
//! 5. the backend writes the plan in that transaction.
//!
//! Nothing here does I/O, so every rule is tested as a table (`tests` below).

use crate::error::{Error, Result};
use crate::storage::ScalarChunk;
use runlog_wire::points::{self, Point};
use runlog_wire::{Batch, BatchId, BatchReply, Body, Rejection, ServiceLimits, WireRecord, WireValue, truncate};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Why a batch was refused as a whole (nothing of it applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRefusal {
    /// It refers to blobs the workspace does not hold: upload them, then send the batch again.
    BlobsMissing(Vec<String>),
    /// Over the rows-per-batch limit.
    TooManyRows {
        /// Rows in the batch.
        rows: u64,
        /// The limit.
        limit: u64,
    },
}

/// Why one record is refused: a machine-readable code (docs/protocol.md) and a reason that names the value and the
/// limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `invalid_record`, `name_too_long`, `value_too_long`, `too_many_columns`, `too_many_names`, `too_many_rows`.
    pub code: &'static str,
    /// For people.
    pub reason: String,
}

/// What [`validate`] found of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not a record at all (a bad id, points that do not decode): refused even when it repeats one held.
    Malformed(Refusal),
    /// A well-formed record over a per-record limit: refused unless the workspace already holds it (a resend of a
    /// record accepted under other limits is a duplicate, not a refusal).
    OverLimit(Refusal),
    /// Within every per-record limit.
    Fine,
}

/// One record of a batch after [`validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<'a> {
    /// The record.
    pub rec: &'a WireRecord,
    /// Its decoded points (scalars only).
    pub points: Vec<Point>,
    /// What it is.
    pub verdict: Verdict,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks every record of a batch against its own shape and the per-record limits; refuses the whole batch when it
/// holds more rows than a batch may.
pub fn validate<'a>(batch: &'a Batch, limits: &ServiceLimits) -> std::result::Result<Vec<Checked<'a>>, BatchRefusal> {
    let rows = batch.rows();
    if rows > limits.max_rows_per_batch {
        return Err(BatchRefusal::TooManyRows { rows, limit: limits.max_rows_per_batch });
    }
    Ok(batch.records.iter().map(|rec| check(rec, limits)).collect())
}

fn check<'a>(rec: &'a WireRecord, limits: &ServiceLimits) -> Checked<'a> {
    let malformed = |reason: String| Checked {
        rec,
        points: Vec::new(),
        verdict: Verdict::Malformed(Refusal { code: "invalid_record", reason }),
    };
    if rec.seq <= 0 || !is_hex(&rec.run, 32) {
        return malformed(format!(
            "record {} has a bad sequence number or run id {:?}",
            rec.seq,
            truncate(&rec.run, 40)
        ));
    }
    let mut pts = Vec::new();
    if let Body::Scalars(b) = &rec.body {
        match points::decode(b) {
            Ok(p) if !p.is_empty() && p.len() == rec.rows as usize => pts = p,
            Ok(p) => {
                return malformed(format!("scalar record {} holds {} points but says {}", rec.seq, p.len(), rec.rows));
            }
            Err(e) => return malformed(format!("scalar record {}: {e}", rec.seq)),
        }
    }
    // A chart is checked against its schema again, as the client did when it was logged.
    if let Body::Chart(doc) = &rec.body
        && let Err(e) = runlog_wire::chart::Chart::parse(&rec.name, None, doc)
    {
        return malformed(e.to_string());
    }
    let verdict = match over_limit(rec, limits) {
        Some(r) => Verdict::OverLimit(r),
        None => Verdict::Fine,
    };
    Checked { rec, points: pts, verdict }
}

/// The per-record limits: name and value lengths, columns per row.
fn over_limit(rec: &WireRecord, limits: &ServiceLimits) -> Option<Refusal> {
    let chars = |s: &str| s.chars().count() as u64;
    let cut = |s: &str| truncate(s, 40);
    let name_check = |what: &str, s: &str| {
        let n = chars(s);
        (n > limits.max_name_chars).then(|| Refusal {
            code: "name_too_long",
            reason: format!("{what} {:?} is {n} characters, the limit is {}", cut(s), limits.max_name_chars),
        })
    };
    let value_check = |what: &str, v: &WireValue| {
        let s = v.as_str()?;
        let n = chars(s);
        (n > limits.max_value_chars).then(|| Refusal {
            code: "value_too_long",
            reason: format!("{what} {:?} is {n} characters, the limit is {}", cut(s), limits.max_value_chars),
        })
    };
    if !rec.name.is_empty()
        && let Some(e) = name_check("name", &rec.name)
    {
        return Some(e);
    }
    let columns = |n: usize| {
        (n as u64 > limits.max_columns_per_row).then(|| Refusal {
            code: "too_many_columns",
            reason: format!(
                "{} {:?} has {n} columns, the limit is {}",
                rec.body.kind(),
                cut(&rec.name),
                limits.max_columns_per_row
            ),
        })
    };
    match &rec.body {
        Body::Param(v) | Body::Tag(v) | Body::Property(v) | Body::Description(v) => {
            value_check(&format!("value of {} {:?}", rec.body.kind(), cut(&rec.name)), v)
        }
        Body::Row(cols) => columns(cols.len()).or_else(|| {
            cols.iter()
                .find_map(|(k, v)| name_check("column name", k).or_else(|| value_check(&format!("column {k:?}"), v)))
        }),
        Body::Table(cols) => columns(cols.len()).or_else(|| {
            cols.iter().find_map(|(k, vs)| {
                name_check("column name", k)
                    .or_else(|| vs.iter().find_map(|v| value_check(&format!("column {k:?}"), v)))
            })
        }),
        _ => None,
    }
}

/// The keys a backend looks up before [`plan`]: exactly what the batch's records touch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Sequence numbers of scalar records (their held parts are wanted).
    pub scalar_seqs: BTreeSet<i64>,
    /// `(seq, part)` of the other records.
    pub records: BTreeSet<(i64, u32)>,
    /// `(run, name)` of metric records (their rows held are wanted).
    pub names: BTreeSet<(String, String)>,
    /// Runs of metric records (how many names each holds is wanted).
    pub runs: BTreeSet<String>,
    /// Blob hashes referred to (lowercase).
    pub blobs: BTreeSet<String>,
}

/// What the backend holds of [`Wanted`], read in the transaction that writes the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// Point ranges `[lo, hi)` held of each scalar record, by seq.
    pub parts: HashMap<i64, Vec<(i64, i64)>>,
    /// `(seq, part)` of other records held.
    pub records: HashSet<(i64, u32)>,
    /// Rows held per `(run, name)`.
    pub name_rows: HashMap<(String, String), u64>,
    /// Names held per run.
    pub names_per_run: HashMap<String, u64>,
    /// Blobs held.
    pub blobs: HashSet<String>,
}

/// The keys the checked records touch.
pub fn wanted(checked: &[Checked<'_>]) -> Wanted {
    let mut w = Wanted::default();
    for c in checked {
        let r = c.rec;
        if let Some(h) = r.body.blob().filter(|h| is_hex(h, 64)) {
            w.blobs.insert(h.to_ascii_lowercase());
        }
        if matches!(c.verdict, Verdict::Malformed(_)) {
            continue;
        }
        if matches!(r.body, Body::Scalars(_)) {
            w.scalar_seqs.insert(r.seq);
        } else {
            w.records.insert((r.seq, r.part));
        }
        if r.body.is_metric() {
            w.names.insert((r.run.clone(), r.name.clone()));
            w.runs.insert(r.run.clone());
        }
    }
    w
}

/// A record to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// Sequence number in its store.
    pub seq: i64,
    /// Part: the offset of the first point within the stored chunk for scalars, the record's part otherwise.
    pub part: i64,
    /// Run id.
    pub run: String,
    /// Kind name (`scalars`, `row`, ...).
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// When, ms since the epoch.
    pub at: i64,
    /// Step (the smallest step of the points, for scalars).
    pub step: Option<i64>,
    /// Rows.
    pub n: i64,
    /// Body bytes: packed points for scalars, the msgpack body otherwise.
    pub body: Vec<u8>,
    /// Statistics of the points (scalars only); `id` is 0 until stored.
    pub stats: Option<ScalarChunk>,
}

/// One write of a [`Plan`], in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A run's head (inserted if new).
    Run {
        /// Run id.
        run: String,
        /// Experiment.
        experiment: String,
        /// Display name.
        name: String,
        /// Parent run id.
        parent: Option<String>,
        /// When it was created.
        at: i64,
    },
    /// A record.
    Record(NewRecord),
    /// Rows added to a metric name of a run.
    Names {
        /// Run id.
        run: String,
        /// Metric name.
        name: String,
        /// Rows added.
        rows: u64,
    },
    /// A refused record (replacing an earlier refusal of the same record).
    Rejection(Rejection),
}

/// What applying a batch writes, and the answer to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The writes, in order.
    pub writes: Vec<Write>,
    /// The answer.
    pub reply: BatchReply,
    /// Rows in the batch.
    pub rows: u64,
    /// The smallest and largest seq of the batch (0, 0 for an empty batch).
    pub seq_range: (i64, i64),
}

/// Merges `[lo, hi)` intervals already held and returns the sub-ranges of `[lo, hi)` not covered.
pub fn uncovered(held: &mut [(i64, i64)], lo: i64, hi: i64) -> Vec<(i64, i64)> {
    held.sort_unstable();
    let mut out = Vec::new();
    let mut at = lo;
    for &(a, b) in held.iter() {
        if b <= at {
            continue;
        }
        if a >= hi {
            break;
        }
        if a > at {
            out.push((at, a.min(hi)));
        }
        at = at.max(b);
        if at >= hi {
            break;
        }
    }
    if at < hi {
        out.push((at, hi));
    }
    out
}

/// Decides what applying the checked records writes, given what the backend holds. Records are taken in order, and
/// each one sees what the records before it added (a batch that repeats a record holds it once).
pub fn plan(
    id: &BatchId,
    batch: &Batch,
    checked: &[Checked<'_>],
    held: &Held,
    limits: &ServiceLimits,
) -> Result<std::result::Result<Plan, BatchRefusal>> {
    // The blobs referred to (as `wanted` collects them), without building the rest of the keys again.
    let mut missing: Vec<String> = checked
        .iter()
        .filter_map(|c| c.rec.body.blob().filter(|h| is_hex(h, 64)).map(str::to_ascii_lowercase))
        .filter(|h| !held.blobs.contains(h))
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Ok(Err(BatchRefusal::BlobsMissing(missing)));
    }
    let mut held = held.clone();
    let mut writes = Vec::new();
    let mut reply = BatchReply { batch: id.to_string(), applied: 0, duplicates: 0, rejected: Vec::new() };
    let mut refuse = |writes: &mut Vec<Write>, rec: &WireRecord, r: Refusal| {
        let rejection = Rejection { seq: rec.seq, part: rec.part, code: r.code.to_string(), reason: r.reason };
        reply.rejected.push(rejection.clone());
        writes.push(Write::Rejection(rejection));
    };
    let mut applied = 0u64;
    let mut duplicates = 0u64;
    for c in checked {
        let rec = c.rec;
        if let Verdict::Malformed(r) = &c.verdict {
            refuse(&mut writes, rec, r.clone());
            continue;
        }
        // What this record adds: for scalars, only the points not held yet (by position in their chunk).
        let new_ranges = if matches!(rec.body, Body::Scalars(_)) {
            let lo = i64::from(rec.part);
            let ranges = uncovered(held.parts.entry(rec.seq).or_default(), lo, lo + c.points.len() as i64);
            if ranges.is_empty() {
                duplicates += 1;
                continue;
            }
            ranges
        } else {
            if held.records.contains(&(rec.seq, rec.part)) {
                duplicates += 1;
                continue;
            }
            Vec::new()
        };
        if let Verdict::OverLimit(r) = &c.verdict {
            refuse(&mut writes, rec, r.clone());
            continue;
        }
        let added_rows: u64 = if new_ranges.is_empty() {
            u64::from(rec.rows)
        } else {
            new_ranges.iter().map(|(a, b)| (b - a) as u64).sum()
        };
        if rec.body.is_metric() {
            let key = (rec.run.clone(), rec.name.clone());
            if let Some(r) = names_refusal(rec, held.name_rows.get(&key).copied(), &held, added_rows, limits) {
                refuse(&mut writes, rec, r);
                continue;
            }
            if !held.name_rows.contains_key(&key) {
                *held.names_per_run.entry(rec.run.clone()).or_default() += 1;
            }
            *held.name_rows.entry(key).or_default() += added_rows;
            writes.push(Write::Names { run: rec.run.clone(), name: rec.name.clone(), rows: added_rows });
        }
        if let Body::Run { experiment, name, parent } = &rec.body {
            writes.push(Write::Run {
                run: rec.run.clone(),
                experiment: experiment.clone(),
                name: name.clone(),
                parent: parent.clone(),
                at: rec.at,
            });
        }
        if matches!(rec.body, Body::Scalars(_)) {
            let base = i64::from(rec.part);
            for &(a, b) in &new_ranges {
                let slice = &c.points[(a - base) as usize..(b - base) as usize];
                let stats = ScalarChunk::of(0, slice);
                writes.push(Write::Record(NewRecord {
                    seq: rec.seq,
                    part: a,
                    run: rec.run.clone(),
                    kind: "scalars",
                    name: rec.name.clone(),
                    at: rec.at,
                    step: stats.as_ref().map(|s| s.step_lo),
                    n: b - a,
                    body: points::encode(slice),
                    stats,
                }));
                held.parts.entry(rec.seq).or_default().push((a, b));
            }
        } else {
            let body = rmp_serde::to_vec(&rec.body)
                .map_err(|e| Error::Corrupt(format!("record {} cannot be encoded for storage: {e}", rec.seq)))?;
            writes.push(Write::Record(NewRecord {
                seq: rec.seq,
                part: i64::from(rec.part),
                run: rec.run.clone(),
                kind: rec.body.kind(),
                name: rec.name.clone(),
                at: rec.at,
                step: rec.step,
                n: i64::from(rec.rows),
                body,
                stats: None,
            }));
            held.records.insert((rec.seq, rec.part));
        }
        applied += 1;
    }
    reply.applied = applied;
    reply.duplicates = duplicates;
    let seq_range = batch.records.iter().fold(None, |acc: Option<(i64, i64)>, r| match acc {
        None => Some((r.seq, r.seq)),
        Some((lo, hi)) => Some((lo.min(r.seq), hi.max(r.seq))),
    });
    Ok(Ok(Plan { writes, reply, rows: batch.rows(), seq_range: seq_range.unwrap_or((0, 0)) }))
}

/// The names-per-run and rows-per-name limits of a metric record adding `added` rows.
fn names_refusal(
    rec: &WireRecord,
    rows_held: Option<u64>,
    held: &Held,
    added: u64,
    limits: &ServiceLimits,
) -> Option<Refusal> {
    let name = truncate(&rec.name, 40);
    match rows_held {
        None => {
            let n = held.names_per_run.get(&rec.run).copied().unwrap_or(0);
            if n >= limits.max_names_per_run {
                return Some(Refusal {
                    code: "too_many_names",
                    reason: format!(
                        "metric name {name:?} would be name {} of run {}, the limit is {} names per run",
                        n + 1,
                        rec.run,
                        limits.max_names_per_run
                    ),
                });
            }
        }
        Some(n) if n + added > limits.max_rows_per_name => {
            return Some(Refusal {
                code: "too_many_rows",
                reason: format!(
                    "metric {name:?} of run {} would hold {} rows, the limit is {} rows per name",
                    rec.run,
                    n + added,
                    limits.max_rows_per_name
                ),
            });
        }
        Some(_) => {}
    }
    (added > limits.max_rows_per_name).then(|| Refusal {
        code: "too_many_rows",
        reason: format!(
            "record {} holds {added} rows, the limit is {} rows per name",
            rec.seq, limits.max_rows_per_name
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use runlog_wire::WIRE_VERSION;

    const RUN: &str = "0123456789abcdef0123456789abcdef";

    fn rec(seq: i64, part: u32, name: &str, body: Body) -> WireRecord {
        let rows = match &body {
            Body::Scalars(b) => points::decode(b).map_or(0, |p| p.len() as u32),
            Body::Table(cols) => cols.first().map_or(1, |c| c.1.len() as u32),
            _ => 1,
        };
        WireRecord { seq, part, rows, run: RUN.into(), name: name.into(), at: 10, step: Some(0), body }
    }

    fn scalars(n: i64) -> Body {
        Body::Scalars(points::encode(
            &(0..n).map(|s| Point { step: s, at: 10 + s, value: s as f64 }).collect::<Vec<_>>(),
        ))
    }

    fn batch(records: Vec<WireRecord>) -> Batch {
        Batch { version: WIRE_VERSION, store: "f".repeat(32), records }
    }

    fn tight() -> ServiceLimits {
        ServiceLimits {
            max_name_chars: 8,
            max_value_chars: 5,
            max_columns_per_row: 2,
            max_names_per_run: 2,
            max_rows_per_name: 10,
            max_rows_per_batch: 100,
            ..ServiceLimits::default()
        }
    }

    /// Every refusal of `validate`, as a table: the record, the code and words its reason must hold.
    #[test]
    fn validate_refuses_each_bad_record_with_its_code_and_reason() {
        let s = |v: &str| WireValue::Str(v.into());
        let mut bad_run = rec(1, 0, "x", Body::Tag(s("a")));
        bad_run.run = "nope".into();
        let mut lying_rows = rec(1, 0, "loss", scalars(3));
        lying_rows.rows = 4;
        let cases: Vec<(WireRecord, &str, &str)> = vec![
            (rec(0, 0, "x", Body::Tag(s("a"))), "invalid_record", "bad sequence number"),
            (bad_run, "invalid_record", "\"nope\""),
            (lying_rows, "invalid_record", "holds 3 points but says 4"),
            (rec(1, 0, "loss", Body::Scalars(vec![9, 9])), "invalid_record", "version 9"),
            (rec(1, 0, "a_long_name", Body::Tag(s("a"))), "name_too_long", "is 11 characters, the limit is 8"),
            (rec(1, 0, "p", Body::Param(s("abcdef"))), "value_too_long", "value of param \"p\""),
            (
                rec(1, 0, "r", Body::Row(vec![("a".into(), s("1")), ("b".into(), s("2")), ("c".into(), s("3"))])),
                "too_many_columns",
                "has 3 columns, the limit is 2",
            ),
            (rec(1, 0, "r", Body::Row(vec![("column_nine".into(), s("1"))])), "name_too_long", "column name"),
            (
                rec(1, 0, "t", Body::Table(vec![("a".into(), vec![s("ok"), s("toolong")])])),
                "value_too_long",
                "column \"a\"",
            ),
            (
                rec(1, 0, "cm", Body::Chart(r#"{"schema_type": "confusion_matrix", "data": {}}"#.into())),
                "invalid_record",
                "chart \"cm\": is missing \"schema_version\"",
            ),
        ];
        for (r, code, words) in cases {
            let b = batch(vec![r]);
            let checked = validate(&b, &tight()).expect("not refused as a whole");
            let refusal = match &checked[0].verdict {
                Verdict::Malformed(r) | Verdict::OverLimit(r) => r,
                Verdict::Fine => panic!("{:?} was not refused", checked[0].rec),
            };
            assert_eq!(refusal.code, code, "{refusal:?}");
            assert!(refusal.reason.contains(words), "{:?} lacks {words:?}", refusal.reason);
        }
        let fine = batch(vec![rec(1, 0, "loss", scalars(3)), rec(2, 0, "p", Body::Param(s("ok")))]);
        assert!(validate(&fine, &tight()).expect("fine").iter().all(|c| c.verdict == Verdict::Fine));
        let huge = batch(vec![rec(1, 0, "loss", scalars(101))]);
        assert_eq!(validate(&huge, &tight()), Err(BatchRefusal::TooManyRows { rows: 101, limit: 100 }));
    }

    fn run_plan(b: &Batch, held: &Held) -> std::result::Result<Plan, BatchRefusal> {
        let checked = validate(b, &tight()).expect("valid");
        plan(&BatchId::of(b"x"), b, &checked, held, &tight()).expect("plans")
    }

    /// The decisions of `plan`, as a table: what is held, the batch, and (applied, duplicates, rejected codes).
    #[test]
    fn plan_decides_duplicates_limits_and_parts_from_what_is_held() {
        let s = |v: &str| WireValue::Str(v.into());
        let held_parts =
            |ranges: &[(i64, i64)]| Held { parts: HashMap::from([(1, ranges.to_vec())]), ..Held::default() };
        let full_names = Held {
            names_per_run: HashMap::from([(RUN.to_string(), 2)]),
            name_rows: HashMap::from([((RUN.to_string(), "a".into()), 1), ((RUN.to_string(), "b".into()), 9)]),
            ..Held::default()
        };
        type Case = (&'static str, Held, Vec<WireRecord>, (u64, u64, Vec<&'static str>));
        let cases: Vec<Case> = vec![
            ("new scalars", Held::default(), vec![rec(1, 0, "loss", scalars(3))], (1, 0, vec![])),
            ("scalars held", held_parts(&[(0, 3)]), vec![rec(1, 0, "loss", scalars(3))], (0, 1, vec![])),
            ("a record twice in one batch", Held::default(), vec![rec(1, 0, "loss", scalars(3)); 2], (1, 1, vec![])),
            (
                "over a limit but held: a duplicate",
                Held { records: HashSet::from([(2, 0)]), ..Held::default() },
                vec![rec(2, 0, "p", Body::Param(s("abcdefgh")))],
                (0, 1, vec![]),
            ),
            ("a third name", full_names.clone(), vec![rec(1, 0, "c", scalars(1))], (0, 0, vec!["too_many_names"])),
            (
                "rows over the name's limit",
                full_names.clone(),
                vec![rec(1, 0, "b", scalars(2))],
                (0, 0, vec!["too_many_rows"]),
            ),
            ("rows within the name's limit", full_names, vec![rec(1, 0, "a", scalars(2))], (1, 0, vec![])),
            (
                "one record over rows per name",
                Held::default(),
                vec![rec(1, 0, "a", scalars(11))],
                (0, 0, vec!["too_many_rows"]),
            ),
            (
                "names fill up within the batch",
                Held::default(),
                vec![rec(1, 0, "a", scalars(1)), rec(2, 0, "b", scalars(1)), rec(3, 0, "c", scalars(1))],
                (2, 0, vec!["too_many_names"]),
            ),
            (
                "malformed beats held",
                Held { records: HashSet::from([(0, 0)]), ..Held::default() },
                vec![rec(0, 0, "x", Body::Tag(s("a")))],
                (0, 0, vec!["invalid_record"]),
            ),
        ];
        for (what, held, records, (applied, duplicates, codes)) in cases {
            let p = run_plan(&batch(records), &held).expect(what);
            let got: Vec<&str> = p.reply.rejected.iter().map(|r| r.code.as_str()).collect();
            assert_eq!((p.reply.applied, p.reply.duplicates, got), (applied, duplicates, codes), "{what}");
        }
    }

    #[test]
    fn plan_writes_only_the_points_not_held_and_refuses_missing_blobs() {
        // Held: points 0..2 and 4..5 of chunk 1; the part (0, 6) adds 2..4 and 5..6.
        let held = Held { parts: HashMap::from([(1, vec![(0, 2), (4, 5)])]), ..Held::default() };
        let p = run_plan(&batch(vec![rec(1, 0, "loss", scalars(6))]), &held).expect("plan");
        let parts: Vec<(i64, i64)> = p
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::Record(r) => Some((r.part, r.n)),
                _ => None,
            })
            .collect();
        assert_eq!(parts, [(2, 2), (5, 1)]);
        let names: u64 = p.writes.iter().map(|w| if let Write::Names { rows, .. } = w { *rows } else { 0 }).sum();
        assert_eq!(names, 3, "only the points added count toward the name's rows");

        let hash = "ab".repeat(32);
        let image = Body::Image {
            hash: hash.clone(),
            format: "png".into(),
            width: 1,
            height: 1,
            size: 1,
            description: String::new(),
        };
        let b = batch(vec![rec(1, 0, "img", image)]);
        assert_eq!(run_plan(&b, &Held::default()), Err(BatchRefusal::BlobsMissing(vec![hash.clone()])));
        let with_blob = Held { blobs: HashSet::from([hash]), ..Held::default() };
        assert_eq!(run_plan(&b, &with_blob).expect("plan").reply.applied, 1);
    }

    #[test]
    fn uncovered_finds_the_gaps() {
        assert_eq!(uncovered(&mut [], 0, 10), vec![(0, 10)]);
        assert_eq!(uncovered(&mut [(0, 10)], 0, 10), vec![]);
        assert_eq!(uncovered(&mut [(0, 4), (6, 8)], 0, 10), vec![(4, 6), (8, 10)]);
        assert_eq!(uncovered(&mut [(5, 20)], 0, 10), vec![(0, 5)]);
        assert_eq!(uncovered(&mut [(0, 250), (250, 500)], 250, 4096), vec![(500, 4096)]);
    }
}
