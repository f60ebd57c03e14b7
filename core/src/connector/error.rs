//! Connector errors, with a [`ErrorKind`] the engine branches on without reading message text.

use std::time::Duration;

use crate::record::CrmId;

/// What the engine should do about a failed call: the part of an error that is not prose.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The credentials were refused: a wrong or revoked token, or a missing scope.
    Unauthorized,
    /// The API asked us to slow down. `retry_after` is how long to wait when it says so;
    /// `daily` means the daily budget is spent and retrying today is pointless.
    RateLimited {
        /// How long to wait before the next call, when the API said.
        retry_after: Option<Duration>,
        /// The daily limit is spent: stop and report instead of waiting.
        daily: bool,
    },
    /// The record does not exist (or no longer does).
    NotFound,
    /// The write collides with an existing record; `existing_id` names it when the CRM says.
    Conflict {
        /// The record that already holds the unique value.
        existing_id: Option<CrmId>,
    },
    /// The CRM rejected a value; `field` names the property when it says which.
    Invalid {
        /// The property whose value was refused.
        field: Option<String>,
    },
    /// A passing failure (timeout, 5xx, lock): the same call may succeed later.
    Transient,
    /// A change feed's cursor is older than the CRM keeps changes: what happened since is
    /// only known to a full reconcile.
    CursorExpired,
    /// The CRM lacks something every write names (a property that does not exist),
    /// so it refuses every record alike until a person fixes its setup; `properties` names
    /// what is missing when the CRM says.
    Misconfigured {
        /// The missing properties.
        properties: Vec<String>,
    },
    /// Any other refusal: retrying the same call will fail the same way.
    Permanent,
}

impl ErrorKind {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Transient | ErrorKind::RateLimited { daily: false, .. }
        )
    }

    /// Whether the cause lies in the configuration, not in a record, so every record would be
    /// refused alike (refused credentials or scope, missing properties): a pass stops on it
    /// instead of recording it against each record.
    pub fn is_systemic(&self) -> bool {
        matches!(
            self,
            ErrorKind::Unauthorized | ErrorKind::Misconfigured { .. }
        )
    }
}

/// An error from a connector: a kind to act on, a message for a person and, where the CRM
/// gives one, a reference to quote to its support (shown after the message, but kept out of
/// [`ConnectorError::message`], which stays the same each time the same failure repeats — it
/// goes into status fields, and a status that changed would be written again and again).
#[derive(Debug, Clone)]
pub struct ConnectorError {
    kind: ErrorKind,
    message: String,
    reference: Option<String>,
}

impl std::fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reference {
            Some(reference) => write!(f, "{} ({reference})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConnectorError {}

impl ConnectorError {
    /// An error of the given kind; the message says what happened and how to fix it.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            reference: None,
        }
    }

    /// The same error with a reference to quote to the CRM's support, e.g. a correlation id.
    #[must_use]
    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// A passing failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// A failure that will repeat if retried.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    /// What the engine should do about it.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The message for a person, without the reference: the same each time the same failure
    /// repeats.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The reference to quote to the CRM's support, if it gave one.
    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }
}

/// Results of connector calls.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_and_short_rate_limits_are_retryable() {
        assert!(ErrorKind::Transient.is_retryable());
        assert!(
            ErrorKind::RateLimited {
                retry_after: None,
                daily: false
            }
            .is_retryable()
        );
        assert!(
            !ErrorKind::RateLimited {
                retry_after: None,
                daily: true
            }
            .is_retryable()
        );
        assert!(!ErrorKind::Conflict { existing_id: None }.is_retryable());
        assert!(!ErrorKind::Unauthorized.is_retryable());
    }

    #[test]
    fn configuration_causes_are_systemic_and_record_causes_are_not() {
        assert!(ErrorKind::Unauthorized.is_systemic());
        assert!(
            ErrorKind::Misconfigured {
                properties: vec!["tte_customer_uri".to_owned()]
            }
            .is_systemic()
        );
        assert!(
            !ErrorKind::Invalid {
                field: Some("email".to_owned())
            }
            .is_systemic()
        );
        assert!(!ErrorKind::Conflict { existing_id: None }.is_systemic());
        assert!(!ErrorKind::Transient.is_systemic());
        assert!(!ErrorKind::NotFound.is_systemic());
    }
}
