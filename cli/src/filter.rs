//! MLflow's run search syntax, shared by `runlog ls --filter/--sort` and the UI's runs API: one parser, one
//! evaluator, one ordering, so the same expression selects the same runs in the terminal and in the browser.
//!
//! A filter is clauses joined by `and` (MLflow has no `or`): `metrics.loss < 0.3 and params.lr = '0.01'`. A clause is
//! `KEY OP VALUE` where KEY is `metrics.NAME` (the last value), `params.NAME`, `tags.NAME` or `attributes.NAME`
//! (also bare: `status`, `name`, `id`, `experiment`, `parent`, `start_time`, `end_time`, `duration`); NAME may be
//! quoted with backticks or double quotes when it holds spaces or operators. OP is `=`, `!=`, `<`, `<=`, `>`, `>=`,
//! `like`, `ilike` (SQL wildcards `%` and `_`), `in (...)` or `not in (...)`. Strings are in single or double quotes.
//! A run without the key does not match (MLflow's rule), whatever the operator.
//!
//! A sort is keys separated by commas, each optionally followed by `asc`/`desc` or preceded by `-` (descending):
//! `metrics.loss`, `-start_time`, `start_time DESC, params.lr`. Runs without the key sort last either way. Child runs
//! are always placed right under their parent ([`arrange`]), siblings in the same order.
//!
//! The grammar is written with `winnow` (parser combinators, no hand-written splitting); errors carry the 1-based
//! column of the bad token. This module is pure: it knows runs and summaries, not stores, HTTP or terminals.

use runlog_core::{MetricSummary, RunInfo, RunStatus, Value};
use std::cmp::Ordering;
use std::fmt;
use winnow::ascii::{Caseless, float, multispace0, multispace1};
use winnow::combinator::{alt, cut_err, delimited, eof, opt, peek, separated, terminated};
use winnow::error::{ContextError, ErrMode, ModalResult, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::token::{any, literal, none_of, take_while};

/// The longest filter or sort expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 10_000;

/// A filter or sort expression that does not parse, or asks for something that cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based column (in characters) of the bad token.
    pub column: usize,
    /// What is wrong there, lowercase.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for FilterError {}

/// A run attribute that filters and sorts can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// `status`: running, completed, failed, cancelled, crashed (MLflow's FINISHED and KILLED are accepted too).
    Status,
    /// `name` (`run_name`).
    Name,
    /// `id` (`run_id`).
    Id,
    /// `experiment` (`experiment_name`).
    Experiment,
    /// `parent` (`parent_run_id`).
    Parent,
    /// `start_time` (ms since the epoch).
    StartTime,
    /// `end_time` (ms since the epoch; missing while running).
    EndTime,
    /// `duration` (ms).
    Duration,
}

impl Attr {
    fn parse(name: &str) -> Option<Attr> {
        Some(match name.to_ascii_lowercase().as_str() {
            "status" => Attr::Status,
            "name" | "run_name" => Attr::Name,
            "id" | "run_id" => Attr::Id,
            "experiment" | "experiment_name" => Attr::Experiment,
            "parent" | "parent_run_id" | "parent_id" => Attr::Parent,
            "start_time" | "started_at" | "start" => Attr::StartTime,
            "end_time" | "ended_at" | "end" => Attr::EndTime,
            "duration" | "duration_ms" => Attr::Duration,
            _ => return None,
        })
    }

    fn numeric(self) -> bool {
        matches!(self, Attr::StartTime | Attr::EndTime | Attr::Duration)
    }
}

const ATTRIBUTES: &str = "status, name, id, experiment, parent, start_time, end_time, duration";

