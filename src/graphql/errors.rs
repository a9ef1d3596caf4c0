//! GraphQL errors carry `extensions.code`: NOT_FOUND, INVALID_STATE, BAD_USER_INPUT,
//! UNAUTHENTICATED, FORBIDDEN, INTERNAL. Internal details are logged, not returned.

use async_graphql::{Error, ErrorExtensions, ID};

use crate::ops::OpsError;

pub fn error(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

pub fn ops(e: OpsError) -> Error {
    if let OpsError::Internal(detail) = &e {
        tracing::error!(%detail, "ops API internal error");
        return error("INTERNAL", "internal error (logged on the server)");
    }
    error(e.code(), e.to_string())
}

/// A numeric id given as a GraphQL ID.
pub fn parse_id(id: &ID, what: &str) -> Result<i64, Error> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        error(
            "BAD_USER_INPUT",
            format!("{what}: {:?} is not an id", id.as_str()),
        )
    })
}
