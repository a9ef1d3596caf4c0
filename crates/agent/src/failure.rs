//! A request the agent could not serve, answered in the contract's shape: BOI's `ReturnCode` and
//! `LastErrorMsg`, an `ErrorKind` (`record_locked` is retryable) and an HTTP status that says the same.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mlc_agent_api::{ErrorKind, Status};

/// Messages that mean "another user holds the record" (Sage's exact text is unpublished).
const LOCK_PATTERNS: &[&str] = &["in use by another", "locked by another", "record is locked"];

#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            code: 0,
            kind,
            message: message.into(),
        }
    }

    /// A BOI call that did not return 1: a record lock when its text says so, else invalid.
    pub fn from_boi(code: i32, message: String) -> Self {
        let lower = message.to_ascii_lowercase();
        let kind = if LOCK_PATTERNS.iter().any(|p| lower.contains(p)) {
            ErrorKind::RecordLocked
        } else {
            ErrorKind::Invalid
        };
        Self {
            code,
            kind,
            message,
        }
    }

    /// The backend (a BOI session, an ODBC connection) cannot be used now.
    pub fn session(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Session, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = match self.kind {
            ErrorKind::RecordLocked => StatusCode::CONFLICT,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Posted => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Session => StatusCode::SERVICE_UNAVAILABLE,
        };
        (
            status,
            Json(Status::failure(self.code, self.kind, self.message)),
        )
            .into_response()
    }
}
