//! The mapping of runlog wire records to MLflow (docs/protocol.md, "MLflow remotes"), as pure functions: a record
//! becomes a list of [`Op`]s (metrics, params, tags, artifacts, journal lines, a run to create, a status), or a
//! per-record rejection with a machine-readable code when MLflow cannot hold it.
//!
//! This module knows MLflow's rules for keys and values; it knows nothing about HTTP or about what already landed.

use super::api::{KeyValue, Metric};
use runlog_wire::{Body, WireRecord, WireValue};

/// Tag naming the runlog run id on every MLflow run this remote creates (how a lost mapping is found again).
pub const TAG_RUN_ID: &str = "runlog.run_id";
/// Tag naming the runlog store id.
pub const TAG_STORE_ID: &str = "runlog.store_id";
/// Tag naming the runlog id of a child run's parent.
pub const TAG_PARENT: &str = "runlog.parent_run_id";
/// MLflow's own parent tag (the MLflow id of the parent run).
pub const TAG_MLFLOW_PARENT: &str = "mlflow.parentRunId";
/// Tag holding why a run failed.
pub const TAG_STATUS_REASON: &str = "runlog.status_reason";
/// Prefix of the tags holding runlog properties.
pub const PROPERTY_PREFIX: &str = "runlog.property.";
/// Prefix of the tags holding metric descriptions.
pub const DESCRIPTION_PREFIX: &str = "runlog.description.";
/// Prefix of the tags and properties the MLflow plugin keeps for its own view of a run that an MLflow client logged
/// into a runlog store (its lifecycle stage, the status as the client said it, its experiment id at creation). They
/// describe the local MLflow view, not the run: they are not sent, so such a run reaches MLflow as the client logged
/// it.
pub const PLUGIN_PREFIX: &str = "runlog.mlflow.";
/// Records per journal artifact: journal lines of records `k*JOURNAL_BLOCK ..` share one file.
pub const JOURNAL_BLOCK: i64 = 4096;

/// MLflow's limits as this remote applies them. Every field documents its default ([`MlflowLimits::default`],
/// MLflow 3's `runs/log-batch` limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlflowLimits {
    /// Metrics per `runs/log-batch`. Default 1,000.
    pub max_metrics: usize,
    /// Params per `runs/log-batch`. Default 100.
    pub max_params: usize,
    /// Tags per `runs/log-batch`. Default 100.
    pub max_tags: usize,
    /// Metrics, params and tags per `runs/log-batch` together. Default 1,000.
    pub max_items: usize,
    /// Largest `runs/log-batch` body, in bytes (MLflow refuses bodies over 1 MB). Default 900,000.
    pub max_request_bytes: usize,
    /// Longest metric, param or tag key, in characters. Default 250.
    pub max_key_chars: usize,
    /// Longest param value, in characters (MLflow cuts longer values silently, so they are rejected). Default 6,000.
    pub max_param_chars: usize,
    /// Longest tag value, in characters (MLflow cuts longer values silently). Default 8,000.
    pub max_tag_chars: usize,
    /// Most steps `metrics/get-history-bulk-interval` returns unsampled. Default 2,500.
    pub max_range_points: usize,
}

impl Default for MlflowLimits {
    fn default() -> Self {
        MlflowLimits {
            max_metrics: 1_000,
            max_params: 100,
            max_tags: 100,
            max_items: 1_000,
            max_request_bytes: 900_000,
            max_key_chars: 250,
            max_param_chars: 6_000,
            max_tag_chars: 8_000,
            max_range_points: 2_500,
        }
    }
}

/// Where an artifact's bytes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A blob the agent uploaded (images, files), by hash.
    Blob(String),
    /// Bytes made from the record (tables as JSON).
    Bytes(bytes::Bytes),
}

