//! `runlog log`: logging from any language, as JSON lines on stdin.
//!
//! Each line is parsed and applied on its own: a malformed line is reported on stderr with its line number and
//! skipped, and every valid line lands. The store must already exist and hold the run (the run is created by
//! `runlog exec` or a library); this command never creates a store file.

use super::Global;
use crate::common::{self, code};
use anyhow::Context as _;
use runlog_core::{ENV_RUN_ID, Run, RunId, Store, Value};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::Path;
use std::process::ExitCode;

/// The line format, shown in `runlog log --help` (and docs/cli.md).
const FORMAT: &str = "Input: one JSON object per line on stdin. Every line may name its run with \"run\" (id,
unambiguous prefix or experiment/name); otherwise --run, else $RUNLOG_RUN_ID, is used. Blank lines are ignored.

  {\"name\": \"loss\", \"value\": 0.5}                        scalar, next automatic step
  {\"name\": \"loss\", \"value\": 0.5, \"step\": 3}             scalar at step 3
  {\"name\": \"acc\", \"values\": [0.1, 0.2, 0.3]}              list: consecutive steps
  {\"name\": \"epoch\", \"row\": {\"epoch\": 1, \"loss\": 0.3}}     row (columns in the order given)
  {\"name\": \"pr\", \"table\": {\"p\": [1, 0.9], \"r\": [0.1, 0.5]}} table (equal-length columns)
  {\"name\": \"samples\", \"image\": \"out/s.png\", \"description\": \"epoch 1\"}   PNG or JPEG by path
  {\"name\": \"notes\", \"text\": \"free text\"}                 text
  {\"params\": {\"lr\": 0.01, \"optimizer\": \"adam\"}}           params (write-once)
  {\"tags\": {\"stage\": \"warmup\"}}                           tags (a later value replaces)
  {\"properties\": {\"dataset\": \"mnist-v2\"}}                 properties (write-once)

Values that JSON cannot hold may be given as strings: \"NaN\", \"inf\", \"-inf\". Image paths are relative to the
current directory. A malformed line is reported on stderr as `runlog: line N: <why>` and skipped; the other lines
all land. Exit code 0 if every line was logged, 5 if any line was skipped, 3/4 if the store or the run cannot be found.";

/// Arguments of `runlog log`.
#[derive(Debug, clap::Args)]
#[command(after_help = FORMAT)]
pub struct Args {
    /// The run lines without "run" log into (default: $RUNLOG_RUN_ID).
    #[arg(long, env = ENV_RUN_ID)]
    pub run: Option<String>,
}

/// Runs `runlog log`.
pub fn run(args: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let path = g.store_path();
    // Check the store read-only first: a missing, foreign or newer file is reported and never created or changed.
    let reader = common::open_reader(&path)?;
    let default_run = match &args.run {
        Some(spec) => Some(common::resolve(&reader, spec)?),
        None => None,
    };
    let store = Store::open(&path).with_context(|| format!("open store {}", path.display()))?;
    let mut runs: HashMap<RunId, Run> = HashMap::new();
    let mut specs: HashMap<String, RunId> = HashMap::new();
    let mut bad = 0u64;
    let mut good = 0u64;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read = input.read_until(b'\n', &mut line).context("read stdin")?;
        if read == 0 {
            break;
        }
        n += 1;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let result = (|| -> Result<(), String> {
            let obj: Map<String, Json> = match serde_json::from_str::<Json>(text) {
                Ok(Json::Object(o)) => o,
                Ok(other) => return Err(format!("expected a JSON object, got {}", kind_of(&other))),
                Err(e) => return Err(format!("not JSON: {e}")),
            };
            let id = match obj.get("run") {
                Some(Json::String(spec)) => match specs.get(spec) {
                    Some(id) => id.clone(),
                    None => {
                        let id = reader.resolve(spec).map_err(|e| e.to_string())?;
                        specs.insert(spec.clone(), id.clone());
                        id
                    }
                },
                Some(other) => return Err(format!("\"run\" must be a string, got {}", kind_of(other))),
                None => default_run
                    .clone()
                    .ok_or_else(|| format!("no run: give \"run\" on the line, --run, or set {ENV_RUN_ID}"))?,
            };
            let run = match runs.get(&id) {
                Some(r) => r.clone(),
                None => {
                    let r = Run::attach(&store, &id).map_err(|e| e.to_string())?;
                    runs.insert(id.clone(), r.clone());
                    r
                }
            };
            apply(&run, &obj)
        })();
        match result {
            Ok(()) => good += 1,
            Err(e) => {
                bad += 1;
                eprintln!("runlog: line {n}: {e}");
            }
        }
    }
    store.flush().with_context(|| format!("write to {}", path.display()))?;
    if bad > 0 {
        eprintln!("runlog: {bad} of {} lines skipped, {good} logged", bad + good);
        return Ok(ExitCode::from(code::BAD_INPUT));
    }
    Ok(ExitCode::SUCCESS)
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Applies one parsed line to its run.
fn apply(run: &Run, obj: &Map<String, Json>) -> Result<(), String> {
    const KNOWN: [&str; 14] = [
        "run",
        "name",
        "value",
        "step",
        "values",
        "row",
        "table",
        "image",
        "description",
        "text",
        "params",
        "tags",
        "properties",
        "param",
    ];
    if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!("unknown key {k:?}"));
    }
    let e = |r: runlog_core::Result<()>| r.map_err(|e| e.to_string());
    let mut did = false;
    for (key, what) in [("params", 0), ("tags", 1), ("properties", 2)] {
        let Some(v) = obj.get(key) else { continue };
        let Json::Object(m) = v else { return Err(format!("{key:?} must be an object, got {}", kind_of(v))) };
        for (k, v) in m {
            match what {
                0 => e(run.log_param(k, value(v).map_err(|m| format!("param {k:?}: {m}"))?))?,
                1 => e(run.set_tag(k, &plain_string(v)))?,
                _ => e(run.add_property(k, &plain_string(v)))?,
            }
        }
        did = true;
    }
    if obj.contains_key("param") {
        return Err("use \"params\": {\"key\": value}".into());
    }
    let name = match obj.get("name") {
        Some(Json::String(s)) => Some(s.as_str()),
        Some(v) => return Err(format!("\"name\" must be a string, got {}", kind_of(v))),
        None => None,
    };
    let payloads = ["value", "values", "row", "table", "image", "text"];
    let given: Vec<&str> = payloads.iter().copied().filter(|k| obj.contains_key(*k)).collect();
    let Some(name) = name else {
        if !given.is_empty() {
            return Err(format!("{:?} needs a \"name\"", given[0]));
        }
        return if did {
            Ok(())
        } else {
            Err("nothing to log: give name + value/values/row/table/image/text, or params/tags/properties".into())
        };
    };
    let payload = match given.as_slice() {
        [one] => *one,
        [] => return Err(format!("{name:?} has no value: give one of value, values, row, table, image, text")),
        many => return Err(format!("one line logs one thing, got {}", many.join(" and "))),
    };
    if obj.contains_key("step") && payload != "value" {
        return Err("\"step\" goes with \"value\" only".into());
    }
    if obj.contains_key("description") && payload != "image" {
        return Err("\"description\" goes with \"image\" only".into());
    }
    let v = &obj[payload];
    match payload {
        "value" => {
            let x = number(v)?;
            match obj.get("step") {
                None => e(run.log(name, x)),
                Some(Json::Number(s)) if s.as_i64().is_some() => e(run.log_at(name, s.as_i64().unwrap_or(0), x)),
                Some(s) => Err(format!("\"step\" must be an integer, got {s}")),
            }
        }
        "values" => {
            let Json::Array(a) = v else { return Err(format!("\"values\" must be an array, got {}", kind_of(v))) };
            let xs = a.iter().map(number).collect::<Result<Vec<f64>, String>>()?;
            e(run.log_list(name, &xs))
        }
        "row" => {
            let Json::Object(m) = v else { return Err(format!("\"row\" must be an object, got {}", kind_of(v))) };
            let cols = m
                .iter()
                .map(|(k, v)| value(v).map(|x| (k.clone(), x)).map_err(|m| format!("column {k:?}: {m}")))
                .collect::<Result<Vec<_>, _>>()?;
            e(run.log_row(name, cols))
        }
        "table" => {
            let Json::Object(m) = v else { return Err(format!("\"table\" must be an object, got {}", kind_of(v))) };
            let mut cols = Vec::with_capacity(m.len());
            for (k, c) in m {
                let Json::Array(a) = c else {
                    return Err(format!("table column {k:?} must be an array, got {}", kind_of(c)));
                };
                let vals =
                    a.iter().map(value).collect::<Result<Vec<_>, _>>().map_err(|m| format!("column {k:?}: {m}"))?;
                cols.push((k.clone(), vals));
            }
            e(run.log_table(name, cols))
        }
        "image" => {
            let Json::String(p) = v else { return Err(format!("\"image\" must be a path string, got {}", kind_of(v))) };
            let desc = match obj.get("description") {
                None => "",
                Some(Json::String(d)) => d.as_str(),
                Some(d) => return Err(format!("\"description\" must be a string, got {}", kind_of(d))),
            };
            e(run.log_image(name, Path::new(p), desc))
        }
        _ => {
            let Json::String(t) = v else { return Err(format!("\"text\" must be a string, got {}", kind_of(v))) };
            e(run.log_text(name, t))
        }
    }
}

/// A number, or one of the strings NaN / inf / -inf.
fn number(v: &Json) -> Result<f64, String> {
    match v {
        Json::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a float")),
        Json::String(s) => match s.to_ascii_lowercase().as_str() {
            "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "infinity" => Ok(f64::INFINITY),
            "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(format!("{s:?} is not a number (strings allowed: \"NaN\", \"inf\", \"-inf\")")),
        },
        other => Err(format!("expected a number, got {}", kind_of(other))),
    }
}

/// A typed value for rows, tables and params.
fn value(v: &Json) -> Result<Value, String> {
    match v {
        Json::Bool(b) => Ok(Value::Bool(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Ok(Value::I64(i)),
            None => n.as_f64().map(Value::F64).ok_or_else(|| format!("{n} is out of range")),
        },
        Json::String(s) => Ok(Value::Str(s.clone())),
        other => Err(format!("expected a number, string or boolean, got {}", kind_of(other))),
    }
}

fn plain_string(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}
