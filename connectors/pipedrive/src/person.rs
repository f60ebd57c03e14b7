//! A person as the v2 API sends it, the record the engine sees of it, and the body of a write:
//! `name` as text, `emails` and `phones` as lists with their primary item, custom fields by
//! their generated keys (see [`crate::fields`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tte_sync_core::connector::{ConnectorError, ErrorKind, Result};
use tte_sync_core::record::{CrmId, CrmRecord, Properties, PropertyValue};

use crate::fields::{EMAILS, FieldMap, NAME, PHONES};

/// The label of an email or phone the connector adds (one a person typed keeps its own).
pub const NEW_ITEM_LABEL: &str = "work";

/// One email address or phone number of a person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The address or number.
    #[serde(default)]
    pub value: String,
    /// Whether it is the primary one.
    #[serde(default)]
    pub primary: bool,
    /// `work`, `home`, `mobile`, `other`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A person, as `GET /api/v2/persons/{id}` answers in `data`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// The id.
    pub id: u64,
    /// The full name.
    #[serde(default)]
    pub name: Option<String>,
    /// The email addresses.
    #[serde(default)]
    pub emails: Vec<Item>,
    /// The phone numbers.
    #[serde(default)]
    pub phones: Vec<Item>,
    /// Whether it is deleted (kept 30 days).
    #[serde(default)]
    pub is_deleted: bool,
    /// When it last changed.
    #[serde(default)]
    pub update_time: Option<DateTime<Utc>>,
    /// Custom field values by key.
    #[serde(default)]
    pub custom_fields: Map<String, Value>,
}

/// A list of items as a property: the items in Pipedrive's order, the primary one marked.
pub fn list_of(items: &[Item]) -> PropertyValue {
    let values: Vec<String> = items
        .iter()
        .filter(|item| !item.value.is_empty())
        .map(|item| item.value.clone())
        .collect();
    let primary = items
        .iter()
        .filter(|item| !item.value.is_empty())
        .position(|item| item.primary)
        .unwrap_or(0);
    PropertyValue::List {
        items: values,
        primary,
    }
}

impl Person {
    /// The record with the `wanted` properties (those the person has a value of).
    pub fn into_record(self, fields: &FieldMap, wanted: &[String]) -> CrmRecord {
        let mut properties = Properties::new();
        for name in wanted {
            let value = match name.as_str() {
                NAME => self.name.clone().map(PropertyValue::Text),
                EMAILS => Some(list_of(&self.emails)).filter(|list| !list.is_empty()),
                PHONES => Some(list_of(&self.phones)).filter(|list| !list.is_empty()),
                custom => fields
                    .get(custom)
                    .and_then(|field| self.custom_fields.get(&field.key))
                    .and_then(custom_text)
                    .map(PropertyValue::Text),
            };
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                properties.insert(name.clone(), value);
            }
        }
        CrmRecord {
            id: CrmId(self.id.to_string()),
            properties,
            archived: self.is_deleted,
            updated_at: self.update_time,
        }
    }
}

/// A custom field's value as text; `None` for null.
fn custom_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// The items a written list becomes: its values in order, the primary one flagged, each
/// keeping the label it had in `current` (the person's items before the write).
fn items_of(value: &PropertyValue, current: &[Item]) -> Vec<Item> {
    value
        .items()
        .into_iter()
        .enumerate()
        .map(|(n, item)| Item {
            value: item.to_owned(),
            primary: n == 0,
            label: Some(
                current
                    .iter()
                    .find(|old| old.value == item)
                    .and_then(|old| old.label.clone())
                    .unwrap_or_else(|| NEW_ITEM_LABEL.to_owned()),
            ),
        })
        .collect()
}

