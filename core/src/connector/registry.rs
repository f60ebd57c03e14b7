//! The registry of connectors linked into the binary.
//!
//! A connector crate registers with one line,
//! `inventory::submit! { ConnectorPlugin::new::<MyConnector>() }`, and the host finds it by
//! name. The descriptor carries what the host needs without knowing the type: the name, the
//! JSON Schema of its config, its default mapping, a constructor from untyped config, and
//! (feature `simulator`) a way to start the CRM's simulator for `demo` and `simulate`:
//! `ConnectorPlugin::new::<MyConnector>().with_simulator::<MySimulator>()`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::auth::TokenStore;
use super::{Catalog, CrmConnector, Result};
use crate::secret::config_value;

/// What a connector gets from the host when it is built.
#[derive(Clone)]
pub struct ConnectorContext {
    /// Where OAuth tokens are kept between runs.
    pub tokens: Arc<dyn TokenStore>,
}

/// A connector type the registry can describe and build.
pub trait ConnectorFactory: CrmConnector + Sized + 'static {
    /// The registered name, lowercase, e.g. `mycrm`.
    const NAME: &'static str;
    /// One line for `tte-sync connectors`.
    const DESCRIPTION: &'static str;
    /// The default mapping file (YAML text) shipped with the connector.
    const DEFAULT_MAPPING: &'static str;
    /// The property under which the CRM also lists a record's own id, if it does;
    /// `mapping apply --to hub` reads the id from it (besides `id`).
    const ID_PROPERTY: Option<&'static str> = None;

    /// The connector's typed config (`deny_unknown_fields`; `///` docs become the schema).
    type Config: DeserializeOwned + JsonSchema;

    /// Checks what the config's types cannot express (e.g. exactly one of several credentials),
    /// for `config check`; `build` refuses the same configs. The default accepts all.
    ///
    /// # Errors
    /// `(key path, message)` of the first problem.
    fn validate(config: &Self::Config) -> std::result::Result<(), (String, String)> {
        let _ = config;
        Ok(())
    }

    /// The CRM's properties, for a connector whose CRM has a fixed set it can ship (no
    /// schema API, or no custom properties): plain `mapping check` then checks a mapping
    /// against it without credentials. `None` (the default) leaves that to `--online`.
    fn shipped_catalog() -> Option<Catalog> {
        None
    }

    /// Builds the connector from its config. Does no network I/O.
    ///
    /// # Errors
    /// Fails when the config is inconsistent in a way its types cannot express.
    fn build(config: Self::Config, context: ConnectorContext) -> Result<Self>;
}

/// A registered connector, described without naming its type.
#[derive(Debug)]
pub struct ConnectorPlugin {
    /// The registered name.
    pub name: &'static str,
    /// One line for listings.
    pub description: &'static str,
    /// The default mapping (YAML text).
    pub default_mapping: &'static str,
    /// The property the CRM also lists a record's id under, if any.
    pub id_property: Option<&'static str>,
    config_schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    check_config: fn(&serde_json::Value) -> std::result::Result<(), (String, String)>,
    shipped_catalog: fn() -> Option<Catalog>,
    build: fn(
        serde_json::Value,
        ConnectorContext,
    ) -> std::result::Result<Arc<dyn CrmConnector>, BuildError>,
    #[cfg(feature = "simulator")]
    simulator: Option<SimulatorHook>,
}

impl ConnectorPlugin {
    /// The descriptor of connector `C`, for `inventory::submit!`.
    pub const fn new<C: ConnectorFactory>() -> Self {
        Self {
            name: C::NAME,
            description: C::DESCRIPTION,
            default_mapping: C::DEFAULT_MAPPING,
            id_property: C::ID_PROPERTY,
            config_schema: subschema_of::<C::Config>,
            check_config: check_config_of::<C>,
            shipped_catalog: C::shipped_catalog,
            build: build_erased::<C>,
            #[cfg(feature = "simulator")]
            simulator: None,
        }
    }

    /// The same descriptor with `S` as the CRM's simulator, for `demo --crm` and
    /// `simulate --crm`.
    #[cfg(feature = "simulator")]
    pub const fn with_simulator<S: ConnectorSimulator>(self) -> Self {
        Self {
            simulator: Some(SimulatorHook {
                label: S::LABEL,
                start: start_erased::<S>,
            }),
            ..self
        }
    }

