//! Persons as the simulated API shows them: v2 (emails and phones as lists, custom fields by
//! key, first and last name split from `name`) and v1 (in the recent changes, with
//! `active_flag`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::state::{StoredField, StoredPerson};

fn split_name(name: &str) -> (&str, &str) {
    match name.trim().split_once(' ') {
        Some((first, last)) => (first, last.trim()),
        None => (name.trim(), ""),
    }
}

pub fn v2_json(
    p: &StoredPerson,
    fields: &[StoredField],
    keys: Option<&[String]>,
    owner: u64,
) -> Value {
    let custom: Map<String, Value> = fields
        .iter()
        .filter(|f| f.edit_flag && keys.is_none_or(|keys| keys.contains(&f.key)))
        .map(|f| {
            (
                f.key.clone(),
                p.custom.get(&f.key).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let (first, last) = split_name(&p.name);
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "id": p.id, "name": p.name, "first_name": first, "last_name": last,
        "owner_id": owner, "org_id": null,
        "add_time": time(&p.add_time), "update_time": time(&p.update_time),
        "emails": p.emails, "phones": p.phones, "is_deleted": p.deleted,
        "visible_to": 3, "label_ids": [], "picture_id": null, "custom_fields": custom,
    })
}

pub fn v1_json(p: &StoredPerson) -> Value {
    json!({
        "id": p.id, "name": p.name, "active_flag": !p.deleted,
        "email": p.emails, "phone": p.phones,
        "update_time": p.update_time.format("%Y-%m-%d %H:%M:%S").to_string(),
    })
}
