//! External failures as step errors: what may pass on its own retries; what needs a person fails.

use crate::engine::StepError;
use crate::sage100::SageError;
use crate::shipstation::ShipStationError;

/// Our own database: always worth retrying.
pub fn db(e: impl std::fmt::Display) -> StepError {
    StepError::retry(format!("database: {e}"))
}

/// Sage: locks, sessions and transport retry; refused data needs a person.
pub fn sage(e: SageError) -> StepError {
    if e.is_transient() {
        StepError::retry(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    }
}

/// ShipStation: retried (the client already paced and retried 429s and 5xx), except a
/// resource_url off the allow-list, which no retry can fix.
pub fn shipstation(e: ShipStationError) -> StepError {
    match e {
        ShipStationError::ForbiddenResource { .. } => StepError::fatal(e.to_string()),
        e => StepError::retry(e.to_string()),
    }
}
