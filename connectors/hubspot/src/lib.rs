//! The HubSpot connector: two-way sync of HubSpot contacts, on HubSpot's date-versioned APIs
//! (2026-09 by default, one setting for every path: [`version`]).
//!
//! Credentials: a project app's static token, OAuth (project or legacy public app), a Service
//! Key, or a legacy private-app token ([`config::AuthKind`]), each with its own rate-limit
//! default.
//!
//! Capabilities: batched reads and writes of contacts ([`CrmConnector`]: list pages of 100,
//! batch read, chunked `IN` searches, batch upsert/update/archive with one outcome per record,
//! portal validation rules reported per record), setup of custom properties and of change
//! capture ([`ConnectorSetup`]: a project app's `webhooks-hsmeta.json`, journal subscriptions,
//! or a legacy app's subscriptions), verification of signed webhooks ([`WebhookReceiver`], v3
//! by default), pulled changes ([`ChangeFeed`]: the Webhooks Journal or polling) and the OAuth
//! install flow ([`OAuthInstall`]). Every call keeps within HubSpot's rolling rate limit and
//! search limit ([`ratelimit`]) and retries what may pass ([`client`]).
//!
//! Modules: [`config`] (the config section), [`version`] (paths), [`auth`] (tokens),
//! [`client`] (HTTP, retries), [`ratelimit`], [`errors`] (HubSpot's error bodies),
//! [`contacts`] (reads and writes), [`setup`], [`webhook`], [`journal`], [`polling`].

pub mod auth;
pub mod client;
pub mod config;
pub mod contacts;
pub mod errors;
pub mod journal;
pub mod polling;
pub mod ratelimit;
pub mod setup;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod version;
pub mod webhook;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use tte_sync_core::connector::{
    Catalog, ChangeFeed, ConnectorContext, ConnectorFactory, ConnectorPlugin, ConnectorSetup,
    CrmConnector, CrmWrite, ListQuery, OAuthInstall, PropertySpec, Result, SetupReport,
    WebhookReceiver, WriteAbilities, WriteOutcome,
};
use tte_sync_core::{ConnectorError, CrmId, CrmRecord};
use url::Url;

use crate::auth::{Credentials, OAuthSession};
use crate::client::{HubSpotClient, StatsSnapshot};
use crate::ratelimit::RateLimiter;
pub use crate::webhook::HubSpotWebhooks;
pub use config::{AuthKind, ChangeCapture, HubSpotConfig};
pub use version::ApiVersion;
use version::NUMBERED_APIS_UNSUPPORTED;

/// The registered name of this connector.
pub const NAME: &str = "hubspot";
/// The `User-Agent` of every call.
const USER_AGENT: &str = concat!("tte-sync/", env!("CARGO_PKG_VERSION"));

/// The HubSpot connector.
pub struct HubSpotConnector {
    config: HubSpotConfig,
    kind: AuthKind,
    client: Arc<HubSpotClient>,
    oauth: Option<Arc<OAuthSession>>,
    webhooks: HubSpotWebhooks,
    feed: Option<Box<dyn ChangeFeed>>,
}

impl HubSpotConnector {
    /// What the HTTP client did so far (requests, 429s, retries, token refreshes).
    pub fn stats(&self) -> StatsSnapshot {
        self.client.stats()
    }

    /// The webhook receiver, with HubSpot-specific helpers such as echo detection.
    pub fn webhook_receiver(&self) -> &HubSpotWebhooks {
        &self.webhooks
    }

    /// The config it was built from.
    pub fn config(&self) -> &HubSpotConfig {
        &self.config
    }

    /// The kind of credential it calls HubSpot with.
    pub fn auth_kind(&self) -> AuthKind {
        self.kind
    }
}

impl ConnectorFactory for HubSpotConnector {
    const NAME: &'static str = NAME;
    const DESCRIPTION: &'static str =
        "HubSpot CRM contacts (project app with static auth or OAuth, Service Key)";
    const DEFAULT_MAPPING: &'static str = include_str!("../../../mappings/hubspot.yaml");
    const ID_PROPERTY: Option<&'static str> = Some(contacts::OBJECT_ID);
    type Config = HubSpotConfig;

    fn validate(config: &HubSpotConfig) -> std::result::Result<(), (String, String)> {
        config
            .checked()
            .map(drop)
            .map_err(|message| (".".to_owned(), message))
    }

