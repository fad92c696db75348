//! Charts in Azure ML's schemas: the confusion matrix, the accuracy table, predictions and residuals.
//!
//! A chart is the JSON document Azure's `log_confusion_matrix` & co. take,
//! `{"schema_type": ..., "schema_version": ..., "data": {...}}`. [`Chart::parse`] checks it against its schema (the
//! fields each type needs, and that every matrix has the shape its labels and thresholds give) before anything is
//! stored, so a reader can draw any stored chart without checking it again.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::{Error, Result};

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::Invalid(msg.to_string())
}

/// The chart types of Azure ML's schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartType {
    /// `confusion_matrix`: `class_labels` and an n x n `matrix` (true class by predicted class).
    ConfusionMatrix,
    /// `accuracy_table`: per class, the confusion counts `[tp, fp, tn, fn]` at each probability and percentile
    /// threshold (Azure draws it as ROC and precision-recall curves).
    AccuracyTable,
    /// `predictions`: per bin of the true value (regression) or of the predicted probability (classification, with
    /// `class_labels`), the mean prediction, its error and the count.
    Predictions,
    /// `residuals`: a histogram of the residuals, `bin_edges` and `bin_counts`.
    Residuals,
}

impl ChartType {
    /// Every chart type.
    pub const ALL: [ChartType; 4] =
        [ChartType::ConfusionMatrix, ChartType::AccuracyTable, ChartType::Predictions, ChartType::Residuals];

    /// The schema's name (`confusion_matrix`, ...), as Azure writes it in `schema_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChartType::ConfusionMatrix => "confusion_matrix",
            ChartType::AccuracyTable => "accuracy_table",
            ChartType::Predictions => "predictions",
            ChartType::Residuals => "residuals",
        }
    }

    /// The type a `schema_type` names, if it is one of Azure's.
    pub fn parse(s: &str) -> Option<ChartType> {
        ChartType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The fields the schema's `data` object needs.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            ChartType::ConfusionMatrix => &["class_labels", "matrix"],
            ChartType::AccuracyTable => &[
                "probability_tables",
                "percentile_tables",
                "probability_thresholds",
                "percentile_thresholds",
                "class_labels",
            ],
            ChartType::Predictions => &["bin_averages", "bin_errors", "bin_counts", "bin_edges"],
            ChartType::Residuals => &["bin_edges", "bin_counts"],
        }
    }

    /// The type's name in messages (`confusion matrix`).
    fn label(self) -> String {
        self.as_str().replace('_', " ")
    }
}

/// A chart that fits its schema (the body of runlog-core's `Kind::Chart` records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// Which of Azure's schemas.
    pub schema_type: ChartType,
    /// The schema's version as given (`1.0.0`).
    pub schema_version: String,
    /// The chart's `data` object, as compact JSON text.
    pub data: String,
}

impl Chart {
    /// Parses and checks the chart document `json` logged as `name`. With `expected`, its `schema_type` must be that
    /// type (as `log_confusion_matrix` takes only confusion matrices). Errors name the field and what the schema
    /// needs, like `confusion matrix "cm": data.matrix has 1 entries, the schema needs 2`.
    pub fn parse(name: &str, expected: Option<ChartType>, json: &str) -> Result<Chart> {
        let what = format!("{} {name:?}", expected.map_or_else(|| "chart".to_string(), ChartType::label));
        let doc: Json = serde_json::from_str(json)
            .map_err(|e| invalid(format!("{what} is not valid JSON: {e} (NaN and infinities are not JSON)")))?;
        Checker { what }.chart(expected, &doc)
    }

    /// The whole document again, `{"schema_type", "schema_version", "data"}`, as JSON text.
    pub fn to_json(&self) -> String {
        // `data` was checked to be a JSON object when the chart was parsed; a corrupt one becomes null.
        let data: Json = serde_json::from_str(&self.data).unwrap_or(Json::Null);
        serde_json::json!({
            "schema_type": self.schema_type.as_str(),
            "schema_version": self.schema_version,
            "data": data,
        })
        .to_string()
    }
}

