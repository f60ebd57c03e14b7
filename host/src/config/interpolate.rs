//! `${ENV}` references in the config file, and overrides of any value from the environment.
//!
//! Both work on the parsed YAML tree before it is turned into typed config, so every error
//! can name the key it is about.

use std::fmt;

use serde_yaml::Value;
use tte_sync_core::secret::config_value;

/// The prefix of environment variables that override config values:
/// `TTE_SYNC__SERVER__LISTEN=0.0.0.0:8080` sets `server.listen`.
pub const OVERRIDE_PREFIX: &str = "TTE_SYNC__";

/// A config value that could not be completed from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${NAME}` names a variable that is not set and has no default.
    #[error(
        "`{key}` refers to the environment variable `{variable}`, which is not set; \
         set it, or write `${{{variable}:-default}}` to give a default"
    )]
    Unset { key: KeyPath, variable: String },
    /// `${` without a closing `}` or with an invalid name.
    #[error(
        "`{key}` has a malformed reference `{reference}`; write `${{NAME}}` or `${{NAME:-default}}` (use `$${{` for a literal `${{`)"
    )]
    Malformed { key: KeyPath, reference: String },
    /// An override variable names a key path into something that is not a mapping.
    #[error("environment override `{variable}` sets `{key}`, but `{parent}` is not a section")]
    NotASection {
        variable: String,
        key: KeyPath,
        parent: KeyPath,
    },
}

/// A dotted path to a config key, e.g. `crm.config.private_app_token`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<String>);

impl KeyPath {
    fn child(&self, segment: impl Into<String>) -> Self {
        let mut path = self.0.clone();
        path.push(segment.into());
        Self(path)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        f.write_str(&self.0.join("."))
    }
}

/// Replaces `${NAME}` and `${NAME:-default}` in every string of `value`, looking names up with
/// `lookup`. `$${` stands for a literal `${`.
///
/// # Errors
/// The first reference that names an unset variable without a default, or is malformed.
pub fn interpolate(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), InterpolateError> {
    interpolate_at(value, &KeyPath::default(), lookup)
}

