//! The records that cross the connector contract.
//!
//! A [`Customer`] is a 10to8 customer exactly as the Enterprise API returns it (lenient about
//! nulls, missing fields and fields it does not know). A [`CrmRecord`] is a CRM object reduced to
//! what a sync needs: its id, its properties as strings, whether it is archived, and when it last
//! changed.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The absolute URL that identifies a 10to8 customer (`…/api/enterprise/v2/customer/<id>/`).
///
/// The same string is the `resource_uri`, the `Location` of a create and the item of a
/// notification, so it is compared byte for byte and never rewritten.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CustomerUri(pub String);

impl CustomerUri {
    /// The URI as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CustomerUri {
    fn from(uri: &str) -> Self {
        Self(uri.to_owned())
    }
}

/// The id of a CRM record, as the CRM assigns it. Always a string, as CRMs send them.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CrmId(pub String);

impl CrmId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CrmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CrmId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

/// A 10to8 customer as the Enterprise API v2 returns it.
///
/// Nulls read as empty values, a missing `deleted` reads as `false`, non-string custom field
/// values are kept as their JSON text, and fields this crate does not know are kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// The customer's absolute URL; empty for a customer not created yet.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource_uri: String,
    /// The full name, one field (10to8 has no first/last split).
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Email addresses in order; the first is the primary one.
    #[serde(default, deserialize_with = "lenient_strings")]
    pub emails: Vec<String>,
    /// Phone numbers in order; the first is the primary one.
    #[serde(default, deserialize_with = "lenient_strings")]
    pub numbers: Vec<String>,
    /// Custom fields by label, e.g. `"Sync Status"` and `"External ID"`.
    #[serde(default, deserialize_with = "lenient_string_map")]
    pub custom_fields: BTreeMap<String, String>,
    /// Whether the customer was deleted (only listed with `include_deleted`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub deleted: bool,
    /// Fields the API sent that this crate does not model; kept, never interpreted.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl Customer {
    /// The customer's URI, or `None` for one not created yet.
    pub fn uri(&self) -> Option<CustomerUri> {
        (!self.resource_uri.is_empty()).then(|| CustomerUri(self.resource_uri.clone()))
    }
}

/// A CRM property's value: text, or a list of items one of which is the primary (a CRM's
/// own list of emails or phone numbers), so a list crosses the contract without a separator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PropertyValue {
    /// One value; `""` is empty (and, written, clears the property).
    Text(String),
    /// Items in the CRM's order; `primary` indexes the primary one (meaningless when empty).
    List {
        /// The items.
        items: Vec<String>,
        /// The index of the primary item.
        #[serde(default)]
        primary: usize,
    },
}

impl PropertyValue {
    /// A list whose first item is the primary one.
    pub fn list(items: Vec<String>) -> Self {
        Self::List { items, primary: 0 }
    }

    /// The value as one text: the text, or a list's primary item (`""` for an empty list).
    pub fn as_text(&self) -> &str {
        match self {
            Self::Text(text) => text,
            Self::List { items, primary } => items
                .get(*primary)
                .or_else(|| items.first())
                .map_or("", String::as_str),
        }
    }

    /// Every item, the primary first: a text is one item (none when empty).
    pub fn items(&self) -> Vec<&str> {
        match self {
            Self::Text(text) if text.is_empty() => Vec::new(),
            Self::Text(text) => vec![text.as_str()],
            Self::List { items, primary } => {
                let primary = (*primary < items.len()).then_some(*primary);
                primary
                    .map(|p| items[p].as_str())
                    .into_iter()
                    .chain(
                        (items.iter().enumerate())
                            .filter(|&(n, _)| Some(n) != primary)
                            .map(|(_, item)| item.as_str()),
                    )
                    .collect()
            }
        }
    }

    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Text(text) => text.is_empty(),
            Self::List { items, .. } => items.is_empty(),
        }
    }
}

impl Default for PropertyValue {
    fn default() -> Self {
        Self::Text(String::new())
    }
}

