//! `runlog ls`: experiments and their runs, with status, start, duration and the last value of key metrics.
//!
//! Opens the store read-only; never creates or changes a file.

use super::Global;
use crate::common::{self, Paint, TextTable, format_duration, format_time, format_value};
use crate::filter::{Filter, arrange, parse_sort};
use anyhow::Context as _;
use runlog_core::{MetricSummary, RunInfo, RunStatus};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;

/// Arguments of `runlog ls`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "JSON output (--json) is an array with one object per run, oldest first (or in --sort order), each child run right
after its parent:
  {\"id\": \"0193...\", \"experiment\": \"mnist\", \"name\": \"lr-0.1\", \"parent\": null,
   \"status\": \"completed\", \"reason\": null, \"started_at\": 1732668000000, \"ended_at\": 1732668060000,
   \"duration_ms\": 60000, \"params\": {\"lr\": 0.1}, \"tags\": {}, \"properties\": {},
   \"metrics\": {\"loss\": {\"last\": 0.12, \"step\": 999, \"count\": 1000, \"min\": 0.1, \"max\": 2.3}}}
Times are milliseconds since the Unix epoch (UTC); ended_at is null while running. status is one of running,
completed, failed, cancelled, crashed. Non-finite floats are the strings \"NaN\", \"inf\", \"-inf\".
Fields may be added; none is removed or renamed."
)]
pub struct Args {
    /// Only runs of this experiment (repeatable).
    #[arg(long, short = 'e')]
    pub experiment: Vec<String>,
    /// Only runs with this status: running, completed, failed, cancelled, crashed (repeatable).
    #[arg(long, short = 's')]
    pub status: Vec<String>,
    /// Only runs with this tag: KEY (any value) or KEY=VALUE (repeatable; all must match).
    #[arg(long, short = 't')]
    pub tag: Vec<String>,
    /// Key metrics to show the last value of (repeatable; default: up to 3 most common per experiment).
    #[arg(long, short = 'm')]
    pub metric: Vec<String>,
    /// Only runs matching an MLflow search expression, e.g. "metrics.loss < 0.3 and params.lr = '0.01'"
    /// (metrics.X, params.X, tags.X, attributes.X; = != < <= > >= like ilike in; joined by and).
    #[arg(long, short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,
    /// Order by keys, MLflow order_by style: "metrics.loss", "-start_time", "start_time DESC, params.lr"
    /// (repeatable; runs without the key last; child runs stay under their parent).
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub sort: Vec<String>,
    /// Print JSON (see below) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `runlog ls`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let mut statuses = Vec::new();
    for s in &args.status {
        statuses.push(RunStatus::parse(s).ok_or_else(|| {
            common::coded(
                common::code::USAGE,
                format!("status {s:?} is not one of running, completed, failed, cancelled, crashed"),
            )
        })?);
    }
    let filter = match &args.filter {
        Some(f) => Filter::parse(f).map_err(|e| common::coded(common::code::USAGE, format!("--filter {f:?} {e}")))?,
        None => Filter::default(),
    };
    let sort = args.sort.join(",");
    let sort = parse_sort(&sort).map_err(|e| common::coded(common::code::USAGE, format!("--sort {sort:?} {e}")))?;
    let path = g.store_path();
    let reader = common::open_reader(&path)?;
    // Runs and their metric summaries are two walks of the records index; a second connection takes the summaries
    // on another core meanwhile. A writer committing in between can make a summary newer than its run's status.
    let (runs, all) = std::thread::scope(|s| {
        let summaries = s.spawn(|| {
            common::open_reader(&path)?.summaries().with_context(|| format!("summarize runs of {}", path.display()))
        });
        let runs = reader.runs().with_context(|| format!("list runs of {}", path.display()));
        let all = summaries.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (runs, all)
    });
    let (runs, mut all) = (runs?, all?);
    let runs: Vec<RunInfo> = runs
        .into_iter()
        .filter(|r| args.experiment.is_empty() || args.experiment.contains(&r.experiment))
        .filter(|r| statuses.is_empty() || statuses.contains(&r.status))
        .filter(|r| {
            args.tag.iter().all(|t| match t.split_once('=') {
                Some((k, v)) => r.tags.get(k).is_some_and(|x| x == v),
                None => r.tags.contains_key(t),
            })
        })
        .collect();
    let summaries: Vec<Vec<MetricSummary>> = runs.iter().map(|r| all.remove(&r.id).unwrap_or_default()).collect();
    let refs: Vec<&[MetricSummary]> = summaries.iter().map(Vec::as_slice).collect();
    let placed = arrange(&runs, &refs, &filter, &sort);
    let out = std::io::stdout();
    let mut out = out.lock();
    if args.json {
        // One run's object at a time: the array of 10,000 is never held whole.
        let mut buf = std::io::BufWriter::with_capacity(64 << 10, &mut out);
        buf.write_all(b"[").context("write output")?;
        for (k, p) in placed.iter().enumerate() {
            if k > 0 {
                buf.write_all(b",").context("write output")?;
            }
            serde_json::to_writer(&mut buf, &ls_json(&runs[p.index], &summaries[p.index])).context("write output")?;
        }
        writeln!(buf, "]").context("write output")?;
        buf.flush().context("write output")?;
        return Ok(ExitCode::SUCCESS);
    }
    let paint = Paint { on: g.color };
    if runs.is_empty() {
        writeln!(out, "no runs in {}", path.display()).context("write output")?;
        return Ok(ExitCode::SUCCESS);
    }
    if placed.is_empty() {
        writeln!(out, "no runs match").context("write output")?;
        return Ok(ExitCode::SUCCESS);
    }
    let prefix = common::unique_prefix_len(runs.iter().map(|r| r.id.as_str()), 8);
    let mut by_exp: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
    for p in &placed {
        by_exp.entry(&runs[p.index].experiment).or_default().push((p.index, p.depth));
    }
    let mut first = true;
    for (exp, idx) in by_exp {
        if !first {
            writeln!(out).context("write output")?;
        }
        first = false;
        let keys = if args.metric.is_empty() {
            key_metrics(idx.iter().map(|&(i, _)| &summaries[i]))
        } else {
            args.metric.clone()
        };
        writeln!(out, "{} {}", paint.bold(exp), paint.dim(&format!("({} runs)", idx.len()))).context("write output")?;
        let mut header: Vec<String> = ["id", "name", "status", "started (UTC)", "duration"].map(String::from).to_vec();
        header.extend(keys.iter().cloned());
        let mut right = vec![false, false, false, false, true];
        right.extend(keys.iter().map(|_| true));
        let mut t = TextTable::new(header.into_iter().map(|h| paint.dim(&h)).collect(), right);
        for (i, depth) in idx {
            let r = &runs[i];
            let mut row = vec![
                r.id.as_str()[..prefix].to_string(),
                if depth > 0 { format!("{}└ {}", "  ".repeat(depth - 1), r.name) } else { r.name.clone() },
                paint.status(r.status),
                format_time(r.started_at),
                format_duration(r.duration_ms()),
            ];
            for k in &keys {
                row.push(summaries[i].iter().find(|m| &m.name == k).map_or("-".into(), |m| format_value(m.last)));
            }
            t.push(row);
        }
        out.write_all(t.render().as_bytes()).context("write output")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The JSON object of one run in `ls --json`.
pub fn ls_json(r: &RunInfo, summary: &[MetricSummary]) -> serde_json::Value {
    let mut v = common::run_json(r);
    let metrics: serde_json::Map<String, serde_json::Value> = summary
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                serde_json::json!({
                    "last": common::float_json(m.last),
                    "step": m.last_step,
                    "count": m.count,
                    "min": m.min.map(common::float_json),
                    "max": m.max.map(common::float_json),
                }),
            )
        })
        .collect();
    v["metrics"] = metrics.into();
    v
}

/// Up to 3 scalar names most runs have, most common first, then by name.
fn key_metrics<'a>(summaries: impl Iterator<Item = &'a Vec<MetricSummary>>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in summaries {
        for m in s {
            *counts.entry(&m.name).or_default() += 1;
        }
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter().take(3).map(|(n, _)| n.to_string()).collect()
}
