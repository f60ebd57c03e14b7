//! Setup: the mapping's custom properties and the app's webhook subscriptions.
//!
//! Idempotent and never destructive. A missing property is created; a label or description
//! that differs is updated; a type (or uniqueness) that differs is reported as a mismatch and
//! left alone — archiving and recreating a property destroys its values.
//!
//! Webhooks depend on the app. A project app declares its subscriptions in its own files
//! (no API creates them), so setup writes the `webhooks-hsmeta.json` it needs — the target
//! URL and a subscription per mapped property plus creation, deletion, merge, restore and
//! privacy deletion — for `hs project upload`. A legacy public app (developer API key) gets
//! them through the webhook management API: the target URL is set, missing subscriptions are
//! created and inactive ones activated. Nothing is ever deleted. A dry run reads only and
//! reports what a real run would do.

use std::collections::{BTreeMap, BTreeSet};

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tte_sync_core::connector::{
    Catalog, ConnectorError, ErrorKind, PropertyInfo, PropertySpec, Result, SetupAction,
    SetupChange, SetupFile, SetupReport,
};
use url::Url;

use crate::client::{Call, HubSpotClient};

/// The contact property group a property is filed under when the mapping names none.
pub const DEFAULT_GROUP: &str = "contactinformation";
/// Where a project app keeps its webhook declarations.
pub const HSMETA_PATH: &str = "src/app/webhooks/webhooks-hsmeta.json";
/// Subscription types for whole-record events, always subscribed.
pub const RECORD_EVENTS: &[&str] = &[
    "contact.creation",
    "contact.deletion",
    "contact.merge",
    "contact.restore",
    "contact.privacyDeletion",
];
/// Subscription type for property changes.
pub const PROPERTY_CHANGE: &str = "contact.propertyChange";
/// Subscription type for privacy deletions (a hub event in a project app's declarations).
const PRIVACY_DELETION: &str = "contact.privacyDeletion";
/// Properties HubSpot refuses property-change subscriptions for.
pub const NOT_SUBSCRIBABLE: &[&str] = &["hs_lastmodifieddate", "num_unique_conversion_events"];
/// Concurrent webhook deliveries asked for (HubSpot wants more than five).
const MAX_CONCURRENT_DELIVERIES: u32 = 10;

/// A property as the properties API returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiProperty {
    name: String,
    #[serde(default)]
    label: String,
    #[serde(rename = "type", default)]
    data_type: String,
    #[serde(default)]
    field_type: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    has_unique_value: bool,
    #[serde(default)]
    modification_metadata: Option<ModificationMetadata>,
    #[serde(default)]
    calculated: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModificationMetadata {
    #[serde(default)]
    read_only_value: bool,
}

#[derive(Debug, Deserialize)]
struct Results<T> {
    #[serde(default = "Vec::new")]
    results: Vec<T>,
}

/// A webhook subscription as the webhooks API returns it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    id: Value,
    event_type: String,
    #[serde(default)]
    property_name: Option<String>,
    #[serde(default)]
    active: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    target_url: Option<String>,
}

async fn properties(client: &HubSpotClient) -> Result<BTreeMap<String, ApiProperty>> {
    let list: Results<ApiProperty> = client
        .json(&Call::new(Method::GET, client.version().properties()))
        .await?;
    Ok(list
        .results
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect())
}

/// The contact properties with their types.
///
/// # Errors
/// Fails when HubSpot cannot be reached or refuses the credentials.
pub async fn describe(client: &HubSpotClient) -> Result<Catalog> {
    Ok(Catalog {
        properties: properties(client)
            .await?
            .into_values()
            .map(|p| {
                let read_only = p.calculated
                    || p.modification_metadata
                        .as_ref()
                        .is_some_and(|m| m.read_only_value);
                (
                    p.name.clone(),
                    PropertyInfo {
                        name: p.name,
                        label: p.label,
                        data_type: p.data_type,
                        unique: p.has_unique_value,
                        read_only,
                    },
                )
            })
            .collect(),
    })
}

fn change(action: SetupAction, target: String, detail: impl Into<String>) -> SetupChange {
    SetupChange {
        action,
        target,
        detail: detail.into(),
    }
}