/// What a clause or sort key reads from a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// The last value of a scalar series.
    Metric(String),
    /// A param.
    Param(String),
    /// A tag.
    Tag(String),
    /// An attribute.
    Attr(Attr),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` (also `==`).
    Eq,
    /// `!=` (also `<>`).
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `like`: `%` any run of characters, `_` one character, case-sensitive.
    Like,
    /// `ilike`: `like` ignoring case.
    ILike,
    /// `in (...)`.
    In,
    /// `not in (...)`.
    NotIn,
}

/// A literal on the right of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// A number.
    Num(f64),
    /// A quoted string.
    Str(String),
    /// A parenthesized list (for `in`).
    List(Vec<Lit>),
}

/// One `KEY OP VALUE` comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// What is compared.
    pub key: Key,
    /// How.
    pub op: Op,
    /// With what.
    pub value: Lit,
}

/// A parsed filter: every clause must hold. The empty filter matches every run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// The clauses, all of which must hold.
    pub clauses: Vec<Clause>,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// What to sort by.
    pub key: Key,
    /// Largest first.
    pub desc: bool,
}

// ---------- parsing ----------

/// Spans are kept as "bytes left in the input" while parsing (a `&mut &str` knows no more), turned into columns at
/// the end by [`column`].
type Rem = usize;

#[derive(Debug)]
struct Spanned<T> {
    at: Rem,
    value: T,
}

#[derive(Debug)]
enum RawKey {
    Prefixed { kind: String, kind_at: Rem, name: String },
    Bare(String),
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn ws(i: &mut &str) -> ModalResult<()> {
    multispace0.void().parse_next(i)
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '#' | '+')
}

fn quoted(mut q: char) -> impl FnMut(&mut &str) -> ModalResult<String> {
    move |i: &mut &str| {
        let _ = q.parse_next(i)?;
        let mut out = String::new();
        loop {
            let c = cut_err(any).context(expected("a closing quote")).parse_next(i)?;
            if c == q {
                // A doubled quote stands for itself (SQL style): 'it''s'.
                if i.starts_with(q) {
                    let _ = any.parse_next(i)?;
                    out.push(q);
                    continue;
                }
                return Ok(out);
            }
            if c == '\\' {
                let e = cut_err(any).context(expected("a character after the backslash")).parse_next(i)?;
                out.push(e);
                continue;
            }
            out.push(c);
        }
    }
}

/// A name: unquoted identifier characters, or backticked / double-quoted.
fn name(i: &mut &str) -> ModalResult<String> {
    alt((quoted('`'), quoted('"'), take_while(1.., ident_char).map(str::to_string))).parse_next(i)
}

fn raw_key(i: &mut &str) -> ModalResult<Spanned<RawKey>> {
    let at = i.len();
    let first = take_while(1.., |c: char| c.is_ascii_alphanumeric() || c == '_')
        .context(expected("a key such as metrics.loss, params.lr, tags.stage or attributes.status"))
        .parse_next(i)?;
    if i.starts_with('.') {
        let _ = '.'.parse_next(i)?;
        let name = cut_err(name).context(expected("a name after the dot")).parse_next(i)?;
        return Ok(Spanned { at, value: RawKey::Prefixed { kind: first.to_string(), kind_at: at, name } });
    }
    Ok(Spanned { at, value: RawKey::Bare(first.to_string()) })
}

fn resolve_key(k: Spanned<RawKey>, total: usize, input: &str) -> Result<Key, FilterError> {
    let err = |at: Rem, message: String| FilterError { column: column(input, total - at), message };
    match k.value {
        RawKey::Prefixed { kind, kind_at, name } => match kind.to_ascii_lowercase().as_str() {
            "metrics" | "metric" => Ok(Key::Metric(name)),
            "params" | "param" | "parameters" | "parameter" => Ok(Key::Param(name)),
            "tags" | "tag" => Ok(Key::Tag(name)),
            "attributes" | "attribute" | "attr" | "run" => Attr::parse(&name)
                .map(Key::Attr)
                .ok_or_else(|| err(kind_at, format!("unknown attribute {name:?}; attributes are {ATTRIBUTES}"))),
            _ => Err(err(
                kind_at,
                format!("unknown key type {kind:?}; use metrics.NAME, params.NAME, tags.NAME or attributes.NAME"),
            )),
        },
        RawKey::Bare(name) => Attr::parse(&name).map(Key::Attr).ok_or_else(|| {
            err(
                k.at,
                format!(
                    "{name:?} is not an attribute; write metrics.{name}, params.{name} or tags.{name} \
                     (attributes are {ATTRIBUTES})"
                ),
            )
        }),
    }
}

/// A word operator must end at a word boundary (`like` but not `likely`).
fn word<'a>(w: &'static str) -> impl Parser<&'a str, (), ErrMode<ContextError>> {
    terminated(literal(Caseless(w)), peek(alt((multispace1.void(), eof.void(), one_of_non_ident)))).void()
}

fn one_of_non_ident(i: &mut &str) -> ModalResult<()> {
    none_of(|c: char| c.is_alphanumeric() || c == '_').void().parse_next(i)
}