/// One thing a record asks of MLflow.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Find or create the run (and its experiment).
    Run {
        /// Experiment name.
        experiment: String,
        /// Run name.
        name: String,
        /// runlog id of the parent run.
        parent: Option<String>,
    },
    /// A metric point.
    Metric(Metric),
    /// A param.
    Param(KeyValue),
    /// A tag.
    Tag(KeyValue),
    /// MLflow's parent tag, holding the runlog id of the parent: sent with the parent's MLflow id when the remote
    /// finds that run, as logged otherwise (an MLflow client may name a run runlog does not hold).
    ParentTag(String),
    /// `runs/update`.
    Status {
        /// MLflow status (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`).
        status: &'static str,
        /// End time for ended runs.
        end_time: Option<i64>,
    },
    /// An artifact at `path` under the run's artifact root.
    Artifact {
        /// Relative path.
        path: String,
        /// Its bytes.
        content: Content,
    },
    /// A JSON line keyed by the record's `seq` in the journal artifact `path` (merged, so resending changes nothing).
    Journal {
        /// Relative path of the `.jsonl` artifact.
        path: String,
        /// The record's sequence number (the line's identity).
        seq: i64,
        /// The JSON line.
        line: String,
    },
}

/// Why a record cannot go to MLflow: a machine-readable code and a reason naming the value and the limit.
pub type Refusal = (String, String);

fn refuse(code: &str, reason: String) -> Refusal {
    (code.to_string(), reason)
}

/// Checks a metric, param or tag key against MLflow's rules: 1 to `max` characters of letters, digits, `_ - . : /`
/// and spaces, and a path that does not normalize to another name (`a//b`, `./a`, `../a`, `/a`, `a/`).
pub fn check_key(what: &str, key: &str, max: usize) -> Result<(), Refusal> {
    let chars = key.chars().count();
    if chars > max {
        return Err(refuse(
            "name_too_long",
            format!("{what} {:?} is {chars} characters, MLflow's limit is {max}", runlog_wire::truncate(key, 40)),
        ));
    }
    if let Some(c) = key.chars().find(|c| !(c.is_alphanumeric() || "_-.: /".contains(*c))) {
        return Err(refuse(
            "invalid_name",
            format!(
                "{what} {key:?} holds {c:?}; MLflow keys may hold only letters, digits, '_', '-', '.', ':', '/' and spaces"
            ),
        ));
    }
    check_path(what, key)
}

/// Checks a relative path: not empty, no leading `/`, no empty, `.` or `..` component.
pub fn check_path(what: &str, path: &str) -> Result<(), Refusal> {
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(refuse(
            "invalid_name",
            format!(
                "{what} {path:?} is not a plain relative path (MLflow would read it as another name: no empty, '.' or '..' parts, no leading or trailing '/')"
            ),
        ));
    }
    Ok(())
}

fn value_text(v: &WireValue) -> String {
    match v {
        WireValue::Bool(b) => b.to_string(),
        WireValue::Int(i) => i.to_string(),
        WireValue::Float(f) => format_f64(*f),
        WireValue::Str(s) => s.clone(),
    }
}

fn format_f64(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        // Shortest text that reads back as the same f64.
        let s = format!("{f:?}");
        s.strip_suffix(".0").map_or(s.clone(), str::to_string)
    }
}

/// A cell as a metric value: numbers, and booleans as 1 and 0. Strings are not metrics.
fn numeric(v: &WireValue) -> Option<f64> {
    match v {
        WireValue::Float(f) => Some(*f),
        WireValue::Int(i) => Some(*i as f64),
        WireValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        WireValue::Str(_) => None,
    }
}

/// The journal file of record `seq` under `dir`.
pub fn journal_path(dir: &str, seq: i64) -> String {
    format!("{dir}/{:012}.jsonl", seq - seq.rem_euclid(JOURNAL_BLOCK))
}

fn journal(dir: String, seq: i64, line: serde_json::Value) -> Op {
    Op::Journal { path: journal_path(&dir, seq), seq, line: line.to_string() }
}

