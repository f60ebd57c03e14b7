//! The config file: one YAML document with `${ENV}` references and environment overrides.
//!
//! Loading goes text → YAML tree → `${ENV}` expanded → `TTE_SYNC__…` overrides applied → typed
//! [`Config`], and every failure names the file and the key and says how to fix it. Secrets are
//! [`Secret`](tte_sync_core::Secret)s, so printing a config never prints them, and an error
//! shows the value it is about only when that is short and its key holds no secret
//! ([`config_value`]).

mod interpolate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tte_sync_core::connector::registry;
use tte_sync_core::secret::config_value;
use tte_sync_core::tte::TteConfig;

/// The whole tte-sync configuration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where sync state is kept: a SQLite file (`sqlite://tte-sync.db`, the default) or a
    /// PostgreSQL URL (`postgres://user@host/db`) for running several replicas.
    #[serde(default = "default_database")]
    pub database: String,
    /// The mapping file between 10to8 customers and CRM records. Default: the connector's
    /// built-in mapping (for HubSpot, `mappings/hubspot.yaml`).
    #[serde(default)]
    pub mapping: Option<PathBuf>,
    /// How to reach 10to8.
    pub tte: TteConfig,
    /// Which CRM to sync with, and how to reach it.
    pub crm: CrmConfig,
    /// The HTTP server of `tte-sync serve`.
    #[serde(default)]
    pub server: ServerConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// How `serve` processes changes.
    #[serde(default)]
    pub sync: SyncConfig,
}

/// How `serve` processes changes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Live workers per `serve` process; each claims inbox batches on its own.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// How often an idle worker looks for due changes in the inbox.
    #[serde(default = "default_poll_interval_millis")]
    pub poll_interval_millis: u64,
    /// How often `serve` runs a full two-way reconcile to heal missed webhooks; `0` turns
    /// it off. Replicas sharing a database skip a pass another one ran recently.
    #[serde(default = "default_reconcile_interval_secs")]
    pub reconcile_interval_secs: u64,
    /// How long a contact new in the CRM waits before a 10to8 customer is created for it, in
    /// case the same person was just created in 10to8 and its notification is on the way
    /// (then the two are linked instead of duplicated). `0` creates at once.
    #[serde(default = "default_new_record_settle_secs")]
    pub new_record_settle_secs: u64,
    /// How long 429s, 5xx answers and timeouts from an API are waited out (with backoff)
    /// while none of its calls succeeds; after that a sync stops, resumably, saying the API
    /// throttled or was down. Applies to `sync`, reconciles and live processing alike.
    #[serde(default = "default_max_stall_secs")]
    pub max_stall_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            poll_interval_millis: default_poll_interval_millis(),
            reconcile_interval_secs: default_reconcile_interval_secs(),
            new_record_settle_secs: default_new_record_settle_secs(),
            max_stall_secs: default_max_stall_secs(),
        }
    }
}

/// The CRM side.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrmConfig {
    /// The connector's registered name (`tte-sync connectors` lists them), e.g. `hubspot`.
    pub connector: String,
    /// The connector's own settings; `tte-sync config schema` shows each connector's keys.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
}