fn not_in(i: &mut &str) -> ModalResult<Op> {
    word("not").parse_next(i)?;
    ws(i)?;
    word("in").parse_next(i)?;
    Ok(Op::NotIn)
}

fn symbol_op(i: &mut &str) -> ModalResult<Op> {
    alt((
        literal("==").value(Op::Eq),
        literal("=").value(Op::Eq),
        literal("!=").value(Op::Ne),
        literal("<>").value(Op::Ne),
        literal("<=").value(Op::Le),
        literal(">=").value(Op::Ge),
        literal("<").value(Op::Lt),
        literal(">").value(Op::Gt),
    ))
    .parse_next(i)
}

fn word_op(i: &mut &str) -> ModalResult<Op> {
    alt((word("ilike").value(Op::ILike), word("like").value(Op::Like), word("in").value(Op::In), not_in)).parse_next(i)
}

fn op(i: &mut &str) -> ModalResult<Op> {
    alt((symbol_op, word_op)).parse_next(i)
}

fn number(i: &mut &str) -> ModalResult<f64> {
    // `float` alone would also take `inf`/`nan` words; a leading sign or digit keeps names out.
    (peek(alt((one_of_digit, '-'.void(), '+'.void(), '.'.void()))), float).map(|(_, f)| f).parse_next(i)
}

fn one_of_digit(i: &mut &str) -> ModalResult<()> {
    take_while(1..=1, |c: char| c.is_ascii_digit()).void().parse_next(i)
}

fn scalar_lit(i: &mut &str) -> ModalResult<Lit> {
    alt((quoted('\'').map(Lit::Str), quoted('"').map(Lit::Str), number.map(Lit::Num))).parse_next(i)
}

fn list_lit(i: &mut &str) -> ModalResult<Lit> {
    delimited(
        ('(', ws),
        cut_err(separated(1.., terminated(scalar_lit, ws), (',', ws)))
            .context(expected("a list of quoted strings or numbers")),
        cut_err(')').context(expected("a closing parenthesis")),
    )
    .map(Lit::List)
    .parse_next(i)
}

#[derive(Debug)]
struct RawClause {
    key: Spanned<RawKey>,
    op: Spanned<Op>,
    value: Spanned<Lit>,
}

fn clause(i: &mut &str) -> ModalResult<RawClause> {
    let key = raw_key.parse_next(i)?;
    ws(i)?;
    let op_at = i.len();
    let o = cut_err(op).context(expected("an operator: =, !=, <, <=, >, >=, like, ilike, in, not in")).parse_next(i)?;
    ws(i)?;
    let value_at = i.len();
    let value = if matches!(o, Op::In | Op::NotIn) {
        cut_err(list_lit).context(expected("a parenthesized list such as ('a', 'b')")).parse_next(i)?
    } else {
        cut_err(scalar_lit).context(expected("a value: a number or a quoted string")).parse_next(i)?
    };
    Ok(RawClause { key, op: Spanned { at: op_at, value: o }, value: Spanned { at: value_at, value } })
}

fn clauses(i: &mut &str) -> ModalResult<Vec<RawClause>> {
    ws(i)?;
    if i.is_empty() {
        return Ok(Vec::new());
    }
    let first = clause.parse_next(i)?;
    let mut out = vec![first];
    loop {
        ws(i)?;
        if i.is_empty() {
            return Ok(out);
        }
        cut_err(word("and")).context(expected("\"and\" between clauses, or the end")).parse_next(i)?;
        ws(i)?;
        out.push(cut_err(clause).parse_next(i)?);
    }
}

fn sort_keys(i: &mut &str) -> ModalResult<Vec<(Spanned<RawKey>, bool)>> {
    let one = |i: &mut &str| -> ModalResult<(Spanned<RawKey>, bool)> {
        ws(i)?;
        let minus = opt('-').parse_next(i)?.is_some();
        let key = cut_err(raw_key).parse_next(i)?;
        ws(i)?;
        let dir = opt(alt((word("desc").value(true), word("asc").value(false)))).parse_next(i)?;
        ws(i)?;
        Ok((key, minus ^ dir.unwrap_or(false)))
    };
    let keys = separated(1.., one, ',').parse_next(i)?;
    cut_err(eof).context(expected("a comma, asc, desc, or the end")).parse_next(i)?;
    Ok(keys)
}