/// Checks one chart document, prefixing every error with `what` (the chart's type and name).
struct Checker {
    what: String,
}

fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

impl Checker {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        invalid(format!("{}: {msg}", self.what))
    }

    fn chart(&self, expected: Option<ChartType>, doc: &Json) -> Result<Chart> {
        let schema = expected
            .map_or("Azure's chart schemas need".to_string(), |t| format!("Azure's {} schema needs", t.as_str()));
        let Some(obj) = doc.as_object() else {
            return Err(self.err(format!("must be a JSON object, not {}; {schema} an object", type_name(doc))));
        };
        let missing: Vec<String> = ["schema_type", "schema_version", "data"]
            .iter()
            .filter(|f| !obj.contains_key(**f))
            .map(|f| format!("{f:?}"))
            .collect();
        if !missing.is_empty() {
            return Err(self.err(format!(
                "is missing {}; {schema} \"schema_type\", \"schema_version\" and \"data\"",
                missing.join(", ")
            )));
        }
        let given = obj["schema_type"].as_str().unwrap_or_default();
        let kinds = ChartType::ALL.map(ChartType::as_str).join(", ");
        let ty = ChartType::parse(given)
            .ok_or_else(|| self.err(format!("schema_type {} is not one of {kinds}", obj["schema_type"])))?;
        if let Some(want) = expected.filter(|w| *w != ty) {
            return Err(self.err(format!("has schema_type {:?}, expected {:?}", ty.as_str(), want.as_str())));
        }
        let version = match obj["schema_version"].as_str() {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => return Err(self.err("schema_version must be a non-empty string like \"1.0.0\"")),
        };
        let Some(data) = obj["data"].as_object() else {
            return Err(self.err(format!("\"data\" must be an object, not {}", type_name(&obj["data"]))));
        };
        let absent: Vec<String> =
            ty.fields().iter().filter(|f| !data.contains_key(**f)).map(|f| format!("{f:?}")).collect();
        if !absent.is_empty() {
            return Err(self.err(format!(
                "\"data\" is missing {} (the {} schema needs {})",
                absent.join(", "),
                ty.as_str(),
                ty.fields().join(", ")
            )));
        }
        let f = |k: &str| &data[k];
        match ty {
            ChartType::ConfusionMatrix => {
                let n = self.labels(f("class_labels"))?;
                self.shape("data.matrix", f("matrix"), &[n, n])?;
            }
            ChartType::AccuracyTable => {
                let n = self.labels(f("class_labels"))?;
                let pth = self.numbers("data.probability_thresholds", f("probability_thresholds"))?;
                let pct = self.numbers("data.percentile_thresholds", f("percentile_thresholds"))?;
                self.shape("data.probability_tables", f("probability_tables"), &[n, pth, 4])?;
                self.shape("data.percentile_tables", f("percentile_tables"), &[n, pct, 4])?;
            }
            ChartType::Predictions => {
                let edges = self.numbers("data.bin_edges", f("bin_edges"))?;
                if data.contains_key("class_labels") {
                    let n = self.labels(f("class_labels"))?;
                    let bins = edges.saturating_sub(1);
                    for k in ["bin_averages", "bin_errors", "bin_counts"] {
                        self.shape(&format!("data.{k}"), f(k), &[n, bins])?;
                    }
                } else {
                    let bins = self.numbers("data.bin_counts", f("bin_counts"))?;
                    self.edges(edges, bins)?;
                    for k in ["bin_averages", "bin_errors"] {
                        self.shape(&format!("data.{k}"), f(k), &[bins])?;
                    }
                }
            }
            ChartType::Residuals => {
                let bins = self.numbers("data.bin_counts", f("bin_counts"))?;
                let edges = self.numbers("data.bin_edges", f("bin_edges"))?;
                self.edges(edges, bins)?;
            }
        }
        Ok(Chart { schema_type: ty, schema_version: version, data: obj["data"].to_string() })
    }

    /// `class_labels`: a non-empty list; its length.
    fn labels(&self, v: &Json) -> Result<usize> {
        match v.as_array() {
            Some(l) if !l.is_empty() => Ok(l.len()),
            _ => Err(self.err("data.class_labels must be a non-empty list")),
        }
    }

    /// A list of numbers; its length.
    fn numbers(&self, path: &str, v: &Json) -> Result<usize> {
        let xs =
            v.as_array().ok_or_else(|| self.err(format!("{path} must be a list of numbers, not {}", type_name(v))))?;
        if let Some((i, x)) = xs.iter().enumerate().find(|(_, x)| !x.is_number()) {
            return Err(self.err(format!("{path}[{i}] must be a number, not {} {x}", type_name(x))));
        }
        Ok(xs.len())
    }

    /// Nested lists of numbers of exactly the shape `dims`.
    fn shape(&self, path: &str, v: &Json, dims: &[usize]) -> Result<()> {
        let (&n, rest) = dims.split_first().unwrap_or((&0, &[]));
        if rest.is_empty() {
            let len = self.numbers(path, v)?;
            return if len == n {
                Ok(())
            } else {
                Err(self.err(format!("{path} has {len} values, the schema needs {n}")))
            };
        }
        let xs = v.as_array().ok_or_else(|| self.err(format!("{path} must be a list, not {}", type_name(v))))?;
        if xs.len() != n {
            return Err(self.err(format!("{path} has {} entries, the schema needs {n}", xs.len())));
        }
        xs.iter().enumerate().try_for_each(|(i, x)| self.shape(&format!("{path}[{i}]"), x, rest))
    }

    /// A histogram's edges: one more than its bins.
    fn edges(&self, edges: usize, bins: usize) -> Result<()> {
        if edges == bins + 1 {
            Ok(())
        } else {
            Err(self.err(format!("data.bin_edges has {edges} edges for {bins} bins; it needs {}", bins + 1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CM: &str = r#"{"schema_type": "confusion_matrix", "schema_version": "1.0.0",
        "data": {"class_labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]}}"#;

    #[test]
    fn a_chart_that_fits_its_schema_parses_and_round_trips() {
        let c = Chart::parse("cm", Some(ChartType::ConfusionMatrix), CM).expect("valid");
        assert_eq!(c.schema_type, ChartType::ConfusionMatrix);
        assert_eq!(c.schema_version, "1.0.0");
        let back: Json = serde_json::from_str(&c.to_json()).expect("json");
        assert_eq!(back, serde_json::from_str::<Json>(CM).expect("json"));
    }

    #[test]
    fn a_chart_that_does_not_fit_names_the_field_and_the_need() {
        let bad = |json: &str, want: &str| {
            let e = Chart::parse("cm", Some(ChartType::ConfusionMatrix), json).expect_err(json).to_string();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        };
        bad("{", "confusion matrix \"cm\" is not valid JSON");
        bad("[1]", "must be a JSON object, not a list");
        bad(r#"{"data": {}}"#, "is missing \"schema_type\", \"schema_version\"");
        bad(&CM.replace("\"confusion_matrix\"", "\"residuals\""), "has schema_type \"residuals\", expected");
        bad(&CM.replace("\"confusion_matrix\"", "\"pie\""), "schema_type \"pie\" is not one of confusion_matrix");
        bad(&CM.replace("\"1.0.0\"", "1"), "schema_version must be a non-empty string");
        bad(&CM.replace("[[3, 1], [0, 4]]", "[[3, 1]]"), "data.matrix has 1 entries, the schema needs 2");
        bad(&CM.replace("[[3, 1], [0, 4]]", "[[3, \"x\"], [0, 4]]"), "data.matrix[0][1] must be a number");
        bad(&CM.replace("\"matrix\"", "\"m\""), "\"data\" is missing \"matrix\"");
        let res = r#"{"schema_type": "residuals", "schema_version": "1", "data": {"bin_edges": [0, 1], "bin_counts": [1, 2]}}"#;
        let e = Chart::parse("r", None, res).expect_err("edges").to_string();
        assert!(e.contains("residuals \"r\"") || e.contains("chart \"r\""), "{e}");
        assert!(e.contains("data.bin_edges has 2 edges for 2 bins; it needs 3"), "{e}");
    }
}
