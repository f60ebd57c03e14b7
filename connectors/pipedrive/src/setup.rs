//! `tte-sync setup` on Pipedrive: the mapping's custom person fields, created once and found
//! again by name (Pipedrive generates their keys), and one v2 webhook of every person event
//! posting to the host with the configured basic-auth credentials.

use tte_sync_core::Secret;
use tte_sync_core::connector::{
    ConnectorError, PropertySpec, Result, SetupAction, SetupChange, SetupReport,
};
use url::Url;

use crate::client::Client;
use crate::fields::{Fields, TEXT_TYPES, is_built_in};

/// The Pipedrive field type for a mapping's property: long text for a `textarea`, else text
/// of up to 255 characters.
pub fn field_type_for(spec: &PropertySpec) -> &'static str {
    if spec.field_type == "textarea" {
        "text"
    } else {
        "varchar"
    }
}

/// Makes sure each of `specs` is a built-in property or a custom field of a text type.
///
/// # Errors
/// When the fields cannot be listed or created.
pub async fn ensure_fields(
    client: &Client,
    fields: &Fields,
    specs: &[PropertySpec],
    dry_run: bool,
) -> Result<SetupReport> {
    let map = fields.reload(client).await?;
    let mut changes = Vec::with_capacity(specs.len());
    let mut created = false;
    for spec in specs {
        let target = format!("person field {}", spec.name);
        let uniqueness = if spec.unique {
            "; Pipedrive keeps no value unique, so the connector finds a person by it with a search"
        } else {
            ""
        };
        let change = if is_built_in(&spec.name) {
            SetupChange {
                action: SetupAction::Unchanged,
                target,
                detail: "a built-in Pipedrive field".to_owned(),
            }
        } else if let Some(field) = map.get(&spec.name) {
            if TEXT_TYPES.contains(&field.field_type.as_str()) {
                SetupChange {
                    action: SetupAction::Unchanged,
                    target,
                    detail: format!(
                        "exists as a `{}` field with key {}{uniqueness}",
                        field.field_type, field.key
                    ),
                }
            } else {
                SetupChange {
                    action: SetupAction::Mismatch,
                    target,
                    detail: format!(
                        "is a `{}` field, which holds no text; rename it in Pipedrive (Settings → \
                         Data fields → Person) so that setup creates a text field of this name",
                        field.field_type
                    ),
                }
            }
        } else {
            let field_type = field_type_for(spec);
            let detail = if dry_run {
                format!("would be created as a `{field_type}` field{uniqueness}")
            } else {
                let field = client.add_person_field(&spec.name, field_type).await?;
                created = true;
                format!(
                    "created as a `{field_type}` field; Pipedrive gave it the key {}{uniqueness}",
                    field.key
                )
            };
            SetupChange {
                action: SetupAction::Created,
                target,
                detail,
            }
        };
        changes.push(change);
    }
    if created {
        fields.reload(client).await?;
    }
    Ok(SetupReport {
        changes,
        files: Vec::new(),
    })
}

/// Makes sure a v2 webhook of every person event posts to `callback` with basic auth.
///
/// # Errors
/// When the webhooks cannot be listed or created; permanent when no webhook credentials are
/// configured.
pub async fn ensure_webhook(
    client: &Client,
    callback: &Url,
    credentials: Option<(&str, &Secret)>,
    dry_run: bool,
) -> Result<SetupReport> {
    let target = "webhook person.*".to_owned();
    let hooks = client.webhooks().await?;
    let existing = hooks.iter().find(|hook| {
        hook.subscription_url == callback.as_str()
            && matches!(hook.event_object.as_str(), "person" | "*")
            && hook.event_action == "*"
            && hook.version.as_deref() == Some("2.0")
    });
    let change = match (existing, credentials) {
        // Pipedrive lists a webhook's user but never its password, and changes neither.
        (Some(hook), Some((user, _)))
            if hook
                .http_auth_user
                .as_deref()
                .is_some_and(|given| given != user) =>
        {
            SetupChange {
                action: SetupAction::Mismatch,
                target,
                detail: format!(
                    "webhook {} posts to {callback} with the basic-auth user `{}`, not `{user}`; \
                     delete it in Pipedrive (Settings → Tools and apps → Webhooks) and run setup \
                     again",
                    hook.id,
                    hook.http_auth_user.as_deref().unwrap_or_default()
                ),
            }
        }
        (Some(hook), _) => SetupChange {
            action: SetupAction::Unchanged,
            target,
            detail: format!(
                "webhook {} already posts every person event to {callback}",
                hook.id
            ),
        },
        (None, None) => {
            return Err(ConnectorError::permanent(
                "pipedrive webhooks carry no signature, only the basic-auth credentials they \
                 were created with; set `crm.config.webhook_user` and \
                 `crm.config.webhook_password`, then run setup again",
            ));
        }
        (None, Some((user, password))) => {
            let detail = if dry_run {
                format!("would post every person event to {callback} (webhooks v2, basic auth)")
            } else {
                let hook = client
                    .add_webhook(callback.as_str(), user, password)
                    .await?;
                format!(
                    "webhook {} posts every person event to {callback} (webhooks v2, basic auth)",
                    hook.id
                )
            };
            SetupChange {
                action: SetupAction::Created,
                target,
                detail,
            }
        }
    };
    Ok(SetupReport {
        changes: vec![change],
        files: Vec::new(),
    })
}