/// The 1-based character column of byte offset `off` in `input`.
fn column(input: &str, off: usize) -> usize {
    input[..off.min(input.len())].chars().count() + 1
}

fn parse_error(input: &str, offset: usize, e: &ContextError) -> FilterError {
    let mut wanted: Vec<String> = Vec::new();
    for c in e.context() {
        if let StrContext::Expected(v) = c {
            let s = match v {
                StrContextValue::Description(d) => (*d).to_string(),
                other => other.to_string(),
            };
            if !wanted.contains(&s) {
                wanted.push(s);
            }
        }
    }
    let rest = &input[offset.min(input.len())..];
    let found = if rest.is_empty() {
        "the end".to_string()
    } else {
        let word: String = rest.chars().take(12).collect();
        format!("{word:?}")
    };
    let wanted = wanted.first().cloned().unwrap_or_else(|| "a valid expression".into());
    FilterError { column: column(input, offset), message: format!("expected {wanted}, found {found}") }
}

fn check_len(input: &str) -> Result<(), FilterError> {
    if input.len() > MAX_EXPRESSION_BYTES {
        return Err(FilterError {
            column: 1,
            message: format!("the expression is {} bytes, the limit is {MAX_EXPRESSION_BYTES}", input.len()),
        });
    }
    Ok(())
}

impl Filter {
    /// Parses a filter expression (empty or blank: every run).
    pub fn parse(input: &str) -> Result<Filter, FilterError> {
        check_len(input)?;
        let total = input.len();
        let raw = clauses.parse(input).map_err(|e| parse_error(input, e.offset(), e.inner()))?;
        let mut out = Vec::with_capacity(raw.len());
        for c in raw {
            let key = resolve_key(c.key, total, input)?;
            let at_value = |m: String| FilterError { column: column(input, total - c.value.at), message: m };
            let at_op = |m: String| FilterError { column: column(input, total - c.op.at), message: m };
            let numeric_key = match &key {
                Key::Metric(_) => true,
                Key::Attr(a) => a.numeric(),
                _ => false,
            };
            match (&key, c.op.value, &c.value.value) {
                (_, Op::Like | Op::ILike, Lit::Num(_)) => {
                    return Err(at_value("like and ilike need a quoted pattern such as '%adam%'".into()));
                }
                (k, Op::Like | Op::ILike, _) if numeric_key => {
                    return Err(at_op(format!("{} is a number: compare it with =, !=, <, <=, > or >=", key_name(k))));
                }
                (k, _, Lit::Str(s)) if numeric_key => {
                    return Err(at_value(format!("{} is a number: compare it with a number, not '{s}'", key_name(k))));
                }
                (k, _, Lit::List(l)) if numeric_key && l.iter().any(|x| matches!(x, Lit::Str(_))) => {
                    return Err(at_value(format!("{} is a number: list numbers, not strings", key_name(k))));
                }
                (Key::Attr(a), Op::Lt | Op::Le | Op::Gt | Op::Ge, _) if !a.numeric() => {
                    return Err(at_op(format!(
                        "{} is text: compare it with =, !=, like, ilike, in or not in",
                        key_name(&key)
                    )));
                }
                (Key::Attr(Attr::Status), Op::Eq | Op::Ne, Lit::Str(s)) if status(s).is_none() => {
                    return Err(at_value(format!(
                        "unknown status '{s}'; it is one of running, completed, failed, cancelled, crashed"
                    )));
                }
                _ => {}
            }
            out.push(Clause { key, op: c.op.value, value: c.value.value });
        }
        Ok(Filter { clauses: out })
    }

    /// Whether a run with these scalar summaries matches every clause.
    pub fn matches(&self, run: &RunInfo, metrics: &[MetricSummary]) -> bool {
        self.clauses.iter().all(|c| c.matches(run, metrics))
    }
}

/// Parses a sort expression: `metrics.loss`, `-start_time`, `start_time DESC, params.lr` (empty: no keys).
pub fn parse_sort(input: &str) -> Result<Vec<SortKey>, FilterError> {
    check_len(input)?;
    if input.trim().is_empty() {
        return Ok(Vec::new());
    }
    let total = input.len();
    let raw = sort_keys.parse(input).map_err(|e| parse_error(input, e.offset(), e.inner()))?;
    raw.into_iter().map(|(k, desc)| Ok(SortKey { key: resolve_key(k, total, input)?, desc })).collect()
}

