//! The local store's limits, in one place.
//!
//! They are generous on purpose: the local store keeps whatever a training script logs. The stricter limits of a
//! remote service (Azure ML's 50 metric names per run, MLflow's key lengths) are applied by the sync agent, not here.

use crate::error::{Error, Result};

/// Limits checked by every logging call before anything is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest metric, param, tag, property, file or experiment name, in characters (default 255).
    pub max_name_chars: usize,
    /// Longest string value in a row, table, param, tag or property, in bytes (default 1 MiB).
    pub max_string_bytes: usize,
    /// Longest text or log line, in bytes (default 1 MiB).
    pub max_text_bytes: usize,
    /// Most columns in one row or table (default 1,024).
    pub max_columns: usize,
    /// Most rows in one table (default 1,000,000).
    pub max_table_rows: usize,
    /// Largest image, in bytes (default 64 MiB).
    pub max_image_bytes: usize,
    /// Largest image width or height, in pixels (default 32,768).
    pub max_image_side: u32,
    /// Largest uploaded file, in bytes (default 1 GiB).
    pub max_file_bytes: u64,
    /// Largest chart document, in bytes of JSON (default 16 MiB).
    pub max_chart_bytes: usize,
    /// Longest reason given to `fail`, in bytes (default 64 KiB).
    pub max_reason_bytes: usize,
    /// Longest remote URL recorded in a store, in bytes (default 2,048).
    pub max_remote_url_bytes: usize,
}

impl Limits {
    /// The limits of every local store.
    pub const LOCAL: Limits = Limits {
        max_name_chars: 255,
        max_string_bytes: 1 << 20,
        max_text_bytes: 1 << 20,
        max_columns: 1024,
        max_table_rows: 1_000_000,
        max_image_bytes: 64 << 20,
        max_image_side: 32_768,
        max_file_bytes: 1 << 30,
        max_chart_bytes: 16 << 20,
        max_reason_bytes: 64 << 10,
        max_remote_url_bytes: 2048,
    };

    /// Checks a name: 1 to `max_name_chars` characters of UTF-8 without control characters.
    pub fn check_name(&self, what: &str, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(Error::invalid(format!("{what} is empty; it must be 1 to {} characters", self.max_name_chars)));
        }
        // Byte length bounds the character count from above: most names skip the count.
        if name.len() > self.max_name_chars {
            let chars = name.chars().count();
            if chars > self.max_name_chars {
                return Err(Error::invalid(format!(
                    "{what} {:?} is {chars} characters, the limit is {}",
                    truncate(name, 40),
                    self.max_name_chars
                )));
            }
        }
        if let Some((pos, ch)) = name.chars().enumerate().find(|(_, c)| c.is_control()) {
            return Err(Error::invalid(format!(
                "{what} {:?} contains the control character {ch:?} at position {pos}; names may not contain control characters",
                truncate(name, 40)
            )));
        }
        Ok(())
    }

    /// Checks the byte length of a string value.
    pub fn check_bytes(&self, what: &str, value: &str, limit: usize) -> Result<()> {
        if value.len() > limit {
            return Err(Error::invalid(format!(
                "{what} {:?} is {} bytes, the limit is {limit}",
                truncate(value, 40),
                value.len()
            )));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::LOCAL
    }
}

/// The first `max` characters of `s`, with an ellipsis when cut: error messages name values without flooding.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