/// The HTTP server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The public HTTPS URL that 10to8 and the CRM reach this server at (webhooks, OAuth
    /// redirect), e.g. `https://sync.example.com`. Needed by `setup` and `serve`.
    #[serde(default)]
    pub public_url: Option<url::Url>,
    /// The largest request body accepted; larger ones get 413 (HubSpot batches stay far below).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// How long one request may take before it is answered with 408.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// On SIGTERM or Ctrl-C, how long to wait for in-flight requests and work to finish.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// How long a client may take to send a request's headers (after connecting, or after
    /// the previous response on a kept-alive connection) before the connection is closed.
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// The most connections open at once. At the cap, each new connection closes the one
    /// that has waited longest without sending a request. Lowered at start to what the
    /// process's open-file limit allows.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            max_body_bytes: default_max_body_bytes(),
            request_timeout_secs: default_request_timeout_secs(),
            shutdown_grace_secs: default_shutdown_grace_secs(),
            header_read_timeout_secs: default_header_read_timeout_secs(),
            max_connections: default_max_connections(),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `human` (default) or `json` (one object per line, for log collectors).
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,tte_sync_core=debug`. `RUST_LOG` wins.
    #[serde(default = "default_log_level")]
    pub level: String,
}

/// The log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

fn default_database() -> String {
    "sqlite://tte-sync.db".to_owned()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}

fn default_request_timeout_secs() -> u64 {
    30
}

fn default_shutdown_grace_secs() -> u64 {
    20
}

fn default_header_read_timeout_secs() -> u64 {
    10
}

fn default_max_connections() -> usize {
    1024
}

fn default_workers() -> usize {
    1
}

fn default_poll_interval_millis() -> u64 {
    100
}

fn default_reconcile_interval_secs() -> u64 {
    15 * 60
}

fn default_max_stall_secs() -> u64 {
    tte_sync_core::http::DEFAULT_MAX_STALL.as_secs()
}

fn default_new_record_settle_secs() -> u64 {
    tte_sync_core::engine::live::NEW_RECORD_SETTLE.as_secs()
}

fn default_log_level() -> String {
    "info".to_owned()
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Why the config could not be loaded. Each message names the file and says how to fix it;
/// the underlying error is part of the message (a `cause`, not a `source()`, so that it is
/// not printed twice).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read the config file {path}: {cause}; pass an existing file with --config (see tte-sync.example.yaml)"
    )]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not valid YAML: {cause}")]
    Yaml {
        path: PathBuf,
        cause: serde_yaml::Error,
    },
    #[error("{path}: {cause}")]
    Environment {
        path: PathBuf,
        cause: interpolate::InterpolateError,
    },
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl Config {
    /// Loads the config file at `path`, with the process environment for `${ENV}` references
    /// and `TTE_SYNC__…` overrides. The process-wide settings it holds (the stall budget of
    /// every API client) take effect here, before any client is made.
    ///
    /// # Errors
    /// See [`ConfigError`]: unreadable file, bad YAML, unset variable, unknown or invalid key,
    /// unknown connector, or a connector section that does not match its schema.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_owned(),
            cause,
        })?;
        let config = Self::parse(
            &text,
            path,
            &|name| std::env::var(name).ok(),
            std::env::vars(),
        )?;
        tte_sync_core::http::set_max_stall(std::time::Duration::from_secs(
            config.sync.max_stall_secs,
        ));
        Ok(config)
    }

    /// Parses config text; `lookup` resolves `${ENV}` references and `overrides` are
    /// `(name, value)` environment pairs (only `TTE_SYNC__…` ones are used).
    ///
    /// # Errors
    /// As [`Config::load`], but never fails to read.
    pub fn parse(
        text: &str,
        path: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
        overrides: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut tree: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|cause| ConfigError::Yaml {
                path: path.to_owned(),
                cause,
            })?;
        let environment = |cause| ConfigError::Environment {
            path: path.to_owned(),
            cause,
        };
        interpolate::interpolate(&mut tree, lookup).map_err(environment)?;
        interpolate::apply_overrides(&mut tree, overrides).map_err(environment)?;
        let config: Config = serde_path_to_error::deserialize(&tree).map_err(|error| {
            let key = error.path().to_string();
            let offending =
                yaml_at(&tree, error.path()).and_then(|node| serde_json::to_value(node).ok());
            let message = config_value::guarded_message(
                &key,
                offending.as_ref(),
                &error.into_inner().to_string(),
            );
            ConfigError::Invalid {
                path: path.to_owned(),
                key,
                message,
            }
        })?;
        config.check_connector(path)?;
        Ok(config)
    }

    /// Checks that the CRM connector exists and that its section matches its schema, so a
    /// typo is reported at load and not at the first sync.
    fn check_connector(&self, path: &Path) -> Result<(), ConfigError> {
        let plugin = registry::find(&self.crm.connector).map_err(|error| ConfigError::Invalid {
            path: path.to_owned(),
            key: "crm.connector".to_owned(),
            message: error.to_string(),
        })?;
        plugin
            .check_config(&self.crm.config)
            .map_err(|(key, message)| ConfigError::Invalid {
                path: path.to_owned(),
                key: if key.is_empty() || key == "." {
                    "crm.config".to_owned()
                } else {
                    format!("crm.config.{key}")
                },
                message,
            })
    }
}

/// The node a deserialization error's `path` points at in the YAML tree.
fn yaml_at<'a>(
    root: &'a serde_yaml::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'a serde_yaml::Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(root, |node, segment| match segment {
        Segment::Map { key } => node.get(key.as_str()),
        Segment::Seq { index } => node.get(*index),
        Segment::Enum { .. } | Segment::Unknown => None,
    })
}

/// The JSON Schema of config files, with each registered connector's settings.
pub fn schema() -> schemars::Schema {
    let mut generator = schemars::SchemaGenerator::default();
    let mut root = generator.root_schema_for::<Config>();
    let connectors: Vec<serde_json::Value> = registry::plugins()
        .into_iter()
        .map(|plugin| {
            let settings = plugin.config_subschema(&mut generator);
            serde_json::json!({
                "if": { "properties": { "connector": { "const": plugin.name } } },
                "then": { "properties": { "config": settings } }
            })
        })
        .collect();
    let defs = generator.take_definitions(true);
    let object = root.ensure_object();
    if let Some(crm) = object
        .get_mut("$defs")
        .and_then(|d| d.get_mut("CrmConfig"))
        .and_then(serde_json::Value::as_object_mut)
    {
        crm.insert("allOf".to_owned(), serde_json::Value::Array(connectors));
    }
    let all_defs = object
        .entry("$defs")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if let Some(all_defs) = all_defs.as_object_mut() {
        for (name, def) in defs {
            all_defs.entry(name).or_insert(def);
        }
    }
    root
}

#[cfg(test)]
mod tests;