fn key_name(k: &Key) -> String {
    match k {
        Key::Metric(n) => format!("metrics.{n}"),
        Key::Param(n) => format!("params.{n}"),
        Key::Tag(n) => format!("tags.{n}"),
        Key::Attr(a) => format!("attributes.{}", attr_name(*a)),
    }
}

fn attr_name(a: Attr) -> &'static str {
    match a {
        Attr::Status => "status",
        Attr::Name => "name",
        Attr::Id => "id",
        Attr::Experiment => "experiment",
        Attr::Parent => "parent",
        Attr::StartTime => "start_time",
        Attr::EndTime => "end_time",
        Attr::Duration => "duration",
    }
}

fn status(s: &str) -> Option<RunStatus> {
    match s.to_ascii_lowercase().as_str() {
        "finished" => Some(RunStatus::Completed),
        "killed" => Some(RunStatus::Cancelled),
        other => RunStatus::parse(other),
    }
}

// ---------- evaluation ----------

/// A value read from a run for comparing or sorting.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    /// A number.
    Num(f64),
    /// Text.
    Str(std::borrow::Cow<'a, str>),
}

/// A param as MLflow sees it: its text (MLflow params are strings); a float in its shortest round-trip form.
fn param_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::Str(s) => s.as_str().into(),
        Value::Bool(b) => b.to_string().into(),
        Value::I64(i) => i.to_string().into(),
        Value::F64(f) => f.to_string().into(),
    }
}

fn param_num(v: &Value) -> Option<f64> {
    match v {
        Value::I64(i) => Some(*i as f64),
        Value::F64(f) => Some(*f),
        Value::Str(s) => s.trim().parse().ok(),
        Value::Bool(_) => None,
    }
}

impl Key {
    /// The value this key reads from a run, if it has one.
    pub fn field<'a>(&self, run: &'a RunInfo, metrics: &'a [MetricSummary]) -> Option<Field<'a>> {
        match self {
            Key::Metric(n) => metrics.iter().find(|m| &m.name == n).map(|m| Field::Num(m.last)),
            Key::Param(n) => run.params.get(n).map(|v| match v {
                Value::I64(_) | Value::F64(_) => Field::Num(param_num(v).unwrap_or(f64::NAN)),
                other => Field::Str(param_text(other)),
            }),
            Key::Tag(n) => run.tags.get(n).map(|s| Field::Str(s.as_str().into())),
            Key::Attr(a) => match a {
                Attr::Status => Some(Field::Str(run.status.as_str().into())),
                Attr::Name => Some(Field::Str(run.name.as_str().into())),
                Attr::Id => Some(Field::Str(run.id.as_str().into())),
                Attr::Experiment => Some(Field::Str(run.experiment.as_str().into())),
                Attr::Parent => run.parent.as_ref().map(|p| Field::Str(p.as_str().into())),
                Attr::StartTime => Some(Field::Num(run.started_at as f64)),
                Attr::EndTime => run.ended_at.map(|t| Field::Num(t as f64)),
                Attr::Duration => Some(Field::Num(run.duration_ms() as f64)),
            },
        }
    }
}

impl Clause {
    fn matches(&self, run: &RunInfo, metrics: &[MetricSummary]) -> bool {
        // Params compare as text against a string (MLflow) and as numbers against a number.
        if let Key::Param(n) = &self.key {
            let Some(v) = run.params.get(n) else { return false };
            return match &self.value {
                Lit::Num(x) => param_num(v).is_some_and(|p| cmp_num(self.op, p, *x)),
                Lit::Str(s) => cmp_str(self.op, &param_text(v), s),
                Lit::List(l) => in_list(self.op, l, |x| match x {
                    Lit::Num(x) => param_num(v) == Some(*x),
                    Lit::Str(s) => param_text(v) == s.as_str(),
                    Lit::List(_) => false,
                }),
            };
        }
        if self.key == Key::Attr(Attr::Status) {
            let eq = |x: &Lit| matches!(x, Lit::Str(s) if status(s) == Some(run.status));
            return match (&self.value, self.op) {
                (Lit::Str(_), Op::Eq) => eq(&self.value),
                (Lit::Str(_), Op::Ne) => !eq(&self.value),
                (Lit::List(l), op) => in_list(op, l, eq),
                (Lit::Str(s), op) => cmp_str(op, run.status.as_str(), s),
                (Lit::Num(_), _) => false,
            };
        }
        let Some(f) = self.key.field(run, metrics) else { return false };
        match (&f, &self.value) {
            (Field::Num(a), Lit::Num(b)) => cmp_num(self.op, *a, *b),
            (Field::Str(a), Lit::Str(b)) => cmp_str(self.op, a, b),
            (Field::Str(a), Lit::Num(b)) => a.trim().parse::<f64>().is_ok_and(|a| cmp_num(self.op, a, *b)),
            (Field::Num(a), Lit::Str(b)) => cmp_str(self.op, &a.to_string(), b),
            (f, Lit::List(l)) => in_list(self.op, l, |x| match (f, x) {
                (Field::Num(a), Lit::Num(b)) => a == b,
                (Field::Str(a), Lit::Str(b)) => a == b,
                _ => false,
            }),
        }
    }
}

