//! `runlog export RUN`: all of a run's scalar series (or the ones named) as CSV, JSON lines or Parquet.
//!
//! Parquet is written with the `parquet` crate's own column writer, without Arrow and without compression codecs:
//! Arrow would add dozens of crates and minutes of build time for four flat columns, and the codecs pull in C
//! libraries (zstd, lz4). Files are plain, uncompressed Parquet that pandas, polars, DuckDB and Spark read.
//!
//! Opens the store read-only; writes only the output asked for.

use super::Global;
use super::metrics::{HEADER, csv_header, csv_point, csv_writer};
use crate::common;
use anyhow::Context as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `name,step,timestamp,value` with a header line.
    Csv,
    /// One `{"name", "step", "timestamp", "value"}` object per line.
    Jsonl,
    /// Parquet with columns name (string), step (int64), timestamp (int64, ms since the epoch, UTC), value (double);
    /// one row group per series.
    Parquet,
}

/// Arguments of `runlog export`.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "timestamp is milliseconds since the Unix epoch (UTC). In CSV, non-finite values are NaN, inf,
-inf; in JSON lines they are the strings \"NaN\", \"inf\", \"-inf\"; Parquet keeps them as doubles.
`runlog export tensorboard RUN DIR` writes the run as a TensorBoard event file instead."
)]
pub struct Args {
    /// Another format with its own arguments.
    #[command(subcommand)]
    pub to: Option<To>,
    /// The run: id, unambiguous id prefix, or experiment/name.
    #[arg(required = true)]
    pub run: Option<String>,
    /// Series to export (default: all scalar series of the run).
    pub names: Vec<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Write to this file instead of stdout (required for parquet).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// Export targets with arguments of their own.
#[derive(Debug, clap::Subcommand)]
pub enum To {
    /// Write a run as a TensorBoard event file (scalars, images, texts, params as hparams).
    Tensorboard(super::tensorboard::ExportArgs),
}

/// Runs `runlog export`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    if let Some(To::Tensorboard(a)) = args.to {
        return super::tensorboard::export(a, g);
    }
    let Some(run) = args.run.as_deref() else {
        return Err(common::coded(common::code::USAGE, "name the run to export"));
    };
    if args.format == Format::Parquet && args.output.is_none() {
        return Err(common::coded(common::code::USAGE, "--format parquet needs --output FILE (Parquet is binary)"));
    }
    let (reader, info) = common::open_run(&g.store_path(), run)?;
    let names = super::metrics::scalar_names(&reader, &info.id, &args.names)?;
    let total: u64 = reader
        .summary(&info.id)
        .context("summarize run")?
        .iter()
        .filter(|m| names.contains(&m.name))
        .map(|m| m.count)
        .sum();
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template("export {bar:30} {human_pos}/{human_len} points ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if total < 1_000_000 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let out: Box<dyn Write> = match &args.output {
        Some(_) if args.format == Format::Parquet => Box::new(std::io::sink()),
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("create {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let shown = args.output.as_ref().map_or("stdout".to_string(), |p| p.display().to_string());
    let mut out = BufWriter::with_capacity(64 << 10, out);
    match args.format {
        Format::Csv => {
            let mut w = csv_writer(&mut out);
            csv_header(&mut w, &HEADER).with_context(|| format!("write {shown}"))?;
            for n in &names {
                let pts = reader.series(&info.id, n).with_context(|| format!("read series {n:?}"))?;
                for p in &pts {
                    csv_point(&mut w, Some(n.as_str()), p).with_context(|| format!("write {shown}"))?;
                }
                bar.inc(pts.len() as u64);
            }
            w.flush().with_context(|| format!("write {shown}"))?;
        }
        Format::Jsonl => {
            for n in &names {
                let pts = reader.series(&info.id, n).with_context(|| format!("read series {n:?}"))?;
                let json_name = serde_json::Value::from(n.as_str()).to_string();
                for p in &pts {
                    writeln!(
                        out,
                        "{{\"name\":{json_name},\"step\":{},\"timestamp\":{},\"value\":{}}}",
                        p.step,
                        p.timestamp_ms,
                        common::float_json(p.value)
                    )
                    .with_context(|| format!("write {shown}"))?;
                }
                bar.inc(pts.len() as u64);
            }
        }
        Format::Parquet => {
            drop(out);
            let path = args.output.as_ref().context("--output is required for parquet")?;
            let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
            write_parquet(&reader, &info.id, &names, BufWriter::with_capacity(1 << 20, file), &bar)
                .with_context(|| format!("write {shown}"))?;
            bar.finish_and_clear();
            return Ok(ExitCode::SUCCESS);
        }
    }
    out.flush().with_context(|| format!("write {shown}"))?;
    bar.finish_and_clear();
    Ok(ExitCode::SUCCESS)
}

fn write_parquet(
    reader: &runlog_core::Reader,
    id: &runlog_core::RunId,
    names: &[String],
    out: BufWriter<std::fs::File>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = parquet::schema::parser::parse_message_type(
        "message series {
            REQUIRED BYTE_ARRAY name (UTF8);
            REQUIRED INT64 step;
            REQUIRED INT64 timestamp (TIMESTAMP(MILLIS, true));
            REQUIRED DOUBLE value;
        }",
    )
    .context("parquet schema")?;
    let props = Arc::new(WriterProperties::builder().set_created_by("runlog".into()).build());
    let mut w = SerializedFileWriter::new(out, Arc::new(schema), props).context("start parquet file")?;
    for n in names {
        let pts = reader.series(id, n).with_context(|| format!("read series {n:?}"))?;
        let mut rg = w.next_row_group().context("start row group")?;
        let mut col = 0;
        while let Some(mut c) = rg.next_column().context("next column")? {
            match col {
                0 => {
                    let v: Vec<ByteArray> = pts.iter().map(|_| ByteArray::from(n.as_str())).collect();
                    c.typed::<ByteArrayType>().write_batch(&v, None, None)
                }
                1 => c.typed::<Int64Type>().write_batch(&pts.iter().map(|p| p.step).collect::<Vec<_>>(), None, None),
                2 => c.typed::<Int64Type>().write_batch(
                    &pts.iter().map(|p| p.timestamp_ms).collect::<Vec<_>>(),
                    None,
                    None,
                ),
                _ => c.typed::<DoubleType>().write_batch(&pts.iter().map(|p| p.value).collect::<Vec<_>>(), None, None),
            }
            .context("write column")?;
            c.close().context("close column")?;
            col += 1;
        }
        rg.close().context("close row group")?;
        bar.inc(pts.len() as u64);
    }
    w.into_inner().context("finish parquet file")?.flush().context("flush parquet file")?;
    Ok(())
}
