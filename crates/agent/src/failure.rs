//! A request the agent could not serve, answered in the contract's shape: BOI's `ReturnCode` and
//! `LastErrorMsg`, an `ErrorKind` (`record_locked` is retryable) and an HTTP status that says the same.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mlc_agent_api::{ErrorKind, Status};

/// Parts of BOI messages that mean "another user holds the record". Sage does not publish its exact
/// text, so these are the phrasings seen in practice; a site adds its own (`[com] record_lock_texts`).
const LOCK_PATTERNS: &[&str] = &["in use by another", "locked by another", "record is locked"];

/// The site's own lock texts, lowercased, set once at start from the settings.
static SITE_RECORD_LOCK_TEXTS: OnceLock<Vec<String>> = OnceLock::new();

/// Count BOI messages containing any of `texts` (case-insensitive) as record locks too, besides the
/// built-in phrasings. Called once at start; a second call changes nothing.
pub fn add_record_lock_texts(texts: &[String]) {
    let _ = SITE_RECORD_LOCK_TEXTS.set(texts.iter().map(|t| t.to_lowercase()).collect());
}

/// Whether a BOI message says another user holds the record.
fn means_locked(message: &str) -> bool {
    let lower = message.to_lowercase();
    LOCK_PATTERNS.iter().any(|p| lower.contains(p))
        || SITE_RECORD_LOCK_TEXTS
            .get()
            .is_some_and(|site| site.iter().any(|p| lower.contains(p.as_str())))
}

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
        let kind = if means_locked(&message) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_s_own_lock_text_counts_as_a_lock_besides_the_built_in_ones() {
        let kind = |m: &str| Failure::from_boi(0, m.into()).kind;
        assert_eq!(
            kind("Record is LOCKED by user JSMITH"),
            ErrorKind::RecordLocked
        );
        assert_eq!(kind("Customer number is required"), ErrorKind::Invalid);
        // A German Sage, say: unknown until the site names it.
        let german = "Der Datensatz wird von einem anderen Benutzer bearbeitet";
        assert_eq!(kind(german), ErrorKind::Invalid);
        add_record_lock_texts(&["VON EINEM ANDEREN BENUTZER".into()]);
        assert_eq!(kind(german), ErrorKind::RecordLocked);
        assert_eq!(kind("Customer number is required"), ErrorKind::Invalid);
        assert_eq!(kind("Record is locked"), ErrorKind::RecordLocked);
    }
}
