//! A tte-sync connector for Pipedrive persons (`docs/pipedrive-api.md` is the API it follows).
//!
//! Pipedrive is shaped unlike HubSpot: a person's emails and phones are lists with a primary
//! item and labels (the `emails` and `phones` properties, [`person`]); writes are one person
//! per request and there is no upsert by a custom field (`writes`: creates carry the 10to8
//! URI, found again by a search after a crash); custom fields are keyed by generated hashes
//! and named by the connector by their Pipedrive name ([`fields`]); paging is by cursor;
//! limits are a daily token budget and a 2-second burst window (`pacing`, `client`);
//! webhooks carry no signature, only basic-auth credentials, and arrive as v2 events
//! ([`webhook`]). Capabilities: list (archived persons from the recent changes), read, find,
//! write, setup (fields and the webhook), webhooks, and OAuth installs (`auth`) besides API
//! tokens. The `simulator` feature adds an in-process Pipedrive for
//! `demo --crm pipedrive` and the tests.

mod auth;
mod client;
pub mod config;
pub mod fields;
mod install;
mod listing;
pub mod pacing;
pub mod person;
mod setup;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod webhook;
mod writes;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use futures_util::stream::BoxStream;
use tte_sync_core::connector::{
    Catalog, ConnectorContext, ConnectorError, ConnectorFactory, ConnectorPlugin, ConnectorSetup,
    CrmConnector, CrmWrite, ListQuery, OAuthInstall, PropertySpec, Result, SetupReport,
    WebhookReceiver, WriteAbilities, WriteOutcome, properties_with,
};
use tte_sync_core::record::{CrmId, CrmRecord};
use url::Url;

use client::Client;
pub use config::PipedriveConfig;
use fields::{Fields, is_built_in};

/// The registered name.
pub const NAME: &str = "pipedrive";

/// The Pipedrive connector.
pub struct PipedriveConnector {
    client: Arc<Client>,
    fields: Fields,
    config: PipedriveConfig,
    own_user: Arc<OnceLock<u64>>,
    webhooks: Option<webhook::PipedriveWebhooks>,
}

#[cfg(not(feature = "simulator"))]
inventory::submit! { ConnectorPlugin::new::<PipedriveConnector>() }
#[cfg(feature = "simulator")]
inventory::submit! {
    ConnectorPlugin::new::<PipedriveConnector>()
        .with_simulator::<simulator::PipedriveSimulatorPlugin>()
}

impl ConnectorFactory for PipedriveConnector {
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "Pipedrive persons: email and phone lists, one request per \
                                       write, generated field keys, basic-auth webhooks";
    const DEFAULT_MAPPING: &'static str = include_str!("../../../mappings/pipedrive.yaml");
    type Config = PipedriveConfig;