fn in_list(op: Op, l: &[Lit], eq: impl Fn(&Lit) -> bool) -> bool {
    let found = l.iter().any(eq);
    if op == Op::NotIn { !found } else { found }
}

fn cmp_num(op: Op, a: f64, b: f64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b && !a.is_nan(),
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Like | Op::ILike | Op::In | Op::NotIn => false,
    }
}

fn cmp_str(op: Op, a: &str, b: &str) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Like => like(a.chars().collect::<Vec<_>>().as_slice(), b.chars().collect::<Vec<_>>().as_slice()),
        Op::ILike => like(
            a.to_lowercase().chars().collect::<Vec<_>>().as_slice(),
            b.to_lowercase().chars().collect::<Vec<_>>().as_slice(),
        ),
        Op::In | Op::NotIn => false,
    }
}

/// SQL `LIKE`: `%` matches any run of characters, `_` one character. Iterative with one backtrack point, so it is
/// linear-ish and never recurses on long patterns.
fn like(s: &[char], p: &[char]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == s[si])) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

fn cmp_fields(a: Option<&Field>, b: Option<&Field>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Field::Num(x)), Some(Field::Num(y))) => x.total_cmp(y),
        (Some(Field::Num(_)), Some(Field::Str(_))) => Ordering::Less,
        (Some(Field::Str(_)), Some(Field::Num(_))) => Ordering::Greater,
        (Some(Field::Str(x)), Some(Field::Str(y))) => x.cmp(y),
    }
}

