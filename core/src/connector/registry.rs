//! The registry of connectors linked into the binary.
//!
//! A connector crate registers with one line,
//! `inventory::submit! { ConnectorPlugin::new::<MyConnector>() }`, and the host finds it by
//! name. The descriptor carries what the host needs without knowing the type: the name, the
//! JSON Schema of its config, its default mapping, and a constructor from untyped config.

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
    /// The registered name, lowercase, e.g. `hubspot`.
    const NAME: &'static str;
    /// One line for `tte-sync connectors`.
    const DESCRIPTION: &'static str;
    /// The default mapping file (YAML text) shipped with the connector.
    const DEFAULT_MAPPING: &'static str;

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
    config_schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    check_config: fn(&serde_json::Value) -> std::result::Result<(), (String, String)>,
    shipped_catalog: fn() -> Option<Catalog>,
    build: fn(
        serde_json::Value,
        ConnectorContext,
    ) -> std::result::Result<Arc<dyn CrmConnector>, BuildError>,
}

impl ConnectorPlugin {
    /// The descriptor of connector `C`, for `inventory::submit!`.
    pub const fn new<C: ConnectorFactory>() -> Self {
        Self {
            name: C::NAME,
            description: C::DESCRIPTION,
            default_mapping: C::DEFAULT_MAPPING,
            config_schema: subschema_of::<C::Config>,
            check_config: check_config_of::<C>,
            shipped_catalog: C::shipped_catalog,
            build: build_erased::<C>,
        }
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