impl From<String> for PropertyValue {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for PropertyValue {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl PartialEq<str> for PropertyValue {
    fn eq(&self, other: &str) -> bool {
        matches!(self, Self::Text(text) if text == other)
    }
}

impl PartialEq<&str> for PropertyValue {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl fmt::Display for PropertyValue {
    /// A text as it is; a list as its items, the primary first, one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::List { .. } => f.write_str(&self.items().join("\n")),
        }
    }
}

/// Properties by name.
pub type Properties = BTreeMap<String, PropertyValue>;

/// A CRM record reduced to what a sync needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CrmRecord {
    /// The record's id in the CRM.
    pub id: CrmId,
    /// Property values: text, or lists with a primary. A property the CRM sent as `null` is
    /// absent.
    #[serde(default)]
    pub properties: Properties,
    /// Whether the record is archived (soft-deleted, in the CRM's recycle bin).
    #[serde(default)]
    pub archived: bool,
    /// When the record last changed, where the CRM says so.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl CrmRecord {
    /// A property's value as text (a list's primary item), treating a missing property as
    /// empty.
    pub fn property(&self, name: &str) -> &str {
        self.properties.get(name).map_or("", PropertyValue::as_text)
    }

    /// A property's value, if the record has it.
    pub fn value(&self, name: &str) -> Option<&PropertyValue> {
        self.properties.get(name)
    }

    /// Whether the property holds exactly `value`: as its text, or as one of a list's items.
    pub fn holds(&self, name: &str, value: &str) -> bool {
        self.value(name).is_some_and(|v| v.items().contains(&value))
    }

    /// As [`holds`](Self::holds), ASCII case ignored (as CRMs compare emails).
    pub fn holds_ignoring_case(&self, name: &str, value: &str) -> bool {
        self.value(name).is_some_and(|v| {
            v.items()
                .iter()
                .any(|item| item.eq_ignore_ascii_case(value))
        })
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A JSON value as the string a person would read: strings as they are, null as empty,
/// anything else as its JSON text.
fn value_to_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn lenient_strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let values = Option::<Vec<Value>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(values
        .into_iter()
        .filter(|v| !v.is_null())
        .map(value_to_string)
        .collect())
}

fn lenient_string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Value>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, value_to_string(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_reads_nulls_missing_fields_and_unknown_fields_leniently() {
        let customer: Customer = serde_json::from_value(serde_json::json!({
            "resource_uri": "http://x/api/enterprise/v2/customer/1/",
            "name": null,
            "emails": ["a@b.c", null],
            "custom_fields": {"External ID": 42, "Sync Status": null},
            "tags": ["vip"]
        }))
        .unwrap();
        assert_eq!(customer.name, "");
        assert_eq!(customer.emails, vec!["a@b.c"]);
        assert!(customer.numbers.is_empty());
        assert_eq!(customer.custom_fields["External ID"], "42");
        assert_eq!(customer.custom_fields["Sync Status"], "");
        assert!(!customer.deleted);
        assert_eq!(customer.extra["tags"], serde_json::json!(["vip"]));
        assert_eq!(
            customer.uri().unwrap().as_str(),
            "http://x/api/enterprise/v2/customer/1/"
        );
    }

    #[test]
    fn a_list_reads_as_its_primary_and_lists_the_primary_first() {
        let list = PropertyValue::List {
            items: vec!["a".into(), "b".into(), "c".into()],
            primary: 1,
        };
        assert_eq!(list.as_text(), "b");
        assert_eq!(list.items(), ["b", "a", "c"]);
        assert_eq!(list.to_string(), "b\na\nc");
        let out_of_range = PropertyValue::List {
            items: vec!["a".into()],
            primary: 5,
        };
        assert_eq!(out_of_range.as_text(), "a");
        assert_eq!(out_of_range.items(), ["a"]);
        assert!(PropertyValue::list(Vec::new()).items().is_empty());
        assert!(PropertyValue::from("").items().is_empty());
        assert_eq!(PropertyValue::from("x").items(), ["x"]);
    }

    #[test]
    fn values_read_from_json_as_text_or_list() {
        let properties: Properties = serde_json::from_value(serde_json::json!({
            "email": "ada@example.com",
            "phones": {"items": ["1", "2"], "primary": 1},
            "emails": {"items": ["x@example.com"]}
        }))
        .unwrap();
        assert_eq!(properties["email"], "ada@example.com");
        assert_eq!(properties["phones"].as_text(), "2");
        assert_eq!(
            properties["emails"],
            PropertyValue::list(vec!["x@example.com".into()])
        );
        let back = serde_json::to_value(&properties["email"]).unwrap();
        assert_eq!(back, serde_json::json!("ada@example.com"));
    }

    #[test]
    fn crm_record_treats_missing_property_as_empty() {
        let record = CrmRecord {
            id: CrmId::from("1"),
            ..CrmRecord::default()
        };
        assert_eq!(record.property("email"), "");
    }
}