fn tag_value(what: &str, key: &str, value: String, l: &MlflowLimits) -> Result<Op, Refusal> {
    check_key(what, key, l.max_key_chars)?;
    let n = value.chars().count();
    if n > l.max_tag_chars {
        return Err(refuse(
            "value_too_long",
            format!("value of {what} {key:?} is {n} characters, MLflow's limit for tag values is {}", l.max_tag_chars),
        ));
    }
    Ok(Op::Tag(KeyValue { key: key.to_string(), value }))
}

/// MLflow's status for a runlog status.
pub fn mlflow_status(status: &str) -> &'static str {
    match status {
        "completed" => "FINISHED",
        "failed" | "crashed" => "FAILED",
        "cancelled" => "KILLED",
        _ => "RUNNING",
    }
}

/// What a record asks of MLflow, or why MLflow cannot hold it.
pub fn plan(rec: &WireRecord, l: &MlflowLimits) -> Result<Vec<Op>, Refusal> {
    let name = rec.name.as_str();
    let step = rec.step.unwrap_or(0);
    Ok(match &rec.body {
        Body::Run { experiment, name, parent } => {
            vec![Op::Run { experiment: experiment.clone(), name: name.clone(), parent: parent.clone() }]
        }
        Body::Status { status, reason } => {
            let st = mlflow_status(status);
            let mut ops = Vec::new();
            if let Some(r) = reason {
                // The full reason in the status journal; the tag holds as much as MLflow keeps.
                let cut = runlog_wire::truncate(r, l.max_tag_chars.saturating_sub(1));
                ops.push(Op::Tag(KeyValue { key: TAG_STATUS_REASON.into(), value: cut }));
                let line = serde_json::json!({"seq": rec.seq, "at": rec.at, "status": status, "reason": r});
                ops.push(journal("runlog/status".into(), rec.seq, line));
            }
            ops.push(Op::Status { status: st, end_time: (st != "RUNNING").then_some(rec.at) });
            ops
        }
        Body::Param(v) => {
            check_key("param", name, l.max_key_chars)?;
            let value = value_text(v);
            let n = value.chars().count();
            if n > l.max_param_chars {
                return Err(refuse(
                    "value_too_long",
                    format!("value of param {name:?} is {n} characters, MLflow's limit is {}", l.max_param_chars),
                ));
            }
            vec![Op::Param(KeyValue { key: name.to_string(), value })]
        }
        Body::Tag(_) | Body::Property(_) if name.starts_with(PLUGIN_PREFIX) => Vec::new(),
        // A parent tag an MLflow client logged names the parent's runlog id: the remote gives it the parent's MLflow id.
        Body::Tag(v) if name == TAG_MLFLOW_PARENT => vec![Op::ParentTag(value_text(v))],
        Body::Tag(v) => vec![tag_value("tag", name, value_text(v), l)?],
        Body::Property(v) => vec![tag_value("property", &format!("{PROPERTY_PREFIX}{name}"), value_text(v), l)?],
        Body::Description(v) => {
            let key = format!("{DESCRIPTION_PREFIX}{name}");
            match tag_value("description", &key, value_text(v), l) {
                Ok(op) => vec![op],
                // Too long for a tag: kept in the descriptions journal instead.
                Err(_) => {
                    let line =
                        serde_json::json!({"seq": rec.seq, "at": rec.at, "metric": name, "description": value_text(v)});
                    vec![journal("runlog/descriptions".into(), rec.seq, line)]
                }
            }
        }
        Body::Scalars(bytes) => {
            check_key("metric", name, l.max_key_chars)?;
            let points = runlog_wire::points::decode(bytes)
                .map_err(|e| refuse("malformed_record", format!("scalars {name:?}: {e}")))?;
            points
                .into_iter()
                .map(|p| Op::Metric(Metric { key: name.to_string(), value: p.value, timestamp: p.at, step: p.step }))
                .collect()
        }
        Body::Row(cols) => {
            let mut ops = Vec::new();
            for (c, v) in cols {
                if let Some(value) = numeric(v) {
                    let key = format!("{name}/{c}");
                    check_key("row column metric", &key, l.max_key_chars)?;
                    ops.push(Op::Metric(Metric { key, value, timestamp: rec.at, step }));
                }
            }
            if ops.len() < cols.len() {
                // String cells are not metrics: the whole row goes to the rows journal.
                check_path("row name", name)?;
                let columns: Vec<_> =
                    cols.iter().map(|(k, v)| serde_json::json!([k, runlog_wire::json::value(v)])).collect();
                let line = serde_json::json!({"seq": rec.seq, "step": rec.step, "at": rec.at, "columns": columns});
                ops.push(journal(format!("runlog/rows/{name}"), rec.seq, line));
            }
            ops
        }
        Body::Table(cols) => {
            check_path("table name", name)?;
            let mut ops = Vec::new();
            for (c, vs) in cols {
                let nums: Option<Vec<f64>> = vs.iter().map(numeric).collect();
                if let Some(nums) = nums {
                    let key = format!("{name}/{c}");
                    check_key("table column metric", &key, l.max_key_chars)?;
                    ops.extend(nums.into_iter().enumerate().map(|(i, value)| {
                        Op::Metric(Metric { key: key.clone(), value, timestamp: rec.at, step: i as i64 })
                    }));
                }
            }
            let columns: Vec<_> = cols
                .iter()
                .map(|(k, vs)| serde_json::json!([k, vs.iter().map(runlog_wire::json::value).collect::<Vec<_>>()]))
                .collect();
            let json =
                serde_json::json!({"name": name, "seq": rec.seq, "step": rec.step, "at": rec.at, "columns": columns});
            ops.push(Op::Artifact {
                path: format!("runlog/tables/{name}/{}.json", rec.seq),
                content: Content::Bytes(json.to_string().into()),
            });
            ops
        }
        Body::Image { hash, format, width, height, size, description } => {
            check_path("image name", name)?;
            let path = image_artifact_path(name, step, rec.seq, format);
            let line = serde_json::json!({"seq": rec.seq, "step": rec.step, "at": rec.at, "path": path,
                "format": format, "width": width, "height": height, "size": size, "hash": hash, "description": description});
            vec![
                Op::Artifact { path, content: Content::Blob(hash.clone()) },
                journal(format!("runlog/images/{name}"), rec.seq, line),
            ]
        }
        Body::Text(t) => {
            check_path("text name", name)?;
            let line = serde_json::json!({"seq": rec.seq, "step": rec.step, "at": rec.at, "text": t});
            vec![journal(format!("runlog/texts/{name}"), rec.seq, line)]
        }
        Body::Log { level, target, message } => {
            check_path("log stream", name)?;
            let line =
                serde_json::json!({"seq": rec.seq, "at": rec.at, "level": level, "target": target, "message": message});
            vec![journal(format!("runlog/logs/{name}"), rec.seq, line)]
        }
        Body::File { hash, .. } => {
            check_path("file name", name)?;
            vec![Op::Artifact { path: name.to_string(), content: Content::Blob(hash.clone()) }]
        }
        Body::Chart(doc) => {
            // As MLflow's log_dict keeps a dict: the chart's latest version is the artifact charts/<name>.json.
            check_path("chart name", name)?;
            vec![Op::Artifact { path: chart_artifact_path(name), content: Content::Bytes(doc.clone().into()) }]
        }
    })
}

