//! Write bodies as the simulated API takes them: a v2 person body applied to a stored person,
//! refused as Pipedrive refuses it (unknown parameters, lists that are not lists of objects
//! with a `value`, unknown custom field keys, too long texts), and the `previous` values of a
//! change.

use serde_json::{Map, Value};

use super::state::{Refusal, StoredField, StoredPerson};
use crate::person::Item;

/// Top-level fields a v2 person write may carry.
const WRITABLE: [&str; 10] = [
    "name",
    "owner_id",
    "org_id",
    "emails",
    "phones",
    "visible_to",
    "label_ids",
    "marketing_status",
    "custom_fields",
    "add_time",
];

/// Applies a v2 write body to `person`, refusing what the API refuses.
pub fn apply_body(
    person: &mut StoredPerson,
    body: &Value,
    fields: &[StoredField],
) -> Result<(), Refusal> {
    let body = body
        .as_object()
        .ok_or_else(|| Refusal::invalid("The request body must be a JSON object"))?;
    if let Some(unknown) = body.keys().find(|k| !WRITABLE.contains(&k.as_str())) {
        return Err(Refusal::invalid(format!("Unknown parameter: {unknown}")));
    }
    if let Some(name) = body.get("name") {
        person.name = name
            .as_str()
            .ok_or_else(|| Refusal::invalid("Validation failed: name: must be a string"))?
            .to_owned();
    }
    for (list, target) in [
        ("emails", &mut person.emails),
        ("phones", &mut person.phones),
    ] {
        if let Some(value) = body.get(list) {
            *target = items_of(list, value)?;
        }
    }
    if let Some(custom) = body.get("custom_fields") {
        let custom = custom.as_object().ok_or_else(|| {
            Refusal::invalid("Validation failed: custom_fields: must be an object")
        })?;
        for (key, value) in custom {
            let field = fields
                .iter()
                .find(|f| f.edit_flag && &f.key == key)
                .ok_or_else(|| Refusal::invalid(format!("Unknown custom field: {key}")))?;
            match value {
                Value::Null => {
                    person.custom.remove(key);
                }
                Value::String(text)
                    if field.field_type.starts_with("varchar") && text.chars().count() > 255 =>
                {
                    return Err(Refusal::invalid(format!(
                        "Validation failed: {key}: must be at most 255 characters"
                    )));
                }
                Value::String(_) | Value::Number(_) => {
                    person.custom.insert(key.clone(), value.clone());
                }
                _ => {
                    return Err(Refusal::invalid(format!(
                        "Validation failed: {key}: must be a string or a number"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn items_of(list: &str, value: &Value) -> Result<Vec<Item>, Refusal> {
    let refuse = || {
        Refusal::invalid(format!(
            "Validation failed: {list}: must be an array of objects with `value`"
        ))
    };
    let array = value.as_array().ok_or_else(refuse)?;
    let mut items = Vec::with_capacity(array.len());
    for entry in array {
        let object = entry.as_object().ok_or_else(refuse)?;
        let text = object
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(refuse)?;
        let primary = object
            .get("primary")
            .map(|p| p.as_bool().ok_or_else(refuse))
            .transpose()?
            .unwrap_or(false);
        let label = object
            .get("label")
            .map(|l| l.as_str().map(str::to_owned).ok_or_else(refuse))
            .transpose()?;
        items.push(Item {
            value: text.to_owned(),
            primary,
            label: label.or_else(|| Some("work".to_owned())),
        });
    }
    // Exactly one primary: the first flagged one, else the first.
    let first = items.iter().position(|i| i.primary).unwrap_or(0);
    for (n, item) in items.iter_mut().enumerate() {
        item.primary = n == first;
    }
    Ok(items)
}

/// The changed fields' values before the change.
pub fn previous_of(before: &StoredPerson, after: &StoredPerson) -> Map<String, Value> {
    let mut previous = Map::new();
    if before.name != after.name {
        previous.insert("name".to_owned(), before.name.clone().into());
    }
    if before.emails != after.emails {
        previous.insert(
            "emails".to_owned(),
            serde_json::to_value(&before.emails).unwrap_or_default(),
        );
    }
    if before.phones != after.phones {
        previous.insert(
            "phones".to_owned(),
            serde_json::to_value(&before.phones).unwrap_or_default(),
        );
    }
    if before.custom != after.custom {
        let mut custom = Map::new();
        for key in before.custom.keys().chain(after.custom.keys()) {
            if before.custom.get(key) != after.custom.get(key) {
                custom.insert(
                    key.clone(),
                    before.custom.get(key).cloned().unwrap_or(Value::Null),
                );
            }
        }
        previous.insert("custom_fields".to_owned(), custom.into());
    }
    previous
}