/// Makes sure every spec'd property exists with the right type.
///
/// # Errors
/// Fails when HubSpot cannot be reached, refuses the credentials, or refuses a create.
pub async fn ensure_properties(
    client: &HubSpotClient,
    specs: &[PropertySpec],
    dry_run: bool,
) -> Result<SetupReport> {
    let existing = properties(client).await?;
    let mut report = SetupReport::default();
    for spec in specs {
        let target = format!("property {}", spec.name);
        let Some(current) = existing.get(&spec.name) else {
            if !dry_run {
                create_property(client, spec).await?;
            }
            report.changes.push(change(
                SetupAction::Created,
                target,
                format!("{} ({}, {})", spec.label, spec.data_type, spec.field_type),
            ));
            continue;
        };
        let mut mismatches = Vec::new();
        if current.data_type != spec.data_type {
            mismatches.push(format!(
                "type is `{}` in HubSpot but `{}` in the mapping",
                current.data_type, spec.data_type
            ));
        }
        if current.has_unique_value != spec.unique {
            mismatches.push(format!(
                "HubSpot has unique values {} but the mapping says {}",
                if current.has_unique_value {
                    "on"
                } else {
                    "off"
                },
                if spec.unique { "on" } else { "off" }
            ));
        }
        if !mismatches.is_empty() {
            report.changes.push(change(
                SetupAction::Mismatch,
                target,
                format!(
                    "{}; setup never archives a property (its values would be lost): fix the mapping, or change the property in HubSpot by hand",
                    mismatches.join("; ")
                ),
            ));
            continue;
        }
        let mut patch = serde_json::Map::new();
        let mut differs = Vec::new();
        if current.label != spec.label {
            patch.insert("label".to_owned(), json!(spec.label));
            differs.push(format!("label `{}` → `{}`", current.label, spec.label));
        }
        if current.description != spec.description {
            patch.insert("description".to_owned(), json!(spec.description));
            differs.push("description".to_owned());
        }
        if current.field_type != spec.field_type {
            patch.insert("fieldType".to_owned(), json!(spec.field_type));
            differs.push(format!(
                "field type `{}` → `{}`",
                current.field_type, spec.field_type
            ));
        }
        if patch.is_empty() {
            report
                .changes
                .push(change(SetupAction::Unchanged, target, "already as mapped"));
            continue;
        }
        if !dry_run {
            let call = Call::new(
                Method::PATCH,
                format!("{}/{}", client.version().properties(), spec.name),
            )
            .json(Value::Object(patch));
            client.send(&call).await?;
        }
        report
            .changes
            .push(change(SetupAction::Updated, target, differs.join(", ")));
    }
    Ok(report)
}

