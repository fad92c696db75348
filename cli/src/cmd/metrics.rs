//! `runlog metrics RUN [NAME...]`: a run's scalar series as a table, CSV or JSON.
//!
//! Opens the store read-only; never creates or changes a file.

use super::Global;
use crate::common::{self, format_time, format_value};
use anyhow::Context as _;
use runlog_core::{MetricKind, Point, Reader, RunId};
use std::io::{BufWriter, Write as _};
use std::process::ExitCode;

/// Output formats of `runlog metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text.
    Table,
    /// CSV: `step,timestamp,value` for one series, `name,step,timestamp,value` for several.
    Csv,
    /// JSON: `[{"name": ..., "points": [{"step", "timestamp", "value"}]}]`.
    Json,
}

/// Arguments of `runlog metrics`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "CSV: one series has the header `step,timestamp,value`; several have `name,step,timestamp,value`.
timestamp is milliseconds since the Unix epoch; non-finite values are written NaN, inf, -inf.
JSON: [{\"name\": \"loss\", \"points\": [{\"step\": 0, \"timestamp\": 1732668000000, \"value\": 0.5}, ...]}];
non-finite values are the strings \"NaN\", \"inf\", \"-inf\"."
)]
pub struct Args {
    /// The run: id, unambiguous id prefix, or experiment/name.
    pub run: String,
    /// Scalar series to print (default: all of the run's scalar series).
    pub names: Vec<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Resolves the series names asked for (all scalar series if none); unknown names exit with code 4.
pub fn scalar_names(reader: &Reader, id: &RunId, asked: &[String]) -> anyhow::Result<Vec<String>> {
    let have: Vec<String> = reader
        .metrics(id)
        .context("list metrics")?
        .into_iter()
        .filter(|m| m.kind == MetricKind::Scalar)
        .map(|m| m.name)
        .collect();
    if asked.is_empty() {
        return Ok(have);
    }
    for n in asked {
        if !have.contains(n) {
            return Err(common::coded(
                common::code::NOT_FOUND,
                format!(
                    "run {id} has no scalar series {n:?} (it has: {})",
                    if have.is_empty() { "none".to_string() } else { have.join(", ") }
                ),
            ));
        }
    }
    Ok(asked.to_vec())
}

/// Runs `runlog metrics`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let (reader, info) = common::open_run(&g.store_path(), &args.run)?;
    let names = scalar_names(&reader, &info.id, &args.names)?;
    let mut series = Vec::with_capacity(names.len());
    for n in &names {
        series.push(reader.series(&info.id, n).with_context(|| format!("read series {n:?}"))?);
    }
    let out = std::io::stdout();
    let mut out = BufWriter::with_capacity(64 << 10, out.lock());
    write(&mut out, args.format, &names, &series).context("write output")?;
    out.flush().context("write output")?;
    Ok(ExitCode::SUCCESS)
}

fn write(
    out: &mut impl std::io::Write,
    format: Format,
    names: &[String],
    series: &[Vec<Point>],
) -> std::io::Result<()> {
    match format {
        Format::Csv => {
            let several = names.len() != 1;
            writeln!(out, "{}step,timestamp,value", if several { "name," } else { "" })?;
            for (n, pts) in names.iter().zip(series) {
                let n = csv_field(n);
                for p in pts {
                    if several {
                        write!(out, "{n},")?;
                    }
                    writeln!(out, "{},{},{}", p.step, p.timestamp_ms, csv_value(p.value))?;
                }
            }
        }
        Format::Json => {
            write!(out, "[")?;
            for (i, (n, pts)) in names.iter().zip(series).enumerate() {
                if i > 0 {
                    write!(out, ",")?;
                }
                write!(out, "{{\"name\":{},\"points\":[", serde_json::Value::from(n.as_str()))?;
                for (j, p) in pts.iter().enumerate() {
                    if j > 0 {
                        write!(out, ",")?;
                    }
                    write!(
                        out,
                        "{{\"step\":{},\"timestamp\":{},\"value\":{}}}",
                        p.step,
                        p.timestamp_ms,
                        common::float_json(p.value)
                    )?;
                }
                write!(out, "]}}")?;
            }
            writeln!(out, "]")?;
        }
        Format::Table => {
            for (i, (n, pts)) in names.iter().zip(series).enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "{n} ({} points)", pts.len())?;
                let w = pts.iter().map(|p| p.step.to_string().len()).max().unwrap_or(4).max(4);
                writeln!(out, "  {:>w$}  {:<19}  value", "step", "time (UTC)")?;
                for p in pts {
                    writeln!(out, "  {:>w$}  {}  {}", p.step, format_time(p.timestamp_ms), format_value(p.value))?;
                }
            }
        }
    }
    Ok(())
}

/// A float for CSV: shortest round-trip form, or NaN / inf / -inf.
pub fn csv_value(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { format_value(v) }
}

/// Quotes a CSV field if it needs it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
