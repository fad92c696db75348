//! Where the UI reads from: the [`Source`] trait, and its implementation for a local store ([`Reader`]).
//!
//! The UI's handlers know only this trait, so a second source (a workspace synced to `runlog serve`) can be added by
//! implementing it, without touching the routes or the assets. A source is synchronous; handlers call it on the
//! blocking thread pool.

use runlog_core::read::ChunkInfo;
use runlog_core::{
    BlobHash, Chart, Entry, FileRef, ImageRef, LogLine, MetricInfo, MetricSummary, Point, Reader, Result, Row, RunId,
    RunInfo, Table, Text,
};
use std::collections::BTreeMap;

/// The read operations the UI needs. Errors of kind `NotFound` become 404 pages; others become 500s.
pub trait Source: Send + Sync + 'static {
    /// What is shown (e.g. the store's path), for the page header.
    fn describe(&self) -> String;
    /// All runs, oldest first.
    fn runs(&self) -> Result<Vec<RunInfo>>;
    /// Finds a run by id, unambiguous prefix or `experiment/name`.
    fn resolve(&self, spec: &str) -> Result<RunId>;
    /// One run.
    fn run(&self, id: &RunId) -> Result<RunInfo>;
    /// A run's children.
    fn children(&self, id: &RunId) -> Result<Vec<RunInfo>>;
    /// A run's metric names.
    fn metrics(&self, id: &RunId) -> Result<Vec<MetricInfo>>;
    /// Last/min/max of each scalar series of a run.
    fn summary(&self, id: &RunId) -> Result<Vec<MetricSummary>>;
    /// [`Source::summary`] of every run, keyed by run id (runs without scalars may be missing).
    fn summaries(&self) -> Result<BTreeMap<RunId, Vec<MetricSummary>>> {
        let mut out = BTreeMap::new();
        for r in self.runs()? {
            out.insert(r.id.clone(), self.summary(&r.id)?);
        }
        Ok(out)
    }
    /// Per-chunk statistics of a scalar series, in sequence order.
    fn series_chunks(&self, id: &RunId, name: &str) -> Result<Vec<ChunkInfo>>;
    /// The points of one chunk named by [`ChunkInfo::seq`].
    fn chunk_points(&self, seq: i64) -> Result<Vec<Point>>;
    /// Rows of a row metric.
    fn rows(&self, id: &RunId, name: &str) -> Result<Vec<Entry<Row>>>;
    /// Tables logged under a name.
    fn tables(&self, id: &RunId, name: &str) -> Result<Vec<Entry<Table>>>;
    /// All images of a run.
    fn images(&self, id: &RunId) -> Result<Vec<Entry<ImageRef>>>;
    /// All texts of a run.
    fn texts(&self, id: &RunId) -> Result<Vec<Entry<Text>>>;
    /// All charts of a run (every version, in logged order).
    fn charts(&self, id: &RunId) -> Result<Vec<Entry<Chart>>>;
    /// Files of a run.
    fn files(&self, id: &RunId) -> Result<Vec<Entry<FileRef>>>;
    /// The last `tail` log lines of a run.
    fn log_lines(&self, id: &RunId, tail: usize) -> Result<Vec<Entry<LogLine>>>;
    /// A blob's bytes.
    fn blob(&self, hash: &BlobHash) -> Result<Vec<u8>>;
}

