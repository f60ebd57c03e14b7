//! The `hubspot` section of the config file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tte_sync_core::Secret;
use url::Url;

/// How tte-sync reaches HubSpot.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// Base URL of the HubSpot API. Change it only to point at a simulator.
    #[serde(default = "default_api_base_url")]
    pub api_base_url: Url,
    /// A private-app (static) access token. Use this or `oauth`, not both.
    #[serde(default)]
    pub private_app_token: Option<Secret>,
    /// The public app's OAuth credentials, for installing into a portal.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// The developer API key, for managing the app's webhook subscriptions.
    #[serde(default)]
    pub developer_api_key: Option<Secret>,
    /// The public app's id (webhook management and echo suppression).
    #[serde(default)]
    pub app_id: Option<u64>,
    /// Requests allowed per rolling 10 seconds (HubSpot's burst limit for your plan).
    #[serde(default = "default_requests_per_10_secs")]
    pub requests_per_10_secs: u32,
}

/// A public app's OAuth settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret; also the key of webhook signatures.
    pub client_secret: Secret,
    /// Scopes to request, space-separated.
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// Base URL of the page that asks the installer to approve (HubSpot's app domain).
    #[serde(default = "default_authorize_base_url")]
    pub authorize_base_url: Url,
}

fn default_api_base_url() -> Url {
    Url::parse("https://api.hubapi.com").expect("constant URL parses")
}

fn default_authorize_base_url() -> Url {
    Url::parse("https://app.hubspot.com").expect("constant URL parses")
}

fn default_scopes() -> String {
    "crm.objects.contacts.read crm.objects.contacts.write oauth".to_owned()
}

fn default_requests_per_10_secs() -> u32 {
    110
}