    fn validate(config: &PipedriveConfig) -> std::result::Result<(), (String, String)> {
        if !(1..=500).contains(&config.page_size) {
            return Err((
                "page_size".to_owned(),
                format!(
                    "{} is outside 1..=500, the page sizes Pipedrive serves; set 500",
                    config.page_size
                ),
            ));
        }
        if !(1..=32).contains(&config.in_flight) {
            return Err((
                "in_flight".to_owned(),
                format!(
                    "{} is outside 1..=32; Pipedrive allows at most 120 requests per 2 s per \
                     token, so set 4",
                    config.in_flight
                ),
            ));
        }
        if config.api_token.is_some() == config.oauth.is_some() {
            return Err((
                "api_token".to_owned(),
                "set exactly one of `api_token` (a personal API token) and `oauth` (an OAuth \
                 app's client id and secret)"
                    .to_owned(),
            ));
        }
        if config.webhook_user.is_some() != config.webhook_password.is_some() {
            return Err((
                "webhook_user".to_owned(),
                "set both `webhook_user` and `webhook_password` (the basic-auth credentials \
                 Pipedrive sends with webhooks), or neither"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    fn build(config: PipedriveConfig, context: ConnectorContext) -> Result<Self> {
        Self::validate(&config)
            .map_err(|(key, message)| ConnectorError::permanent(format!("`{key}`: {message}")))?;
        let own_user = Arc::new(OnceLock::new());
        let webhooks = match (&config.webhook_user, &config.webhook_password) {
            (Some(user), Some(password)) => Some(webhook::PipedriveWebhooks::new(
                user,
                password,
                own_user.clone(),
            )),
            _ => None,
        };
        Ok(Self {
            client: Arc::new(Client::new(&config, context.tokens)?),
            fields: Fields::default(),
            config,
            own_user,
            webhooks,
        })
    }
}

impl PipedriveConnector {
    async fn learn_own_user(&self) {
        if self.own_user.get().is_none()
            && let Ok(id) = self.client.own_user_id().await
        {
            let _ = self.own_user.set(id);
        }
    }
}

#[async_trait]
impl CrmConnector for PipedriveConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn describe(&self) -> Result<Catalog> {
        Ok(self.fields.reload(&self.client).await?.catalog())
    }

    fn list(&self, query: ListQuery) -> BoxStream<'_, Result<Vec<CrmRecord>>> {
        if query.archived {
            listing::archived_pages(&self.client, &self.fields, query.properties)
        } else {
            listing::live_pages(&self.client, &self.fields, query.properties)
        }
    }

    async fn read(&self, ids: &[CrmId], properties: &[String]) -> Result<Vec<Option<CrmRecord>>> {
        let names: Vec<&str> = properties.iter().map(String::as_str).collect();
        let map = self.fields.covering(&self.client, &names).await?;
        let keys = listing::custom_keys(&map, properties);
        let numbers: Vec<u64> = ids
            .iter()
            .filter_map(|id| writes::person_id(id).ok())
            .collect();
        let mut found = HashMap::new();
        for chunk in numbers.chunks(client::IDS_PER_CALL) {
            for person in self.client.persons_by_ids(chunk, &keys).await? {
                if !person.is_deleted {
                    found.insert(person.id.to_string(), person);
                }
            }
        }
        Ok(ids
            .iter()
            .map(|id| {
                found
                    .remove(id.as_str())
                    .map(|person| person.into_record(&map, properties))
            })
            .collect())
    }

    async fn find(
        &self,
        property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<CrmRecord>> {
        let wanted = properties_with(properties, property);
        // The search takes terms of two characters and more; a property it cannot search is
        // found by listing.
        let search_field = match property {
            fields::EMAILS => Some("email"),
            fields::PHONES => Some("phone"),
            fields::NAME => Some("name"),
            custom if !is_built_in(custom) => Some("custom_fields"),
            _ => None,
        }
        .filter(|_| values.iter().all(|v| v.chars().count() >= 2));
        // Pipedrive compares emails ignoring case, as people write them; anything else exactly.
        let holds = |record: &CrmRecord, value: &str| match property {
            fields::EMAILS => record.holds_ignoring_case(property, value),
            _ => record.holds(property, value),
        };
        let Some(search_field) = search_field else {
            let pages: Vec<Vec<CrmRecord>> =
                listing::live_pages(&self.client, &self.fields, wanted)
                    .try_collect()
                    .await?;
            return Ok(pages
                .into_iter()
                .flatten()
                .filter(|r| values.iter().any(|v| holds(r, v)))
                .collect());
        };
        let mut ids = Vec::new();
        for value in values {
            for id in self.client.search(search_field, value).await? {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let ids: Vec<CrmId> = ids.into_iter().map(|id| CrmId(id.to_string())).collect();
        let records = self.read(&ids, &wanted).await?;
        Ok(records
            .into_iter()
            .flatten()
            .filter(|r| values.iter().any(|v| holds(r, v)))
            .collect())
    }

    async fn write(&self, writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>> {
        self.learn_own_user().await;
        writes::apply(&self.client, &self.fields, writes).await
    }

    fn write_abilities(&self) -> WriteAbilities {
        writes::abilities(self.config.in_flight)
    }

    async fn check(&self) -> Result<()> {
        let user = self.client.check().await?;
        let _ = self.own_user.set(user);
        Ok(())
    }

    fn setup(&self) -> Option<&dyn ConnectorSetup> {
        Some(self)
    }

    fn webhooks(&self) -> Option<&dyn WebhookReceiver> {
        self.webhooks
            .as_ref()
            .map(|webhooks| webhooks as &dyn WebhookReceiver)
    }

    fn oauth(&self) -> Option<&dyn OAuthInstall> {
        match self.client.credentials() {
            auth::Credentials::OAuth(_) => Some(self),
            auth::Credentials::Token(_) => None,
        }
    }
}

#[async_trait]
impl ConnectorSetup for PipedriveConnector {
    async fn ensure_properties(
        &self,
        specs: &[PropertySpec],
        dry_run: bool,
    ) -> Result<SetupReport> {
        setup::ensure_fields(&self.client, &self.fields, specs, dry_run).await
    }

    async fn ensure_subscriptions(
        &self,
        callback: &Url,
        _properties: &[String],
        dry_run: bool,
    ) -> Result<SetupReport> {
        self.learn_own_user().await;
        let credentials = match (&self.config.webhook_user, &self.config.webhook_password) {
            (Some(user), Some(password)) => Some((user.as_str(), password)),
            _ => None,
        };
        setup::ensure_webhook(&self.client, callback, credentials, dry_run).await
    }
}

#[cfg(test)]
mod tests {
    use tte_sync_core::mapping::Mapping;

    use super::*;

    #[test]
    fn the_default_mapping_compiles_and_declares_the_two_custom_fields() {
        let mapping = Mapping::compile(
            PipedriveConnector::DEFAULT_MAPPING,
            "mappings/pipedrive.yaml",
        )
        .expect("the default mapping compiles");
        let names: Vec<&str> = mapping
            .property_specs()
            .iter()
            .map(|spec| spec.name.as_str())
            .collect();
        assert_eq!(names, ["tte_customer_uri", "tte_customer_sync_status"]);
        for property in [fields::NAME, fields::EMAILS, fields::PHONES] {
            assert!(
                mapping.crm_properties().iter().any(|p| p == property),
                "{property} is mapped"
            );
        }
    }

    #[test]
    fn configs_pipedrive_cannot_serve_are_refused_with_the_fix() {
        let config = |extra: serde_json::Value| {
            let mut base = serde_json::json!({"api_token": "t"});
            if extra.get("oauth").is_some() {
                base = serde_json::json!({});
            }
            if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
                base.extend(extra.clone());
            }
            serde_json::from_value::<PipedriveConfig>(base).expect("config")
        };
        assert!(PipedriveConnector::validate(&config(serde_json::json!({}))).is_ok());
        let (key, message) =
            PipedriveConnector::validate(&config(serde_json::json!({"page_size": 501})))
                .unwrap_err();
        assert_eq!(key, "page_size");
        assert!(message.contains("set 500"), "{message}");
        let (key, _) =
            PipedriveConnector::validate(&config(serde_json::json!({"webhook_user": "u"})))
                .unwrap_err();
        assert_eq!(key, "webhook_user");
        let oauth = serde_json::json!({"oauth": {"client_id": "c", "client_secret": "s"}});
        assert!(PipedriveConnector::validate(&config(oauth.clone())).is_ok());
        let mut both = oauth;
        both["api_token"] = "t".into();
        let (key, message) = PipedriveConnector::validate(&config(both)).unwrap_err();
        assert_eq!(key, "api_token");
        assert!(message.contains("exactly one"), "{message}");
    }
}
