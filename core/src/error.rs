//! The one error type of `runlog-core`.
//!
//! Every message names the bad value and the limit it broke, so a user can fix the call without reading the source.
//! Storage errors carry their SQLite or I/O text as a string: no dependency type appears in a public signature.

use std::fmt;

/// What went wrong, to match on without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument broke a documented limit or rule (name too long, ragged table, bad image, ...).
    InvalidInput,
    /// A write-once value (property, param) was set again with another value.
    WriteOnce,
    /// A run, experiment, series or blob that does not exist.
    NotFound,
    /// The file is not a runlog store, or was written by a newer runlog.
    Format,
    /// SQLite or the file system failed.
    Storage,
    /// The writer thread failed earlier; the store must be reopened.
    WriterFailed,
    /// The environment (`RUNLOG_STORE`, `RUNLOG_RUN_ID`) is missing or malformed.
    Environment,
}

/// The error of every fallible `runlog-core` call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value broke a limit or a rule. The message names the value and the limit.
    #[error("{0}")]
    Invalid(String),
    /// A write-once key was set again with a different value.
    #[error("{what} {key:?} is already set to {existing:?}; it is write-once and cannot become {new:?}")]
    WriteOnce {
        /// "property" or "param".
        what: &'static str,
        /// The key.
        key: String,
        /// The value already stored.
        existing: String,
        /// The value that was refused.
        new: String,
    },
    /// Something looked up does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The file is not a runlog store or has a newer schema.
    #[error("{0}")]
    Format(String),
    /// SQLite or the file system failed.
    #[error("{context}: {message}")]
    Storage {
        /// What runlog was doing.
        context: String,
        /// The underlying error text.
        message: String,
    },
    /// The writer thread hit an error earlier; every call fails until the store is reopened.
    #[error("the store's writer stopped after an error ({0}); close and reopen the store")]
    WriterFailed(String),
    /// An environment variable is missing or malformed.
    #[error("{0}")]
    Environment(String),
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) => ErrorKind::InvalidInput,
            Error::WriteOnce { .. } => ErrorKind::WriteOnce,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Format(_) => ErrorKind::Format,
            Error::Storage { .. } => ErrorKind::Storage,
            Error::WriterFailed(_) => ErrorKind::WriterFailed,
            Error::Environment(_) => ErrorKind::Environment,
        }
    }

    pub(crate) fn invalid(msg: impl fmt::Display) -> Self {
        Error::Invalid(msg.to_string())
    }

    pub(crate) fn storage(context: impl fmt::Display, err: impl fmt::Display) -> Self {
        Error::Storage { context: context.to_string(), message: err.to_string() }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a context to SQLite and I/O errors.
pub(crate) trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, rusqlite::Error> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::storage(what, e))
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::storage(what, e))
    }
}

impl<T> Context<T> for std::result::Result<T, rusqlite::types::FromSqlError> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::storage(what, e))
    }
}
