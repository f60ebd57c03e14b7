//! Keeping secrets out of output: [`Secret`], a string that never prints itself (tokens,
//! client secrets, API keys); [`redact_url`] for URLs that carry a password (the database);
//! [`config_value`] for errors about config values, which may be secrets given to the wrong
//! key.

pub mod config_value;
mod url;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::url::{HIDDEN, redact_url};

/// A secret value. `Debug` and `Display` print `**redacted**`; [`Secret::expose`] is the one
/// way to read it, so every place that does is easy to find.
#[derive(Clone, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Never log what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string (usually: not configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_itself() {
        let secret = Secret::new("pat-na1-123");
        assert_eq!(format!("{secret} {secret:?}"), "**redacted** **redacted**");
        assert_eq!(secret.expose(), "pat-na1-123");
    }
}
