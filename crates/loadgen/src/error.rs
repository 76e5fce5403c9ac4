//! The ways a load run can fail before or instead of producing a report.

/// Why `tracemart load` could not run; each variant knows its exit code.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A flag value or a combination of flags makes no sense.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// The pre-flight request found nobody answering at `url`.
    #[error("target {url} is unreachable: {reason} (is the service running?)")]
    Unreachable {
        /// The base URL that was probed.
        url: String,
        /// The transport error, with its cause chain.
        reason: String,
    },
    /// The get-order scenario needs orders to read, and none could be created.
    #[error("could not create any order to read at {url}: {reason}")]
    NoOrders {
        /// The `POST /orders` URL.
        url: String,
        /// What the last attempt got back.
        reason: String,
    },
    /// A bug or resource problem inside the load generator itself.
    #[error("load generator failure: {0}")]
    Internal(String),
}

impl LoadError {
    /// The process exit code this error maps to (2: bad target or arguments, 1: internal).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::InvalidArgs(_) | Self::Unreachable { .. } | Self::NoOrders { .. } => 2,
            Self::Internal(_) => 1,
        }
    }
}