    /// The CRM's simulator, when the connector ships one.
    #[cfg(feature = "simulator")]
    pub fn simulator(&self) -> Option<&SimulatorHook> {
        self.simulator.as_ref()
    }

    /// The JSON Schema of this connector's config section, standing alone.
    pub fn config_schema(&self) -> schemars::Schema {
        let mut generator = schemars::SchemaGenerator::default();
        let mut schema = (self.config_schema)(&mut generator);
        let definitions = generator.take_definitions(true);
        if !definitions.is_empty() {
            schema.insert("$defs".to_owned(), serde_json::Value::Object(definitions));
        }
        schema
    }

    /// The schema of this connector's config section inside a larger document: definitions go
    /// to `generator`, which the caller puts under the document's `$defs`.
    pub fn config_subschema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        (self.config_schema)(generator)
    }

    /// Checks a config section against the connector's config type without building it.
    ///
    /// # Errors
    /// `(key path, message)` of the first problem, e.g. `("oauth.client_id", "missing field")`.
    pub fn check_config(
        &self,
        config: &serde_json::Value,
    ) -> std::result::Result<(), (String, String)> {
        (self.check_config)(config)
    }

    /// The catalog the connector ships, if any (see [`ConnectorFactory::shipped_catalog`]).
    pub fn shipped_catalog(&self) -> Option<Catalog> {
        (self.shipped_catalog)()
    }

    /// Builds the connector from its config section.
    ///
    /// # Errors
    /// [`BuildError::Config`] when the section does not match the schema (the message names the
    /// key); [`BuildError::Connector`] when the connector refuses the config.
    pub fn build(
        &self,
        config: serde_json::Value,
        context: ConnectorContext,
    ) -> std::result::Result<Arc<dyn CrmConnector>, BuildError> {
        (self.build)(config, context)
    }
}

inventory::collect!(ConnectorPlugin);

/// How `demo` and `simulate` start a CRM's simulator, seen without its type.
#[cfg(feature = "simulator")]
#[derive(Debug, Clone, Copy)]
pub struct SimulatorHook {
    /// The CRM's product name for people, e.g. `Acme CRM`.
    pub label: &'static str,
    start: fn(SimulatorOptions) -> SimulatorStart,
}

#[cfg(feature = "simulator")]
type SimulatorStart = std::pin::Pin<
    Box<dyn Future<Output = std::io::Result<Box<dyn RunningSimulator>>> + Send + 'static>,
>;

#[cfg(feature = "simulator")]
impl SimulatorHook {
    /// Starts the simulator on `127.0.0.1:options.port`, empty.
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start(
        &self,
        options: SimulatorOptions,
    ) -> std::io::Result<Box<dyn RunningSimulator>> {
        (self.start)(options).await
    }
}

#[cfg(feature = "simulator")]
fn start_erased<S: ConnectorSimulator>(options: SimulatorOptions) -> SimulatorStart {
    Box::pin(S::start(options))
}

/// What the host asks of a simulator it starts.
#[cfg(feature = "simulator")]
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SimulatorOptions {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Latency added to every API request.
    pub latency: std::time::Duration,
    /// API requests allowed per rolling 10 seconds: `None` keeps the simulator's own default
    /// (the CRM's documented limit), `Some(0)` turns every rate limit off.
    pub rate_limit_per_ten_seconds: Option<u32>,
}

#[cfg(feature = "simulator")]
impl SimulatorOptions {
    /// Options for a simulator on `port` with its defaults otherwise.
    pub fn on_port(port: u16) -> Self {
        Self {
            port,
            ..Self::default()
        }
    }
}

/// A CRM simulator a connector crate ships, registered with
/// [`ConnectorPlugin::with_simulator`].
#[cfg(feature = "simulator")]
pub trait ConnectorSimulator: 'static {
    /// The CRM's product name for people, e.g. `Acme CRM`.
    const LABEL: &'static str;

    /// Starts the simulator on loopback, empty.
    ///
    /// # Errors
    /// When the port cannot be bound.
    fn start(
        options: SimulatorOptions,
    ) -> impl Future<Output = std::io::Result<Box<dyn RunningSimulator>>> + Send + 'static;
}