    fn build(config: HubSpotConfig, context: ConnectorContext) -> Result<Self> {
        let (kind, changes) = config.checked().map_err(ConnectorError::permanent)?;
        warn_about_legacy(&config, kind);
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.request_timeout())
            .build()
            .map_err(|e| ConnectorError::permanent(format!("cannot build the HTTP client: {e}")))?;
        let portals: Arc<RwLock<BTreeSet<String>>> = Arc::default();
        let static_token = config
            .static_app_token
            .as_ref()
            .or(config.service_key.as_ref())
            .or(config.private_app_token.as_ref());
        let (credentials, oauth) = match (static_token, &config.oauth) {
            (Some(token), _) => (Credentials::Static(token.clone()), None),
            (None, Some(oauth)) => {
                let session = Arc::new(OAuthSession::new(
                    oauth.clone(),
                    config.api_version,
                    config.api_base_url.clone(),
                    http.clone(),
                    context.tokens.clone(),
                    portals.clone(),
                ));
                (Credentials::OAuth(session.clone()), Some(session))
            }
            (None, None) => {
                return Err(ConnectorError::permanent(
                    "hubspot needs credentials; set `static_app_token`, `oauth` or `service_key`",
                ));
            }
        };
        let limiter = Arc::new(RateLimiter::new(
            config.general_limit(),
            config.search_limit(),
        ));
        let client = Arc::new(HubSpotClient::new(
            http,
            config.api_base_url.clone(),
            config.api_version,
            credentials,
            config.developer_api_key.clone(),
            limiter,
            config.retry_policy(),
        ));
        let webhooks = HubSpotWebhooks::new(&config, portals.clone());
        let feed: Option<Box<dyn ChangeFeed>> = match changes {
            ChangeCapture::Webhooks => None,
            ChangeCapture::Journal => Some(Box::new(journal::JournalFeed::new(
                &config,
                client.clone(),
                portals,
            )?)),
            ChangeCapture::Polling => {
                Some(Box::new(polling::PollingFeed::new(&config, client.clone())))
            }
        };
        Ok(Self {
            config,
            kind,
            client,
            oauth,
            webhooks,
            feed,
        })
    }
}

/// Warns once, at start, about settings HubSpot is retiring, naming the date.
fn warn_about_legacy(config: &HubSpotConfig, kind: AuthKind) {
    if config.api_version.is_legacy() {
        tracing::warn!(
            api_version = %config.api_version,
            "HubSpot's numbered v1-v4 APIs become unsupported in {NUMBERED_APIS_UNSUPPORTED}; set `api_version: 2026-09`."
        );
    }
    if kind == AuthKind::LegacyPrivateApp {
        tracing::warn!(
            "Legacy private apps become unsupported in {NUMBERED_APIS_UNSUPPORTED} and can no longer be created; move to a project app (`static_app_token`) or a Service Key (`service_key`)."
        );
    }
}

#[cfg(not(feature = "simulator"))]
inventory::submit! { ConnectorPlugin::new::<HubSpotConnector>() }
#[cfg(feature = "simulator")]
inventory::submit! {
    ConnectorPlugin::new::<HubSpotConnector>().with_simulator::<simulator::HubSpotSimulatorPlugin>()
}

#[async_trait]
impl CrmConnector for HubSpotConnector {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn describe(&self) -> Result<Catalog> {
        setup::describe(&self.client).await
    }

    fn list(&self, query: ListQuery) -> BoxStream<'_, Result<Vec<CrmRecord>>> {
        contacts::list(&self.client, query)
    }

    async fn read(&self, ids: &[CrmId], properties: &[String]) -> Result<Vec<Option<CrmRecord>>> {
        contacts::read(&self.client, ids, properties).await
    }

    async fn find(
        &self,
        property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<CrmRecord>> {
        contacts::find(&self.client, property, values, properties).await
    }

    async fn write(&self, writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>> {
        contacts::write(&self.client, writes).await
    }

    fn write_abilities(&self) -> WriteAbilities {
        WriteAbilities::batched_upserts(contacts::BATCH_LIMIT).with_unique_emails(true)
    }

    async fn check(&self) -> Result<()> {
        contacts::check(&self.client).await
    }

    fn setup(&self) -> Option<&dyn ConnectorSetup> {
        Some(self)
    }

    fn webhooks(&self) -> Option<&dyn WebhookReceiver> {
        Some(&self.webhooks)
    }

    fn change_feed(&self) -> Option<&dyn ChangeFeed> {
        self.feed.as_deref()
    }

    fn oauth(&self) -> Option<&dyn OAuthInstall> {
        self.oauth.as_deref().map(|s| s as &dyn OAuthInstall)
    }
}

#[async_trait]
impl ConnectorSetup for HubSpotConnector {
    async fn ensure_properties(
        &self,
        specs: &[PropertySpec],
        dry_run: bool,
    ) -> Result<SetupReport> {
        setup::ensure_properties(&self.client, specs, dry_run).await
    }

    async fn ensure_subscriptions(
        &self,
        callback: &Url,
        properties: &[String],
        dry_run: bool,
    ) -> Result<SetupReport> {
        if let Some(feed) = &self.feed {
            return feed.prepare(properties, dry_run).await;
        }
        if self.config.developer_api_key.is_some() {
            return setup::ensure_subscriptions(
                &self.client,
                self.config.app_id,
                callback,
                properties,
                dry_run,
            )
            .await;
        }
        if self.kind == AuthKind::LegacyPrivateApp {
            return Ok(setup::private_app_webhooks(callback, properties));
        }
        Ok(setup::project_app_webhooks(callback, properties))
    }
}