/// Where an image record is an MLflow artifact: `images/<name>/step_<step>_<seq>.<png|jpg>` (`format` is `png` or
/// `jpeg`, as on the wire).
pub fn image_artifact_path(name: &str, step: i64, seq: i64, format: &str) -> String {
    let ext = if format == "jpeg" { "jpg" } else { "png" };
    format!("images/{name}/step_{step}_{seq}.{ext}")
}

/// Where a chart's latest version is an MLflow artifact: `charts/<name>.json`.
pub fn chart_artifact_path(name: &str) -> String {
    format!("charts/{name}.json")
}

/// One artifact of a run as MLflow sees it: a stored blob, or bytes made from a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Artifact {
    /// A blob of the store (an image, a file) and its size.
    Blob(runlog_core::BlobHash, u64),
    /// Bytes made from a record (a chart's JSON document).
    Bytes(Vec<u8>),
}

impl Artifact {
    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Artifact::Blob(_, size) => *size,
            Artifact::Bytes(b) => b.len() as u64,
        }
    }
}

/// A run's artifacts by path, the tree the sync to MLflow uploads, for the MLflow views of a store (the plugin's
/// artifact repository, the MLflow endpoint of `runlog ui` and `serve`): each image at [`image_artifact_path`],
/// each chart's latest version at [`chart_artifact_path`], and the run's files (the latest upload of a name wins,
/// also over an image's or chart's path). Entries come in commit order, as the reader gives them.
pub fn artifact_tree(
    images: Vec<runlog_core::Entry<runlog_core::ImageRef>>,
    charts: Vec<runlog_core::Entry<runlog_core::Chart>>,
    files: Vec<runlog_core::Entry<runlog_core::FileRef>>,
) -> std::collections::BTreeMap<String, Artifact> {
    let mut out = std::collections::BTreeMap::new();
    for e in images {
        let path = image_artifact_path(&e.name, e.step.unwrap_or(0), e.seq, e.value.format.name());
        out.insert(path, Artifact::Blob(e.value.hash, e.value.size));
    }
    for e in charts {
        out.insert(chart_artifact_path(&e.name), Artifact::Bytes(e.value.to_json().into_bytes()));
    }
    for f in files {
        out.insert(f.name, Artifact::Blob(f.value.hash, f.value.size));
    }
    out
}

