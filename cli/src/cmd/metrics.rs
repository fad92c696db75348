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
            let mut w = csv_writer(&mut *out);
            let header: &[&str] = if several { &["name", "step", "timestamp", "value"] } else { &HEADER[1..] };
            csv_header(&mut w, header)?;
            for (n, pts) in names.iter().zip(series) {
                for p in pts {
                    csv_point(&mut w, several.then_some(n.as_str()), p)?;
                }
            }
            w.flush()?;
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

/// The CSV header of several series (`runlog metrics` with one series leaves out `name`).
pub const HEADER: [&str; 4] = ["name", "step", "timestamp", "value"];

/// A CSV writer for `metrics -f csv` and `export -f csv`: RFC 4180 quoting by the `csv` crate (a field with a comma,
/// quote, CR or LF is quoted, quotes doubled), records ended by `\n`.
pub fn csv_writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(out)
}

/// Writes one point as the CSV record `[name,]step,timestamp,value`.
pub fn csv_point<W: std::io::Write>(w: &mut csv::Writer<W>, name: Option<&str>, p: &Point) -> std::io::Result<()> {
    let mut write = || {
        if let Some(n) = name {
            w.write_field(n)?;
        }
        w.write_field(p.step.to_string())?;
        w.write_field(p.timestamp_ms.to_string())?;
        w.write_field(csv_value(p.value))?;
        w.write_record(None::<&[u8]>)
    };
    write().map_err(csv_io)
}

/// Writes a header record.
pub fn csv_header<W: std::io::Write>(w: &mut csv::Writer<W>, fields: &[&str]) -> std::io::Result<()> {
    w.write_record(fields).map_err(csv_io)
}

/// A CSV writer's error as the I/O error it wraps, so a closed pipe stays `BrokenPipe` (which `main` takes as the
/// reader having enough).
fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("CSV: {other:?}")),
    }
}

/// A float for CSV: shortest round-trip form, or NaN / inf / -inf.
fn csv_value(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { format_value(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_names_as_rfc_4180_and_reads_back() {
        let names = ["val,top-1".to_string(), "say \"hi\"\nthere".to_string(), "plain".to_string()];
        let pt = |step, value| Point { step, timestamp_ms: 1_700_000_000_000, value };
        let series = vec![vec![pt(0, 0.5)], vec![pt(1, f64::NAN)], vec![pt(2, f64::NEG_INFINITY), pt(3, 1e-7)]];
        let mut out = Vec::new();
        write(&mut out, Format::Csv, &names, &series).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with("name,step,timestamp,value\n\"val,top-1\",0,1700000000000,0.5\n"), "{text}");
        assert!(text.contains("\"say \"\"hi\"\"\nthere\",1,"), "quotes doubled, newline kept inside quotes: {text}");
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<Vec<String>> =
            r.records().map(|x| x.expect("a record").iter().map(String::from).collect()).collect();
        let want = [
            ["val,top-1", "0", "1700000000000", "0.5"],
            ["say \"hi\"\nthere", "1", "1700000000000", "NaN"],
            ["plain", "2", "1700000000000", "-inf"],
            ["plain", "3", "1700000000000", "0.0000001"],
        ];
        assert_eq!(rows, want.map(|r| r.map(String::from).to_vec()).to_vec());

        let mut one = Vec::new();
        write(&mut one, Format::Csv, &names[..1], &series[..1]).expect("write");
        assert_eq!(String::from_utf8(one).expect("utf-8"), "step,timestamp,value\n0,1700000000000,0.5\n");
    }
}
