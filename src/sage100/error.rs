//! Sage 100 client errors. Messages carry Sage's own text; never credentials.

#[derive(Debug, thiserror::Error)]
pub enum SageError {
    #[error("Sage 100 fault {code}: {message}")]
    Fault { code: String, message: String },
    #[error("Sage 100 record in use after {attempts} attempts: {message}")]
    RecordLocked { attempts: u32, message: String },
    #[error("not found in Sage 100: {0}")]
    NotFound(String),
    #[error("Sage 100 invoice already posted to A/R history: {0}")]
    Posted(String),
    #[error("Sage 100 session could not be opened: {0}")]
    Session(String),
    #[error("the agent refused our credentials (API key or client certificate)")]
    Unauthorized,
    #[error("Sage 100 sent a response we cannot read: {0}")]
    Malformed(String),
    #[error("cannot reach Sage 100: {0}")]
    Transport(String),
    #[error("Sage 100 rejected the request: {0}")]
    Rejected(String),
    /// The request does not fit the customer's WSDL as read.
    #[error("{0}")]
    Contract(String),
    /// No WSDL was read for this connection yet (retried: `connection test` reads it).
    #[error("the Sage SOAP contract has not been read from the customer's WSDL yet: run `ml-connector connection test <name>`")]
    NoContract,
    /// Our own rules refused the call (a redirect, plain http to a remote host).
    #[error("refused: {0}")]
    Refused(String),
}

impl From<crate::net::NetError> for SageError {
    fn from(e: crate::net::NetError) -> Self {
        use crate::net::NetError as N;
        match e {
            N::Transport(m) => Self::Transport(m),
            e @ N::TooLarge { .. } => Self::Malformed(e.to_string()),
            e => Self::Refused(e.to_string()),
        }
    }
}

impl SageError {
    /// Worth retrying later (as opposed to data that must be fixed first).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RecordLocked { .. }
                | Self::Session(_)
                | Self::Transport(_)
                | Self::Malformed(_)
                | Self::NoContract
        )
    }
}