/// A running CRM simulator, as `demo` and `simulate` drive it.
#[cfg(feature = "simulator")]
#[async_trait::async_trait]
pub trait RunningSimulator: Send + Sync {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    fn base_url(&self) -> String;

    /// Adds generated people `start..start + count` of `seed` (`crate::simulate::people`, the
    /// same people and emails the 10to8 simulator's seed makes) as CRM records; returns how
    /// many were added.
    fn seed(&self, seed: u64, start: u64, count: u64) -> u64;

    /// The connector's config section (`crm.config`) that points at this simulator.
    fn connector_config(&self) -> serde_json::Value;

    /// Labelled values for `simulate` to print: credentials, ids, the admin API.
    fn details(&self) -> Vec<(String, String)>;

    /// Applies a file `setup` wrote for a person to deploy with the CRM's own tools, as that
    /// tool would; `Ok(None)` when the simulator has no use for it.
    ///
    /// # Errors
    /// What is wrong with the file.
    fn deploy(&self, file: &super::SetupFile) -> std::result::Result<Option<String>, String>;

    /// Shell commands a person can paste: `[change, show]` of the CRM record `crm_id` through
    /// the simulator's admin API, as an edit in the CRM's own UI would be.
    fn try_it(&self, crm_id: &str) -> [String; 2];

    /// Stops serving and waits for in-flight requests.
    async fn shutdown(self: Box<Self>);
}

fn subschema_of<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.root_schema_for::<T>();
    // The root form repeats `$schema` and `title`; inside a larger document only the body counts.
    schema.remove("$schema");
    schema
}

fn check_config_of<C: ConnectorFactory>(
    config: &serde_json::Value,
) -> std::result::Result<(), (String, String)> {
    let config: C::Config =
        config_value::deserialize(config).map_err(|error| (error.key, error.message))?;
    C::validate(&config)
}

fn build_erased<C: ConnectorFactory>(
    config: serde_json::Value,
    context: ConnectorContext,
) -> std::result::Result<Arc<dyn CrmConnector>, BuildError> {
    let config: C::Config =
        config_value::deserialize(&config).map_err(|error| BuildError::Config {
            connector: C::NAME,
            message: error.to_string(),
        })?;
    let connector = C::build(config, context).map_err(|error| BuildError::Connector {
        connector: C::NAME,
        message: error.to_string(),
    })?;
    Ok(Arc::new(connector))
}

/// Why a connector could not be found or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No connector of that name is linked into this binary.
    #[error("unknown connector `{name}`; the known connectors are: {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The registered names, sorted and comma-separated.
        known: String,
    },
    /// The config section does not match the connector's schema.
    #[error("invalid `{connector}` connector config: {message}")]
    Config {
        /// The connector.
        connector: &'static str,
        /// What serde said, naming the key (and the value only when it may be shown).
        message: String,
    },
    /// The connector refused the config.
    #[error("cannot build the `{connector}` connector: {message}")]
    Connector {
        /// The connector.
        connector: &'static str,
        /// Why.
        message: String,
    },
}

/// Every registered connector, sorted by name (inventory itself has no order).
pub fn plugins() -> Vec<&'static ConnectorPlugin> {
    let mut plugins: Vec<_> = inventory::iter::<ConnectorPlugin>.into_iter().collect();
    plugins.sort_by_key(|plugin| plugin.name);
    plugins
}

/// The connector registered under `name`.
///
/// # Errors
/// [`BuildError::Unknown`] listing the known names when there is none.
pub fn find(name: &str) -> std::result::Result<&'static ConnectorPlugin, BuildError> {
    let plugins = plugins();
    plugins
        .iter()
        .copied()
        .find(|plugin| plugin.name == name)
        .ok_or_else(|| BuildError::Unknown {
            name: name.to_owned(),
            known: if plugins.is_empty() {
                "(none linked into this binary)".to_owned()
            } else {
                plugins
                    .iter()
                    .map(|plugin| plugin.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
}