async fn create_property(client: &HubSpotClient, spec: &PropertySpec) -> Result<()> {
    let call = Call::new(Method::POST, client.version().properties()).json(json!({
        "name": spec.name,
        "label": spec.label,
        "type": spec.data_type,
        "fieldType": spec.field_type,
        "groupName": spec.group_name.as_deref().unwrap_or(DEFAULT_GROUP),
        "description": spec.description,
        "hasUniqueValue": spec.unique,
    }));
    match client.send(&call).await {
        Ok(_) => Ok(()),
        // Created meanwhile by someone else: the next run compares it like any other.
        Err(error) if matches!(error.kind(), ErrorKind::Conflict { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

fn app_id(client_app_id: Option<u64>) -> Result<u64> {
    client_app_id.ok_or_else(|| {
        ConnectorError::permanent("webhook setup needs the app id; set `hubspot.app_id`")
    })
}

/// The subscriptions tte-sync needs: whole-record events, and a property change per mapped
/// property HubSpot sends changes of. The report says which properties HubSpot cannot send.
fn wanted_subscriptions(
    mapped: &[String],
    report: &mut SetupReport,
) -> Vec<(String, Option<String>)> {
    let mut wanted: Vec<(String, Option<String>)> = RECORD_EVENTS
        .iter()
        .map(|e| ((*e).to_owned(), None))
        .collect();
    let properties: BTreeSet<&String> = mapped.iter().collect();
    for property in properties {
        if NOT_SUBSCRIBABLE.contains(&property.as_str()) {
            report.changes.push(change(
                SetupAction::Mismatch,
                format!("subscription {PROPERTY_CHANGE} {property}"),
                "HubSpot sends no change events for this property; the periodic reconcile picks its changes up",
            ));
            continue;
        }
        wanted.push((PROPERTY_CHANGE.to_owned(), Some(property.clone())));
    }
    wanted
}

/// A project app's `webhooks-hsmeta.json` for `callback` and these subscriptions.
pub fn hsmeta(callback: &Url, wanted: &[(String, Option<String>)]) -> Value {
    let (hub_events, crm_objects): (Vec<_>, Vec<_>) = wanted
        .iter()
        .partition(|(event, _)| event == PRIVACY_DELETION);
    let entry = |(event, property): &(String, Option<String>)| {
        let mut entry = json!({ "subscriptionType": event, "active": true });
        if let Some(property) = property {
            entry["propertyName"] = json!(property);
        }
        entry
    };
    json!({
        "uid": "tte_sync_webhooks",
        "type": "webhooks",
        "config": {
            "settings": {
                "targetUrl": callback.as_str(),
                "maxConcurrentRequests": MAX_CONCURRENT_DELIVERIES,
            },
            "subscriptions": {
                "legacyCrmObjects": crm_objects.into_iter().map(entry).collect::<Vec<_>>(),
                "hubEvents": hub_events.into_iter().map(entry).collect::<Vec<_>>(),
            },
        },
    })
}

/// The webhook declarations of a project app, as a file to deploy with the app: no API
/// creates a project app's subscriptions.
pub fn project_app_webhooks(callback: &Url, mapped: &[String]) -> SetupReport {
    let mut report = SetupReport::default();
    let wanted = wanted_subscriptions(mapped, &mut report);
    let contents =
        serde_json::to_string_pretty(&hsmeta(callback, &wanted)).expect("a JSON value serialises");
    report.changes.push(change(
        SetupAction::Manual,
        "webhook subscriptions".to_owned(),
        format!(
            "a project app declares its webhooks in `{HSMETA_PATH}`: write it with `tte-sync setup --write-app-config <APP_DIR>` (target {callback}, {} subscriptions), then `hs project upload`",
            wanted.len()
        ),
    ));
    report.files.push(SetupFile {
        path: HSMETA_PATH.to_owned(),
        contents,
        instructions: "put this file in the app's project and deploy it with `hs project upload`; HubSpot then posts contact changes to the target URL".to_owned(),
    });
    report
}

/// The webhooks of a legacy private app, which only HubSpot's UI configures: what to enter
/// there.
pub fn private_app_webhooks(callback: &Url, mapped: &[String]) -> SetupReport {
    let mut report = SetupReport::default();
    let wanted = wanted_subscriptions(mapped, &mut report);
    let list: Vec<String> = wanted
        .iter()
        .map(|(event, property)| match property {
            Some(property) => format!("{event} {property}"),
            None => event.clone(),
        })
        .collect();
    report.changes.push(change(
        SetupAction::Manual,
        "webhook subscriptions".to_owned(),
        format!(
            "a legacy private app's webhooks are set in HubSpot (Settings → Integrations → Private apps → the app → Webhooks): target URL {callback}, subscriptions: {}",
            list.join(", ")
        ),
    ));
    report
}

/// Makes sure HubSpot posts contact events to `callback`, through a legacy public app's
/// webhook management API (developer API key).
///
/// # Errors
/// Fails when the app id or developer key is missing, or HubSpot refuses a change.
pub async fn ensure_subscriptions(
    client: &HubSpotClient,
    app: Option<u64>,
    callback: &Url,
    mapped: &[String],
    dry_run: bool,
) -> Result<SetupReport> {
    let app = app_id(app)?;
    let mut report = SetupReport::default();
    let base = client.version().app_webhooks(app);
    let settings_path = format!("{base}/settings");
    let current: Option<Settings> = match client
        .json(&Call::new(Method::GET, settings_path.as_str()).developer_key())
        .await
    {
        Ok(settings) => Some(settings),
        Err(error) if *error.kind() == ErrorKind::NotFound => None,
        Err(error) => return Err(error),
    };
    let target = "webhook target URL".to_owned();
    let current_url = current.and_then(|s| s.target_url);
    if current_url.as_deref() == Some(callback.as_str()) {
        report
            .changes
            .push(change(SetupAction::Unchanged, target, callback.as_str()));
    } else {
        if !dry_run {
            let call = Call::new(Method::PUT, settings_path.as_str())
                .developer_key()
                .json(json!({
                    "targetUrl": callback.as_str(),
                    "throttling": { "maxConcurrentRequests": MAX_CONCURRENT_DELIVERIES, "period": "SECONDLY" },
                }));
            client.send(&call).await?;
        }
        let detail = match current_url {
            Some(old) => format!("{old} → {callback}"),
            None => callback.to_string(),
        };
        let action = if detail.contains('→') {
            SetupAction::Updated
        } else {
            SetupAction::Created
        };
        report.changes.push(change(action, target, detail));
    }

    let subscriptions_path = format!("{base}/subscriptions");
    let existing: Results<Subscription> = client
        .json(&Call::new(Method::GET, subscriptions_path.as_str()).developer_key())
        .await?;
    let wanted = wanted_subscriptions(mapped, &mut report);
    for (event_type, property) in wanted {
        let target = match &property {
            Some(p) => format!("subscription {event_type} {p}"),
            None => format!("subscription {event_type}"),
        };
        let found = existing
            .results
            .iter()
            .filter(|s| s.event_type == event_type && s.property_name == property)
            .max_by_key(|s| s.active);
        match found {
            Some(s) if s.active => {
                report
                    .changes
                    .push(change(SetupAction::Unchanged, target, "active"));
            }
            Some(s) => {
                if !dry_run {
                    let id = match &s.id {
                        Value::String(id) => id.clone(),
                        other => other.to_string(),
                    };
                    let call = Call::new(Method::PATCH, format!("{subscriptions_path}/{id}"))
                        .developer_key()
                        .json(json!({ "active": true }));
                    client.send(&call).await?;
                }
                report
                    .changes
                    .push(change(SetupAction::Updated, target, "activated"));
            }
            None => {
                if !dry_run {
                    let mut body = json!({ "eventType": event_type, "active": true });
                    if let Some(p) = &property {
                        body["propertyName"] = json!(p);
                    }
                    let call = Call::new(Method::POST, subscriptions_path.as_str())
                        .developer_key()
                        .json(body);
                    client.send(&call).await?;
                }
                report
                    .changes
                    .push(change(SetupAction::Created, target, "active"));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_app_gets_its_webhook_declarations_as_a_file() {
        let callback: Url = "https://sync.example.com/webhooks/hubspot".parse().unwrap();
        let mapped = vec![
            "email".to_owned(),
            "firstname".to_owned(),
            "hs_lastmodifieddate".to_owned(),
        ];
        let report = project_app_webhooks(&callback, &mapped);
        assert!(
            !report.changed_anything(),
            "nothing is changed through an API"
        );
        assert!(
            report
                .changes
                .iter()
                .any(|c| c.action == SetupAction::Mismatch
                    && c.target.contains("hs_lastmodifieddate")),
            "{report:?}"
        );
        let [file] = report.files.as_slice() else {
            panic!("one file: {report:?}");
        };
        assert_eq!(file.path, HSMETA_PATH);
        let declared: Value = serde_json::from_str(&file.contents).unwrap();
        assert_eq!(declared["type"], "webhooks");
        assert_eq!(
            declared["config"]["settings"]["targetUrl"],
            callback.as_str()
        );
        let legacy = declared["config"]["subscriptions"]["legacyCrmObjects"]
            .as_array()
            .unwrap();
        let properties: Vec<&str> = legacy
            .iter()
            .filter_map(|s| s["propertyName"].as_str())
            .collect();
        assert_eq!(properties, ["email", "firstname"]);
        assert!(legacy.iter().all(|s| s["active"] == true));
        assert_eq!(
            declared["config"]["subscriptions"]["hubEvents"][0]["subscriptionType"],
            PRIVACY_DELETION
        );
        assert_eq!(legacy.len(), RECORD_EVENTS.len() - 1 + 2);
    }

    #[test]
    fn a_legacy_private_app_is_told_what_to_enter_in_hubspot() {
        let callback: Url = "https://sync.example.com/webhooks/hubspot".parse().unwrap();
        let report = private_app_webhooks(&callback, &["email".to_owned()]);
        assert!(report.files.is_empty());
        let detail = &report.changes[0].detail;
        assert!(detail.contains(callback.as_str()), "{detail}");
        assert!(detail.contains("contact.propertyChange email"), "{detail}");
    }
}
