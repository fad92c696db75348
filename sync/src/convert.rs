//! Stored records into wire records: the one place where the store's types meet the wire's (runlog-wire knows
//! nothing of runlog-core, and the store's chunk layout never travels as it is).

use runlog_core::record::{self as core_record, FileRef, ImageRef, LogLine, Row, RunStarted, StatusChange, Table};
use runlog_core::{Kind, RawRecord, Value};
use runlog_wire::points;
use runlog_wire::{Body, WireRecord, WireValue};

/// A store value as a wire value.
pub fn wire_value(v: Value) -> WireValue {
    match v {
        Value::Bool(b) => WireValue::Bool(b),
        Value::I64(i) => WireValue::Int(i),
        Value::F64(f) => WireValue::Float(f),
        Value::Str(s) => WireValue::Str(s),
    }
}

/// Why a stored record cannot be turned into wire records (corrupt body): the agent rejects it locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// Converts a stored record into wire records: one, or several parts of at most `part_rows` points for a scalar chunk.
pub fn from_raw(raw: &RawRecord, part_rows: usize) -> std::result::Result<Vec<WireRecord>, Unreadable> {
    let bad =
        |e: runlog_core::Error| Unreadable(format!("record {} ({}) is unreadable: {e}", raw.seq, raw.kind.as_str()));
    let make = |body: Body, rows: u32, part: u32, step: Option<i64>| WireRecord {
        seq: raw.seq.get(),
        part,
        rows,
        run: raw.run.to_string(),
        name: raw.name.clone(),
        at: raw.at,
        step,
        body,
    };
    let one = |body: Body| Ok(vec![make(body, 1, 0, raw.step)]);
    let value = || core_record::decode::<Value>(&raw.body).map(wire_value).map_err(bad);
    match raw.kind {
        Kind::RunStarted => {
            let r: RunStarted = core_record::decode(&raw.body).map_err(bad)?;
            one(Body::Run { experiment: r.experiment, name: r.name, parent: r.parent })
        }
        Kind::Status => {
            let s: StatusChange = core_record::decode(&raw.body).map_err(bad)?;
            one(Body::Status { status: s.status.as_str().to_string(), reason: s.reason })
        }
        Kind::Param => one(Body::Param(value()?)),
        Kind::Tag => one(Body::Tag(value()?)),
        Kind::Property => one(Body::Property(value()?)),
        Kind::Description => one(Body::Description(value()?)),
        Kind::Scalars => {
            let part_rows = part_rows.clamp(1, runlog_core::chunk::MAX_POINTS);
            let n = usize::try_from(raw.count).unwrap_or(0);
            // The store's chunk layout is core's own: the points are decoded and packed again in the wire's.
            let stored = raw.points().map_err(bad)?;
            if stored.len() != n {
                return Err(Unreadable(format!("record {} says {n} points but holds {}", raw.seq, stored.len())));
            }
            let wire: Vec<points::Point> =
                stored.iter().map(|p| points::Point { step: p.step, at: p.timestamp_ms, value: p.value }).collect();
            Ok(wire
                .chunks(part_rows)
                .enumerate()
                .map(|(i, pts)| {
                    let step = pts.iter().map(|p| p.step).min();
                    make(Body::Scalars(points::encode(pts)), pts.len() as u32, (i * part_rows) as u32, step)
                })
                .collect())
        }
        Kind::Row => {
            let r: Row = core_record::decode(&raw.body).map_err(bad)?;
            one(Body::Row(r.columns.into_iter().map(|(k, v)| (k, wire_value(v))).collect()))
        }
        Kind::Table => {
            let t: Table = core_record::decode(&raw.body).map_err(bad)?;
            let rows = t.columns.first().map_or(0, |c| c.1.len()).max(1) as u32;
            let cols = t.columns.into_iter().map(|(k, vs)| (k, vs.into_iter().map(wire_value).collect()));
            Ok(vec![make(Body::Table(cols.collect()), rows, 0, raw.step)])
        }
        Kind::Image => {
            let i: ImageRef = core_record::decode(&raw.body).map_err(bad)?;
            one(Body::Image {
                hash: i.hash.to_string(),
                format: i.format.name().to_string(),
                width: i.width,
                height: i.height,
                size: i.size,
                description: i.description,
            })
        }
        Kind::Text => {
            let t: core_record::Text = core_record::decode(&raw.body).map_err(bad)?;
            one(Body::Text(t.text))
        }
        Kind::LogLine => {
            let l: LogLine = core_record::decode(&raw.body).map_err(bad)?;
            one(Body::Log { level: l.level, target: l.target, message: l.message })
        }
        Kind::Chart => {
            let c: runlog_core::Chart = core_record::decode(&raw.body).map_err(bad)?;
            one(Body::Chart(c.to_json()))
        }
        Kind::File => {
            let f: FileRef = core_record::decode(&raw.body).map_err(bad)?;
            one(Body::File { hash: f.hash.to_string(), size: f.size })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_chunk_travels_in_the_wires_packing_split_by_part_rows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = runlog_core::Store::open(dir.path().join("runlog.db")).expect("store");
        let run = store.start_run("e").expect("run");
        for i in 0..10 {
            run.log("loss", f64::from(i)).expect("log");
        }
        run.complete().expect("complete");
        store.flush().expect("flush");
        let reader = store.reader();
        let raws = reader.records_after(runlog_core::Seq::ZERO, 100).expect("records");
        let raw = raws.iter().find(|r| r.kind == Kind::Scalars).expect("a scalar chunk");
        let parts = from_raw(raw, 4).expect("converts");
        assert_eq!(parts.iter().map(|p| (p.part, p.rows)).collect::<Vec<_>>(), [(0, 4), (4, 4), (8, 2)]);
        let mut values = Vec::new();
        for p in &parts {
            let Body::Scalars(b) = &p.body else { panic!("not scalars: {p:?}") };
            values.extend(points::decode(b).expect("wire points").iter().map(|p| p.value));
        }
        assert_eq!(values, (0..10).map(f64::from).collect::<Vec<_>>());
    }
}