/// Compares the sort fields of two runs key by key; missing values last in either direction.
fn cmp_keys(sort: &[SortKey], a: &[Option<Field>], b: &[Option<Field>]) -> Ordering {
    for (k, key) in sort.iter().enumerate() {
        let (fa, fb) = (a[k].as_ref(), b[k].as_ref());
        let o = match (fa, fb) {
            (Some(_), Some(_)) if key.desc => cmp_fields(fb, fa),
            _ => cmp_fields(fa, fb),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// How `sort` orders run `a` (with its summaries `ma`) against `b`: what [`arrange`] sorts by, for a caller that
/// orders runs without nesting them (MLflow's `runs/search`).
pub fn compare(sort: &[SortKey], a: &RunInfo, ma: &[MetricSummary], b: &RunInfo, mb: &[MetricSummary]) -> Ordering {
    let fa: Vec<Option<Field>> = sort.iter().map(|k| k.key.field(a, ma)).collect();
    let fb: Vec<Option<Field>> = sort.iter().map(|k| k.key.field(b, mb)).collect();
    cmp_keys(sort, &fa, &fb)
}

/// A run placed by [`arrange`]: its index in the input and how deep it sits under shown ancestors (0 = top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Index into the runs given.
    pub index: usize,
    /// 0 for a run shown at the top level, 1 for a child of a shown run, and so on.
    pub depth: usize,
}

/// Filters and orders runs: every run that `filter` matches, sorted by `sort` (then by start time, oldest first, as
/// `runlog ls` lists them), with each child run right under its parent (siblings in the same order). A child whose
/// parent is not shown takes its own place at the top level. `metrics[i]` is the summary of `runs[i]`.
pub fn arrange(runs: &[RunInfo], metrics: &[&[MetricSummary]], filter: &Filter, sort: &[SortKey]) -> Vec<Placed> {
    let shown: Vec<usize> = (0..runs.len()).filter(|&i| filter.matches(&runs[i], metrics[i])).collect();
    // Sort keys read once per run, not once per comparison.
    let fields: Vec<Vec<Option<Field>>> =
        shown.iter().map(|&i| sort.iter().map(|k| k.key.field(&runs[i], metrics[i])).collect()).collect();
    let mut order: Vec<usize> = (0..shown.len()).collect();
    order.sort_by(|&a, &b| {
        cmp_keys(sort, &fields[a], &fields[b]).then_with(|| {
            let (ra, rb) = (&runs[shown[a]], &runs[shown[b]]);
            ra.started_at.cmp(&rb.started_at).then_with(|| shown[a].cmp(&shown[b]))
        })
    });
    let sorted: Vec<usize> = order.into_iter().map(|o| shown[o]).collect();
    let present: std::collections::HashMap<&str, usize> = sorted.iter().map(|&i| (runs[i].id.as_str(), i)).collect();
    let mut children: std::collections::HashMap<usize, Vec<usize>> = std::collections::HashMap::new();
    let mut tops = Vec::new();
    for &i in &sorted {
        match runs[i].parent.as_ref().and_then(|p| present.get(p.as_str())) {
            Some(&p) if p != i => children.entry(p).or_default().push(i),
            _ => tops.push(i),
        }
    }
    let mut out = Vec::with_capacity(sorted.len());
    let mut seen = vec![false; runs.len()];
    // An explicit stack: deep trees cannot overflow, and a parent cycle (not possible in a store, but cheap to guard)
    // cannot loop.
    for t in tops {
        let mut stack = vec![(t, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            out.push(Placed { index: i, depth });
            if let Some(kids) = children.get(&i) {
                for &c in kids.iter().rev() {
                    stack.push((c, depth + 1));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let m = |s: &str, p: &str| like(&s.chars().collect::<Vec<_>>(), &p.chars().collect::<Vec<_>>());
        assert!(m("adam-lr0.1", "adam%"));
        assert!(m("adam-lr0.1", "%lr0._"));
        assert!(m("", "%"));
        assert!(!m("sgd", "adam%"));
        assert!(m("aXbXc", "a%c"));
        assert!(!m("abc", "a_"));
    }

    #[test]
    fn parses_mlflow_examples() {
        let f = Filter::parse("metrics.loss < 0.3 and params.lr = '0.01'").expect("parses");
        assert_eq!(f.clauses.len(), 2);
        assert_eq!(f.clauses[0], Clause { key: Key::Metric("loss".into()), op: Op::Lt, value: Lit::Num(0.3) });
        let f = Filter::parse("metrics.`train loss` >= 1e-3 AND tags.\"my tag\" LIKE 'a%'").expect("parses");
        assert_eq!(f.clauses[0].key, Key::Metric("train loss".into()));
        assert_eq!(f.clauses[1].key, Key::Tag("my tag".into()));
        assert_eq!(f.clauses[1].op, Op::Like);
        let f = Filter::parse("attributes.status IN ('FINISHED', 'failed') and metrics.loss/val != 2").expect("p");
        assert_eq!(f.clauses[0].op, Op::In);
        assert_eq!(f.clauses[1].key, Key::Metric("loss/val".into()));
        assert_eq!(Filter::parse("  ").expect("empty").clauses, vec![]);
        let s = parse_sort("metrics.loss, -start_time, params.lr DESC").expect("sort");
        assert_eq!(s.iter().map(|k| k.desc).collect::<Vec<_>>(), [false, true, true]);
    }

    #[test]
    fn errors_point_at_the_column() {
        for (input, col, needle) in [
            ("metrics.loss ~ 3", 14, "an operator"),
            ("metrics.loss < 'x'", 16, "is a number"),
            ("params.lr = ", 13, "a value"),
            ("metrics.loss < 1 or params.lr = '1'", 18, "\"and\""),
            ("foo.bar = 1", 1, "unknown key type"),
            ("attributes.colour = 'x'", 1, "unknown attribute"),
            ("status = 'done'", 10, "unknown status"),
            ("tags.a = 'unclosed", 19, "closing quote"),
            ("name < 'x'", 6, "is text"),
        ] {
            let e = Filter::parse(input).expect_err(input);
            assert_eq!(e.column, col, "{input}: {e}");
            assert!(e.message.contains(needle), "{input}: {e}");
        }
        let e = parse_sort("metrics.loss sideways").expect_err("bad dir");
        assert_eq!(e.column, 14, "{e}");
    }
}
