//! What several subcommands share: exit codes, opening a store read-only, naming runs, and plain-text formatting
//! (times, durations, numbers, colour, aligned tables), each on a well-kept crate: `jiff` for times and durations,
//! `anstyle`/`anstream` for colour and the NO_COLOR rules, `unicode-width` for the columns of tables.
//!
//! This module knows nothing about any one subcommand and never writes a store.

use anstyle::{AnsiColor, Style};
use anyhow::Context as _;
use jiff::Unit;
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

/// ANSI styles (`anstyle`), used only when allowed; see [`color_allowed`].
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    /// Whether to emit escape codes.
    pub on: bool,
}

impl Paint {
    fn wrap(self, style: Style, s: &str) -> String {
        if self.on { format!("{style}{s}{style:#}") } else { s.to_string() }
    }

    /// Bold text (headers).
    pub fn bold(self, s: &str) -> String {
        self.wrap(Style::new().bold(), s)
    }

    /// Dim text (secondary information).
    pub fn dim(self, s: &str) -> String {
        self.wrap(Style::new().dimmed(), s)
    }

    /// A status in its colour: green completed, yellow running, red failed or crashed, dim cancelled.
    pub fn status(self, s: RunStatus) -> String {
        let style = match s {
            RunStatus::Completed => AnsiColor::Green.on_default(),
            RunStatus::Running => AnsiColor::Yellow.on_default(),
            RunStatus::Failed | RunStatus::Crashed => AnsiColor::Red.on_default(),
            RunStatus::Cancelled => Style::new().dimmed(),
        };
        self.wrap(style, s.as_str())
    }
}

/// Whether stdout may be coloured: never with `--no-color`; otherwise as `anstream` decides for stdout, which
/// follows the NO_COLOR and CLICOLOR conventions: never with `NO_COLOR` set to a non-empty value, always with
/// `CLICOLOR_FORCE` set (non-zero), never with `CLICOLOR=0`, else only on a terminal that is not `TERM=dumb`.
pub fn color_allowed(no_color_flag: bool) -> bool {
    !no_color_flag && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// Formats ms since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC, by `jiff`). A time outside jiff's range (years -9999
/// to 9999, as a corrupt or hand-made store may hold) is shown as its number: `-99999999999999999 ms`.
pub fn format_time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => format!("{ms} ms"),
    }
}

/// Formats a duration in ms compactly, to its two largest units (truncated): `850ms`, `12.3s`, `4m5s`, `2h3m`,
/// `3d4h` (jiff's friendly format, days of 24 hours). Negative durations show as `0ms`.
pub fn format_duration(ms: i64) -> String {
    use jiff::fmt::friendly::{Designator, FractionalUnit, Spacing, SpanPrinter};
    let ms = ms.max(0);
    let printer =
        SpanPrinter::new().designator(Designator::Compact).spacing(Spacing::None).zero_unit(Unit::Millisecond);
    let d = jiff::SignedDuration::from_millis(ms);
    if ms < 1_000 {
        return printer.duration_to_string(&d);
    }
    // Under a minute: tenths of a second, rounded (59.96 s is `1m`).
    let tenths = ms.saturating_add(50) / 100 * 100;
    if tenths < 60_000 {
        let d = jiff::SignedDuration::from_millis(tenths);
        return printer.fractional(Some(FractionalUnit::Second)).precision(Some(1)).duration_to_string(&d);
    }
    let (ms, d) = if ms < 60_000 { (tenths, jiff::SignedDuration::from_millis(tenths)) } else { (ms, d) };
    let (largest, smallest) = match ms {
        ..3_600_000 => (Unit::Minute, Unit::Second),
        3_600_000..86_400_000 => (Unit::Hour, Unit::Minute),
        _ => (Unit::Day, Unit::Hour),
    };
    let round = jiff::SpanRound::new().largest(largest).smallest(smallest).mode(jiff::RoundMode::Trunc);
    match jiff::Span::try_from(d).and_then(|s| s.round(round.days_are_24_hours())) {
        Ok(span) => printer.span_to_string(&span),
        Err(_) => printer.duration_to_string(&d),
    }
}

