//! External failures as step errors, decided once by type: what may pass on its own is retried;
//! what needs a person fails the step.

use crate::domain::ports::{ErpError, FulfilmentError};
use crate::engine::StepError;

/// Our own database: always worth retrying.
pub fn db(e: impl std::fmt::Display) -> StepError {
    StepError::retry(format!("database: {e}"))
}

impl From<ErpError> for StepError {
    fn from(e: ErpError) -> Self {
        if e.is_transient() {
            StepError::retry(e.to_string())
        } else {
            StepError::fatal(e.to_string())
        }
    }
}

/// The fulfilment side: transient failures retry after the wait asked for; refused credentials
/// retry too (a person rotates the key and the step resumes); a refused request needs a person.
impl From<FulfilmentError> for StepError {
    fn from(e: FulfilmentError) -> Self {
        match e {
            FulfilmentError::Transient {
                message,
                retry_after,
            } => {
                let err = StepError::retry(message);
                match retry_after {
                    Some(d) => err.after(d),
                    None => err,
                }
            }
            FulfilmentError::Unauthorized(m) => StepError::retry(m),
            FulfilmentError::Refused(m) => StepError::fatal(m),
        }
    }
}

impl From<sqlx::Error> for StepError {
    fn from(e: sqlx::Error) -> Self {
        db(e)
    }
}

impl From<crate::engine::store::StoreError> for StepError {
    fn from(e: crate::engine::store::StoreError) -> Self {
        db(e)
    }
}