fn interpolate_at(
    value: &mut Value,
    key: &KeyPath,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), InterpolateError> {
    match value {
        Value::String(text) => {
            if text.contains('$') {
                *text = expand(text, key, lookup)?;
            }
            Ok(())
        }
        Value::Sequence(items) => items.iter_mut().enumerate().try_for_each(|(index, item)| {
            interpolate_at(item, &key.child(index.to_string()), lookup)
        }),
        Value::Mapping(map) => map.iter_mut().try_for_each(|(name, item)| {
            interpolate_at(item, &key.child(scalar_text(name)), lookup)
        }),
        Value::Tagged(tagged) => interpolate_at(&mut tagged.value, key, lookup),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn expand(
    text: &str,
    key: &KeyPath,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(reference) = after.strip_prefix("${") {
            let malformed = || InterpolateError::Malformed {
                key: key.clone(),
                reference: if config_value::is_secret_key(&key.to_string()) {
                    // The rest of a secret's value is the secret.
                    "${…".to_owned()
                } else {
                    after.chars().take(40).collect()
                },
            };
            let end = reference.find('}').ok_or_else(malformed)?;
            let body = &reference[..end];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            let valid_name = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid_name {
                return Err(malformed());
            }
            match lookup(name).or_else(|| default.map(str::to_owned)) {
                Some(found) => out.push_str(&found),
                None => {
                    return Err(InterpolateError::Unset {
                        key: key.clone(),
                        variable: name.to_owned(),
                    });
                }
            }
            rest = &reference[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Applies `TTE_SYNC__A__B=value` overrides: each sets key `a.b` (lowercased), creating
/// sections as needed. The value is parsed as YAML, so numbers and booleans keep their types.
///
/// # Errors
/// An override whose path runs through a value that is not a section.
pub fn apply_overrides(
    root: &mut Value,
    variables: impl IntoIterator<Item = (String, String)>,
) -> Result<(), InterpolateError> {
    let mut overrides: Vec<_> = variables
        .into_iter()
        .filter_map(|(name, value)| {
            let path = name.strip_prefix(OVERRIDE_PREFIX)?.to_ascii_lowercase();
            let segments: Vec<String> = path.split("__").map(str::to_owned).collect();
            (!segments.iter().any(String::is_empty)).then_some((name, segments, value))
        })
        .collect();
    overrides.sort();
    for (variable, segments, raw) in overrides {
        let parsed = serde_yaml::from_str::<Value>(&raw).unwrap_or(Value::String(raw));
        set_path(root, &segments, parsed, &variable)?;
    }
    Ok(())
}

fn set_path(
    root: &mut Value,
    segments: &[String],
    new_value: Value,
    variable: &str,
) -> Result<(), InterpolateError> {
    let mut node = root;
    let mut walked = KeyPath::default();
    for (depth, segment) in segments.iter().enumerate() {
        if node.is_null() {
            *node = Value::Mapping(serde_yaml::Mapping::new());
        }
        let Value::Mapping(map) = node else {
            return Err(InterpolateError::NotASection {
                variable: variable.to_owned(),
                key: KeyPath(segments.to_vec()),
                parent: walked,
            });
        };
        walked = walked.child(segment.clone());
        let key = Value::String(segment.clone());
        if depth + 1 == segments.len() {
            map.insert(key, new_value);
            return Ok(());
        }
        node = map.entry(key).or_insert(Value::Null);
    }
    Ok(())
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("pat-123".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn references_expand_with_defaults_and_literal_escapes() {
        let mut value = yaml(
            "a: ${TOKEN}\nb: x-${MISSING:-fallback}-y\nc: $${TOKEN}\nd: ${EMPTY:-ignored}\ne: [\"${TOKEN}\"]\nf: costs $5",
        );
        interpolate(&mut value, &env).unwrap();
        assert_eq!(
            value,
            yaml("a: pat-123\nb: x-fallback-y\nc: ${TOKEN}\nd: ''\ne: [pat-123]\nf: costs $5")
        );
    }

    #[test]
    fn an_unset_variable_names_the_key_and_the_fix() {
        let mut value = yaml("crm:\n  config:\n    private_app_token: ${CRM_TOKEN}");
        let error = interpolate(&mut value, &env).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`crm.config.private_app_token`"),
            "{message}"
        );
        assert!(message.contains("`CRM_TOKEN`"), "{message}");
        assert!(message.contains(":-default"), "{message}");
    }

    #[test]
    fn malformed_references_are_reported() {
        for text in ["a: ${TOKEN", "a: ${}", "a: ${1X}", "a: ${A B}"] {
            let mut value = yaml(text);
            let error = interpolate(&mut value, &env).unwrap_err();
            assert!(
                matches!(error, InterpolateError::Malformed { .. }),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn a_malformed_reference_in_a_secret_shows_none_of_it() {
        let mut value = yaml("tte:\n  api_key: \"key-${pat-na1-123\"");
        let error = interpolate(&mut value, &env).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("`tte.api_key`"), "{message}");
        assert!(!message.contains("pat-na1-123"), "{message}");
    }

    #[test]
    fn overrides_set_nested_keys_with_yaml_types() {
        let mut value = yaml("server:\n  listen: 127.0.0.1:8080\n");
        apply_overrides(
            &mut value,
            [
                (
                    "TTE_SYNC__SERVER__LISTEN".to_owned(),
                    "0.0.0.0:9000".to_owned(),
                ),
                (
                    "TTE_SYNC__SYNC__RECONCILE_INTERVAL_SECS".to_owned(),
                    "60".to_owned(),
                ),
                ("UNRELATED".to_owned(), "x".to_owned()),
            ],
        )
        .unwrap();
        assert_eq!(
            value,
            yaml("server:\n  listen: 0.0.0.0:9000\nsync:\n  reconcile_interval_secs: 60\n")
        );
    }

    #[test]
    fn an_override_through_a_scalar_is_refused() {
        let mut value = yaml("database: sqlite://x.db\n");
        let error = apply_overrides(
            &mut value,
            [("TTE_SYNC__DATABASE__URL".to_owned(), "x".to_owned())],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("`database` is not a section"),
            "{error}"
        );
    }
}
