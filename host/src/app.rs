//! What every long-running command loads from the config file: the state store, the CRM
//! connector from the registry, the compiled mapping and the 10to8 client. Loading fails
//! early, naming the config key or file at fault.

use std::sync::Arc;

use anyhow::Context;
use tte_sync_core::connector::{ConnectorContext, CrmConnector, registry};
use tte_sync_core::mapping::Mapping;
use tte_sync_core::store::Store;
use tte_sync_core::tte::TteClient;
use url::Url;

use crate::config::Config;

/// A loaded installation.
pub struct App {
    /// The config it was loaded from.
    pub config: Config,
    /// The state store, migrated.
    pub store: Store,
    /// The CRM connector.
    pub connector: Arc<dyn CrmConnector>,
    /// The compiled mapping.
    pub mapping: Arc<Mapping>,
    /// The 10to8 client.
    pub tte: TteClient,
}

impl App {
    /// Opens the store, builds the connector and the 10to8 client, compiles the mapping.
    ///
    /// # Errors
    /// When the store cannot be opened, the connector refuses its config, or the mapping does
    /// not compile; the message says which and how to fix it.
    pub async fn load(config: Config) -> anyhow::Result<Self> {
        // The store's errors name the database themselves, without its password.
        let store = Store::open(&config.database)
            .await
            .context("opening the state store")?;
        let plugin = registry::find(&config.crm.connector)?;
        let context = ConnectorContext {
            tokens: Arc::new(store.clone()),
        };
        let connector = plugin
            .build(config.crm.config.clone(), context)
            .context("building the CRM connector from `crm.config`")?;
        let mapping = match &config.mapping {
            Some(path) => Mapping::load(path)
                .map_err(|diagnostics| anyhow::anyhow!("{diagnostics}"))
                .with_context(|| format!("compiling the mapping file {}", path.display()))?,
            None => Mapping::compile(
                plugin.default_mapping,
                &format!("<built-in {} mapping>", plugin.name),
            )
            .map_err(|diagnostics| anyhow::anyhow!("{diagnostics}"))?,
        };
        let tte =
            TteClient::new(config.tte.clone()).context("building the 10to8 client (`tte`)")?;
        Ok(Self {
            config,
            store,
            connector,
            mapping: Arc::new(mapping),
            tte,
        })
    }

    /// `server.public_url`, or `http://<server.listen>` when unset (local use only).
    pub fn public_url(&self) -> Url {
        match &self.config.server.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{}", self.config.server.listen))
                .unwrap_or_else(|_| Url::parse("http://127.0.0.1/").expect("valid URL")),
        }
    }

    /// `server.public_url`, required by commands that tell other systems where to call.
    ///
    /// # Errors
    /// When `server.public_url` is unset.
    pub fn required_public_url(&self) -> anyhow::Result<Url> {
        self.config.server.public_url.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "`server.public_url` is not set; set it to the HTTPS URL 10to8 and the CRM reach \
                 this server at, e.g. `https://sync.example.com`"
            )
        })
    }
}
