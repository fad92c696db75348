//! `runlog show RUN`: one run's identity, params, tags, properties, metric summary, images, files, children and the
//! tail of its log.
//!
//! Opens the store read-only; never creates or changes a file.

use super::Global;
use crate::common::{self, Paint, TextTable, format_duration, format_time, format_value};
use anyhow::Context as _;
use runlog_core::MetricKind;
use runlog_core::limits::truncate;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

/// Arguments of `runlog show`.
#[derive(Debug, clap::Args)]
#[command(after_help = "JSON output (--json) is the run object of `runlog ls --json` with more fields:
  metrics (name -> {last, step, count, min, max}), series (name, kind, count, description), images (name, step, timestamp,
  description, width, height, hash), files (name, size, hash), children (run objects), log (stream, level, message,
  timestamp).")]
pub struct Args {
    /// The run: id, unambiguous id prefix, or experiment/name.
    pub run: String,
    /// How many log lines to show from the end.
    #[arg(long, default_value_t = 20)]
    pub tail: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `runlog show`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let path = g.store_path();
    let (reader, info) = common::open_run(&path, &args.run)?;
    let id = info.id.clone();
    let summary = reader.summary(&id).context("summarize run")?;
    let metrics = reader.metrics(&id).context("list metrics")?;
    let images = reader.images(&id, None).context("list images")?;
    let files = reader.files(&id).context("list files")?;
    let children = reader.children(&id).context("list child runs")?;
    let log = reader.log_lines(&id, None, Some(args.tail)).context("read log")?;
    let out = std::io::stdout();
    let mut out = out.lock();
    if args.json {
        let mut v = super::ls::ls_json(&info, &summary);
        v["series"] = serde_json::to_value(&metrics).context("encode")?;
        v["images"] = images
            .iter()
            .map(|e| {
                serde_json::json!({"name": e.name, "step": e.step, "timestamp": e.timestamp_ms, "description": e.value.description,
                "width": e.value.width, "height": e.value.height, "hash": e.value.hash.as_str()})
            })
            .collect();
        v["files"] = files
            .iter()
            .map(|e| serde_json::json!({"name": e.name, "size": e.value.size, "hash": e.value.hash.as_str()}))
            .collect();
        v["children"] = children.iter().map(common::run_json).collect();
        v["log"] = log
            .iter()
            .map(|e| {
                serde_json::json!({"stream": e.name, "level": e.value.level, "message": e.value.message,
                "timestamp": e.timestamp_ms})
            })
            .collect();
        serde_json::to_writer(&mut out, &v).context("write output")?;
        writeln!(out).context("write output")?;
        return Ok(ExitCode::SUCCESS);
    }
    let p = Paint { on: g.color };
    let mut s = String::new();
    let _ = writeln!(s, "{} {}", p.bold(&format!("{}/{}", info.experiment, info.name)), p.dim(info.id.as_str()));
    let status = match &info.reason {
        Some(r) => format!("{} ({r})", p.status(info.status)),
        None => p.status(info.status),
    };
    let _ = writeln!(s, "  status    {status}");
    let _ = writeln!(s, "  started   {} UTC", format_time(info.started_at));
    if let Some(e) = info.ended_at {
        let _ = writeln!(s, "  ended     {} UTC", format_time(e));
    }
    let _ = writeln!(s, "  duration  {}", format_duration(info.duration_ms()));
    if let Some(parent) = &info.parent {
        let _ = writeln!(s, "  parent    {parent}");
    }
    section(&mut s, p, "params", info.params.iter().map(|(k, v)| (k.clone(), v.to_string())));
    section(&mut s, p, "tags", info.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    section(&mut s, p, "properties", info.properties.iter().map(|(k, v)| (k.clone(), v.clone())));
    if !metrics.is_empty() {
        let _ = writeln!(s, "\n{}", p.bold("metrics"));
        let mut t = TextTable::new(
            ["  name", "kind", "count", "last", "min", "max"].map(|h| p.dim(h)).to_vec(),
            vec![false, false, true, true, true, true],
        );
        for m in &metrics {
            let sm = summary.iter().find(|x| x.name == m.name && m.kind == MetricKind::Scalar);
            let f = |v: Option<f64>| v.map_or("-".to_string(), format_value);
            // A string metric (Azure's `run.log(name, "text")`) shows its last string, as Azure shows it.
            let last = match m.kind {
                MetricKind::Text => reader
                    .texts(&id, Some(&m.name))
                    .context("read texts")?
                    .pop()
                    .map_or("-".to_string(), |e| shorten(&e.value.text, LAST_TEXT_CHARS)),
                // A chart shows which of Azure's schemas its last version is in.
                MetricKind::Chart => reader
                    .charts(&id, Some(&m.name))
                    .context("read charts")?
                    .pop()
                    .map_or("-".to_string(), |e| e.value.schema_type.as_str().to_string()),
                _ => f(sm.map(|x| x.last)),
            };
            t.push(vec![
                format!("  {}", m.name),
                format!("{:?}", m.kind).to_lowercase(),
                m.count.to_string(),
                last,
                f(sm.and_then(|x| x.min)),
                f(sm.and_then(|x| x.max)),
            ]);
        }
        s.push_str(&t.render());
    }
    if !images.is_empty() {
        let mut by: BTreeMap<&str, (usize, u32, u32)> = BTreeMap::new();
        for e in &images {
            let x = by.entry(&e.name).or_insert((0, e.value.width, e.value.height));
            x.0 += 1;
        }
        section(&mut s, p, "images", by.into_iter().map(|(n, (c, w, h))| (n.to_string(), format!("{c} x {w}x{h}"))));
    }
    section(&mut s, p, "files", files.iter().map(|e| (e.name.clone(), format!("{} bytes", e.value.size))));
    section(
        &mut s,
        p,
        "children",
        children.iter().map(|c| (c.name.clone(), format!("{} {}", p.status(c.status), p.dim(c.id.as_str())))),
    );
    if !log.is_empty() {
        let _ = writeln!(s, "\n{}", p.bold(&format!("log (last {})", log.len())));
        for e in &log {
            let _ = writeln!(s, "  {} {:<6} {}", p.dim(&format_time(e.timestamp_ms)), e.name, e.value.message);
        }
    }
    out.write_all(s.as_bytes()).context("write output")?;
    Ok(ExitCode::SUCCESS)
}

/// How much of a string metric's last value the metrics table shows.
const LAST_TEXT_CHARS: usize = 40;

/// The first line of `text`, cut at `max` characters by the core's [`truncate`]; an ellipsis also marks lines left out.
fn shorten(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let cut = truncate(line, max);
    if cut.len() == line.len() && line.len() < text.len() { format!("{cut}…") } else { cut }
}

fn section(s: &mut String, p: Paint, title: &str, items: impl Iterator<Item = (String, String)>) {
    let mut t = TextTable::new(Vec::new(), Vec::new());
    for (k, v) in items {
        t.push(vec![format!("  {k}"), v]);
    }
    if t.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n{}", p.bold(title));
    s.push_str(&t.render());
}
