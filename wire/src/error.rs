//! The one error type of `runlog-wire`: bytes that are not what the format says.

/// Bytes that do not decode: a malformed batch, packed points or id, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Corrupt or unexpected bytes (names what and why).
    #[error("{0}")]
    Format(String),
    /// A document that does not fit its schema (a chart), naming the field and what the schema needs.
    #[error("{0}")]
    Invalid(String),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// At most `max` characters of `s`, with `…` when cut (for quoting a bad value in an error without echoing
/// megabytes).
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