/// The body of a create or update of `properties`. `current` is the person before an update
/// when the write changes a list (so that its items keep their labels).
///
/// # Errors
/// `Invalid` naming `name` for an empty name (Pipedrive refuses it); permanent for a list
/// written to a text field; `Misconfigured` for a custom field that does not exist.
pub fn body_of(
    properties: &Properties,
    fields: &FieldMap,
    current: Option<&Person>,
) -> Result<Map<String, Value>> {
    let mut body = Map::new();
    let mut custom = Map::new();
    for (name, value) in properties {
        match name.as_str() {
            EMAILS | PHONES => {
                let old = match (name.as_str(), current) {
                    (EMAILS, Some(person)) => person.emails.as_slice(),
                    (PHONES, Some(person)) => person.phones.as_slice(),
                    _ => &[],
                };
                let items = serde_json::to_value(items_of(value, old)).unwrap_or_default();
                body.insert(name.clone(), items);
            }
            NAME => {
                let text = text_of(name, value)?;
                if text.trim().is_empty() {
                    return Err(ConnectorError::new(
                        ErrorKind::Invalid {
                            field: Some(NAME.to_owned()),
                        },
                        "pipedrive needs a name for every person, and this write gives none; \
                         give the customer a name in 10to8",
                    ));
                }
                body.insert(NAME.to_owned(), text.into());
            }
            other => {
                let key = fields.key_of(other)?;
                let text = text_of(name, value)?;
                let value = if text.is_empty() {
                    Value::Null
                } else {
                    text.into()
                };
                custom.insert(key.to_owned(), value);
            }
        }
    }
    if !custom.is_empty() {
        body.insert("custom_fields".to_owned(), custom.into());
    }
    Ok(body)
}

fn text_of<'a>(name: &str, value: &'a PropertyValue) -> Result<&'a str> {
    match value {
        PropertyValue::Text(text) => Ok(text),
        PropertyValue::List { .. } => Err(ConnectorError::permanent(format!(
            "pipedrive's `{name}` holds one value, but the write gave it a list; map it with \
             `crm: {{ primary: {name} }}` or to `{EMAILS}`/`{PHONES}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Field;

    fn fields() -> FieldMap {
        FieldMap::new(vec![Field {
            key: "0123456789abcdef0123456789abcdef01234567".to_owned(),
            name: "tte_customer_uri".to_owned(),
            field_type: "varchar".to_owned(),
            edit_flag: true,
        }])
    }

    fn item(value: &str, primary: bool, label: &str) -> Item {
        Item {
            value: value.to_owned(),
            primary,
            label: Some(label.to_owned()),
        }
    }

    #[test]
    fn lists_keep_their_primary_both_ways_and_items_keep_their_labels() {
        let person = Person {
            id: 7,
            name: Some("Ada Lovelace".to_owned()),
            emails: vec![
                item("a@x.org", false, "home"),
                item("b@x.org", true, "work"),
            ],
            ..Person::default()
        };
        let wanted = vec![NAME.to_owned(), EMAILS.to_owned(), PHONES.to_owned()];
        let record = person.clone().into_record(&fields(), &wanted);
        assert_eq!(record.property(EMAILS), "b@x.org", "the primary");
        assert!(
            !record.properties.contains_key(PHONES),
            "no phones, no property"
        );
        let written = Properties::from([(
            EMAILS.to_owned(),
            PropertyValue::list(vec!["a@x.org".to_owned(), "c@x.org".to_owned()]),
        )]);
        let body = body_of(&written, &fields(), Some(&person)).unwrap();
        assert_eq!(
            body[EMAILS],
            serde_json::json!([
                {"value": "a@x.org", "primary": true, "label": "home"},
                {"value": "c@x.org", "primary": false, "label": NEW_ITEM_LABEL},
            ])
        );
    }

    #[test]
    fn custom_fields_go_by_key_and_an_empty_text_clears() {
        let written = Properties::from([
            ("tte_customer_uri".to_owned(), "".into()),
            (NAME.to_owned(), "Ada".into()),
        ]);
        let body = body_of(&written, &fields(), None).unwrap();
        assert_eq!(
            body["custom_fields"],
            serde_json::json!({"0123456789abcdef0123456789abcdef01234567": null})
        );
        assert_eq!(body[NAME], "Ada");
    }

    #[test]
    fn an_empty_name_and_an_unknown_field_are_refused_naming_them() {
        let empty = Properties::from([(NAME.to_owned(), " ".into())]);
        let error = body_of(&empty, &fields(), None).unwrap_err();
        assert_eq!(
            error.kind(),
            &ErrorKind::Invalid {
                field: Some(NAME.to_owned())
            }
        );
        let unknown = Properties::from([("nickname".to_owned(), "x".into())]);
        let error = body_of(&unknown, &fields(), None).unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::Misconfigured { .. }));
    }
}
