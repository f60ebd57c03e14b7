//! The 10to8 client's error: a kind the engine acts on and a message saying how to fix it.

use http::StatusCode;

use crate::connector::{ConnectorError, ErrorKind};

/// A failed 10to8 call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TteError {
    kind: ErrorKind,
    status: Option<StatusCode>,
    message: String,
}

/// Results of 10to8 calls.
pub type TteResult<T> = std::result::Result<T, TteError>;

impl TteError {
    pub(crate) fn new(kind: ErrorKind, status: Option<StatusCode>, message: String) -> Self {
        Self {
            kind,
            status,
            message,
        }
    }

    /// What the engine should do about it.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The HTTP status 10to8 answered with, when it answered.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The message for a person.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<TteError> for ConnectorError {
    fn from(error: TteError) -> Self {
        ConnectorError::new(error.kind, error.message)
    }
}