/// How long ago `ms` (since the epoch) was, in its largest unit, truncated: `12 seconds ago`, `3 minutes ago`,
/// `1 hour ago`, `2 days ago` (jiff's friendly format). A time in the future counts as now.
pub fn format_ago(ms: i64, now_ms: i64) -> String {
    use jiff::fmt::friendly::{Designator, Spacing, SpanPrinter};
    let ago = (now_ms.saturating_sub(ms)).max(0);
    let largest = match ago {
        ..60_000 => Unit::Second,
        60_000..3_600_000 => Unit::Minute,
        3_600_000..86_400_000 => Unit::Hour,
        _ => Unit::Day,
    };
    let round = jiff::SpanRound::new().largest(largest).smallest(largest).mode(jiff::RoundMode::Trunc);
    let printer = SpanPrinter::new().designator(Designator::Verbose).spacing(Spacing::BetweenUnitsAndDesignators);
    let d = -jiff::SignedDuration::from_millis(ago);
    match jiff::Span::try_from(d).and_then(|s| s.round(round.days_are_24_hours())) {
        Ok(span) if span.is_zero() => "0 seconds ago".to_string(),
        Ok(span) => printer.span_to_string(&span),
        Err(_) => printer.duration_to_string(&d),
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

/// A plain-text table with aligned columns: no borders, two spaces between columns, no
/// trailing spaces. Widths count what a terminal shows: ANSI escape codes count zero, wide (CJK) characters two.
#[derive(Debug, Default)]
pub struct TextTable {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl TextTable {
    /// A table with a header row (none if empty); `right[i]` right-aligns column i (numbers).
    pub fn new(header: Vec<String>, right: Vec<bool>) -> TextTable {
        TextTable { header, rows: Vec::new(), right }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Whether it has no rows (the header aside).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders it, one line per row (a cell holding newlines makes its row that many lines high), each ended by a
    /// newline.
    pub fn render(&self) -> String {
        let rows = || std::iter::once(&self.header).filter(|h| !h.is_empty()).chain(&self.rows);
        let mut widths: Vec<usize> = Vec::new();
        for row in rows() {
            if widths.len() < row.len() {
                widths.resize(row.len(), 0);
            }
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = cell.split('\n').map(shown_width).fold(*w, usize::max);
            }
        }
        let mut out = String::with_capacity(rows().map(|r| widths.iter().sum::<usize>() + 2 * r.len()).sum());
        for row in rows() {
            let height = row.iter().map(|c| c.split('\n').count()).max().unwrap_or(1);
            for k in 0..height {
                let start = out.len();
                for (i, cell) in row.iter().enumerate() {
                    if i > 0 {
                        out.push_str("  ");
                    }
                    let part = cell.split('\n').nth(k).unwrap_or("");
                    let pad = widths[i] - shown_width(part);
                    let right = self.right.get(i).copied().unwrap_or(false);
                    if right {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                    out.push_str(part);
                    if !right {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                out.truncate(start + out[start..].trim_end().len());
                out.push('\n');
            }
        }
        out
    }
}

/// How many columns a terminal gives `s`: ANSI escape codes none, wide (CJK) characters two.
fn shown_width(s: &str) -> usize {
    use unicode_width::UnicodeWidthStr as _;
    if s.contains('\x1b') { anstream::adapter::strip_str(s).map(|p| p.width()).sum() } else { s.width() }
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
        assert_eq!(format_time(-1), "1969-12-31 23:59:59");
        assert_eq!(format_time(i64::MIN), format!("{} ms", i64::MIN), "out of range: the number, no panic");
    }

    #[test]
    fn values_and_durations() {
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.123456789), "0.123457");
        assert_eq!(format_value(f64::NAN), "NaN");
        for (ms, want) in [
            (-5, "0ms"),
            (500, "500ms"),
            (12_345, "12.3s"),
            (59_960, "1m"),
            (60_000, "1m"),
            (61_000, "1m1s"),
            (245_999, "4m5s"),
            (7_380_000, "2h3m"),
            (3 * 86_400_000 + 4 * 3_600_000 + 59 * 60_000, "3d4h"),
        ] {
            assert_eq!(format_duration(ms), want, "{ms} ms");
        }
        assert!(format_duration(i64::MAX).starts_with("2562047788015h"), "beyond a span's range: no panic");
    }

    #[test]
    fn times_ago() {
        let now = 1_709_210_096_000;
        for (ago, want) in [
            (0, "0 seconds ago"),
            (-10_000, "0 seconds ago"),
            (12_900, "12 seconds ago"),
            (61_000, "1 minute ago"),
            (3 * 3_600_000 + 59 * 60_000, "3 hours ago"),
            (2 * 86_400_000 + 1, "2 days ago"),
        ] {
            assert_eq!(format_ago(now - ago, now), want, "{ago} ms ago");
        }
        assert!(format_ago(i64::MIN, now).ends_with(" ago"), "no panic far in the past");
    }

    #[test]
    fn tables_align_what_a_terminal_shows() {
        let p = Paint { on: true };
        let mut t = TextTable::new(vec![p.dim("name"), p.dim("status"), p.dim("loss")], vec![false, false, true]);
        t.push(vec!["adam".into(), p.status(RunStatus::Completed), "0.1".into()]);
        t.push(vec!["学习率".into(), p.status(RunStatus::Failed), "12.25".into()]);
        t.push(vec!["x".into(), "-".into(), "-".into()]);
        let out = t.render();
        let plain: Vec<String> = out.lines().map(|l| anstream::adapter::strip_str(l).to_string()).collect();
        assert_eq!(
            plain,
            [
                "name    status      loss",
                "adam    completed    0.1",
                "学习率  failed     12.25",
                "x       -              -"
            ],
            "{out}"
        );
        assert!(out.contains("\x1b[32mcompleted\x1b[0m"), "colours kept: {out:?}");
        assert!(!out.lines().any(|l| l.ends_with(' ')), "no trailing spaces: {out:?}");
        let mut t = TextTable::new(Vec::new(), vec![]);
        t.push(vec!["  k".into(), "v".into()]);
        assert_eq!(t.render(), "  k  v\n", "no header, leading spaces of a cell kept");
        let mut t = TextTable::new(Vec::new(), vec![]);
        t.push(vec!["  note".into(), "two\nlines".into()]);
        t.push(vec!["  a\nb".into(), "x".into()]);
        assert_eq!(t.render(), "  note  two\n        lines\n  a     x\nb\n", "a cell's lines stay in its column");
    }

    #[test]
    fn prefixes() {
        assert_eq!(unique_prefix_len(["abcd1", "abce2"].into_iter(), 2), 4);
        assert_eq!(unique_prefix_len(["a1", "b2"].into_iter(), 8), 8);
    }
}