impl Source for Reader {
    fn describe(&self) -> String {
        self.path().display().to_string()
    }
    fn runs(&self) -> Result<Vec<RunInfo>> {
        Reader::runs(self)
    }
    fn resolve(&self, spec: &str) -> Result<RunId> {
        Reader::resolve(self, spec)
    }
    fn run(&self, id: &RunId) -> Result<RunInfo> {
        Reader::run(self, id)
    }
    fn children(&self, id: &RunId) -> Result<Vec<RunInfo>> {
        Reader::children(self, id)
    }
    fn metrics(&self, id: &RunId) -> Result<Vec<MetricInfo>> {
        Reader::metrics(self, id)
    }
    fn summary(&self, id: &RunId) -> Result<Vec<MetricSummary>> {
        Reader::summary(self, id)
    }
    fn summaries(&self) -> Result<BTreeMap<RunId, Vec<MetricSummary>>> {
        Reader::summaries(self)
    }
    fn series_chunks(&self, id: &RunId, name: &str) -> Result<Vec<ChunkInfo>> {
        Reader::series_chunks(self, id, name)
    }
    fn chunk_points(&self, seq: i64) -> Result<Vec<Point>> {
        Reader::chunk_points(self, seq)
    }
    fn rows(&self, id: &RunId, name: &str) -> Result<Vec<Entry<Row>>> {
        Reader::rows(self, id, name)
    }
    fn tables(&self, id: &RunId, name: &str) -> Result<Vec<Entry<Table>>> {
        Reader::tables(self, id, name)
    }
    fn images(&self, id: &RunId) -> Result<Vec<Entry<ImageRef>>> {
        Reader::images(self, id, None)
    }
    fn texts(&self, id: &RunId) -> Result<Vec<Entry<Text>>> {
        Reader::texts(self, id, None)
    }
    fn charts(&self, id: &RunId) -> Result<Vec<Entry<Chart>>> {
        Reader::charts(self, id, None)
    }
    fn files(&self, id: &RunId) -> Result<Vec<Entry<FileRef>>> {
        Reader::files(self, id)
    }
    fn log_lines(&self, id: &RunId, tail: usize) -> Result<Vec<Entry<LogLine>>> {
        Reader::log_lines(self, id, None, Some(tail))
    }
    fn blob(&self, hash: &BlobHash) -> Result<Vec<u8>> {
        Reader::blob(self, hash)
    }
}

/// Finds a run among `runs` the way [`Reader::resolve`] does: `experiment/name`, or a full id or an unambiguous
/// prefix of one. `place` names where the runs are, for the error message. For sources without an index of their
/// own.
pub fn resolve_among(runs: &[RunInfo], spec: &str, place: &str) -> Result<RunId> {
    let found: Vec<&RunInfo> = if let Some((exp, name)) = spec.split_once('/') {
        runs.iter().filter(|r| r.experiment == exp && r.name == name).collect()
    } else {
        let prefix = spec.to_ascii_lowercase();
        if prefix.is_empty() || prefix.len() > 32 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(runlog_core::Error::NotFound(format!(
                "no run {spec:?} in {place}: give a run id (hex), a prefix of one, or experiment/name"
            )));
        }
        runs.iter().filter(|r| r.id.as_str().starts_with(&prefix)).collect()
    };
    match found.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(runlog_core::Error::NotFound(format!("no run {spec:?} in {place}"))),
        many => Err(runlog_core::Error::Invalid(format!(
            "{spec:?} names {} runs ({}); use a longer prefix or a run id",
            many.len(),
            many.iter().take(5).map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_among;
    use runlog_core::{ErrorKind, RunId, RunInfo, RunStatus};

    fn run(id: &str, experiment: &str, name: &str) -> RunInfo {
        RunInfo {
            id: RunId::parse(id).expect("a test id"),
            experiment: experiment.into(),
            name: name.into(),
            parent: None,
            status: RunStatus::Completed,
            reason: None,
            started_at: 0,
            ended_at: None,
            params: Default::default(),
            tags: Default::default(),
            properties: Default::default(),
        }
    }

    #[test]
    fn specs_resolve_like_the_local_store() {
        let a = "0123456789abcdef0123456789abcdef";
        let b = "0123456789abcdef0123456789abcdee";
        let runs = [run(a, "mnist", "adam"), run(b, "mnist", "sgd"), run(&"f".repeat(32), "cifar", "base")];
        assert_eq!(resolve_among(&runs, "mnist/sgd", "w").expect("by name").as_str(), b);
        assert_eq!(resolve_among(&runs, &a.to_ascii_uppercase(), "w").expect("full id").as_str(), a);
        assert_eq!(resolve_among(&runs, "fff", "w").expect("prefix").as_str(), "f".repeat(32));
        let e = resolve_among(&runs, "0123", "w").expect_err("ambiguous");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("names 2 runs"), "{e}");
        for missing in ["mnist/none", "abc", "not hex", ""] {
            assert_eq!(resolve_among(&runs, missing, "w").expect_err(missing).kind(), ErrorKind::NotFound, "{missing}");
        }
    }
}