/// A point's identity in MLflow: (step, timestamp, value) as MLflow reads it back (NaN one value, ±infinity as
/// ±f64::MAX, -0 as 0).
pub fn point_id(step: i64, timestamp: i64, value: f64) -> (i64, i64, u64) {
    let v = if value.is_nan() {
        f64::NAN
    } else if value == f64::INFINITY {
        f64::MAX
    } else if value == f64::NEG_INFINITY {
        -f64::MAX
    } else if value == 0.0 {
        0.0
    } else {
        value
    };
    (step, timestamp, v.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, body: Body) -> WireRecord {
        WireRecord { seq: 5000, part: 0, rows: 1, run: "r".into(), name: name.into(), at: 77, step: Some(3), body }
    }

    #[test]
    fn keys_follow_mlflow_rules() {
        for ok in ["loss", "val/acc", "a b:c", "λx", ".x", "a..b"] {
            assert!(check_key("metric", ok, 250).is_ok(), "{ok}");
        }
        for (bad, code) in [
            ("loss@1", "invalid_name"),
            ("a(b)", "invalid_name"),
            ("a//b", "invalid_name"),
            ("./a", "invalid_name"),
            ("../a", "invalid_name"),
            ("/a", "invalid_name"),
            ("a/", "invalid_name"),
            ("", "invalid_name"),
        ] {
            assert_eq!(check_key("metric", bad, 250).expect_err(bad).0, code, "{bad}");
        }
        let long = "x".repeat(251);
        let (code, reason) = check_key("metric", &long, 250).expect_err("long");
        assert_eq!(code, "name_too_long");
        assert!(reason.contains("251 characters") && reason.contains("250"), "{reason}");
    }

    #[test]
    fn rows_become_column_metrics_and_keep_strings_in_a_journal() {
        let r = rec(
            "eval",
            Body::Row(vec![
                ("acc".into(), WireValue::Float(0.5)),
                ("n".into(), WireValue::Int(3)),
                ("note".into(), WireValue::Str("x".into())),
            ]),
        );
        let ops = plan(&r, &MlflowLimits::default()).expect("plan");
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0], Op::Metric(Metric { key: "eval/acc".into(), value: 0.5, timestamp: 77, step: 3 }));
        match &ops[2] {
            Op::Journal { path, seq, line } => {
                assert_eq!(path, "runlog/rows/eval/000000004096.jsonl");
                assert_eq!(*seq, 5000);
                assert!(line.contains("\"note\""), "{line}");
            }
            other => panic!("not a journal line: {other:?}"),
        }
    }

    #[test]
    fn tables_use_the_row_index_as_step_and_travel_whole_as_json() {
        let r = rec(
            "conf",
            Body::Table(vec![
                ("label".into(), vec![WireValue::Str("a".into()), WireValue::Str("b".into())]),
                ("n".into(), vec![WireValue::Int(3), WireValue::Float(f64::NAN)]),
            ]),
        );
        let ops = plan(&r, &MlflowLimits::default()).expect("plan");
        let steps: Vec<i64> =
            ops.iter().filter_map(|o| if let Op::Metric(m) = o { Some(m.step) } else { None }).collect();
        assert_eq!(steps, vec![0, 1]);
        assert!(matches!(&ops[2], Op::Artifact { path, .. } if path == "runlog/tables/conf/5000.json"));
    }

    #[test]
    fn long_values_and_bad_keys_are_refused_with_a_code() {
        let l = MlflowLimits::default();
        let p = rec("lr", Body::Param(WireValue::Str("x".repeat(6001))));
        assert_eq!(plan(&p, &l).expect_err("long").0, "value_too_long");
        let t = rec("a@b", Body::Tag(WireValue::Str("x".into())));
        assert_eq!(plan(&t, &l).expect_err("bad key").0, "invalid_name");
        // A description too long for a tag is kept in a journal, not dropped.
        let d = rec("loss", Body::Description(WireValue::Str("d".repeat(9000))));
        assert!(matches!(plan(&d, &l).expect("kept")[0], Op::Journal { .. }));
    }

    #[test]
    fn a_run_an_mlflow_client_logged_goes_back_without_the_plugins_bookkeeping() {
        let l = MlflowLimits::default();
        let s = |v: &str| WireValue::Str(v.into());
        for (name, body) in [
            ("runlog.mlflow.status", Body::Tag(s("FINISHED"))),
            ("runlog.mlflow.lifecycleStage", Body::Tag(s("active"))),
            ("runlog.mlflow.experimentId", Body::Property(s("3"))),
        ] {
            assert_eq!(plan(&rec(name, body), &l).expect(name), Vec::new(), "{name}");
        }
        let parent = "ab".repeat(16);
        assert_eq!(
            plan(&rec(TAG_MLFLOW_PARENT, Body::Tag(s(&parent))), &l).expect("parent"),
            vec![Op::ParentTag(parent)]
        );
        // Properties of runlog's own runs still travel, as tags.
        assert_eq!(
            plan(&rec("owner", Body::Property(s("me"))), &l).expect("property"),
            vec![Op::Tag(KeyValue { key: "runlog.property.owner".into(), value: "me".into() })]
        );
    }

    #[test]
    fn point_ids_match_what_mlflow_reads_back() {
        assert_eq!(point_id(1, 2, f64::INFINITY), point_id(1, 2, f64::MAX));
        assert_eq!(point_id(1, 2, -0.0), point_id(1, 2, 0.0));
        assert_eq!(point_id(1, 2, f64::NAN), point_id(1, 2, -f64::NAN));
        assert_ne!(point_id(1, 2, 1.0), point_id(1, 3, 1.0));
    }

    #[test]
    fn params_print_numbers_so_they_read_back() {
        assert_eq!(value_text(&WireValue::Float(0.01)), "0.01");
        assert_eq!(value_text(&WireValue::Float(2.0)), "2");
        assert_eq!(value_text(&WireValue::Int(-4)), "-4");
        assert_eq!(value_text(&WireValue::Bool(true)), "true");
    }
}
