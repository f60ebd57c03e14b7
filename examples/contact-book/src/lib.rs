//! A tte-sync connector for Contact Book (`API.md` in this crate), built only against
//! `tte-sync-core` and `tte-sync-host` as a crate outside the repository would be.
//!
//! Contact Book is shaped unlike HubSpot: one request per write (no batch endpoints), offset
//! paging, no schema API (the [`catalog`] is fixed and shipped here), a multi-valued phone
//! field, and webhooks signed with an HMAC of the body only. Capabilities: list, read, find,
//! write (one request per write, no native upsert: creates carry the 10to8 URI in
//! `external_ref`, see `writes`), setup (checks the fixed fields, sets the
//! webhook URL) and webhooks. The `simulator` feature adds an in-process Contact Book for
//! `demo --crm contact-book` and the tests.

pub mod catalog;
mod client;
pub mod config;
mod contact;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod webhook;
mod writes;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use tte_sync_core::connector::{
    Catalog, ConnectorContext, ConnectorFactory, ConnectorPlugin, ConnectorSetup, CrmConnector,
    CrmWrite, ListQuery, PropertySpec, Result, SetupReport, WebhookReceiver, WriteAbilities,
    WriteOutcome,
};
use tte_sync_core::record::{CrmId, CrmRecord};
use url::Url;

use client::Client;
pub use config::ContactBookConfig;

/// The registered name.
pub const NAME: &str = "contact-book";

/// The Contact Book connector.
pub struct ContactBookConnector {
    client: Arc<Client>,
    webhooks: Option<webhook::ContactBookWebhooks>,
}

#[cfg(not(feature = "simulator"))]
inventory::submit! { ConnectorPlugin::new::<ContactBookConnector>() }
#[cfg(feature = "simulator")]
inventory::submit! {
    ConnectorPlugin::new::<ContactBookConnector>()
        .with_simulator::<simulator::ContactBookSimulatorPlugin>()
}

impl ConnectorFactory for ContactBookConnector {
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "Contact Book contacts: one request per write, offset paging, body-signed webhooks";
    const DEFAULT_MAPPING: &'static str = include_str!("../mapping.yaml");
    type Config = ContactBookConfig;

    fn validate(config: &ContactBookConfig) -> std::result::Result<(), (String, String)> {
        if !(1..=100).contains(&config.page_size) {
            return Err((
                "page_size".to_owned(),
                format!(
                    "{} is outside 1..=100, the page sizes Contact Book serves; set 100",
                    config.page_size
                ),
            ));
        }
        Ok(())
    }

    fn build(config: ContactBookConfig, _context: ConnectorContext) -> Result<Self> {
        Self::validate(&config).map_err(|(key, message)| {
            tte_sync_core::connector::ConnectorError::permanent(format!("`{key}`: {message}"))
        })?;
        let webhooks = config
            .webhook_secret
            .clone()
            .map(webhook::ContactBookWebhooks::new);
        Ok(Self {
            client: Arc::new(Client::new(&config)?),
            webhooks,
        })
    }
}

#[async_trait]
impl CrmConnector for ContactBookConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn describe(&self) -> Result<Catalog> {
        Ok(catalog::catalog())
    }

    fn list(&self, query: ListQuery) -> BoxStream<'_, Result<Vec<CrmRecord>>> {
        let wanted = query.properties;
        self.client
            .pages(query.archived)
            .map_ok(move |page| {
                page.into_iter()
                    .map(|record| only(record, &wanted))
                    .collect()
            })
            .boxed()
    }

    async fn read(&self, ids: &[CrmId], properties: &[String]) -> Result<Vec<Option<CrmRecord>>> {
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            // The API answers archived contacts too; to the contract they are gone.
            let contact = self.client.get(id).await?.filter(|c| !c.archived);
            records.push(contact.map(|c| only(c.into_record(), properties)));
        }
        Ok(records)
    }

    async fn find(
        &self,
        property: &str,
        values: &[String],
        _properties: &[String],
    ) -> Result<Vec<CrmRecord>> {
        let filter = catalog::filter_for(property)?;
        let mut found = Vec::new();
        for value in values {
            let contacts = self.client.find(filter, value).await?;
            found.extend(contacts.into_iter().map(contact::Contact::into_record));
        }
        Ok(found)
    }

    async fn write(&self, writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>> {
        writes::apply(&self.client, writes).await
    }

    fn write_abilities(&self) -> WriteAbilities {
        writes::abilities()
    }

    fn setup(&self) -> Option<&dyn ConnectorSetup> {
        Some(self)
    }

    fn webhooks(&self) -> Option<&dyn WebhookReceiver> {
        self.webhooks
            .as_ref()
            .map(|webhooks| webhooks as &dyn WebhookReceiver)
    }
}

#[async_trait]
impl ConnectorSetup for ContactBookConnector {
    async fn ensure_properties(
        &self,
        specs: &[PropertySpec],
        _dry_run: bool,
    ) -> Result<SetupReport> {
        // No schema API: the fields are fixed, so setup can only say whether each exists.
        Ok(catalog::check_specs(specs))
    }

    async fn ensure_subscriptions(
        &self,
        callback: &Url,
        _properties: &[String],
        dry_run: bool,
    ) -> Result<SetupReport> {
        self.client.ensure_webhook(callback, dry_run).await
    }
}

/// The record with only the `wanted` properties: the API answers every field, the contract
/// promises the requested ones.
fn only(mut record: CrmRecord, wanted: &[String]) -> CrmRecord {
    record.properties.retain(|name, _| wanted.contains(name));
    record
}
