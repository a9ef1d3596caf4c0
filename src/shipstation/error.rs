//! Client errors. Messages never carry credentials.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ShipStationError {
    #[error("ShipStation rejected the credentials (401) after trying {pairs_tried} key pair(s): the key is expired, revoked or wrong")]
    Unauthorized { pairs_tried: u32 },
    #[error("ShipStation kept answering 429 Too Many Requests ({attempts} attempts)")]
    RateLimited {
        attempts: u32,
        retry_after: Option<Duration>,
    },
    #[error("ShipStation answered {status}: {message}")]
    Api {
        status: u16,
        code: Option<String>,
        message: String,
    },
    #[error("ShipStation server error {status} after {attempts} attempts: {message}")]
    Server {
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("no answer from ShipStation after {attempts} attempts: {message}")]
    Unreachable { attempts: u32, message: String },
    #[error("ShipStation sent a response we cannot read ({what}): {message}")]
    Malformed { what: String, message: String },
    #[error("refused to fetch resource_url {url:?}: {reason}")]
    ForbiddenResource { url: String, reason: String },
    #[error("rate governor: {0}")]
    Governor(#[from] sqlx::Error),
}

impl ShipStationError {
    /// Worth retrying later (a step retry), as opposed to a request that will never succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Unreachable { .. }
                | Self::Governor(_)
        ) || matches!(self, Self::Malformed { .. })
    }

    /// A wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
