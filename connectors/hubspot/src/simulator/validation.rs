//! What 2026-09 adds to CRM writes: the portal's validation rules and the normalisation of
//! loose date values with a warning.
//!
//! Validation rules are what an admin configures in HubSpot's settings (required fields of
//! the Create Record form, conditional required properties); set them with `PUT
//! /_sim/validation-rules` or `HubSpotSimulator::set_validation_rules`. Writes through
//! `/2026-09/` paths enforce them (400 `VALIDATION_ERROR` with `MISSING_REQUIRED_PROPERTY` or
//! `MISSING_CONDITIONAL_REQUIRED_PROPERTY`); v3 and 2026-03 ignore them, as HubSpot's changelog
//! says. Which writes a conditional rule checks, and the warning's exact wording, are modelled
//! from the docs.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::errors::{PropertyIssue, VALIDATION_ERROR};
use super::properties::Property;
use super::state::{iso, new_correlation_id};

/// `errors[].code` of a property the Create Record form requires.
pub const MISSING_REQUIRED_PROPERTY: &str = "MISSING_REQUIRED_PROPERTY";
/// `errors[].code` of a property a conditional rule requires.
pub const MISSING_CONDITIONAL_REQUIRED_PROPERTY: &str = "MISSING_CONDITIONAL_REQUIRED_PROPERTY";
/// `warnings[].category` of a value HubSpot normalised.
pub const PROPERTY_VALUE_NORMALIZED: &str = "PROPERTY_VALUE_NORMALIZED";
const DAY_MS: i64 = 86_400_000;

/// The portal's validation rules for contacts.
///
/// `{"required_on_create": ["company"], "conditional": [{"property": "company", "when":
/// {"property": "lifecyclestage", "equals": "customer"}}]}`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationRules {
    /// Properties the Create Record form requires: a create (an upsert that creates
    /// included) must give each a non-empty value.
    pub required_on_create: Vec<String>,
    /// Conditional required properties.
    pub conditional: Vec<ConditionalRule>,
}

/// `property` is required while `when` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalRule {
    /// The property that becomes required.
    pub property: String,
    /// When it is required.
    pub when: RuleCondition,
}

/// A property having one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCondition {
    /// The property tested.
    pub property: String,
    /// The value that triggers the rule (compared exactly).
    pub equals: String,
}

impl ValidationRules {
    /// The properties the rules name.
    pub fn property_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.required_on_create.iter().map(String::as_str).collect();
        for rule in &self.conditional {
            names.push(&rule.property);
            names.push(&rule.when.property);
        }
        names
    }

    /// Checks a write of `values` to a record holding `existing` (`None`: a create). A
    /// conditional rule is checked on creates, and on updates that write either of its
    /// properties (so unrelated edits of old records still pass).
    ///
    /// # Errors
    /// Every rule the write breaks.
    pub fn check(
        &self,
        existing: Option<&BTreeMap<String, String>>,
        values: &BTreeMap<String, String>,
    ) -> Result<(), Vec<PropertyIssue>> {
        let value_of = |name: &str| -> String {
            values
                .get(name)
                .or_else(|| existing.and_then(|e| e.get(name)))
                .cloned()
                .unwrap_or_default()
        };
        let mut issues = Vec::new();
        if existing.is_none() {
            for name in &self.required_on_create {
                if value_of(name).is_empty() {
                    issues.push(PropertyIssue {
                        name: name.clone(),
                        code: MISSING_REQUIRED_PROPERTY,
                        message: format!("A value for {name} must be provided"),
                    });
                }
            }
        }
        for rule in &self.conditional {
            let touched = existing.is_none()
                || values.contains_key(&rule.property)
                || values.contains_key(&rule.when.property);
            if touched
                && value_of(&rule.when.property) == rule.when.equals
                && value_of(&rule.property).is_empty()
                && !issues.iter().any(|i| i.name == rule.property)
            {
                issues.push(PropertyIssue {
                    name: rule.property.clone(),
                    code: MISSING_CONDITIONAL_REQUIRED_PROPERTY,
                    message: format!(
                        "{} is required because of a conditional property rule based on [{}]",
                        rule.property, rule.when.property
                    ),
                });
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(issues)
        }
    }
}

/// The 400 body of broken validation rules: the first rule's message, each in `errors[]`.
pub fn rule_violation_body(issues: &[PropertyIssue]) -> Value {
    let errors: Vec<Value> = issues
        .iter()
        .map(|issue| {
            json!({
                "message": issue.message,
                "code": issue.code,
                "context": { "propertyName": [issue.name] },
            })
        })
        .collect();
    json!({
        "status": "error",
        "message": issues.first().map(|i| i.message.clone()).unwrap_or_default(),
        "correlationId": new_correlation_id(),
        "category": VALIDATION_ERROR,
        "errors": errors,
    })
}

