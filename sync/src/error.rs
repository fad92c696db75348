//! The one error type of `runlog-sync`.
//!
//! Every error says whether trying again later can help ([`Error::is_retryable`], the agent policy's one definition): network
//! failures, 5xx, 429 and unparsable answers can;
//! other 4xx, hash mismatches and corrupt data cannot. Dependency error types never appear in a signature: their text
//! is kept as a string.

use std::time::Duration;

/// What went wrong, to match on without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The remote could not be reached, or the connection broke (retryable; the outcome of a request may be unknown).
    Network,
    /// The remote answered 5xx (retryable).
    Server,
    /// The remote answered 429 (retryable after the wait it asked for).
    RateLimited,
    /// The request body was over the remote's size limit (413): split and send again.
    TooLarge,
    /// The remote refused the credentials (401/403): not retried until the configuration changes.
    Unauthorized,
    /// The remote refused the request for good (other 4xx).
    Refused,
    /// Bytes that are not a valid batch, bundle or blob (corrupt, hash mismatch, wrong version).
    Format,
    /// A configuration value is missing or malformed.
    Config,
    /// The local store failed.
    Store,
    /// Local file or socket I/O failed (server data directory, bundles, TLS files).
    Io,
}

/// The error of every fallible `runlog-sync` call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connection refused, reset, timed out.
    #[error("cannot reach {url}: {message}")]
    Network {
        /// The remote URL.
        url: String,
        /// The transport error text.
        message: String,
        /// Whether the request may have reached the remote (its outcome is unknown).
        maybe_sent: bool,
    },
    /// An HTTP error status.
    #[error("{url} answered {status}: {code}: {message}")]
    Http {
        /// The remote URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The machine-readable code from the body (or `http_<status>`).
        code: String,
        /// The message from the body.
        message: String,
        /// The wait asked for by `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Corrupt or unexpected bytes.
    #[error("{0}")]
    Format(String),
    /// A bad or missing configuration value.
    #[error("{0}")]
    Config(String),
    /// The local store failed.
    #[error("{0}")]
    Store(#[from] runlog_core::Error),
    /// File or socket I/O.
    #[error("{context}: {message}")]
    Io {
        /// What runlog was doing.
        context: String,
        /// The I/O error text.
        message: String,
    },
}

impl From<runlog_wire::Error> for Error {
    fn from(e: runlog_wire::Error) -> Self {
        Error::Format(e.to_string())
    }
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Network { .. } => ErrorKind::Network,
            Error::Http { status, .. } => match *status {
                429 => ErrorKind::RateLimited,
                413 => ErrorKind::TooLarge,
                401 | 403 => ErrorKind::Unauthorized,
                s if s >= 500 => ErrorKind::Server,
                _ => ErrorKind::Refused,
            },
            Error::Format(_) => ErrorKind::Format,
            Error::Config(_) => ErrorKind::Config,
            Error::Store(_) => ErrorKind::Store,
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    /// Whether trying the same thing again later can succeed: the agent policy's one definition
    /// ([`crate::agent::state::Failure::of`]): network failures, 5xx, 429, unparsable answers, a lost blob.
    pub fn is_retryable(&self) -> bool {
        matches!(crate::agent::state::Failure::of(self), crate::agent::state::Failure::Retryable { .. })
    }

    /// Whether the remote could not be reached at all (connection refused, no route, DNS failure, connect timeout):
    /// nothing was sent, and waiting a few seconds is unlikely to change that. A run's end does not wait for such a
    /// remote (the next sync delivers the data).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Network { maybe_sent: false, .. })
    }

    /// Whether the request may have been applied although no answer arrived (a reset after sending, a 5xx from a
    /// proxy after forwarding): a remote whose writes are not idempotent must reconcile before sending again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::Network { maybe_sent, .. } => *maybe_sent,
            Error::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The wait the remote asked for (429/503 `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The machine-readable code of a refusal (`http_<status>` when the remote gave none).
    pub fn code(&self) -> String {
        match self {
            Error::Http { code, .. } => code.clone(),
            Error::Network { .. } => "network".into(),
            Error::Format(_) => "format".into(),
            Error::Config(_) => "config".into(),
            Error::Store(_) => "store".into(),
            Error::Io { .. } => "io".into(),
        }
    }

    pub(crate) fn io(context: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
        Error::Io { context: context.to_string(), message: e.to_string() }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> Error {
        Error::Http { url: "u".into(), status, code: "c".into(), message: "m".into(), retry_after: None }
    }

    #[test]
    fn retryable_is_network_5xx_and_429_only() {
        assert!(http(429).is_retryable());
        assert!(http(503).is_retryable());
        assert!(!http(413).is_retryable());
        assert!(!http(400).is_retryable());
        assert!(!http(401).is_retryable());
        assert!(Error::Network { url: "u".into(), message: "m".into(), maybe_sent: false }.is_retryable());
        assert!(Error::Format("an unparsable answer".into()).is_retryable());
        assert_eq!(http(403).kind(), ErrorKind::Unauthorized);
        assert_eq!(http(413).kind(), ErrorKind::TooLarge);
    }
}
