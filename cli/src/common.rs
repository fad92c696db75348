//! What several subcommands share: exit codes, opening a store read-only, naming runs, and plain-text formatting
//! (times, durations, numbers, colour, aligned tables).
//!
//! This module knows nothing about any one subcommand and never writes a store.

use anyhow::Context as _;
use runlog_core::{ErrorKind, Reader, RunId, RunInfo, RunStatus};
use std::fmt;
use std::path::Path;

/// Exit codes of `runlog` (documented in `runlog --help` and docs/cli.md).
pub mod code {
    /// Any other error (I/O, a bad argument value, a failed write).
    pub const ERROR: u8 = 1;
    /// The command line could not be parsed (clap's own code).
    pub const USAGE: u8 = 2;
    /// The store cannot be read: missing, not a runlog store, or written by a newer runlog.
    pub const STORE: u8 = 3;
    /// The run or metric named does not exist, or a run prefix is ambiguous.
    pub const NOT_FOUND: u8 = 4;
    /// `runlog log`: some input lines were malformed and skipped (the valid ones were logged).
    pub const BAD_INPUT: u8 = 5;
}

/// An error that carries its exit code; `main` prints it as one line and exits with the code.
#[derive(Debug)]
pub struct Coded {
    /// The exit code.
    pub code: u8,
    /// The message (one line).
    pub message: String,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// Makes an error with an exit code.
pub fn coded(code: u8, message: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Coded { code, message: message.to_string() })
}

/// The exit code for an error: its [`Coded`] code if any, else one derived from a core error's kind, else 1.
pub fn exit_code_of(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code;
        }
        if let Some(c) = cause.downcast_ref::<runlog_core::Error>() {
            return match c.kind() {
                ErrorKind::Format => code::STORE,
                ErrorKind::NotFound => code::NOT_FOUND,
                _ => code::ERROR,
            };
        }
    }
    code::ERROR
}

/// Opens a store read-only (never creates or changes a file). Errors exit with [`code::STORE`].
pub fn open_reader(path: &Path) -> anyhow::Result<Reader> {
    Reader::open(path).map_err(|e| coded(code::STORE, e))
}

/// Finds a run by id, unambiguous id prefix, or `experiment/name`. Errors exit with [`code::NOT_FOUND`].
pub fn resolve(reader: &Reader, spec: &str) -> anyhow::Result<RunId> {
    reader.resolve(spec).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::InvalidInput => coded(code::NOT_FOUND, e),
        _ => anyhow::Error::new(e).context(format!("find run {spec:?}")),
    })
}

/// Opens the store and resolves a run in one step.
pub fn open_run(path: &Path, spec: &str) -> anyhow::Result<(Reader, RunInfo)> {
    let reader = open_reader(path)?;
    let id = resolve(&reader, spec)?;
    let info = reader.run(&id).with_context(|| format!("read run {id}"))?;
    Ok((reader, info))
}

/// ANSI colours, used only when allowed.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    /// Whether to emit escape codes.
    pub on: bool,
}

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.on { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }

    /// Bold text (headers).
    pub fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }

    /// Dim text (secondary information).
    pub fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }

    /// A status in its colour: green completed, yellow running, red failed or crashed, dim cancelled.
    pub fn status(self, s: RunStatus) -> String {
        let c = match s {
            RunStatus::Completed => "32",
            RunStatus::Running => "33",
            RunStatus::Failed | RunStatus::Crashed => "31",
            RunStatus::Cancelled => "2",
        };
        self.wrap(c, s.as_str())
    }
}

/// Formats ms since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a duration in ms compactly: `850ms`, `12.3s`, `4m05s`, `2h03m`, `3d04h`.
pub fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Formats a metric value with up to 6 significant digits.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        return format!("{v:.4e}");
    }
    let digits = 5 - a.log10().floor() as i32;
    let s = format!("{v:.*}", digits.clamp(0, 9) as usize);
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// The shortest prefix length (at least `min`) that tells every id apart.
pub fn unique_prefix_len<'a>(ids: impl Iterator<Item = &'a str>, min: usize) -> usize {
    let mut v: Vec<&str> = ids.collect();
    v.sort_unstable();
    let mut need = min;
    for w in v.windows(2) {
        let common = w[0].bytes().zip(w[1].bytes()).take_while(|(a, b)| a == b).count();
        need = need.max(common + 1);
    }
    need.min(32)
}

/// A plain-text table with aligned columns; cells may contain ANSI codes (they do not count towards the width).
#[derive(Debug, Default)]
pub struct TextTable {
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl TextTable {
    /// A table with a header row; `right[i]` right-aligns column i (numbers).
    pub fn new(header: Vec<String>, right: Vec<bool>) -> TextTable {
        TextTable { rows: vec![header], right }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Renders it, two spaces between columns, no trailing spaces.
    pub fn render(&self) -> String {
        let n = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; n];
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(visible_len(c));
            }
        }
        let mut out = String::new();
        for r in &self.rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i] - visible_len(c);
                if self.right.get(i).copied().unwrap_or(false) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_esc = false;
    for ch in s.chars() {
        if in_esc {
            in_esc = ch != 'm';
        } else if ch == '\x1b' {
            in_esc = true;
        } else {
            n += 1;
        }
    }
    n
}

/// A run as the stable JSON of `runlog ls --json` and `runlog show --json`.
pub fn run_json(info: &RunInfo) -> serde_json::Value {
    serde_json::json!({
        "id": info.id.as_str(),
        "experiment": info.experiment,
        "name": info.name,
        "parent": info.parent.as_ref().map(RunId::as_str),
        "status": info.status.as_str(),
        "reason": info.reason,
        "started_at": info.started_at,
        "ended_at": info.ended_at,
        "duration_ms": info.duration_ms(),
        "params": info.params.iter().map(|(k, v)| (k.clone(), value_json(v))).collect::<serde_json::Map<_, _>>(),
        "tags": info.tags,
        "properties": info.properties,
    })
}

/// A typed value as JSON (non-finite floats become the strings `"NaN"`, `"Infinity"`, `"-Infinity"`: the one
/// spelling of [`runlog_wire::json`], the same as the workspace server's).
pub fn value_json(v: &runlog_core::Value) -> serde_json::Value {
    use runlog_core::Value;
    match v {
        Value::Bool(b) => (*b).into(),
        Value::I64(i) => (*i).into(),
        Value::F64(f) => float_json(*f),
        Value::Str(s) => s.clone().into(),
    }
}

/// A float as JSON: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has no such numbers).
pub fn float_json(f: f64) -> serde_json::Value {
    runlog_wire::json::float(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_709_210_096_000), "2024-02-29 12:34:56");
    }

    #[test]
    fn values_and_durations() {
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.123456789), "0.123457");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_duration(61_000), "1m01s");
        assert_eq!(format_duration(500), "500ms");
    }

    #[test]
    fn prefixes() {
        assert_eq!(unique_prefix_len(["abcd1", "abce2"].into_iter(), 2), 4);
        assert_eq!(unique_prefix_len(["a1", "b2"].into_iter(), 8), 8);
    }
}