/// Normalises loose values of `date` and `datetime` properties in place, as 2026-09 does,
/// and returns one `warnings[]` entry (`PublicObjectWarning`) per changed value:
/// - `date`: an epoch value that is not midnight UTC, epoch seconds, or an ISO date-time
///   becomes the date `YYYY-MM-DD` (UTC); `YYYY-MM-DD` and midnight epoch milliseconds stay;
/// - `datetime`: epoch seconds become epoch milliseconds, a bare `YYYY-MM-DD` becomes its
///   midnight UTC as an ISO timestamp; epoch milliseconds and ISO timestamps stay.
///
/// Values that parse as neither are left for the other checks.
pub fn normalise_dates(
    properties: &BTreeMap<String, Property>,
    values: &mut BTreeMap<String, String>,
) -> Vec<Value> {
    let mut warnings = Vec::new();
    for (name, value) in values.iter_mut() {
        let Some(kind) = properties.get(name).map(|p| p.kind.as_str()) else {
            continue;
        };
        let normalised = match kind {
            "date" => normalise_date(value),
            "datetime" => normalise_datetime(value),
            _ => None,
        };
        if let Some(normalised) = normalised.filter(|n| n != value) {
            warnings.push(json!({
                "category": PROPERTY_VALUE_NORMALIZED,
                "message": format!("{name} was normalized"),
                "context": {
                    "propertyName": name,
                    "rawValue": value.clone(),
                    "normalizedValue": normalised,
                },
            }));
            *value = normalised;
        }
    }
    warnings
}

/// Epoch milliseconds of an all-digit value (up to 11 digits read as seconds).
fn epoch_ms(value: &str) -> Option<(i64, bool)> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = value.parse().ok()?;
    if value.len() <= 11 {
        Some((n.checked_mul(1000)?, true))
    } else {
        Some((n, false))
    }
}

fn date_of(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

fn normalise_date(value: &str) -> Option<String> {
    if NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() {
        return None;
    }
    if let Some((ms, seconds)) = epoch_ms(value) {
        return (seconds || ms.rem_euclid(DAY_MS) != 0).then(|| date_of(ms));
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| date_of(t.timestamp_millis()))
}

fn normalise_datetime(value: &str) -> Option<String> {
    if let Some((ms, seconds)) = epoch_ms(value) {
        return seconds.then(|| ms.to_string());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| iso(t.and_utc().timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn required_on_create_applies_to_creates_and_conditional_rules_to_touching_writes() {
        let rules = ValidationRules {
            required_on_create: vec!["company".into()],
            conditional: vec![ConditionalRule {
                property: "jobtitle".into(),
                when: RuleCondition {
                    property: "lifecyclestage".into(),
                    equals: "customer".into(),
                },
            }],
        };
        let issues = rules
            .check(None, &values(&[("email", "a@b.co")]))
            .unwrap_err();
        assert_eq!(issues[0].code, MISSING_REQUIRED_PROPERTY);
        assert_eq!(issues[0].message, "A value for company must be provided");
        assert!(rules.check(None, &values(&[("company", "X")])).is_ok());
        let old = values(&[("company", "X")]);
        assert!(
            rules
                .check(Some(&old), &values(&[("firstname", "Y")]))
                .is_ok()
        );
        let issues = rules
            .check(Some(&old), &values(&[("lifecyclestage", "customer")]))
            .unwrap_err();
        assert_eq!(issues[0].code, MISSING_CONDITIONAL_REQUIRED_PROPERTY);
        assert_eq!(
            issues[0].message,
            "jobtitle is required because of a conditional property rule based on [lifecyclestage]"
        );
    }

    #[test]
    fn loose_dates_are_normalised() {
        assert_eq!(normalise_date("2026-10-01"), None);
        assert_eq!(normalise_date("1790812800000"), None);
        assert_eq!(
            normalise_date("1790860000000").as_deref(),
            Some("2026-10-01")
        );
        assert_eq!(normalise_date("1790812800").as_deref(), Some("2026-10-01"));
        assert_eq!(
            normalise_date("2026-10-01T13:45:00Z").as_deref(),
            Some("2026-10-01")
        );
        assert_eq!(
            normalise_datetime("1790812800").as_deref(),
            Some("1790812800000")
        );
        assert_eq!(
            normalise_datetime("2026-10-01").as_deref(),
            Some("2026-10-01T00:00:00.000Z")
        );
        assert_eq!(normalise_datetime("2026-10-01T13:45:00Z"), None);
    }
}
