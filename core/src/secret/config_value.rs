//! What an error about a config value may show of it. serde names the value it could not take
//! (`invalid type: string "pat-na1-…", expected u64`), which helps with a typo and hurts when
//! a secret was pasted under the wrong key. So the value is shown only when it is short and
//! its key neither holds nor looks like a secret; otherwise only its type and length are.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Words that mark a key path as holding a secret, in any of its segments.
const SECRET_WORDS: [&str; 4] = ["secret", "token", "key", "password"];
/// The longest value an error shows.
pub const MAX_SHOWN_CHARS: usize = 16;
/// Shorter values are replaced only where serde quotes them, not wherever their text occurs.
const MIN_BARE_CHARS: usize = 4;

/// A config section that does not match its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct InvalidValue {
    /// The key path of the first problem, e.g. `webhooks.portal_ids[0]` (`.` for the section).
    pub key: String,
    /// What is wrong, showing the value only as [`guarded_message`] allows.
    pub message: String,
}

/// Whether a key path such as `crm.config.oauth.client_secret` holds or looks like a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| key.contains(word))
}

/// Deserializes a config section, naming the key of the first problem.
///
/// # Errors
/// [`InvalidValue`] when the section does not match `T`.
pub fn deserialize<T: DeserializeOwned>(section: &Value) -> Result<T, InvalidValue> {
    serde_path_to_error::deserialize(section).map_err(|error| {
        let key = error.path().to_string();
        let offending = value_at(section, error.path());
        let message = guarded_message(&key, offending, &error.into_inner().to_string());
        InvalidValue { key, message }
    })
}

/// The value a deserialization error's `path` points at in `root`.
pub fn value_at<'a>(root: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(root, |node, segment| match segment {
        Segment::Map { key } => node.get(key),
        Segment::Seq { index } => node.get(index),
        Segment::Enum { .. } | Segment::Unknown => None,
    })
}

/// serde's `message` about `value` (the value at `key`), with the value replaced by its type
/// and length unless it is short and `key` is not a secret one.
pub fn guarded_message(key: &str, value: Option<&Value>, message: &str) -> String {
    let Some((text, described)) = value.and_then(describe) else {
        return message.to_owned();
    };
    if text.chars().count() <= MAX_SHOWN_CHARS && !is_secret_key(key) {
        return message.to_owned();
    }
    let quoted = format!("{text:?}");
    let bracketed = format!("({described})");
    // serde's renderings of an unexpected value first (`string "…"`, `integer `…``), then
    // the value quoted by other messages (`unknown variant `…``), then the value anywhere.
    let mut shown = message
        .replace(&format!("string {quoted}"), &described)
        .replace(&format!("integer `{text}`"), &described)
        .replace(&format!("floating point `{text}`"), &described)
        .replace(&format!("`{text}`"), &bracketed)
        .replace(&quoted, &bracketed);
    if text.chars().count() >= MIN_BARE_CHARS {
        shown = shown.replace(&text, &bracketed);
    }
    shown
}

/// A scalar's text and what it is, e.g. `("987654321", "a number of 9 characters")`;
/// `None` for values that name nothing secret (booleans, null, sections, lists).
fn describe(value: &Value) -> Option<(String, String)> {
    let (text, kind) = match value {
        Value::String(text) => (text.clone(), "a string"),
        Value::Number(number) => (number.to_string(), "a number"),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => return None,
    };
    let length = text.chars().count();
    let unit = if length == 1 {
        "character"
    } else {
        "characters"
    };
    let described = format!("{kind} of {length} {unit}");
    Some((text, described))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        #[serde(default)]
        portal_ids: Vec<u64>,
        #[serde(default)]
        api_key: Option<String>,
        #[serde(default)]
        format: Option<Format>,
        #[serde(default)]
        workers: Option<usize>,
        #[serde(default)]
        rate: Option<f64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Format {
        Human,
        Json,
    }

    fn refused(section: serde_json::Value) -> InvalidValue {
        deserialize::<Section>(&section).unwrap_err()
    }

    const TOKEN: &str = "pat-na1-5ec7e7a1-0b5e-4c1e";

    #[test]
    fn a_long_value_under_the_wrong_key_shows_its_type_and_length() {
        let error = refused(json!({ "portal_ids": [TOKEN] }));
        assert_eq!(error.key, "portal_ids[0]");
        assert_eq!(
            error.message,
            "invalid type: a string of 26 characters, expected u64"
        );
        let error = refused(json!({ "format": TOKEN }));
        assert!(!error.message.contains(TOKEN), "{error}");
        assert!(
            error
                .message
                .starts_with("unknown variant (a string of 26 characters), expected"),
            "{error}"
        );
        let error = refused(json!({ "rate": TOKEN }));
        assert!(!error.message.contains(TOKEN), "{error}");
    }

    #[test]
    fn a_short_value_of_a_plain_key_is_shown() {
        let error = refused(json!({ "workers": "many" }));
        assert_eq!(
            error.message,
            "invalid type: string \"many\", expected usize"
        );
        let error = refused(json!({ "format": "jsno" }));
        assert!(error.message.contains("`jsno`"), "{error}");
    }

    #[test]
    fn a_value_of_a_secret_key_is_never_shown() {
        let error = refused(json!({ "api_key": 4242 }));
        assert_eq!(error.key, "api_key");
        assert_eq!(
            error.message,
            "invalid type: a number of 4 characters, expected a string"
        );
    }

    #[test]
    fn secret_keys_are_recognised_in_any_segment() {
        for key in [
            "crm.config.private_app_token",
            "crm.config.oauth.client_secret",
            "crm.config.developer_api_key",
            "tte.api_key",
            "database_password",
            "tokens[0]",
            "API_KEY",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "crm.config.webhooks.portal_ids[0]",
            "sync.workers",
            "log.format",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn messages_without_the_value_stay_as_they_are() {
        let error = refused(json!({ "colour": TOKEN }));
        assert!(
            error.message.starts_with("unknown field `colour`"),
            "{error}"
        );
        assert_eq!(
            guarded_message(
                "api_key",
                Some(&json!(true)),
                "invalid type: boolean `true`"
            ),
            "invalid type: boolean `true`"
        );
        assert_eq!(
            guarded_message("api_key", None, "missing field"),
            "missing field"
        );
    }
}
