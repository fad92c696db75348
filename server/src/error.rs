//! The server's errors: [`Error`], what storage and start-up can fail with, and [`ApiError`], what a handler
//! answers (a status, a machine-readable code and a message). Internal errors are logged on stderr with their
//! details and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runlog_wire::ErrorBody;

/// The error of every fallible `runlog-server` call outside the handlers.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad or missing configuration value (workspace name, TLS files, data directory of a newer version).
    #[error("{0}")]
    Config(String),
    /// Stored bytes that do not decode: names the row.
    #[error("{0}")]
    Corrupt(String),
    /// File, socket or database I/O.
    #[error("{context}: {message}")]
    Io {
        /// What the server was doing.
        context: String,
        /// The underlying error's text.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(context: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
        Error::Io { context: context.to_string(), message: e.to_string() }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a handler can answer besides success.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no token, or a token that opens no workspace.
    Unauthorized(&'static str),
    /// 404.
    NotFound(String),
    /// 400 with a code (`hash_mismatch`, `malformed_batch`, `bad_hash`, ...).
    BadRequest(&'static str, String),
    /// 409 with a code (`blob_missing`).
    Conflict(&'static str, String),
    /// 413 with a code (`body_too_large`, `too_many_rows_in_batch`, `blob_too_large`).
    TooLarge(&'static str, String),
    /// 429 with the seconds to wait.
    RateLimited(u64),
    /// 500: details are logged, not sent.
    Internal(String),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m.to_string()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            ApiError::BadRequest(c, m) => (StatusCode::BAD_REQUEST, c, m),
            ApiError::Conflict(c, m) => (StatusCode::CONFLICT, c, m),
            ApiError::TooLarge(c, m) => (StatusCode::PAYLOAD_TOO_LARGE, c, m),
            ApiError::RateLimited(secs) => {
                let body = ErrorBody {
                    code: "rate_limited".into(),
                    message: format!("over the request rate limit; retry after {secs} s"),
                };
                let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
                return r;
            }
            ApiError::Internal(details) => {
                // Logged on the server's stderr; the client gets a generic message.
                eprintln!("runlog server: internal error: {details}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error".to_string())
            }
        };
        (status, axum::Json(ErrorBody { code: code.to_string(), message })).into_response()
    }
}
