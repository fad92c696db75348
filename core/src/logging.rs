//! Log lines into the active run, as Azure ML does with Python's `logging`.
//!
//! [`TracingLayer`] is a `tracing-subscriber` layer and [`install_log_logger`] installs a `log` logger; both record
//! each event as a log line of the stream `log` of [`Run::active`] (the last run started or attached in this process).
//! Events are dropped silently when no run is active: logging must never fail a training script.

use crate::run::Run;
use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// The stream name log lines are recorded under.
pub const LOG_STREAM: &str = "log";

/// A `tracing` layer that records events into the active run.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingLayer;

/// Collects an event's message and its other fields (`message k=v k=v`).
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn line(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let sep = if self.fields.is_empty() { "" } else { " " };
            let _ = write!(self.fields, "{sep}{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let sep = if self.fields.is_empty() { "" } else { " " };
            let _ = write!(self.fields, "{sep}{}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for TracingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // The writer's own diagnostics must not feed back into the store.
        if meta.target().starts_with("runlog_core") {
            return;
        }
        if let Some(run) = Run::active() {
            let mut v = MessageVisitor::default();
            event.record(&mut v);
            let _ = run.log_line(LOG_STREAM, meta.level().as_str(), meta.target(), &v.line());
        }
    }
}

/// A `log` logger that records into the active run (and nothing else).
#[derive(Debug, Clone, Copy)]
pub struct LogLogger {
    level: log::LevelFilter,
}

impl log::Log for LogLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || record.target().starts_with("runlog_core") {
            return;
        }
        if let Some(run) = Run::active() {
            let msg = record.args().to_string();
            let _ = run.log_line(LOG_STREAM, record.level().as_str(), record.target(), &msg);
        }
    }

    fn flush(&self) {}
}

/// Installs the `log` logger at `level`. Fails if the program already installed another logger.
pub fn install_log_logger(level: log::LevelFilter) -> crate::Result<()> {
    log::set_boxed_logger(Box::new(LogLogger { level }))
        .map_err(|e| crate::Error::invalid(format!("cannot install the runlog logger: {e}")))?;
    log::set_max_level(level);
    Ok(())
}
