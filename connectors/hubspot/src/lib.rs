//! The HubSpot connector: two-way sync of HubSpot contacts.
//!
//! Capabilities: batched reads and writes of contacts, setup of custom properties and webhook
//! subscriptions, verification of signed webhooks, and the OAuth install flow.

pub mod config;
#[cfg(feature = "simulator")]
pub mod simulator;

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};
use tte_sync_core::connector::{
    Catalog, ConnectorContext, ConnectorFactory, ConnectorPlugin, CrmConnector, CrmWrite,
    ListQuery, Result, WriteOutcome,
};
use tte_sync_core::{ConnectorError, CrmId, CrmRecord};

pub use config::HubSpotConfig;

/// The registered name of this connector.
pub const NAME: &str = "hubspot";

/// The HubSpot connector.
pub struct HubSpotConnector {
    #[allow(dead_code)]
    config: HubSpotConfig,
    #[allow(dead_code)]
    context: ConnectorContext,
}

impl ConnectorFactory for HubSpotConnector {
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str = "HubSpot CRM contacts (private app or OAuth public app)";
    const DEFAULT_MAPPING: &'static str = include_str!("../../../mappings/hubspot.yaml");
    type Config = HubSpotConfig;

    fn build(config: HubSpotConfig, context: ConnectorContext) -> Result<Self> {
        Ok(Self { config, context })
    }
}

inventory::submit! { ConnectorPlugin::new::<HubSpotConnector>() }

fn not_yet() -> ConnectorError {
    ConnectorError::permanent("the HubSpot client is not built yet")
}

#[async_trait]
impl CrmConnector for HubSpotConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn describe(&self) -> Result<Catalog> {
        Err(not_yet())
    }

    fn list(&self, _query: ListQuery) -> BoxStream<'_, Result<Vec<CrmRecord>>> {
        stream::once(async { Err(not_yet()) }).boxed()
    }

    async fn read(&self, _ids: &[CrmId], _properties: &[String]) -> Result<Vec<Option<CrmRecord>>> {
        Err(not_yet())
    }

    async fn find(
        &self,
        _property: &str,
        _values: &[String],
        _properties: &[String],
    ) -> Result<Vec<CrmRecord>> {
        Err(not_yet())
    }

    async fn write(&self, _writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>> {
        Err(not_yet())
    }
}
